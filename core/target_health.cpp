#include "core/target_health.hpp"

#include <algorithm>
#include <utility>

namespace switchyard::core {
namespace {

std::int64_t ticks(SteadyTime t) { return t.time_since_epoch().count(); }

template <class Duration>
std::int64_t ticks_of(Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(d).count();
}

// Raises `value` to at least `candidate`.
void store_max(std::atomic<std::int64_t>& value, std::int64_t candidate) {
  std::int64_t seen = value.load(std::memory_order_relaxed);
  while (seen < candidate &&
         !value.compare_exchange_weak(seen, candidate, std::memory_order_relaxed)) {
  }
}

}  // namespace

std::int64_t MinuteCounts::epoch_of(SteadyTime now) {
  const std::int64_t width = ticks_of(kBucketWidth);
  const std::int64_t t = ticks(now);
  return t >= 0 ? t / width : -((-t + width - 1) / width);
}

std::size_t MinuteCounts::slot_of(std::int64_t epoch) {
  return static_cast<std::size_t>(((epoch % kBuckets) + kBuckets) % kBuckets);
}

void MinuteCounts::advance_to(std::int64_t epoch) {
  std::int64_t seen = epoch_.load(std::memory_order_acquire);
  while (seen < epoch) {
    if (!epoch_.compare_exchange_weak(seen, epoch, std::memory_order_acq_rel)) continue;
    // This thread moved the window: it retires the buckets the new epochs reuse.
    if (seen == std::numeric_limits<std::int64_t>::min()) return;  // nothing counted yet
    const std::int64_t retired = std::min<std::int64_t>(epoch - seen, kBuckets);
    for (std::int64_t e = seen + 1; e <= seen + retired; ++e) {
      const std::size_t slot = slot_of(e);
      first_total_.fetch_sub(first_[slot].exchange(0, std::memory_order_relaxed),
                             std::memory_order_relaxed);
      second_total_.fetch_sub(second_[slot].exchange(0, std::memory_order_relaxed),
                              std::memory_order_relaxed);
    }
    return;
  }
}

std::int64_t MinuteCounts::first(SteadyTime now) {
  advance_to(epoch_of(now));
  return std::max<std::int64_t>(0, first_total_.load(std::memory_order_relaxed));
}

std::int64_t MinuteCounts::second(SteadyTime now) {
  advance_to(epoch_of(now));
  return std::max<std::int64_t>(0, second_total_.load(std::memory_order_relaxed));
}

void MinuteCounts::add(SteadyTime now, std::int64_t first, std::int64_t second) {
  const std::int64_t epoch = epoch_of(now);
  advance_to(epoch);
  // A caller whose `now` is older than the window's newest bucket still counts, unless its
  // bucket has already left the window.
  if (epoch <= epoch_.load(std::memory_order_relaxed) - kBuckets) return;
  const std::size_t slot = slot_of(epoch);
  first_[slot].fetch_add(first, std::memory_order_relaxed);
  first_total_.fetch_add(first, std::memory_order_relaxed);
  second_[slot].fetch_add(second, std::memory_order_relaxed);
  second_total_.fetch_add(second, std::memory_order_relaxed);
}

GroupShape::GroupShape(std::span<const TargetConfig> targets)
    : size(std::min(targets.size(), kMaxGroupTargets)) {
  std::array<std::uint8_t, kMaxGroupTargets> by_tier{};
  for (std::size_t i = 0; i < size; ++i) by_tier[i] = static_cast<std::uint8_t>(i);
  std::stable_sort(
      by_tier.begin(), by_tier.begin() + static_cast<std::ptrdiff_t>(size),
      [&](std::uint8_t a, std::uint8_t b) { return targets[a].tier < targets[b].tier; });
  order = by_tier;
  double running = 0;
  for (std::size_t k = 0; k < size; ++k) {
    const std::size_t i = order[k];
    if (k == 0 || targets[i].tier != targets[order[k - 1]].tier) {
      tier_begin[tier_count] = static_cast<std::uint8_t>(k);
      tier_long_above[tier_count] = std::numeric_limits<std::int64_t>::max();
      ++tier_count;
      running = 0;
    }
    const TargetConfig& target = targets[i];
    tier_mask[tier_count - 1] |= std::uint64_t{1} << i;
    weight[i] = std::max(0.0, target.weight);
    running += weight[i];
    weight_through[k] = running;
    const Price& price = target.price;
    input_rate[i] = price.input_per_mtok;
    output_rate[i] = price.output_per_mtok;
    const TokenRates& long_rates = price.long_context ? price.long_context->rates : price;
    long_input_rate[i] = long_rates.input_per_mtok;
    long_output_rate[i] = long_rates.output_per_mtok;
    long_above[i] = price.long_context ? price.long_context->above_prompt_tokens
                                       : std::numeric_limits<std::int64_t>::max();
    tier_long_above[tier_count - 1] = std::min(tier_long_above[tier_count - 1], long_above[i]);
  }
  tier_begin[tier_count] = static_cast<std::uint8_t>(size);
  for (std::size_t t = 0; t < tier_count; ++t) {
    const std::size_t span = std::size_t{order[tier_begin[t + 1] - 1]} - order[tier_begin[t]] + 1;
    tier_contiguous[t] = span == tier_size(t);
  }
  // Rates change only past a long-context threshold: comparing them at no prompt and just past
  // each of the two thresholds compares them at every prompt size.
  const auto rates_at = [&](std::size_t i, std::int64_t prompt) {
    const bool long_prompt = prompt > long_above[i];
    return std::pair{long_prompt ? long_input_rate[i] : input_rate[i],
                     long_prompt ? long_output_rate[i] : output_rate[i]};
  };
  const auto costs_no_more = [&](std::size_t j, std::size_t i) {
    for (const std::int64_t threshold : {std::int64_t{-1}, long_above[i], long_above[j]}) {
      if (threshold == std::numeric_limits<std::int64_t>::max()) continue;
      const std::int64_t prompt = std::max<std::int64_t>(0, threshold + 1);
      const auto [j_input, j_output] = rates_at(j, prompt);
      const auto [i_input, i_output] = rates_at(i, prompt);
      if (!(j_input <= i_input && j_output <= i_output)) return false;
    }
    return true;
  };
  for (std::size_t t = 0; t < tier_count; ++t) {
    for (std::size_t k = tier_begin[t]; k < tier_begin[t + 1]; ++k) {
      const std::size_t i = order[k];
      bool dominated = false;
      for (std::size_t e = tier_begin[t]; e < k; ++e) {
        if (!costs_no_more(order[e], i)) continue;
        cost_dominates[order[e]] |= std::uint64_t{1} << i;
        dominated = true;
      }
      if (!dominated) tier_cost_front[t] |= std::uint64_t{1} << i;
    }
  }
}

void TargetState::configure(const TargetConfig& target, const CooldownPolicy& cooldown,
                            std::shared_ptr<TargetGroup> group, std::size_t index) {
  rpm_ = std::max<std::int64_t>(0, target.rpm);
  tpm_ = std::max<std::int64_t>(0, target.tpm);
  failure_threshold_ = std::max(1, cooldown.failures);
  failure_window_ = ticks_of(cooldown.window);
  cooldown_duration_ = ticks_of(cooldown.duration);
  check_.store(rpm_ > 0 || tpm_ > 0 ? kLimited : 0);
  group_ = std::move(group);
  group_bit_ = index < kMaxGroupTargets ? std::uint64_t{1} << index : 0;
  if (group_ && check_.load() != 0) group_->mark_impaired(group_bit_);
  failure_times_ =
      std::make_unique<std::atomic<std::int64_t>[]>(static_cast<std::size_t>(failure_threshold_));
  for (int i = 0; i < failure_threshold_; ++i) failure_times_[i].store(kNever);
}

TargetAvailability TargetState::checked_availability(SteadyTime now, std::int64_t tokens,
                                                     std::uint32_t check) const {
  const std::int64_t t = ticks(now);
  if (check != kLimited && breaker_.load(std::memory_order_acquire) == kClosed &&
      t >= retry_after_until_.load(std::memory_order_relaxed)) {
    // Well again: later selections take the fast path.
    if (check_.compare_exchange_strong(check, check & kLimited, std::memory_order_acq_rel) &&
        (check & kLimited) == 0 && group_) {
      group_->clear_impaired(group_bit_);
      // An impairment marked since the exchange may have set the bit before it was cleared:
      // it raised check_ first, so it is seen here and the bit goes back.
      if (check_.load(std::memory_order_acquire) != 0) group_->mark_impaired(group_bit_);
    }
  }
  switch (breaker_.load(std::memory_order_acquire)) {
    case kClosed:
      break;
    case kOpen:
      if (t < cooldown_until_.load(std::memory_order_relaxed)) return TargetAvailability::cooling;
      break;  // its probe is due
    default:
      // A probe that never reported (its client went away, its attempt was dropped) would
      // keep the target out for good: after a cooldown's length another may probe.
      if (t - probe_claimed_at_.load(std::memory_order_relaxed) < cooldown_duration_) {
        return TargetAvailability::cooling;
      }
      break;
  }
  if (t < retry_after_until_.load(std::memory_order_relaxed)) {
    return TargetAvailability::rate_limited;
  }
  if (rpm_ > 0 && rate_.first(now) + 1 > rpm_) return TargetAvailability::over_limit;
  if (tpm_ > 0) {
    // A request bigger than the whole tpm is let through when the minute is empty, or it
    // could never be served.
    const std::int64_t used = rate_.second(now);
    if (used > 0 && used + tokens > tpm_) return TargetAvailability::over_limit;
  }
  return TargetAvailability::available;
}

bool TargetState::claim(SteadyTime now, std::int64_t tokens) {
  const std::int64_t t = ticks(now);
  int breaker = breaker_.load(std::memory_order_acquire);
  if (breaker != kClosed) {
    // Exactly one request takes the probe; the others see kProbing and stay away.
    const bool lost_probe =
        breaker == kProbing &&
        t - probe_claimed_at_.load(std::memory_order_relaxed) >= cooldown_duration_;
    if (breaker == kOpen && t < cooldown_until_.load(std::memory_order_relaxed)) return false;
    if (breaker == kProbing && !lost_probe) return false;
    if (!breaker_.compare_exchange_strong(breaker, kProbing, std::memory_order_acq_rel)) {
      return false;
    }
    probe_claimed_at_.store(t, std::memory_order_relaxed);
  }
  if (rpm_ > 0 || tpm_ > 0) rate_.add(now, 1, std::max<std::int64_t>(0, tokens));
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void TargetState::record_first_token(std::chrono::microseconds ttft) {
  const std::int64_t sample = std::max<std::int64_t>(0, ttft.count());
  std::int64_t seen = ttft_average_us_.load(std::memory_order_relaxed);
  std::int64_t next = 0;
  do {
    next = seen < 0 ? sample : seen + (sample - seen) / 5;
  } while (!ttft_average_us_.compare_exchange_weak(seen, next, std::memory_order_relaxed));
}

std::optional<std::chrono::microseconds> TargetState::ttft_average() const {
  const std::int64_t us = ttft_average_us_.load(std::memory_order_relaxed);
  if (us < 0) return std::nullopt;
  return std::chrono::microseconds{us};
}

void TargetState::settle_tokens(SteadyTime now, std::int64_t estimated, std::int64_t used) {
  if (tpm_ > 0 && used != estimated) rate_.add(now, 0, used - estimated);
}

void TargetState::record_success(SteadyTime /*now*/) {
  int probing = kProbing;
  if (breaker_.compare_exchange_strong(probing, kClosed, std::memory_order_acq_rel)) {
    // A closed breaker starts counting afresh: failures from before the cooldown are old news.
    for (int i = 0; i < failure_threshold_; ++i) {
      failure_times_[i].store(kNever, std::memory_order_relaxed);
    }
  }
}

bool TargetState::open_breaker(int from, std::int64_t now, std::int64_t until) {
  // The end of the cooldown is written before the breaker opens, so no reader sees it open
  // with the previous (past) end and probes at once.
  cooldown_until_.store(std::max(now + cooldown_duration_, until), std::memory_order_relaxed);
  if (!breaker_.compare_exchange_strong(from, kOpen, std::memory_order_acq_rel)) return false;
  // A selection that read the old check_ may still choose it: claim() refuses it then.
  mark_impaired();
  return true;
}

bool TargetState::record_failure(SteadyTime now,
                                 std::optional<std::chrono::milliseconds> retry_after) {
  const std::int64_t t = ticks(now);
  const std::int64_t retry_until = retry_after ? t + ticks_of(*retry_after) : kNever;
  if (retry_after) {
    store_max(retry_after_until_, retry_until);
    mark_impaired();
  }

  int breaker = breaker_.load(std::memory_order_acquire);
  if (breaker == kProbing) {
    // The probe failed (or a straggler did while it was out): cool down again.
    return open_breaker(kProbing, t, retry_until);
  }
  if (breaker == kOpen) {
    // Failures of requests sent before the cooldown do not count again, but the upstream's
    // word on when to come back does.
    if (retry_after) store_max(cooldown_until_, retry_until);
    return false;
  }
  const std::uint64_t n = failure_count_.fetch_add(1, std::memory_order_relaxed);
  const auto threshold = static_cast<std::uint64_t>(failure_threshold_);
  failure_times_[n % threshold].store(t, std::memory_order_relaxed);
  // The oldest of the last `threshold` failures sits in the next slot.
  const std::int64_t oldest = failure_times_[(n + 1) % threshold].load(std::memory_order_relaxed);
  if (oldest == kNever || t - oldest > failure_window_) return false;
  if (!open_breaker(kClosed, t, retry_until)) return false;
  for (int i = 0; i < failure_threshold_; ++i) {
    failure_times_[i].store(kNever, std::memory_order_relaxed);
  }
  return true;
}

SteadyTime TargetState::cooldown_until() const {
  if (!breaker_open()) return SteadyTime{};
  return SteadyTime{std::chrono::steady_clock::duration{cooldown_until_.load()}};
}

void MinuteCounts::copy_from(const MinuteCounts& other) {
  epoch_.store(other.epoch_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  first_total_.store(other.first_total_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  second_total_.store(other.second_total_.load(std::memory_order_relaxed),
                      std::memory_order_relaxed);
  for (std::size_t i = 0; i < first_.size(); ++i) {
    first_[i].store(other.first_[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    second_[i].store(other.second_[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
}

void TargetState::carry_over(const TargetState& previous) {
  const int breaker = previous.breaker_.load(std::memory_order_acquire);
  cooldown_until_.store(previous.cooldown_until_.load(std::memory_order_relaxed),
                        std::memory_order_relaxed);
  probe_claimed_at_.store(previous.probe_claimed_at_.load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
  const std::int64_t retry_until = previous.retry_after_until_.load(std::memory_order_relaxed);
  retry_after_until_.store(retry_until, std::memory_order_relaxed);
  breaker_.store(breaker, std::memory_order_release);
  if (breaker != kClosed || retry_until != kNever) mark_impaired();
  ttft_average_us_.store(previous.ttft_average_us_.load(std::memory_order_relaxed),
                         std::memory_order_relaxed);
  rate_.copy_from(previous.rate_);
}

std::unique_ptr<TargetState[]> make_target_states(std::span<const TargetConfig> targets,
                                                  const CooldownPolicy& cooldown) {
  auto states = std::make_unique<TargetState[]>(targets.size());
  const auto group = std::make_shared<TargetGroup>(targets);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    states[i].configure(targets[i], cooldown, group, i);
  }
  return states;
}

}  // namespace switchyard::core
