// The admin API's bodies: every invalid member is a 400 naming its field and what was wanted;
// PATCH leaves, clears and replaces; the JSON shown never carries a secret unless given; the
// spend report's query string.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>

#include "core/admin_requests.hpp"

using namespace switchyard::core;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const WallTime kNow = WallTime{std::chrono::sys_days{std::chrono::year{2026} / 12 / 1}} + 19h;

AdminError team_error(std::string_view body, bool creating = true) {
  auto r = parse_team_body(body, creating, kNow);
  REQUIRE_FALSE(r.ok());
  return r.error();
}

AdminError key_error(std::string_view body) {
  auto r = parse_key_body(body, true, kNow);
  REQUIRE_FALSE(r.ok());
  return r.error();
}

TeamChanges team_changes(std::string_view body, bool creating = true) {
  auto r = parse_team_body(body, creating, kNow);
  INFO(body);
  if (!r.ok()) FAIL(r.error().field + ": " + r.error().message);
  return r.value();
}

KeyChanges key_changes(std::string_view body) {
  auto r = parse_key_body(body, true, kNow);
  INFO(body);
  if (!r.ok()) FAIL(r.error().field + ": " + r.error().message);
  return r.value();
}

struct Refusal {
  std::string body;
  std::string field;
  std::string wanted;  // a piece of the message
};

void check_team_refusals(const std::vector<Refusal>& cases) {
  for (const Refusal& c : cases) {
    INFO(c.body);
    const AdminError e = team_error(c.body);
    CHECK(e.field == c.field);
    CHECK_THAT(e.message, Catch::Contains(c.wanted));
  }
}

void check_key_refusals(const std::vector<Refusal>& cases) {
  for (const Refusal& c : cases) {
    INFO(c.body);
    const AdminError e = key_error(c.body);
    CHECK(e.field == c.field);
    CHECK_THAT(e.message, Catch::Contains(c.wanted));
  }
}

}  // namespace

TEST_CASE("admin bodies: not JSON, not an object and unknown members are refused by name") {
  check_team_refusals({
      {R"({"name": )", "", "not valid JSON"},
      {R"(["search"])", "", "must be a JSON object"},
      {R"({"name": "search", "budjet": {}})", "budjet", "the members are name, models"},
      {R"({"name": "s", "budget": {"max_usd": 1, "peroid": "daily"}})", "budget.peroid",
       "max_usd, period, soft_usd"},
      {R"({"name": "s", "limits": {"rpm": 1, "rps": 2}})", "limits.rps", "rpm, tpm, parallel"},
  });
  check_key_refusals({
      {R"({"name": "ci-bot"})", "name", "the members are alias, team"},
      {R"({"model_limits": {"gpt-4o": {"rpm": 1, "burst": 2}}})", "model_limits.gpt-4o.burst",
       "rpm, tpm, parallel"},
  });
}

TEST_CASE("admin bodies: names and aliases are 1 to 64 characters of [A-Za-z0-9._-]") {
  const std::string wanted = "1 to 64 characters of A-Z, a-z, 0-9";
  check_team_refusals({
      {R"({"name": ""})", "name", wanted},
      {R"({"name": "has space"})", "name", wanted},
      {R"({"name": "naïve"})", "name", wanted},
      {R"({"name": ")" + std::string(65, 'a') + R"("})", "name", wanted},
      {R"({"name": 7})", "name", wanted},
      {R"({"name": null})", "name", wanted},
  });
  check_key_refusals({
      {R"({"alias": "ci/bot"})", "alias", wanted},
      {R"({"alias": ""})", "alias", wanted},
      {R"({"team": "a team"})", "team", "a team id or name"},
      {R"({"team": ""})", "team", "a team id or name"},
      {R"({"user": 5})", "user", "a string of at most 256 characters"},
      {R"({"user": ")" + std::string(257, 'u') + R"("})", "user", "at most 256"},
  });
  CHECK(team_changes(R"({"name": ")" + std::string(64, 'a') + R"("})").name->size() == 64);
  CHECK(team_changes(R"({"name": "Search_v2.prod-eu"})").name == "Search_v2.prod-eu");
}

