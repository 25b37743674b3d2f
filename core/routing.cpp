#include "core/routing.hpp"

#include <algorithm>
#include <bit>
#include <limits>

#include "core/usage.hpp"

namespace switchyard::core {
namespace {

std::int64_t ticks(SteadyTime t) { return t.time_since_epoch().count(); }

// The index of the k-th (0-based) set bit of `mask`, which has more than k set bits.
std::size_t nth_set_bit(std::uint64_t mask, std::uint64_t k) {
  for (; k > 0; --k) mask &= mask - 1;
  return static_cast<std::size_t>(std::countr_zero(mask));
}

double estimated_cost(const TargetConfig& target, const SelectionInput& input) {
  Usage usage;
  usage.prompt_tokens = token_count(input.input_tokens);
  usage.completion_tokens = token_count(input.max_output_tokens);
  return cost_usd(usage, target.price);
}

// Picks one of the candidates in `mask` (not empty) by the strategy.
std::size_t choose(std::span<const TargetConfig> targets, std::span<TargetState> states,
                   std::uint64_t mask, const SelectionInput& input, Rng& rng) {
  switch (input.strategy) {
    case Strategy::ordered:
      return static_cast<std::size_t>(std::countr_zero(mask));
    case Strategy::least_busy: {
      std::size_t best = 0;
      std::int64_t fewest = std::numeric_limits<std::int64_t>::max();
      std::uint64_t ties = 0;
      for (std::uint64_t m = mask; m != 0; m &= m - 1) {
        const auto i = static_cast<std::size_t>(std::countr_zero(m));
        const std::int64_t busy = states[i].in_flight();
        if (busy < fewest) {
          fewest = busy;
          best = i;
          ties = 1;
        } else if (busy == fewest && rng.below(++ties) == 0) {
          best = i;  // each of the tied keeps it with probability 1/ties: uniform among them
        }
      }
      return best;
    }
    case Strategy::latency: {
      // Power of two choices: the better of two random candidates. Always taking the best
      // would pile every worker onto one target until its average caught up.
      const auto count = static_cast<std::uint64_t>(std::popcount(mask));
      if (count == 1) return static_cast<std::size_t>(std::countr_zero(mask));
      const std::uint64_t first = rng.below(count);
      std::uint64_t second = rng.below(count - 1);
      if (second >= first) ++second;
      const std::size_t a = nth_set_bit(mask, first);
      const std::size_t b = nth_set_bit(mask, second);
      // A target without a sample yet counts as the fastest, so it gets measured.
      const auto average = [&](std::size_t i) {
        const auto ttft = states[i].ttft_average();
        return ttft ? ttft->count() : -1;
      };
      return average(b) < average(a) ? b : a;
    }
    case Strategy::cost: {
      std::size_t best = 0;
      double cheapest = std::numeric_limits<double>::infinity();
      for (std::uint64_t m = mask; m != 0; m &= m - 1) {
        const auto i = static_cast<std::size_t>(std::countr_zero(m));
        const double cost = estimated_cost(targets[i], input);
        if (cost < cheapest) {  // strictly: ties go to the earlier target in the list
          cheapest = cost;
          best = i;
        }
      }
      return best;
    }
    case Strategy::weighted:
      break;
  }
  double total = 0;
  for (std::uint64_t m = mask; m != 0; m &= m - 1) {
    total += std::max(0.0, targets[static_cast<std::size_t>(std::countr_zero(m))].weight);
  }
  if (!(total > 0)) {
    return nth_set_bit(mask, rng.below(static_cast<std::uint64_t>(std::popcount(mask))));
  }
  double point = rng.uniform01() * total;
  std::size_t last = 0;
  for (std::uint64_t m = mask; m != 0; m &= m - 1) {
    last = static_cast<std::size_t>(std::countr_zero(m));
    point -= std::max(0.0, targets[last].weight);
    if (point < 0) return last;
  }
  return last;  // rounding left a sliver past the last weight
}

}  // namespace

Selection select_target(std::span<const TargetConfig> targets, std::span<TargetState> states,
                        const SelectionInput& input, Rng& rng) {
  const std::size_t count = std::min({targets.size(), states.size(), kMaxGroupTargets});
  const std::int64_t tokens =
      token_count(input.input_tokens) + token_count(input.max_output_tokens);
  std::uint64_t lost_probes = 0;  // chosen, but another worker claimed the probe first
  // Normally once; again only when another worker claimed a probe this one chose.
  for (std::size_t round = 0; round <= count; ++round) {
    Selection selection;
    std::uint64_t candidates = 0;  // the available targets of the lowest tier seen so far
    int best_tier = std::numeric_limits<int>::max();
    for (std::size_t i = 0; i < count; ++i) {
      if (input.pinned && *input.pinned != i) continue;
      const int tier = targets[i].tier;
      if (tier > best_tier) continue;  // a lower tier already has a target
      const std::uint64_t bit = std::uint64_t{1} << i;
      if ((input.tried & bit) != 0) {
        ++selection.unavailable.tried;
        continue;
      }
      if ((lost_probes & bit) != 0) {
        ++selection.unavailable.cooling;
        continue;
      }
      switch (states[i].availability(input.now, tokens)) {
        case TargetAvailability::available:
          if (tier < best_tier) {
            best_tier = tier;
            candidates = 0;
          }
          candidates |= bit;
          break;
        case TargetAvailability::cooling:
          ++selection.unavailable.cooling;
          break;
        case TargetAvailability::rate_limited:
          ++selection.unavailable.rate_limited;
          break;
        case TargetAvailability::over_limit:
          ++selection.unavailable.over_limit;
          break;
      }
    }
    if (candidates == 0) return selection;
    const std::size_t chosen = choose(targets, states, candidates, input, rng);
    if (states[chosen].claim(input.now, tokens)) {
      selection.target = chosen;
      return selection;
    }
    lost_probes |= std::uint64_t{1} << chosen;
  }
  return {};
}

std::string describe_unavailable(const Unavailable& unavailable) {
  std::string text;
  const auto add = [&](int n, const char* one, const char* many) {
    if (n == 0) return;
    if (!text.empty()) text += ", ";
    text += std::to_string(n);
    text += n == 1 ? one : many;
  };
  add(unavailable.cooling, " target cooling down", " targets cooling down");
  add(unavailable.rate_limited, " target rate limited by its provider",
      " targets rate limited by their provider");
  add(unavailable.over_limit, " target over its rate limit", " targets over their rate limit");
  add(unavailable.tried, " target already tried", " targets already tried");
  if (text.empty()) text = "no target";
  return text;
}

KeyPool::KeyPool(std::size_t key_count)
    : count_(key_count), benched_until_(std::make_unique<std::atomic<std::int64_t>[]>(key_count)) {
  for (std::size_t i = 0; i < count_; ++i) {
    benched_until_[i].store(std::numeric_limits<std::int64_t>::min());
  }
}

std::optional<std::size_t> KeyPool::pick(SteadyTime now, Rng& rng) const {
  const std::int64_t t = ticks(now);
  // Uniform among the keys in service, so a benched key's share spreads over all the others
  // rather than falling on its neighbour.
  std::optional<std::size_t> chosen;
  std::uint64_t in_service = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    if (t < benched_until_[i].load(std::memory_order_relaxed)) continue;
    if (rng.below(++in_service) == 0) chosen = i;
  }
  return chosen;
}

void KeyPool::bench(std::size_t index, SteadyTime until) {
  if (index >= count_) return;
  std::atomic<std::int64_t>& slot = benched_until_[index];
  std::int64_t seen = slot.load(std::memory_order_relaxed);
  while (seen < ticks(until) &&
         !slot.compare_exchange_weak(seen, ticks(until), std::memory_order_relaxed)) {
  }
}

void KeyPool::bench_for_status(std::size_t index, int status, SteadyTime now,
                               std::optional<std::chrono::milliseconds> retry_after,
                               const CooldownPolicy& cooldown) {
  if (status == 401 || status == 403) {
    bench(index, now + cooldown.duration);
  } else if (status == 429 && retry_after) {
    bench(index, now + *retry_after);
  }
}

std::size_t KeyPool::benched_count(SteadyTime now) const {
  std::size_t benched = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    if (ticks(now) < benched_until_[i].load(std::memory_order_relaxed)) ++benched;
  }
  return benched;
}

}  // namespace switchyard::core
