#include "core/admin_requests.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <utility>

namespace switchyard::core {
namespace {

namespace json = boost::json;
template <class T>
using Parsed = Result<T, AdminError>;

Failure<AdminError> refuse(std::string field, std::string message) {
  return fail(AdminError{std::move(field), std::move(message)});
}

std::string member_path(std::string_view parent, std::string_view name) {
  if (parent.empty()) return std::string(name);
  return std::string(parent) + "." + std::string(name);
}

template <class Names>
std::string listed(const Names& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// Refuses members outside `known`, the way the config refuses unknown keys: a typo in an admin
// body must not be a setting silently ignored.
std::optional<AdminError> unknown_member(const json::object& o, std::string_view parent,
                                         std::initializer_list<std::string_view> known) {
  for (const auto& member : o) {
    bool found = false;
    for (std::string_view k : known) found = found || member.key() == k;
    if (!found) {
      return AdminError{member_path(parent, member.key()),
                        "is not a member here; the members are " + listed(known)};
    }
  }
  return std::nullopt;
}

// --- Scalars ---

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool is_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameChars) return false;
  for (char c : s)
    if (!is_name_char(c)) return false;
  return true;
}

Parsed<std::string> read_name(const json::value& v, const std::string& field) {
  if (!v.is_string() || !is_name(v.get_string())) {
    return refuse(field, "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'");
  }
  return std::string(v.get_string());
}

Parsed<bool> read_bool(const json::value& v, const std::string& field) {
  if (!v.is_bool()) return refuse(field, "must be true or false");
  return v.get_bool();
}

// A JSON number as a double when it is one; strings, booleans and infinities are not.
std::optional<double> finite_number(const json::value& v) {
  double d = 0;
  if (v.is_int64()) {
    d = static_cast<double>(v.get_int64());
  } else if (v.is_uint64()) {
    d = static_cast<double>(v.get_uint64());
  } else if (v.is_double()) {
    d = v.get_double();
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

Parsed<std::int64_t> read_limit(const json::value& v, const std::string& field) {
  const std::string wanted =
      "must be a whole number from 0 to " + std::to_string(kMaxAdminLimit) + " (0 is no limit)";
  if (v.is_int64()) {
    const std::int64_t n = v.get_int64();
    if (n < 0 || n > kMaxAdminLimit) return refuse(field, wanted);
    return n;
  }
  // 1e6 is a whole number too; 1.5, "600" and 1e400 are not.
  const std::optional<double> d = finite_number(v);
  if (!d || *d != std::trunc(*d) || *d < 0 || *d > static_cast<double>(kMaxAdminLimit)) {
    return refuse(field, wanted);
  }
  return static_cast<std::int64_t>(*d);
}

// The most a budget counter holds (about 281 million USD): a larger budget would silently be
// that one.
constexpr Micros kMaxBudgetMicros = kMaxMicros;

std::string usd_text(Micros m) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(m / 1'000'000),
                static_cast<long long>(m % 1'000'000));
  return buf;
}

Parsed<Micros> read_usd(const json::value& v, const std::string& field, Micros at_most,
                        std::string_view at_most_text) {
  const std::string wanted = "must be a number of USD above 0 and at most " +
                             std::string(at_most_text) + " (a number, not a string)";
  const std::optional<double> usd = finite_number(v);
  if (!usd || *usd <= 0 || *usd > micros_to_usd(at_most)) return refuse(field, wanted);
  const Micros micros = usd_to_micros(*usd);
  if (micros <= 0) return refuse(field, wanted + "; the smallest amount is 0.000001");
  if (micros > at_most) return refuse(field, wanted);
  return micros;
}

// --- Lists and objects ---

struct ListRules {
  std::size_t max_items;
  std::size_t max_chars;
  bool allow_comma;
  std::string_view what;  // "model names or globs", "tags"
};

std::string list_rules_text(const ListRules& rules) {
  return "must be an array of at most " + std::to_string(rules.max_items) + " " +
         std::string(rules.what) + ", each a string of 1 to " + std::to_string(rules.max_chars) +
         " characters" + (rules.allow_comma ? "" : " without ','");
}

Parsed<std::vector<std::string>> read_strings(const json::value& v, const std::string& field,
                                              const ListRules& rules) {
  if (!v.is_array() || v.get_array().size() > rules.max_items) {
    return refuse(field, list_rules_text(rules));
  }
  std::vector<std::string> out;
  for (const json::value& item : v.get_array()) {
    const std::string item_field = field + "[" + std::to_string(out.size()) + "]";
    if (!item.is_string()) return refuse(item_field, list_rules_text(rules));
    const std::string_view s = item.get_string();
    if (s.empty() || s.size() > rules.max_chars ||
        (!rules.allow_comma && s.find(',') != std::string_view::npos)) {
      return refuse(item_field, list_rules_text(rules));
    }
    out.emplace_back(s);
  }
  return out;
}

constexpr ListRules kModelRules{kMaxModelPatterns, kMaxModelPatternChars, true,
                                "model names or globs"};
constexpr ListRules kTagRules{kMaxTags, kMaxTagChars, false, "tags"};

Parsed<std::string> read_metadata(const json::value& v, const std::string& field) {
  const std::string wanted =
      "must be a JSON object of at most " + std::to_string(kMaxMetadataBytes) + " bytes";
  if (!v.is_object()) return refuse(field, wanted);
  std::string text = json::serialize(v);
  if (text.size() > kMaxMetadataBytes) return refuse(field, wanted);
  return text;
}

Parsed<Limits> read_limits(const json::value& v, const std::string& field) {
  if (!v.is_object()) return refuse(field, "must be an object with rpm, tpm and parallel");
  const json::object& o = v.get_object();
  if (auto e = unknown_member(o, field, {"rpm", "tpm", "parallel"})) return fail(*e);
  Limits limits;
  const std::array<std::pair<std::string_view, std::int64_t*>, 3> members{
      {{"rpm", &limits.rpm}, {"tpm", &limits.tpm}, {"parallel", &limits.parallel}}};
  for (const auto& [name, into] : members) {
    const json::value* member = o.if_contains(name);
    if (!member) continue;
    Parsed<std::int64_t> n = read_limit(*member, member_path(field, name));
    if (!n) return fail(n.error());
    *into = n.value();
  }
  return limits;
}

Parsed<std::vector<ModelLimits>> read_model_limits(const json::value& v, const std::string& field) {
  const std::string wanted = "must be an object of at most " + std::to_string(kMaxModelPatterns) +
                             " model names or globs, each to {rpm, tpm, parallel}";
  if (!v.is_object() || v.get_object().size() > kMaxModelPatterns) return refuse(field, wanted);
  std::vector<ModelLimits> out;
  for (const auto& member : v.get_object()) {
    const std::string model_field = member_path(field, member.key());
    if (member.key().empty() || member.key().size() > kMaxModelPatternChars) {
      return refuse(model_field, "must be a model name or glob of 1 to " +
                                     std::to_string(kMaxModelPatternChars) + " characters");
    }
    Parsed<Limits> limits = read_limits(member.value(), model_field);
    if (!limits) return fail(limits.error());
    out.push_back({std::string(member.key()), limits.value()});
  }
  return out;
}

Parsed<BudgetPeriod> read_period(const json::value& v, const std::string& field) {
  Result<BudgetPeriod, std::string> period =
      v.is_string() ? parse_budget_period(v.get_string())
                    : Result<BudgetPeriod, std::string>(fail(std::string("is not a string")));
  if (!period) {
    return refuse(field,
                  "must be daily, weekly, monthly or a duration like 30d, 12h, 90m or "
                  "3600s (" +
                      period.error() + ")");
  }
  return period.value();
}

Parsed<BudgetSpec> read_budget(const json::value& v, const std::string& field) {
  if (!v.is_object()) {
    return refuse(field, "must be an object with max_usd, and optionally period and soft_usd");
  }
  const json::object& o = v.get_object();
  if (auto e = unknown_member(o, field, {"max_usd", "period", "soft_usd"})) return fail(*e);
  BudgetSpec spec;
  const json::value* max = o.if_contains("max_usd");
  if (!max) return refuse(member_path(field, "max_usd"), "is required: the USD per period");
  Parsed<Micros> max_micros =
      read_usd(*max, member_path(field, "max_usd"), kMaxBudgetMicros, usd_text(kMaxBudgetMicros));
  if (!max_micros) return fail(max_micros.error());
  spec.max = max_micros.value();
  if (const json::value* soft = o.if_contains("soft_usd"); soft && !soft->is_null()) {
    Parsed<Micros> soft_micros =
        read_usd(*soft, member_path(field, "soft_usd"), spec.max, "max_usd");
    if (!soft_micros) return fail(soft_micros.error());
    spec.soft = soft_micros.value();
  }
  if (const json::value* period = o.if_contains("period")) {
    Parsed<BudgetPeriod> p = read_period(*period, member_path(field, "period"));
    if (!p) return fail(p.error());
    spec.period = p.value();
  }
  return spec;
}

// --- Members ---

// Stores a reader's value in `into`, or says why not.
template <class T, class U>
std::optional<AdminError> store(std::optional<T>& into, Parsed<U> parsed) {
  if (!parsed) return std::move(parsed.error());
  into = std::move(parsed.value());
  return std::nullopt;
}

// A member that null clears to `cleared`.
template <class T, class Reader>
Parsed<T> null_is(const json::value& v, const std::string& field, T cleared, Reader read) {
  if (v.is_null()) return cleared;
  return read(v, field);
}

// A member that null clears to "none" (an inner nullopt).
template <class T, class Reader>
Parsed<std::optional<T>> nullable(const json::value& v, const std::string& field, Reader read) {
  if (v.is_null()) return std::optional<T>{};
  Parsed<T> parsed = read(v, field);
  if (!parsed) return fail(std::move(parsed.error()));
  return std::optional<T>{std::move(parsed.value())};
}

Parsed<json::object> parse_body(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return refuse("", "the body is not valid JSON (" + ec.message() + ")");
  if (!v.is_object()) return refuse("", "the body must be a JSON object");
  return std::move(v.get_object());
}

constexpr std::array<std::string_view, 6> kTeamMembers{"name",   "models",  "budget",
                                                       "limits", "blocked", "metadata"};

std::optional<AdminError> read_team_member(std::string_view name, const json::value& v,
                                           TeamChanges& c) {
  const std::string field(name);
  if (name == "name") return store(c.name, read_name(v, field));
  if (name == "models") {
    return store(c.models, null_is(v, field, std::vector<std::string>{},
                                   [](const json::value& x, const std::string& f) {
                                     return read_strings(x, f, kModelRules);
                                   }));
  }
  if (name == "budget") return store(c.budget, nullable<BudgetSpec>(v, field, read_budget));
  if (name == "limits") return store(c.limits, null_is(v, field, Limits{}, read_limits));
  if (name == "blocked") return store(c.blocked, read_bool(v, field));
  if (name == "metadata")
    return store(c.metadata_json, null_is(v, field, std::string("{}"), read_metadata));
  return AdminError{field, "is not a member of a team; the members are " + listed(kTeamMembers)};
}

Parsed<std::string> read_team_ref(const json::value& v, const std::string& field) {
  if (!v.is_string() || !is_name(v.get_string())) {
    return refuse(field,
                  "must be a team id or name (1 to 64 characters of A-Z, a-z, 0-9, '.', "
                  "'_' or '-'), or null for no team");
  }
  return std::string(v.get_string());
}

Parsed<std::string> read_user(const json::value& v, const std::string& field) {
  if (!v.is_string() || v.get_string().size() > kMaxUserChars) {
    return refuse(field, "must be a string of at most " + std::to_string(kMaxUserChars) +
                             " characters, or null");
  }
  return std::string(v.get_string());
}

Parsed<KeyRole> read_role(const json::value& v, const std::string& field) {
  const std::optional<KeyRole> role = v.is_string() ? parse_key_role(v.get_string()) : std::nullopt;
  if (!role) return refuse(field, "must be one of client, admin, reporting");
  return *role;
}

Parsed<WallTime> read_expires_at(const json::value& v, const std::string& field, WallTime now) {
  const std::optional<WallTime> at =
      v.is_string() ? parse_rfc3339_utc(v.get_string()) : std::nullopt;
  if (!at) return refuse(field, "must be a time in RFC 3339 UTC, like 2027-01-01T00:00:00Z");
  if (*at <= now)
    return refuse(field, "must be in the future (now is " + format_rfc3339_utc(now) + ")");
  return *at;
}

Parsed<WallTime> read_expires_in(const json::value& v, const std::string& field, WallTime now) {
  const std::string wanted = "must be a duration like 30d, 12h, 90m or 3600s (at most 10 years)";
  if (!v.is_string()) return refuse(field, wanted);
  Result<BudgetPeriod, std::string> period = parse_budget_period(v.get_string());
  if (!period || period->kind != BudgetPeriod::Kind::duration) return refuse(field, wanted);
  return now + period->length;
}

constexpr std::array<std::string_view, 13> kKeyMembers{
    "alias",        "team", "user",     "role",       "models",     "budget", "limits",
    "model_limits", "tags", "metadata", "expires_at", "expires_in", "blocked"};

std::optional<AdminError> read_key_expiry(std::string_view name, const json::value& v,
                                          KeyChanges& c, WallTime now) {
  const std::string field(name);
  if (c.expires) return AdminError{field, "give expires_at or expires_in, not both"};
  auto reader = [now, name](const json::value& x, const std::string& f) {
    return name == "expires_at" ? read_expires_at(x, f, now) : read_expires_in(x, f, now);
  };
  return store(c.expires, nullable<WallTime>(v, field, reader));
}

std::optional<AdminError> read_key_member(std::string_view name, const json::value& v,
                                          KeyChanges& c, WallTime now) {
  const std::string field(name);
  if (name == "alias") return store(c.alias, null_is(v, field, std::string{}, read_name));
  if (name == "team") return store(c.team, nullable<std::string>(v, field, read_team_ref));
  if (name == "user") return store(c.user, null_is(v, field, std::string{}, read_user));
  if (name == "role") return store(c.role, read_role(v, field));
  if (name == "models" || name == "tags") {
    const ListRules& rules = name == "models" ? kModelRules : kTagRules;
    auto& into = name == "models" ? c.models : c.tags;
    return store(into, null_is(v, field, std::vector<std::string>{},
                               [&rules](const json::value& x, const std::string& f) {
                                 return read_strings(x, f, rules);
                               }));
  }
  if (name == "budget") return store(c.budget, nullable<BudgetSpec>(v, field, read_budget));
  if (name == "limits") return store(c.limits, null_is(v, field, Limits{}, read_limits));
  if (name == "model_limits") {
    return store(c.model_limits, null_is(v, field, std::vector<ModelLimits>{}, read_model_limits));
  }
  if (name == "metadata")
    return store(c.metadata_json, null_is(v, field, std::string("{}"), read_metadata));
  if (name == "expires_at" || name == "expires_in") return read_key_expiry(name, v, c, now);
  if (name == "blocked") return store(c.blocked, read_bool(v, field));
  return AdminError{field, "is not a member of a key; the members are " + listed(kKeyMembers)};
}

// --- Output ---

json::value text_or_null(std::string_view s) {
  if (s.empty()) return nullptr;
  return json::string(s);
}

json::array strings_json(const std::vector<std::string>& items) {
  json::array out;
  for (const std::string& s : items) out.emplace_back(s);
  return out;
}

json::object limits_json(const Limits& l) {
  return {{"rpm", l.rpm}, {"tpm", l.tpm}, {"parallel", l.parallel}};
}

json::value budget_json(const std::optional<BudgetSpec>& b) {
  if (!b) return nullptr;
  json::object out{{"max_usd", usd_text(b->max)},
                   {"soft_usd", b->soft ? json::value(usd_text(*b->soft)) : json::value(nullptr)},
                   {"period", format_budget_period(b->period)}};
  // Only a duration counts from its anchor; calendar periods start on the calendar.
  if (b->period.kind == BudgetPeriod::Kind::duration) out["anchor"] = format_rfc3339_utc(b->anchor);
  return out;
}

json::value metadata_value(const std::string& metadata_json) {
  json::error_code ec;
  json::value v = json::parse(metadata_json, ec);
  if (ec || !v.is_object()) return json::object{};
  return v;
}

void add_spend(json::object& out, const std::optional<SpendView>& spend) {
  if (!spend) return;
  out["spend"] = json::object{{"spent_usd", usd_text(spend->spent)},
                              {"reserved_usd", usd_text(spend->reserved)},
                              {"resets_at", format_rfc3339_utc(spend->reset)}};
}

// --- Query strings ---

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding, with '+' as a space (HTML forms send it).
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] != '%') {
      out += s[i];
    } else {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return out;
}

