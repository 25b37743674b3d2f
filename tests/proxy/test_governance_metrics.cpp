// Governance on /metrics (issue 12): refusals by reason, requests and spend per team (bounded
// by governance.metrics.max_teams), budget gauges, key aliases behind their option, and the
// ledger writer's counts, read from the real gateway's exposition after real requests.
#include <catch2/catch.hpp>
#include <cmath>

#include "proxy/sqlite_store.hpp"
#include "tests/proxy/gateway_fixture.hpp"
#include "tests/proxy/governance_support.hpp"

using namespace switchyard;
using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kMaster = "master-key-for-the-metrics-tests";
constexpr const char* kAlpha = "sk-sy-alpha00000000000000000000000000000000000000";
constexpr const char* kAlphaLimited = "sk-sy-alpha-rpm000000000000000000000000000000000";
constexpr const char* kBeta = "sk-sy-beta000000000000000000000000000000000000000";
constexpr const char* kLoner = "sk-sy-loner00000000000000000000000000000000000000";
constexpr const char* kBlocked = "sk-sy-blocked0000000000000000000000000000000000";
constexpr const char* kNarrow = "sk-sy-narrow00000000000000000000000000000000000";

// Team alpha has a $1 daily budget, beta none; one key has no team.
void put_accounts(const std::string& dir) {
  auto store = proxy::open_sqlite_store(dir + "/gov.db");
  core::TeamRecord alpha = team_record("team_alpha", "alpha");
  core::BudgetSpec budget;
  budget.max = core::usd_to_micros(1.0);
  budget.period.kind = core::BudgetPeriod::Kind::daily;
  budget.anchor = now_wall();
  alpha.budget = budget;
  store->put_team(alpha);
  store->put_team(team_record("team_beta", "beta"));

  core::KeyRecord a = key_record("key_alpha", kAlpha, "team_alpha");
  a.alias = "svc-a";
  store->put_key(a);
  core::KeyRecord limited = key_record("key_alpha_rpm", kAlphaLimited, "team_alpha");
  limited.limits.rpm = 1;
  store->put_key(limited);
  store->put_key(key_record("key_beta", kBeta, "team_beta"));
  store->put_key(key_record("key_loner", kLoner, ""));
  core::KeyRecord blocked = key_record("key_blocked", kBlocked, "team_beta");
  blocked.blocked = true;
  store->put_key(blocked);
  core::KeyRecord narrow = key_record("key_narrow", kNarrow, "team_beta");
  narrow.models = {"claude-*"};
  store->put_key(narrow);
}

GatewayOptions governed(std::string_view metrics_options) {
  GatewayOptions o =
      governance_options(kMaster, 50, "  metrics: " + std::string(metrics_options) + "\n");
  o.prepare = put_accounts;
  return o;
}

int chat(const GatewayFixture& gw, std::string_view secret, std::string_view extra = {}) {
  const HttpHeaders headers = secret.empty() ? HttpHeaders{} : bearer(secret);
  return http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test", extra),
                      headers)
      .status;
}

