// Keys and teams: model access with globs (a team's keys can only narrow it), expiry, blocking,
// roles, per-model limits, the secret's shape and the headers a credential comes in.
#include <catch2/catch.hpp>
#include <set>

#include "core/governance.hpp"

using namespace switchyard::core;
using namespace std::chrono_literals;

namespace {

const WallTime kNow = WallTime{std::chrono::sys_days{std::chrono::year{2026} / 12 / 1}} + 19h;

}  // namespace

TEST_CASE("glob patterns: '*' any run, '?' one character, everything else literal") {
  CHECK(glob_match("gpt-4o", "gpt-4o"));
  CHECK_FALSE(glob_match("gpt-4o", "gpt-4o-mini"));
  CHECK(glob_match("gpt-4o*", "gpt-4o-mini"));
  CHECK(glob_match("gpt-4o*", "gpt-4o"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("claude-*-4-?", "claude-sonnet-4-5"));
  CHECK_FALSE(glob_match("claude-*-4-?", "claude-sonnet-4-50"));
  CHECK(glob_match("*mini*", "gpt-4o-mini-2024"));
  CHECK_FALSE(glob_match("?", ""));
  CHECK_FALSE(glob_match("a*b", "acd"));
  CHECK(glob_match("a*b*c", "a-b-b-c"));
  // A pattern that would backtrack exponentially in a naive matcher still answers at once.
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*a*b", std::string(200, 'a')));
}

TEST_CASE("a key may use what its own models and its team's both allow") {
  TeamRecord team;
  team.models = {"gpt-*", "claude-sonnet-4-5"};
  KeyRecord key;
  key.team_id = "team_1";

  CHECK(check_model_access(key, &team, "gpt-4o", kNow) == AccessDenial::none);
  CHECK(check_model_access(key, &team, "claude-sonnet-4-5", kNow) == AccessDenial::none);
  CHECK(check_model_access(key, &team, "gemini-2.5-pro", kNow) == AccessDenial::model_not_allowed);

  key.models = {"gpt-4o-mini", "gemini-*"};  // narrows; gemini is not the team's to give
  CHECK(check_model_access(key, &team, "gpt-4o-mini", kNow) == AccessDenial::none);
  CHECK(check_model_access(key, &team, "gpt-4o", kNow) == AccessDenial::model_not_allowed);
  CHECK(check_model_access(key, &team, "gemini-2.5-pro", kNow) == AccessDenial::model_not_allowed);

  // Without a team, the key's own list decides; an empty list is every model.
  CHECK(check_model_access(key, nullptr, "gemini-2.5-pro", kNow) == AccessDenial::none);
  key.models.clear();
  CHECK(check_model_access(key, nullptr, "anything", kNow) == AccessDenial::none);
}

TEST_CASE("blocked, expired, a blocked team and admin roles are refused before the model") {
  KeyRecord key;
  key.models = {"gpt-4o"};
  TeamRecord team;

  key.expires = kNow + 1s;
  CHECK(check_model_access(key, &team, "gpt-4o", kNow) == AccessDenial::none);
  CHECK(check_model_access(key, &team, "gpt-4o", kNow + 1s) == AccessDenial::expired);
  key.expires.reset();

  team.blocked = true;
  CHECK(check_model_access(key, &team, "gpt-4o", kNow) == AccessDenial::team_blocked);
  team.blocked = false;

  key.blocked = true;
  CHECK(check_model_access(key, &team, "other", kNow) == AccessDenial::blocked);
  key.blocked = false;

  for (KeyRole role : {KeyRole::admin, KeyRole::reporting}) {
    key.role = role;
    CHECK(check_model_access(key, &team, "gpt-4o", kNow) == AccessDenial::wrong_role);
  }
  CHECK(parse_key_role("reporting") == KeyRole::reporting);
  CHECK(key_role_name(KeyRole::admin) == "admin");
  CHECK_FALSE(parse_key_role("root"));
}

TEST_CASE("per-model limits: the first matching entry applies") {
  KeyRecord key;
  key.model_limits = {{"gpt-4o", {.rpm = 5}}, {"gpt-*", {.rpm = 50}}};
  REQUIRE(model_limits_for(key, "gpt-4o") != nullptr);
  CHECK(model_limits_for(key, "gpt-4o")->rpm == 5);
  CHECK(model_limits_for(key, "gpt-4o-mini")->rpm == 50);
  CHECK(model_limits_for(key, "claude") == nullptr);
}

TEST_CASE("key secrets: sk-sy- and 43 base64url characters; the hint shows only the last 4") {
  std::array<std::uint8_t, 32> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 37 + 11);
  const std::string secret = format_key_secret(bytes);
  CHECK(secret.starts_with("sk-sy-"));
  CHECK(secret.size() == 6 + 43);
  CHECK(looks_like_key_secret(secret));
  CHECK_FALSE(looks_like_key_secret(secret.substr(0, secret.size() - 1)));
  CHECK_FALSE(looks_like_key_secret("sk-sy-" + std::string(42, 'A') + "="));
  CHECK_FALSE(looks_like_key_secret("sk-xx-" + secret.substr(6)));
  // Different bytes, different secrets (every bit is used).
  std::set<std::string> seen;
  for (int i = 0; i < 32; ++i) {
    auto b = bytes;
    b[static_cast<std::size_t>(i)] ^= 1;
    seen.insert(format_key_secret(b));
  }
  CHECK(seen.size() == 32);
  const std::string hint = key_hint(secret);
  CHECK(hint.ends_with(secret.substr(secret.size() - 4)));
  CHECK(hint.find(secret.substr(6, 20)) == std::string::npos);
}

TEST_CASE("the credential comes from Bearer, x-api-key or api-key, in that order") {
  CHECK(credential_from("Bearer sk-sy-abc", "", "") == "sk-sy-abc");
  CHECK(credential_from("bearer   sk-sy-abc  ", "", "") == "sk-sy-abc");
  CHECK(credential_from("", "sk-sy-x", "") == "sk-sy-x");
  CHECK(credential_from("", "", " sk-sy-y") == "sk-sy-y");
  CHECK(credential_from("Bearer sk-sy-a", "sk-sy-b", "sk-sy-c") == "sk-sy-a");
  CHECK(credential_from("Basic dXNlcjpwYXNz", "sk-sy-b", "") == "sk-sy-b");
  CHECK(credential_from("Bearer ", "", "") == "");
  CHECK(credential_from("", "", "") == "");
}

TEST_CASE("hashes compare equal only when every byte is") {
  KeyHash a{};
  KeyHash b{};
  CHECK(same_hash(a, b));
  b[31] = 1;
  CHECK_FALSE(same_hash(a, b));
  b[31] = 0;
  b[0] = 0x80;
  CHECK_FALSE(same_hash(a, b));
}