constexpr std::string_view kTimeForms =
    "must be a time: 2026-12-01T00:00:00Z, 2026-12-01 (midnight UTC) or unix seconds";

std::optional<AdminError> read_query_param(std::string_view name, const std::string& value,
                                           SpendReportRequest& r) {
  const std::string field(name);
  if (name == "group_by") {
    const std::optional<SpendGroup> g = parse_spend_group(value);
    if (!g) return AdminError{field, "must be one of key, team, model, provider, tag, user, day"};
    r.query.group = *g;
  } else if (name == "from" || name == "to") {
    const std::optional<std::int64_t> ms = parse_report_time_ms(value);
    if (!ms) return AdminError{field, std::string(kTimeForms)};
    (name == "from" ? r.query.from_ms : r.query.to_ms) = *ms;
  } else if (name == "format") {
    if (value != "json" && value != "csv") return AdminError{field, "must be json or csv"};
    r.csv = value == "csv";
  } else {
    return AdminError{field,
                      "is not a parameter of the spend report; the parameters are "
                      "group_by, from, to and format"};
  }
  return std::nullopt;
}

}  // namespace

// --- Teams ---

Result<TeamChanges, AdminError> parse_team_body(std::string_view json, bool creating,
                                                WallTime /*now*/) {
  Parsed<json::object> body = parse_body(json);
  if (!body) return fail(std::move(body.error()));
  TeamChanges changes;
  for (const auto& member : body.value()) {
    if (auto e = read_team_member(member.key(), member.value(), changes)) return fail(*e);
  }
  if (creating && !changes.name) return refuse("name", "is required: the team's unique name");
  return changes;
}

