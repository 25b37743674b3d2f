#include "proxy/http_session.hpp"

#include <simdjson.h>

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cstring>
#include <random>

#include "adapters/exchange.hpp"
#include "core/chat_request.hpp"
#include "core/http_body_decoder.hpp"
#include "proxy/admin_api.hpp"
#include "proxy/governance.hpp"
#include "proxy/governance_gate.hpp"
#include "proxy/pipeline.hpp"
#include "proxy/tracing.hpp"

namespace switchyard::proxy {
namespace {

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);

bool is_models_path(std::string_view p) { return p == "/v1/models" || p == "/models"; }

// A client-supplied request id is echoed only when it is short printable ASCII, so it cannot
// smuggle header or log-line breaks.
bool usable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

std::string_view strip_query(std::string_view target) { return target.substr(0, target.find('?')); }

// /v1/models for one key: the entries of the full list that the key (and its team) allow.
std::string models_json_for(const RouteTable& table, const core::KeyEntry& key) {
  boost::json::value all = boost::json::parse(table.models_json);
  boost::json::array kept;
  const core::TeamRecord* team = key.team ? &key.team->record : nullptr;
  for (auto& m : all.at("data").as_array()) {
    const boost::json::string& id = m.at("id").as_string();
    if (core::key_allows_model(key.record, team, std::string_view(id.data(), id.size())))
      kept.push_back(std::move(m));
  }
  all.as_object()["data"] = std::move(kept);
  return boost::json::serialize(all);
}

// The answer to a request that could not be read: over a limit, or not HTTP.
core::GatewayError request_read_error(const beast::error_code& ec, std::uint64_t max_body_bytes,
                                      bool in_body) {
  if (ec == http::error::body_limit) {
    // Beast checks Content-Length against the limit while reading the header.
    return core::client_error(
        413, "Request body exceeds the limit of " + std::to_string(max_body_bytes) + " bytes.", "",
        "request_too_large");
  }
  if (ec == http::error::header_limit)
    return core::client_error(431, "Request headers are too large.");
  return core::client_error(
      400, std::string(in_body ? "Malformed HTTP request body: " : "Malformed HTTP request: ") +
               ec.message());
}

}  // namespace

HttpSession::HttpSession(Worker& worker, tcp::socket socket)
    : worker_(worker),
      table_(worker.tables.pin()),
      stream_(std::move(socket)),
      deadline_(worker.deadlines, [this] {
        beast::error_code ec;
        stream_.socket().cancel(ec);
      }) {
  worker_.sessions.insert(this);
}

HttpSession::~HttpSession() { worker_.sessions.erase(this); }

void HttpSession::close_if_idle() {
  keep_alive_ = false;
  beast::error_code ec;
  if (idle_) stream_.socket().cancel(ec);
}

std::string HttpSession::next_request_id() {
  // "sy-" + 48 random bits fixed per thread + worker + a per-worker counter, in hex. Built by
  // hand: snprintf showed up at 3% of a request's instructions.
  thread_local const std::uint64_t prefix =
      (std::random_device{}() ^ (static_cast<std::uint64_t>(std::random_device{}()) << 32)) &
      0xffffffffffffULL;
  static constexpr char kHex[] = "0123456789abcdef";
  auto append_hex = [](std::string& out, std::uint64_t v, int min_digits) {
    char digits[16];
    int n = 0;
    do {
      digits[n++] = kHex[v & 0xf];
      v >>= 4;
    } while (v != 0 || n < min_digits);
    while (n > 0) out += digits[--n];
  };
  std::string id;
  id.reserve(40);
  id += "sy-";
  append_hex(id, prefix, 12);
  id += '-';
  append_hex(id, worker_.index, 1);
  id += '-';
  append_hex(id, ++worker_.request_counter, 1);
  return id;
}

