// What a request checks in Redis when budgets and limits are shared by replicas (issue 14):
// the checks of each level in order, the scripts' arguments, and how their answers read. The
// scripts themselves run against a real Redis in tests/proxy/test_replicas.cpp.
#include <catch2/catch.hpp>

#include "core/shared_limits.hpp"

using namespace switchyard::core;
using namespace std::chrono_literals;

namespace {

const WallTime kMidnight = WallTime{std::chrono::sys_days{std::chrono::year{2026} / 12 / 1}};
const WallTime kWall = kMidnight + 19h;

BudgetSpec daily(Micros max, std::optional<Micros> soft = {}) {
  BudgetSpec b;
  b.max = max;
  b.soft = soft;
  b.period.kind = BudgetPeriod::Kind::daily;
  b.anchor = kWall;
  return b;
}

// The entry keeps its table's states alive through its own shared pointers.
std::shared_ptr<const KeyEntry> entry(const KeyRecord& key, std::optional<TeamRecord> team = {}) {
  std::vector<TeamRecord> teams;
  if (team) teams.push_back(*team);
  auto table = AccountTable::build(teams, {key}, nullptr, kWall, SteadyTime{});
  return table->key_by_id(key.id);
}

KeyRecord key_with(std::optional<BudgetSpec> budget, Limits limits = {}) {
  KeyRecord k;
  k.id = "key_1";
  k.hash[0] = 1;
  k.budget = budget;
  k.limits = limits;
  return k;
}

}  // namespace

TEST_CASE("shared limits: a key with no budget or limit checks nothing", "[shared_limits]") {
  std::vector<SharedCheck> checks;
  shared_checks(*entry(key_with({})), "gpt-4o", {1000, 50}, kWall, checks);
  CHECK(checks.empty());
}

TEST_CASE("shared limits: budgets, then rates, then parallel, at each level", "[shared_limits]") {
  KeyRecord k = key_with(daily(5'000'000), {.rpm = 60, .tpm = 1000, .parallel = 2});
  k.team_id = "team_1";
  k.model_limits = {{"gpt-*", {.rpm = 10, .tpm = 0, .parallel = 1}}};
  TeamRecord t;
  t.id = "team_1";
  t.name = "search";
  t.budget = daily(9'000'000);
  t.limits.rpm = 100;
  std::vector<SharedCheck> checks;
  shared_checks(*entry(k, t), "gpt-4o", {.cost = 1234, .tokens = 77}, kWall, checks);
  std::vector<std::string> keys;
  for (const auto& c : checks) keys.push_back(c.key);
  const std::string day = std::to_string(unix_ms(kMidnight));
  CHECK(keys == std::vector<std::string>{"sy:b:key_1:" + day, "sy:b:team_1:" + day, "sy:r:key_1",
                                         "sy:t:key_1", "sy:r:team_1", "sy:r:key_1|gpt-*",
                                         "sy:p:key_1", "sy:p:key_1|gpt-*"});
  REQUIRE(checks.size() == 8);
  CHECK(checks[0].amount == 1234);
  CHECK(checks[0].limit == 5'000'000);
  CHECK(checks[1].level == Refusal::Level::team);
  CHECK(checks[3].tokens);
  CHECK(checks[3].amount == 77);
  CHECK(checks[5].level == Refusal::Level::key_and_model);
  // A budget's hash is kept past its period's end (5 h from 19:00), with a day to spare.
  CHECK(checks[0].ttl_ms == (5h + 24h) / 1ms);
  // Another model: no key-and-model level.
  shared_checks(*entry(k, t), "claude", {1, 1}, kWall, checks);
  CHECK(checks.size() == 6);

  std::vector<std::string> script_keys, argv;
  shared_admit_arguments(checks, "w:gw-a:0:1", script_keys, argv);
  CHECK(script_keys.size() == checks.size());
  REQUIRE(argv.size() == 2 + 5 * checks.size());
  CHECK(argv[0] == "w:gw-a:0:1");
  CHECK(argv[1] == "0");
  CHECK(std::vector<std::string>(argv.begin() + 2, argv.begin() + 7) ==
        std::vector<std::string>{"b", "5000000", "1", day, std::to_string((5h + 24h) / 1ms)});
  shared_settle_arguments(checks, "w:gw-a:0:1", 900, 40, /*give_back=*/false, script_keys, argv);
  CHECK(argv[5] == "900");  // the budget's actual cost, where admission had its period start
  CHECK(argv[15] == "1");   // a requests-per-minute check: one request
  CHECK(argv[20] == "40");  // the tokens-per-minute check's actual tokens
  shared_settle_arguments(checks, "w:gw-a:0:1", 0, 0, /*give_back=*/true, script_keys, argv);
  CHECK(argv[1] == "1");
}