void apply(const TeamChanges& c, TeamRecord& into, WallTime now) {
  if (c.name) into.name = *c.name;
  if (c.models) into.models = *c.models;
  if (c.budget) {
    into.budget = *c.budget;
    if (into.budget) into.budget->anchor = now;
  }
  if (c.limits) into.limits = *c.limits;
  if (c.blocked) into.blocked = *c.blocked;
  if (c.metadata_json) into.metadata_json = *c.metadata_json;
}

std::string team_json(const TeamRecord& team, const std::optional<SpendView>& spend) {
  json::object out{{"id", team.id},
                   {"name", team.name},
                   {"models", strings_json(team.models)},
                   {"budget", budget_json(team.budget)},
                   {"limits", limits_json(team.limits)},
                   {"blocked", team.blocked},
                   {"metadata", metadata_value(team.metadata_json)},
                   {"created_at", format_rfc3339_utc(team.created)}};
  add_spend(out, spend);
  return json::serialize(out);
}

// --- Keys ---

Result<KeyChanges, AdminError> parse_key_body(std::string_view json, bool /*creating*/,
                                              WallTime now) {
  Parsed<json::object> body = parse_body(json);
  if (!body) return fail(std::move(body.error()));
  KeyChanges changes;
  for (const auto& member : body.value()) {
    if (auto e = read_key_member(member.key(), member.value(), changes, now)) return fail(*e);
  }
  return changes;
}

