#include <algorithm>
#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "core/rate_limit.hpp"

using namespace switchyard::core;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

namespace {

const SteadyTime kStart{};

// How many of `accepted` (sorted) fall in the span of `width` starting at each of them: the
// most a client saw pass in any such span.
std::int64_t most_in_any_span(const std::vector<SteadyTime>& accepted, nanoseconds width) {
  std::int64_t most = 0;
  std::size_t end = 0;
  for (std::size_t begin = 0; begin < accepted.size(); ++begin) {
    while (end < accepted.size() && accepted[end] < accepted[begin] + width) ++end;
    most = std::max<std::int64_t>(most, static_cast<std::int64_t>(end - begin));
  }
  return most;
}

}  // namespace

TEST_CASE("rate limit: 10 a minute lets 10 through at once, then one every 6 s") {
  MinuteRateLimiter limiter(10);
  for (int i = 0; i < 10; ++i) REQUIRE(limiter.try_take(1, kStart).ok());
  auto refused = limiter.try_take(1, kStart);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().retry_after == seconds(6));
  CHECK_FALSE(limiter.try_take(1, kStart + seconds(6) - milliseconds(1)).ok());
  CHECK(limiter.try_take(1, kStart + seconds(6)).ok());
  CHECK_FALSE(limiter.try_take(1, kStart + seconds(6)).ok());
}

