#include "adapters/azure.hpp"

namespace switchyard::adapters {

std::string azure_path(std::string_view deployment, std::string_view operation,
                       std::string_view api_version) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string path = "/openai/deployments/";
  for (char c : deployment) {
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      path += c;
    } else {
      path += '%';
      path += kHex[u >> 4];
      path += kHex[u & 0xf];
    }
  }
  path += '/';
  path += operation;
  path += "?api-version=";
  path += api_version;  // the config allows only letters, digits, '_', '.', '-'
  return path;
}

}  // namespace switchyard::adapters
