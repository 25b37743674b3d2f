#include "proxy/pipeline.hpp"

#include <simdjson.h>

#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <utility>

#include "adapters/anthropic.hpp"
#include "proxy/client_watch.hpp"
#include "proxy/governance_gate.hpp"
#include "proxy/tracing.hpp"
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
  explicit PendingRequest(core::RetryBudgetState& budget_) : budget(budget_) {
    budget.begin_request();
  }
  ~PendingRequest() {
    if (holds_retry) budget.end_retry();
    budget.end_request();
  }
  PendingRequest(const PendingRequest&) = delete;
  PendingRequest& operator=(const PendingRequest&) = delete;

  std::string body;  // the client's body, until the answer has started
  core::ChatRequest envelope;
  adapters::ForwardedHeaders forwarded;
  std::shared_ptr<adapters::Request> canonical;  // decoded once, when a target translates
  Exchange exchange;
  Attempt attempt;  // the attempt under way (one allocation with the request's state)
  AttemptControl control;
  AttemptControl hedge_control;                // the hedge's, while one races the first attempt
  std::optional<std::string> estimated_count;  // count_tokens answered by the gateway itself
  std::int64_t input_tokens = 0;               // estimated, for cost, tpm and the rules
  std::int64_t max_output_tokens = 0;

  // Per-request overrides (x-switchyard-* headers), where the config allows them.
  int max_attempts = 1 << 20;
  std::chrono::milliseconds first_token_timeout{0};
  bool fallbacks_off = false;
  std::optional<std::size_t> pinned;  // a target of the first group

  const ModelRoute* first_group = nullptr;  // the model asked for (after rule routing)
  const ModelRoute* group = nullptr;        // the model group being tried
  std::uint64_t tried = 0;        // its targets out of the running in this request (bit per index)
  std::uint64_t unserving = 0;    // its targets that cannot serve the operation
  int group_attempts = 0;         // attempts on this group
  std::size_t next_fallback = 0;  // the next of the first group's fallbacks to try
  bool in_context_fallbacks = false;
  core::Unavailable unavailable;   // why the last selection found nothing
  std::optional<std::size_t> key;  // the key of the pool the attempt under way uses
  // On the heap when there is one: kept inline it took this struct past 1 KB, where glibc's
  // malloc takes its slow path for every request.
  std::unique_ptr<core::UpstreamFailure> last_failure;
  adapters::Protocol last_upstream = adapters::Protocol::openai_chat;
  core::RetryBudgetState& budget;
  bool holds_retry = false;         // a retry admitted by the budget is under way
  bool panicked = false;            // sent once despite every breaker
  std::optional<std::size_t> rule;  // the router rule that chose the model
  const RouterRoute* router = nullptr;

  void enter(const ModelRoute* next);
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

void PendingRequest::enter(const ModelRoute* next) {
  group = next;
  tried = 0;
  unserving = 0;
  group_attempts = 0;
  for (const TargetRoute& t : next->targets)
    if (!serves(t, exchange.operation)) unserving |= std::uint64_t{1} << t.index;
  tried = unserving;
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

// Rule-based routing: the model of the first rule that matches this request.
const ModelRoute* route_by_rules(const RouterRoute& router, const Request& request,
                                 std::string_view body, const FrontDoor& door, PendingRequest& p) {
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  headers.reserve(router.header_names.size());
  for (const std::string& name : router.header_names) {
    const auto it = request.find(name);
    if (it != request.end()) headers.emplace_back(name, it->value());
  }
  core::RuleFacts facts;
  facts.input_tokens = p.input_tokens;
  facts.protocol = door.protocol == Protocol::anthropic_messages ? "anthropic_messages"
                   : door.protocol == Protocol::openai_responses ? "openai_responses"
                                                                 : "openai_chat";
  facts.headers = headers;
  if (router.reads_request) {
    // Tools and images need the decoded request; it is kept for the attempts.
    auto decoded = adapters::decode_request(door.protocol, body);
    if (decoded) {
      p.canonical = std::make_shared<adapters::Request>(std::move(decoded.value()));
      facts.input_tokens = adapters::estimate_input_tokens(*p.canonical);
      facts.tools = !p.canonical->tools.empty();
      for (const auto& message : p.canonical->messages)
        for (const auto& part : message.parts)
          facts.images =
              facts.images || part.kind == adapters::Part::Kind::image || !part.images.empty();
    }
  }
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<std::pair<std::string_view, std::string_view>> metadata_views;
  if (router.reads_metadata) {
    boost::system::error_code ec;
    const boost::json::value root = boost::json::parse(body, ec);
    const boost::json::object* object = !ec && root.is_object() ? &root.get_object() : nullptr;
    const boost::json::value* m = object ? object->if_contains("metadata") : nullptr;
    if (m && m->is_object()) {
      for (const auto& [key, value] : m->get_object())
        if (value.is_string()) metadata.emplace_back(key, value.get_string());
    }
    for (const auto& [key, value] : metadata) metadata_views.emplace_back(key, value);
    facts.metadata = metadata_views;
  }
  const auto& rules = router.router->rules;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (!core::rule_matches(rules[i].when, facts)) continue;
    p.rule = i;
    return router.models[i];
  }
  return nullptr;
}

