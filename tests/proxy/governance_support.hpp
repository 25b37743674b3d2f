#pragma once
// What the governance tests share: a gateway with a governance section, the key header, and
// keys and teams put straight into a store before a gateway starts.
#include <openssl/evp.h>

#include <chrono>
#include <string>
#include <string_view>

#include "core/governance.hpp"
#include "tests/proxy/gateway_fixture.hpp"

namespace switchyard::testing {

inline core::WallTime now_wall() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

inline core::KeyHash sha256(std::string_view text) {
  core::KeyHash out{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr);
  return out;
}

// A client key for `secret`, as the admin API would have stored it.
inline core::KeyRecord key_record(std::string id, std::string_view secret,
                                  std::string team_id = {}) {
  core::KeyRecord k;
  k.id = std::move(id);
  k.hash = sha256(secret);
  k.hint = core::key_hint(secret);
  k.team_id = std::move(team_id);
  k.created = now_wall();
  return k;
}

inline core::TeamRecord team_record(std::string id, std::string name) {
  core::TeamRecord t;
  t.id = std::move(id);
  t.name = std::move(name);
  t.created = now_wall();
  return t;
}

// A gateway with a master key, its store in the scratch directory, ledger commits this often,
// and `extra` YAML lines of the section (each indented two spaces).
inline GatewayOptions governance_options(std::string_view master_key, int commit_interval_ms,
                                         std::string_view extra = {}) {
  GatewayOptions o;
  o.top_level = "governance:\n  master_key: " + std::string(master_key) +
                "\n  database: @DIR@/gov.db\n  ledger: {commit_interval_ms: " +
                std::to_string(commit_interval_ms) + "}\n" + std::string(extra);
  return o;
}

inline HttpHeaders bearer(std::string_view secret) {
  return {{"authorization", "Bearer " + std::string(secret)}};
}

}  // namespace switchyard::testing
