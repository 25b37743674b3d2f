#include "tests/support/http_client.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <limits>
#include <stdexcept>

namespace switchyard::testing {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <class Fields>
std::map<std::string, std::string> collect_headers(const Fields& fields) {
  std::map<std::string, std::string> out;
  for (const auto& field : fields) {
    auto [it, inserted] = out.emplace(lowercase(field.name_string()), std::string(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second += field.value();
    }
  }
  return out;
}

std::string find_header(const std::map<std::string, std::string>& headers, std::string_view name) {
  auto it = headers.find(lowercase(name));
  return it == headers.end() ? std::string() : it->second;
}

// The messages promised in the header: "timed out" or "connection ...".
[[noreturn]] void fail(const std::string& what, beast::error_code ec) {
  if (ec == beast::error::timeout) throw std::runtime_error(what + ": timed out");
  throw std::runtime_error(what + ": connection error: " + ec.message());
}

// A socket driven by a private io_context: each call starts one asynchronous operation and runs
// the context until it completes. The tcp_stream's expiry is what turns a silent server into
// beast::error::timeout (and closes the socket).
struct Connection {
  net::io_context ioc{1};
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::uint16_t port = 0;

  template <class Initiate>
  beast::error_code run(Initiate&& initiate) {
    beast::error_code result;
    initiate([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  void connect(std::uint16_t to, Clock::time_point deadline) {
    port = to;
    stream.expires_at(deadline);
    const tcp::endpoint endpoint(net::ip::address_v4::loopback(), port);
    if (auto ec = run([&](auto handler) { stream.async_connect(endpoint, std::move(handler)); })) {
      fail("connect to 127.0.0.1:" + std::to_string(port), ec);
    }
  }

  void send(std::string_view method, std::string_view target, std::string_view body,
            const HttpHeaders& headers, Clock::time_point deadline) {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    req.set(http::field::user_agent, "switchyard-tests");
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = std::string(body);
    req.prepare_payload();
    stream.expires_at(deadline);
    if (auto ec = run([&](auto handler) { http::async_write(stream, req, std::move(handler)); })) {
      fail(describe(method, target) + ": sending the request", ec);
    }
  }

  HttpResponse receive(std::string_view method, std::string_view target, Clock::time_point deadline,
                       bool& keep_alive) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (method == "HEAD") parser.skip(true);
    stream.expires_at(deadline);
    if (auto ec = run([&](auto h) { http::async_read(stream, buffer, parser, std::move(h)); })) {
      fail(describe(method, target) + ": reading the response", ec);
    }
    auto& res = parser.get();
    keep_alive = res.keep_alive();
    return HttpResponse{static_cast<int>(res.result_int()), collect_headers(res),
                        std::move(res.body())};
  }

  std::string describe(std::string_view method, std::string_view target) const {
    return std::string(method) + " 127.0.0.1:" + std::to_string(port) + std::string(target);
  }

  void close() {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
  }
};

}  // namespace

std::string HttpResponse::header(std::string_view name) const { return find_header(headers, name); }

// ---------------------------------------------------------------------------------------------

struct HttpConnection::Impl {
  Connection connection;
  bool closed = false;
};

HttpConnection::HttpConnection(std::uint16_t port, std::chrono::milliseconds connect_timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->connection.connect(port, Clock::now() + connect_timeout);
}

HttpConnection::HttpConnection(HttpConnection&&) noexcept = default;
HttpConnection& HttpConnection::operator=(HttpConnection&&) noexcept = default;
HttpConnection::~HttpConnection() = default;

HttpResponse HttpConnection::request(std::string_view method, std::string_view target,
                                     std::string_view body, const HttpHeaders& headers,
                                     std::chrono::milliseconds timeout) {
  Impl& impl = *impl_;
  if (impl.closed) {
    throw std::runtime_error(impl.connection.describe(method, target) +
                             ": connection already closed");
  }
  const auto deadline = Clock::now() + timeout;
  try {
    impl.connection.send(method, target, body, headers, deadline);
    bool keep_alive = false;
    HttpResponse response = impl.connection.receive(method, target, deadline, keep_alive);
    if (!keep_alive) {
      impl.connection.close();
      impl.closed = true;
    }
    return response;
  } catch (...) {
    impl.connection.close();
    impl.closed = true;
    throw;
  }
}

bool HttpConnection::is_open() {
  Impl& impl = *impl_;
  auto& socket = impl.connection.stream.socket();
  if (impl.closed || !socket.is_open()) return false;
  // Readable with nothing to read means EOF; an error means reset. Peeking consumes nothing.
  pollfd fd{socket.native_handle(), POLLIN, 0};
  if (::poll(&fd, 1, 0) <= 0) return true;
  char byte;
  const ssize_t n = ::recv(fd.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) return true;
  return false;
}

HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          std::string_view body, const HttpHeaders& headers,
                          std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Connection connection;
  connection.connect(port, deadline);
  connection.send(method, target, body, headers, deadline);
  bool keep_alive = false;
  HttpResponse response = connection.receive(method, target, deadline, keep_alive);
  connection.close();
  return response;
}

// ---------------------------------------------------------------------------------------------

struct StreamingResponse::Impl {
  Connection connection;
  http::response_parser<http::buffer_body> parser;
  std::string description;
  int status = 0;
  std::map<std::string, std::string> headers;
  bool finished = false;
};

StreamingResponse::StreamingResponse(std::uint16_t port, std::string_view method,
                                     std::string_view target, std::string_view body,
                                     const HttpHeaders& headers,
                                     std::chrono::milliseconds header_timeout)
    : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  const auto deadline = Clock::now() + header_timeout;
  impl.connection.connect(port, deadline);
  impl.description = impl.connection.describe(method, target);
  impl.connection.send(method, target, body, headers, deadline);
  impl.parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  auto& c = impl.connection;
  if (auto ec = c.run([&](auto h) {
        http::async_read_header(c.stream, c.buffer, impl.parser, std::move(h));
      })) {
    fail(impl.description + ": reading the response header", ec);
  }
  impl.status = static_cast<int>(impl.parser.get().result_int());
  impl.headers = collect_headers(impl.parser.get());
}

StreamingResponse::StreamingResponse(StreamingResponse&&) noexcept = default;
StreamingResponse& StreamingResponse::operator=(StreamingResponse&&) noexcept = default;
StreamingResponse::~StreamingResponse() = default;

int StreamingResponse::status() const { return impl_->status; }

std::string StreamingResponse::header(std::string_view name) const {
  return find_header(impl_->headers, name);
}

std::optional<std::string> StreamingResponse::next_piece(std::chrono::milliseconds timeout) {
  Impl& impl = *impl_;
  auto& c = impl.connection;
  c.stream.expires_after(timeout);
  char chunk[16 * 1024];
  // A read may only consume framing (a chunk-size line), so keep reading until body bytes
  // arrive or the body ends.
  while (!impl.parser.is_done()) {
    auto& body = impl.parser.get().body();
    body.data = chunk;
    body.size = sizeof chunk;
    auto ec = c.run(
        [&](auto h) { http::async_read_some(c.stream, c.buffer, impl.parser, std::move(h)); });
    if (ec == http::error::need_buffer) ec = {};
    if (ec == beast::error::timeout) {
      throw std::runtime_error(impl.description + ": timed out after " +
                               std::to_string(timeout.count()) + " ms waiting for body bytes");
    }
    if (ec) {
      throw std::runtime_error(impl.description +
                               ": connection broken before the end of the body: " + ec.message());
    }
    const std::size_t n = sizeof chunk - impl.parser.get().body().size;
    if (n > 0) return std::string(chunk, n);
  }
  return std::nullopt;
}

std::string StreamingResponse::read_all(std::chrono::milliseconds timeout) {
  std::string all;
  while (auto piece = next_piece(timeout)) all += *piece;
  return all;
}

void StreamingResponse::close_abruptly() {
  auto& socket = impl_->connection.stream.socket();
  if (!socket.is_open()) return;
  char sink[4096];
  while (::recv(socket.native_handle(), sink, sizeof sink, MSG_DONTWAIT) > 0) {
  }
  impl_->connection.close();
}

// ---------------------------------------------------------------------------------------------

std::string raw_exchange(std::uint16_t port, std::string_view bytes,
                         std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Connection c;
  c.connect(port, deadline);
  c.stream.expires_at(deadline);
  // A write error just means the server closed early; whatever it said is still worth reading.
  c.run([&](auto h) { net::async_write(c.stream, net::buffer(bytes), std::move(h)); });
  std::string received;
  char chunk[16 * 1024];
  for (;;) {
    std::size_t got = 0;
    c.stream.expires_at(deadline);
    auto ec = c.run([&](auto h) {
      c.stream.async_read_some(
          net::buffer(chunk), [&got, h = std::move(h)](beast::error_code e, std::size_t n) mutable {
            got = n;
            h(e);
          });
    });
    received.append(chunk, got);
    if (ec) break;
  }
  c.close();
  return received;
}

}  // namespace switchyard::testing