// Reads a number header; nullopt when absent, false in `ok` when malformed.
std::optional<std::int64_t> header_number(const Request& request, std::string_view name, bool& ok) {
  const auto it = request.find(name);
  if (it == request.end()) return std::nullopt;
  const std::string_view v = it->value();
  std::int64_t n = 0;
  if (v.empty() || v.size() > 9) ok = false;
  for (char c : v) {
    if (c < '0' || c > '9') ok = false;
    n = n * 10 + (c - '0');
  }
  return ok ? std::optional<std::int64_t>(n) : std::nullopt;
}

// The per-request overrides, where the config allows them: a lower first-token timeout,
// fewer retries, no fallbacks, one pinned target. A forbidden or malformed one is a 400.
bool read_overrides(const core::OverridePolicy& allowed, const Request& request, PendingRequest& p,
                    RequestContext& ctx) {
  auto refuse = [&](std::string_view header, std::string_view why) {
    ctx.failure =
        core::client_error(400, "The header " + std::string(header) + " " + std::string(why) + ".",
                           std::string(header), "invalid_routing_override");
    return false;
  };
  // One pass first: most requests carry no x-switchyard-* header, and four lookups by name
  // cost more than a look at each header's first bytes.
  constexpr std::string_view kPrefix = "x-switchyard-";
  bool any = false;
  for (const auto& field : request) {
    const std::string_view name = field.name_string();
    if (name.size() > kPrefix.size() && (name[0] | 0x20) == 'x' && name[1] == '-' &&
        beast::iequals(name.substr(0, kPrefix.size()), kPrefix)) {
      any = true;
      break;
    }
  }
  if (!any) return true;
  bool ok = true;
  if (auto ms = header_number(request, "x-switchyard-timeout-ms", ok)) {
    if (!allowed.timeout)
      return refuse("x-switchyard-timeout-ms", "is not allowed by this gateway");
    if (*ms <= 0) return refuse("x-switchyard-timeout-ms", "must be a positive number");
    const std::chrono::milliseconds configured = p.first_group->model->routing.first_token_timeout;
    p.first_token_timeout = configured.count() > 0
                                ? std::min(configured, std::chrono::milliseconds(*ms))
                                : std::chrono::milliseconds(*ms);
  }
  if (!ok) return refuse("x-switchyard-timeout-ms", "must be a number of milliseconds");
  if (auto retries = header_number(request, "x-switchyard-retries", ok)) {
    if (!allowed.retries) return refuse("x-switchyard-retries", "is not allowed by this gateway");
    p.max_attempts = static_cast<int>(std::min<std::int64_t>(*retries, 100)) + 1;
  }
  if (!ok) return refuse("x-switchyard-retries", "must be a number");
  if (const auto it = request.find("x-switchyard-fallbacks"); it != request.end()) {
    if (!allowed.fallbacks)
      return refuse("x-switchyard-fallbacks", "is not allowed by this gateway");
    if (it->value() != "off" && it->value() != "on")
      return refuse("x-switchyard-fallbacks", "must be on or off");
    p.fallbacks_off = it->value() == "off";
  }
  if (const auto it = request.find("x-switchyard-target"); it != request.end()) {
    if (!allowed.target) return refuse("x-switchyard-target", "is not allowed by this gateway");
    // provider, or provider/upstream-model: one of the model's own targets.
    const std::string_view v = it->value();
    const std::string_view provider = v.substr(0, v.find('/'));
    const std::string_view model =
        v.find('/') == std::string_view::npos ? std::string_view() : v.substr(v.find('/') + 1);
    for (const TargetRoute& t : p.first_group->targets) {
      if (t.provider->name == provider && (model.empty() || t.config->upstream_model == model)) {
        p.pinned = t.index;
        break;
      }
    }
    if (!p.pinned) return refuse("x-switchyard-target", "names no target of this model");
  }
  return true;
}