TEST_CASE("admin bodies: models are at most 256 non-empty strings of at most 128 characters") {
  const std::string wanted = "an array of at most 256 model names or globs";
  std::string many = R"({"name": "t", "models": [)";
  for (int i = 0; i < 257; ++i) many += std::string(i ? "," : "") + "\"m\"";
  many += "]}";
  check_team_refusals({
      {R"({"name": "t", "models": "gpt-4o"})", "models", wanted},
      {R"({"name": "t", "models": ["gpt-4o", ""]})", "models[1]", "1 to 128 characters"},
      {R"({"name": "t", "models": [3]})", "models[0]", wanted},
      {R"({"name": "t", "models": [")" + std::string(129, 'm') + R"("]})", "models[0]",
       "1 to 128 characters"},
      {many, "models", wanted},
  });
  check_key_refusals({{R"({"models": ["gpt-4o", null]})", "models[1]", wanted}});
  CHECK(key_changes(R"({"models": ["gpt-4o*", "claude-sonnet-4-5"]})").models ==
        std::vector<std::string>{"gpt-4o*", "claude-sonnet-4-5"});
}

TEST_CASE("admin bodies: a budget needs max_usd above 0, and soft_usd is at most max_usd") {
  const std::string usd = "must be a number of USD above 0";
  check_team_refusals({
      {R"({"name": "t", "budget": 100})", "budget", "an object with max_usd"},
      {R"({"name": "t", "budget": {}})", "budget.max_usd", "is required"},
      {R"({"name": "t", "budget": {"max_usd": 0}})", "budget.max_usd", usd},
      {R"({"name": "t", "budget": {"max_usd": -5}})", "budget.max_usd", usd},
      {R"({"name": "t", "budget": {"max_usd": "100"}})", "budget.max_usd", "not a string"},
      {R"({"name": "t", "budget": {"max_usd": 1e400}})", "budget.max_usd", usd},
      {R"({"name": "t", "budget": {"max_usd": 1e9}})", "budget.max_usd", "at most 281474976"},
      {R"({"name": "t", "budget": {"max_usd": 0.0000001}})", "budget.max_usd", "0.000001"},
      {R"({"name": "t", "budget": {"max_usd": true}})", "budget.max_usd", usd},
      {R"({"name": "t", "budget": {"max_usd": 10, "soft_usd": 11}})", "budget.soft_usd",
       "at most max_usd"},
      {R"({"name": "t", "budget": {"max_usd": 10, "soft_usd": 0}})", "budget.soft_usd", usd},
      {R"({"name": "t", "budget": {"max_usd": 10, "period": "yearly"}})", "budget.period",
       "daily, weekly, monthly or a duration"},
      {R"({"name": "t", "budget": {"max_usd": 10, "period": 30}})", "budget.period",
       "daily, weekly, monthly or a duration"},
  });

  const TeamChanges c = team_changes(
      R"({"name": "t", "budget": {"max_usd": 100.5, "soft_usd": 80, "period": "30d"}})");
  REQUIRE(c.budget);
  REQUIRE(*c.budget);
  const BudgetSpec& b = **c.budget;
  CHECK(b.max == 100'500'000);
  CHECK(b.soft == 80'000'000);
  CHECK(b.period.kind == BudgetPeriod::Kind::duration);
  CHECK(b.period.length == std::chrono::days{30});
  // Monthly when unsaid; the largest budget a counter holds is accepted.
  const TeamChanges d = team_changes(R"({"name": "t", "budget": {"max_usd": 281474976}})");
  CHECK((*d.budget)->period.kind == BudgetPeriod::Kind::monthly);
  CHECK((*d.budget)->max == 281'474'976'000'000);
  CHECK_FALSE((*d.budget)->soft);
}

