#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <latch>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/budget.hpp"

using namespace switchyard::core;
using namespace std::chrono_literals;
using std::chrono::days;
using std::chrono::hours;
using std::chrono::seconds;

namespace {

WallTime at(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  const std::chrono::sys_days day{std::chrono::year{y} / std::chrono::month{m} /
                                  std::chrono::day{d}};
  return day + hours{hh} + std::chrono::minutes{mm} + seconds{ss};
}

const BudgetPeriod kDaily{BudgetPeriod::Kind::daily};
const WallTime kAnchor = at(2026, 1, 1);
const WallTime kDay1 = at(2026, 3, 14, 9);
const WallTime kDay2 = at(2026, 3, 15, 9);

BudgetPeriod parsed(std::string_view text) {
  const auto period = parse_budget_period(text);
  REQUIRE(period.ok());
  return period.value();
}

BudgetCounter::Reservation reserve(BudgetCounter& budget, Micros amount, WallTime now) {
  auto reservation = budget.try_reserve(amount, now);
  REQUIRE(reservation.ok());
  return reservation.value();
}

}  // namespace

TEST_CASE("budget money: micros round to the nearest, reservations round up") {
  CHECK(usd_to_micros(1.5) == 1'500'000);
  CHECK(usd_to_micros(0.0000014) == 1);
  CHECK(usd_to_micros(0.0000016) == 2);
  CHECK(usd_to_micros_ceil(0.0000011) == 2);
  CHECK(usd_to_micros_ceil(1e-12) == 1);
  CHECK(micros_to_usd(2'500'000) == 2.5);
  // Whole cents are exact amounts, not a micro more for the float product's noise.
  int inexact = 0;
  for (int cents = 1; cents <= 1'000'000; ++cents) {
    const double usd = cents / 100.0;
    const Micros exact = cents * Micros{10'000};
    if (usd_to_micros(usd) != exact || usd_to_micros_ceil(usd) != exact) ++inexact;
  }
  CHECK(inexact == 0);
}

TEST_CASE("budget money: NaN and negatives are zero, huge amounts saturate") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (const double bad : {nan, -1.0, -inf, 0.0}) {
    CHECK(usd_to_micros(bad) == 0);
    CHECK(usd_to_micros_ceil(bad) == 0);
  }
  CHECK(usd_to_micros(inf) == kMaxMicros);
  CHECK(usd_to_micros_ceil(1e12) == kMaxMicros);
  CHECK(usd_to_micros(281'000'000.0) == 281'000'000'000'000);
}

TEST_CASE("budget period: every accepted form parses and formats back to itself") {
  for (const char* text :
       {"daily", "weekly", "monthly", "30d", "12h", "90m", "45s", "1s", "3652d", "7d"}) {
    CHECK(format_budget_period(parsed(text)) == text);
  }
  CHECK(parsed("12h").kind == BudgetPeriod::Kind::duration);
  CHECK(parsed("12h").length == hours{12});
  CHECK(parsed("90m").length == seconds{5400});
  CHECK(parsed("monthly").kind == BudgetPeriod::Kind::monthly);
  // Another spelling of the same length formats in the largest unit, which parses the same.
  CHECK(format_budget_period(parsed("1440m")) == "1d");
  CHECK(format_budget_period(parsed("7200s")) == "2h");
  CHECK(parsed(format_budget_period(parsed("86400s"))).length == days{1});
}

TEST_CASE("budget period: anything else is refused with the accepted forms") {
  for (const char* text :
       {"", "0d", "-1h", "5x", "11000d", "3653d", "weekly ", " daily", "Daily", "d", "5", "1.5h",
        "+5h", "5 h", "5dd", "99999999999999999999999d", "0s"}) {
    INFO(text);
    const auto period = parse_budget_period(text);
    REQUIRE_FALSE(period.ok());
    CHECK(period.error().find("daily, weekly, monthly") != std::string::npos);
    CHECK(period.error().find("<n>h") != std::string::npos);
    CHECK(period.error().find(std::string("\"") + text + "\"") != std::string::npos);
  }
}

