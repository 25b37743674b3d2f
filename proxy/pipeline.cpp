#include "proxy/pipeline.hpp"

#include <simdjson.h>

#include <array>
#include <cstdint>

#include "adapters/anthropic.hpp"
#include "proxy/client_watch.hpp"
#include "proxy/upstream_attempt.hpp"

namespace switchyard::proxy {
namespace {

using adapters::Protocol;

// Each path also without its /v1: OpenAI-style clients and the Vercel AI SDK's Anthropic
// provider append the endpoint to a base URL that may or may not end in /v1.
constexpr std::array<std::pair<std::string_view, FrontDoor>, 10> kFrontDoors{{
    {"/v1/chat/completions",
     {Protocol::openai_chat, core::BodyShape::openai_chat, adapters::Operation::generate}},
    {"/chat/completions",
     {Protocol::openai_chat, core::BodyShape::openai_chat, adapters::Operation::generate}},
    {"/v1/messages",
     {Protocol::anthropic_messages, core::BodyShape::anthropic_messages,
      adapters::Operation::generate}},
    {"/messages",
     {Protocol::anthropic_messages, core::BodyShape::anthropic_messages,
      adapters::Operation::generate}},
    {"/v1/messages/count_tokens",
     {Protocol::anthropic_messages, core::BodyShape::anthropic_messages,
      adapters::Operation::count_tokens}},
    {"/messages/count_tokens",
     {Protocol::anthropic_messages, core::BodyShape::anthropic_messages,
      adapters::Operation::count_tokens}},
    {"/v1/responses",
     {Protocol::openai_responses, core::BodyShape::openai_responses,
      adapters::Operation::generate}},
    {"/responses",
     {Protocol::openai_responses, core::BodyShape::openai_responses,
      adapters::Operation::generate}},
    {"/v1/embeddings",
     {Protocol::openai_chat, core::BodyShape::embeddings, adapters::Operation::embeddings}},
    {"/embeddings",
     {Protocol::openai_chat, core::BodyShape::embeddings, adapters::Operation::embeddings}},
}};

// What the request keeps across its attempts: the client's body (every attempt builds its
// upstream request from it, possibly for another protocol), its decoded form, and where the
// routing stands. On the heap, and the retained request is freed as soon as the first byte of
// the answer is on its way: a held stream keeps only what its relay needs.
struct PendingRequest {
  std::string body;  // the client's body, until the answer has started
  core::ChatRequest envelope;
  adapters::ForwardedHeaders forwarded;
  std::shared_ptr<adapters::Request> canonical;  // decoded once, when a target translates
  Exchange exchange;
  AttemptControl control;

  const ModelRoute* group = nullptr;  // the model group being tried
  std::uint64_t tried = 0;            // its targets tried in this request (bit per index)
  int group_attempts = 0;             // attempts on this group
  std::size_t next_fallback = 0;      // the next of the first group's fallbacks to try
  const ModelRoute* first_group = nullptr;
  std::optional<core::UpstreamFailure> last_failure;
  std::optional<std::string> estimated_count;  // count_tokens answered by the gateway itself
  adapters::Protocol last_upstream = adapters::Protocol::openai_chat;

