#include "proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>

#include "core/http_response_head.hpp"

namespace switchyard::proxy {
namespace {
constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
// Decrypted TLS bytes land in the connection's own buffer (OpenSSL decides how much is ready).
constexpr std::size_t kTlsReadSize = 4096;
constexpr std::size_t kMaxResponseHeadBytes = std::size_t{64} * 1024;
// Under 1 KiB, so the buffer comes from and goes back to malloc's per-thread cache.
constexpr std::size_t kHeadReadSize = 960;
}  // namespace

UpstreamConnection::UpstreamConnection(const net::any_io_executor& ex, ssl::context* tls_context,
                                       std::string pool_key, DeadlineRegistry& deadlines,
                                       std::vector<char>& scratch)
    : scratch_(scratch),
      pool_key_(std::move(pool_key)),
      deadline_(deadlines, [this] { close(); }),
      // Cancels only the readiness wait of wait_for_data: the connection stays usable.
      wait_deadline_(deadlines, [this] {
        beast::error_code ec;
        socket().cancel(ec);
      }) {
  if (tls_context != nullptr) {
    tls_ = std::make_unique<ssl::stream<tcp::socket>>(ex, *tls_context);
  } else {
    plain_.emplace(ex);
  }
}

net::awaitable<beast::error_code> UpstreamConnection::write(std::string_view head,
                                                            std::string_view body,
                                                            Clock::duration timeout) {
  deadline_.expires_after(timeout);
  const std::array<net::const_buffer, 2> buffers{net::buffer(head.data(), head.size()),
                                                 net::buffer(body.data(), body.size())};
  beast::error_code ec;
  if (tls_) {
    std::tie(ec, std::ignore) = co_await net::async_write(*tls_, buffers, kAsTuple);
  } else {
    std::tie(ec, std::ignore) = co_await net::async_write(*plain_, buffers, kAsTuple);
  }
  deadline_.clear();
  co_return deadline_.translate(ec);
}

net::awaitable<beast::error_code> UpstreamConnection::read_head(UpstreamResponseHead& head,
                                                                Clock::duration timeout) {
  deadline_.expires_after(timeout);
  for (;;) {
    const auto data = buffer_.data();
    const core::ResponseHeadResult parsed = core::parse_response_head(
        std::string_view(static_cast<const char*>(data.data()), data.size()));
    if (parsed.state == core::HeadParse::complete) {
      deadline_.clear();
      const core::ResponseHead& h = parsed.head;
      head.status = h.status;
      head.event_stream = h.content_type.starts_with("text/event-stream");
      head.retry_after = std::string(h.retry_after);
      head.retry_after_ms = std::string(h.retry_after_ms);
      head.content_encoding = std::string(h.content_encoding);
      keep_alive_ = h.keep_alive;
      if (!h.has_body) {
        body_ = core::HttpBodyDecoder::with_length(0);
      } else if (h.chunked) {
        body_ = core::HttpBodyDecoder::chunked();
      } else if (h.content_length) {
        body_ = core::HttpBodyDecoder::with_length(*h.content_length);
      } else {
        body_ = core::HttpBodyDecoder::until_close();
      }
      head.keep_alive = keep_alive_;
      head.content_length = h.has_body ? h.content_length : std::optional<std::uint64_t>(0);
      likely_more_ = false;
      buffer_.consume(h.head_bytes);
      co_return beast::error_code{};
    }
    if (parsed.state == core::HeadParse::malformed) {
      deadline_.clear();
      co_return beast::error_code(std::string_view(parsed.error).starts_with("bad status")
                                      ? http::error::bad_status
                                      : http::error::bad_field);
    }
    if (buffer_.size() >= kMaxResponseHeadBytes) {
      deadline_.clear();
      co_return beast::error_code(http::error::header_limit);
    }
    beast::error_code ec;
    std::size_t n = 0;
    if (tls_) {
      std::tie(ec, n) = co_await tls_->async_read_some(buffer_.prepare(kHeadReadSize), kAsTuple);
    } else {
      std::tie(ec, n) = co_await plain_->async_read_some(buffer_.prepare(kHeadReadSize), kAsTuple);
    }
    buffer_.commit(n);
    if (ec) {
      deadline_.clear();
      const beast::error_code translated = deadline_.translate(ec);
      // Once any byte of a response has arrived, a failure is a cut answer (partial_message),
      // never the silent close of an idle pooled connection that is worth a retry.
      if (buffer_.size() != 0 && translated != beast::error::timeout)
        co_return http::error::partial_message;
      if (ec == net::error::eof || ec == ssl::error::stream_truncated) {
        // Closed before any byte: a pooled connection the server had dropped, or a cut.
        co_return beast::error_code(http::error::end_of_stream);
      }
      co_return translated;
    }
  }
}

bool UpstreamConnection::decode_buffered(std::string& out) {
  const auto data = buffer_.data();
  const std::size_t used =
      body_.feed(std::string_view(static_cast<const char*>(data.data()), data.size()),
                 [&](std::string_view piece) { out.append(piece); });
  if (body_.failed()) return false;
  buffer_.consume(used);
  // A plain connection reads through the worker's scratch from here on: free the buffer so
  // a connection held by a long stream keeps none.
  if (buffer_.size() == 0 && !tls_) buffer_.shrink_to_fit();
  return true;
}

net::awaitable<beast::error_code> UpstreamConnection::read_body(std::string& out,
                                                                Clock::duration timeout) {
  const std::size_t start = out.size();
  for (;;) {
    if (buffer_.size() != 0) {
      if (!decode_buffered(out)) co_return http::error::bad_chunk;
      if (out.size() > start) co_return beast::error_code{};
    }
    if (body_.done()) co_return beast::error_code{};

    beast::error_code ec;
    if (tls_) {
      std::size_t n = 0;
      deadline_.expires_after(timeout);
      std::tie(ec, n) = co_await tls_->async_read_some(buffer_.prepare(kTlsReadSize), kAsTuple);
      deadline_.clear();
      buffer_.commit(n);
      if (!ec) continue;
      // A server that closes without TLS close_notify ends an until-close body all the same.
      if (ec == ssl::error::stream_truncated) ec = net::error::eof;
    } else {
      // Wait for readiness, then read into the worker's scratch and decode at once: a stream
      // that waits for its next event holds no buffer.
      if (!likely_more_) {
        deadline_.expires_after(timeout);
        auto [wait_ec] = co_await plain_->async_wait(tcp::socket::wait_read, kAsTuple);
        deadline_.clear();
        if (wait_ec) co_return deadline_.translate(wait_ec);
      }
      const std::size_t n = plain_->read_some(net::buffer(scratch_), ec);
      if (ec == net::error::would_block || ec == net::error::try_again) {
        likely_more_ = false;
        continue;
      }
      if (!ec) {
        likely_more_ = n == scratch_.size();
        const std::size_t used = body_.feed(std::string_view(scratch_.data(), n),
                                            [&](std::string_view piece) { out.append(piece); });
        if (body_.failed()) co_return http::error::bad_chunk;
        if (used < n) keep_alive_ = false;  // bytes after the body: the stream is out of step
        if (out.size() > start || body_.done()) co_return beast::error_code{};
        continue;
      }
    }
    if (ec == net::error::eof) {
      keep_alive_ = false;
      co_return body_.on_eof() ? beast::error_code{}
                               : beast::error_code(http::error::partial_message);
    }
    co_return deadline_.translate(ec);
  }
}

net::awaitable<beast::error_code> UpstreamConnection::wait_for_data(Clock::duration timeout) {
  if (buffer_.size() != 0 || likely_more_ || body_.done()) co_return beast::error_code{};
  if (tls_) {
    SSL* ssl = tls_->native_handle();
    if (SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0)
      co_return beast::error_code{};
  }
  wait_deadline_.expires_after(timeout);
  auto [ec] = co_await socket().async_wait(tcp::socket::wait_read, kAsTuple);
  wait_deadline_.clear();
  if (ec) co_return wait_deadline_.translate(ec);
  // Readable: the plain path reads at once rather than waiting for readiness again.
  if (!tls_) likely_more_ = true;
  co_return beast::error_code{};
}

bool UpstreamConnection::has_pending_input() {
  if (buffer_.size() != 0) return true;
  beast::error_code ec;
  return socket().available(ec) > 0 && !ec;
}

void UpstreamConnection::close() {
  beast::error_code ec;
  socket().shutdown(tcp::socket::shutdown_both, ec);
  socket().close(ec);
}

bool UpstreamConnection::looks_alive() {
  if (!socket().is_open()) return false;
  if (buffer_.size() != 0) return false;  // unsolicited bytes: the stream is out of step
  // Checked every time, however fresh the connection: a byte that arrived while nothing was
  // asked (an extra response, the body of a 204 that carried Content-Length, a stray CRLF)
  // would otherwise be read as the answer to the next client's request. nginx and Envoy
  // close such connections too.
  if (tls_) {
    // Bytes OpenSSL already holds, decrypted or not, never show up in a peek at the socket.
    SSL* ssl = tls_->native_handle();
    if (SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) return false;
  }
  char byte;
  const ssize_t r = ::recv(socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // Nothing to read is the healthy state; 0 means the server closed it, data means garbage.
  return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

UpstreamPool::UpstreamPool(net::any_io_executor ex, DeadlineRegistry& deadlines,
                           std::size_t max_idle_per_host)
    : ex_(std::move(ex)), deadlines_(deadlines), max_idle_per_host_(max_idle_per_host) {}

ssl::context& UpstreamPool::tls_context_for(const core::ProviderConfig& provider) {
  auto& slot = tls_contexts_[provider.ca_file];
  if (!slot) {
    slot = std::make_unique<ssl::context>(ssl::context::tls_client);
    slot->set_default_verify_paths();
    if (!provider.ca_file.empty()) slot->load_verify_file(provider.ca_file);
    slot->set_verify_mode(ssl::verify_peer);
  }
  return *slot;
}

net::awaitable<AcquireResult> UpstreamPool::acquire(const adapters::UpstreamEndpoint& endpoint,
                                                    const core::ProviderConfig& provider) {
  AcquireResult result;
  if (auto it = idle_.find(endpoint.pool_key); it != idle_.end()) {
    auto& idle = it->second;
    while (!idle.empty()) {
      std::unique_ptr<UpstreamConnection> conn = std::move(idle.back());
      idle.pop_back();
      if (conn->looks_alive()) {
        conn->reused = true;
        result.connection = std::move(conn);
        co_return result;
      }
    }
  }

  ssl::context* tls_context = nullptr;
  if (endpoint.tls) {
    try {
      tls_context = &tls_context_for(provider);
    } catch (const std::exception& e) {
      result.error_kind = metrics::UpstreamError::tls;
      result.error = std::string("cannot load the provider's CA file: ") + e.what();
      co_return result;
    }
  }
  auto conn = std::make_unique<UpstreamConnection>(ex_, tls_context, endpoint.pool_key, deadlines_,
                                                   scratch_);

  tcp::resolver resolver(ex_);
  auto [rec, results] = co_await resolver.async_resolve(endpoint.host, endpoint.port, kAsTuple);
  if (rec) {
    result.error = "cannot resolve " + endpoint.host + ": " + rec.message();
    co_return result;
  }
  conn->deadline_.expires_after(provider.connect_timeout);
  auto [cec0, ep] = co_await net::async_connect(conn->socket(), results, kAsTuple);
  (void)ep;
  conn->deadline_.clear();
  const beast::error_code cec = conn->deadline_.translate(cec0);
  if (cec) {
    result.error_kind = cec == beast::error::timeout ? metrics::UpstreamError::timeout
                                                     : metrics::UpstreamError::connect;
    result.error =
        "cannot connect to " + endpoint.host + ":" + endpoint.port + ": " + cec.message();
    co_return result;
  }
  beast::error_code opt_ec;
  conn->socket().set_option(tcp::no_delay(true), opt_ec);
  // Reads of the body are tried without blocking after a readiness wait (read_body).
  conn->socket().non_blocking(true, opt_ec);
  if (conn->tls_) {
    auto& stream = *conn->tls_;
    // SNI, and a certificate that must name the host we asked for.
    if (!SSL_set_tlsext_host_name(stream.native_handle(), endpoint.host.c_str())) {
      result.error_kind = metrics::UpstreamError::tls;
      result.error = "cannot set TLS server name for " + endpoint.host;
      co_return result;
    }
    stream.set_verify_callback(ssl::host_name_verification(endpoint.host));
    conn->deadline_.expires_after(provider.connect_timeout);
    auto [hec0] = co_await stream.async_handshake(ssl::stream_base::client, kAsTuple);
    conn->deadline_.clear();
    const beast::error_code hec = conn->deadline_.translate(hec0);
    if (hec) {
      result.error_kind = hec == beast::error::timeout ? metrics::UpstreamError::timeout
                                                       : metrics::UpstreamError::tls;
      result.error = "TLS handshake with " + endpoint.host + " failed: " + hec.message();
      co_return result;
    }
  }
  result.connection = std::move(conn);
  co_return result;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> connection) {
  if (!connection->reusable()) return;  // closes it
  auto& idle = idle_[connection->pool_key()];
  if (idle.size() >= max_idle_per_host_) return;
  idle.push_back(std::move(connection));
}

void UpstreamPool::release(std::unique_ptr<UpstreamLink> link) {
  // A pooled link is owned from here on as the connection it is; the mock's is dropped.
  if (link->pooled() != nullptr)
    release(std::unique_ptr<UpstreamConnection>(link.release()->pooled()));
}

}  // namespace switchyard::proxy
