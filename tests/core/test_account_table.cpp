// The in-memory key and team table and the admission policy: budgets and limits at every level
// (key, team, key-and-model) are taken all or nothing, settled to what was used, and survive
// a rebuild of the table (an admin change) with their counts.
#include <atomic>
#include <catch2/catch.hpp>
#include <latch>
#include <thread>

#include "core/account_table.hpp"

using namespace switchyard::core;
using namespace std::chrono_literals;

namespace {

const WallTime kWall = WallTime{std::chrono::sys_days{std::chrono::year{2026} / 12 / 1}} + 19h;
const SteadyTime kNow = SteadyTime{} + 1000h;

KeyHash hash_of(std::uint8_t seed) {
  KeyHash h{};
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<std::uint8_t>(seed * 31 + i);
  return h;
}

BudgetSpec daily(double usd) {
  BudgetSpec b;
  b.max = usd_to_micros(usd);
  b.period.kind = BudgetPeriod::Kind::daily;
  b.anchor = kWall;
  return b;
}

TeamRecord team(std::optional<BudgetSpec> budget = {}, Limits limits = {}) {
  TeamRecord t;
  t.id = "team_1";
  t.name = "search";
  t.budget = budget;
  t.limits = limits;
  return t;
}

KeyRecord key(std::string id, std::uint8_t seed, std::optional<BudgetSpec> budget = {},
              Limits limits = {}, std::string team_id = "team_1") {
  KeyRecord k;
  k.id = std::move(id);
  k.hash = hash_of(seed);
  k.team_id = std::move(team_id);
  k.budget = budget;
  k.limits = limits;
  return k;
}

const Estimate kTenCents{usd_to_micros(0.10), 1000};

}  // namespace

TEST_CASE("the table finds a key by its hash, with its team") {
  auto table = AccountTable::build({team()}, {key("key_a", 1), key("key_b", 2, {}, {}, "")},
                                   nullptr, kWall, kNow);
  auto a = table->find(hash_of(1));
  REQUIRE(a);
  CHECK(a->record.id == "key_a");
  REQUIRE(a->team);
  CHECK(a->team->record.name == "search");
  CHECK(table->find(hash_of(2))->team == nullptr);
  CHECK(table->find(hash_of(3)) == nullptr);
  CHECK(table->key_by_id("key_b"));
  CHECK(table->team_by_id("team_1"));
  CHECK_FALSE(table->team_by_id("team_2"));
}

TEST_CASE("a key's budget admits what fits and refuses the rest, saying where it stands") {
  auto table = AccountTable::build({team()}, {key("key_a", 1, daily(1.0))}, nullptr, kWall, kNow);
  auto k = table->find(hash_of(1));
  std::vector<Admission> open(10);
  for (auto& a : open) REQUIRE_FALSE(admit(k, "gpt-4o", kTenCents, kWall, kNow, a));
  Admission eleventh;
  const auto refused = admit(k, "gpt-4o", kTenCents, kWall, kNow, eleventh);
  REQUIRE(refused);
  CHECK(refused->kind == Refusal::Kind::budget);
  CHECK(refused->level == Refusal::Level::key);
  CHECK(refused->budget.limit == usd_to_micros(1.0));
  CHECK(refused->budget.reserved == usd_to_micros(1.0));
  CHECK(refused->budget.reset == WallTime{std::chrono::sys_days{std::chrono::year{2026} / 12 / 2}});
  // Settled below their estimate, the ten leave room again.
  for (auto& a : open) settle(a, usd_to_micros(0.02), 100, kWall, kNow);
  CHECK(k->state->budget->spent(kWall) == usd_to_micros(0.20));
  CHECK(k->state->budget->reserved(kWall) == 0);
  Admission again;
  CHECK_FALSE(admit(k, "gpt-4o", kTenCents, kWall, kNow, again));
}

