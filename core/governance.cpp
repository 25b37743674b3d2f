#include "core/governance.hpp"

#include <algorithm>

namespace switchyard::core {
namespace {

constexpr std::array<std::pair<KeyRole, std::string_view>, 3> kRoles{{
    {KeyRole::client, "client"},
    {KeyRole::admin, "admin"},
    {KeyRole::reporting, "reporting"},
}};

constexpr std::string_view kBase64Url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t kSecretChars = 43;  // 32 bytes in unpadded base64url

bool is_base64url(char c) { return kBase64Url.find(c) != std::string_view::npos; }

bool iequals_ascii(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view key_role_name(KeyRole role) {
  for (const auto& [r, name] : kRoles)
    if (r == role) return name;
  return "client";
}

std::optional<KeyRole> parse_key_role(std::string_view name) {
  for (const auto& [r, n] : kRoles)
    if (n == name) return r;
  return std::nullopt;
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative, with one backtrack point: linear in practice, never exponential.
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool allowed_by(const std::vector<std::string>& patterns, std::string_view model) {
  if (patterns.empty()) return true;
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return glob_match(p, model); });
}

bool key_allows_model(const KeyRecord& key, const TeamRecord* team, std::string_view model) {
  return allowed_by(key.models, model) && (team == nullptr || allowed_by(team->models, model));
}

AccessDenial check_model_access(const KeyRecord& key, const TeamRecord* team,
                                std::string_view model, WallTime now) {
  if (key.blocked) return AccessDenial::blocked;
  if (key.expires && now >= *key.expires) return AccessDenial::expired;
  if (team != nullptr && team->blocked) return AccessDenial::team_blocked;
  if (key.role != KeyRole::client) return AccessDenial::wrong_role;
  if (!key_allows_model(key, team, model)) return AccessDenial::model_not_allowed;
  return AccessDenial::none;
}

const Limits* model_limits_for(const KeyRecord& key, std::string_view model) {
  for (const ModelLimits& m : key.model_limits)
    if (glob_match(m.model, model)) return &m.limits;
  return nullptr;
}

std::string format_key_secret(const std::array<std::uint8_t, 32>& random_bytes) {
  std::string out(kKeyPrefix);
  out.reserve(kKeyPrefix.size() + kSecretChars);
  std::uint32_t bits = 0;
  int held = 0;
  for (std::uint8_t byte : random_bytes) {
    bits = (bits << 8) | byte;
    held += 8;
    while (held >= 6) {
      held -= 6;
      out += kBase64Url[(bits >> held) & 0x3f];
    }
  }
  if (held > 0) out += kBase64Url[(bits << (6 - held)) & 0x3f];
  return out;
}

bool looks_like_key_secret(std::string_view text) {
  if (text.size() != kKeyPrefix.size() + kSecretChars || !text.starts_with(kKeyPrefix))
    return false;
  const std::string_view body = text.substr(kKeyPrefix.size());
  return std::all_of(body.begin(), body.end(), is_base64url);
}

std::string key_hint(std::string_view secret) {
  std::string hint(kKeyPrefix);
  hint += "…";
  hint += secret.substr(secret.size() >= 4 ? secret.size() - 4 : 0);
  return hint;
}

std::string_view credential_from(std::string_view authorization, std::string_view x_api_key,
                                 std::string_view api_key) {
  authorization = trim(authorization);
  if (authorization.size() > 7 && iequals_ascii(authorization.substr(0, 7), "Bearer ")) {
    const std::string_view token = trim(authorization.substr(7));
    if (!token.empty()) return token;
  }
  if (const std::string_view k = trim(x_api_key); !k.empty()) return k;
  return trim(api_key);
}

bool same_hash(const KeyHash& a, const KeyHash& b) {
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<std::uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace switchyard::core
