#pragma once
// The admin API's bodies (issue 12): JSON requests that create and change teams and keys, the
// JSON that lists and reads them, and the spend report's query string. Pure: proxy/'s handler
// generates ids and secrets, resolves a key's team, keeps names unique (409) and finds records
// by id (404); everything a client can get wrong in a body is a 400 from here, naming the field.
//
// PATCH semantics: an absent member leaves the record as it is, `null` clears an optional one,
// and a value replaces the member whole (a `limits` or `budget` object included: members it
// leaves out are 0 or their default, not the old value).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/budget.hpp"
#include "core/governance.hpp"
#include "core/ledger.hpp"
#include "core/result.hpp"

namespace switchyard::core {

struct AdminError {
  std::string field;    // "budget.max_usd", "model_limits.gpt-4o.rpm"; empty for the whole body
  std::string message;  // what was wanted, e.g. "must be a number above 0 ..."
};

// Limits accepted from clients: a larger rpm or tpm is a typo, not a policy.
inline constexpr std::int64_t kMaxAdminLimit = 1'000'000'000'000;
inline constexpr std::size_t kMaxMetadataBytes = 4096;
inline constexpr std::size_t kMaxModelPatterns = 256;
inline constexpr std::size_t kMaxModelPatternChars = 128;
inline constexpr std::size_t kMaxTags = 32;
inline constexpr std::size_t kMaxTagChars = 64;
inline constexpr std::size_t kMaxNameChars = 64;
inline constexpr std::size_t kMaxUserChars = 256;

struct TeamChanges {
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> models;  // null is [] (every model)
  // The anchor is set by apply(): a budget's duration periods count from when it was set.
  std::optional<std::optional<BudgetSpec>> budget;
  std::optional<Limits> limits;  // null is no limits
  std::optional<bool> blocked;
  std::optional<std::string> metadata_json;  // null is "{}"
};

// `creating` makes `name` required (a PATCH needs nothing). `now` is for the body's times.
Result<TeamChanges, AdminError> parse_team_body(std::string_view json, bool creating, WallTime now);
void apply(const TeamChanges& changes, TeamRecord& into, WallTime now);

struct KeyChanges {
  std::optional<std::string> alias;  // null is "" (no alias)
  // The id or the name as the client gave it: the caller resolves a name and stores the id
  // here before apply(), which copies it into team_id as it is. An inner nullopt is no team.
  std::optional<std::optional<std::string>> team;
  std::optional<std::string> user;  // null is ""
  std::optional<KeyRole> role;
  std::optional<std::vector<std::string>> models;  // null is [] (the team's)
  std::optional<std::optional<BudgetSpec>> budget;
  std::optional<Limits> limits;
  std::optional<std::vector<ModelLimits>> model_limits;  // in the body's order: first match
  std::optional<std::vector<std::string>> tags;
  std::optional<std::string> metadata_json;
  // From expires_at, or now + expires_in; an inner nullopt never expires.
  std::optional<std::optional<WallTime>> expires;
  std::optional<bool> blocked;
};

// Nothing is required when creating a key: a bare {} is a client key with no limits.
Result<KeyChanges, AdminError> parse_key_body(std::string_view json, bool creating, WallTime now);
void apply(const KeyChanges& changes, KeyRecord& into, WallTime now);

// Where a budget stands, read by the caller from its BudgetCounter.
struct SpendView {
  Micros spent = 0;
  Micros reserved = 0;
  WallTime reset;
};

// Listing and reading. Money is decimal USD text with 6 decimals ("12.500000", exact, as in
// the spend report); times are RFC 3339 UTC. A key's hash never appears, its secret only when
// given (on create and rotate, the one time it is shown).
std::string team_json(const TeamRecord& team, const std::optional<SpendView>& spend);
std::string key_json(const KeyRecord& key, const std::optional<SpendView>& spend,
                     std::string_view secret = {});

struct SpendReportRequest {
  SpendQuery query;
  bool csv = false;
};

// "group_by=key|team|model|provider|tag|user|day&from=...&to=...&format=json|csv", percent-
// encoded; an empty value is the default (key, the beginning, no end, json).
Result<SpendReportRequest, AdminError> parse_spend_query(std::string_view query_string);

// "2027-01-01T00:00:00Z" (a fraction of a second is allowed and dropped); only UTC ('Z').
std::optional<WallTime> parse_rfc3339_utc(std::string_view text);
std::string format_rfc3339_utc(WallTime t);

}  // namespace switchyard::core