TEST_CASE("a refusal at one level leaves nothing charged at the others") {
  SECTION("the team's budget refuses: the key's reservation is given back") {
    auto table = AccountTable::build({team(daily(0.05))}, {key("key_a", 1, daily(1.0))}, nullptr,
                                     kWall, kNow);
    auto k = table->find(hash_of(1));
    Admission a;
    const auto refused = admit(k, "m", kTenCents, kWall, kNow, a);
    REQUIRE(refused);
    CHECK(refused->level == Refusal::Level::team);
    CHECK(k->state->budget->reserved(kWall) == 0);
  }
  SECTION("the team's rpm refuses: both budgets and the key's rpm are given back") {
    auto table =
        AccountTable::build({team(daily(5.0), {.rpm = 1})},
                            {key("key_a", 1, daily(1.0), {.rpm = 100})}, nullptr, kWall, kNow);
    auto k = table->find(hash_of(1));
    Admission first;
    REQUIRE_FALSE(admit(k, "m", kTenCents, kWall, kNow, first));
    const auto key_rpm_left = k->state->limits.rpm.remaining(kNow);
    Admission second;
    const auto refused = admit(k, "m", kTenCents, kWall, kNow, second);
    REQUIRE(refused);
    CHECK(refused->kind == Refusal::Kind::rate_requests);
    CHECK(refused->level == Refusal::Level::team);
    CHECK(refused->limit == 1);
    CHECK(refused->retry_after > 59s);
    CHECK(k->state->budget->reserved(kWall) == usd_to_micros(0.10));  // the first one's only
    CHECK(k->team->state->budget->reserved(kWall) == usd_to_micros(0.10));
    CHECK(k->state->limits.rpm.remaining(kNow) == key_rpm_left);
  }
  SECTION("the parallel limit refuses while one is in flight, and admits once it settled") {
    auto table = AccountTable::build({team()}, {key("key_a", 1, {}, {.rpm = 100, .parallel = 1})},
                                     nullptr, kWall, kNow);
    auto k = table->find(hash_of(1));
    Admission first;
    REQUIRE_FALSE(admit(k, "m", kTenCents, kWall, kNow, first));
    const auto rpm_left = k->state->limits.rpm.remaining(kNow);
    Admission second;
    const auto refused = admit(k, "m", kTenCents, kWall, kNow, second);
    REQUIRE(refused);
    CHECK(refused->kind == Refusal::Kind::parallel);
    CHECK(k->state->limits.rpm.remaining(kNow) == rpm_left);
    settle(first, 0, 0, kWall, kNow);
    CHECK_FALSE(admit(k, "m", kTenCents, kWall, kNow, second));
  }
}

