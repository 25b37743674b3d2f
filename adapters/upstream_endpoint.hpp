#pragma once
// Where a provider lives, parsed once at start-up from its base_url.
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace switchyard::adapters {

struct UpstreamEndpoint {
  bool tls = false;
  std::string host;         // for DNS, SNI and certificate checks
  std::string port;         // numeric string
  std::string base_path;    // e.g. "/v1", never ending in '/'
  std::string host_header;  // host, or host:port when the port is not the scheme's default
  std::string pool_key;     // "https://host:port": connections are pooled per key
};

core::Result<UpstreamEndpoint, std::string> parse_endpoint(std::string_view base_url);

}  // namespace switchyard::adapters
