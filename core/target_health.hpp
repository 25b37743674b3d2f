#pragma once
// What every worker thread knows about one target of one model group: requests in flight,
// time to first token, the circuit breaker, the upstream's Retry-After and the rpm/tpm
// windows; and about the group: its shape, precomputed for routing, and which of its targets
// need a look. Made once at start-up and shared: std::atomic only, no lock, no allocation
// after make_target_states(). Time is passed in.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>

#include "core/routing_config.hpp"

namespace switchyard::core {

using SteadyTime = std::chrono::steady_clock::time_point;

// Two counts (e.g. requests and tokens) over the last minute, in 12 buckets of 5 s with a
// running total, so reading them is two loads. A charge counts for 55 to 60 s rather than
// exactly 60 s (it leaves with its whole bucket), so a limit can let through up to 60/55
// (about 9%) more than its rate over a long run. A charge made in the instant another
// thread retires its bucket can be lost; the totals never go below zero.
class MinuteCounts {
 public:
  static constexpr int kBuckets = 12;
  static constexpr std::chrono::seconds kBucketWidth{5};

  // The counts of the last minute as of `now`.
  std::int64_t first(SteadyTime now);
  std::int64_t second(SteadyTime now);
  void add(SteadyTime now, std::int64_t first, std::int64_t second);
  // Takes the other's counts as they are now (a reload's new state, before it is shared).
  void copy_from(const MinuteCounts& other);

 private:
  void advance_to(std::int64_t epoch);
  static std::int64_t epoch_of(SteadyTime now);
  static std::size_t slot_of(std::int64_t epoch);

  std::atomic<std::int64_t> epoch_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::int64_t> first_total_{0};
  std::atomic<std::int64_t> second_total_{0};
  std::array<std::atomic<std::int64_t>, kBuckets> first_{};
  std::array<std::atomic<std::int64_t>, kBuckets> second_{};
};

// A group is limited to this many targets: the tried set and the impaired set are 64-bit masks.
constexpr std::size_t kMaxGroupTargets = 64;

// The group's targets as a selection walks them, fixed at start-up so that a selection over
// a healthy group reads no TargetState: the tiers as bit masks (bit i: target i), and per
// target what the strategies weigh.
struct GroupShape {
  using Column = std::array<double, kMaxGroupTargets>;

  std::size_t size = 0;  // the targets covered: the group's first kMaxGroupTargets
  // Ascending tiers; a tier's targets are order[tier_begin[t], tier_begin[t + 1]) in list order.
  std::size_t tier_count = 0;
  std::array<std::uint64_t, kMaxGroupTargets> tier_mask{};
  std::array<std::uint8_t, kMaxGroupTargets + 1> tier_begin{};
  std::array<std::uint8_t, kMaxGroupTargets> order{};
  // Whether the tier's targets sit side by side in the list (order[tier_begin[t]] onwards), as
  // they do in a group of one tier: then a walk over them is a plain loop.
  std::array<bool, kMaxGroupTargets> tier_contiguous{};
  // weighted: max(0, weight) by target; the running sum within its tier, by position in order.
  Column weight{};
  Column weight_through{};
  // cost: the per-million rates by target, the long-context ones past long_above prompt
  // tokens (the base ones again, and the largest count, without a long-context tier).
  Column input_rate{};
  Column output_rate{};
  Column long_input_rate{};
  Column long_output_rate{};
  std::array<std::int64_t, kMaxGroupTargets> long_above{};
  std::array<std::int64_t, kMaxGroupTargets> tier_long_above{};  // the tier's smallest
  // Bit j of cost_dominates[i]: target j, later in the same tier, never costs less than i
  // (no rate of it is lower at any prompt size), so j is never the cheapest while i is a
  // candidate: ties go to i. A tier's front: its targets no earlier one dominates.
  std::array<std::uint64_t, kMaxGroupTargets> cost_dominates{};
  std::array<std::uint64_t, kMaxGroupTargets> tier_cost_front{};

