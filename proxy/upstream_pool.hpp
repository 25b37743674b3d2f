#pragma once
// Connections to upstream providers: plain TCP or TLS (verified against the system store,
// with SNI), kept alive and reused per worker thread. Nothing here is shared across threads.
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "adapters/upstream_endpoint.hpp"
#include "core/config.hpp"
#include "metrics/metrics.hpp"
#include "proxy/deadline.hpp"
#include "proxy/net.hpp"

namespace switchyard::proxy {

class UpstreamConnection {
 public:
  using ResponseParser = http::response_parser<http::buffer_body>;

  UpstreamConnection(net::any_io_executor ex, ssl::context* tls_context, std::string pool_key,
                     DeadlineRegistry& deadlines);

  bool tls() const { return tls_.has_value(); }
  beast::tcp_stream& tcp();
  const std::string& pool_key() const { return pool_key_; }
  // True when the connection came out of the idle pool: the server may have closed it
  // meanwhile, so a failure before any response byte is worth one retry on a new one.
  bool reused = false;

  // Sends a request whose head is already formatted, followed by its body, in one gather write.
  net::awaitable<beast::error_code> write(std::string_view head, std::string_view body,
                                          Clock::duration timeout);
  net::awaitable<beast::error_code> read_header(ResponseParser& parser, Clock::duration timeout);
  // Reads what is available of the body into [data, data+size); returns the byte count.
  net::awaitable<std::pair<beast::error_code, std::size_t>> read_some(
      ResponseParser& parser, char* data, std::size_t size, Clock::duration timeout);

  // True when response bytes are already here (buffered or waiting in the socket), so a
  // read would complete at once.
  bool has_pending_input();
  // Closes the socket: pending operations complete with an error. Used to cancel.
  void close();
  // Cheap check that an idle connection was not closed by the server.
  bool looks_alive();

 private:
  friend class UpstreamPool;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
  std::string pool_key_;
  Deadline deadline_;
  Clock::time_point idle_since_{};
};

struct AcquireResult {
  std::unique_ptr<UpstreamConnection> connection;  // null on failure
  metrics::UpstreamError error_kind = metrics::UpstreamError::connect;
  std::string error;  // for logs and the client's message; never holds a secret
};

class UpstreamPool {
 public:
  UpstreamPool(net::any_io_executor ex, DeadlineRegistry& deadlines,
               std::size_t max_idle_per_host = 256);

  // An idle live connection when there is one, else a new connection (resolve, connect,
  // TLS handshake) bounded by the provider's connect timeout.
  net::awaitable<AcquireResult> acquire(const adapters::UpstreamEndpoint& endpoint,
                                        const core::ProviderConfig& provider);
  // Returns a connection whose last response was read completely and allows keep-alive.
  void release(std::unique_ptr<UpstreamConnection> connection);

 private:
  ssl::context& tls_context_for(const core::ProviderConfig& provider);

  net::any_io_executor ex_;
  DeadlineRegistry& deadlines_;
  std::size_t max_idle_per_host_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
  std::unordered_map<std::string, std::unique_ptr<ssl::context>> tls_contexts_;  // by ca_file
};

}  // namespace switchyard::proxy
