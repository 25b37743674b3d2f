#include "core/budget.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

namespace switchyard::core {

namespace {

using std::chrono::days;
using std::chrono::seconds;

constexpr double kMicrosPerUsd = 1e6;

Micros clamp_micros(Micros m) { return std::clamp<Micros>(m, 0, kMaxMicros); }

// --- Periods ---

struct DurationUnit {
  char suffix;
  std::int64_t seconds;
};
// Largest first: format picks the largest unit that divides the length.
constexpr std::array<DurationUnit, 4> kDurationUnits{
    {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};

std::string period_error(std::string_view text) {
  std::string error = "\"";
  error.append(text);
  error.append(
      "\" is not a budget period: use daily, weekly, monthly or a duration <n>s, <n>m, <n>h or "
      "<n>d (n at least 1, at most 10 years)");
  return error;
}

std::optional<std::int64_t> unit_seconds(char suffix) {
  for (const DurationUnit& unit : kDurationUnits) {
    if (unit.suffix == suffix) return unit.seconds;
  }
  return std::nullopt;
}

std::optional<seconds> parse_duration(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  const std::optional<std::int64_t> unit = unit_seconds(text.back());
  const std::string_view digits = text.substr(0, text.size() - 1);
  const bool all_digits =
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!unit || !all_digits) return std::nullopt;
  std::int64_t count = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  if (count < 1 || count > kMaxBudgetPeriod.count() / *unit) return std::nullopt;
  return seconds{count * *unit};
}

PeriodWindow daily_window(WallTime now) {
  const std::chrono::sys_days day = std::chrono::floor<days>(now);
  return {day.time_since_epoch().count(), day, day + days{1}};
}

PeriodWindow weekly_window(WallTime now) {
  const std::chrono::sys_days day = std::chrono::floor<days>(now);
  const std::chrono::sys_days monday = day - (std::chrono::weekday{day} - std::chrono::Monday);
  // 1970-01-01 was a Thursday: ISO week 0 starts on Monday 1969-12-29, three days earlier.
  const std::int64_t index = (monday.time_since_epoch().count() + 3) / 7;
  return {index, monday, monday + days{7}};
}

PeriodWindow monthly_window(WallTime now) {
  const std::chrono::year_month_day date{std::chrono::floor<days>(now)};
  const std::chrono::year_month_day first = date.year() / date.month() / 1;
  const std::chrono::year_month_day next = first + std::chrono::months{1};
  const std::int64_t index = (static_cast<int>(date.year()) - 1970) * std::int64_t{12} +
                             (static_cast<unsigned>(date.month()) - 1);
  return {index, std::chrono::sys_days{first}, std::chrono::sys_days{next}};
}

PeriodWindow duration_window(seconds length, WallTime now, WallTime anchor) {
  length = std::max(length, seconds{1});  // a default-made period must not divide by zero
  const std::int64_t index = now < anchor ? 0 : (now - anchor) / length;
  const WallTime start = anchor + index * length;
  return {index, start, start + length};
}

// --- Packed counters: [16-bit generation | 48-bit micros] ---

constexpr int kMicrosBits = 48;
constexpr std::uint64_t kMicrosMask = (std::uint64_t{1} << kMicrosBits) - 1;
// How many periods ahead of a thread's own clock another thread's word may be and still be
// taken as the newer period (clocks read a moment apart near a reset). Anything further ahead
// is a word from a period long gone whose generation has wrapped.
constexpr std::uint16_t kClockSkewPeriods = 2;

std::uint64_t pack(std::uint16_t generation, Micros micros) {
  return (std::uint64_t{generation} << kMicrosBits) |
         static_cast<std::uint64_t>(clamp_micros(micros));
}
std::uint16_t generation_in(std::uint64_t word) {
  return static_cast<std::uint16_t>(word >> kMicrosBits);
}
Micros micros_in(std::uint64_t word) { return static_cast<Micros>(word & kMicrosMask); }
Micros micros_in_generation(std::uint64_t word, std::uint16_t generation) {
  return generation_in(word) == generation ? micros_in(word) : 0;
}
bool is_ahead(std::uint16_t generation, std::uint16_t of) {
  const auto distance = static_cast<std::uint16_t>(generation - of);
  return distance >= 1 && distance <= kClockSkewPeriods;
}

}  // namespace

// --- Money ---

Micros usd_to_micros(double usd) {
  if (!(usd > 0)) return 0;  // NaN too
  const double scaled = usd * kMicrosPerUsd;
  if (scaled >= static_cast<double>(kMaxMicros)) return kMaxMicros;
  return std::llround(scaled);
}

Micros usd_to_micros_ceil(double usd) {
  if (!(usd > 0)) return 0;
  const double scaled = usd * kMicrosPerUsd;
  if (scaled >= static_cast<double>(kMaxMicros)) return kMaxMicros;
  // The product is off from the exact one by a few ulps: 0.07 USD must reserve 70000, not 70001.
  const double nearest = std::round(scaled);
  const double noise = scaled * 4 * std::numeric_limits<double>::epsilon();
  if (std::abs(scaled - nearest) <= noise) return static_cast<Micros>(nearest);
  return static_cast<Micros>(std::ceil(scaled));
}

double micros_to_usd(Micros m) { return static_cast<double>(m) / kMicrosPerUsd; }

// --- Periods ---

Result<BudgetPeriod, std::string> parse_budget_period(std::string_view text) {
  using Kind = BudgetPeriod::Kind;
  if (text == "daily") return BudgetPeriod{Kind::daily};
  if (text == "weekly") return BudgetPeriod{Kind::weekly};
  if (text == "monthly") return BudgetPeriod{Kind::monthly};
  if (const std::optional<seconds> length = parse_duration(text)) {
    return BudgetPeriod{Kind::duration, *length};
  }
  return fail(period_error(text));
}

std::string format_budget_period(const BudgetPeriod& p) {
  switch (p.kind) {
    case BudgetPeriod::Kind::daily:
      return "daily";
    case BudgetPeriod::Kind::weekly:
      return "weekly";
    case BudgetPeriod::Kind::monthly:
      return "monthly";
    case BudgetPeriod::Kind::duration:
      break;
  }
  const std::int64_t length = p.length.count();
  for (const DurationUnit& unit : kDurationUnits) {
    if (length != 0 && length % unit.seconds == 0) {
      return std::to_string(length / unit.seconds) + unit.suffix;
    }
  }
  return std::to_string(length) + 's';
}

PeriodWindow period_window(const BudgetPeriod& p, WallTime now, WallTime anchor) {
  switch (p.kind) {
    case BudgetPeriod::Kind::daily:
      return daily_window(now);
    case BudgetPeriod::Kind::weekly:
      return weekly_window(now);
    case BudgetPeriod::Kind::monthly:
      return monthly_window(now);
    case BudgetPeriod::Kind::duration:
      break;
  }
  return duration_window(p.length, now, anchor);
}

// --- BudgetCounter ---

BudgetCounter::BudgetCounter(Micros limit, BudgetPeriod period, WallTime anchor,
                             std::optional<Micros> soft_limit)
    : period_(period), anchor_(anchor), limit_(0), soft_limit_(kNoSoftLimit) {
  set_limit(limit, soft_limit);
}

Result<BudgetCounter::Reservation, BudgetCounter::Refusal> BudgetCounter::try_reserve(
    Micros amount, WallTime now) {
  amount = clamp_micros(amount);
  const PeriodWindow current_window = window(now);
  auto generation = static_cast<std::uint16_t>(current_window.index);
  const Micros limit = limit_.load(std::memory_order_relaxed);
  std::uint64_t word = committed_.load(std::memory_order_relaxed);
  for (;;) {
    // Another thread's clock already reads the next period: join it rather than reset it.
    if (is_ahead(generation_in(word), generation)) generation = generation_in(word);
    const Micros committed_now = micros_in_generation(word, generation);
    if (committed_now + amount > limit) {
      const Micros spent_now = micros_in_generation(spent_.load(), generation);
      return fail(Refusal{limit, spent_now, std::max<Micros>(0, committed_now - spent_now),
                          current_window.reset});
    }
    if (committed_.compare_exchange_weak(word, pack(generation, committed_now + amount))) {
      return Reservation{generation, amount};
    }
  }
}

bool BudgetCounter::settle(const Reservation& r, Micros actual, WallTime now) {
  actual = clamp_micros(actual);
  if (!replace_reservation(r, actual, now)) return false;
  Micros spent_after = 0;
  if (!add_spent(r.generation, actual, spent_after)) return false;
  const Micros soft = soft_limit_.load(std::memory_order_relaxed);
  if (soft == kNoSoftLimit || spent_after <= soft) return false;
  return first_warning(r.generation);
}

void BudgetCounter::release(const Reservation& r, WallTime now) { replace_reservation(r, 0, now); }

// Swaps the reservation's amount for `actual` in committed_, unless its period has ended.
bool BudgetCounter::replace_reservation(const Reservation& r, Micros actual, WallTime now) {
  const std::uint16_t generation = generation_of(now);
  if (r.generation != generation && !is_ahead(r.generation, generation)) return false;
  const Micros amount = clamp_micros(r.amount);
  std::uint64_t word = committed_.load(std::memory_order_relaxed);
  for (;;) {
    if (generation_in(word) != r.generation) return false;  // a new period has begun since
    const Micros replaced = std::max<Micros>(0, micros_in(word) - amount) + actual;
    if (committed_.compare_exchange_weak(word, pack(r.generation, replaced))) return true;
  }
}

bool BudgetCounter::add_spent(std::uint16_t generation, Micros actual, Micros& spent_after) {
  std::uint64_t word = spent_.load(std::memory_order_relaxed);
  for (;;) {
    if (is_ahead(generation_in(word), generation)) return false;  // that period has ended
    spent_after = clamp_micros(micros_in_generation(word, generation) + actual);
    if (spent_.compare_exchange_weak(word, pack(generation, spent_after))) return true;
  }
}

bool BudgetCounter::first_warning(std::uint16_t generation) {
  const std::uint32_t warned = kWarnedFlag | generation;
  std::uint32_t word = warned_.load(std::memory_order_relaxed);
  for (;;) {
    if (word == warned) return false;
    const auto word_generation = static_cast<std::uint16_t>(word);
    if ((word & kWarnedFlag) != 0 && is_ahead(word_generation, generation)) return false;
    if (warned_.compare_exchange_weak(word, warned)) return true;
  }
}

std::uint16_t BudgetCounter::generation_of(WallTime now) const {
  return static_cast<std::uint16_t>(window(now).index);
}

Micros BudgetCounter::committed(WallTime now) const {
  return micros_in_generation(committed_.load(), generation_of(now));
}

Micros BudgetCounter::spent(WallTime now) const {
  return micros_in_generation(spent_.load(), generation_of(now));
}

Micros BudgetCounter::reserved(WallTime now) const {
  return std::max<Micros>(0, committed(now) - spent(now));
}

PeriodWindow BudgetCounter::window(WallTime now) const {
  const std::int64_t now_s = now.time_since_epoch().count();
  const std::uint64_t seq = window_seq_.load(std::memory_order_acquire);
  if (seq != 0 && seq % 2 == 0) {
    const std::int64_t index = window_index_.load(std::memory_order_relaxed);
    const std::int64_t start_s = window_start_s_.load(std::memory_order_relaxed);
    const std::int64_t reset_s = window_reset_s_.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (window_seq_.load(std::memory_order_relaxed) == seq && start_s <= now_s && now_s < reset_s)
      return {index, WallTime(std::chrono::seconds(start_s)),
              WallTime(std::chrono::seconds(reset_s))};
  }
  const PeriodWindow w = period_window(period_, now, anchor_);
  // Remembered only by the thread that wins the sequence number; the others just go on.
  std::uint64_t expected = seq % 2 == 0 ? seq : seq + 1;
  if (window_seq_.compare_exchange_strong(expected, expected + 1, std::memory_order_relaxed)) {
    std::atomic_thread_fence(std::memory_order_release);  // the odd number before the fields
    window_index_.store(w.index, std::memory_order_relaxed);
    window_start_s_.store(w.start.time_since_epoch().count(), std::memory_order_relaxed);
    window_reset_s_.store(w.reset.time_since_epoch().count(), std::memory_order_relaxed);
    window_seq_.store(expected + 2, std::memory_order_release);
  }
  return w;
}

Micros BudgetCounter::limit() const { return limit_.load(std::memory_order_relaxed); }

std::optional<Micros> BudgetCounter::soft_limit() const {
  const Micros soft = soft_limit_.load(std::memory_order_relaxed);
  if (soft == kNoSoftLimit) return std::nullopt;
  return soft;
}

void BudgetCounter::set_limit(Micros limit, std::optional<Micros> soft_limit) {
  limit_.store(clamp_micros(limit), std::memory_order_relaxed);
  soft_limit_.store(soft_limit ? clamp_micros(*soft_limit) : kNoSoftLimit,
                    std::memory_order_relaxed);
}

void BudgetCounter::restore(Micros spent_in_current_period, WallTime now) {
  const std::uint16_t generation = generation_of(now);
  const Micros restored = clamp_micros(spent_in_current_period);
  const Micros replaced =
      micros_in_generation(spent_.exchange(pack(generation, restored)), generation);
  // Reservations already in flight stay; only the settled part is replaced.
  std::uint64_t word = committed_.load(std::memory_order_relaxed);
  for (;;) {
    const Micros in_flight = std::max<Micros>(0, micros_in_generation(word, generation) - replaced);
    if (committed_.compare_exchange_weak(word, pack(generation, in_flight + restored))) return;
  }
}

}  // namespace switchyard::core