void HttpSession::start_head(RequestContext& ctx, int status, std::string_view content_type,
                             std::initializer_list<std::string_view> tail) {
  // Gathered as pieces and copied once into the reused head_: appending each piece on its
  // own cost ~30 instructions a piece, on every response.
  char status_text[12];
  char overhead_text[24];
  char attempts_text[12];
  auto digits = [](char* buf, std::size_t size, std::int64_t v) {
    const auto r = std::to_chars(buf, buf + size, v);
    return std::string_view(buf, static_cast<std::size_t>(r.ptr - buf));
  };
  std::array<std::string_view, 24> parts;
  std::size_t n = 0;
  if (status == 200) {
    parts[n++] = "HTTP/1.1 200 OK\r\nServer: switchyard\r\nContent-Type: ";
  } else {
    parts[n++] = "HTTP/1.1 ";
    parts[n++] = digits(status_text, sizeof status_text, status);
    parts[n++] = " ";
    parts[n++] = http::obsolete_reason(static_cast<http::status>(status));
    parts[n++] = "\r\nServer: switchyard\r\nContent-Type: ";
  }
  parts[n++] = content_type;
  parts[n++] = "\r\nx-request-id: ";
  parts[n++] = ctx.request_id;
  parts[n++] = "\r\nx-switchyard-overhead-us: ";
  parts[n++] = digits(overhead_text, sizeof overhead_text, ctx.overhead_us(Clock::now()));
  // What served the request (after rule routing and fallbacks), also on errors: names from
  // the config only.
  if (ctx.route) {
    parts[n++] = "\r\nx-switchyard-model: ";
    parts[n++] = ctx.route->model->name;
  }
  if (ctx.target) {
    parts[n++] = "\r\nx-switchyard-provider: ";
    parts[n++] = ctx.target->provider->name;
  }
  if (ctx.attempts > 0) {
    parts[n++] = "\r\nx-switchyard-attempts: ";
    parts[n++] = digits(attempts_text, sizeof attempts_text, ctx.attempts);
  }
  if (!ctx.fallback_from.empty()) {
    parts[n++] = "\r\nx-switchyard-fallback: ";
    parts[n++] = ctx.fallback_from;
  }
  parts[n++] = ctx.rate_limit_headers;  // a limited key's x-ratelimit-* (governance)
  if (!keep_alive_) {
    parts[n++] = "\r\nConnection: close";
  } else if (http10_) {
    parts[n++] = "\r\nConnection: keep-alive";
  }
  parts[n++] = "\r\n";
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) total += parts[i].size();
  for (std::string_view t : tail) total += t.size();
  head_.resize(total);
  char* out = head_.data();
  // An empty piece may have no data pointer at all, which memcpy must not be given.
  for (std::size_t i = 0; i < n; ++i) {
    if (parts[i].empty()) continue;
    std::memcpy(out, parts[i].data(), parts[i].size());
    out += parts[i].size();
  }
  for (std::string_view t : tail) {
    if (t.empty()) continue;
    std::memcpy(out, t.data(), t.size());
    out += t.size();
  }
}

std::array<net::const_buffer, 2> HttpSession::whole_answer(RequestContext& ctx, int status,
                                                           std::string_view content_type,
                                                           std::string_view body,
                                                           std::string_view retry_after,
                                                           bool head_only) {
  ctx.status = status;
  char length[24];
  const auto length_end = std::to_chars(length, length + sizeof length, body.size()).ptr;
  const bool retry = !retry_after.empty();
  start_head(ctx, status, content_type,
             {retry ? "Retry-After: " : "", retry_after, retry ? "\r\n" : "", "Content-Length: ",
              std::string_view(length, static_cast<std::size_t>(length_end - length)), "\r\n\r\n"});
  if (head_only) body = {};
  ctx.bytes_out += body.size();
  return {net::buffer(head_), net::buffer(body.data(), body.size())};
}

net::awaitable<bool> HttpSession::write_whole(RequestContext& ctx, int status,
                                              std::string_view content_type, std::string_view body,
                                              std::string_view retry_after, bool head_only) {
  const auto buffers = whole_answer(ctx, status, content_type, body, retry_after, head_only);
  before_send();
  auto [ec, n] = co_await net::async_write(stream_, buffers, kAsTuple);
  (void)n;
  co_return after_send(ec);
}

net::awaitable<bool> HttpSession::write_json(RequestContext& ctx, int status, std::string body,
                                             std::string_view retry_after) {
  const auto buffers = whole_answer(ctx, status, "application/json", body, retry_after, false);
  before_send();
  auto [ec, n] = co_await net::async_write(stream_, buffers, kAsTuple);
  (void)n;
  co_return after_send(ec);
}

