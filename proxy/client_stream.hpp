#pragma once
// A client connection's byte stream: the TCP socket itself, or TLS over it when the
// listener has `tls:` (listener_tls.hpp). It is an AsyncReadStream and AsyncWriteStream, so
// Beast's http::async_read and net::async_write work on it unchanged. Each read or write is
// one predictable branch to the socket's own operation: the plain path allocates nothing more
// and starts no coroutine of its own. The TLS layer is on the heap, so a plain connection
// carries one null pointer for it.
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "proxy/net.hpp"

namespace switchyard::proxy {

class ClientStream {
 public:
  using executor_type = tcp::socket::executor_type;

  explicit ClientStream(tcp::socket socket) : socket_(std::move(socket)) {}
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  // The TCP socket under any TLS: for cancelling, closing, and the client watch's readiness
  // wait (on TLS the bytes it sees are records, which it rightly takes for "still here").
  tcp::socket& socket() noexcept { return socket_; }

  // From now on the stream speaks TLS with `context` (kept alive with the connection, so a
  // reload that replaces the route table does not pull it from under a kept-alive client).
  // async_handshake must come next.
  void start_tls(std::shared_ptr<ssl::context> context) {
    tls_ = std::make_unique<Tls>(socket_, std::move(context));
  }
  bool is_tls() const noexcept { return tls_ != nullptr; }

  template <class Token>
  auto async_handshake(Token&& token) {
    return tls_->stream.async_handshake(ssl::stream_base::server, std::forward<Token>(token));
  }
  // The protocol ALPN agreed on ("http/1.1"), empty without ALPN or TLS.
  std::string_view alpn() const {
    if (!tls_) return {};
    const unsigned char* data = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(tls_->stream.native_handle(), &data, &length);
    return {reinterpret_cast<const char*>(data), length};
  }

  // Sends TLS's close_notify and completes once it is written, without waiting for the
  // client's: Asio's shutdown would read until the client answered with its own, which an
  // idle keep-alive client may never do. The peer's is marked as received, so OpenSSL writes
  // ours and reports the shutdown complete. Only after a completed handshake.
  template <class Token>
  auto async_send_close_notify(Token&& token) {
    SSL* ssl = tls_->stream.native_handle();
    SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
    return tls_->stream.async_shutdown(std::forward<Token>(token));
  }

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return net::async_initiate<Token, void(beast::error_code, std::size_t)>(ReadSome{this}, token,
                                                                            buffers);
  }
  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return net::async_initiate<Token, void(beast::error_code, std::size_t)>(WriteSome{this}, token,
                                                                            buffers);
  }

 private:
  // Up to one TLS record's worth of several buffers is copied into one write.
  static constexpr std::size_t kCoalesceBytes = std::size_t{16} * 1024;

  struct Tls {
    Tls(tcp::socket& socket, std::shared_ptr<ssl::context> ctx)
        : context(std::move(ctx)), stream(socket, *context) {}

    // A response's head and body, or a chunk's size line, data and CRLF, are several buffers,
    // and Asio's TLS stream writes only the first buffer of a sequence per call: a record and
    // a syscall each. Small sequences go out as one record instead. A write of part of the
    // copy reports that many bytes of the sequence, as async_write_some may.
    template <class Handler, class Buffers>
    void async_write_some(const Buffers& buffers, Handler&& handler) {
      std::size_t total = 0;
      std::size_t pieces = 0;
      for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
           ++it) {
        const std::size_t size = net::const_buffer(*it).size();
        total += size;
        pieces += size != 0 ? 1 : 0;
      }
      if (pieces > 1 && total <= kCoalesceBytes) {
        coalesced.resize(total);
        net::buffer_copy(net::buffer(coalesced), buffers);
        stream.async_write_some(net::buffer(coalesced), std::forward<Handler>(handler));
      } else {
        stream.async_write_some(buffers, std::forward<Handler>(handler));
      }
    }

    std::shared_ptr<ssl::context> context;
    ssl::stream<tcp::socket&> stream;
    std::string coalesced;  // one write's copy; a session writes one thing at a time
  };

  // The initiations hand the caller's completion handler straight to the chosen layer.
  struct ReadSome {
    ClientStream* self;
    template <class Handler, class Buffers>
    void operator()(Handler&& handler, const Buffers& buffers) const {
      if (self->tls_)
        self->tls_->stream.async_read_some(buffers, std::forward<Handler>(handler));
      else
        self->socket_.async_read_some(buffers, std::forward<Handler>(handler));
    }
  };
  struct WriteSome {
    ClientStream* self;
    template <class Handler, class Buffers>
    void operator()(Handler&& handler, const Buffers& buffers) const {
      if (self->tls_)
        self->tls_->async_write_some(buffers, std::forward<Handler>(handler));
      else
        self->socket_.async_write_some(buffers, std::forward<Handler>(handler));
    }
  };

  tcp::socket socket_;
  std::unique_ptr<Tls> tls_;
};

}  // namespace switchyard::proxy