// on_request: parse once, for the fields the gateway needs, and find the model group.
// Returns nullptr when the request is answered already or has failed (ctx.failure).
std::unique_ptr<PendingRequest> on_request(Worker& worker, Request& request, RequestContext& ctx,
                                           const FrontDoor& door) {
  const Runtime& runtime = worker.runtime;
  const RouteTable& table = *ctx.table;
  // W3C trace context: the client's trace continues through the gateway to the provider, and
  // its id is logged; with tracing on, this request may be traced (proxy/tracing.hpp). First,
  // so that a request refused below is in its client's trace too.
  start_request_trace(table.config.tracing, request["traceparent"], request["tracestate"], ctx,
                      worker.rng);
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
  if (runtime.governance && !authenticate(worker, request, ctx)) return nullptr;
  auto p = std::make_unique<PendingRequest>(*table.retry_budget);
  p->envelope = std::move(parsed.value());
  ctx.model = p->envelope.model;
  ctx.end_user = std::move(p->envelope.end_user);
  ctx.metadata_tags = std::move(p->envelope.metadata_tags);
  ctx.stream = p->envelope.stream && door.operation == adapters::Operation::generate;
  p->exchange.client = door.protocol;
  p->exchange.operation = door.operation;
  p->exchange.stream = ctx.stream;
  p->exchange.client_wants_usage = p->envelope.include_usage;
  // About four bytes a token: enough for cost, tpm and the rules' token bounds.
  p->input_tokens = static_cast<std::int64_t>(body.size() / 4);
  p->max_output_tokens = p->envelope.max_tokens.value_or(0);

  const ModelRoute* group = table.find_route(p->envelope.model);
  if (group == nullptr) {
    if (const RouterRoute* router = table.find_router(p->envelope.model)) {
      group = route_by_rules(*router, request, body, door, *p);
      p->router = router;
    }
  }
  if (group == nullptr) {
    ctx.failure = core::client_error(
        404, "The model '" + p->envelope.model + "' does not exist on this gateway.", "model",
        "model_not_found");
    return nullptr;
  }
  if (ctx.key && !admit_request(worker, ctx, *group, p->input_tokens, p->max_output_tokens))
    return nullptr;
  p->first_group = group;
  p->enter(group);
  ctx.route = group;
  const bool served = p->unserving != (std::uint64_t{1} << group->targets.size()) - 1 ||
                      group->targets.size() >= 64;
  if (!served && door.operation == adapters::Operation::embeddings) {
    ctx.failure = core::client_error(
        400, "The model '" + p->envelope.model + "' does not support embeddings.", "model",
        "model_not_supported");
    return nullptr;
  }
  if (!served && door.operation == adapters::Operation::count_tokens) {
    ctx.target = &group->targets.front();
    std::string answer = estimated_token_count(body, ctx);
    if (ctx.failure) return nullptr;
    p->estimated_count = std::move(answer);
    return p;
  }

  if (door.protocol == Protocol::anthropic_messages) {
    p->forwarded.anthropic_version = std::string(request["anthropic-version"]);
    p->forwarded.anthropic_beta = std::string(request["anthropic-beta"]);
  }
  forward_trace_context(ctx, p->forwarded);
  if (!read_overrides(table.config.routing.overrides, request, *p, ctx)) return nullptr;
  const core::RoutingPolicy& policy = group->model->routing;
  if (p->first_token_timeout.count() == 0) p->first_token_timeout = policy.first_token_timeout;
  if (p->first_token_timeout.count() > 0 && ctx.stream) {
    p->control.first_token_deadline.emplace();  // set per attempt
    p->control.hold_head = true;
  }
  p->body = std::move(body);
  request = Request{};
  return p;
}

// select_target: among the group's targets still in the running, by its strategy and tiers
// (core/routing.hpp). The chosen one is claimed; the attempt releases it.
const TargetRoute* select_target(PendingRequest& p, core::SteadyTime now, core::Rng& rng) {
  // A single-target model (the common case) needs no strategy: its target, if it can take it.
  if (p.group->targets.size() == 1 && p.tried == 0) {
    core::TargetState& state = p.group->states[0];
    const std::int64_t tokens = p.input_tokens + p.max_output_tokens;
    if (state.availability(now, tokens) == core::TargetAvailability::available &&
        state.claim(now, tokens))
      return &p.group->targets[0];
  }
  const core::ModelConfig& model = *p.group->model;
  core::SelectionInput input;
  input.now = now;
  input.strategy = model.routing.strategy;
  input.input_tokens = p.input_tokens;
  input.max_output_tokens = p.max_output_tokens;
  input.tried = p.tried;
  if (p.group == p.first_group) input.pinned = p.pinned;
  const core::Selection selection =
      core::select_target(model.targets, p.group->target_states(), input, rng);
  p.unavailable = selection.unavailable;
  return selection.target ? &p.group->targets[*selection.target] : nullptr;
}