TEST_CASE("budget window: a day runs from 00:00 UTC to the next") {
  const PeriodWindow late = period_window(kDaily, at(2026, 3, 14, 23, 59, 59), kAnchor);
  CHECK(late.start == at(2026, 3, 14));
  CHECK(late.reset == at(2026, 3, 15));
  const PeriodWindow midnight = period_window(kDaily, at(2026, 3, 15), kAnchor);
  CHECK(midnight.start == at(2026, 3, 15));
  CHECK(midnight.index == late.index + 1);
  CHECK(period_window(kDaily, at(1970, 1, 1, 12), kAnchor).index == 0);
}

TEST_CASE("budget window: an ISO week runs from Monday 00:00 to the next Monday") {
  const BudgetPeriod weekly{BudgetPeriod::Kind::weekly};
  const PeriodWindow monday = period_window(weekly, at(2026, 11, 30), kAnchor);
  CHECK(monday.start == at(2026, 11, 30));
  CHECK(monday.reset == at(2026, 12, 7));
  const PeriodWindow sunday_night = period_window(weekly, at(2026, 12, 6, 23, 59, 59), kAnchor);
  CHECK(sunday_night.start == monday.start);
  CHECK(sunday_night.index == monday.index);
  const PeriodWindow sunday_before = period_window(weekly, at(2026, 11, 29, 23, 59, 59), kAnchor);
  CHECK(sunday_before.start == at(2026, 11, 23));
  CHECK(sunday_before.index == monday.index - 1);
  CHECK(period_window(weekly, at(2026, 12, 7), kAnchor).index == monday.index + 1);
  // The epoch was a Thursday: its week began on Monday 1969-12-29.
  const PeriodWindow epoch = period_window(weekly, at(1970, 1, 1), kAnchor);
  CHECK(epoch.index == 0);
  CHECK(epoch.start == at(1969, 12, 29));
}

TEST_CASE("budget window: a month runs from the 1st, across a year end and a leap February") {
  const BudgetPeriod monthly{BudgetPeriod::Kind::monthly};
  const PeriodWindow december = period_window(monthly, at(2026, 12, 31, 23, 59, 59), kAnchor);
  CHECK(december.start == at(2026, 12, 1));
  CHECK(december.reset == at(2027, 1, 1));
  const PeriodWindow january = period_window(monthly, at(2027, 1, 1), kAnchor);
  CHECK(january.index == december.index + 1);
  CHECK(january.reset == at(2027, 2, 1));
  const PeriodWindow leap = period_window(monthly, at(2028, 2, 29, 12), kAnchor);
  CHECK(leap.start == at(2028, 2, 1));
  CHECK(leap.reset == at(2028, 3, 1));
  CHECK(period_window(monthly, at(2027, 2, 28, 23), kAnchor).reset == at(2027, 3, 1));
  CHECK(period_window(monthly, at(1970, 1, 15), kAnchor).index == 0);
}

TEST_CASE("budget window: a duration steps from its anchor, and before the anchor is period 0") {
  const BudgetPeriod half_day = parsed("12h");
  const WallTime anchor = at(2026, 1, 1, 10);
  const PeriodWindow third = period_window(half_day, anchor + 30h, anchor);
  CHECK(third.index == 2);
  CHECK(third.start == anchor + 24h);
  CHECK(third.reset == anchor + 36h);
  CHECK(period_window(half_day, anchor + 12h, anchor).index == 1);
  CHECK(period_window(half_day, anchor + 12h - 1s, anchor).index == 0);
  const PeriodWindow before = period_window(half_day, anchor - 100h, anchor);
  CHECK(before.index == 0);
  CHECK(before.start == anchor);
  CHECK(before.reset == anchor + 12h);
}

TEST_CASE("budget counter: reserve and settle add up, and a refusal says where the budget stands") {
  BudgetCounter budget(1000, kDaily, kAnchor);
  const auto first = reserve(budget, 300, kDay1);
  const auto second = reserve(budget, 600, kDay1);
  CHECK(budget.reserved(kDay1) == 900);
  CHECK(budget.spent(kDay1) == 0);

  const auto refused = budget.try_reserve(200, kDay1);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().limit == 1000);
  CHECK(refused.error().spent == 0);
  CHECK(refused.error().reserved == 900);
  CHECK(refused.error().reset == at(2026, 3, 15));

  CHECK_FALSE(budget.settle(first, 100, kDay1));  // cheaper than the estimate
  CHECK(budget.spent(kDay1) == 100);
  CHECK(budget.reserved(kDay1) == 600);
  const auto third = reserve(budget, 300, kDay1);  // exactly to the limit
  CHECK_FALSE(budget.try_reserve(1, kDay1).ok());

  budget.settle(second, 600, kDay1);
  budget.settle(third, 250, kDay1);
  CHECK(budget.spent(kDay1) == 950);
  CHECK(budget.reserved(kDay1) == 0);
  CHECK(budget.try_reserve(50, kDay1).ok());
  CHECK_FALSE(budget.try_reserve(1, kDay1).ok());
}