  explicit GroupShape(std::span<const TargetConfig> targets);
  std::size_t tier_size(std::size_t tier) const { return tier_begin[tier + 1] - tier_begin[tier]; }
};

class TargetState;

// What every worker shares about a whole group: its shape, and which targets a selection must
// look at (bit i set while target i has an rpm/tpm limit, an open breaker or a Retry-After
// pending); the others are available without a look. Kept by the targets' states.
class TargetGroup {
 public:
  explicit TargetGroup(std::span<const TargetConfig> targets) : shape_(targets) {}
  const GroupShape& shape() const { return shape_; }
  std::uint64_t impaired() const { return impaired_.load(std::memory_order_acquire); }

 private:
  friend class TargetState;
  void mark_impaired(std::uint64_t bit) { impaired_.fetch_or(bit, std::memory_order_acq_rel); }
  void clear_impaired(std::uint64_t bit) { impaired_.fetch_and(~bit, std::memory_order_acq_rel); }

  GroupShape shape_;
  // Written rarely (a breaker opening or closing), read by every selection: a line of its own.
  alignas(64) std::atomic<std::uint64_t> impaired_{0};
};

// Why a target cannot take a request now.
enum class TargetAvailability {
  available,
  cooling,       // its circuit breaker is open, or its one probe is out
  rate_limited,  // the upstream said so (a Retry-After) and that time has not come
  over_limit,    // our rpm/tpm of the last minute is used up
};

// alignas: targets sit side by side in one array and their counters are written by every
// worker; a cache line each keeps one busy target from slowing its neighbours.
class alignas(64) TargetState {
 public:
  TargetState() = default;
  TargetState(const TargetState&) = delete;
  TargetState& operator=(const TargetState&) = delete;

  // The group this target belongs to (null for a state not made by make_target_states).
  const TargetGroup* group() const { return group_.get(); }

  // Whether a request of `tokens` (estimated input + max output) may go to it now. A target
  // whose cooldown has ended is available to the one request that claims its probe.
  TargetAvailability availability(SteadyTime now, std::int64_t tokens) const {
    // The common case inline, in one load: closed, no Retry-After pending, no rate limit.
    const std::uint32_t check = check_.load(std::memory_order_acquire);
    if (check == 0) return TargetAvailability::available;
    return checked_availability(now, tokens, check);
  }
  // Takes the target for one attempt of `tokens`: claims the probe when one is due (false
  // when another request claimed it first), charges the rate windows, counts it in flight.
  // The caller ends it with end_attempt().
  bool claim(SteadyTime now, std::int64_t tokens);
  void end_attempt() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  // Takes the target whatever its breaker says (panic routing: every target of the request's
  // models is cooling down, so the upstream answers rather than the gateway); rates still
  // count. Ended with end_attempt().
  void claim_despite_breaker(SteadyTime now, std::int64_t tokens) {
    if (rpm_ > 0 || tpm_ > 0) rate_.add(now, 1, std::max<std::int64_t>(0, tokens));
    in_flight_.fetch_add(1, std::memory_order_relaxed);
  }
  std::int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  // Once the answer's first token arrived: a moving average (weight 1/5 for the new sample).
  void record_first_token(std::chrono::microseconds ttft);
  // The moving average, or nullopt before the first sample.
  std::optional<std::chrono::microseconds> ttft_average() const;
  // Later, the tokens the attempt really used, so tpm counts what was spent rather than the
  // estimate (the difference goes into the current bucket).
  void settle_tokens(SteadyTime now, std::int64_t estimated, std::int64_t used);

  // The attempt succeeded (its answer came): closes the breaker when this was its probe.
  void record_success(SteadyTime now);
  // The attempt failed in a way that counts against the target (a retryable failure). A
  // Retry-After benches the target until then whatever the breaker says, and extends a
  // cooldown this failure starts. Returns true when this failure started a cooldown.
  bool record_failure(SteadyTime now, std::optional<std::chrono::milliseconds> retry_after);

