#include "core/retry.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>

namespace switchyard::core {
namespace {

using std::chrono::milliseconds;

std::int64_t ticks(SteadyTime t) { return t.time_since_epoch().count(); }

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A week and a half of milliseconds: longer waits are all "too long" to the caller, and the
// cap keeps the arithmetic away from overflow.
constexpr std::int64_t kLongestWaitMs = 1'000'000'000;

// "12", "1.5": a non-negative decimal number times `unit_ms`, in milliseconds.
std::optional<milliseconds> parse_amount(std::string_view text, std::int64_t unit_ms) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  std::int64_t whole = 0;
  std::size_t i = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    whole = std::min<std::int64_t>(whole * 10 + (text[i] - '0'), kLongestWaitMs);
  }
  if (i == 0) return std::nullopt;
  double fraction = 0;
  if (i < text.size() && text[i] == '.') {
    double scale = 0.1;
    const std::size_t first_decimal = ++i;
    for (; i < text.size() && is_digit(text[i]); ++i, scale /= 10)
      fraction += (text[i] - '0') * scale;
    if (i == first_decimal) return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  const double ms = (static_cast<double>(whole) + fraction) * static_cast<double>(unit_ms);
  return milliseconds{std::llround(std::min(ms, static_cast<double>(kLongestWaitMs)))};
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110's IMF-fixdate), as seconds since the epoch.
std::optional<std::int64_t> parse_imf_fixdate(std::string_view text) {
  text = trim(text);
  if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' ||
      text[16] != ' ' || text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  static constexpr std::array<std::string_view, 7> kDays{"Mon", "Tue", "Wed", "Thu",
                                                         "Fri", "Sat", "Sun"};
  static constexpr std::array<std::string_view, 12> kMonths{
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (std::find(kDays.begin(), kDays.end(), text.substr(0, 3)) == kDays.end()) return std::nullopt;
  const auto month_at = std::find(kMonths.begin(), kMonths.end(), text.substr(8, 3));
  if (month_at == kMonths.end()) return std::nullopt;
  const auto number = [&](std::size_t at, std::size_t length) -> std::optional<int> {
    int value = 0;
    for (std::size_t i = at; i < at + length; ++i) {
      if (!is_digit(text[i])) return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const auto day = number(5, 2), year = number(12, 4), hour = number(17, 2), minute = number(20, 2),
             second = number(23, 2);
  if (!day || !year || !hour || !minute || !second) return std::nullopt;
  const auto month = static_cast<unsigned>(month_at - kMonths.begin()) + 1;
  static constexpr std::array<int, 12> kMonthDays{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
  const int month_days = month == 2 && !leap ? 28 : kMonthDays[month - 1];
  if (*day < 1 || *day > month_days || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  const std::int64_t seconds_of_day =
      std::int64_t{*hour} * 3600 + std::int64_t{*minute} * 60 + *second;
  return days_from_civil(*year, month, static_cast<unsigned>(*day)) * 86400 + seconds_of_day;
}

}  // namespace

milliseconds backoff_delay(const RetryPolicy& policy, int retry_number, Rng& rng) {
  const std::int64_t base = std::max<std::int64_t>(0, policy.backoff.count());
  const std::int64_t cap = std::max<std::int64_t>(0, policy.max_backoff.count());
  const int doublings = std::max(0, retry_number - 1);
  // base * 2^doublings only while it stays under the cap; past that the cap is the bound.
  std::int64_t bound = cap;
  if (doublings < 62 && base <= (cap >> doublings)) bound = base << doublings;
  return milliseconds{static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(bound) + 1))};
}

std::optional<milliseconds> parse_retry_after(std::string_view retry_after,
                                              std::string_view retry_after_ms,
                                              std::chrono::system_clock::time_point now) {
  if (auto ms = parse_amount(retry_after_ms, 1)) return ms;
  if (auto seconds = parse_amount(retry_after, 1000)) return seconds;
  const auto date = parse_imf_fixdate(retry_after);
  if (!date) return std::nullopt;
  const auto when = std::chrono::system_clock::time_point{std::chrono::seconds{*date}};
  if (when <= now) return milliseconds{0};
  const auto wait = std::chrono::duration_cast<milliseconds>(when - now);
  return std::min(wait, milliseconds{kLongestWaitMs});
}

RetryDecision decide_retry(const RetryInput& input, Rng& rng) {
  const RetryPolicy& policy = input.policy;
  const UpstreamFailure& failure = input.failure;
  // Part of the answer reached the client: nothing else may answer it.
  if (failure.after_first_byte) return {RetryAction::fail};
  // The prompt is too long for this model: the others of the group are meant to be alike,
  // so the context-window fallbacks are the only hope.
  if (failure.context_length) return {RetryAction::give_up_group};
  if (!is_retryable(failure, policy.on)) return {RetryAction::fail};
  if (input.elapsed >= policy.total_timeout) return {RetryAction::fail};
  if (input.attempts_made >= policy.attempts) return {RetryAction::give_up_group};
  if (input.retry_after && *input.retry_after > policy.max_retry_after) {
    return {input.other_target_available ? RetryAction::retry_other_target
                                         : RetryAction::give_up_group};
  }
  // Another target needs no backoff: the wait is for the one that failed.
  if (input.other_target_available) return {RetryAction::retry_other_target};
  const milliseconds wait =
      input.retry_after ? *input.retry_after : backoff_delay(policy, input.attempts_made, rng);
  if (input.elapsed + wait >= policy.total_timeout) return {RetryAction::give_up_group};
  return {RetryAction::wait_then_retry, wait};
}

bool RetryBudgetState::try_begin_retry() {
  const auto requests = static_cast<double>(requests_.load(std::memory_order_relaxed));
  const double limit =
      std::max(static_cast<double>(budget_.min_concurrent), budget_.ratio * requests);
  const std::int64_t before = retries_.fetch_add(1, std::memory_order_relaxed);
  if (static_cast<double>(before) < limit) return true;
  retries_.fetch_sub(1, std::memory_order_relaxed);
  refused_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

std::size_t TtftHistogram::bucket_of(std::chrono::microseconds ttft) {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(0, ttft.count()));
  if (us < 1024) return 0;
  const int msb = static_cast<int>(std::bit_width(us)) - 1;  // 10 or more
  if (msb > 26) return kBuckets - 1;                         // past ~134 s
  const auto quarter = static_cast<std::size_t>((us >> (msb - 2)) & 3);
  return static_cast<std::size_t>(msb - 10) * 4 + quarter + 1;
}

std::chrono::microseconds TtftHistogram::upper_bound(std::size_t bucket) {
  if (bucket == 0) return std::chrono::microseconds{1024};
  if (bucket >= kBuckets - 1) return std::chrono::microseconds{std::int64_t{1} << 27};
  const std::size_t k = bucket - 1;
  const auto msb = static_cast<int>(10 + k / 4);
  return std::chrono::microseconds{static_cast<std::int64_t>(4 + k % 4 + 1) << (msb - 2)};
}

void TtftHistogram::decay_to(std::int64_t period) {
  std::int64_t seen = period_.load(std::memory_order_acquire);
  while (seen < period) {
    if (!period_.compare_exchange_weak(seen, period, std::memory_order_acq_rel)) continue;
    if (seen == std::numeric_limits<std::int64_t>::min()) return;
    const std::int64_t halvings = std::min<std::int64_t>(period - seen, 62);
    for (auto& count : counts_) {
      // Subtracting (rather than storing the half) keeps samples recorded meanwhile.
      const std::int64_t value = count.load(std::memory_order_relaxed);
      count.fetch_sub(value - (value >> halvings), std::memory_order_relaxed);
    }
    return;
  }
}

void TtftHistogram::record(SteadyTime now, std::chrono::microseconds ttft) {
  decay_to(ticks(now) / std::chrono::steady_clock::duration{kHalfLife}.count());
  counts_[bucket_of(ttft)].fetch_add(1, std::memory_order_relaxed);
}

std::optional<std::chrono::microseconds> TtftHistogram::percentile(SteadyTime now, int percentile) {
  decay_to(ticks(now) / std::chrono::steady_clock::duration{kHalfLife}.count());
  std::array<std::int64_t, kBuckets> snapshot{};
  std::int64_t total = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    snapshot[i] = std::max<std::int64_t>(0, counts_[i].load(std::memory_order_relaxed));
    total += snapshot[i];
  }
  if (total < kMinSamples) return std::nullopt;
  const int p = std::clamp(percentile, 1, 99);
  // The smallest bucket with at least p% of the samples at or below it.
  const std::int64_t rank = (total * p + 99) / 100;
  std::int64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += snapshot[i];
    if (seen >= rank) return upper_bound(i);
  }
  return upper_bound(kBuckets - 1);
}

std::optional<milliseconds> HedgeGate::hedge_delay(SteadyTime now, const HedgePolicy& policy) {
  if (policy.after.count() > 0) return policy.after;
  if (policy.after_percentile <= 0) return std::nullopt;
  const auto ttft = histogram_.percentile(now, policy.after_percentile);
  if (!ttft) return std::nullopt;
  return std::chrono::ceil<milliseconds>(*ttft);
}

bool HedgeGate::try_begin_hedge(SteadyTime now, const HedgePolicy& policy) {
  if (!policy.enabled() || !(policy.max_fraction > 0)) return false;
  const auto requests = static_cast<double>(window_.first(now));
  const auto hedges = static_cast<double>(window_.second(now));
  if (hedges + 1 > policy.max_fraction * requests) return false;
  window_.add(now, 0, 1);
  return true;
}

}  // namespace switchyard::core
