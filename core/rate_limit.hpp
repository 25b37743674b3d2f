#pragma once
// The gateway's own limits (per key, per team, per key and model): requests and tokens per
// minute, and requests in parallel. Shared by every worker thread: std::atomic only, no lock,
// no allocation per call. Time is passed in.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/result.hpp"
#include "core/target_health.hpp"

namespace switchyard::core {

// GCRA (generic cell rate algorithm) over one minute: `per_minute` units a minute, bursts up
// to `per_minute`. The one word of state is the theoretical arrival time (TAT): the instant
// the limiter would be empty again, in ns since the steady epoch, moved by CAS loops. A
// charge of n units pushes it n/per_minute of a minute later, and a charge fits while the
// TAT stays within a minute of now.
//
// Unlike a fixed window (which lets twice the limit through in the moments around its
// boundary), over any span of w seconds it lets through at most per_minute + per_minute·w/60:
// one full burst plus what the rate refills meanwhile. A charge's duration is rounded down to
// the nanosecond, so a full burst always fits; the rate it allows is over by under 1 ns a
// charge.
class MinuteRateLimiter {
 public:
  static constexpr std::chrono::nanoseconds kWindow = std::chrono::minutes{1};

  explicit MinuteRateLimiter(std::int64_t per_minute);  // clamped to >= 1

  struct Taken {
    std::int64_t units = 0;  // what was charged: the request's units, at most the limit
  };
  struct Refused {
    std::chrono::nanoseconds retry_after;  // exact: from then on the request fits
  };
  // Charges min(units, limit) if that fits now, else refuses and charges nothing. The clamp
  // lets a single request larger than the whole limit pass when the limiter is idle; it could
  // never pass otherwise.
  Result<Taken, Refused> try_take(std::int64_t units, SteadyTime now);
  // Brings a charge to what was really used: gives back what was not used, or charges the
  // extra without refusing (the next requests wait for it). Never moves the TAT before now:
  // time that passed idle is not credited.
  void settle(const Taken& taken, std::int64_t actual, SteadyTime now);
  void give_back(const Taken& taken, SteadyTime now);  // the request did not go out after all

  // For the rate-limit headers.
  std::int64_t limit() const;
  std::int64_t remaining(SteadyTime now) const;  // units a request could take now, 0..limit
  std::chrono::nanoseconds until_full(SteadyTime now) const;  // until remaining == limit
  // An admin change. The units charged within the last minute stay charged: raising the limit
  // gives headroom at once, lowering it can leave the limiter over full until they drain. A
  // charge made in the instant of the change may be costed at either limit. It takes `now`
  // (the brief's sketch did not) because "charged within the last minute" is relative to it.
  void set_limit(std::int64_t per_minute, SteadyTime now);

 private:
  // The nanoseconds `units` occupy at `per_minute`, saturated far beyond any real backlog.
  static std::int64_t duration_of(std::int64_t units, std::int64_t per_minute);
  // Moves the TAT by `delta` ns (either way) but never before `now`.
  void shift(std::int64_t delta, std::int64_t now);

  std::atomic<std::int64_t> tat_;
  std::atomic<std::int64_t> limit_;
};

// Requests in flight.
class ParallelLimiter {
 public:
  explicit ParallelLimiter(std::int64_t max_in_flight);  // clamped to >= 0
  bool try_enter();  // never lets more than the limit in at once
  void leave();      // once for each successful try_enter
  std::int64_t in_flight() const;
  std::int64_t limit() const;
  // Lowering it below the requests in flight lets none in until enough have left.
  void set_limit(std::int64_t max_in_flight);

 private:
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> limit_;
};

// Which limiter refused a request: `which` indexes the requests span when `requests` is true,
// else the tokens span.
struct LimitRefusal {
  std::size_t which = 0;
  bool requests = false;
  std::chrono::nanoseconds retry_after{};
};

// All or nothing over several limiters (the key's, its team's, its key-and-model ones): the
// rpm limiters in `requests` are charged 1 each, then the tpm ones in `tokens` `token_units`
// each, in order; on the first refusal everything already taken is given back and the refusal
// returned. Null limiters are skipped (that level has no limit). `taken_tokens` (at least as
// long as `tokens`; the caller owns it, so nothing is allocated) receives each tpm charge in
// the same order, to be settled when the usage is known; a skipped limiter's is zero. While a
// request is admitted, another one may see its charges on the first limiters and be refused
// by them even if this one is then given back.
std::optional<LimitRefusal> admit(std::span<MinuteRateLimiter* const> requests,
                                  std::span<MinuteRateLimiter* const> tokens,
                                  std::int64_t token_units, SteadyTime now,
                                  std::span<MinuteRateLimiter::Taken> taken_tokens);

// OpenAI's x-ratelimit-reset-* value, a Go duration as OpenAI sends it: "59ms" below a
// second (rounded up to the ms), else whole seconds rounded up: "1s", "6m0s", "1h2m3s".
std::string format_reset_duration(std::chrono::nanoseconds d);
// Anthropic's anthropic-ratelimit-*-reset value: RFC 3339 in UTC, "2026-12-01T19:30:05Z".
std::string format_rfc3339(std::chrono::sys_seconds t);
// The same, written at `out`, returning the end (the answer headers of every limited request
// use these): a reset duration takes at most kResetDurationChars, a time kRfc3339Chars.
constexpr std::size_t kResetDurationChars = 32;
constexpr std::size_t kRfc3339Chars = 24;
char* write_reset_duration(char* out, std::chrono::nanoseconds d);
char* write_rfc3339(char* out, std::chrono::sys_seconds t);

}  // namespace switchyard::core
