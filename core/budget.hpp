#pragma once
// Budgets that cannot be overshot (issue 12): a USD budget per period for one key or one team,
// shared by every worker thread. Before a request goes upstream its worst-case cost is
// reserved; when it ends the reservation is settled to the real cost. Reserving is one atomic
// check-and-charge, so concurrent requests cannot all pass the same check. Atomics only, no
// lock, no allocation after construction; wall time is passed in.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace switchyard::core {

using WallTime = std::chrono::sys_seconds;  // UTC wall time, passed in by the caller
using Micros = std::int64_t;                // money in micro-USD (1e-6 USD)

// The most a counter holds in one period: 48 bits of micros, about 281 million USD. Money
// past it saturates instead of overflowing.
constexpr Micros kMaxMicros = (Micros{1} << 48) - 1;

// USD to micros, the nearest or rounded up (reservations must not be low by a rounding).
// NaN, zero and negatives are 0; infinity and anything above kMaxMicros is kMaxMicros.
Micros usd_to_micros(double usd);
Micros usd_to_micros_ceil(double usd);
double micros_to_usd(Micros m);

struct BudgetPeriod {
  enum class Kind { daily, weekly, monthly, duration } kind = Kind::monthly;
  std::chrono::seconds length{0};  // Kind::duration only
  bool operator==(const BudgetPeriod&) const = default;
};

// The longest duration a budget period may have.
constexpr std::chrono::seconds kMaxBudgetPeriod = std::chrono::years{10};

// "daily" | "weekly" | "monthly" | "<n>s" | "<n>m" | "<n>h" | "<n>d" (n >= 1, at most 10
// years). The error is a sentence naming the accepted forms; the caller prefixes the field.
Result<BudgetPeriod, std::string> parse_budget_period(std::string_view text);
// "daily", "30d", "12h", ...: the largest unit that divides the length, so parse round-trips.
std::string format_budget_period(const BudgetPeriod& p);

struct PeriodWindow {
  std::int64_t index = 0;  // which period since the epoch (or since the anchor, for durations)
  WallTime start;          // inclusive
  WallTime reset;          // exclusive end = next period's start
};

// Calendar periods in UTC: daily from 00:00, weekly as ISO weeks from Monday 00:00, monthly
// from the 1st at 00:00. Durations run from `anchor` in steps of `length`; a `now` before the
// anchor is in period 0, which starts at the anchor.
PeriodWindow period_window(const BudgetPeriod& p, WallTime now, WallTime anchor);

// One budget (a key's or a team's).
//
// Packing: `committed_` (spent + reserved) and `spent_` are each one 64-bit atomic word,
// [16-bit period generation | 48-bit micros], where generation = period index mod 2^16. A word
// whose generation is not the current period's counts as zero: that is the reset, with no
// timer and no sweep. Words only ever move forward to a newer generation, so a thread whose
// clock reads a moment behind cannot reset a period that others have started. The limit of the
// scheme: a word left untouched for a multiple of 65536 periods (45 years daily, 18 hours for a
// 1 s duration) would look current again.
class BudgetCounter {
 public:
  BudgetCounter(Micros limit, BudgetPeriod period, WallTime anchor,
                std::optional<Micros> soft_limit = {});

  struct Reservation {
    std::uint16_t generation = 0;
    Micros amount = 0;
  };
  struct Refusal {
    Micros limit;
    Micros spent;
    Micros reserved;
    WallTime reset;
  };

  // Reserves `amount` in the period containing `now` when spent + reserved + amount <= limit;
  // otherwise a Refusal saying where the budget stands. A new period starts from zero.
  Result<Reservation, Refusal> try_reserve(Micros amount, WallTime now);
  // Replaces the reservation by the real cost, which may be more (the estimate was low: the
  // budget can then end past its limit and the next reserve fails) or less. A reservation made
  // in a period that has ended since is dropped: its spend belongs to that period.
  // True exactly once per period: on the first settle that finds the spend past the soft limit.
  bool settle(const Reservation& r, Micros actual, WallTime now);
  // Gives a reservation back unused (the request was refused later, e.g. by a rate limit).
  void release(const Reservation& r, WallTime now);

  Micros spent(WallTime now) const;     // settled, in the current period (0 after a reset)
  Micros reserved(WallTime now) const;  // in flight, in the current period
  PeriodWindow window(WallTime now) const;
  Micros limit() const;
  std::optional<Micros> soft_limit() const;
  // An admin change, in effect at once; reservations already made stand.
  void set_limit(Micros limit, std::optional<Micros> soft_limit);
  // At start-up: what the ledger says was spent in the current period.
  void restore(Micros spent_in_current_period, WallTime now);

 private:
  static constexpr Micros kNoSoftLimit = -1;
  static constexpr std::uint32_t kWarnedFlag = 1u << 16;  // set once any period has warned

  std::uint16_t generation_of(WallTime now) const;
  Micros committed(WallTime now) const;
  bool replace_reservation(const Reservation& r, Micros actual, WallTime now);
  bool add_spent(std::uint16_t generation, Micros actual, Micros& spent_after);
  bool first_warning(std::uint16_t generation);

  const BudgetPeriod period_;
  const WallTime anchor_;
  std::atomic<Micros> limit_;
  std::atomic<Micros> soft_limit_;
  std::atomic<std::uint64_t> committed_{0};
  std::atomic<std::uint64_t> spent_{0};
  // The generation whose soft-limit warning was given, with kWarnedFlag; 0 before the first.
  std::atomic<std::uint32_t> warned_{0};
  // The last period window computed, behind a sequence number (odd while being written): a
  // calendar month's bounds cost ~70 instructions, and every request needs them twice. Readers
  // that find it changing or stale compute the window themselves; none waits.
  mutable std::atomic<std::uint64_t> window_seq_{0};
  mutable std::atomic<std::int64_t> window_index_{0};
  mutable std::atomic<std::int64_t> window_start_s_{0};
  mutable std::atomic<std::int64_t> window_reset_s_{0};

  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
};

}  // namespace switchyard::core