  void answer_started() {
    std::string().swap(body);
    canonical.reset();  // the relay holds its own reference when it needs the request
  }
};

// A target that can serve the operation at all (embeddings, count_tokens).
bool serves(const TargetRoute& target, adapters::Operation operation) {
  switch (operation) {
    case adapters::Operation::embeddings:
      return target.kind->embeddings;
    case adapters::Operation::count_tokens:
      return target.kind->native_count_tokens;
    case adapters::Operation::generate:
      break;
  }
  return true;
}

// count_tokens for a provider without the endpoint: an estimate from the request's text.
std::string estimated_token_count(std::string_view body, RequestContext& ctx) {
  auto decoded = adapters::decode_request(Protocol::anthropic_messages, body);
  if (!decoded) {
    ctx.failure = decoded.error();
    return {};
  }
  return "{\"input_tokens\":" + std::to_string(adapters::estimate_input_tokens(decoded.value())) +
         "}";
}

// on_request: parse once, for the fields the gateway needs, and find the model group.
// Returns nullptr when the request is answered already or has failed (ctx.failure).
std::unique_ptr<PendingRequest> on_request(const Runtime& runtime, Request& request,
                                           RequestContext& ctx, const FrontDoor& door) {
  std::string& body = request.body();
  ctx.bytes_in = body.size();
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
  auto parsed = core::parse_chat_request(body, body.capacity() - body.size(), door.shape);
  if (!parsed) {
    const auto& e = parsed.error();
    ctx.failure = core::client_error(400, e.message, e.param, e.code);
    return nullptr;
  }
  auto p = std::make_unique<PendingRequest>();
  p->envelope = std::move(parsed.value());
  ctx.model = p->envelope.model;
  ctx.stream = p->envelope.stream && door.operation == adapters::Operation::generate;

  p->group = runtime.find_route(p->envelope.model);
  if (p->group == nullptr) {
    ctx.failure = core::client_error(
        404, "The model '" + p->envelope.model + "' does not exist on this gateway.", "model",
        "model_not_found");
    return nullptr;
  }
  p->first_group = p->group;
  ctx.route = p->group;
  bool served = false;
  for (const TargetRoute& t : p->group->targets) served = served || serves(t, door.operation);
  if (!served && door.operation == adapters::Operation::embeddings) {
    ctx.failure = core::client_error(
        400, "The model '" + p->envelope.model + "' does not support embeddings.", "model",
        "model_not_supported");
    return nullptr;
  }
  if (!served && door.operation == adapters::Operation::count_tokens) {
    ctx.target = &p->group->targets.front();
    std::string answer = estimated_token_count(body, ctx);
    if (ctx.failure) return nullptr;
    p->estimated_count = std::move(answer);
    return p;
  }

  p->exchange.client = door.protocol;
  p->exchange.operation = door.operation;
  p->exchange.stream = ctx.stream;
  p->exchange.client_wants_usage = p->envelope.include_usage;
  if (door.protocol == Protocol::anthropic_messages) {
    p->forwarded.anthropic_version = std::string(request["anthropic-version"]);
    p->forwarded.anthropic_beta = std::string(request["anthropic-beta"]);
  }
  const core::RoutingPolicy& policy = p->group->model->routing;
  if (policy.first_token_timeout.count() > 0 && ctx.stream) {
    p->control.first_token_deadline.emplace();  // set per attempt
    p->control.hold_head = true;
  }
  p->body = std::move(body);
  request = Request{};
  return p;
}

// select_target: a target of the current group that has not been tried in this request and
// can serve the operation, in list order.
const TargetRoute* select_target(PendingRequest& p) {
  for (const TargetRoute& t : p.group->targets) {
    if (t.index < 64 && (p.tried & (std::uint64_t{1} << t.index)) != 0) continue;
    if (!serves(t, p.exchange.operation)) continue;
    return &t;
  }
  return nullptr;
}

// build_upstream_request: the same protocol on both sides passes the bytes through with only
// the model (and OpenAI's include_usage) spliced in; otherwise the request is decoded to
// canonical form (once) and encoded for the target's provider.
std::optional<adapters::UpstreamRequest> build_upstream_request(PendingRequest& p,
                                                                const TargetRoute& target,
                                                                RequestContext& ctx,
                                                                Protocol& upstream_protocol) {
  const Protocol client = p.exchange.client;
  upstream_protocol = adapters::upstream_protocol(client, *target.kind);
  const std::string& upstream_model = target.config->upstream_model;
  std::string upstream_body;
  if (upstream_protocol != client) {
    if (!p.canonical) {
      auto decoded = adapters::decode_request(client, p.body);
      if (!decoded) {
        ctx.failure = decoded.error();
        return std::nullopt;
      }
      p.canonical = std::make_shared<adapters::Request>(std::move(decoded.value()));
      if (client != Protocol::openai_chat)
        p.exchange.client_wants_usage = p.canonical->include_usage;
      p.exchange.request = p.canonical;
    }
    // Reasoning settings fit each target's model; the decoded request stays as it came.
    adapters::Request& canonical = *p.canonical;
    std::string effort = canonical.reasoning_effort;
    const std::optional<std::int64_t> budget = canonical.thinking_budget;
    adapters::fit_reasoning(canonical, target.config->reasoning);
    upstream_body =
        adapters::encode_request(upstream_protocol, canonical, upstream_model, *target.provider);
    canonical.reasoning_effort = std::move(effort);
    canonical.thinking_budget = budget;
  } else {
    const bool force_usage = p.exchange.stream && client == Protocol::openai_chat;
    upstream_body = core::splice_chat_request(p.body, p.envelope, upstream_model, force_usage);
  }
  const core::ProviderConfig& provider = *target.provider;
  const std::string_view key =
      provider.api_keys.empty() ? std::string_view() : std::string_view(provider.api_keys.front());
  return adapters::build_upstream_request(
      provider, key, target.endpoint.base_path, p.exchange.operation, upstream_protocol,
      upstream_model, p.exchange.stream, std::move(upstream_body), ctx.request_id, p.forwarded);
}

// classify: after a failed attempt, whether (and where) the request goes on. Moves the
// routing state to the next group when this one is done; false when nothing is left to try.
bool may_go_on(PendingRequest& p, RequestContext& ctx, const core::UpstreamFailure& failure) {
  (void)ctx;
  const core::RoutingPolicy& policy = p.group->model->routing;
  if (failure.after_first_byte) return false;
  if (failure.context_length) {
    // Only a model with a longer context window can help.
    const auto& longer = p.first_group->context_window_fallbacks;
    if (p.group != p.first_group || longer.empty()) return false;
    p.group = longer.front();
    p.tried = 0;
    p.group_attempts = 0;
    return true;
  }
  if (!core::is_retryable(failure, policy.retry.on)) return false;
  if (p.group_attempts < policy.retry.attempts && select_target(p) != nullptr) return true;
  const auto& fallbacks = p.first_group->fallbacks;
  if (p.next_fallback >= fallbacks.size()) return false;
  p.group = fallbacks[p.next_fallback++];
  p.tried = 0;
  p.group_attempts = 0;
  return true;
}

// Counts an attempt's end: against its target (success or how it failed) and, for a broken
// upstream, against its provider.
void count_attempt(const ModelRoute& group, const TargetRoute& target, std::size_t shard,
                   const std::optional<core::UpstreamFailure>& failed) {
  using core::FailureKind;
  using metrics::AttemptOutcome;
  const metrics::TargetMetrics& tm = group.model_metrics->targets[target.index];
  if (!failed) {
    tm.count_attempt(shard, AttemptOutcome::success);
    return;
  }
  const core::UpstreamFailure& f = *failed;
  metrics::UpstreamError e = metrics::UpstreamError::kCount;
  AttemptOutcome o = AttemptOutcome::stream_error;
  switch (f.kind) {
    case FailureKind::connect:
      e = metrics::UpstreamError::connect;
      o = AttemptOutcome::connect;
      break;
    case FailureKind::tls:
      e = metrics::UpstreamError::tls;
      o = AttemptOutcome::tls;
      break;
    case FailureKind::timeout:
      e = metrics::UpstreamError::timeout;
      o = AttemptOutcome::timeout;
      break;
    case FailureKind::first_token_timeout:
      e = metrics::UpstreamError::timeout;
      o = AttemptOutcome::first_token_timeout;
      break;
    case FailureKind::reset:
      e = metrics::UpstreamError::reset;
      o = AttemptOutcome::reset;
      break;
    case FailureKind::status:
      e = f.status < 500 ? metrics::UpstreamError::status_4xx : metrics::UpstreamError::status_5xx;
      o = f.status < 500 ? AttemptOutcome::status_4xx : AttemptOutcome::status_5xx;
      break;
    case FailureKind::protocol:
      e = metrics::UpstreamError::protocol;
      o = AttemptOutcome::protocol;
      break;
    case FailureKind::oversized:
      e = metrics::UpstreamError::oversized;
      o = AttemptOutcome::oversized;
      break;
    case FailureKind::truncated:
      e = metrics::UpstreamError::truncated;
      o = AttemptOutcome::truncated;
      break;
    case FailureKind::stream_error:
      break;  // the provider's own in-stream error is its answer, not a broken upstream
  }
  tm.count_attempt(shard, o);
  if (e != metrics::UpstreamError::kCount) target.provider_metrics->count_error(shard, e);
}

// The client watch for the whole request: armed by the worker's deadline sweeper within
// 100 ms (an exchange that ends sooner has no tokens left to save, and arming costs an
// epoll_ctl), it cancels whatever attempt is under way when the client leaves.
class RequestWatch {
 public:
  RequestWatch(HttpSession& session, RequestContext& ctx, AttemptControl& control)
      : watch_(session.socket()), arm_(session.worker().deadlines, [this, &ctx, &control] {
          watch_.start([&ctx, &control] {
            ctx.client_gone = true;
            if (control.link) control.link->close();
          });
        }) {
    arm_.expires_after(Clock::duration::zero());
  }
  ~RequestWatch() { stop(); }
  RequestWatch(const RequestWatch&) = delete;
  RequestWatch& operator=(const RequestWatch&) = delete;
  void stop() {
    arm_.clear();
    watch_.stop();
  }

