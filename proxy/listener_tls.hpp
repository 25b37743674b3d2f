#pragma once
// The OpenSSL server context of the client-facing listener (`tls:` in the config): TLS 1.2
// and up, OpenSSL's default cipher lists, the certificate chain and key the config names,
// and ALPN that agrees on http/1.1 only. Built with each route table, so a reload re-reads
// the files (certificate rotation) and connections accepted from then on present the new
// certificate; connections already open keep the context they started with.
#include <memory>

#include "core/config.hpp"
#include "proxy/net.hpp"

namespace switchyard::proxy {

// Throws std::runtime_error naming the file that cannot be read or used (a missing file, a
// certificate that is not PEM, a key that does not match the certificate). The message
// never quotes the files' contents.
std::shared_ptr<ssl::context> make_listener_tls_context(const core::ListenerTls& tls);

}  // namespace switchyard::proxy
