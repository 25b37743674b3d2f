#include "proxy/pipeline.hpp"

#include <simdjson.h>

#include "adapters/openai.hpp"
#include "core/chat_request.hpp"
#include "core/mock_reply.hpp"
#include "core/sse_decoder.hpp"
#include "proxy/client_watch.hpp"

namespace switchyard::proxy {
namespace {

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t kMaxUpstreamErrorBody = 1u << 20;
constexpr std::size_t kMaxUpstreamJsonBody = 256u << 20;

bool is_stale_connection_error(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == http::error::partial_message;
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
  return core::upstream_unreachable("The connection to the upstream provider '" +
                                    route.provider->name + "' failed: " + ec.message() + ".");
}

// Splits an upstream SSE body into what the client gets. In pass-through mode every read is
// forwarded as it arrived. When the gateway added include_usage on its own, whole events are
// forwarded and the usage-only chunk is dropped, so the client sees exactly what the provider
// would have sent it; a partial event waits for its end (the client could not use it sooner).
class OpenAiStreamRelay {
 public:
  explicit OpenAiStreamRelay(bool drop_usage_chunk) : filter_(drop_usage_chunk) {}

  // Returns the bytes to send for this read (a view into `piece` when nothing is dropped).
  std::string_view on_read(std::string_view piece, std::optional<core::Usage>& usage) {
    out_.clear();
    std::size_t cursor = 0;
    decoder_.feed(piece, [&](const core::SseEvent& event) {
      bool drop = false;
      if (event.data.find("\"usage\"") != std::string_view::npos) {
        if (auto u = core::extract_openai_usage(event.data)) {
          usage = *u;
          drop = filter_ && core::is_openai_usage_only_chunk(event.data);
        }
      }
      if (event.data == "[DONE]") saw_done_ = true;
      if (!filter_) return;
      if (!drop) {
        out_ += pending_;
        out_.append(piece.substr(cursor, event.end_offset - cursor));
      }
      pending_.clear();
      cursor = event.end_offset;
    });
    if (!filter_) return piece;
    if (decoder_.mid_event()) {
      pending_.append(piece.substr(cursor));
    } else {
      // Only comments or blank lines are left (keep-alives): forward them now.
      out_ += pending_;
      out_.append(piece.substr(cursor));
      pending_.clear();
    }
    return out_;
  }

  bool saw_done() const { return saw_done_; }

