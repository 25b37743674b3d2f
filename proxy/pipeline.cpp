#include "proxy/pipeline.hpp"

#include <simdjson.h>

#include <array>

#include "adapters/anthropic.hpp"
#include "core/http_response_head.hpp"
#include "core/json_member_capture.hpp"
#include "core/mock_reply.hpp"
#include "proxy/client_watch.hpp"

namespace switchyard::proxy {
namespace {

using adapters::Protocol;

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t kMaxUpstreamErrorBody = 1u << 20;
// A pass-through answer up to this size is read whole and written with its length; a larger
// one is relayed as it arrives (its usage read beside it), so no answer size costs memory.
constexpr std::size_t kWholePassthroughBody = 1u << 20;
// The usage object of an answer relayed as it arrives is kept up to this size.
constexpr std::size_t kMaxUsageValueBytes = 64u << 10;

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

// A reused connection that failed before any byte of a response: the server had closed it
// while it was idle. Once a byte has arrived (partial_message), the server has the request,
// and sending it again could run a billed generation twice.
bool is_stale_connection_error(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe;
}

metrics::UpstreamError classify(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return metrics::UpstreamError::timeout;
  if (ec.category() == beast::error_code(http::error::bad_version).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return metrics::UpstreamError::protocol;
  }
  return metrics::UpstreamError::reset;
}

core::GatewayError error_for(const beast::error_code& ec, const Route& route) {
  if (ec == beast::error::timeout) {
    return core::upstream_timeout("The upstream provider '" + route.provider->name +
                                  "' did not answer in time.");
  }
  if (classify(ec) == metrics::UpstreamError::protocol) {
    // It answered, but not in HTTP the gateway can read (a bad status line, an endless
    // head, broken chunks): not a connection that failed.
    return core::bad_upstream_response("The upstream provider '" + route.provider->name +
                                       "' sent a malformed HTTP response: " + ec.message() + ".");
  }
  return core::upstream_unreachable("The connection to the upstream provider '" +
                                    route.provider->name + "' failed: " + ec.message() + ".");
}

// What one request needs to carry the answer back: on the heap, so a held stream's coroutine
// frame stays small.
struct Exchange {
  Protocol client = Protocol::openai_chat;
  Protocol upstream = Protocol::openai_chat;
  adapters::Operation operation = adapters::Operation::generate;
  bool stream = false;
  bool client_wants_usage = false;
  std::shared_ptr<const adapters::Request> request;  // decoded client request, when translating
};

std::string new_answer_id(Protocol client, const std::string& request_id) {
  switch (client) {
    case Protocol::anthropic_messages:
      return "msg_" + request_id;
    case Protocol::openai_responses:
      return "resp_" + request_id;
    case Protocol::openai_chat:
    case Protocol::gemini:
      break;
  }
  return "chatcmpl-" + request_id;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<adapters::StreamRelay> relay_for(const Exchange& x, const RequestContext& ctx,
                                                 const core::ServerConfig& server) {
  const std::size_t max_event_bytes = server.max_upstream_event_bytes;
  const std::size_t max_kept_bytes = server.max_upstream_body_bytes;
  adapters::StreamContext c;
  c.max_event_bytes = max_event_bytes;
  c.max_kept_bytes = max_kept_bytes;
  c.client = x.client;
  c.upstream = x.upstream;
  c.client_wants_usage = x.client_wants_usage;
  c.id = new_answer_id(x.client, ctx.request_id);
  c.model = ctx.route->target->upstream_model;  // until the upstream names its own
  c.created = unix_now();
  c.request = x.request;
  return adapters::make_stream_relay(c);
}

// A pass-through answer too large to read whole: relayed to the client as it arrives, in
// chunks, with its usage read beside it. Returns the upstream's read error, if any: after the
// head has gone out, a cut can only be told to the client by ending the connection before the
// body's end, which the session does.
net::awaitable<beast::error_code> relay_long_answer(HttpSession& session, UpstreamConnection& conn,
                                                    Protocol protocol, int status,
                                                    std::string first, RequestContext& ctx) {
  const core::ProviderConfig& provider = *ctx.route->provider;
  core::JsonMemberCapture usage("usage", kMaxUsageValueBytes);
  usage.feed(first);
  if (!co_await session.begin_stream(ctx, "application/json", first, status)) {
    ctx.client_gone = true;
    co_return beast::error_code{};
  }
  std::string().swap(first);
  std::string piece;
  while (!conn.body_done()) {
    piece.clear();
    beast::error_code rec;
    {
      UpstreamTimer timer(ctx);
      rec = co_await conn.read_body(piece, provider.idle_timeout);
    }
    if (ctx.client_gone) co_return beast::error_code{};
    if (rec) {
      session.abandon();
      co_return rec;
    }
    usage.feed(piece);
    if (!co_await session.write_chunk(ctx, piece)) {
      ctx.client_gone = true;
      co_return beast::error_code{};
    }
  }
  if (const auto value = usage.value()) {
    ctx.usage = adapters::extract_usage(protocol, "{\"usage\":" + std::string(*value) + "}");
  }
  co_await session.end_stream(ctx);
  co_return beast::error_code{};
}

// How a fault a relay found is counted and logged.
std::pair<metrics::UpstreamError, const char*> fault_reason(adapters::RelayFault fault) {
  switch (fault) {
    case adapters::RelayFault::oversized:
      return {metrics::UpstreamError::oversized, "upstream_too_large"};
    case adapters::RelayFault::truncated:
      return {metrics::UpstreamError::truncated, "upstream_stream_truncated"};
    case adapters::RelayFault::bad_event:
      return {metrics::UpstreamError::protocol, "bad_upstream_response"};
    case adapters::RelayFault::upstream_error:
    case adapters::RelayFault::none:
      break;
  }
  return {metrics::UpstreamError::kCount, "upstream_stream_error"};
}

void record_fault(const adapters::StreamRelay& relay, const Route& route, std::size_t shard,
                  RequestContext& ctx) {
  const auto [reason, code] = fault_reason(relay.fault());
  // A provider's own in-stream error is its answer, not a broken upstream.
  if (reason != metrics::UpstreamError::kCount) route.provider_metrics->count_error(shard, reason);
  ctx.error = code;
}

net::awaitable<void> proxy_to_upstream(HttpSession& session, std::unique_ptr<Exchange> exchange,
                                       adapters::UpstreamRequest upstream, RequestContext& ctx) {
  const Route& route = *ctx.route;
  const core::ProviderConfig& provider = *route.provider;
  Worker& worker = session.worker();

  std::string head = adapters::format_upstream_head(upstream, route.endpoint.host_header,
                                                    "switchyard/" SWITCHYARD_VERSION);

  std::unique_ptr<UpstreamConnection> conn;
  ClientWatch watch(session.socket());
  // The watch is armed by the worker's deadline sweeper, within 100 ms: an exchange that
  // ends sooner has no tokens left to save, and arming costs an epoll_ctl syscall (Asio
  // re-registers the socket for every non-speculative wait).
  Deadline arm_watch(worker.deadlines, [&] {
    watch.start([&] {
      ctx.client_gone = true;
      if (conn) conn->close();
    });
  });
  arm_watch.expires_after(Clock::duration::zero());
  auto stop_watch = [&] {
    arm_watch.clear();
    watch.stop();
  };

  UpstreamResponseHead response;
  beast::error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    AcquireResult acquired;
    {
      UpstreamTimer timer(ctx);
      acquired = co_await worker.pool.acquire(route.endpoint, provider);
    }
    if (ctx.client_gone) co_return;
    if (!acquired.connection) {
      route.provider_metrics->count_error(worker.index, acquired.error_kind);
      ctx.error =
          std::string("upstream_") + std::string(metrics::upstream_error_name(acquired.error_kind));
      stop_watch();
      ctx.failure = acquired.error_kind == metrics::UpstreamError::timeout
                        ? core::upstream_timeout("The upstream provider '" + provider.name +
                                                 "' did not accept a connection in time.")
                        : core::upstream_unreachable("Cannot reach the upstream provider '" +
                                                     provider.name + "': " + acquired.error + ".");
      co_return;
    }
    conn = std::move(acquired.connection);
    UpstreamTimer timer(ctx);
    ec = co_await conn->write(head, upstream.body, provider.first_byte_timeout);
    if (!ec) ec = co_await conn->read_head(response, provider.first_byte_timeout);
    // A pooled connection the server had closed fails before any response byte: that is
    // not the upstream's answer, so try once more on a fresh connection.
    if (ec && conn->reused && !ctx.client_gone && is_stale_connection_error(ec)) {
      conn.reset();
      continue;
    }
    break;
  }
  // Sent: neither the head nor the request body is needed while the answer streams.
  std::string().swap(head);
  upstream = {};
  if (ctx.client_gone) co_return;
  if (ec) {
    route.provider_metrics->count_error(worker.index, classify(ec));
    stop_watch();
    conn.reset();
    ctx.failure = error_for(ec, route);
    co_return;
  }

  const int status = response.status;
  if (!core::is_relayable_status(status) ||
      !core::is_identity_encoding(response.content_encoding)) {
    // Nothing of this answer can reach the client as it is, and the connection may be out
    // of step (a 101 switched protocols, a 304 may carry a body): close it.
    route.provider_metrics->count_error(worker.index, metrics::UpstreamError::protocol);
    stop_watch();
    conn.reset();
    ctx.failure = core::bad_upstream_response(
        !core::is_relayable_status(status)
            ? "The upstream provider '" + provider.name + "' answered with HTTP status " +
                  std::to_string(status) + ", which is not an answer the gateway can relay."
            : "The upstream provider '" + provider.name +
                  "' sent its answer with Content-Encoding '" +
                  response.content_encoding.substr(0, 40) +
                  "', though the gateway asked for identity.");
    co_return;
  }
  // Reads the rest of the body into `into`, refusing more than `limit` bytes.
  auto read_whole_body = [&](std::string& into,
                             std::size_t limit) -> net::awaitable<beast::error_code> {
    while (!conn->body_done()) {
      UpstreamTimer timer(ctx);
      if (auto rec = co_await conn->read_body(into, provider.idle_timeout)) co_return rec;
      if (into.size() > limit) co_return http::error::body_limit;
    }
    co_return beast::error_code{};
  };

  if (status < 200 || status >= 300) {
    route.provider_metrics->count_error(worker.index, status < 500
                                                          ? metrics::UpstreamError::status_4xx
                                                          : metrics::UpstreamError::status_5xx);
    std::string body;
    ec = co_await read_whole_body(body, kMaxUpstreamErrorBody);
    stop_watch();
    if (ctx.client_gone) co_return;
    if (!ec) worker.pool.release(std::move(conn));
    ctx.error = "upstream_status_" + std::to_string(status);
    auto [client_status, client_body] =
        adapters::upstream_error_response(exchange->client, exchange->upstream, status, body);
    co_await session.write_json(ctx, client_status, std::move(client_body),
                                core::retry_after_for(client_status, response.retry_after));
    co_return;
  }

  if (!response.event_stream) {
    const bool passthrough = exchange->client == exchange->upstream;
    const std::size_t max_upstream_body = session.runtime().config.server.max_upstream_body_bytes;
    std::string body;
    if (response.content_length)
      body.reserve(std::min<std::uint64_t>(*response.content_length, 1u << 20));
    ec = co_await read_whole_body(body, passthrough ? kWholePassthroughBody : max_upstream_body);
    if (ec == http::error::body_limit && passthrough && !ctx.client_gone) {
      const beast::error_code rec = co_await relay_long_answer(session, *conn, exchange->upstream,
                                                               status, std::move(body), ctx);
      stop_watch();
      if (rec) {
        route.provider_metrics->count_error(worker.index, classify(rec));
        const core::GatewayError error = error_for(rec, route);
        ctx.error = error.code;
      } else if (!ctx.client_gone) {
        worker.pool.release(std::move(conn));
      }
      if (ctx.usage) ctx.cost_usd = core::cost_usd(*ctx.usage, route.target->price);
      co_return;
    }
    stop_watch();
    if (ctx.client_gone) co_return;
    if (ec == http::error::body_limit) {
      route.provider_metrics->count_error(worker.index, metrics::UpstreamError::oversized);
      conn.reset();
      ctx.failure = core::bad_upstream_response(
          "The upstream provider '" + provider.name + "' sent an answer larger than " +
              std::to_string(max_upstream_body) + " bytes (max_upstream_body_bytes).",
          "upstream_response_too_large");
      co_return;
    }
    if (ec) {
      route.provider_metrics->count_error(worker.index, classify(ec));
      ctx.failure = error_for(ec, route);
      co_return;
    }
    worker.pool.release(std::move(conn));
    auto translated = adapters::translate_response(
        exchange->client, exchange->upstream, std::move(body), exchange->request.get(),
        {.upstream_model = route.target->upstream_model, .created = unix_now()});
    if (!translated) {
      route.provider_metrics->count_error(worker.index, metrics::UpstreamError::protocol);
      ctx.failure = translated.error();
      co_return;
    }
    ctx.usage = translated.value().usage;
    if (ctx.usage) ctx.cost_usd = core::cost_usd(*ctx.usage, route.target->price);
    co_await session.write_json(ctx, status, std::move(translated.value().body));
    co_return;
  }

  // on_response_headers for a stream: our chunked SSE head goes out now, unless the first
  // event is already here, in which case head and event leave together (one wake-up of the
  // client instead of two, for the event it is waiting for).
  bool head_sent = false;
  if (!conn->has_pending_input()) {
    if (!co_await session.begin_stream(ctx, "text/event-stream")) {
      ctx.client_gone = true;
      stop_watch();
      co_return;
    }
    head_sent = true;
  }
  std::unique_ptr<adapters::StreamRelay> relay =
      relay_for(*exchange, ctx, session.runtime().config.server);
  exchange.reset();
  // Each read's body bytes, held only until they are written to the client: a stream
  // waiting for its next event owns no buffer beyond this string's small capacity.
  std::string piece;
  bool written = true;
  const Clock::duration keepalive = session.runtime().config.server.stream_keepalive;
  while (!conn->body_done()) {
    piece.clear();
    beast::error_code rec;
    if (head_sent && keepalive.count() > 0) {
      // A silence longer than the keep-alive interval is cut into steps, each ended by the
      // client protocol's keep-alive; the upstream still gets idle_timeout in all.
      const Clock::time_point silent_until = Clock::now() + provider.idle_timeout;
      for (;;) {
        const Clock::duration left = silent_until - Clock::now();
        {
          UpstreamTimer timer(ctx);
          rec = co_await conn->wait_for_data(std::min(keepalive, left));
        }
        if (rec != beast::error::timeout || ctx.client_gone || Clock::now() >= silent_until) break;
        rec = {};
        const std::string_view ping = relay->keepalive();
        if (!co_await session.write_keepalive(ctx, ping)) {
          ctx.client_gone = true;
          break;
        }
      }
    }
    if (!rec && !ctx.client_gone) {
      UpstreamTimer timer(ctx);
      rec = co_await conn->read_body(piece, provider.idle_timeout);
    }
    if (ctx.client_gone) break;
    if (rec) {
      ec = rec;
      break;
    }
    const std::string_view out = relay->on_data(piece);
    // no co_await inside ?: (GCC 12 coroutine pitfalls)
    if (head_sent) {
      written = co_await session.write_chunk(ctx, out);
    } else if (!out.empty()) {
      written = co_await session.begin_stream(ctx, "text/event-stream", out);
      head_sent = true;
    }
    if (!written) {
      ctx.client_gone = true;
      break;
    }
    // The relay ended the stream (its in-band error went out with the last write): nothing
    // more of this upstream body is read, and the connection is not reused.
    if (relay->fault() != adapters::RelayFault::none) break;
  }
  stop_watch();
  if (relay->usage()) {
    ctx.usage = relay->usage();
    ctx.cost_usd = core::cost_usd(*ctx.usage, route.target->price);
  }
  if (ctx.client_gone) {
    ctx.error = "client_closed";
    co_return;  // dropping conn closes the upstream request
  }
  if (relay->fault() != adapters::RelayFault::none) {
    record_fault(*relay, route, worker.index, ctx);
    conn.reset();
    if (head_sent) co_await session.end_stream(ctx);
    co_return;
  }
  if (!ec) worker.pool.release(std::move(conn));
  std::string_view tail;
  if (ec) {
    route.provider_metrics->count_error(worker.index, classify(ec));
    const core::GatewayError error = error_for(ec, route);
    ctx.error = error.code.empty() ? error.type : error.code;
    tail = relay->on_error(error);  // in-band: the stream has started
  } else {
    tail = relay->on_end();
    if (relay->fault() != adapters::RelayFault::none)
      record_fault(*relay, route, worker.index, ctx);
  }
  if (!head_sent) {
    if (!co_await session.begin_stream(ctx, "text/event-stream", tail)) co_return;
  } else if (!tail.empty() && !co_await session.write_chunk(ctx, tail)) {
    co_return;
  }
  if (relay->usage()) {
    ctx.usage = relay->usage();
    ctx.cost_usd = core::cost_usd(*ctx.usage, route.target->price);
  }
  co_await session.end_stream(ctx);
}

// The in-process mock provider: it answers like an OpenAI upstream, paced by timers, and its
// answer goes through the same relays as a real provider's, so every front door works with it.
net::awaitable<void> serve_mock(HttpSession& session, std::unique_ptr<Exchange> exchange,
                                std::size_t prompt_bytes, RequestContext& ctx) {
  const core::MockSettings& settings = ctx.route->provider->mock;
  auto reply =
      std::make_unique<core::MockReply>(settings, ctx.route->target->upstream_model,
                                        "chatcmpl-" + ctx.request_id, unix_now(), prompt_bytes);

  net::steady_timer timer(co_await net::this_coro::executor);
  ClientWatch watch(session.socket());
  watch.start([&] {
    ctx.client_gone = true;
    timer.cancel();
  });
  auto wait = [&](Clock::duration d) -> net::awaitable<bool> {
    UpstreamTimer upstream_timer(ctx);  // simulated provider time is not gateway overhead
    timer.expires_after(d);
    auto [ec] = co_await timer.async_wait(kAsTuple);
    co_return !ec && !ctx.client_gone;
  };
  const auto per_token = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / settings.tokens_per_second));

