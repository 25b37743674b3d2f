#include "proxy/config_file.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "proxy/key_secrets.hpp"

namespace switchyard::proxy {
namespace {

std::optional<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(content).str();
}

std::string short_hash(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const core::KeyHash digest = sha256_of(text);
  std::string out;
  for (std::size_t i = 0; i < 8; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace

std::string ConfigLoadFailure::summary(const std::string& path) const {
  if (unreadable) return "cannot read config file " + path;
  return std::to_string(errors.size()) + " error(s) in " + path;
}

core::Result<LoadedConfig, ConfigLoadFailure> load_config_file(const std::string& path) {
  const std::optional<std::string> text = read_whole_file(path);
  if (!text) return core::fail(ConfigLoadFailure{true, {}});
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
  };
  auto parsed = core::parse_config(*text, path, env, read_whole_file);
  if (!parsed) {
    ConfigLoadFailure failure;
    for (const auto& e : parsed.error()) failure.errors.push_back(e.to_string());
    return core::fail(std::move(failure));
  }
  return LoadedConfig{std::move(parsed.value()), short_hash(*text)};
}

std::optional<ListenAddress> parse_listen(const std::string& value) {
  const auto colon = value.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  ListenAddress out;
  out.host = value.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  const std::string digits = value.substr(colon + 1);
  if (out.host.empty() || digits.empty() || digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  const unsigned long p = std::stoul(digits);
  if (p > 65535) return std::nullopt;
  out.port = static_cast<std::uint16_t>(p);
  return out;
}

}  // namespace switchyard::proxy