// Whether another target of the group could take an attempt now, without claiming it.
bool other_target_available(const PendingRequest& p, core::SteadyTime now) {
  if (p.pinned && p.group == p.first_group) return false;
  const auto states = p.group->target_states();
  for (std::size_t i = 0; i < states.size() && i < 64; ++i) {
    if ((p.tried & (std::uint64_t{1} << i)) != 0) continue;
    if (states[i].availability(now, p.input_tokens + p.max_output_tokens) ==
        core::TargetAvailability::available)
      return true;
  }
  return false;
}

// Moves to the next fallback group (context-window fallbacks after a context-length error);
// false when there is none left.
bool enter_fallback(PendingRequest& p, bool context_length) {
  if (p.fallbacks_off || p.pinned) return false;
  const ModelRoute& first = *p.first_group;
  if (context_length && !p.in_context_fallbacks) {
    p.in_context_fallbacks = true;
    p.next_fallback = 0;
  }
  const auto& list = p.in_context_fallbacks ? first.context_window_fallbacks : first.fallbacks;
  if (p.next_fallback >= list.size()) return false;
  p.enter(list[p.next_fallback++]);
  return true;
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
  const std::string_view key = p.key && *p.key < provider.api_keys.size()
                                   ? std::string_view(provider.api_keys[*p.key])
                                   : std::string_view();
  return adapters::build_upstream_request(
      provider, key, target.endpoint.base_path, p.exchange.operation, upstream_protocol,
      upstream_model, p.exchange.stream, std::move(upstream_body), ctx.request_id, p.forwarded);
}

// classify: after a failed attempt, what the request does next (core/retry.hpp decides);
// also where the failure counts: against the target's health, or its key.
enum class Next { retry, wait_then_retry, stop };

Next classify(PendingRequest& p, RequestContext& ctx, Worker& worker, const TargetRoute& target,
              const core::UpstreamFailure& f, std::chrono::milliseconds& wait) {
  const core::SteadyTime now = std::chrono::steady_clock::now();
  const core::ModelConfig& model = *p.group->model;
  const metrics::ModelMetrics& mm = *p.group->model_metrics;
  const std::optional<std::chrono::milliseconds> retry_after =
      core::parse_retry_after(f.retry_after, {}, std::chrono::system_clock::now());
  core::TargetState& state = p.group->target_states()[target.index];
  const bool key_rejected = f.kind == core::FailureKind::status &&
                            (f.status == 401 || f.status == 403 || f.status == 429) && p.key;
  if (key_rejected) {
    target.keys->bench_for_status(*p.key, f.status, now, retry_after, model.routing.cooldown);
    target.provider_metrics->keys_benched->add(worker.index, 1);
  }
  if (f.after_first_byte) return Next::stop;
  if (core::is_retryable(f, model.routing.retry.on) && state.record_failure(now, retry_after))
    mm.targets[target.index].cooldowns->add(worker.index, 1);

  core::RetryPolicy retry = model.routing.retry;
  retry.attempts = std::min(retry.attempts, p.max_attempts);
  // A key the provider refused is the gateway's problem, not the client's: the same target
  // with another key of its pool is worth an attempt.
  if (key_rejected && f.status != 429 && target.keys->pick(now, worker.rng) &&
      p.group_attempts < retry.attempts) {
    p.tried &= ~(std::uint64_t{1} << target.index);
    // Not a client error, whatever retry.on says of 401 and 403: go again with another key.
    if (p.holds_retry || p.budget.try_begin_retry()) {
      p.holds_retry = true;
      mm.retries->add(worker.index, 1);
      return Next::retry;
    }
    mm.retries_refused->add(worker.index, 1);
  }
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - ctx.start);
  const core::RetryDecision decision = core::decide_retry(
      {.policy = retry,
       .failure = f,
       .attempts_made = p.group_attempts,
       .elapsed = elapsed,
       .retry_after = retry_after,
       .other_target_available =
           other_target_available(p, now) ||
           (key_rejected && (p.tried & (std::uint64_t{1} << target.index)) == 0)},
      worker.rng);
  switch (decision.action) {
    case core::RetryAction::retry_other_target:
    case core::RetryAction::wait_then_retry:
      if (p.holds_retry || p.budget.try_begin_retry()) {
        p.holds_retry = true;
        mm.retries->add(worker.index, 1);
        if (decision.action == core::RetryAction::retry_other_target) return Next::retry;
        p.tried = p.unserving;  // the same target may take it after the wait
        wait = decision.wait;
        return Next::wait_then_retry;
      }
      mm.retries_refused->add(worker.index, 1);
      [[fallthrough]];
    case core::RetryAction::give_up_group:
      if (enter_fallback(p, f.context_length)) return Next::retry;
      return Next::stop;
    case core::RetryAction::fail:
      // A context-length error fails here only when no longer model is configured.
      if (f.context_length && enter_fallback(p, true)) return Next::retry;
      return Next::stop;
  }
  return Next::stop;
}

