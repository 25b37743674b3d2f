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
#include "core/http_body_decoder.hpp"
#include "metrics/metrics.hpp"
#include "proxy/deadline.hpp"
#include "proxy/net.hpp"
#include "proxy/upstream_link.hpp"

namespace switchyard::proxy {

class UpstreamConnection final : public UpstreamLink {
 public:
  // `scratch` is the worker's read buffer, used only between a read and the decoding of
  // what it returned (never across a suspension), so held streams own no read buffer.
  UpstreamConnection(const net::any_io_executor& ex, ssl::context* tls_context,
                     std::string pool_key, DeadlineRegistry& deadlines, std::vector<char>& scratch);

  bool tls() const { return tls_ != nullptr; }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  const std::string& pool_key() const { return pool_key_; }
  // Sends a request whose head is already formatted, followed by its body, in one gather write.
  net::awaitable<beast::error_code> write(std::string_view head, std::string_view body,
                                          Clock::duration timeout) override;
  // Reads the response head and sets up the decoding of its body.
  net::awaitable<beast::error_code> read_head(UpstreamResponseHead& head,
                                              Clock::duration timeout) override;
  // Appends the body bytes that arrive next (transfer framing removed) to `out`, waiting up
  // to `timeout` for them. Returns with nothing appended only when the body is complete.
  net::awaitable<beast::error_code> read_body(std::string& out, Clock::duration timeout) override;
  bool body_done() const override { return body_.done(); }
  // Waits up to `timeout` for body bytes to arrive, consuming none: returns no error when
  // they are here (or already buffered), beast::error::timeout after a silence, after which
  // the connection is as good as before (the wait is cancelled, no read was in progress).
  // Lets a caller break a long silence into steps without cutting a TLS record in half.
  net::awaitable<beast::error_code> wait_for_data(Clock::duration timeout) override;

  // True when response bytes are already here (buffered or waiting in the socket), so a
  // read would complete at once.
  bool has_pending_input() override;
  // Closes the socket: pending operations complete with an error. Used to cancel.
  void close() override;
  UpstreamConnection* pooled() override { return this; }
  // Whether an idle connection may carry a request: the server has not closed it and sent
  // nothing while it was idle (one peek at the socket).
  bool looks_alive();
  // Whether this connection can carry another request: the last response was read to its
  // end, the server allows keep-alive, and nothing unexpected followed the body.
  bool reusable() const { return keep_alive_ && body_.done() && buffer_.size() == 0; }

 private:
  friend class UpstreamPool;
  // Decodes what is buffered into `out`; false when the framing is malformed.
  bool decode_buffered(std::string& out);

  std::optional<tcp::socket> plain_;
  // On the heap: an SSL stream object is large, and most local upstreams are plain.
  std::unique_ptr<ssl::stream<tcp::socket>> tls_;
  beast::flat_buffer buffer_;  // the head's bytes and, on TLS, decrypted body bytes
  std::vector<char>& scratch_;
  core::HttpBodyDecoder body_ = core::HttpBodyDecoder::with_length(0);
  bool keep_alive_ = false;
  // Set after a read that filled the scratch buffer: more is probably waiting, so the next
  // read is tried at once instead of waiting for readiness first.
  bool likely_more_ = false;
  std::string pool_key_;
  Deadline deadline_;       // fires by closing the connection: a timed-out read ends it
  Deadline wait_deadline_;  // fires by cancelling wait_for_data's wait
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
  // Takes back a connection; keeps it for reuse when reusable(), else closes it.
  void release(std::unique_ptr<UpstreamConnection> connection);
  // The same for a link: a pooled connection goes back, the in-process mock's is dropped.
  void release(std::unique_ptr<UpstreamLink> link);

 private:
  ssl::context& tls_context_for(const core::ProviderConfig& provider);

  net::any_io_executor ex_;
  DeadlineRegistry& deadlines_;
  std::size_t max_idle_per_host_;
  std::vector<char> scratch_ = std::vector<char>(std::size_t{64} * 1024);
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
  std::unordered_map<std::string, std::unique_ptr<ssl::context>> tls_contexts_;  // by ca_file
};

}  // namespace switchyard::proxy