void apply(const KeyChanges& c, KeyRecord& into, WallTime now) {
  if (c.alias) into.alias = *c.alias;
  if (c.team) into.team_id = c.team->value_or("");
  if (c.user) into.user = *c.user;
  if (c.role) into.role = *c.role;
  if (c.models) into.models = *c.models;
  if (c.budget) {
    into.budget = *c.budget;
    if (into.budget) into.budget->anchor = now;
  }
  if (c.limits) into.limits = *c.limits;
  if (c.model_limits) into.model_limits = *c.model_limits;
  if (c.tags) into.tags = *c.tags;
  if (c.metadata_json) into.metadata_json = *c.metadata_json;
  if (c.expires) into.expires = *c.expires;
  if (c.blocked) into.blocked = *c.blocked;
}

std::string key_json(const KeyRecord& key, const std::optional<SpendView>& spend,
                     std::string_view secret) {
  json::object model_limits;
  for (const ModelLimits& m : key.model_limits) model_limits[m.model] = limits_json(m.limits);
  json::object out{
      {"id", key.id},
      {"alias", text_or_null(key.alias)},
      {"hint", key.hint},
      {"role", key_role_name(key.role)},
      {"team", text_or_null(key.team_id)},
      {"user", text_or_null(key.user)},
      {"models", strings_json(key.models)},
      {"budget", budget_json(key.budget)},
      {"limits", limits_json(key.limits)},
      {"model_limits", std::move(model_limits)},
      {"tags", strings_json(key.tags)},
      {"metadata", metadata_value(key.metadata_json)},
      {"expires_at",
       key.expires ? json::value(format_rfc3339_utc(*key.expires)) : json::value(nullptr)},
      {"blocked", key.blocked},
      {"created_at", format_rfc3339_utc(key.created)},
  };
  add_spend(out, spend);
  if (!secret.empty()) out["secret"] = secret;
  return json::serialize(out);
}