TEST_CASE("budget counter: a settle above its estimate may pass the limit, then reserves fail") {
  BudgetCounter budget(1000, kDaily, kAnchor);
  budget.settle(reserve(budget, 100, kDay1), 1500, kDay1);
  CHECK(budget.spent(kDay1) == 1500);
  CHECK(budget.reserved(kDay1) == 0);
  const auto refused = budget.try_reserve(0, kDay1);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().spent == 1500);
  CHECK(refused.error().reserved == 0);
  // A bogus settle or release never takes a counter below zero.
  budget.release(BudgetCounter::Reservation{reserve(budget, 0, kDay2).generation, 5000}, kDay2);
  CHECK(budget.reserved(kDay2) == 0);
  CHECK(budget.spent(kDay2) == 0);
}

TEST_CASE("budget counter: a released reservation is given back whole") {
  BudgetCounter budget(1000, kDaily, kAnchor);
  const auto reservation = reserve(budget, 700, kDay1);
  CHECK_FALSE(budget.try_reserve(400, kDay1).ok());
  budget.release(reservation, kDay1);
  CHECK(budget.reserved(kDay1) == 0);
  CHECK(budget.spent(kDay1) == 0);
  CHECK(budget.try_reserve(1000, kDay1).ok());
}

TEST_CASE("budget counter: a new period starts from zero") {
  BudgetCounter budget(1000, kDaily, kAnchor);
  budget.settle(reserve(budget, 900, kDay1), 900, kDay1);
  reserve(budget, 100, kDay1);
  CHECK_FALSE(budget.try_reserve(1, kDay1).ok());
  CHECK(budget.spent(kDay2) == 0);
  CHECK(budget.reserved(kDay2) == 0);
  CHECK(budget.window(kDay2).start == at(2026, 3, 15));
  CHECK(budget.try_reserve(1000, kDay2).ok());
}

TEST_CASE("budget counter: its window is the period's, whichever times were asked before") {
  // The counter remembers the last window it computed; a time outside it, earlier or later,
  // must still get its own period.
  for (const std::string_view text : {"daily", "weekly", "monthly", "30d"}) {
    INFO(text);
    const BudgetPeriod period = parsed(text);
    BudgetCounter budget(1000, period, kAnchor);
    for (const WallTime t :
         {at(2026, 3, 14, 9), at(2026, 3, 14, 23, 59, 59), at(2026, 3, 15), at(2026, 2, 28, 12),
          at(2026, 4, 1), at(2026, 3, 31, 23, 59, 59), at(2025, 12, 31), at(2026, 3, 14, 9)}) {
      const PeriodWindow want = period_window(period, t, kAnchor);
      const PeriodWindow got = budget.window(t);
      CHECK(got.index == want.index);
      CHECK(got.start == want.start);
      CHECK(got.reset == want.reset);
    }
  }
}

TEST_CASE("budget counter: a reservation from the last period settles into it, not the new one") {
  BudgetCounter budget(1000, kDaily, kAnchor);
  const auto yesterday = reserve(budget, 500, at(2026, 3, 14, 23, 59, 59));
  const auto yesterday_too = reserve(budget, 300, at(2026, 3, 14, 23, 59, 59));
  const auto today = reserve(budget, 800, kDay2);
  CHECK_FALSE(budget.settle(yesterday, 500, kDay2));
  budget.release(yesterday_too, kDay2);
  CHECK(budget.spent(kDay2) == 0);
  CHECK(budget.reserved(kDay2) == 800);
  CHECK_FALSE(budget.try_reserve(201, kDay2).ok());
  budget.settle(today, 800, kDay2);
  CHECK(budget.spent(kDay2) == 800);
}

