#include "core/rate_limit.hpp"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <limits>

namespace switchyard::core {

namespace {

// A charge times the window does not fit 64 bits for large token limits.
__extension__ typedef __int128 Wide;

constexpr std::int64_t kWindowNs = MinuteRateLimiter::kWindow.count();
// Far beyond any real backlog (about 36 years), and far from overflowing when added to a time.
constexpr std::int64_t kMaxDuration = std::int64_t{1} << 60;

std::int64_t nanoseconds_of(SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? std::numeric_limits<std::int64_t>::max()
               : std::numeric_limits<std::int64_t>::min();
}

std::int64_t clamp_to_duration(Wide ns) {
  return static_cast<std::int64_t>(std::clamp<Wide>(ns, -kMaxDuration, kMaxDuration));
}

// The backlog is the part of the TAT ahead of now: what is still charged.
std::int64_t backlog_of(std::int64_t tat, std::int64_t now) { return tat > now ? tat - now : 0; }

}  // namespace

MinuteRateLimiter::MinuteRateLimiter(std::int64_t per_minute)
    : tat_(std::numeric_limits<std::int64_t>::min()),
      limit_(std::max<std::int64_t>(per_minute, 1)) {}

std::int64_t MinuteRateLimiter::duration_of(std::int64_t units, std::int64_t per_minute) {
  if (units <= 0) return 0;
  // 64 bits when the product fits (up to 1.5e8 units): the 128-bit division is a libgcc call.
  if (std::int64_t product = 0; !__builtin_mul_overflow(units, kWindowNs, &product))
    return clamp_to_duration(product / per_minute);
  return clamp_to_duration(Wide{units} * kWindowNs / per_minute);
}

// The state is one word and publishes nothing else, so relaxed ordering is enough throughout.
Result<MinuteRateLimiter::Taken, MinuteRateLimiter::Refused> MinuteRateLimiter::try_take(
    std::int64_t units, SteadyTime now) {
  const std::int64_t limit = limit_.load(std::memory_order_relaxed);
  const std::int64_t charged = std::clamp<std::int64_t>(units, 0, limit);
  const std::int64_t cost = duration_of(charged, limit);
  const std::int64_t t = nanoseconds_of(now);
  std::int64_t tat = tat_.load(std::memory_order_relaxed);
  for (;;) {
    const std::int64_t next = saturating_add(std::max(tat, t), cost);
    const std::int64_t fits_at = next - kWindowNs;
    if (fits_at > t) return fail(Refused{std::chrono::nanoseconds{fits_at - t}});
    if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return Taken{charged};
  }
}

void MinuteRateLimiter::shift(std::int64_t delta, std::int64_t now) {
  std::int64_t tat = tat_.load(std::memory_order_relaxed);
  for (;;) {
    const std::int64_t next = std::max(saturating_add(std::max(tat, now), delta), now);
    if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return;
  }
}

void MinuteRateLimiter::settle(const Taken& taken, std::int64_t actual, SteadyTime now) {
  const std::int64_t limit = limit_.load(std::memory_order_relaxed);
  // The difference of the two durations, not the duration of the difference: a reservation
  // and its settlement then add up to exactly what `actual` alone would have charged.
  shift(duration_of(actual, limit) - duration_of(taken.units, limit), nanoseconds_of(now));
}

void MinuteRateLimiter::give_back(const Taken& taken, SteadyTime now) { settle(taken, 0, now); }

std::int64_t MinuteRateLimiter::limit() const { return limit_.load(std::memory_order_relaxed); }

std::int64_t MinuteRateLimiter::remaining(SteadyTime now) const {
  const std::int64_t limit = limit_.load(std::memory_order_relaxed);
  const std::int64_t t = nanoseconds_of(now);
  const std::int64_t free = kWindowNs - backlog_of(tat_.load(std::memory_order_relaxed), t);
  if (free < 0) return 0;
  // The largest n whose duration, rounded down, fits in `free`: n·W/L < free + 1.
  if (std::int64_t product = 0; !__builtin_mul_overflow(free + 1, limit, &product))
    return std::min((product - 1) / kWindowNs, limit);
  const Wide most = (Wide{free + 1} * limit - 1) / kWindowNs;
  return static_cast<std::int64_t>(std::min<Wide>(most, limit));
}

std::chrono::nanoseconds MinuteRateLimiter::until_full(SteadyTime now) const {
  return std::chrono::nanoseconds{
      backlog_of(tat_.load(std::memory_order_relaxed), nanoseconds_of(now))};
}

void MinuteRateLimiter::set_limit(std::int64_t per_minute, SteadyTime now) {
  per_minute = std::max<std::int64_t>(per_minute, 1);
  const std::int64_t old_limit = limit_.exchange(per_minute, std::memory_order_relaxed);
  if (old_limit == per_minute) return;
  const std::int64_t t = nanoseconds_of(now);
  std::int64_t tat = tat_.load(std::memory_order_relaxed);
  for (;;) {
    // The same units charged, costed at the new rate.
    const Wide scaled = Wide{backlog_of(tat, t)} * old_limit / per_minute;
    const std::int64_t next = tat <= t ? tat : t + clamp_to_duration(scaled);
    if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return;
  }
}

ParallelLimiter::ParallelLimiter(std::int64_t max_in_flight)
    : limit_(std::max<std::int64_t>(max_in_flight, 0)) {}

bool ParallelLimiter::try_enter() {
  std::int64_t current = in_flight_.load(std::memory_order_relaxed);
  do {
    if (current >= limit_.load(std::memory_order_relaxed)) return false;
  } while (!in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return true;
}

void ParallelLimiter::leave() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

std::int64_t ParallelLimiter::in_flight() const {
  return in_flight_.load(std::memory_order_relaxed);
}

std::int64_t ParallelLimiter::limit() const { return limit_.load(std::memory_order_relaxed); }

void ParallelLimiter::set_limit(std::int64_t max_in_flight) {
  limit_.store(std::max<std::int64_t>(max_in_flight, 0), std::memory_order_relaxed);
}

namespace {

constexpr MinuteRateLimiter::Taken kOneRequest{1};

// Gives back the first `requests_taken` rpm charges and the first `tokens_taken` tpm ones.
void give_back_all(std::span<MinuteRateLimiter* const> requests, std::size_t requests_taken,
                   std::span<MinuteRateLimiter* const> tokens, std::size_t tokens_taken,
                   std::span<MinuteRateLimiter::Taken> taken_tokens, SteadyTime now) {
  for (std::size_t i = 0; i < requests_taken; ++i) {
    if (requests[i]) requests[i]->give_back(kOneRequest, now);
  }
  for (std::size_t i = 0; i < tokens_taken; ++i) {
    if (tokens[i]) tokens[i]->give_back(taken_tokens[i], now);
    taken_tokens[i] = {};
  }
}

}  // namespace

std::optional<LimitRefusal> admit(std::span<MinuteRateLimiter* const> requests,
                                  std::span<MinuteRateLimiter* const> tokens,
                                  std::int64_t token_units, SteadyTime now,
                                  std::span<MinuteRateLimiter::Taken> taken_tokens) {
  assert(taken_tokens.size() >= tokens.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (!requests[i]) continue;
    auto taken = requests[i]->try_take(1, now);
    if (!taken) {
      give_back_all(requests, i, tokens, 0, taken_tokens, now);
      return LimitRefusal{i, true, taken.error().retry_after};
    }
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    taken_tokens[i] = {};
    if (!tokens[i]) continue;
    auto taken = tokens[i]->try_take(token_units, now);
    if (!taken) {
      give_back_all(requests, requests.size(), tokens, i, taken_tokens, now);
      return LimitRefusal{i, false, taken.error().retry_after};
    }
    taken_tokens[i] = taken.value();
  }
  return std::nullopt;
}

namespace {

// Digits of a non-negative number, at least `width` of them (zero-padded).
char* write_digits(char* out, std::int64_t v, int width = 1) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n < width) buf[n++] = '0';
  while (n > 0) *out++ = buf[--n];
  return out;
}

char* write_text(char* out, std::string_view s) {
  for (const char c : s) *out++ = c;
  return out;
}

}  // namespace