 private:
  ClientWatch watch_;
  Deadline arm_;
};

}  // namespace

const FrontDoor* find_front_door(std::string_view path) {
  for (const auto& [door_path, door] : kFrontDoors) {
    if (door_path == path) return &door;
  }
  return nullptr;
}

net::awaitable<void> handle_model_request(HttpSession& session, Request& request,
                                          RequestContext& ctx, const FrontDoor& door) {
  ctx.protocol = door.protocol;
  std::unique_ptr<PendingRequest> p = on_request(session.runtime(), request, ctx, door);
  if (!p) co_return;
  if (p->estimated_count) {
    co_await session.write_json(ctx, 200, std::move(*p->estimated_count));
    co_return;
  }
  auto watch = std::make_unique<RequestWatch>(session, ctx, p->control);
  for (;;) {
    const TargetRoute* target = select_target(*p);
    if (target == nullptr) break;
    ctx.target = target;
    ctx.route = p->group;
    Protocol upstream_protocol = Protocol::openai_chat;
    auto upstream = build_upstream_request(*p, *target, ctx, upstream_protocol);
    if (!upstream) break;
    p->tried |= target->index < 64 ? std::uint64_t{1} << target->index : 0;
    ++p->group_attempts;
    ++ctx.attempts;
    if (p->control.first_token_deadline)
      *p->control.first_token_deadline =
          Clock::now() + p->group->model->routing.first_token_timeout;
    auto attempt = std::make_unique<Attempt>();
    attempt->target = target;
    attempt->upstream = upstream_protocol;
    std::optional<core::UpstreamFailure> failed = co_await open_attempt(
        session, ctx, p->exchange, std::move(*upstream), *attempt, p->control);
    if (ctx.client_gone) break;
    if (!failed) {
      if (p->group != p->first_group) ctx.fallback_from = p->first_group->model->name;
      p->answer_started();
      failed = co_await deliver_answer(session, ctx, *attempt);
      count_attempt(*p->group, *target, session.worker().index, failed);
      p->last_failure.reset();
      break;
    }
    p->control.link = nullptr;
    count_attempt(*p->group, *target, session.worker().index, failed);
    p->last_upstream = upstream_protocol;
    p->last_failure = std::move(failed);
    if (!may_go_on(*p, ctx, *p->last_failure)) break;
  }
  watch->stop();
  if (ctx.client_gone) {
    ctx.error = "client_closed";
    co_return;
  }
  // on_error: the session writes the last failure in the client's protocol.
  if (p->last_failure && !ctx.failure) {
    ctx.upstream_failure = std::move(p->last_failure);
    ctx.upstream_protocol = p->last_upstream;
  }
}

}  // namespace switchyard::proxy
