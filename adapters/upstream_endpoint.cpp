#include "adapters/upstream_endpoint.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace switchyard::adapters {

core::Result<UpstreamEndpoint, std::string> parse_endpoint(std::string_view base_url) {
  auto parsed = boost::urls::parse_uri(base_url);
  if (!parsed) return core::fail(std::string("not a valid URL: ") + std::string(base_url));
  const boost::urls::url_view& url = *parsed;
  UpstreamEndpoint ep;
  const std::string scheme = url.scheme();
  if (scheme == "https") {
    ep.tls = true;
  } else if (scheme != "http") {
    return core::fail(std::string("unsupported URL scheme '") + scheme + "'");
  }
  ep.host = url.host();
  if (ep.host.empty()) return core::fail(std::string("URL has no host: ") + std::string(base_url));
  // IPv6 literals come back bracketed from host(); DNS and connect want them bare.
  if (ep.host.front() == '[' && ep.host.back() == ']')
    ep.host = ep.host.substr(1, ep.host.size() - 2);
  const std::string default_port = ep.tls ? "443" : "80";
  ep.port = url.has_port() ? std::string(url.port()) : default_port;
  ep.host_header = std::string(url.encoded_host());
  if (ep.port != default_port) ep.host_header += ":" + ep.port;
  ep.base_path = std::string(url.encoded_path());
  while (!ep.base_path.empty() && ep.base_path.back() == '/') ep.base_path.pop_back();
  ep.pool_key = scheme + "://" + ep.host + ":" + ep.port;
  return ep;
}

}  // namespace switchyard::adapters
