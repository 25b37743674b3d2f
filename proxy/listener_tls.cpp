#include "proxy/listener_tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <stdexcept>
#include <string_view>

namespace switchyard::proxy {
namespace {

// OpenSSL's reason for the last failure ("no such file", "key values mismatch"): the
// library's words about the file, never its bytes.
std::string openssl_reason(const beast::error_code& ec) {
  std::string reason = ec.message();
  // Asio's message for an SSL error can be empty or just "error:..." codes; the reason
  // string is what an operator can act on.
  if (const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) reason = r;
  ERR_clear_error();
  return reason;
}

// Server-side ALPN: agree on http/1.1 when the client offers it. A client that offers ALPN
// without http/1.1 (h2 only, say) is refused with the no_application_protocol alert, as
// RFC 7301 §3.2 asks and nginx does: it would otherwise speak a protocol this server does not.
// A client that offers no ALPN at all is served HTTP/1.1 as usual (the callback is not called).
int select_http11(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                  const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  static constexpr unsigned char kHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};
  // `in` is the client's list in wire format: a length byte, then that many bytes, repeated.
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int length = in[i];
    if (i + 1 + length > inlen) break;
    if (length == sizeof kHttp11 && std::memcmp(in + i + 1, kHttp11, sizeof kHttp11) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

std::shared_ptr<ssl::context> make_listener_tls_context(const core::ListenerTls& tls) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  // TLS 1.2 is the floor; 1.3 is preferred when the client has it. Renegotiation is off
  // (a client-initiated renegotiation costs the server a handshake for each request of it).
  SSL_CTX* handle = context->native_handle();
  if (SSL_CTX_set_min_proto_version(handle, TLS1_2_VERSION) != 1)
    throw std::runtime_error("tls: OpenSSL refused TLS 1.2 as the minimum version");
  context->set_options(ssl::context::default_workarounds | ssl::context::single_dh_use |
                       SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  beast::error_code ec;
  context->use_certificate_chain_file(tls.cert_file, ec);
  if (ec)
    throw std::runtime_error("tls: cannot use the certificate chain in " + tls.cert_file + ": " +
                             openssl_reason(ec));
  context->use_private_key_file(tls.key_file, ssl::context::pem, ec);
  if (ec)
    throw std::runtime_error("tls: cannot use the private key in " + tls.key_file + ": " +
                             openssl_reason(ec));
  if (SSL_CTX_check_private_key(handle) != 1) {
    ERR_clear_error();
    throw std::runtime_error("tls: the private key in " + tls.key_file +
                             " does not match the certificate in " + tls.cert_file);
  }
  SSL_CTX_set_alpn_select_cb(handle, select_http11, nullptr);
  // An idle connection (a stream waiting on its upstream, a keep-alive between requests)
  // gives its record buffers back: 10,000 held streams would otherwise keep ~34 KiB each.
  SSL_CTX_set_mode(handle, SSL_MODE_RELEASE_BUFFERS);
  return context;
}

}  // namespace switchyard::proxy
