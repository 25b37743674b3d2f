#include "proxy/upstream_attempt.hpp"

#include "core/http_response_head.hpp"
#include "core/json_member_capture.hpp"
#include "proxy/mock_link.hpp"

namespace switchyard::proxy {
namespace {

using adapters::Protocol;
using core::FailureKind;
using core::UpstreamFailure;

constexpr std::size_t kMaxUpstreamErrorBody = 1u << 20;
// A pass-through answer up to this size is read whole and written with its length; a larger
// one is relayed as it arrives (its usage read beside it), so no answer size costs memory.
constexpr std::size_t kWholePassthroughBody = 1u << 20;
// The usage object of an answer relayed as it arrives is kept up to this size.
constexpr std::size_t kMaxUsageValueBytes = 64u << 10;

// A reused connection that failed before any byte of a response: the server had closed it
// while it was idle. Once a byte has arrived (partial_message), the server has the request,
// and sending it again could run a billed generation twice.
bool is_stale_connection_error(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe;
}

UpstreamFailure failure(FailureKind kind, std::string message, std::string code = {}) {
  UpstreamFailure f;
  f.kind = kind;
  f.message = std::move(message);
  f.code = std::move(code);
  return f;
}

// An I/O error of the exchange, as a failure naming the provider.
UpstreamFailure failure_for(const beast::error_code& ec, const core::ProviderConfig& provider) {
  if (ec == beast::error::timeout) {
    return failure(FailureKind::timeout,
                   "The upstream provider '" + provider.name + "' did not answer in time.");
  }
  if (ec.category() == beast::error_code(http::error::bad_version).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    // It answered, but not in HTTP the gateway can read (a bad status line, an endless
    // head, broken chunks): not a connection that failed.
    return failure(FailureKind::protocol, "The upstream provider '" + provider.name +
                                              "' sent a malformed HTTP response: " + ec.message() +
                                              ".");
  }
  return failure(FailureKind::reset, "The connection to the upstream provider '" + provider.name +
                                         "' failed: " + ec.message() + ".");
}

FailureKind kind_of(metrics::UpstreamError e) {
  switch (e) {
    case metrics::UpstreamError::tls:
      return FailureKind::tls;
    case metrics::UpstreamError::timeout:
      return FailureKind::timeout;
    default:
      return FailureKind::connect;
  }
}

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

std::unique_ptr<adapters::StreamRelay> relay_for(const Exchange& x, const Attempt& attempt,
                                                 const AttemptControl& control,
                                                 const RequestContext& ctx,
                                                 const core::ServerConfig& server) {
  adapters::StreamContext c;
  c.max_event_bytes = server.max_upstream_event_bytes;
  c.max_kept_bytes = server.max_upstream_body_bytes;
  c.client = x.client;
  c.upstream = attempt.upstream;
  c.client_wants_usage = x.client_wants_usage;
  c.id = new_answer_id(x.client, ctx.request_id);
  c.model = attempt.target->config->upstream_model;  // until the upstream names its own
  c.created = unix_now();
  c.request = x.request;
  c.track_answer_start = control.hold_head;
  return adapters::make_stream_relay(c);
}

// How a fault a relay found is counted and logged.
UpstreamFailure relay_failure(const adapters::StreamRelay& relay) {
  switch (relay.fault()) {
    case adapters::RelayFault::oversized:
      return failure(FailureKind::oversized, "", "upstream_too_large");
    case adapters::RelayFault::truncated:
      return failure(FailureKind::truncated, "", "upstream_stream_truncated");
    case adapters::RelayFault::bad_event:
      return failure(FailureKind::protocol, "", "bad_upstream_response");
    case adapters::RelayFault::upstream_error:
    case adapters::RelayFault::none:
      break;
  }
  return failure(FailureKind::stream_error, "", "upstream_stream_error");
}

// The time left before the first token is due, capped by `limit`.
Clock::duration first_token_budget(const AttemptControl& control, Clock::duration limit) {
  if (!control.first_token_deadline) return limit;
  const Clock::duration left = *control.first_token_deadline - Clock::now();
  return std::max(Clock::duration::zero(), std::min(limit, left));
}

bool first_token_overdue(const AttemptControl& control) {
  return control.first_token_deadline && Clock::now() >= *control.first_token_deadline;
}

UpstreamFailure first_token_failure(const core::ProviderConfig& provider,
                                    const AttemptControl& control, Clock::time_point started) {
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      control.first_token_deadline.value_or(started) - started);
  return failure(FailureKind::first_token_timeout,
                 "The upstream provider '" + provider.name + "' sent no first token within " +
                     std::to_string(waited.count()) + " ms (first_token_timeout_ms).",
                 "first_token_timeout");
}

// The in-process mock's link: the answer is made here, no socket.
std::unique_ptr<UpstreamLink> mock_link(HttpSession& session, RequestContext& ctx,
                                        const TargetRoute& target, const Exchange& exchange) {
  return std::make_unique<MockLink>(session.socket().get_executor(), target.provider->mock,
                                    target.config->upstream_model, "chatcmpl-" + ctx.request_id,
                                    unix_now(), exchange.stream);
}

UpstreamFailure connect_failure(const AcquireResult& acquired,
                                const core::ProviderConfig& provider) {
  const std::string& name = provider.name;
  return failure(
      kind_of(acquired.error_kind),
      acquired.error_kind == metrics::UpstreamError::timeout
          ? "The upstream provider '" + name + "' did not accept a connection in time."
          : "Cannot reach the upstream provider '" + name + "': " + acquired.error + ".");
}

// Reads the rest of the body into `into`, refusing more than `limit` bytes.
net::awaitable<beast::error_code> read_whole_body(UpstreamLink& link, RequestContext& ctx,
                                                  Clock::duration timeout, std::string& into,
                                                  std::size_t limit) {
  while (!link.body_done()) {
    UpstreamTimer timer(ctx);
    if (auto ec = co_await link.read_body(into, timeout)) co_return ec;
    if (into.size() > limit) co_return http::error::body_limit;
  }
  co_return beast::error_code{};
}

// A pass-through answer too large to read whole: relayed to the client as it arrives, in
// chunks, with its usage read beside it. Returns the upstream's read error, if any: after the
// head has gone out, a cut can only be told to the client by ending the connection before the
// body's end, which the session does.
net::awaitable<beast::error_code> relay_long_answer(HttpSession& session, UpstreamLink& link,
                                                    Protocol protocol, int status,
                                                    std::string first, RequestContext& ctx) {
  const core::ProviderConfig& provider = *ctx.target->provider;
  core::JsonMemberCapture usage("usage", kMaxUsageValueBytes);
  usage.feed(first);
  if (!co_await session.begin_stream(ctx, "application/json", first, status)) {
    ctx.client_gone = true;
    co_return beast::error_code{};
  }
  std::string().swap(first);
  std::string piece;
  while (!link.body_done()) {
    piece.clear();
    beast::error_code rec;
    {
      UpstreamTimer timer(ctx);
      rec = co_await link.read_body(piece, provider.idle_timeout);
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

void record_usage(RequestContext& ctx, const std::optional<core::Usage>& usage) {
  if (!usage) return;
  ctx.usage = usage;
  ctx.cost_usd = core::cost_usd(*usage, ctx.target->config->price);
}

}  // namespace

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

net::awaitable<std::optional<UpstreamFailure>> open_attempt(
    HttpSession& session, RequestContext& ctx, const Exchange& exchange,
    adapters::UpstreamRequest upstream, Attempt& attempt, AttemptControl& control) {
  const TargetRoute& target = *attempt.target;
  const core::ProviderConfig& provider = *target.provider;
  const Clock::time_point started = Clock::now();
  std::optional<UpstreamFailure> failed;

  std::string head = adapters::format_upstream_head(upstream, target.endpoint.host_header,
                                                    "switchyard/" SWITCHYARD_VERSION);
  beast::error_code ec;
  for (int connection = 0; connection < 2; ++connection) {
    // The pool is awaited here, not in a coroutine of its own: a frame less per request.
    if (target.kind->in_process) {
      attempt.link = mock_link(session, ctx, target, exchange);
    } else {
      AcquireResult acquired;
      {
        UpstreamTimer timer(ctx);
        acquired = co_await session.worker().pool.acquire(target.endpoint, provider);
      }
      if (acquired.connection) {
        attempt.link = std::move(acquired.connection);
      } else {
        failed = connect_failure(acquired, provider);
      }
    }
    if (ctx.client_gone) co_return std::nullopt;
    if (control.cancelled) {
      // Lost a hedge while connecting: the request is never sent.
      attempt.link.reset();
      co_return failure(FailureKind::reset,
                        "The attempt was cancelled: another one answered first.");
    }
    if (!attempt.link) co_return failed;
    control.link = attempt.link.get();
    UpstreamTimer timer(ctx);
    const Clock::duration head_timeout = first_token_budget(control, provider.first_byte_timeout);
    ec = co_await attempt.link->write(head, upstream.body, head_timeout);
    if (!ec) ec = co_await attempt.link->read_head(attempt.response, head_timeout);
    // A pooled connection the server had closed fails before any response byte: that is
    // not the upstream's answer, so try once more on a fresh connection.
    if (ec && attempt.link->reused && !ctx.client_gone && is_stale_connection_error(ec)) {
      control.link = nullptr;
      attempt.link.reset();
      continue;
    }
    break;
  }
  // Sent: neither the head nor the request body is needed while the answer streams.
  std::string().swap(head);
  upstream = {};
  if (ctx.client_gone) co_return std::nullopt;
  if (ec) {
    control.link = nullptr;
    attempt.link.reset();
    if (ec == beast::error::timeout && first_token_overdue(control))
      co_return first_token_failure(provider, control, started);
    co_return failure_for(ec, provider);
  }

  const UpstreamResponseHead& response = attempt.response;
  const int status = response.status;
  if (!core::is_relayable_status(status) ||
      !core::is_identity_encoding(response.content_encoding)) {
    // Nothing of this answer can reach the client as it is, and the connection may be out
    // of step (a 101 switched protocols, a 304 may carry a body): close it.
    control.link = nullptr;
    attempt.link.reset();
    co_return failure(FailureKind::protocol,
                      !core::is_relayable_status(status)
                          ? "The upstream provider '" + provider.name +
                                "' answered with HTTP status " + std::to_string(status) +
                                ", which is not an answer the gateway can relay."
                          : "The upstream provider '" + provider.name +
                                "' sent its answer with Content-Encoding '" +
                                response.content_encoding.substr(0, 40) +
                                "', though the gateway asked for identity.",
                      "bad_upstream_response");
  }

  if (status < 200 || status >= 300) {
    UpstreamFailure f = failure(FailureKind::status, "");
    f.status = status;
    f.retry_after = response.retry_after;
    if (!response.retry_after_ms.empty() && f.retry_after.empty()) {
      // retry-after-ms (OpenAI, Azure), rounded up to whole seconds for the client's header.
      std::int64_t ms = 0;
      for (char c : response.retry_after_ms) {
        if (c < '0' || c > '9' || ms > 1'000'000'000) break;
        ms = ms * 10 + (c - '0');
      }
      if (ms > 0) f.retry_after = std::to_string((ms + 999) / 1000);
    }
    ec = co_await read_whole_body(*attempt.link, ctx, provider.idle_timeout, f.body,
                                  kMaxUpstreamErrorBody);
    control.link = nullptr;
    if (ctx.client_gone) co_return std::nullopt;
    if (!ec) session.worker().pool.release(std::move(attempt.link));
    attempt.link.reset();
    f.context_length = core::is_context_length_error(status, f.body);
    co_return f;
  }

  if (!response.event_stream) {
    const bool passthrough = exchange.client == attempt.upstream;
    const std::size_t max_upstream_body = session.table().config.server.max_upstream_body_bytes;
    std::string& body = attempt.ready;
    if (response.content_length)
      body.reserve(std::min<std::uint64_t>(*response.content_length, 1u << 20));
    // read_whole_body, inlined: a coroutine frame less on every answer.
    const std::size_t limit = passthrough ? kWholePassthroughBody : max_upstream_body;
    while (!attempt.link->body_done()) {
      UpstreamTimer timer(ctx);
      ec = co_await attempt.link->read_body(body, provider.idle_timeout);
      if (ec) break;
      if (body.size() > limit) {
        ec = http::error::body_limit;
        break;
      }
    }
    if (ctx.client_gone) co_return std::nullopt;
    if (ec == http::error::body_limit && passthrough) {
      attempt.answer = Attempt::Answer::long_body;
      co_return std::nullopt;
    }
    control.link = nullptr;
    if (ec == http::error::body_limit) {
      attempt.link.reset();
      co_return failure(FailureKind::oversized,
                        "The upstream provider '" + provider.name +
                            "' sent an answer larger than " + std::to_string(max_upstream_body) +
                            " bytes (max_upstream_body_bytes).",
                        "upstream_response_too_large");
    }
    if (ec) {
      attempt.link.reset();
      co_return failure_for(ec, provider);
    }
    session.worker().pool.release(std::move(attempt.link));
    auto translated = adapters::translate_response(
        exchange.client, attempt.upstream, std::move(body), exchange.request.get(),
        {.upstream_model = target.config->upstream_model, .created = unix_now()});
    if (!translated) {
      const core::GatewayError& e = translated.error();
      co_return failure(FailureKind::protocol, e.message, e.code);
    }
    attempt.usage = translated.value().usage;
    attempt.ready = std::move(translated.value().body);
    attempt.answer = Attempt::Answer::whole;
    co_return std::nullopt;
  }

  attempt.answer = Attempt::Answer::stream;
  attempt.relay = relay_for(exchange, attempt, control, ctx, session.table().config.server);
  if (!control.hold_head) co_return std::nullopt;
  std::string piece;
  // Held: read until the answer itself has begun (not only the stream's opening events),
  // within the first-token budget; what the relay gives meanwhile waits in `ready`.
  while (!attempt.relay->answer_started() && !attempt.link->body_done()) {
    piece.clear();
    {
      UpstreamTimer timer(ctx);
      ec = co_await attempt.link->read_body(piece,
                                            first_token_budget(control, provider.idle_timeout));
    }
    if (ctx.client_gone) co_return std::nullopt;
    if (ec) break;
    attempt.ready += attempt.relay->on_data(piece);
    if (attempt.relay->fault() != adapters::RelayFault::none) break;
  }
  if (ec || (attempt.relay->fault() != adapters::RelayFault::none && attempt.ready.empty())) {
    control.link = nullptr;
    attempt.link.reset();
    if (ec == beast::error::timeout && first_token_overdue(control))
      co_return first_token_failure(provider, control, started);
    if (ec) co_return failure_for(ec, provider);
    UpstreamFailure f = relay_failure(*attempt.relay);
    f.message = "The upstream provider '" + provider.name + "' ended its stream before any token.";
    co_return f;
  }
  co_return std::nullopt;
}

net::awaitable<std::optional<UpstreamFailure>> deliver_answer(HttpSession& session,
                                                              RequestContext& ctx,
                                                              Attempt& attempt) {
  const core::ProviderConfig& provider = *ctx.target->provider;
  Worker& worker = session.worker();
  std::optional<UpstreamFailure> failed;

  if (attempt.answer == Attempt::Answer::whole) {
    record_usage(ctx, attempt.usage);
    co_await session.write_json(ctx, attempt.response.status, std::move(attempt.ready));
    co_return std::nullopt;
  }
  if (attempt.answer == Attempt::Answer::long_body) {
    const beast::error_code rec =
        co_await relay_long_answer(session, *attempt.link, attempt.upstream,
                                   attempt.response.status, std::move(attempt.ready), ctx);
    if (rec) {
      failed = failure_for(rec, provider);
      failed->after_first_byte = true;
      ctx.error = failed->code.empty() ? "upstream_error" : failed->code;
    } else if (!ctx.client_gone) {
      worker.pool.release(std::move(attempt.link));
    }
    if (ctx.usage) ctx.cost_usd = core::cost_usd(*ctx.usage, ctx.target->config->price);
    co_return failed;
  }

  // on_response_headers for a stream: our chunked SSE head goes out now, with the first
  // piece when it was held for, or when it is already here (one wake-up of the client
  // instead of two, for the event it is waiting for).
  UpstreamLink& link = *attempt.link;
  adapters::StreamRelay& relay = *attempt.relay;
  bool head_sent = false;
  if (!attempt.ready.empty() || !link.has_pending_input()) {
    const bool ok = co_await session.begin_stream(ctx, "text/event-stream", attempt.ready);
    std::string().swap(attempt.ready);
    if (!ok) {
      ctx.client_gone = true;
      co_return std::nullopt;
    }
    head_sent = true;
  }
  // Each read's body bytes, held only until they are written to the client: a stream
  // waiting for its next event owns no buffer beyond this string's small capacity.
  std::string piece;
  bool written = true;
  beast::error_code ec;
  const Clock::duration keepalive = session.table().config.server.stream_keepalive;
  while (!link.body_done() && relay.fault() == adapters::RelayFault::none) {
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
          rec = co_await link.wait_for_data(std::min(keepalive, left));
        }
        if (rec != beast::error::timeout || ctx.client_gone || Clock::now() >= silent_until) break;
        rec = {};
        const std::string_view ping = relay.keepalive();
        if (!co_await session.write_keepalive(ctx, ping)) {
          ctx.client_gone = true;
          break;
        }
      }
    }
    if (!rec && !ctx.client_gone) {
      UpstreamTimer timer(ctx);
      rec = co_await link.read_body(piece, provider.idle_timeout);
    }
    if (ctx.client_gone) break;
    if (rec) {
      ec = rec;
      break;
    }
    const std::string_view out = relay.on_data(piece);
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
  }
  record_usage(ctx, relay.usage());
  if (ctx.client_gone) {
    ctx.error = "client_closed";
    co_return std::nullopt;  // dropping the link closes the upstream request
  }
  if (relay.fault() != adapters::RelayFault::none) {
    failed = relay_failure(relay);
    ctx.error = failed->code;
    attempt.link.reset();
    if (!head_sent && !co_await session.begin_stream(ctx, "text/event-stream")) co_return failed;
    co_await session.end_stream(ctx);
    failed->after_first_byte = true;
    co_return failed;
  }
  if (!ec) worker.pool.release(std::move(attempt.link));
  std::string_view tail;
  if (ec) {
    failed = failure_for(ec, provider);
    failed->after_first_byte = true;
    const core::GatewayError error = core::gateway_error_for(*failed);
    ctx.error = error.code.empty() ? error.type : error.code;
    tail = relay.on_error(error);  // in-band: the stream has started
  } else {
    tail = relay.on_end();
    if (relay.fault() != adapters::RelayFault::none) {
      failed = relay_failure(relay);
      failed->after_first_byte = true;
      ctx.error = failed->code;
    }
  }
  if (!head_sent) {
    if (!co_await session.begin_stream(ctx, "text/event-stream", tail)) co_return failed;
  } else if (!tail.empty() && !co_await session.write_chunk(ctx, tail)) {
    co_return failed;
  }
  record_usage(ctx, relay.usage());
  co_await session.end_stream(ctx);
  co_return failed;
}

}  // namespace switchyard::proxy