  // A reload's new state for a target the previous config had too, before any thread shares
  // it: takes the previous state's breaker (open or probing, and until when), its pending
  // Retry-After, its time-to-first-token average and its rpm/tpm windows, so a reload neither
  // sends traffic to a target that is cooling down nor resets a limit. Failures counted
  // towards a breaker that is still closed start afresh. Attempts in flight on the previous
  // state end there.
  void carry_over(const TargetState& previous);

  // Until when the breaker keeps it out (the time_point's epoch when it is closed).
  SteadyTime cooldown_until() const;
  bool breaker_open() const { return breaker_.load(std::memory_order_relaxed) != kClosed; }

 private:
  static constexpr int kClosed = 0;   // requests flow
  static constexpr int kOpen = 1;     // cooling until cooldown_until_, then one probe
  static constexpr int kProbing = 2;  // the probe is out: others wait for its outcome
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();

  friend std::unique_ptr<TargetState[]> make_target_states(std::span<const TargetConfig> targets,
                                                           const CooldownPolicy& cooldown);
  // Once, at start-up, before any thread shares the state.
  void configure(const TargetConfig& target, const CooldownPolicy& cooldown,
                 std::shared_ptr<TargetGroup> group, std::size_t index);

  // Opens the breaker from state `from` until the later of a cooldown from `now` and `until`;
  // false when another thread changed the state first.
  bool open_breaker(int from, std::int64_t now, std::int64_t until);
  TargetAvailability checked_availability(SteadyTime now, std::int64_t tokens,
                                          std::uint32_t check) const;
  // check_ first, then the group's bit: a selection that sees the bit sees why.
  void mark_impaired() {
    check_.fetch_add(kImpairedStep, std::memory_order_release);
    if (group_) group_->mark_impaired(group_bit_);
  }

  // The limits, copied at configure().
  std::int64_t rpm_ = 0;
  std::int64_t tpm_ = 0;
  int failure_threshold_ = 3;
  std::int64_t failure_window_ = 0;     // steady_clock ticks
  std::int64_t cooldown_duration_ = 0;  // steady_clock ticks

  // 0 when nothing needs looking at (the fast path of availability()); else kLimited for a
  // target with rpm/tpm, plus a count that every breaker opening and Retry-After raises. A
  // selection that finds the target well again clears the count, with a compare-exchange
  // that fails when anything was raised meanwhile.
  static constexpr std::uint32_t kLimited = 1;
  static constexpr std::uint32_t kImpairedStep = 2;
  mutable std::atomic<std::uint32_t> check_{0};
  // Read by every selection, written rarely: on the first cache line with the limits.
  std::atomic<int> breaker_{kClosed};
  std::atomic<std::int64_t> cooldown_until_{kNever};
  std::atomic<std::int64_t> probe_claimed_at_{kNever};
  std::atomic<std::int64_t> retry_after_until_{kNever};
  // Written by every attempt: a line of their own, so those writes do not make every other
  // worker's selection miss on the fields above.
  alignas(64) std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> ttft_average_us_{-1};
  // The times of the last `failure_threshold_` counted failures, a ring: the breaker trips
  // when the oldest of them is within the window.
  std::unique_ptr<std::atomic<std::int64_t>[]> failure_times_;
  std::atomic<std::uint64_t> failure_count_{0};
  mutable MinuteCounts rate_;  // requests, tokens
  // Its group, and its bit in the group's masks (0 past kMaxGroupTargets).
  std::shared_ptr<TargetGroup> group_;
  std::uint64_t group_bit_ = 0;
};

// One state per target of a group, in the targets' order, sharing one TargetGroup.
std::unique_ptr<TargetState[]> make_target_states(std::span<const TargetConfig> targets,
                                                  const CooldownPolicy& cooldown);

}  // namespace switchyard::core