TEST_CASE("admin bodies: limits are whole numbers from 0 to 1e12") {
  const std::string wanted = "a whole number from 0 to 1000000000000";
  check_team_refusals({
      {R"({"name": "t", "limits": 5})", "limits", "an object with rpm, tpm and parallel"},
      {R"({"name": "t", "limits": {"rpm": -1}})", "limits.rpm", wanted},
      {R"({"name": "t", "limits": {"tpm": 1.5}})", "limits.tpm", wanted},
      {R"({"name": "t", "limits": {"parallel": "20"}})", "limits.parallel", wanted},
      {R"({"name": "t", "limits": {"rpm": 1000000000001}})", "limits.rpm", wanted},
      {R"({"name": "t", "limits": {"rpm": 18446744073709551615}})", "limits.rpm", wanted},
      {R"({"name": "t", "limits": {"rpm": 1e400}})", "limits.rpm", wanted},
      {R"({"name": "t", "limits": {"rpm": null}})", "limits.rpm", wanted},
  });
  check_key_refusals({
      {R"({"model_limits": {"gpt-4o": {"tpm": 0.5}}})", "model_limits.gpt-4o.tpm", wanted},
      {R"({"model_limits": {"gpt-4o": 10}})", "model_limits.gpt-4o", "an object with rpm"},
      {R"({"model_limits": {"": {"rpm": 1}}})", "model_limits.", "1 to 128 characters"},
      {R"({"model_limits": ["gpt-4o"]})", "model_limits", "an object of at most 256"},
  });
  // A whole number written with an exponent is still one; 0 and 1e12 are the bounds.
  const TeamChanges c =
      team_changes(R"({"name": "t", "limits": {"rpm": 0, "tpm": 1e6, "parallel": 1000000000000}})");
  CHECK(c.limits->rpm == 0);
  CHECK(c.limits->tpm == 1'000'000);
  CHECK(c.limits->parallel == 1'000'000'000'000);
}

TEST_CASE("admin bodies: tags, metadata, blocked and role say what they want") {
  std::string many_tags = R"({"tags": [)";
  for (int i = 0; i < 33; ++i) many_tags += std::string(i ? "," : "") + "\"t\"";
  many_tags += "]}";
  std::string big_metadata = R"({"metadata": {"note": ")" + std::string(4100, 'x') + R"("}})";
  check_key_refusals({
      {R"({"tags": ["ci,nightly"]})", "tags[0]", "without ','"},
      {R"({"tags": [""]})", "tags[0]", "1 to 64 characters"},
      {R"({"tags": [")" + std::string(65, 't') + R"("]})", "tags[0]", "1 to 64 characters"},
      {many_tags, "tags", "at most 32 tags"},
      {R"({"metadata": "owner=ana"})", "metadata", "a JSON object of at most 4096 bytes"},
      {R"({"metadata": [1]})", "metadata", "a JSON object"},
      {big_metadata, "metadata", "at most 4096 bytes"},
      {R"({"blocked": "false"})", "blocked", "true or false"},
      {R"({"blocked": null})", "blocked", "true or false"},
      {R"({"role": "owner"})", "role", "one of client, admin, reporting"},
      {R"({"role": null})", "role", "one of client, admin, reporting"},
  });
  check_team_refusals({{R"({"name": "t", "blocked": 1})", "blocked", "true or false"}});
  CHECK(key_changes(R"({"role": "reporting"})").role == KeyRole::reporting);
  CHECK(key_changes(R"({"metadata": {"owner": "ana", "n": [1, 2]}})").metadata_json ==
        R"({"owner":"ana","n":[1,2]})");
}

TEST_CASE("admin bodies: a key expires at a future UTC time or after a duration, not both") {
  const std::string rfc = "RFC 3339 UTC, like 2027-01-01T00:00:00Z";
  const std::string duration = "a duration like 30d, 12h, 90m or 3600s";
  check_key_refusals({
      {R"({"expires_at": "2027-01-01"})", "expires_at", rfc},
      {R"({"expires_at": "2027-01-01T00:00:00+01:00"})", "expires_at", rfc},
      {R"({"expires_at": "2027-13-01T00:00:00Z"})", "expires_at", rfc},
      {R"({"expires_at": 1798761600})", "expires_at", rfc},
      {R"({"expires_at": "2026-12-01T19:00:00Z"})", "expires_at", "in the future"},
      {R"({"expires_at": "2020-01-01T00:00:00Z"})", "expires_at", "now is 2026-12-01T19:00:00Z"},
      {R"({"expires_in": "monthly"})", "expires_in", duration},
      {R"({"expires_in": "0d"})", "expires_in", duration},
      {R"({"expires_in": "30 days"})", "expires_in", duration},
      {R"({"expires_in": 3600})", "expires_in", duration},
      {R"({"expires_in": "30d", "expires_at": "2027-01-01T00:00:00Z"})", "expires_at", "not both"},
      {R"({"expires_at": "2027-01-01T00:00:00Z", "expires_in": "30d"})", "expires_in", "not both"},
  });
  CHECK(key_changes(R"({"expires_in": "30d"})").expires == std::optional{kNow + 30 * 24h});
  CHECK(key_changes(R"({"expires_at": "2026-12-01T19:00:01Z"})").expires ==
        std::optional{kNow + 1s});
  CHECK(key_changes(R"({"expires_at": "2027-01-01T00:00:00.250Z"})").expires ==
        std::optional{WallTime{std::chrono::sys_days{std::chrono::year{2027} / 1 / 1}}});
  // null clears: the key never expires.
  const KeyChanges cleared = key_changes(R"({"expires_at": null})");
  REQUIRE(cleared.expires);
  CHECK_FALSE(*cleared.expires);
}

