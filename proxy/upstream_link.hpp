#pragma once
// The transport one attempt talks to: a pooled socket to a provider (UpstreamConnection) or
// the in-process mock (MockLink). The attempt sees only this, so the mock is a target like
// any other and goes through the same relays, retries and failover.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/net.hpp"

namespace switchyard::proxy {

class UpstreamConnection;

// What the gateway needs from an upstream response head; the body is read separately.
struct UpstreamResponseHead {
  int status = 0;
  bool event_stream = false;  // Content-Type: text/event-stream
  bool keep_alive = false;
  std::string retry_after;                      // as sent: seconds or an HTTP date
  std::string retry_after_ms;                   // OpenAI's and Azure's retry-after-ms
  std::string content_encoding;                 // empty when the upstream sent none
  std::optional<std::uint64_t> content_length;  // when the body's length is known up front
};

class UpstreamLink {
 public:
  virtual ~UpstreamLink() = default;
  UpstreamLink() = default;
  UpstreamLink(const UpstreamLink&) = delete;
  UpstreamLink& operator=(const UpstreamLink&) = delete;

  // Sends a request whose head is already formatted, followed by its body.
  virtual net::awaitable<beast::error_code> write(std::string_view head, std::string_view body,
                                                  Clock::duration timeout) = 0;
  // Reads the response head and sets up the decoding of its body.
  virtual net::awaitable<beast::error_code> read_head(UpstreamResponseHead& head,
                                                      Clock::duration timeout) = 0;
  // Appends the body bytes that arrive next to `out`, waiting up to `timeout` for them.
  // Returns with nothing appended only when the body is complete.
  virtual net::awaitable<beast::error_code> read_body(std::string& out,
                                                      Clock::duration timeout) = 0;
  virtual bool body_done() const = 0;
  // Waits up to `timeout` for body bytes, consuming none: no error when they are here,
  // beast::error::timeout after a silence, after which the link is as good as before.
  virtual net::awaitable<beast::error_code> wait_for_data(Clock::duration timeout) = 0;
  // True when response bytes are already here, so a read would complete at once.
  virtual bool has_pending_input() = 0;
  // Ends the exchange at once: pending operations complete with an error. Used to cancel.
  virtual void close() = 0;
  // The pooled socket behind this link, for the pool to take back; nullptr for the mock.
  virtual UpstreamConnection* pooled() { return nullptr; }

  // True when the link came out of the idle pool: the server may have closed it meanwhile,
  // so a failure before any response byte is worth one more try on a new one.
  bool reused = false;
};

}  // namespace switchyard::proxy
