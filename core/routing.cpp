#include "core/routing.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <limits>
#include <optional>
#include <utility>

#include "core/usage.hpp"

namespace switchyard::core {
namespace {

std::int64_t ticks(SteadyTime t) { return t.time_since_epoch().count(); }

// A tier's available targets, and whether they are the whole tier, so that the shape's
// running sums, order and cost front stand for them.
struct TierCandidates {
  std::size_t tier = 0;
  std::uint64_t mask = 0;  // bit i: target i
  bool whole = false;
};

// Calls `f` with each set bit's index, lowest first (the targets' list order).
template <class F>
void for_each_bit(std::uint64_t mask, F&& f) {
  for (; mask != 0; mask &= mask - 1) f(static_cast<std::size_t>(std::countr_zero(mask)));
}

// Calls `f` with the index of each target of `mask`, a subset of `tier`, in list order: a plain
// loop over a whole tier whose targets sit side by side, which is what keeps a walk over 50
// targets to a few instructions each.
template <class F>
void for_each_in_tier(const GroupShape& shape, std::size_t tier, std::uint64_t mask, F&& f) {
  if (mask != shape.tier_mask[tier] || !shape.tier_contiguous[tier]) return for_each_bit(mask, f);
  std::size_t i = shape.order[shape.tier_begin[tier]];
  const std::size_t end = i + shape.tier_size(tier);
  // Two at a time: for least_busy the loop's own steps are a fifth of the work.
  for (; i + 1 < end; i += 2) {
    f(i);
    f(i + 1);
  }
  if (i < end) f(i);
}

// Draws from running weight sums, or any of them when they weigh nothing.
std::size_t draw_weighted(const std::uint8_t* index, const double* through, std::size_t count,
                          Rng& rng) {
  const double total = through[count - 1];
  if (!(total > 0)) return index[rng.below(count)];
  const double point = rng.uniform01() * total;
  const double* at = std::upper_bound(through, through + count, point);
  return index[at == through + count ? count - 1 : static_cast<std::size_t>(at - through)];
}

// Draws from the whole tier before a pick among some of it gathers their weights instead.
// Drawing again until a candidate comes up gives each candidate exactly its share of their
// weight, and with a target or two out the first or second draw does.
constexpr int kRedraws = 4;

std::size_t pick_weighted(const GroupShape& shape, const TierCandidates& c, Rng& rng) {
  const std::size_t begin = shape.tier_begin[c.tier];
  const std::uint8_t* tier_index = shape.order.data() + begin;
  const double* tier_through = shape.weight_through.data() + begin;
  const std::size_t tier_size = shape.tier_size(c.tier);
  if (c.whole) return draw_weighted(tier_index, tier_through, tier_size, rng);
  if (tier_through[tier_size - 1] > 0) {
    for (int draw = 0; draw < kRedraws; ++draw) {
      const std::size_t i = draw_weighted(tier_index, tier_through, tier_size, rng);
      if (((c.mask >> i) & 1) != 0) return i;
    }
  }
  std::array<std::uint8_t, kMaxGroupTargets> index;  // written before read: not zeroed
  std::array<double, kMaxGroupTargets> through;
  std::size_t count = 0;
  double running = 0;
  for_each_bit(c.mask, [&](std::size_t i) {
    running += shape.weight[i];
    through[count] = running;
    index[count++] = static_cast<std::uint8_t>(i);
  });
  return draw_weighted(index.data(), through.data(), count, rng);
}

// One of those with the fewest requests in flight, at random.
std::size_t pick_least_busy(const GroupShape& shape, const TierCandidates& c,
                            std::span<TargetState> states, Rng& rng) {
  std::array<std::uint8_t, kMaxGroupTargets> fewest_at;  // written before read: not zeroed
  std::size_t count = 0;
  std::int64_t fewest = std::numeric_limits<std::int64_t>::max();
  for_each_in_tier(shape, c.tier, c.mask, [&](std::size_t i) {
    const std::int64_t busy = states[i].in_flight();
    if (busy == fewest) {  // first: ties are the common case (an idle group is all ties)
      fewest_at[count++] = static_cast<std::uint8_t>(i);
    } else if (busy < fewest) {
      fewest = busy;
      fewest_at[0] = static_cast<std::uint8_t>(i);
      count = 1;
    }
  });
  return fewest_at[rng.below(count)];
}

// Two different entries of `index` at random.
std::pair<std::size_t, std::size_t> draw_two(const std::uint8_t* index, std::size_t count,
                                             Rng& rng) {
  const std::uint64_t first = rng.below(count);
  std::uint64_t second = rng.below(count - 1);
  if (second >= first) ++second;
  return {index[first], index[second]};
}

// Power of two choices: the better of two random candidates. Always taking the best would
// pile every worker onto one target until its average caught up.
std::size_t pick_by_latency(const GroupShape& shape, const TierCandidates& c,
                            std::span<TargetState> states, Rng& rng) {
  const std::uint8_t* tier_index = shape.order.data() + shape.tier_begin[c.tier];
  const std::size_t tier_size = shape.tier_size(c.tier);
  if (std::has_single_bit(c.mask)) return static_cast<std::size_t>(std::countr_zero(c.mask));
  std::optional<std::pair<std::size_t, std::size_t>> pair;
  if (c.whole) {
    pair = draw_two(tier_index, tier_size, rng);
  } else {
    // As for weighted: a pair drawn from the tier until both are candidates is a uniform
    // pair of candidates.
    for (int draw = 0; draw < kRedraws && !pair; ++draw) {
      const auto drawn = draw_two(tier_index, tier_size, rng);
      if (((c.mask >> drawn.first) & (c.mask >> drawn.second) & 1) != 0) pair = drawn;
    }
    if (!pair) {
      std::array<std::uint8_t, kMaxGroupTargets> index;  // written before read: not zeroed
      std::size_t count = 0;
      for_each_bit(c.mask, [&](std::size_t i) { index[count++] = static_cast<std::uint8_t>(i); });
      pair = draw_two(index.data(), count, rng);
    }
  }
  const auto [a, b] = *pair;
  // A target without a sample yet counts as the fastest, so it gets measured.
  const auto average = [&](std::size_t i) {
    const auto ttft = states[i].ttft_average();
    return ttft ? ttft->count() : -1;
  };
  return average(b) < average(a) ? b : a;
}

// The cheapest for the estimate (what cost_usd gives without cache reads or writes, times a
// million), the earliest on ties; kMaxGroupTargets when none has a finite cost. Only the
// candidates no earlier candidate dominates are priced: a handful, or one when the targets
// share a price.
std::size_t pick_cheapest(const GroupShape& shape, const TierCandidates& c,
                          std::int64_t input_tokens, std::int64_t output_tokens) {
  std::uint64_t priced = shape.tier_cost_front[c.tier];
  if (priced == shape.tier_mask[c.tier]) {
    priced = c.mask;  // no target of the tier dominates another
  } else if (!c.whole) {
    // The candidates' own front: each one priced strikes out those it dominates.
    priced = 0;
    for (std::uint64_t left = c.mask; left != 0;) {
      const auto first = static_cast<std::size_t>(std::countr_zero(left));
      priced |= std::uint64_t{1} << first;
      left &= (left - 1) & ~shape.cost_dominates[first];
    }
  }
  const auto in = static_cast<double>(input_tokens);
  const auto out = static_cast<double>(output_tokens);
  std::size_t cheapest_at = kMaxGroupTargets;
  double cheapest = std::numeric_limits<double>::infinity();
  const auto consider = [&](std::size_t i, double input_rate, double output_rate) {
    const double cost = in * input_rate + out * output_rate;
    if (cost < cheapest) {  // strictly: ties go to the earlier target in the list
      cheapest = cost;
      cheapest_at = i;
    }
  };
  if (input_tokens > shape.tier_long_above[c.tier]) {
    for_each_in_tier(shape, c.tier, priced, [&](std::size_t i) {
      const bool long_prompt = input_tokens > shape.long_above[i];
      consider(i, long_prompt ? shape.long_input_rate[i] : shape.input_rate[i],
               long_prompt ? shape.long_output_rate[i] : shape.output_rate[i]);
    });
  } else {  // no long-context tier applies: the base rates alone
    for_each_in_tier(shape, c.tier, priced, [&](std::size_t i) {
      consider(i, shape.input_rate[i], shape.output_rate[i]);
    });
  }
  return cheapest_at;
}

// One copy per strategy, so the walk over the tiers carries no switch.
template <Strategy kStrategy>
std::size_t pick(const GroupShape& shape, const TierCandidates& c, std::span<TargetState> states,
                 std::int64_t input_tokens, std::int64_t output_tokens, Rng& rng) {
  if constexpr (kStrategy == Strategy::weighted) {
    return pick_weighted(shape, c, rng);
  } else if constexpr (kStrategy == Strategy::least_busy) {
    return pick_least_busy(shape, c, states, rng);
  } else if constexpr (kStrategy == Strategy::latency) {
    return pick_by_latency(shape, c, states, rng);
  } else if constexpr (kStrategy == Strategy::cost) {
    return pick_cheapest(shape, c, input_tokens, output_tokens);
  } else {
    return static_cast<std::size_t>(std::countr_zero(c.mask));  // ordered: the first
  }
}

int bit_count(std::uint64_t mask) { return std::popcount(mask); }

template <Strategy kStrategy>
Selection select_by(const TargetGroup& group, std::size_t count, std::span<TargetState> states,
                    const SelectionInput& input, Rng& rng) {
  const GroupShape& shape = group.shape();
  const std::int64_t input_tokens = token_count(input.input_tokens);
  const std::int64_t output_tokens = token_count(input.max_output_tokens);
  const std::int64_t tokens = input_tokens + output_tokens;
  std::uint64_t considered = count == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1;
  if (input.pinned) considered &= *input.pinned < count ? std::uint64_t{1} << *input.pinned : 0;
  std::uint64_t lost_probes = 0;  // chosen, but another worker claimed the probe first
  // Normally once; again only when another worker claimed a probe this one chose.
  for (std::size_t round = 0; round <= count; ++round) {
    Selection selection;
    const std::uint64_t excluded = input.tried | lost_probes;
    const std::uint64_t impaired = group.impaired();
    std::optional<std::size_t> chosen;
    for (std::size_t tier = 0; tier < shape.tier_count && !chosen; ++tier) {
      const std::uint64_t in_tier = shape.tier_mask[tier] & considered;
      if (in_tier == 0) continue;
      TierCandidates c{tier, in_tier & ~excluded, false};
      if (c.mask != in_tier) {
        selection.unavailable.tried += bit_count(in_tier & input.tried);
        selection.unavailable.cooling += bit_count(in_tier & ~input.tried & lost_probes);
      }
      for_each_bit(c.mask & impaired, [&](std::size_t i) {
        switch (states[i].availability(input.now, tokens)) {
          case TargetAvailability::available:
            return;
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
        c.mask &= ~(std::uint64_t{1} << i);
      });
      if (c.mask == 0) continue;
      c.whole = c.mask == shape.tier_mask[tier];
      chosen = pick<kStrategy>(shape, c, states, input_tokens, output_tokens, rng);
    }
    if (!chosen || *chosen >= count) return selection;
    if (states[*chosen].claim(input.now, tokens)) {
      selection.target = *chosen;
      return selection;
    }
    lost_probes |= std::uint64_t{1} << *chosen;
  }
  return {};
}

}  // namespace

Selection select_target(std::span<const TargetConfig> targets, std::span<TargetState> states,
                        const SelectionInput& input, Rng& rng) {
  std::size_t count = std::min({targets.size(), states.size(), kMaxGroupTargets});
  const TargetGroup* group = count > 0 ? states[0].group() : nullptr;
  if (group == nullptr) return {};
  count = std::min(count, group->shape().size);
  switch (input.strategy) {
    case Strategy::weighted:
      break;
    case Strategy::least_busy:
      return select_by<Strategy::least_busy>(*group, count, states, input, rng);
    case Strategy::latency:
      return select_by<Strategy::latency>(*group, count, states, input, rng);
    case Strategy::cost:
      return select_by<Strategy::cost>(*group, count, states, input, rng);
    case Strategy::ordered:
      return select_by<Strategy::ordered>(*group, count, states, input, rng);
  }
  return select_by<Strategy::weighted>(*group, count, states, input, rng);
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
  if (count_ == 1) {  // the common case: no draw
    if (t < benched_until_[0].load(std::memory_order_relaxed)) return std::nullopt;
    return 0;
  }
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