net::awaitable<bool> HttpSession::write_error(RequestContext& ctx,
                                              const core::GatewayError& error) {
  if (ctx.error.empty()) ctx.error = error.code.empty() ? error.type : error.code;
  if (stream_started_) {
    // Headers are gone already: finish the stream with the protocol's in-band error event,
    // which the SDKs raise as an error.
    const bool ok = co_await write_chunk(ctx, adapters::encode_stream_error(ctx.protocol, error));
    co_return ok&& co_await end_stream(ctx);
  }
  const int status = adapters::error_status_for(ctx.protocol, error.status);
  co_return co_await write_json(ctx, status, adapters::encode_error_body(ctx.protocol, error),
                                core::retry_after_for(status, error.retry_after));
}

net::awaitable<bool> HttpSession::write_failure(RequestContext& ctx) {
  if (ctx.failure) co_return co_await write_error(ctx, *ctx.failure);
  if (!ctx.upstream_failure) co_return true;
  const core::UpstreamFailure& f = *ctx.upstream_failure;
  using core::FailureKind;
  if (f.kind == FailureKind::status) {
    // The provider's own error, in the client's protocol, with its Retry-After.
    ctx.error = "upstream_status_" + std::to_string(f.status);
    auto [status, body] =
        adapters::upstream_error_response(ctx.protocol, ctx.upstream_protocol, f.status, f.body);
    co_return co_await write_json(ctx, status, std::move(body),
                                  core::retry_after_for(status, f.retry_after));
  }
  ctx.error = "upstream_" + std::string(core::failure_kind_name(f.kind));
  if (!f.code.empty() && f.kind != FailureKind::protocol) ctx.error = f.code;
  co_return co_await write_error(ctx, core::gateway_error_for(f));
}

void HttpSession::abandon() {
  keep_alive_ = false;
  // No close_notify on TLS either: the client must not take the cut for a clean end.
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
}

net::awaitable<bool> HttpSession::begin_stream(RequestContext& ctx, std::string_view content_type,
                                               std::string_view first_data, int status) {
  ctx.status = status;
  // The first chunk's size line goes with the head.
  char size[24];
  char* size_end = size;
  if (!first_data.empty()) {
    size_end = std::to_chars(size, size + sizeof size - 2, first_data.size(), 16).ptr;
    *size_end++ = '\r';
    *size_end++ = '\n';
  }
  // x-accel-buffering tells any proxy in front of us not to buffer the stream either.
  start_head(
      ctx, status, content_type,
      {"Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n\r\n",
       std::string_view(size, static_cast<std::size_t>(size_end - size))});
  if (!first_data.empty()) {
    if (!ctx.first_token) ctx.first_token = Clock::now();
    ctx.bytes_out += first_data.size();
  }
  const std::array<net::const_buffer, 3> buffers{
      net::buffer(head_), net::buffer(first_data.data(), first_data.size()),
      net::buffer(first_data.empty() ? std::string_view() : std::string_view("\r\n"))};
  stream_started_ = true;
  before_send();
  auto [ec, n] = co_await net::async_write(stream_, buffers, kAsTuple);
  (void)n;
  co_return after_send(ec);
}

net::awaitable<bool> HttpSession::write_chunk(RequestContext& ctx, std::string_view data) {
  if (data.empty()) co_return true;  // an empty chunk would end the body
  if (!ctx.first_token) ctx.first_token = Clock::now();
  ctx.bytes_out += data.size();
  before_send();
  auto [ec, n] = co_await net::async_write(
      stream_, http::make_chunk(net::buffer(data.data(), data.size())), kAsTuple);
  (void)n;
  co_return after_send(ec);
}

net::awaitable<bool> HttpSession::write_keepalive(RequestContext& ctx, std::string_view data) {
  if (data.empty()) co_return true;
  ctx.bytes_out += data.size();
  before_send();
  auto [ec, n] = co_await net::async_write(
      stream_, http::make_chunk(net::buffer(data.data(), data.size())), kAsTuple);
  (void)n;
  co_return after_send(ec);
}

net::awaitable<bool> HttpSession::end_stream(RequestContext&) {
  before_send();
  auto [ec, n] = co_await net::async_write(stream_, http::make_chunk_last(), kAsTuple);
  (void)n;
  co_return after_send(ec);
}

net::awaitable<bool> HttpSession::handshake() {
  stream_.start_tls(table().tls);
  // Within the read timeout, as a first request's head: a client that connects and says
  // nothing is dropped then; one that speaks plain HTTP fails the handshake at once.
  deadline_.expires_after(table().config.server.read_timeout);
  auto [ec] = co_await stream_.async_handshake(kAsTuple);
  deadline_.clear();
  if (ec) {
    worker_.runtime.metrics->tls_handshake_failures().add(worker_.index, 1);
    beast::error_code ignored;
    stream_.socket().close(ignored);
    co_return false;
  }
  tls_established_ = true;
  co_return true;
}