TEST_CASE("rate limit: no second burst at a minute boundary, unlike a fixed window") {
  MinuteRateLimiter limiter(10);
  const SteadyTime late = kStart + milliseconds(59'900);
  for (int i = 0; i < 10; ++i) REQUIRE(limiter.try_take(1, late).ok());
  // A fixed window starting at 0 would open a fresh minute at 60 s and let 10 more through.
  CHECK_FALSE(limiter.try_take(1, kStart + milliseconds(60'100)).ok());
  CHECK(limiter.remaining(kStart + milliseconds(60'100)) == 0);
}

TEST_CASE(
    "rate limit: over a long run of random arrivals, any span passes one burst plus its rate") {
  for (const std::int64_t per_minute : {7, 10, 600}) {
    MinuteRateLimiter limiter(per_minute);
    std::mt19937_64 random(per_minute);
    std::uniform_int_distribution<std::int64_t> gap_ms(0, 60'000 / per_minute);
    std::vector<SteadyTime> accepted;
    SteadyTime now = kStart;
    const SteadyTime end = kStart + minutes(60);
    while (now < end) {
      now += milliseconds(gap_ms(random));
      if (limiter.try_take(1, now).ok()) accepted.push_back(now);
    }
    // At most per_minute·(1 + w/60 s) in any span w: at once (w → 0) never more than the
    // limit, over a whole minute at most twice it (a full burst, then the minute's refill).
    for (const nanoseconds width : {nanoseconds(milliseconds(500)), nanoseconds(seconds(6)),
                                    nanoseconds(seconds(30)), nanoseconds(minutes(1))}) {
      const std::int64_t bound =
          per_minute + per_minute * width.count() / nanoseconds(minutes(1)).count();
      INFO("per_minute " << per_minute << ", span " << width.count() << " ns");
      CHECK(most_in_any_span(accepted, width) <= bound);
    }
    // Arrivals come about twice as fast as the limit: it, not they, decided the count.
    const auto total = static_cast<std::int64_t>(accepted.size());
    CHECK(total <= per_minute * 61);
    CHECK(total >= per_minute * 59);
  }
}

TEST_CASE("rate limit: a token reservation settles to what was used") {
  MinuteRateLimiter tokens(10'000);
  auto taken = tokens.try_take(1000, kStart);
  REQUIRE(taken.ok());
  CHECK(taken->units == 1000);
  CHECK(tokens.remaining(kStart) == 9000);
  tokens.settle(taken.value(), 200, kStart);
  CHECK(tokens.remaining(kStart) == 9800);

  SECTION("more than reserved charges the extra, even past the limit") {
    auto second = tokens.try_take(1000, kStart);
    REQUIRE(second.ok());
    tokens.settle(second.value(), 3000, kStart);
    CHECK(tokens.remaining(kStart) == 6800);
    auto third = tokens.try_take(1000, kStart);
    REQUIRE(third.ok());
    tokens.settle(third.value(), 20'000, kStart);  // no refusal: it was already used
    CHECK(tokens.remaining(kStart) == 0);
    // 200 + 3000 + 20000 charged: 13,200 over the limit, drained at 10,000 a minute.
    CHECK(tokens.until_full(kStart) == milliseconds(139'200));
    CHECK_FALSE(tokens.try_take(1, kStart + seconds(79)).ok());
  }
  SECTION("a request that did not go out gives its reservation back") {
    auto second = tokens.try_take(5000, kStart);
    REQUIRE(second.ok());
    CHECK(tokens.remaining(kStart) == 4800);
    tokens.give_back(second.value(), kStart);
    CHECK(tokens.remaining(kStart) == 9800);
  }
  SECTION("what is given back late does not credit the time that passed idle") {
    tokens.give_back(MinuteRateLimiter::Taken{200}, kStart + minutes(5));
    CHECK(tokens.remaining(kStart + minutes(5)) == 10'000);
    CHECK(tokens.try_take(10'000, kStart + minutes(5)).ok());
    CHECK_FALSE(tokens.try_take(1, kStart + minutes(5)).ok());
  }
}

TEST_CASE("rate limit: a request larger than the whole limit passes only when idle") {
  MinuteRateLimiter tokens(10'000);
  auto huge = tokens.try_take(50'000, kStart);
  REQUIRE(huge.ok());
  CHECK(huge->units == 10'000);
  CHECK(tokens.remaining(kStart) == 0);
  CHECK(tokens.until_full(kStart) == minutes(1));

  MinuteRateLimiter busy(10'000);
  REQUIRE(busy.try_take(1, kStart).ok());
  auto refused = busy.try_take(50'000, kStart);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().retry_after == milliseconds(6));  // until the 1 token drained
  CHECK(busy.try_take(50'000, kStart + milliseconds(6)).ok());
}

TEST_CASE("rate limit: remaining and until_full for the headers") {
  MinuteRateLimiter limiter(10);
  CHECK(limiter.limit() == 10);
  CHECK(limiter.remaining(kStart) == 10);
  CHECK(limiter.until_full(kStart) == nanoseconds::zero());
  for (int i = 0; i < 4; ++i) REQUIRE(limiter.try_take(1, kStart).ok());
  CHECK(limiter.remaining(kStart) == 6);
  CHECK(limiter.until_full(kStart) == seconds(24));
  CHECK(limiter.remaining(kStart + seconds(5)) == 6);  // a unit comes back whole, every 6 s
  CHECK(limiter.remaining(kStart + seconds(6)) == 7);
  CHECK(limiter.until_full(kStart + seconds(6)) == seconds(18));
  CHECK(limiter.remaining(kStart + minutes(3)) == 10);
  CHECK(limiter.until_full(kStart + minutes(3)) == nanoseconds::zero());
}

TEST_CASE("rate limit: what remaining says is exactly what passes, at an uneven rate") {
  // 7 a minute: 8.571... s a unit, rounded down to the ns.
  for (const auto later : {seconds(0), seconds(8), seconds(9), seconds(20), seconds(59)}) {
    MinuteRateLimiter tokens(7);
    REQUIRE(tokens.try_take(3, kStart).ok());
    const std::int64_t remaining = tokens.remaining(kStart + later);
    INFO("after " << later.count() << " s: " << remaining);
    if (remaining < 7) CHECK_FALSE(tokens.try_take(remaining + 1, kStart + later).ok());
    CHECK(tokens.try_take(remaining, kStart + later).ok());
  }
}

TEST_CASE("rate limit: remaining is exact for small limits and for limits past 64-bit products") {
  // Small products take 64-bit arithmetic, large ones (a limit of 10^12 tokens, a charge of
  // 10^9) 128-bit: both must agree with what try_take lets through.
  for (const std::int64_t limit : {std::int64_t{7}, std::int64_t{1'000'003},
                                   std::int64_t{1'000'000'000'000}, std::int64_t{1} << 62}) {
    for (const std::int64_t charge : {std::int64_t{1}, limit / 3, limit / 2 + 1}) {
      for (const nanoseconds later :
           {nanoseconds(0), nanoseconds(1), nanoseconds(seconds(9)), nanoseconds(seconds(59))}) {
        INFO("limit " << limit << ", charge " << charge << ", after " << later.count() << " ns");
        MinuteRateLimiter tokens(limit);
        REQUIRE(tokens.try_take(charge, kStart).ok());
        const std::int64_t remaining = tokens.remaining(kStart + later);
        CHECK(remaining >= limit - charge);
        CHECK(remaining <= limit);
        if (remaining < limit) CHECK_FALSE(tokens.try_take(remaining + 1, kStart + later).ok());
        CHECK(tokens.try_take(remaining, kStart + later).ok());
      }
    }
  }
}

TEST_CASE("rate limit: set_limit keeps what was charged in the last minute") {
  MinuteRateLimiter limiter(10);
  for (int i = 0; i < 10; ++i) REQUIRE(limiter.try_take(1, kStart).ok());
  SECTION("raised: headroom at once") {
    limiter.set_limit(20, kStart);
    CHECK(limiter.limit() == 20);
    CHECK(limiter.remaining(kStart) == 10);
    CHECK(limiter.until_full(kStart) == seconds(30));
  }
  SECTION("lowered: over full until the charges drain at the new rate") {
    limiter.set_limit(5, kStart);
    CHECK(limiter.limit() == 5);
    CHECK(limiter.remaining(kStart) == 0);
    auto refused = limiter.try_take(1, kStart);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().retry_after ==
          seconds(72));  // (10 + 1) units at 12 s, less the minute's room
  }
  SECTION("an idle limiter changes only its limit") {
    MinuteRateLimiter idle(10);
    idle.set_limit(3, kStart);
    CHECK(idle.remaining(kStart) == 3);
  }
}

TEST_CASE("rate limit: parallel limiter never lets more than its limit in across threads") {
  ParallelLimiter limiter(3);
  std::atomic<std::int64_t> inside{0};
  std::atomic<std::int64_t> peak{0};
  std::atomic<std::int64_t> entered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i) {
        if (!limiter.try_enter()) continue;
        const std::int64_t now_inside = inside.fetch_add(1) + 1;
        std::int64_t seen = peak.load();
        while (now_inside > seen && !peak.compare_exchange_weak(seen, now_inside)) {
        }
        entered.fetch_add(1);
        inside.fetch_sub(1);
        limiter.leave();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(peak.load() <= 3);
  CHECK(peak.load() >= 1);
  CHECK(entered.load() > 0);
  CHECK(limiter.in_flight() == 0);
}

TEST_CASE("rate limit: parallel limiter counts and changes its limit") {
  ParallelLimiter limiter(2);
  CHECK(limiter.try_enter());
  CHECK(limiter.try_enter());
  CHECK_FALSE(limiter.try_enter());
  CHECK(limiter.in_flight() == 2);
  limiter.set_limit(1);
  limiter.leave();
  CHECK_FALSE(limiter.try_enter());  // still one in, and one is the limit now
  limiter.leave();
  CHECK(limiter.try_enter());
  limiter.set_limit(4);
  CHECK(limiter.limit() == 4);
  CHECK(limiter.try_enter());
  CHECK(limiter.in_flight() == 2);
}

TEST_CASE("rate limit: admit charges every level or none") {
  MinuteRateLimiter key_rpm(100);
  MinuteRateLimiter team_rpm(100);
  MinuteRateLimiter key_tpm(10'000);
  MinuteRateLimiter team_tpm(1000);
  std::array<MinuteRateLimiter*, 3> requests{&key_rpm, nullptr, &team_rpm};
  std::array<MinuteRateLimiter*, 2> tokens{&key_tpm, &team_tpm};
  std::array<MinuteRateLimiter::Taken, 2> taken{};

  SECTION("all pass: each is charged, the tpm charges come back for settling") {
    CHECK_FALSE(admit(requests, tokens, 600, kStart, taken).has_value());
    CHECK(key_rpm.remaining(kStart) == 99);
    CHECK(team_rpm.remaining(kStart) == 99);
    CHECK(taken[0].units == 600);
    CHECK(taken[1].units == 600);
    CHECK(key_tpm.remaining(kStart) == 9400);
    CHECK(team_tpm.remaining(kStart) == 400);
  }
  SECTION("the team's tpm refuses: nothing stays charged") {
    REQUIRE(team_tpm.try_take(900, kStart).ok());
    auto refusal = admit(requests, tokens, 600, kStart, taken);
    REQUIRE(refusal.has_value());
    CHECK(refusal->which == 1);
    CHECK_FALSE(refusal->requests);
    CHECK(refusal->retry_after == seconds(30));  // 1500 of 1000 charged: 500 over, at 1000/min
    CHECK(key_rpm.remaining(kStart) == 100);
    CHECK(team_rpm.remaining(kStart) == 100);
    CHECK(key_tpm.remaining(kStart) == 10'000);
    CHECK(taken[0].units == 0);
  }
  SECTION("the team's rpm refuses: the key's is given back") {
    MinuteRateLimiter full_team(1);
    REQUIRE(full_team.try_take(1, kStart).ok());
    requests[2] = &full_team;
    auto refusal = admit(requests, tokens, 600, kStart, taken);
    REQUIRE(refusal.has_value());
    CHECK(refusal->which == 2);
    CHECK(refusal->requests);
    CHECK(refusal->retry_after == minutes(1));
    CHECK(key_rpm.remaining(kStart) == 100);
    CHECK(key_tpm.remaining(kStart) == 10'000);
  }
}

TEST_CASE("rate limit: reset durations as OpenAI writes them") {
  CHECK(format_reset_duration(nanoseconds::zero()) == "0s");
  CHECK(format_reset_duration(-seconds(1)) == "0s");
  CHECK(format_reset_duration(nanoseconds(1)) == "1ms");
  CHECK(format_reset_duration(milliseconds(59)) == "59ms");
  CHECK(format_reset_duration(nanoseconds(58'000'001)) == "59ms");
  CHECK(format_reset_duration(nanoseconds(999'000'001)) == "1s");
  CHECK(format_reset_duration(seconds(1)) == "1s");
  CHECK(format_reset_duration(milliseconds(1200)) == "2s");
  CHECK(format_reset_duration(seconds(59)) == "59s");
  CHECK(format_reset_duration(minutes(6)) == "6m0s");
  CHECK(format_reset_duration(seconds(3723)) == "1h2m3s");
  CHECK(format_reset_duration(std::chrono::hours(2)) == "2h0m0s");
}

TEST_CASE("rate limit: reset times as Anthropic writes them") {
  using namespace std::chrono;
  CHECK(format_rfc3339(sys_days{year{2026} / 12 / 1} + hours(19) + minutes(30) + seconds(5)) ==
        "2026-12-01T19:30:05Z");
  CHECK(format_rfc3339(sys_seconds{}) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(sys_days{year{2024} / 2 / 29} + hours(23) + minutes(59) + seconds(59)) ==
        "2024-02-29T23:59:59Z");
}
