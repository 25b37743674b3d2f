#pragma once
// When and how an attempt that failed is tried again: backoff, the upstream's Retry-After,
// the decision (another target, wait, fallbacks, give up), the global retry budget and the
// per-model hedging gate. Time and randomness are passed in; shared state is atomics only.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/routing.hpp"
#include "core/routing_config.hpp"
#include "core/target_health.hpp"
#include "core/upstream_failure.hpp"

namespace switchyard::core {

// The wait before retry `retry_number` (1-based) with full jitter: uniform in
// [0, min(max_backoff, backoff * 2^(retry_number - 1))], without overflow for any number.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry_number, Rng& rng);

// The upstream's wish, from Retry-After (delta-seconds or an IMF-fixdate HTTP date) and
// retry-after-ms (OpenAI's and Azure's milliseconds, which win when both parse). A date in
// the past is zero; nothing usable (absent, negative, garbage) is nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view retry_after, std::string_view retry_after_ms,
    std::chrono::system_clock::time_point now);

enum class RetryAction {
  retry_other_target,  // now, on another target of the group
  wait_then_retry,     // after `wait`, on any target (the same one too: no other is available)
  give_up_group,       // this group is done: its fallbacks (or context-window fallbacks) next
  fail,                // answer the client with this failure
};

struct RetryDecision {
  RetryAction action = RetryAction::fail;
  std::chrono::milliseconds wait{0};
};

struct RetryInput {
  const RetryPolicy& policy;
  const UpstreamFailure& failure;
  int attempts_made = 1;                                 // in this group, the failed one included
  std::chrono::milliseconds elapsed{0};                  // since the request arrived
  std::optional<std::chrono::milliseconds> retry_after;  // parsed from the failed answer
  bool other_target_available = false;  // another target of the group could take it now
};

// What to do after a failed attempt. A Retry-After longer than max_retry_after is never
// waited for (another target, else the fallbacks); no wait reaches past total_timeout and no
// attempt starts after it. The retry budget is the caller's next question.
RetryDecision decide_retry(const RetryInput& input, Rng& rng);

// Retries and hedges in flight stay below max(min_concurrent, ratio * requests in flight),
// so retries cannot multiply an outage. One for the process.
class RetryBudgetState {
 public:
  explicit RetryBudgetState(const RetryBudget& budget) : budget_(budget) {}

  void begin_request() { requests_.fetch_add(1, std::memory_order_relaxed); }
  void end_request() { requests_.fetch_sub(1, std::memory_order_relaxed); }
  // True when a retry (or hedge) may start; it then ends with end_retry().
  bool try_begin_retry();
  void end_retry() { retries_.fetch_sub(1, std::memory_order_relaxed); }

  std::int64_t requests_in_flight() const { return requests_.load(std::memory_order_relaxed); }
  std::int64_t retries_in_flight() const { return retries_.load(std::memory_order_relaxed); }
  std::int64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  RetryBudget budget_;
  std::atomic<std::int64_t> requests_{0};
  std::atomic<std::int64_t> retries_{0};
  std::atomic<std::int64_t> refused_{0};
};

// Recent times to first token in log-spaced buckets (four per doubling, 1 ms to ~134 s),
// halved every 30 s so they follow recent traffic. A percentile is a bucket's upper bound:
// at most 25% above the true value. Concurrent halving and recording may lose a sample.
class TtftHistogram {
 public:
  static constexpr std::size_t kBuckets = 70;
  static constexpr std::chrono::seconds kHalfLife{30};
  // Fewer recent samples than this give no percentile.
  static constexpr std::int64_t kMinSamples = 20;

  void record(SteadyTime now, std::chrono::microseconds ttft);
  // `percentile` in 1..99; nullopt with too few recent samples.
  std::optional<std::chrono::microseconds> percentile(SteadyTime now, int percentile);

  static std::size_t bucket_of(std::chrono::microseconds ttft);
  static std::chrono::microseconds upper_bound(std::size_t bucket);

 private:
  void decay_to(std::int64_t period);

  std::atomic<std::int64_t> period_{std::numeric_limits<std::int64_t>::min()};
  std::array<std::atomic<std::int64_t>, kBuckets> counts_{};
};

// Per model: whether a request may be hedged now (hedged requests stay within max_fraction
// of the requests of the last minute, approximately: MinuteCounts), and after how long.
class HedgeGate {
 public:
  void record_request(SteadyTime now) { window_.add(now, 1, 0); }
  void record_first_token(SteadyTime now, std::chrono::microseconds ttft) {
    histogram_.record(now, ttft);
  }
  // When the hedge would start, counted from the first attempt's start: `after` when fixed,
  // else the recent TTFT percentile; nullopt when hedging is off or has too few samples.
  std::optional<std::chrono::milliseconds> hedge_delay(SteadyTime now, const HedgePolicy& policy);
  // True when this request may hedge now; the hedge is then counted.
  bool try_begin_hedge(SteadyTime now, const HedgePolicy& policy);

  std::int64_t requests(SteadyTime now) { return window_.first(now); }
  std::int64_t hedges(SteadyTime now) { return window_.second(now); }

 private:
  MinuteCounts window_;  // requests, hedges
  TtftHistogram histogram_;
};

}  // namespace switchyard::core
