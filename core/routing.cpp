#include "core/routing.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "core/usage.hpp"

namespace switchyard::core {
namespace {

std::int64_t ticks(SteadyTime t) { return t.time_since_epoch().count(); }

// What cost_usd gives for the estimate (no cache reads or writes), times a million: enough
// to compare targets, in two multiplications.
double estimated_cost(const Price& price, std::int64_t input_tokens, std::int64_t output_tokens) {
  const TokenRates& rates = price.rates_for(input_tokens);
  return static_cast<double>(input_tokens) * rates.input_per_mtok +
         static_cast<double>(output_tokens) * rates.output_per_mtok;
}

// The available targets of the lowest tier met so far, narrowed by the strategy as they are
// met: one pass, on the stack.
struct Candidates {
  std::array<std::uint8_t, kMaxGroupTargets> index{};
  // Only [0, count) is ever read, and the pass writes it first: not zeroed (512 bytes).
  std::array<double, kMaxGroupTargets> weight_through;  // weighted: the running weight sum
  std::size_t count = 0;
  int tier = std::numeric_limits<int>::max();
  std::int64_t fewest = std::numeric_limits<std::int64_t>::max();  // least_busy
  double cheapest = std::numeric_limits<double>::infinity();       // cost

  void restart(int lower_tier) {
    count = 0;
    tier = lower_tier;
    fewest = std::numeric_limits<std::int64_t>::max();
    cheapest = std::numeric_limits<double>::infinity();
  }
  void push(std::size_t i) { index[count++] = static_cast<std::uint8_t>(i); }
};

std::size_t choose(const Candidates& c, Strategy strategy, std::span<TargetState> states,
                   Rng& rng) {
  switch (strategy) {
    case Strategy::ordered:
    case Strategy::cost:  // only the cheapest is kept, the earliest on ties
      return c.index[0];
    case Strategy::least_busy:  // only the least busy are kept: one of them at random
      return c.index[rng.below(c.count)];
    case Strategy::latency: {
      // Power of two choices: the better of two random candidates. Always taking the best
      // would pile every worker onto one target until its average caught up.
      if (c.count == 1) return c.index[0];
      const std::uint64_t first = rng.below(c.count);
      std::uint64_t second = rng.below(c.count - 1);
      if (second >= first) ++second;
      const std::size_t a = c.index[first];
      const std::size_t b = c.index[second];
      // A target without a sample yet counts as the fastest, so it gets measured.
      const auto average = [&](std::size_t i) {
        const auto ttft = states[i].ttft_average();
        return ttft ? ttft->count() : -1;
      };
      return average(b) < average(a) ? b : a;
    }
    case Strategy::weighted:
      break;
  }
  const double total = c.weight_through[c.count - 1];
  if (!(total > 0)) return c.index[rng.below(c.count)];
  const double point = rng.uniform01() * total;
  const auto* end = c.weight_through.begin() + c.count;
  const auto* at = std::upper_bound(c.weight_through.begin(), end, point);
  return c.index[at == end ? c.count - 1 : static_cast<std::size_t>(at - c.weight_through.begin())];
}

// One copy per strategy, so the loop over the targets carries no switch.
template <Strategy kStrategy>
Selection select_by(std::span<const TargetConfig> targets, std::span<TargetState> states,
                    const SelectionInput& input, Rng& rng) {
  const std::size_t count = std::min({targets.size(), states.size(), kMaxGroupTargets});
  const std::int64_t input_tokens = token_count(input.input_tokens);
  const std::int64_t output_tokens = token_count(input.max_output_tokens);
  const std::int64_t tokens = input_tokens + output_tokens;
  std::uint64_t lost_probes = 0;  // chosen, but another worker claimed the probe first
  // Normally once; again only when another worker claimed a probe this one chose.
  for (std::size_t round = 0; round <= count; ++round) {
    Selection selection;
    Candidates c;
    const std::uint64_t excluded = input.tried | lost_probes;
    const std::size_t first = input.pinned ? *input.pinned : 0;
    const std::size_t end = input.pinned ? std::min(count, *input.pinned + 1) : count;
    for (std::size_t i = first; i < end; ++i) {
      const TargetConfig& target = targets[i];
      if (target.tier > c.tier) continue;  // a lower tier already has a target
      const std::uint64_t bit = std::uint64_t{1} << i;
      if ((excluded & bit) != 0) {
        ++((input.tried & bit) != 0 ? selection.unavailable.tried : selection.unavailable.cooling);
        continue;
      }
      switch (states[i].availability(input.now, tokens)) {
        case TargetAvailability::available:
          break;
        case TargetAvailability::cooling:
          ++selection.unavailable.cooling;
          continue;
        case TargetAvailability::rate_limited:
          ++selection.unavailable.rate_limited;
          continue;
        case TargetAvailability::over_limit:
          ++selection.unavailable.over_limit;
          continue;
      }
      if (target.tier < c.tier) c.restart(target.tier);
      if constexpr (kStrategy == Strategy::weighted) {
        const double before = c.count == 0 ? 0 : c.weight_through[c.count - 1];
        c.weight_through[c.count] = before + std::max(0.0, target.weight);
        c.push(i);
      } else if constexpr (kStrategy == Strategy::least_busy) {
        const std::int64_t busy = states[i].in_flight();
        if (busy > c.fewest) continue;
        if (busy < c.fewest) {
          c.fewest = busy;
          c.count = 0;
        }
        c.push(i);
      } else if constexpr (kStrategy == Strategy::cost) {
        const double cost = estimated_cost(target.price, input_tokens, output_tokens);
        if (cost < c.cheapest) {  // strictly: ties go to the earlier target in the list
          c.cheapest = cost;
          c.count = 0;
          c.push(i);
        }
      } else {
        c.push(i);
      }
    }
    if (c.count == 0) return selection;
    const std::size_t chosen = choose(c, kStrategy, states, rng);
    if (states[chosen].claim(input.now, tokens)) {
      selection.target = chosen;
      return selection;
    }
    lost_probes |= std::uint64_t{1} << chosen;
  }
  return {};
}

}  // namespace

Selection select_target(std::span<const TargetConfig> targets, std::span<TargetState> states,
                        const SelectionInput& input, Rng& rng) {
  switch (input.strategy) {
    case Strategy::weighted:
      break;
    case Strategy::least_busy:
      return select_by<Strategy::least_busy>(targets, states, input, rng);
    case Strategy::latency:
      return select_by<Strategy::latency>(targets, states, input, rng);
    case Strategy::cost:
      return select_by<Strategy::cost>(targets, states, input, rng);
    case Strategy::ordered:
      return select_by<Strategy::ordered>(targets, states, input, rng);
  }
  return select_by<Strategy::weighted>(targets, states, input, rng);
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