bool has_series(std::string_view exposition, std::string_view series) {
  try {
    metric_value(exposition, series);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

}  // namespace

TEST_CASE("governance metrics: refusals by reason, requests and spend per team, budget gauges") {
  GatewayFixture gw(governed("{key_aliases: 10}"));
  REQUIRE(chat(gw, kAlpha) == 200);
  REQUIRE(chat(gw, kAlpha) == 200);
  REQUIRE(chat(gw, kAlphaLimited) == 200);
  REQUIRE(chat(gw, kAlphaLimited) == 429);  // its rpm of 1
  // 1000000 output tokens reserve $8: over the team's $1.
  REQUIRE(chat(gw, kAlpha, R"(,"max_tokens":1000000)") == 429);
  REQUIRE(chat(gw, kBeta) == 200);
  REQUIRE(chat(gw, kLoner) == 200);
  REQUIRE(chat(gw, "") == 401);
  REQUIRE(chat(gw, "sk-sy-not-a-key") == 401);
  REQUIRE(chat(gw, kBlocked) == 401);
  REQUIRE(chat(gw, kNarrow) == 403);

  // Eleven model requests, each a ledger row pushed after its metrics were recorded: once the
  // writer has committed all eleven, every count below is in.
  const std::string m = wait_for_metric(gw.port, "switchyard_ledger_rows_written_total", 11);
  CHECK(metric_value(m, R"m(switchyard_auth_failures_total{reason="model_not_allowed"})m") == 1);
  CHECK(metric_value(m, R"m(switchyard_auth_failures_total{reason="missing_api_key"})m") == 1);
  CHECK(metric_value(m, R"m(switchyard_auth_failures_total{reason="invalid_api_key"})m") == 1);
  CHECK(metric_value(m, R"m(switchyard_auth_failures_total{reason="key_blocked"})m") == 1);
  CHECK(metric_value(m, R"m(switchyard_auth_failures_total{reason="key_expired"})m") == 0);
  CHECK(metric_value(
            m, R"m(switchyard_governance_refusals_total{reason="budget",level="team"})m") == 1);
  CHECK(metric_value(m, R"m(switchyard_governance_refusals_total{reason="budget",level="key"})m") ==
        0);
  CHECK(
      metric_value(
          m,
          R"m(switchyard_governance_refusals_total{reason="requests_per_minute",level="key"})m") ==
      1);

  CHECK(metric_value(m, R"m(switchyard_team_requests_total{team="alpha",status="2xx"})m") == 3);
  CHECK(metric_value(m, R"m(switchyard_team_requests_total{team="alpha",status="4xx"})m") == 2);
  CHECK(metric_value(m, R"m(switchyard_team_requests_total{team="beta",status="2xx"})m") == 1);
  CHECK(metric_value(m, R"m(switchyard_team_requests_total{team="(none)",status="2xx"})m") == 1);
  CHECK(metric_value(m, R"m(switchyard_team_tokens_total{kind="completion",team="alpha"})m") > 0);
  const double alpha_cost = metric_value(m, R"m(switchyard_team_cost_usd_total{team="alpha"})m");
  CHECK(alpha_cost > 0);

  // Only alpha has a budget: beta exports no budget gauges at all.
  CHECK(metric_value(m, R"m(switchyard_team_budget_usd{team="alpha"})m") == Approx(1.0));
  const double spent = metric_value(m, R"m(switchyard_team_budget_spent_usd{team="alpha"})m");
  CHECK(spent == Approx(alpha_cost).margin(1e-5));
  CHECK(metric_value(m, R"m(switchyard_team_budget_remaining_usd{team="alpha"})m") ==
        Approx(1.0 - spent).margin(1e-6));
  const auto midnight =
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()) + 24h -
          std::chrono::system_clock::time_point{})
          .count();
  CHECK(metric_value(m, R"m(switchyard_team_budget_reset_timestamp_seconds{team="alpha"})m") ==
        static_cast<double>(midnight));
  CHECK_FALSE(has_series(m, R"m(switchyard_team_budget_usd{team="beta"})m"));

  // Key aliases are labels only behind their option; keys without one are "(none)".
  CHECK(metric_value(m, R"m(switchyard_key_requests_total{key_alias="svc-a",status="2xx"})m") == 2);
  CHECK(metric_value(m, R"m(switchyard_key_requests_total{key_alias="(none)",status="2xx"})m") ==
        3);
  // Never a key's secret or id in a label.
  CHECK(m.find("sk-sy-") == std::string::npos);
  CHECK(m.find("key_alpha") == std::string::npos);

  // The ledger writer: every model request is a row, none dropped, none waiting.
  CHECK(metric_value(m, "switchyard_ledger_rows_dropped_total") == 0);
  CHECK(metric_value(m, "switchyard_ledger_queue_rows") == 0);
  const double last_commit = metric_value(m, "switchyard_ledger_last_commit_timestamp_seconds");
  const double now_s = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  CHECK(last_commit > now_s - 60);
  CHECK(last_commit <= now_s + 1);
}

TEST_CASE("governance metrics: teams past metrics.max_teams share the (other) series") {
  GatewayFixture gw(governed("{max_teams: 1}"));
  REQUIRE(chat(gw, kAlpha) == 200);
  REQUIRE(chat(gw, kBeta) == 200);
  const std::string m = wait_for_metric(gw.port, "switchyard_ledger_rows_written_total", 2);
  // One of the two teams has a series of its own; the other counts under "(other)".
  const bool alpha_named =
      has_series(m, R"m(switchyard_team_requests_total{team="alpha",status="2xx"})m");
  const bool beta_named =
      has_series(m, R"m(switchyard_team_requests_total{team="beta",status="2xx"})m");
  CHECK(alpha_named != beta_named);
  CHECK(metric_value(m, R"m(switchyard_team_requests_total{team="(other)",status="2xx"})m") == 1);
  // Without the option, no key alias appears in a label.
  CHECK(m.find("key_alias") == std::string::npos);
}