net::awaitable<void> HttpSession::send_close_notify() {
  if (!tls_established_ || !stream_.socket().is_open()) co_return;
  tls_established_ = false;
  before_send();
  auto [ec] = co_await stream_.async_send_close_notify(kAsTuple);
  (void)ec;  // the socket closes next whatever happened
  deadline_.clear();
}

net::awaitable<void> HttpSession::run() {
  // The table the connection was accepted under decides whether it speaks TLS.
  if (table().tls) {
    const bool established = co_await handshake();
    if (!established) co_return;
  }
  bool first = true;
  while (keep_alive_ && !worker_.draining) {
    // A reload since the last request: this one reads the new table, from its head on.
    table_.refresh();
    const core::ServerConfig* server = &table().config.server;
    // On the heap, and gone before the request is handled: a parser is large, and this
    // frame lives as long as the connection's stream.
    auto parser = std::make_unique<http::request_parser<http::string_body>>();
    parser->header_limit(static_cast<std::uint32_t>(server->max_header_bytes));
    parser->body_limit(server->max_body_bytes);
    // Between requests the connection may sit idle for the keep-alive time; from the first
    // byte of a request on, only the read timeout, so a request cannot be trickled in for
    // the whole keep-alive time.
    std::size_t head_bytes = 0;  // what the parser took for the request line and header
    beast::error_code hec = co_await read_request_head(
        *parser, first ? server->read_timeout : server->keepalive_timeout, head_bytes);
    idle_ = false;
    first = false;
    // A reload while the connection sat idle applies to the request that has now arrived.
    table_.refresh();
    server = &table().config.server;
    // A clean close, a timeout or a drain between requests needs no answer.
    if (hec == http::error::end_of_stream || hec == beast::error::timeout ||
        hec == net::error::operation_aborted || hec == net::error::connection_reset ||
        hec == net::error::eof || hec == net::error::bad_descriptor) {
      break;
    }

    // RFC 9112 §6.1, §6.3: a request whose Transfer-Encoding does not end in chunked, or an
    // HTTP/1.0 request with one, has no length that can be trusted (Beast would read such a
    // body to the connection's end); no other transfer coding is decoded either. Refused,
    // and the connection closed.
    if (!hec && parser->get().count(http::field::transfer_encoding) != 0 &&
        (!beast::iequals(parser->get()[http::field::transfer_encoding], "chunked") ||
         parser->get().version() < 11)) {
      hec = http::error::bad_transfer_encoding;
    }
    RequestContext ctx;
    ctx.table = &table();
    ctx.rate_limit_headers = std::move(spare_rate_headers_);
    ctx.rate_limit_headers.clear();
    const FrontDoor* door = nullptr;  // set once the request line is read
    bool read_ok = !hec;
    if (read_ok) {
      auto& header = parser->get();
      if (auto id = header["x-request-id"]; usable_request_id(id)) {
        ctx.request_id = std::string(id);
      } else {
        ctx.request_id = next_request_id();
      }
      ctx.path = std::string(strip_query(header.target()));
      ctx.method = std::string(header.method_string());
      door = find_front_door(ctx.path);
      ctx.model_traffic = door != nullptr;
      keep_alive_ = keep_alive_ && header.keep_alive() && !worker_.draining;
      http10_ = header.version() == 10;
      if (auto length = parser->content_length()) {
        // Room for simdjson's padding up front, so parsing needs no copy of the body.
        header.body().reserve(static_cast<std::size_t>(*length) + simdjson::SIMDJSON_PADDING);
      }
      if (header[http::field::expect] == "100-continue") {
        deadline_.expires_after(server->read_timeout);
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [cec, cn] = co_await net::async_write(stream_, net::buffer(kContinue), kAsTuple);
        (void)cn;
        deadline_.clear();
        if (cec) break;
      }
    } else {
      ctx.request_id = next_request_id();
    }
    beast::error_code bec;
    if (read_ok && parser->chunked()) {
      // Beast would buffer a chunk-size line, its extensions or the trailer section however
      // long they grow; the gateway's own decoder bounds each.
      // The header and the trailer section share max_header_bytes.
      bec = co_await read_chunked_body(
          parser->get().body(),
          server->max_header_bytes - std::min(server->max_header_bytes, head_bytes));
      if (bec == http::error::end_of_stream || bec == http::error::partial_message ||
          bec == beast::error::timeout || bec == net::error::connection_reset ||
          bec == net::error::eof) {
        log_unfinished_request(ctx, bec);
        break;
      }
      read_ok = !bec;
    } else if (read_ok && !parser->is_done()) {
      deadline_.expires_after(server->read_timeout);
      beast::error_code bec0;
      std::tie(bec0, std::ignore) = co_await http::async_read(stream_, buffer_, *parser, kAsTuple);
      deadline_.clear();
      bec = deadline_.translate(bec0);
      // A client that went away mid-body (its FIN cut the body: partial_message) gets no
      // answer.
      if (bec == http::error::end_of_stream || bec == http::error::partial_message ||
          bec == beast::error::timeout || bec == net::error::connection_reset ||
          bec == net::error::eof) {
        log_unfinished_request(ctx, bec);
        break;
      }
      read_ok = !bec;
    }
    if (!read_ok) {
      // Bad framing, or over a limit: answer, then close (the rest of the input cannot be
      // trusted to start a request).
      keep_alive_ = false;
      const beast::error_code& ec = hec ? hec : bec;
      ctx.failure =
          ec == http::error::bad_chunk && !chunked_error_.empty()
              ? core::client_error(400, "Malformed chunked request body: " + chunked_error_ + ".")
              : request_read_error(ec, server->max_body_bytes, /*in_body=*/!hec);
      if (ctx.request_id.empty()) ctx.request_id = next_request_id();
      co_await write_error(ctx, *ctx.failure);
      on_log(ctx);
      if (ec == http::error::body_limit || ec == http::error::bad_chunk) {
        co_await discard_and_close();
      }
      break;
    }

    Request request = parser->release();
    parser.reset();
    worker_.runtime.metrics->in_flight().add(worker_.index, 1);
    if (door) ctx.protocol = door->protocol;
    if (door && request.method() == http::verb::post) {
      co_await handle_model_request(*this, request, ctx, *door);
    } else {
      co_await handle(request, ctx);
    }
    // on_error: a phase that failed before answering left its error here.
    if (ctx.failure || ctx.upstream_failure) co_await write_failure(ctx);
    on_log(ctx);
    spare_rate_headers_ = std::move(ctx.rate_limit_headers);
    worker_.runtime.metrics->in_flight().add(worker_.index, -1);
    stream_started_ = false;
    if (!stream_.socket().is_open()) break;
  }
  if (tls_established_) co_await send_close_notify();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.socket().close(ec);
}

