#pragma once
// One client connection: an HTTP/1.1 keep-alive loop that reads a request (with header,
// body and time limits), hands a model request to the pipeline (pipeline.hpp) and answers
// the other endpoints itself. The pipeline writes through the helpers here so every
// response carries the same headers.
#include <array>
#include <string>
#include <string_view>

#include "core/gateway_error.hpp"
#include "proxy/client_stream.hpp"
#include "proxy/net.hpp"
#include "proxy/request_context.hpp"
#include "proxy/worker.hpp"

namespace switchyard::proxy {

using Request = http::request<http::string_body>;

class HttpSession {
 public:
  HttpSession(Worker& worker, tcp::socket socket);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  net::awaitable<void> run();
  // Drain: a session waiting for its next request is closed now; a busy one closes after
  // its current answer.
  void close_if_idle();

  Worker& worker() { return worker_; }
  const Runtime& runtime() const { return worker_.runtime; }
  // The route table of the request being served (its config, models and routers): the
  // newest when the request started, kept until it ends.
  const RouteTable& table() const { return table_.get(); }
  // The TCP socket under the connection (under TLS too): its executor, the client watch.
  tcp::socket& socket() { return stream_.socket(); }

  // Whole responses. Return false when the client could not be written to.
  net::awaitable<bool> write_json(RequestContext& ctx, int status, std::string body,
                                  std::string_view retry_after = {});
  net::awaitable<bool> write_error(RequestContext& ctx, const core::GatewayError& error);
  // on_error: the request's failure (ctx.failure, or the last attempt's ctx.upstream_failure)
  // in the client's protocol. The one place that decides an error answer's Retry-After.
  net::awaitable<bool> write_failure(RequestContext& ctx);

  // Streamed responses: chunked transfer, one chunk per write, nothing held back.
  // `first_data`, when given, goes out as the first chunk in the same write as the head, so
  // the client is woken once for its first event rather than twice.
  net::awaitable<bool> begin_stream(RequestContext& ctx, std::string_view content_type,
                                    std::string_view first_data = {}, int status = 200);
  net::awaitable<bool> write_chunk(RequestContext& ctx, std::string_view data);
  // A chunk that carries no part of the answer (a keep-alive): not a first token.
  net::awaitable<bool> write_keepalive(RequestContext& ctx, std::string_view data);
  net::awaitable<bool> end_stream(RequestContext& ctx);
  bool stream_started() const { return stream_started_; }
  // Ends the connection in the middle of a response whose end can no longer be written (a
  // body relayed as it arrived whose upstream broke): the client sees it cut, never complete.
  void abandon();

 private:
  // Everything but POSTs to the model endpoints (whose handler, handle_model_request, run()
  // calls directly, so no extra frame stays alive under a stream).
  net::awaitable<void> handle(Request& request, RequestContext& ctx);
  net::awaitable<void> discard_and_close();
  // With the route table's tls: the TLS handshake, within the read timeout. False when it
  // failed (counted in switchyard_tls_handshake_failures_total); the connection is closed.
  net::awaitable<bool> handshake();
  // Before the socket closes: TLS's close_notify (within the write timeout), so the client
  // knows the connection ended where it did. Nothing on a plain connection.
  net::awaitable<void> send_close_notify();
  // Reads the next request's line and header into `parser`: waits up to `idle_timeout` for
  // its first byte (skipping empty lines), then up to the read timeout for the rest.
  // `head_bytes` gets what the head took.
  net::awaitable<beast::error_code> read_request_head(
      http::request_parser<http::string_body>& parser, Clock::duration idle_timeout,
      std::size_t& head_bytes);
  // Reads a chunked request body into `body` with bounded size lines and trailer section
  // (core::HttpBodyDecoder); bad framing leaves its reason in chunked_error_.
  net::awaitable<beast::error_code> read_chunked_body(std::string& body,
                                                      std::size_t max_trailer_bytes);
  // Response heads are formatted directly into head_: they always have the same few fields,
  // and Beast's generic serializer cost more than the rest of the request path together.
  // `tail`: the fields that follow, up to the head's end, copied in with the rest.
  void start_head(RequestContext& ctx, int status, std::string_view content_type,
                  std::initializer_list<std::string_view> tail);
  // Every write to the client runs within the read timeout and fails (ending keep-alive) as a
  // whole. These two go around each write's async_write, in the writer's own coroutine: a
  // coroutine per write cost ~200 instructions on every event of every stream.
  void before_send() { deadline_.expires_after(table().config.server.read_timeout); }
  bool after_send(const beast::error_code& ec) {
    deadline_.clear();
    if (ec) keep_alive_ = false;
    return !ec;
  }
  // The head of a whole answer (head_only: a HEAD request's, its Content-Length, no body),
  // and the buffers to send.
  std::array<net::const_buffer, 2> whole_answer(RequestContext& ctx, int status,
                                                std::string_view content_type,
                                                std::string_view body, std::string_view retry_after,
                                                bool head_only);
  net::awaitable<bool> write_whole(RequestContext& ctx, int status, std::string_view content_type,
                                   std::string_view body, std::string_view retry_after = {},
                                   bool head_only = false);
  // Every request that got an answer (or whose client left) gets one access-log line; model
  // endpoints also count in the request metrics.
  void on_log(RequestContext& ctx);
  // A request whose head arrived but whose body did not (timeout, or the client left).
  void log_unfinished_request(RequestContext& ctx, const beast::error_code& ec);
  void record_metrics(const RequestContext& ctx, int status, double total_s,
                      std::int64_t overhead_us);
  void log_line(const RequestContext& ctx, int status, double total_s, double ttft_ms,
                std::int64_t overhead_us);
  std::string next_request_id();

  Worker& worker_;
  RouteTablePin table_;  // refreshed between requests (run())
  // Timeouts come from deadline_ (see deadline.hpp), not per-operation timers.
  ClientStream stream_;
  bool tls_established_ = false;  // the handshake completed: close_notify can be sent
  Deadline deadline_;
  beast::flat_buffer buffer_;
  std::string head_;
  std::string chunked_error_;
  // The last request's rate-limit header text, its room kept for the next request on the
  // connection (a limited key's every answer has them: an allocation a request otherwise).
  std::string spare_rate_headers_;
  static constexpr std::size_t kMaxEmptyLineBytes = 64;
  bool http10_ = false;
  bool idle_ = true;
  bool keep_alive_ = true;
  bool stream_started_ = false;
};

}  // namespace switchyard::proxy