char* write_reset_duration(char* out, std::chrono::nanoseconds d) {
  using std::chrono::ceil;
  if (d <= std::chrono::nanoseconds::zero()) return write_text(out, "0s");
  const auto ms = ceil<std::chrono::milliseconds>(d).count();
  if (ms < 1000) return write_text(write_digits(out, ms), "ms");
  const auto total = ceil<std::chrono::seconds>(d).count();
  const auto hours = total / 3600;
  const auto minutes = total / 60 % 60;
  if (hours > 0) {
    out = write_digits(out, hours);
    *out++ = 'h';
  }
  if (hours > 0 || minutes > 0) {
    out = write_digits(out, minutes);
    *out++ = 'm';
  }
  out = write_digits(out, total % 60);
  *out++ = 's';
  return out;
}

std::string format_reset_duration(std::chrono::nanoseconds d) {
  char buf[kResetDurationChars];
  return std::string(buf, write_reset_duration(buf, d));
}

char* write_rfc3339(char* out, std::chrono::sys_seconds t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day date{day};
  const std::chrono::hh_mm_ss time{t - day};
  out = write_digits(out, static_cast<int>(date.year()), 4);
  *out++ = '-';
  out = write_digits(out, static_cast<unsigned>(date.month()), 2);
  *out++ = '-';
  out = write_digits(out, static_cast<unsigned>(date.day()), 2);
  *out++ = 'T';
  out = write_digits(out, time.hours().count(), 2);
  *out++ = ':';
  out = write_digits(out, time.minutes().count(), 2);
  *out++ = ':';
  out = write_digits(out, time.seconds().count(), 2);
  *out++ = 'Z';
  return out;
}

std::string format_rfc3339(std::chrono::sys_seconds t) {
  char buf[kRfc3339Chars];
  return std::string(buf, write_rfc3339(buf, t));
}

}  // namespace switchyard::core