TEST_CASE("budget counter: a clock a moment behind joins the new period rather than reset it") {
  BudgetCounter budget(1000, kDaily, kAnchor);
  reserve(budget, 600, at(2026, 3, 15));
  const auto late_clock = budget.try_reserve(600, at(2026, 3, 14, 23, 59, 59));
  REQUIRE_FALSE(late_clock.ok());
  CHECK(late_clock.error().reserved == 600);
  CHECK(budget.reserved(at(2026, 3, 15)) == 600);
}

TEST_CASE("budget counter: restore brings back the ledger's spend of the current period") {
  BudgetCounter budget(1000, kDaily, kAnchor);
  reserve(budget, 100, kDay1);
  budget.restore(700, kDay1);
  CHECK(budget.spent(kDay1) == 700);
  CHECK(budget.reserved(kDay1) == 100);  // in flight stays
  CHECK_FALSE(budget.try_reserve(201, kDay1).ok());
  CHECK(budget.try_reserve(200, kDay1).ok());
  CHECK(budget.spent(kDay2) == 0);
}

TEST_CASE("budget counter: lowering the limit below what is committed refuses the next reserve") {
  BudgetCounter budget(1000, kDaily, kAnchor);
  budget.settle(reserve(budget, 600, kDay1), 600, kDay1);
  reserve(budget, 300, kDay1);
  budget.set_limit(500, std::nullopt);
  CHECK(budget.limit() == 500);
  const auto refused = budget.try_reserve(0, kDay1);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().limit == 500);
  CHECK(refused.error().spent == 600);
  CHECK(refused.error().reserved == 300);
  budget.set_limit(1000, 800);
  CHECK(budget.soft_limit() == 800);
  CHECK(budget.try_reserve(100, kDay1).ok());
}

TEST_CASE("budget counter: the soft limit warns once per period, on the settle that passes it") {
  BudgetCounter budget(1000, kDaily, kAnchor, 800);
  CHECK(budget.soft_limit() == 800);
  CHECK_FALSE(budget.settle(reserve(budget, 700, kDay1), 700, kDay1));
  CHECK_FALSE(budget.settle(reserve(budget, 100, kDay1), 100, kDay1));  // at it, not past
  CHECK(budget.settle(reserve(budget, 100, kDay1), 50, kDay1));
  CHECK_FALSE(budget.settle(reserve(budget, 100, kDay1), 100, kDay1));
  CHECK(budget.spent(kDay1) == 950);

  CHECK_FALSE(budget.settle(reserve(budget, 500, kDay2), 500, kDay2));
  CHECK(budget.settle(reserve(budget, 400, kDay2), 400, kDay2));
  CHECK_FALSE(budget.settle(reserve(budget, 50, kDay2), 50, kDay2));

  budget.set_limit(1000, std::nullopt);
  CHECK_FALSE(budget.soft_limit().has_value());
  CHECK_FALSE(budget.settle(reserve(budget, 1000, at(2026, 3, 16)), 1000, at(2026, 3, 16)));
}

TEST_CASE("budget counter: 100 requests at once never overshoot a budget that fits 10") {
  constexpr int kThreads = 100;
  constexpr Micros kCost = 12'345;
  BudgetCounter budget(10 * kCost, kDaily, kAnchor);
  for (int round = 0; round < 5; ++round) {
    const WallTime now = kDay1 + days{round};
    std::latch start(kThreads);
    // Settles wait for every thread to have tried: one below its estimate frees room that an
    // 11th request could rightly take.
    std::latch all_tried(kThreads);
    std::atomic<int> admitted{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        auto reservation = budget.try_reserve(kCost, now);
        all_tried.arrive_and_wait();
        if (!reservation.ok()) return;
        admitted.fetch_add(1);
        budget.settle(reservation.value(), kCost - (i % 3) * 1000, now);
      });
    }
    for (std::thread& thread : threads) thread.join();
    INFO("round " << round);
    CHECK(admitted.load() == 10);
    CHECK(budget.spent(now) <= budget.limit());
    CHECK(budget.spent(now) >= 10 * (kCost - 2000));
    CHECK(budget.reserved(now) == 0);
  }
}