TEST_CASE("admin bodies: creating a team needs its name, a key needs nothing") {
  CHECK(team_error("{}").field == "name");
  CHECK_THAT(team_error("{}").message, Catch::Contains("is required"));
  CHECK(parse_team_body("{}", /*creating=*/false, kNow).ok());
  const KeyChanges bare = key_changes("{}");
  KeyRecord key;
  apply(bare, key, kNow);
  CHECK(key.role == KeyRole::client);
  CHECK_FALSE(key.limits.any());
  CHECK_FALSE(key.budget);
  CHECK(key.metadata_json == "{}");
}

TEST_CASE("a team created from a body reads back as the same team") {
  const TeamChanges c =
      team_changes(R"({"name": "search", "models": ["gpt-4o*", "claude-sonnet-4-5"],
      "budget": {"max_usd": 100, "period": "monthly", "soft_usd": 80},
      "limits": {"rpm": 600, "tpm": 1000000, "parallel": 20},
      "blocked": false, "metadata": {"owner": "ana"}})");
  TeamRecord team;
  team.id = "team_00000000000000aa";
  team.created = kNow - 1h;
  apply(c, team, kNow);
  CHECK(team.budget->anchor == kNow);

  const SpendView spend{12'500'000, 250'000, kNow + 24h};
  const json::object out = json::parse(team_json(team, spend)).as_object();
  CHECK(out.at("id") == "team_00000000000000aa");
  CHECK(out.at("name") == "search");
  CHECK(out.at("models") == json::array{"gpt-4o*", "claude-sonnet-4-5"});
  CHECK(out.at("budget") ==
        json::object{{"max_usd", "100.000000"}, {"soft_usd", "80.000000"}, {"period", "monthly"}});
  CHECK(out.at("limits") == json::object{{"rpm", 600}, {"tpm", 1000000}, {"parallel", 20}});
  CHECK(out.at("blocked") == false);
  CHECK(out.at("metadata") == json::object{{"owner", "ana"}});
  CHECK(out.at("created_at") == "2026-12-01T18:00:00Z");
  CHECK(out.at("spend") == json::object{{"spent_usd", "12.500000"},
                                        {"reserved_usd", "0.250000"},
                                        {"resets_at", "2026-12-02T19:00:00Z"}});
  // Without spend there is no spend member, and a duration budget shows where it counts from.
  team.budget->period = {BudgetPeriod::Kind::duration, std::chrono::days{30}};
  const json::object bare = json::parse(team_json(team, std::nullopt)).as_object();
  CHECK_FALSE(bare.contains("spend"));
  CHECK(bare.at("budget").at("period") == "30d");
  CHECK(bare.at("budget").at("anchor") == "2026-12-01T19:00:00Z");
}