TEST_CASE("shared limits: the admit script's answers read as the client's refusal",
          "[shared_limits]") {
  std::vector<SharedCheck> checks;
  const KeyRecord k = key_with(daily(1'000'000), {.rpm = 60, .tpm = 0, .parallel = 3});
  shared_checks(*entry(k), "m", {500, 10}, kWall, checks);
  REQUIRE(checks.size() == 3);

  // Admitted: the rate check's backlog after its charge (here 3 of the minute's 60 requests,
  // 3 s) gives the x-ratelimit-* view.
  const SharedVerdict ok = read_admit_reply({"ok", "3000000"}, checks);
  REQUIRE(ok.kind == SharedVerdict::Kind::admitted);
  REQUIRE(ok.rates.requests);
  CHECK_FALSE(ok.rates.tokens);
  CHECK(ok.rates.requests->limit == 60);
  CHECK(ok.rates.requests->remaining == 57);
  CHECK(ok.rates.requests->reset == 3s);
  // A backlog of the whole minute leaves none; Redis's clock can be read past it, never below 0.
  CHECK(read_admit_reply({"ok", "60000000"}, checks).rates.requests->remaining == 0);
  CHECK(read_admit_reply({"ok", "-5"}, checks).rates.requests->remaining == 60);
  const SharedVerdict budget = read_admit_reply({"refuse", "1", "900000", "200000"}, checks);
  REQUIRE(budget.kind == SharedVerdict::Kind::refused);
  CHECK(budget.refusal.kind == Refusal::Kind::budget);
  CHECK(budget.refusal.budget.spent == 900'000);
  CHECK(budget.refusal.budget.reserved == 200'000);
  CHECK(budget.refusal.budget.limit == 1'000'000);
  CHECK(budget.refusal.budget.reset == kMidnight + 24h);
  CHECK_FALSE(budget.rates.requests);  // the script stopped at the budget
  const SharedVerdict rate = read_admit_reply({"refuse", "2", "1500000", "59500000"}, checks);
  REQUIRE(rate.kind == SharedVerdict::Kind::refused);
  CHECK(rate.refusal.kind == Refusal::Kind::rate_requests);
  CHECK(rate.refusal.retry_after == 1500ms);
  CHECK(rate.refusal.limit == 60);
  REQUIRE(rate.rates.requests);
  CHECK(rate.rates.requests->remaining == 0);
  CHECK(rate.rates.requests->reset == 59500ms);
  const SharedVerdict parallel = read_admit_reply({"refuse", "3"}, checks);
  CHECK(parallel.refusal.kind == Refusal::Kind::parallel);
  CHECK(parallel.refusal.limit == 3);
  const SharedVerdict seed = read_admit_reply({"seed", "1"}, checks);
  CHECK(seed.kind == SharedVerdict::Kind::needs_seed);
  CHECK(seed.check == 0);
  // Anything else is malformed, never an admission.
  const std::vector<std::vector<std::string>> bad{{},
                                                  {"refuse"},
                                                  {"refuse", "9"},
                                                  {"refuse", "0"},
                                                  {"refuse", "1", "x", "1"},
                                                  {"maybe", "1"},
                                                  {"ok"},
                                                  {"ok", "x"},
                                                  {"refuse", "2", "1500000"}};
  for (const auto& reply : bad)
    CHECK(read_admit_reply(reply, checks).kind == SharedVerdict::Kind::malformed);
}

TEST_CASE("shared limits: a soft limit is crossed once, by the settle that passes it",
          "[shared_limits]") {
  std::vector<SharedCheck> checks;
  const auto key = entry(key_with(daily(1'000'000, 600'000)));
  shared_checks(*key, "m", {100, 1}, kWall, checks);
  CHECK_FALSE(crossed_soft_limit(*key, checks, {500'000}, 100'000));
  CHECK(crossed_soft_limit(*key, checks, {650'000}, 100'000));
  CHECK_FALSE(crossed_soft_limit(*key, checks, {750'000}, 100'000));  // past it already
  CHECK_FALSE(crossed_soft_limit(*key, checks, {-1}, 100'000));       // the hash was lost
}

TEST_CASE("shared limits: a field names its replica, worker and generation", "[shared_limits]") {
  const std::string field = shared_field("gw-a", 3, 7);
  CHECK(field == "w:gw-a:3:7");
  CHECK(shared_liveness_key(field) == "sy:live:gw-a:3:7");
  // The admit script keeps its own connection's field alive.
  CHECK(shared_admit_script().find("'sy:live:' .. string.sub(field, 3)") != std::string_view::npos);
}