 private:
  bool filter_;
  bool saw_done_ = false;
  core::SseDecoder decoder_;
  std::string pending_;
  std::string out_;
};

net::awaitable<void> proxy_to_upstream(HttpSession& session, const core::ChatRequest& chat,
                                       adapters::UpstreamRequest upstream, RequestContext& ctx) {
  const Route& route = *ctx.route;
  const core::ProviderConfig& provider = *route.provider;
  Worker& worker = session.worker();

  // The head is formatted directly: its fields come from the adapter and the config, which
  // refuses CR and LF in header values, so nothing here can split the request.
  std::string head;
  head.reserve(256 + upstream.path.size());
  head += "POST ";
  head += upstream.path;
  head += " HTTP/1.1\r\nHost: ";
  head += route.endpoint.host_header;
  head += "\r\nUser-Agent: switchyard/" SWITCHYARD_VERSION "\r\nContent-Length: ";
  head += std::to_string(upstream.body.size());
  head += "\r\n";
  for (const auto& [name, value] : upstream.headers) {
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  head += "\r\n";

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
      ctx.error = std::string("upstream_") + std::string(metrics::upstream_error_name(acquired.error_kind));
      stop_watch();
      ctx.failure = acquired.error_kind == metrics::UpstreamError::timeout
                        ? core::upstream_timeout("The upstream provider '" + provider.name + "' did not accept a connection in time.")
                        : core::upstream_unreachable("Cannot reach the upstream provider '" + provider.name + "': " + acquired.error + ".");
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
  // Sent: neither the head nor the translated body is needed while the answer streams.
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
  // Reads the rest of the body into `into`, refusing more than `limit` bytes.
  auto read_whole_body = [&](std::string& into, std::size_t limit) -> net::awaitable<beast::error_code> {
    while (!conn->body_done()) {
      UpstreamTimer timer(ctx);
      if (auto rec = co_await conn->read_body(into, provider.idle_timeout)) co_return rec;
      if (into.size() > limit) co_return http::error::body_limit;
    }
    co_return beast::error_code{};
  };

  if (status < 200 || status >= 300) {
    route.provider_metrics->count_error(worker.index, status < 500 ? metrics::UpstreamError::status_4xx
                                                     : metrics::UpstreamError::status_5xx);
    std::string body;
    ec = co_await read_whole_body(body, kMaxUpstreamErrorBody);
    stop_watch();
    if (ctx.client_gone) co_return;
    if (!ec) worker.pool.release(std::move(conn));
    ctx.error = "upstream_status_" + std::to_string(status);
    co_await session.write_json(ctx, status, core::openai_error_body_from_upstream(status, body),
                                response.retry_after);
    co_return;
  }

  if (!response.event_stream) {
    std::string body;
    if (response.content_length) body.reserve(std::min<std::uint64_t>(*response.content_length, 1u << 20));
    ec = co_await read_whole_body(body, kMaxUpstreamJsonBody);
    stop_watch();
    if (ctx.client_gone) co_return;
    if (ec) {
      route.provider_metrics->count_error(worker.index, classify(ec));
      ctx.failure = error_for(ec, route);
      co_return;
    }
    worker.pool.release(std::move(conn));
    ctx.usage = core::extract_openai_usage(body);
    if (ctx.usage) ctx.cost_usd = core::cost_usd(*ctx.usage, route.model->price);
    co_await session.write_json(ctx, status, std::move(body));
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
  OpenAiStreamRelay relay(/*drop_usage_chunk=*/!chat.include_usage);
  // Each read's body bytes, held only until they are written to the client: a stream
  // waiting for its next event owns no buffer beyond this string's small capacity.
  std::string piece;
  while (!conn->body_done()) {
    piece.clear();
    beast::error_code rec;
    {
      UpstreamTimer timer(ctx);
      rec = co_await conn->read_body(piece, provider.idle_timeout);
    }
    if (ctx.client_gone) break;
    if (rec) {
      ec = rec;
      break;
    }
    const std::string_view out = relay.on_read(piece, ctx.usage);
    bool written;  // no co_await inside ?: (GCC 12 coroutine pitfalls)
    if (head_sent) {
      written = co_await session.write_chunk(ctx, out);
    } else {
      written = co_await session.begin_stream(ctx, "text/event-stream", out);
      head_sent = true;
    }
    if (!written) {
      ctx.client_gone = true;
      break;
    }
  }
  stop_watch();
  if (ctx.usage) ctx.cost_usd = core::cost_usd(*ctx.usage, route.model->price);
  if (ctx.client_gone) {
    ctx.error = "client_closed";
    co_return;  // dropping conn closes the upstream request
  }
  if (ec) {
    route.provider_metrics->count_error(worker.index, classify(ec));
    ctx.failure = error_for(ec, route);  // in-band: the stream has started
    co_return;
  }
  worker.pool.release(std::move(conn));
  if (!head_sent && !co_await session.begin_stream(ctx, "text/event-stream")) co_return;
  co_await session.end_stream(ctx);
}

}  // namespace

net::awaitable<void> handle_chat_completions(HttpSession& session, Request& request,
                                             RequestContext& ctx) {
  std::string& body = request.body();
  ctx.bytes_in = body.size();
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
  // on_request: parse once, for the fields the gateway needs.
  auto parsed = core::parse_chat_request(body, body.capacity() - body.size());
  if (!parsed) {
    const auto& e = parsed.error();
    ctx.failure = core::client_error(400, e.message, e.param, e.code);
    co_return;
  }
  const core::ChatRequest& chat = parsed.value();
  ctx.model = chat.model;
  ctx.stream = chat.stream;

  // select_target
  ctx.route = session.runtime().find_route(chat.model);
  if (ctx.route == nullptr) {
    ctx.failure = core::client_error(404, "The model '" + chat.model + "' does not exist on this gateway.",
                                     "model", "model_not_found");
    co_return;
  }
  if (ctx.route->provider->type == "mock") {
    co_await serve_mock(session, chat, body.size(), ctx);
    co_return;
  }
  // build_upstream_request, then connect/send/relay.
  auto upstream = adapters::build_openai_chat_request(*ctx.route->provider, ctx.route->endpoint.base_path,
                                                      body, chat, ctx.route->model->upstream_model,
                                                      ctx.request_id);
  // The client's request is in `upstream` now: free it rather than hold it for the stream.
  request = Request{};
  co_await proxy_to_upstream(session, chat, std::move(upstream), ctx);
}

net::awaitable<void> serve_mock(HttpSession& session, const core::ChatRequest& chat,
                                std::size_t prompt_bytes, RequestContext& ctx) {
  const core::MockSettings& settings = ctx.route->provider->mock;
  const auto created = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  core::MockReply reply(settings, chat.model, "chatcmpl-" + ctx.request_id, created, prompt_bytes);

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
  ctx.usage = reply.usage();
  ctx.cost_usd = core::cost_usd(reply.usage(), ctx.route->model->price);
  if (!chat.stream) {
    watch.stop();
    co_await session.write_json(ctx, 200, reply.completion_json());
    co_return;
  }
  bool ok = co_await session.begin_stream(ctx, "text/event-stream") &&
            co_await session.write_chunk(ctx, reply.role_event());
  std::size_t sent = 0;
  for (std::size_t i = 0; ok && i < reply.tokens().size(); ++i) {
    if (i > 0 && !co_await wait(per_token)) {
      ok = false;
      break;
    }
    ok = co_await session.write_chunk(ctx, reply.token_event(i));
    if (ok) ++sent;
  }
  // A stream the client left early is charged for the tokens generated, as a provider would.
  ctx.usage->completion_tokens = static_cast<std::int64_t>(sent);
  ctx.cost_usd = core::cost_usd(*ctx.usage, ctx.route->model->price);
  ok = ok && co_await session.write_chunk(ctx, reply.finish_event());
  if (ok && chat.include_usage) ok = co_await session.write_chunk(ctx, reply.usage_event());
  ok = ok && co_await session.write_chunk(ctx, core::MockReply::done_event());
  watch.stop();
  if (!ok) {
    ctx.client_gone = true;
    ctx.error = "client_closed";
    co_return;
  }
  co_await session.end_stream(ctx);
}

}  // namespace switchyard::proxy