  if (!co_await wait(settings.time_to_first_token)) {
    ctx.error = "client_closed";
    co_return;
  }
  ctx.usage = reply->usage();
  ctx.cost_usd = core::cost_usd(reply->usage(), ctx.route->target->price);
  if (!exchange->stream) {
    watch.stop();
    auto translated = adapters::translate_response(
        exchange->client, Protocol::openai_chat, reply->completion_json(), exchange->request.get(),
        {.upstream_model = ctx.route->target->upstream_model, .created = unix_now()});
    if (!translated) {
      ctx.failure = translated.error();
      co_return;
    }
    co_await session.write_json(ctx, 200, std::move(translated.value().body));
    co_return;
  }
  std::unique_ptr<adapters::StreamRelay> relay =
      relay_for(*exchange, ctx, session.runtime().config.server);
  bool ok = co_await session.begin_stream(ctx, "text/event-stream") &&
            co_await session.write_chunk(ctx, relay->on_data(reply->role_event()));
  std::size_t sent = 0;
  for (std::size_t i = 0; ok && i < reply->tokens().size(); ++i) {
    if (i > 0 && !co_await wait(per_token)) {
      ok = false;
      break;
    }
    ok = co_await session.write_chunk(ctx, relay->on_data(reply->token_event(i)));
    if (ok) ++sent;
  }
  // A stream the client left early is charged for the tokens generated, as a provider would.
  ctx.usage->completion_tokens = static_cast<std::int64_t>(sent);
  ctx.cost_usd = core::cost_usd(*ctx.usage, ctx.route->target->price);
  // The usage chunk always goes to the relay: it drops it for a chat client that did not ask.
  ok = ok && co_await session.write_chunk(ctx, relay->on_data(reply->finish_event()));
  ok = ok && co_await session.write_chunk(ctx, relay->on_data(reply->usage_event()));
  ok = ok && co_await session.write_chunk(ctx, relay->on_data(core::MockReply::done_event()));
  ok = ok && co_await session.write_chunk(ctx, relay->on_end());
  watch.stop();
  if (!ok) {
    ctx.client_gone = true;
    ctx.error = "client_closed";
    co_return;
  }
  co_await session.end_stream(ctx);
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
  std::string& body = request.body();
  ctx.bytes_in = body.size();
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
  // on_request: parse once, for the fields the gateway needs.
  auto parsed = core::parse_chat_request(body, body.capacity() - body.size(), door.shape);
  if (!parsed) {
    const auto& e = parsed.error();
    ctx.failure = core::client_error(400, e.message, e.param, e.code);
    co_return;
  }
  const core::ChatRequest& envelope = parsed.value();
  ctx.model = envelope.model;
  const bool stream = envelope.stream && door.operation == adapters::Operation::generate;
  ctx.stream = stream;