net::awaitable<beast::error_code> HttpSession::read_request_head(
    http::request_parser<http::string_body>& parser, Clock::duration idle_timeout,
    std::size_t& head_bytes) {
  // Up to the first byte of the request: idle. Empty lines before a request line are ignored
  // (RFC 9112 §2.2), a few of them: a peer sending nothing else is not starting a request.
  idle_ = true;
  std::size_t empty_line_bytes = 0;
  for (;;) {
    const auto data = buffer_.data();
    const char* p = static_cast<const char*>(data.data());
    std::size_t skip = 0;
    while (skip < data.size() && (p[skip] == '\r' || p[skip] == '\n')) ++skip;
    buffer_.consume(skip);
    empty_line_bytes += skip;
    if (empty_line_bytes > kMaxEmptyLineBytes) co_return http::error::bad_method;
    if (buffer_.size() != 0) break;
    deadline_.expires_after(idle_timeout);
    // The read size Beast's own reader would ask for: one read serves a small request whole.
    const std::size_t room = std::max<std::size_t>(512, buffer_.capacity() - buffer_.size());
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(room), kAsTuple);
    deadline_.clear();
    buffer_.commit(n);
    if (ec)
      co_return deadline_.translate(
          ec == net::error::eof ? beast::error_code(http::error::end_of_stream) : ec);
  }
  idle_ = false;
  // From the first byte on, the read timeout. The parser is fed here rather than through
  // http::async_read_header, whose completion would be posted once more when the head is
  // already in the buffer (the usual case: it came with the first read).
  deadline_.expires_after(table().config.server.read_timeout);
  parser.eager(false);  // stop at the end of the head, as http::async_read_header would
  for (;;) {
    beast::error_code ec;
    const std::size_t used = parser.put(buffer_.data(), ec);
    buffer_.consume(used);
    head_bytes += used;
    if (!ec && parser.is_header_done()) break;
    if (ec && ec != http::error::need_more) {
      deadline_.clear();
      co_return ec;
    }
    if (!ec && used > 0) continue;  // the parser took part of the head: feed it the rest
    const std::size_t room = std::max<std::size_t>(512, buffer_.capacity() - buffer_.size());
    auto [rec, n] = co_await stream_.async_read_some(buffer_.prepare(room), kAsTuple);
    buffer_.commit(n);
    if (rec) {
      deadline_.clear();
      // A client gone mid-head gets no answer, as before a request.
      co_return deadline_.translate(
          rec == net::error::eof ? beast::error_code(http::error::end_of_stream) : rec);
    }
  }
  deadline_.clear();
  co_return beast::error_code{};
}