TEST_CASE("a key created from a body reads back as the same key, in the body's names") {
  KeyChanges c = key_changes(R"({"alias": "ci-bot", "team": "search", "user": "alice",
      "role": "client", "models": ["gpt-4o-mini"], "budget": {"max_usd": 5, "period": "daily"},
      "limits": {"rpm": 60}, "model_limits": {"gpt-4o": {"rpm": 10, "tpm": 20000}, "gpt-*": {"rpm": 20}},
      "tags": ["ci", "nightly"], "metadata": {"repo": "x"}, "expires_in": "30d", "blocked": false})");
  CHECK(c.team == std::optional<std::optional<std::string>>{"search"});
  c.team = std::optional<std::string>{"team_00000000000000aa"};  // the caller resolves the name
  KeyRecord key;
  key.id = "key_00000000000000bb";
  key.hint = "sk-sy-…WXYZ";
  key.created = kNow;
  apply(c, key, kNow);
  REQUIRE(key.model_limits.size() == 2);
  CHECK(key.model_limits[0].model == "gpt-4o");  // the first match applies: order is kept
  CHECK(key.model_limits[1].model == "gpt-*");

  const json::object out = json::parse(key_json(key, std::nullopt)).as_object();
  CHECK(out.at("id") == "key_00000000000000bb");
  CHECK(out.at("alias") == "ci-bot");
  CHECK(out.at("hint") == "sk-sy-…WXYZ");
  CHECK(out.at("team") == "team_00000000000000aa");
  CHECK(out.at("user") == "alice");
  CHECK(out.at("role") == "client");
  CHECK(out.at("models") == json::array{"gpt-4o-mini"});
  CHECK(out.at("budget") ==
        json::object{{"max_usd", "5.000000"}, {"soft_usd", nullptr}, {"period", "daily"}});
  CHECK(out.at("limits") == json::object{{"rpm", 60}, {"tpm", 0}, {"parallel", 0}});
  CHECK(
      json::serialize(out.at("model_limits")) ==
      R"({"gpt-4o":{"rpm":10,"tpm":20000,"parallel":0},"gpt-*":{"rpm":20,"tpm":0,"parallel":0}})");
  CHECK(out.at("tags") == json::array{"ci", "nightly"});
  CHECK(out.at("metadata") == json::object{{"repo", "x"}});
  CHECK(out.at("expires_at") == "2026-12-31T19:00:00Z");
  CHECK(out.at("blocked") == false);
  CHECK(out.at("created_at") == "2026-12-01T19:00:00Z");

  // What was shown, given back as a PATCH (less what is the gateway's), changes nothing.
  json::object again = out;
  for (const char* shown_only : {"id", "hint", "created_at", "budget"}) again.erase(shown_only);
  const KeyChanges back = key_changes(json::serialize(again));
  KeyRecord copy = key;
  apply(back, copy, kNow + 1h);
  CHECK(key_json(copy, std::nullopt) == key_json(key, std::nullopt));
}

TEST_CASE("a key's JSON carries its secret only when given, and never its hash") {
  KeyRecord key;
  key.id = "key_1";
  key.hint = "sk-sy-…abcd";
  key.hash.fill(0xab);
  const std::string secret = "sk-sy-" + std::string(39, 'Q') + "abcd";
  const std::string listed = key_json(key, std::nullopt);
  CHECK(listed.find("QQQQ") == std::string::npos);
  CHECK(listed.find("secret") == std::string::npos);
  CHECK(listed.find("abab") == std::string::npos);
  CHECK(listed.find("hash") == std::string::npos);
  const json::object created = json::parse(key_json(key, std::nullopt, secret)).as_object();
  CHECK(created.at("secret").as_string() == secret);
  CHECK(created.at("alias").is_null());  // unset text shows as null, not ""
  CHECK(created.at("team").is_null());
  CHECK(created.at("expires_at").is_null());
}

TEST_CASE("PATCH: an absent member leaves, null clears, a value replaces") {
  TeamRecord team;
  apply(team_changes(R"({"name": "search", "models": ["gpt-*"], "budget": {"max_usd": 10},
      "limits": {"rpm": 5, "tpm": 100}, "blocked": true, "metadata": {"a": 1}})"),
        team, kNow);

  apply(team_changes(R"({"blocked": false})", false), team, kNow + 1h);
  CHECK(team.name == "search");
  CHECK(team.models == std::vector<std::string>{"gpt-*"});
  CHECK(team.budget->max == 10'000'000);
  CHECK(team.budget->anchor == kNow);  // untouched budgets keep their anchor
  CHECK(team.limits.rpm == 5);
  CHECK_FALSE(team.blocked);
  CHECK(team.metadata_json == R"({"a":1})");

  // A value replaces the member whole: the tpm the new limits leave out is no limit.
  apply(team_changes(R"({"limits": {"rpm": 7}, "budget": {"max_usd": 20}})", false), team,
        kNow + 2h);
  CHECK(team.limits.rpm == 7);
  CHECK(team.limits.tpm == 0);
  CHECK(team.budget->max == 20'000'000);
  CHECK(team.budget->anchor == kNow + 2h);

  apply(
      team_changes(R"({"models": null, "budget": null, "limits": null, "metadata": null})", false),
      team, kNow);
  CHECK(team.models.empty());
  CHECK_FALSE(team.budget);
  CHECK_FALSE(team.limits.any());
  CHECK(team.metadata_json == "{}");
  CHECK(team.name == "search");

  KeyRecord key;
  apply(key_changes(R"({"alias": "bot", "team": "team_1", "user": "u", "tags": ["a"],
      "model_limits": {"m": {"rpm": 1}}, "expires_in": "1h"})"),
        key, kNow);
  apply(key_changes(R"({"alias": null, "team": null, "user": null, "tags": null,
      "model_limits": null, "expires_in": null})"),
        key, kNow);
  CHECK(key.alias.empty());
  CHECK(key.team_id.empty());
  CHECK(key.user.empty());
  CHECK(key.tags.empty());
  CHECK(key.model_limits.empty());
  CHECK_FALSE(key.expires);
}

