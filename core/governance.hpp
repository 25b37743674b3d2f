#pragma once
// Virtual keys and teams (issue 12): what a key is, what it may use, and the access decision
// every model request goes through when client authentication is on. Pure: the secret's hash
// is computed by proxy/ (OpenSSL), the records live in memory there and in the store.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/budget.hpp"

namespace switchyard::core {

// SHA-256 of a key's secret. The secret itself is shown once, when it is made, and never kept.
using KeyHash = std::array<std::uint8_t, 32>;

// What a key may do. Client keys call models; admin keys administer the gateway, except that
// only the master key creates admin keys; reporting keys read spend and listings, nothing else.
enum class KeyRole { client, admin, reporting };
std::string_view key_role_name(KeyRole role);
std::optional<KeyRole> parse_key_role(std::string_view name);

// Per-minute and in-flight limits; 0 is no limit.
struct Limits {
  std::int64_t rpm = 0;
  std::int64_t tpm = 0;  // input plus output tokens, reserved up front and settled after
  std::int64_t parallel = 0;
  bool any() const { return rpm > 0 || tpm > 0 || parallel > 0; }
  bool operator==(const Limits&) const = default;
};

struct BudgetSpec {
  Micros max = 0;              // per period
  std::optional<Micros> soft;  // a warning (log line and metric), never a refusal
  BudgetPeriod period;
  WallTime anchor;  // where duration periods count from (the budget's creation)
  bool operator==(const BudgetSpec&) const = default;
};

struct TeamRecord {
  std::string id;    // "team_" + 16 hex digits, stable
  std::string name;  // unique
  std::optional<BudgetSpec> budget;
  Limits limits;
  std::vector<std::string> models;  // names or globs its keys may use; empty is every model
  bool blocked = false;
  std::string metadata_json = "{}";  // free-form, an object
  WallTime created;
  bool operator==(const TeamRecord&) const = default;
};

struct ModelLimits {
  std::string model;  // a model name or glob
  Limits limits;
  bool operator==(const ModelLimits&) const = default;
};

struct KeyRecord {
  std::string id;     // "key_" + 16 hex digits, stable across rotations
  std::string alias;  // unique when set
  KeyHash hash{};
  std::string hint;  // "sk-sy-…" and the secret's last 4 characters, to recognise it in lists
  KeyRole role = KeyRole::client;
  std::string team_id;  // empty: no team
  std::string user;
  std::vector<std::string> models;  // narrows the team's; empty is the team's
  std::optional<BudgetSpec> budget;
  Limits limits;
  std::vector<ModelLimits> model_limits;  // per key and model, the first match applies
  std::vector<std::string> tags;
  std::string metadata_json = "{}";
  std::optional<WallTime> expires;
  bool blocked = false;
  WallTime created;
  bool operator==(const KeyRecord&) const = default;
};

// '*' is any run of characters, '?' any one; everything else matches itself. No escapes:
// model names have no '*' or '?'.
bool glob_match(std::string_view pattern, std::string_view text);
// Empty patterns allow every model.
bool allowed_by(const std::vector<std::string>& patterns, std::string_view model);

// Why a request with a known key is refused before any budget or limit is looked at.
enum class AccessDenial {
  none,
  blocked,            // 401, saying so
  expired,            // 401, saying so
  team_blocked,       // 401: the key's team is blocked
  wrong_role,         // 401: an admin or reporting key cannot call models
  model_not_allowed,  // 403, naming the model (never the key)
};

// A key may use a model when its own patterns and its team's both allow it: a team's keys
// inherit its models and can only narrow them.
AccessDenial check_model_access(const KeyRecord& key, const TeamRecord* team,
                                std::string_view model, WallTime now);
bool key_allows_model(const KeyRecord& key, const TeamRecord* team, std::string_view model);

// The limits of `key` for `model` (key-and-model), when one of its model_limits matches.
const Limits* model_limits_for(const KeyRecord& key, std::string_view model);

// Secrets: "sk-sy-" followed by 43 base64url characters of 32 random bytes (256 bits, from the
// OS; proxy/ draws them). These only shape and recognise the text.
inline constexpr std::string_view kKeyPrefix = "sk-sy-";
std::string format_key_secret(const std::array<std::uint8_t, 32>& random_bytes);
bool looks_like_key_secret(std::string_view text);
std::string key_hint(std::string_view secret);

// The client's credential, from the headers a client may send it in: Authorization: Bearer
// (OpenAI SDKs, Codex, Claude Code's ANTHROPIC_AUTH_TOKEN), x-api-key (Anthropic SDKs, Claude
// Code's ANTHROPIC_API_KEY) or api-key (Azure-style). Empty when none is given.
std::string_view credential_from(std::string_view authorization, std::string_view x_api_key,
                                 std::string_view api_key);

// Constant-time comparison of two hashes (the lookup is by hash; this guards the final check).
bool same_hash(const KeyHash& a, const KeyHash& b);

}  // namespace switchyard::core
