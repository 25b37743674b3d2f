#include "proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>

namespace switchyard::proxy {
namespace {
constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
}  // namespace

UpstreamConnection::UpstreamConnection(net::any_io_executor ex, ssl::context* tls_context,
                                       std::string pool_key, DeadlineRegistry& deadlines)
    : pool_key_(std::move(pool_key)), deadline_(deadlines, [this] { close(); }) {
  if (tls_context != nullptr) {
    tls_.emplace(ex, *tls_context);
  } else {
    plain_.emplace(ex);
  }
}

beast::tcp_stream& UpstreamConnection::tcp() { return tls_ ? tls_->next_layer() : *plain_; }

net::awaitable<beast::error_code> UpstreamConnection::write(std::string_view head,
                                                            std::string_view body,
                                                            Clock::duration timeout) {
  deadline_.expires_after(timeout);
  const std::array<net::const_buffer, 2> buffers{net::buffer(head.data(), head.size()),
                                                 net::buffer(body.data(), body.size())};
  auto [ec, n] = tls_ ? co_await net::async_write(*tls_, buffers, kAsTuple)
                      : co_await net::async_write(*plain_, buffers, kAsTuple);
  (void)n;
  deadline_.clear();
  co_return deadline_.translate(ec);
}

net::awaitable<beast::error_code> UpstreamConnection::read_header(ResponseParser& parser,
                                                                  Clock::duration timeout) {
  deadline_.expires_after(timeout);
  auto [ec, n] = tls_ ? co_await http::async_read_header(*tls_, buffer_, parser, kAsTuple)
                      : co_await http::async_read_header(*plain_, buffer_, parser, kAsTuple);
  (void)n;
  deadline_.clear();
  co_return deadline_.translate(ec);
}

net::awaitable<std::pair<beast::error_code, std::size_t>> UpstreamConnection::read_some(
    ResponseParser& parser, char* data, std::size_t size, Clock::duration timeout) {
  parser.get().body().data = data;
  parser.get().body().size = size;
  deadline_.expires_after(timeout);
  auto [ec, n] = tls_ ? co_await http::async_read_some(*tls_, buffer_, parser, kAsTuple)
                      : co_await http::async_read_some(*plain_, buffer_, parser, kAsTuple);
  (void)n;
  deadline_.clear();
  ec = deadline_.translate(ec);
  // need_buffer only says our buffer filled up; the bytes in it are good.
  if (ec == http::error::need_buffer) ec = {};
  co_return std::pair{ec, size - parser.get().body().size};
}

bool UpstreamConnection::has_pending_input() {
  if (buffer_.size() != 0) return true;
  beast::error_code ec;
  return tcp().socket().available(ec) > 0 && !ec;
}

void UpstreamConnection::close() {
  beast::error_code ec;
  tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
  tcp().close();
}

bool UpstreamConnection::looks_alive() {
  if (!tcp().socket().is_open()) return false;
  if (buffer_.size() != 0) return false;  // unsolicited bytes: the stream is out of step
  // Fresh from a response: skip the syscall. Should the server have closed it meanwhile, the
  // request fails before any response byte and is retried once on a new connection.
  if (Clock::now() - idle_since_ < std::chrono::seconds(2)) return true;
  char byte;
  const ssize_t r = ::recv(tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
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
  auto conn = std::make_unique<UpstreamConnection>(ex_, tls_context, endpoint.pool_key, deadlines_);

  tcp::resolver resolver(ex_);
  auto [rec, results] =
      co_await resolver.async_resolve(endpoint.host, endpoint.port, kAsTuple);
  if (rec) {
    result.error = "cannot resolve " + endpoint.host + ": " + rec.message();
    co_return result;
  }
  conn->deadline_.expires_after(provider.connect_timeout);
  auto [cec0, ep] = co_await conn->tcp().async_connect(results, kAsTuple);
  (void)ep;
  conn->deadline_.clear();
  const beast::error_code cec = conn->deadline_.translate(cec0);
  if (cec) {
    result.error_kind =
        cec == beast::error::timeout ? metrics::UpstreamError::timeout : metrics::UpstreamError::connect;
    result.error = "cannot connect to " + endpoint.host + ":" + endpoint.port + ": " + cec.message();
    co_return result;
  }
  conn->tcp().socket().set_option(tcp::no_delay(true));
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
  auto& idle = idle_[connection->pool_key()];
  if (idle.size() >= max_idle_per_host_) return;  // closes it
  connection->idle_since_ = Clock::now();
  idle.push_back(std::move(connection));
}

}  // namespace switchyard::proxy