// Counts an attempt's end: against its target (success or how it failed) and, for a broken
// upstream, against its provider.
metrics::AttemptOutcome count_attempt(const ModelRoute& group, const TargetRoute& target,
                                      std::size_t shard,
                                      const std::optional<core::UpstreamFailure>& failed) {
  using core::FailureKind;
  using metrics::AttemptOutcome;
  const metrics::TargetMetrics& tm = group.model_metrics->targets[target.index];
  if (!failed) {
    tm.count_attempt(shard, AttemptOutcome::success);
    return AttemptOutcome::success;
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
  return o;
}

// One attempt's hold on its target (counted in flight), released when the attempt ends.
class AttemptClaim {
 public:
  AttemptClaim() = default;
  explicit AttemptClaim(core::TargetState& s) : state_(&s) {}
  ~AttemptClaim() { release(); }
  AttemptClaim(AttemptClaim&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  AttemptClaim& operator=(AttemptClaim&& other) noexcept {
    if (this != &other) {
      release();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  AttemptClaim(const AttemptClaim&) = delete;
  AttemptClaim& operator=(const AttemptClaim&) = delete;
  core::TargetState& state() const { return *state_; }
  void release() {
    if (state_) std::exchange(state_, nullptr)->end_attempt();
  }

 private:
  core::TargetState* state_ = nullptr;
};

// The client watch for the whole request: armed by the worker's deadline sweeper within
// 100 ms (an exchange that ends sooner has no tokens left to save, and arming costs an
// epoll_ctl), it cancels whatever attempt is under way when the client leaves.
class RequestWatch {
 public:
  // The callbacks capture `this` alone: a std::function holds one pointer without a
  // heap allocation.
  RequestWatch(HttpSession& session, RequestContext& ctx, AttemptControl& control,
               AttemptControl& hedge)
      : ctx_(ctx),
        control_(control),
        hedge_(hedge),
        watch_(session.socket()),
        arm_(session.worker().deadlines, [this] { watch_.start([this] { on_client_gone(); }); }) {
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
  void on_client_gone() {
    ctx_.client_gone = true;
    for (AttemptControl* c : {&control_, &hedge_}) {
      if (c->link) c->link->close();
      if (c->wait) c->wait->cancel();
    }
  }

  RequestContext& ctx_;
  AttemptControl& control_;
  AttemptControl& hedge_;
  ClientWatch watch_;
  Deadline arm_;
};

// Hedging: two attempts racing for the first token. The race runs each attempt's open step
// as a coroutine of its own on the worker; the request's coroutine waits on `signal`, which
// each finished attempt (and the hedge timer) wakes.
struct HedgeRace {
  explicit HedgeRace(const net::any_io_executor& ex) : signal(ex) {}
  net::steady_timer signal;
  std::array<bool, 2> done{};
  std::array<std::optional<core::UpstreamFailure>, 2> result;
};

void spawn_open(HttpSession& session, RequestContext& ctx, const Exchange& exchange,
                adapters::UpstreamRequest upstream, Attempt& attempt, AttemptControl& control,
                const std::shared_ptr<HedgeRace>& race, std::size_t leg) {
  net::co_spawn(
      session.socket().get_executor(),
      open_attempt(session, ctx, exchange, std::move(upstream), attempt, control),
      [race, leg](const std::exception_ptr& error, std::optional<core::UpstreamFailure> failed) {
        race->done[leg] = true;
        if (error) {
          // Not expected (an attempt reports failures as values), but a leg that threw must
          // not read as an answer.
          core::UpstreamFailure thrown;
          thrown.kind = core::FailureKind::reset;
          thrown.message = "The attempt failed unexpectedly.";
          failed = std::move(thrown);
        }
        race->result[leg] = std::move(failed);
        race->signal.cancel();
      });
}

// A key of the target's provider pool for one attempt; every key benched: one of them anyway,
// so the provider answers rather than the gateway. None when the provider has no key.
std::optional<std::size_t> pick_key(const TargetRoute& target, core::SteadyTime now,
                                    core::Rng& rng) {
  if (target.keys->size() == 0) return std::nullopt;
  if (auto key = target.keys->pick(now, rng)) return key;
  return rng.below(target.keys->size());
}

void count_fallback(const PendingRequest& p, std::size_t shard) {
  const ModelRoute& first = *p.first_group;
  std::size_t i = 0;
  for (const auto* list : {&first.fallbacks, &first.context_window_fallbacks}) {
    for (const ModelRoute* to : *list) {
      if (to == p.group && i < first.model_metrics->fallbacks.size()) {
        first.model_metrics->fallbacks[i]->add(shard, 1);
        return;
      }
      ++i;
    }
  }
}

// When this request's first attempt gets a hedge: the model hedges, has another target, and
// the delay is known (fixed, or the recent time-to-first-token percentile).
std::optional<std::chrono::milliseconds> hedge_delay(PendingRequest& p, RequestContext& ctx) {
  const core::HedgePolicy& policy = p.group->model->routing.hedge;
  if (!policy.enabled() || p.group->targets.size() < 2 || p.pinned) return std::nullopt;
  const core::SteadyTime now = std::chrono::steady_clock::now();
  p.group->hedge->record_request(now);
  auto delay = p.group->hedge->hedge_delay(now, policy);
  // The race is decided by the first token: a stream's head waits for it.
  if (delay && ctx.stream) p.control.hold_head = p.hedge_control.hold_head = true;
  return delay;
}

// The hedge of a race, when one was sent.
struct HedgeLeg {
  std::unique_ptr<Attempt> attempt;
  AttemptClaim claim;
  bool won = false;
};

// Runs `attempt` and, if it has no first token by `hedge_at`, a second attempt on another
// target of the group (within the hedge fraction and the retry budget). The first to answer
// wins; the other is cancelled upstream at once (its connection closed, so the provider
// stops generating), and both have finished when this returns. Returns the first attempt's
// failure when neither answered; `hedge.won` says the hedge is the answer.
net::awaitable<std::optional<core::UpstreamFailure>> race_for_first_token(
    HttpSession& session, RequestContext& ctx, PendingRequest& p,
    adapters::UpstreamRequest upstream, Attempt& attempt, Clock::time_point hedge_at,
    HedgeLeg& hedge) {
  Worker& worker = session.worker();
  const metrics::ModelMetrics& mm = *p.group->model_metrics;
  auto race = std::make_shared<HedgeRace>(session.socket().get_executor());
  spawn_open(session, ctx, p.exchange, std::move(upstream), attempt, p.control, race, 0);
  bool hedge_tried = false;
  bool budgeted = false;
  auto answered = [&](std::size_t leg) { return race->done[leg] && !race->result[leg]; };
  for (;;) {
    const bool hedged = hedge.attempt != nullptr;
    if (answered(0) || (hedged && answered(1))) break;
    if (race->done[0] && (!hedged || race->done[1])) break;
    race->signal.expires_at(hedge_tried || race->done[0] ? Clock::time_point::max() : hedge_at);
    co_await race->signal.async_wait(net::as_tuple(net::use_awaitable));
    if (hedge_tried || race->done[0] || ctx.client_gone || Clock::now() < hedge_at) continue;
    hedge_tried = true;
    const core::SteadyTime now = std::chrono::steady_clock::now();
    if (!p.group->hedge->try_begin_hedge(now, p.group->model->routing.hedge)) continue;
    if (!p.budget.try_begin_retry()) {
      mm.retries_refused->add(worker.index, 1);
      continue;
    }
    budgeted = true;
    const TargetRoute* second = select_target(p, now, worker.rng);
    if (second == nullptr) continue;
    p.tried |= std::uint64_t{1} << second->index;
    hedge.claim = AttemptClaim(p.group->target_states()[second->index]);
    const std::optional<std::size_t> first_key = p.key;
    p.key = pick_key(*second, now, worker.rng);
    const AttemptSpan span = begin_attempt_span(ctx, p.forwarded, worker.rng, /*hedge=*/true);
    Protocol protocol = Protocol::openai_chat;
    auto request = build_upstream_request(p, *second, ctx, protocol);
    p.key = first_key;
    if (!request) {
      ctx.failure.reset();  // the first attempt may still answer
      hedge.claim.release();
      continue;
    }
    hedge.attempt = std::make_unique<Attempt>();
    hedge.attempt->target = second;
    hedge.attempt->upstream = protocol;
    hedge.attempt->span = span;
    p.hedge_control.first_token_deadline = p.control.first_token_deadline;
    ++ctx.attempts;
    mm.hedges_sent->add(worker.index, 1);
    spawn_open(session, ctx, p.exchange, std::move(*request), *hedge.attempt, p.hedge_control, race,
               1);
  }
  const bool hedged = hedge.attempt != nullptr;
  hedge.won = hedged && !answered(0) && answered(1);
  // The loser stops now: its connection is closed, whatever step it is at.
  for (std::size_t leg = 0; leg < (hedged ? 2u : 1u); ++leg) {
    AttemptControl& control = leg == 0 ? p.control : p.hedge_control;
    if (race->done[leg]) continue;
    control.cancelled = true;
    if (control.link) control.link->close();
  }
  while (!race->done[0] || (hedged && !race->done[1])) {
    race->signal.expires_at(Clock::time_point::max());
    co_await race->signal.async_wait(net::as_tuple(net::use_awaitable));
  }
  p.control.link = nullptr;
  p.hedge_control.link = nullptr;
  if (budgeted) p.budget.end_retry();
  if (hedged) {
    (hedge.won ? mm.hedges_won : mm.hedges_lost)->add(worker.index, 1);
    const std::size_t loser = hedge.won ? 0 : 1;
    const TargetRoute& loser_target = loser == 0 ? *attempt.target : *hedge.attempt->target;
    Attempt& lost = loser == 0 ? attempt : *hedge.attempt;
    if (!ctx.client_gone && answered(0) && answered(1)) {
      // Both answered: the loser's tokens were spent all the same.
      if (lost.usage) {
        const double cost = core::cost_usd(*lost.usage, loser_target.config->price);
        mm.record_usage(worker.index, *lost.usage, cost);
        mm.targets[loser_target.index].cost_usd->add(worker.index, cost);
      }
    }
    if (!ctx.client_gone) {
      if (race->result[loser] && !hedge.won && loser == 1 && !p.hedge_control.cancelled) {
        // The hedge failed on its own: its target's health hears of it.
        ctx.record_attempt(p.group, &loser_target,
                           count_attempt(*p.group, loser_target, worker.index, race->result[loser]),
                           lost.span, race->result[loser]->status);
      } else {
        mm.targets[loser_target.index].count_attempt(worker.index,
                                                     metrics::AttemptOutcome::hedge_lost);
        ctx.record_attempt(p.group, &loser_target, metrics::AttemptOutcome::hedge_lost, lost.span,
                           lost.response.status);
      }
    }
    if (!hedge.won) hedge.claim.release();
  }
  if (hedge.won) co_return std::nullopt;
  co_return std::move(race->result[0]);
}

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
  ctx.operation = door.operation;
  Worker& worker = session.worker();
  std::unique_ptr<PendingRequest> p = on_request(worker, request, ctx, door);
  if (!p) co_return;
  // Budgets and limits shared through Redis: one script, awaited here.
  if (ctx.shared && !co_await admit_shared(worker, ctx)) co_return;
  if (p->estimated_count) {
    co_await session.write_json(ctx, 200, std::move(*p->estimated_count));
    co_return;
  }
  if (p->router && p->rule && p->router->decisions[*p->rule])
    p->router->decisions[*p->rule]->add(worker.index, 1);
  RequestWatch watch(session, ctx, p->control, p->hedge_control);
  for (;;) {
    // select_target
    const core::SteadyTime now = std::chrono::steady_clock::now();
    const TargetRoute* target = select_target(*p, now, worker.rng);
    if (target == nullptr) {
      if (p->unavailable.total() > p->unavailable.tried || !p->last_failure) {
        // Nothing of this group can take it now: its fallbacks might.
        if (enter_fallback(*p, false)) continue;
      }
      // Panic routing: nothing at all was tried because every target is cooling down or
      // benched by a Retry-After. The upstream answers then, not the gateway; targets over
      // their own rpm/tpm stay out.
      if (p->last_failure || p->unavailable.over_limit > 0 || p->panicked) break;
      p->panicked = true;
      p->enter(p->first_group);
      for (const TargetRoute& t : p->group->targets) {
        if ((p->unserving & (std::uint64_t{1} << t.index)) != 0) continue;
        if (p->pinned && *p->pinned != t.index) continue;
        target = &t;
        break;
      }
      if (target == nullptr) break;
      p->group->target_states()[target->index].claim_despite_breaker(
          now, p->input_tokens + p->max_output_tokens);
    }
    ctx.target = target;
    ctx.route = p->group;
    p->tried |= std::uint64_t{1} << target->index;
    AttemptClaim claim(p->group->target_states()[target->index]);
    p->key = pick_key(*target, now, worker.rng);
    const AttemptSpan span = begin_attempt_span(ctx, p->forwarded, worker.rng);
    // build_upstream_request
    Protocol upstream_protocol = Protocol::openai_chat;
    auto upstream = build_upstream_request(*p, *target, ctx, upstream_protocol);
    if (!upstream) break;
    ++p->group_attempts;
    ++ctx.attempts;
    if (p->control.first_token_deadline)
      *p->control.first_token_deadline = Clock::now() + p->first_token_timeout;
    // run one attempt (or two, hedged)
    Attempt& attempt = p->attempt;
    if (ctx.attempts > 1) attempt = Attempt{};  // what an earlier attempt left
    attempt.target = target;
    attempt.upstream = upstream_protocol;
    attempt.span = span;
    const Clock::time_point attempt_start = Clock::now();
    std::optional<core::UpstreamFailure> failed;
    const std::optional<std::chrono::milliseconds> hedge_after =
        p->group_attempts == 1 ? hedge_delay(*p, ctx) : std::nullopt;
    if (!hedge_after) {
      failed = co_await open_attempt(session, ctx, p->exchange, std::move(*upstream), attempt,
                                     p->control);
    } else {
      HedgeLeg hedge;
      failed = co_await race_for_first_token(session, ctx, *p, std::move(*upstream), attempt,
                                             attempt_start + *hedge_after, hedge);
      if (hedge.won) {
        // The hedge answered first: it is the attempt from here on.
        attempt = std::move(*hedge.attempt);
        claim = std::move(hedge.claim);
        target = attempt.target;
        ctx.target = target;
        upstream_protocol = attempt.upstream;
      }
    }
    if (ctx.client_gone) break;
    if (!failed) {
      // The answer came: from here on nothing can go elsewhere.
      claim.state().record_success(std::chrono::steady_clock::now());
      if (p->group != p->first_group) {
        ctx.fallback_from = p->first_group->model->name;
        count_fallback(*p, worker.index);
      }
      if (p->rule) ctx.router_rule = p->rule;
      p->answer_started();
      failed = co_await deliver_answer(session, ctx, attempt);
      const Clock::time_point first = ctx.first_token ? *ctx.first_token : Clock::now();
      const auto ttft =
          std::chrono::duration_cast<std::chrono::microseconds>(first - attempt_start);
      claim.state().record_first_token(ttft);
      if (p->group->model->routing.hedge.after_percentile > 0)
        p->group->hedge->record_first_token(std::chrono::steady_clock::now(), ttft);
      ctx.record_attempt(p->group, target, count_attempt(*p->group, *target, worker.index, failed),
                         attempt.span, attempt.response.status);
      p->last_failure.reset();
      break;
    }
    // classify
    p->control.link = nullptr;
    ctx.record_attempt(p->group, target, count_attempt(*p->group, *target, worker.index, failed),
                       attempt.span, failed->status);
    p->last_upstream = upstream_protocol;
    p->last_failure = std::make_unique<core::UpstreamFailure>(std::move(*failed));
    std::chrono::milliseconds wait{0};
    const Next next = classify(*p, ctx, worker, *target, *p->last_failure, wait);
    if (next == Next::stop) break;
    if (next == Next::wait_then_retry && wait.count() > 0) {
      // Backoff or the upstream's Retry-After; the client's leaving cuts it short.
      net::steady_timer timer(session.socket().get_executor());
      p->control.wait = &timer;
      timer.expires_after(wait);
      co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      p->control.wait = nullptr;
      if (ctx.client_gone) break;
    }
  }
  watch.stop();
  if (ctx.client_gone) {
    ctx.error = "client_closed";
    co_return;
  }
  // on_error: the session writes the last failure in the client's protocol.
  if (p->last_failure && !ctx.failure) {
    ctx.upstream_failure = std::move(*p->last_failure);
    ctx.upstream_protocol = p->last_upstream;
  } else if (!ctx.failure && ctx.status == 0) {
    ctx.failure = core::client_error(
        503,
        "No target of the model '" + p->first_group->model->name +
            "' can take the request now: " + core::describe_unavailable(p->unavailable) + ".",
        "model", "no_target_available");
  }
}

}  // namespace switchyard::proxy