net::awaitable<beast::error_code> HttpSession::read_chunked_body(std::string& body,
                                                                 std::size_t max_trailer_bytes) {
  const auto& server = table().config.server;
  core::HttpBodyDecoder decoder = core::HttpBodyDecoder::chunked(max_trailer_bytes);
  deadline_.expires_after(server.read_timeout);
  for (;;) {
    const auto data = buffer_.data();
    const std::size_t used =
        decoder.feed(std::string_view(static_cast<const char*>(data.data()), data.size()),
                     [&](std::string_view piece) { body.append(piece); });
    if (decoder.failed()) {
      deadline_.clear();
      chunked_error_ = decoder.error();
      co_return http::error::bad_chunk;
    }
    buffer_.consume(used);
    if (body.size() > server.max_body_bytes) {
      deadline_.clear();
      co_return http::error::body_limit;
    }
    if (decoder.done()) break;
    const std::size_t room = std::max<std::size_t>(4096, buffer_.capacity() - buffer_.size());
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(room), kAsTuple);
    buffer_.commit(n);
    if (ec) {
      deadline_.clear();
      co_return deadline_.translate(
          ec == net::error::eof ? beast::error_code(http::error::end_of_stream) : ec);
    }
  }
  deadline_.clear();
  co_return beast::error_code{};
}

net::awaitable<void> HttpSession::discard_and_close() {
  // Answer first, then read and drop what the client is still sending for a moment: closing
  // with unread data would reset the connection and could destroy our answer in flight.
  // On TLS the dropped bytes are records, read off the socket undecrypted.
  if (tls_established_) co_await send_close_notify();
  tcp::socket& socket = stream_.socket();
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  deadline_.expires_after(std::chrono::seconds(2));
  std::size_t discarded = 0;
  char sink[16384];
  while (discarded < (64u << 20)) {
    auto [rec, n] = co_await socket.async_read_some(net::buffer(sink), kAsTuple);
    if (rec) break;
    discarded += n;
  }
  socket.close(ec);
}