// --- The spend report ---

Result<SpendReportRequest, AdminError> parse_spend_query(std::string_view query_string) {
  if (!query_string.empty() && query_string.front() == '?') query_string.remove_prefix(1);
  SpendReportRequest request;
  std::vector<std::string> seen;
  while (!query_string.empty()) {
    const std::size_t amp = query_string.find('&');
    const std::string_view pair = query_string.substr(0, amp);
    query_string =
        amp == std::string_view::npos ? std::string_view{} : query_string.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    const std::optional<std::string> name = percent_decode(pair.substr(0, eq));
    const std::optional<std::string> value =
        percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!name || !value) {
      return refuse(name.value_or(""),
                    "is not percent-encoded properly (a '%' takes two hex "
                    "digits)");
    }
    if (std::find(seen.begin(), seen.end(), *name) != seen.end()) {
      return refuse(*name, "is given twice");
    }
    seen.push_back(*name);
    if (value->empty()) continue;  // an empty form field: the default
    if (auto e = read_query_param(*name, *value, request)) return fail(*e);
  }
  if (request.query.from_ms >= request.query.to_ms) {
    return refuse("to", "must be after from (to is exclusive)");
  }
  return request;
}

// --- Times ---

std::optional<WallTime> parse_rfc3339_utc(std::string_view text) {
  // Seconds are the record's precision: a fraction is checked and dropped.
  if (text.size() > 20 && text[19] == '.' && text.back() == 'Z') {
    const std::string_view fraction = text.substr(20, text.size() - 21);
    if (fraction.empty() || fraction.find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
    return parse_rfc3339_utc(std::string(text.substr(0, 19)) + "Z");
  }
  // parse_report_time_ms also takes a bare date and unix seconds: only the full form is RFC 3339.
  if (text.size() != 20 || text[10] != 'T' || text[19] != 'Z') return std::nullopt;
  const std::optional<std::int64_t> ms = parse_report_time_ms(text);
  if (!ms) return std::nullopt;
  return WallTime{std::chrono::seconds{*ms / 1000}};
}

std::string format_rfc3339_utc(WallTime t) {
  using namespace std::chrono;
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> time{t - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                static_cast<int>(time.seconds().count()));
  return buf;
}

}  // namespace switchyard::core
