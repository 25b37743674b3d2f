#pragma once
// Picking a target of a model group for one attempt, and a key of a provider's pool. Called
// on every request: one pass over the targets, no allocation, no lock. Randomness and time
// are passed in.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/routing_config.hpp"
#include "core/target_health.hpp"

namespace switchyard::core {

// A small fast generator (splitmix64) for routing choices; one per worker thread, never
// shared. Not for anything secret.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n) for n > 0 (the modulo bias is below 2^-40 for the n routing uses).
  std::uint64_t below(std::uint64_t n) { return next_u64() % n; }

 private:
  std::uint64_t state_;
};

struct SelectionInput {
  SteadyTime now;
  Strategy strategy = Strategy::weighted;
  std::int64_t input_tokens = 0;       // estimated, for cost and tpm
  std::int64_t max_output_tokens = 0;  // the request's max tokens (or the default), likewise
  std::uint64_t tried = 0;             // bit i: target i was already tried by this request
  std::optional<std::size_t> pinned;   // only this target (x-switchyard-target)
};

// How many targets were left out for each reason, for the error when none was available.
struct Unavailable {
  int tried = 0;
  int cooling = 0;
  int rate_limited = 0;
  int over_limit = 0;
  int total() const { return tried + cooling + rate_limited + over_limit; }
};

struct Selection {
  std::optional<std::size_t> target;  // the index into the group's targets
  Unavailable unavailable;            // counted over the targets considered
};

// Picks a target for one attempt: among the available targets (not tried, not cooling, not
// rate limited by the upstream, within rpm/tpm, probe claimable), those of the lowest tier
// that has one, by the strategy. The chosen target is claimed (TargetState::claim): the
// caller calls end_attempt() on it when the attempt is over. `states` are those
// make_target_states made for `targets`; targets past kMaxGroupTargets (core/target_health.hpp)
// are not considered. A group with no target impaired (TargetGroup::impaired) reads only the
// precomputed GroupShape and, for least_busy and latency, the counters the strategy weighs.
Selection select_target(std::span<const TargetConfig> targets, std::span<TargetState> states,
                        const SelectionInput& input, Rng& rng);

// "2 targets cooling down, 1 over its rate limit" for the client's error message.
std::string describe_unavailable(const Unavailable& unavailable);

// A provider's API keys, by index (key text never comes here): a key answered with 401/403
// or 429 is benched while the others carry the load.
class KeyPool {
 public:
  explicit KeyPool(std::size_t key_count);

  // A random key among those not benched; nullopt when every key is benched (or there are
  // none). Random rather than round robin: no counter shared by the workers to write.
  std::optional<std::size_t> pick(SteadyTime now, Rng& rng) const;
  // Keeps key `index` out until `until` (a later bench wins over an earlier one).
  void bench(std::size_t index, SteadyTime until);
  // What the upstream's answer means for the key: 401/403 bench it for the cooldown's
  // duration, 429 for its Retry-After (without one the target's breaker deals with it).
  void bench_for_status(std::size_t index, int status, SteadyTime now,
                        std::optional<std::chrono::milliseconds> retry_after,
                        const CooldownPolicy& cooldown);
  std::size_t benched_count(SteadyTime now) const;
  std::size_t size() const { return count_; }

 private:
  std::size_t count_;
  std::unique_ptr<std::atomic<std::int64_t>[]> benched_until_;
};

}  // namespace switchyard::core
