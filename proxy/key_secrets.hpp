#pragma once
// The secret side of virtual keys: fresh secrets and ids from the OS's random source, and the
// SHA-256 a secret is stored and looked up by. The secret itself is never kept.
#include <string>
#include <string_view>

#include "core/governance.hpp"

namespace switchyard::proxy {

// "sk-sy-" and 256 random bits (getrandom(2)); throws std::runtime_error if the OS has none.
std::string new_key_secret();
// prefix + 16 hex digits (64 random bits): "key_…", "team_…". Not secret, only unique.
std::string new_record_id(std::string_view prefix);
// SHA-256 of the text, with a per-thread digest context: no allocation per call.
core::KeyHash sha256_of(std::string_view text);

}  // namespace switchyard::proxy