TEST_CASE("spend report query: group_by, from, to and format, percent-decoded") {
  auto query = [](std::string_view q) {
    auto r = parse_spend_query(q);
    INFO(q);
    if (!r.ok()) FAIL(r.error().field + ": " + r.error().message);
    return r.value();
  };
  const SpendReportRequest defaults = query("");
  CHECK(defaults.query.group == SpendGroup::key);
  CHECK(defaults.query.from_ms == 0);
  CHECK(defaults.query.to_ms == INT64_MAX);
  CHECK_FALSE(defaults.csv);

  const SpendReportRequest r =
      query("?group_by=team&from=2026-12-01T00%3A00%3A00Z&to=2026-12-02&format=csv");
  CHECK(r.query.group == SpendGroup::team);
  CHECK(r.query.from_ms == 1'796'083'200'000);
  CHECK(r.query.to_ms == 1'796'169'600'000);
  CHECK(r.csv);
  CHECK(query("group_by=day&from=1796083200&format=json").query.from_ms == 1'796'083'200'000);
  CHECK(query("group_by=&from=&format=").query.group == SpendGroup::key);  // empty form fields
  CHECK(query("group%5Fby=tag&&").query.group == SpendGroup::tag);
}

TEST_CASE("spend report query: what is refused, by parameter") {
  const std::vector<Refusal> cases{
      {"group_by=cost", "group_by", "one of key, team, model, provider, tag, user, day"},
      {"from=yesterday", "from", "2026-12-01T00:00:00Z, 2026-12-01 (midnight UTC) or unix seconds"},
      {"to=2026-02-30", "to", "2026-12-01T00:00:00Z"},
      {"from=2026-12-02&to=2026-12-01", "to", "after from"},
      {"from=2026-12-01&to=2026-12-01", "to", "after from"},
      {"format=xml", "format", "json or csv"},
      {"limit=10", "limit", "the parameters are group_by, from, to and format"},
      {"group_by=key&group_by=team", "group_by", "given twice"},
      {"from=2026%2", "from", "percent-encoded"},
      {"from=%zz", "from", "percent-encoded"},
  };
  for (const Refusal& c : cases) {
    INFO(c.body);
    auto r = parse_spend_query(c.body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().field == c.field);
    CHECK_THAT(r.error().message, Catch::Contains(c.wanted));
  }
}

TEST_CASE("RFC 3339 UTC times are read and written to the second") {
  CHECK(parse_rfc3339_utc("2026-12-01T19:00:00Z") == kNow);
  CHECK(parse_rfc3339_utc("2026-12-01T19:00:00.999Z") == kNow);
  CHECK_FALSE(parse_rfc3339_utc("2026-12-01T19:00:00.Z"));
  CHECK_FALSE(parse_rfc3339_utc("2026-12-01T19:00:00"));
  CHECK_FALSE(parse_rfc3339_utc("2026-12-01 19:00:00Z"));
  CHECK_FALSE(parse_rfc3339_utc("2026-12-01T24:00:00Z"));
  CHECK(format_rfc3339_utc(kNow) == "2026-12-01T19:00:00Z");
  CHECK(format_rfc3339_utc(WallTime{}) == "1970-01-01T00:00:00Z");
}
