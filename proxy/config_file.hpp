#pragma once
// Reading the config file, at start-up and at each reload: the file and the files it names
// (prices_file) are read here, the environment is looked up here, and core/config parses
// and validates the text.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"

namespace switchyard::proxy {

struct LoadedConfig {
  core::Config config;
  // The first 16 hex digits of the SHA-256 of the file's text (not of the files it names,
  // nor of the environment it reads): what switchyard_config_info{hash} shows.
  std::string hash;
};

// Why a config did not load: "file:line: message" for each error, or that the file cannot be
// read (then `errors` is empty).
struct ConfigLoadFailure {
  bool unreadable = false;
  std::vector<std::string> errors;
  std::string summary(const std::string& path) const;  // "N error(s) in PATH" or "cannot read ..."
};

// The validated config, or why not.
core::Result<LoadedConfig, ConfigLoadFailure> load_config_file(const std::string& path);

// The --listen override, HOST:PORT ("[::1]:8080" for IPv6); nullopt when malformed.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};
std::optional<ListenAddress> parse_listen(const std::string& value);

}  // namespace switchyard::proxy