TEST_CASE("tokens are reserved up front and settled to what was used") {
  auto table =
      AccountTable::build({team()}, {key("key_a", 1, {}, {.tpm = 10'000})}, nullptr, kWall, kNow);
  auto k = table->find(hash_of(1));
  Admission a;
  REQUIRE_FALSE(admit(k, "m", {0, 8'000}, kWall, kNow, a));
  CHECK(k->state->limits.tpm.remaining(kNow) == 2'000);
  Admission b;
  const auto refused = admit(k, "m", {0, 8'000}, kWall, kNow, b);
  REQUIRE(refused);
  CHECK(refused->kind == Refusal::Kind::rate_tokens);
  settle(a, 0, 1'000, kWall, kNow);
  CHECK(k->state->limits.tpm.remaining(kNow) == 9'000);
}

TEST_CASE("key-and-model limits apply to the models their pattern matches") {
  KeyRecord k = key("key_a", 1);
  k.model_limits = {{"gpt-4o*", {.rpm = 1}}};
  auto table = AccountTable::build({team()}, {k}, nullptr, kWall, kNow);
  auto entry = table->find(hash_of(1));
  Admission a, b, c;
  REQUIRE_FALSE(admit(entry, "gpt-4o-mini", kTenCents, kWall, kNow, a));
  const auto refused = admit(entry, "gpt-4o", kTenCents, kWall, kNow, b);
  REQUIRE(refused);
  CHECK(refused->level == Refusal::Level::key_and_model);
  CHECK_FALSE(admit(entry, "claude", kTenCents, kWall, kNow, c));

  const RateViews views = rate_views(*entry, "gpt-4o", kNow);
  REQUIRE(views.requests);
  CHECK(views.requests->limit == 1);
  CHECK(views.requests->remaining == 0);
  CHECK_FALSE(views.tokens);
  CHECK_FALSE(rate_views(*entry, "claude", kNow).requests);
}

TEST_CASE("an admission's rate views are the key's, at every level, and none once settled") {
  // The answer headers come from the limiters admission charged; they must say what looking
  // the levels up again would.
  TeamRecord t = team(std::nullopt, {.rpm = 50, .tpm = 900'000});
  KeyRecord k = key("key_a", 1, std::nullopt, {.rpm = 100, .tpm = 20'000});
  k.model_limits = {{"gpt-*", {.rpm = 30, .tpm = 5'000'000}}};
  auto table = AccountTable::build({t}, {k}, nullptr, kWall, kNow);
  auto entry = table->find(hash_of(1));
  for (std::string_view model : {"gpt-4o", "claude"}) {
    INFO(model);
    Admission a;
    REQUIRE_FALSE(admit(entry, model, {0, 4'000}, kWall, kNow, a));
    const RateViews by_key = rate_views(*entry, model, kNow);
    const RateViews by_admission = rate_views(a, kNow);
    REQUIRE(by_key.requests);
    REQUIRE(by_admission.requests);
    CHECK(by_admission.requests->limit == by_key.requests->limit);
    CHECK(by_admission.requests->remaining == by_key.requests->remaining);
    CHECK(by_admission.requests->reset == by_key.requests->reset);
    REQUIRE(by_key.tokens);
    REQUIRE(by_admission.tokens);
    CHECK(by_admission.tokens->limit == by_key.tokens->limit);
    CHECK(by_admission.tokens->remaining == by_key.tokens->remaining);
    settle(a, 0, 10, kWall, kNow);
    CHECK_FALSE(rate_views(a, kNow).requests);
  }
}

TEST_CASE("a rebuilt table keeps the counts: an admin change resets nothing") {
  auto first = AccountTable::build({team()}, {key("key_a", 1, daily(1.0), {.rpm = 10})}, nullptr,
                                   kWall, kNow);
  Admission a;
  REQUIRE_FALSE(admit(first->find(hash_of(1)), "m", kTenCents, kWall, kNow, a));
  settle(a, usd_to_micros(0.30), 10, kWall, kNow);

  KeyRecord renamed = key("key_a", 1, daily(2.0), {.rpm = 10});
  renamed.alias = "renamed";
  auto second = AccountTable::build({team()}, {renamed}, first.get(), kWall, kNow);
  auto k = second->find(hash_of(1));
  CHECK(k->record.alias == "renamed");
  CHECK(k->state == first->find(hash_of(1))->state);  // the same counters
  CHECK(k->state->budget->spent(kWall) == usd_to_micros(0.30));
  CHECK(k->state->budget->limit() == usd_to_micros(2.0));
  CHECK(k->state->limits.rpm.remaining(kNow) == 9);

  // A different period is a new counter, which starts from what the old one had spent.
  KeyRecord weekly = renamed;
  weekly.budget->period.kind = BudgetPeriod::Kind::weekly;
  auto third = AccountTable::build({team()}, {weekly}, second.get(), kWall, kNow);
  auto w = third->find(hash_of(1));
  CHECK(w->state != k->state);
  CHECK(w->state->budget->spent(kWall) == usd_to_micros(0.30));

  // Limits switched off and on again keep working (the limiter objects stay).
  KeyRecord off = weekly;
  off.limits = {};
  auto fourth = AccountTable::build({team()}, {off}, third.get(), kWall, kNow);
  CHECK_FALSE(rate_views(*fourth->find(hash_of(1)), "m", kNow).requests);
}

TEST_CASE("100 requests at once against a budget that fits 10: exactly 10 are admitted") {
  for (int round = 0; round < 5; ++round) {
    auto table = AccountTable::build({team(daily(100.0))}, {key("key_a", 1, daily(1.0))}, nullptr,
                                     kWall, kNow);
    auto k = table->find(hash_of(1));
    std::latch start(100);
    std::atomic<int> admitted{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 100; ++i) {
      threads.emplace_back([&] {
        Admission a;
        start.arrive_and_wait();
        if (!admit(k, "m", kTenCents, kWall, kNow, a)) {
          ++admitted;
          settle(a, usd_to_micros(0.10), 0, kWall, kNow);
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(admitted == 10);
    CHECK(k->state->budget->spent(kWall) <= usd_to_micros(1.0));
    CHECK(k->team->state->budget->spent(kWall) == usd_to_micros(1.0));
  }
}
