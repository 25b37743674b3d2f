#pragma once

// Small synchronous HTTP/1.1 clients for integration tests, over real TCP to 127.0.0.1. Every
// call has a deadline, so a hung server fails the test instead of hanging it. Beast stays in
// http_client.cpp to keep test translation units light.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::testing {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercased names; repeats joined with ", "
  std::string body;

  // Case-insensitive; "" when absent.
  std::string header(std::string_view name) const;
};

// One request on a fresh connection. Sets content-type: application/json when body is
// non-empty (a header in `headers` overrides it). Throws std::runtime_error on timeout
// (message contains "timed out") or a connection error (message contains "connection").
HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          std::string_view body = {}, const HttpHeaders& headers = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// One keep-alive connection carrying several requests in turn.
class HttpConnection {
 public:
  explicit HttpConnection(std::uint16_t port,
                          std::chrono::milliseconds connect_timeout = std::chrono::seconds(30));
  HttpConnection(HttpConnection&&) noexcept;
  HttpConnection& operator=(HttpConnection&&) noexcept;
  ~HttpConnection();

  // Same contract as http_request. After a failure the connection is closed.
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                       const HttpHeaders& headers = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // False once the server has closed the connection (EOF or reset already received) or after
  // a response that said "connection: close". Never blocks.
  bool is_open();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A response read as it arrives, for SSE streams and tests about timing and disconnects.
class StreamingResponse {
 public:
  // Connects, sends the request and reads the status line and headers; throws (as
  // http_request) if they do not arrive within header_timeout.
  StreamingResponse(std::uint16_t port, std::string_view method, std::string_view target,
                    std::string_view body, const HttpHeaders& headers = {},
                    std::chrono::milliseconds header_timeout = std::chrono::seconds(30));
  StreamingResponse(StreamingResponse&&) noexcept;
  StreamingResponse& operator=(StreamingResponse&&) noexcept;
  ~StreamingResponse();

  int status() const;
  std::string header(std::string_view name) const;  // case-insensitive; "" when absent

  // The next decoded body bytes (chunked framing removed) as soon as some arrive; nullopt once
  // the body has ended properly. Throws std::runtime_error whose message says "timed out" when
  // nothing arrives within timeout, or "connection broken" when the connection ends before the
  // body does.
  std::optional<std::string> next_piece(std::chrono::milliseconds timeout);
  // Every remaining body byte until the body ends; throws like next_piece (timeout per read).
  std::string read_all(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Walks away mid-response the way a client closing a tab does: FIN, not RST (unread input is
  // drained first, since closing with unread data would make the kernel send RST).
  void close_abruptly();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sends `bytes` verbatim and returns everything received until the server closes the
// connection or the timeout passes (for malformed-HTTP tests). Throws if it cannot connect.
std::string raw_exchange(std::uint16_t port, std::string_view bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace switchyard::testing