  // select_target
  ctx.route = session.runtime().find_route(envelope.model);
  if (ctx.route == nullptr) {
    ctx.failure = core::client_error(
        404, "The model '" + envelope.model + "' does not exist on this gateway.", "model",
        "model_not_found");
    co_return;
  }
  const core::ProviderConfig& provider = *ctx.route->provider;
  const adapters::ProviderKind& kind = *adapters::find_provider_kind(provider.type);

  auto exchange = std::make_unique<Exchange>();
  exchange->client = door.protocol;
  exchange->operation = door.operation;
  exchange->stream = stream;
  exchange->client_wants_usage = envelope.include_usage;
  exchange->upstream = adapters::upstream_protocol(door.protocol, kind);

  if (door.operation == adapters::Operation::embeddings && !kind.embeddings) {
    ctx.failure =
        core::client_error(400, "The model '" + envelope.model + "' does not support embeddings.",
                           "model", "model_not_supported");
    co_return;
  }
  if (door.operation == adapters::Operation::count_tokens && !kind.native_count_tokens) {
    std::string answer = estimated_token_count(body, ctx);
    if (!ctx.failure) co_await session.write_json(ctx, 200, std::move(answer));
    co_return;
  }

  // build_upstream_request: the same protocol on both sides passes the bytes through with
  // only the model (and OpenAI's include_usage) spliced in; otherwise the request is decoded
  // to canonical form and encoded for the provider.
  const std::string& upstream_model = ctx.route->target->upstream_model;
  std::string upstream_body;
  if (exchange->upstream != door.protocol || provider.type == "mock") {
    auto decoded = adapters::decode_request(door.protocol, body);
    if (!decoded) {
      ctx.failure = decoded.error();
      co_return;
    }
    auto canonical = std::make_shared<adapters::Request>(std::move(decoded.value()));
    if (door.protocol != Protocol::openai_chat)
      exchange->client_wants_usage = canonical->include_usage;
    if (exchange->upstream != door.protocol) {
      adapters::fit_reasoning(*canonical, ctx.route->target->reasoning);
      upstream_body =
          adapters::encode_request(exchange->upstream, *canonical, upstream_model, provider);
    }
    exchange->request = std::move(canonical);
  } else {
    const bool force_usage = stream && door.protocol == Protocol::openai_chat;
    upstream_body = core::splice_chat_request(body, envelope, upstream_model, force_usage);
  }
  if (provider.type == "mock") {
    exchange->upstream = Protocol::openai_chat;
    const std::size_t prompt_bytes = body.size();
    request = Request{};
    co_await serve_mock(session, std::move(exchange), prompt_bytes, ctx);
    co_return;
  }

  adapters::ForwardedHeaders forwarded;
  if (door.protocol == Protocol::anthropic_messages) {
    forwarded.anthropic_version = std::string(request["anthropic-version"]);
    forwarded.anthropic_beta = std::string(request["anthropic-beta"]);
  }
  auto upstream = adapters::build_upstream_request(
      provider, ctx.route->endpoint.base_path, door.operation, exchange->upstream, upstream_model,
      stream, std::move(upstream_body), ctx.request_id, forwarded);
  // The client's request is in `upstream` now: free it rather than hold it for the stream.
  request = Request{};
  co_await proxy_to_upstream(session, std::move(exchange), std::move(upstream), ctx);
}

}  // namespace switchyard::proxy