net::awaitable<void> HttpSession::handle(Request& request, RequestContext& ctx) {
  const std::string_view path = ctx.path;
  const auto method = request.method();
  const Runtime& runtime = worker_.runtime;

  if (method == http::verb::head) {
    // Connection probes (Claude Code sends HEAD / and HEAD /api/hello; HEAD /v1/messages is
    // another common check): answered at once, with no body.
    co_await write_whole(ctx, 200, "text/plain", {}, {}, /*head_only=*/true);
    co_return;
  }
  if (path == "/admin/reload") {
    const AdminAnswer answer = co_await answer_reload(worker_, request);
    co_await write_whole(ctx, answer.status, answer.content_type, answer.body);
    co_return;
  }
  if (is_admin_path(path)) {
    const AdminAnswer answer = co_await answer_admin(worker_, request, ctx);
    co_await write_whole(ctx, answer.status, answer.content_type, answer.body);
    co_return;
  }
  if (find_front_door(path)) {
    ctx.failure =
        core::client_error(405, "Use POST for " + ctx.path + ".", "", "method_not_allowed");
    co_return;
  }
  const bool is_get = method == http::verb::get;
  if (is_models_path(path)) {
    if (!is_get)
      co_await write_error(
          ctx, core::client_error(405, "Use GET for " + ctx.path + ".", "", "method_not_allowed"));
    else if (runtime.governance && runtime.governance->authentication()) {
      // With keys, a client sees only the models its key may use.
      if (authenticate(worker_, request, ctx))
        co_await write_json(ctx, 200, models_json_for(table(), *ctx.key));
    } else {
      co_await write_json(ctx, 200, table().models_json);
    }
    co_return;
  }
  if (path == "/health/live") {
    if (!is_get)
      co_await write_error(
          ctx, core::client_error(405, "Use GET for " + ctx.path + ".", "", "method_not_allowed"));
    else
      co_await write_json(ctx, 200, R"({"status":"ok"})");
    co_return;
  }
  if (path == "/health/ready") {
    if (!is_get) {
      co_await write_error(
          ctx, core::client_error(405, "Use GET for " + ctx.path + ".", "", "method_not_allowed"));
    } else if (worker_.draining) {
      co_await write_json(ctx, 503, R"({"status":"draining"})");
    } else if (table().routes.empty()) {
      co_await write_json(ctx, 503, R"({"status":"no models configured"})");
    } else {
      co_await write_json(ctx, 200, R"({"status":"ready"})");
    }
    co_return;
  }
  if (path == "/metrics") {
    if (!is_get) {
      co_await write_error(
          ctx, core::client_error(405, "Use GET for /metrics.", "", "method_not_allowed"));
      co_return;
    }
    const std::string text = runtime.metrics->serialize();
    co_await write_whole(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    co_return;
  }
  co_await write_error(
      ctx, core::client_error(404, "Unknown path " + ctx.path + ".", "", "unknown_url"));
}

void HttpSession::on_log(RequestContext& ctx) {
  const Runtime& runtime = worker_.runtime;
  const auto now = Clock::now();
  ctx.finished = now;
  // 499 (nginx's "client closed request"): the client left before it got an answer.
  const int status = ctx.status == 0 ? 499 : ctx.status;
  if (ctx.client_gone && ctx.error.empty()) ctx.error = "client_closed";
  const double total_s = std::chrono::duration<double>(now - ctx.start).count();
  const std::int64_t overhead_us = ctx.overhead_us(now);
  double ttft_ms = -1;
  if (ctx.first_token && ctx.stream)
    ttft_ms = std::chrono::duration<double, std::milli>(*ctx.first_token - ctx.start).count();
  if (ctx.model_traffic) record_metrics(ctx, status, total_s, overhead_us);
  if (runtime.access_log && runtime.access_log->enabled())
    log_line(ctx, status, total_s, ttft_ms, overhead_us);
  if (ctx.span && runtime.tracer && ctx.table->config.tracing.enabled)
    runtime.tracer->record(worker_.index, ctx, status, overhead_us, ttft_ms);
  // Last: it moves the request's id, key, tags and error into the ledger row.
  if (ctx.model_traffic && runtime.governance) finish_request(worker_, ctx, status, total_s);
}

void HttpSession::log_unfinished_request(RequestContext& ctx, const beast::error_code& ec) {
  // Like nginx: 408 when the body did not arrive within read_timeout_ms, 499 when the
  // client left first. No answer is written either way.
  if (ec == beast::error::timeout) {
    ctx.status = 408;
    ctx.error = "request_timeout";
  } else {
    ctx.client_gone = true;
  }
  on_log(ctx);
}

void HttpSession::record_metrics(const RequestContext& ctx, int status, double total_s,
                                 std::int64_t overhead_us) {
  const Runtime& runtime = worker_.runtime;
  const metrics::ModelMetrics& mm =
      ctx.route ? *ctx.route->model_metrics : runtime.metrics->unrouted();
  const std::size_t shard = worker_.index;
  const auto& requests =
      ctx.route && ctx.target ? mm.targets[ctx.target->index].requests : mm.requests;
  requests[metrics::status_class_index(status)]->add(shard, 1);
  mm.duration->observe(shard, total_s);
  if (ctx.first_token && ctx.stream) {
    mm.time_to_first_token->observe(
        shard, std::chrono::duration<double>(*ctx.first_token - ctx.start).count());
  }
  if (ctx.usage) {
    mm.record_usage(shard, *ctx.usage, ctx.cost_usd);
    if (ctx.route && ctx.target) mm.targets[ctx.target->index].cost_usd->add(shard, ctx.cost_usd);
  }
  if (ctx.target && ctx.upstream_time.count() > 0) {
    ctx.target->provider_metrics->upstream_duration->observe(
        shard, std::chrono::duration<double>(ctx.upstream_time).count());
  }
  runtime.metrics->gateway_overhead().observe(shard, static_cast<double>(overhead_us) / 1e6);
  if (ctx.client_gone) runtime.metrics->client_disconnects().add(shard, 1);
}

void HttpSession::log_line(const RequestContext& ctx, int status, double total_s, double ttft_ms,
                           std::int64_t overhead_us) {
  // Never the prompt, never a key: only ids, names, counts and timings.
  std::string line;
  line.reserve(512);
  char ts[64];
  const auto wall = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(wall);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count() % 1000;
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  line += "{\"ts\":\"";
  line += ts;
  line += "\",\"request_id\":";
  core::append_json_string(line, ctx.request_id);
  // The trace it belongs to (its own span's when traced, else the client's traceparent), for
  // finding it in a tracing backend.
  if (ctx.span || ctx.trace_parent) {
    line += ",\"trace_id\":\"";
    line += core::to_hex(ctx.span ? ctx.span->trace_id : ctx.trace_parent->trace_id);
    line += '"';
  }
  line += ",\"method\":";
  core::append_json_string(line, ctx.method);
  line += ",\"path\":";
  core::append_json_string(line, ctx.path);
  line += ",\"model\":";
  core::append_json_string(line, ctx.model);
  line += ",\"provider\":";
  core::append_json_string(line, ctx.target ? ctx.target->provider->name : std::string());
  line += ",\"upstream_model\":";
  core::append_json_string(line, ctx.target ? ctx.target->config->upstream_model : std::string());
  line += ",\"routed_model\":";
  core::append_json_string(line, ctx.route ? ctx.route->model->name : std::string());
  line += ",\"attempts\":" + std::to_string(ctx.attempts);
  if (ctx.key) {
    // Who called (governance): the key's id, alias and team, never its secret.
    line += ",\"key_id\":";
    core::append_json_string(line, ctx.key->record.id);
    line += ",\"key_alias\":";
    core::append_json_string(line, ctx.key->record.alias);
    line += ",\"team\":";
    core::append_json_string(line, ctx.key->record.team_id);
  }
  if (!ctx.tags.empty()) {
    line += ",\"tags\":";
    core::append_json_string(line, ctx.tags);
  }
  if (!ctx.fallback_from.empty()) {
    line += ",\"fallback_from\":";
    core::append_json_string(line, ctx.fallback_from);
  }
  // Each attempt's target and outcome, when it took more than one or the one failed.
  if (ctx.tried_count > 1 ||
      (ctx.tried_count == 1 && ctx.tried[0].outcome != metrics::AttemptOutcome::success)) {
    line += ",\"tried\":[";
    for (std::size_t i = 0; i < ctx.tried_count; ++i) {
      const auto& a = ctx.tried[i];
      line += i == 0 ? "{\"model\":" : ",{\"model\":";
      core::append_json_string(line, a.group->model->name);
      line += ",\"provider\":";
      core::append_json_string(line, a.target->provider->name);
      line += ",\"outcome\":\"";
      line += metrics::attempt_outcome_name(a.outcome);
      line += "\"}";
    }
    line += "]";
  }
  line += ",\"status\":" + std::to_string(status);
  line += ctx.stream ? ",\"stream\":true" : ",\"stream\":false";
  const core::Usage usage = ctx.usage.value_or(core::Usage{});
  line += ",\"prompt_tokens\":" + std::to_string(usage.prompt_tokens);
  line += ",\"completion_tokens\":" + std::to_string(usage.completion_tokens);
  line += ",\"cached_tokens\":" + std::to_string(usage.cached_prompt_tokens);
  line += ",\"reasoning_tokens\":" + std::to_string(usage.reasoning_tokens);
  char num[64];
  std::snprintf(num, sizeof num, ",\"cost_usd\":%.8f", ctx.cost_usd);
  line += num;
  std::snprintf(num, sizeof num, ",\"total_ms\":%.3f", total_s * 1000);
  line += num;
  if (ttft_ms >= 0) {
    std::snprintf(num, sizeof num, ",\"ttft_ms\":%.3f", ttft_ms);
    line += num;
  } else {
    line += ",\"ttft_ms\":null";
  }
  line += ",\"overhead_us\":" + std::to_string(overhead_us);
  line += ",\"bytes_in\":" + std::to_string(ctx.bytes_in);
  line += ",\"bytes_out\":" + std::to_string(ctx.bytes_out);
  line += ",\"error\":";
  if (ctx.error.empty())
    line += "null";
  else
    core::append_json_string(line, ctx.error);
  line += "}";
  worker_.runtime.access_log->push(worker_.index, std::move(line));
}

}  // namespace switchyard::proxy
