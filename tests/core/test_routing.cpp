#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/retry.hpp"
#include "core/router_rules.hpp"
#include "core/routing.hpp"
#include "core/target_health.hpp"

using namespace switchyard::core;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const SteadyTime kStart{};

TargetConfig make_target(std::string provider, double weight = 1, int tier = 1) {
  TargetConfig target;
  target.provider = std::move(provider);
  target.weight = weight;
  target.tier = tier;
  return target;
}

// A model group's targets and their shared state, as the proxy holds them.
struct Group {
  explicit Group(std::vector<TargetConfig> configs, CooldownPolicy cooldown_policy = {})
      : targets(std::move(configs)),
        cooldown(cooldown_policy),
        states(make_target_states(targets, cooldown)) {}

  std::span<TargetState> state_span() { return {states.get(), targets.size()}; }
  TargetState& state(std::size_t i) { return states[i]; }

  // Selects and, like a finished attempt, ends it at once.
  Selection pick(const SelectionInput& input, Rng& rng) {
    Selection selection = select_target(targets, state_span(), input, rng);
    if (selection.target) states[*selection.target].end_attempt();
    return selection;
  }
  std::optional<std::size_t> pick_at(SteadyTime now, Rng& rng, Strategy strategy,
                                     std::uint64_t tried = 0) {
    SelectionInput input;
    input.now = now;
    input.strategy = strategy;
    input.tried = tried;
    return pick(input, rng).target;
  }

  void cool_down(std::size_t i, SteadyTime now) {
    for (int n = 0; n < cooldown.failures; ++n) state(i).record_failure(now, std::nullopt);
    REQUIRE(state(i).breaker_open());
  }

  std::vector<TargetConfig> targets;
  CooldownPolicy cooldown;
  std::unique_ptr<TargetState[]> states;
};

// How often each target is picked over `picks` selections.
std::vector<int> histogram(Group& group, Strategy strategy, int picks, Rng& rng,
                           std::uint64_t tried = 0, SteadyTime now = kStart) {
  std::vector<int> counts(group.targets.size() + 1, 0);
  for (int i = 0; i < picks; ++i) {
    const auto target = group.pick_at(now, rng, strategy, tried);
    ++counts[target ? *target : group.targets.size()];
  }
  return counts;
}

}  // namespace

TEST_CASE("weighted: picks follow the weights and never an excluded or cooling target") {
  Group group({make_target("a", 3), make_target("b", 1), make_target("tried", 5),
               make_target("cooling", 5)});
  group.cool_down(3, kStart);
  Rng rng(42);
  constexpr int kPicks = 20000;
  const auto counts = histogram(group, Strategy::weighted, kPicks, rng, /*tried=*/0b0100);
  CHECK(counts[2] == 0);
  CHECK(counts[3] == 0);
  CHECK(counts[4] == 0);  // always one found
  // a's share is 3/4. Its standard deviation over 20,000 picks is sqrt(0.75 * 0.25 / 20000),
  // about 0.31%: ±1.5% is about five of them, so a correct picker fails once in millions.
  const double share_a = static_cast<double>(counts[0]) / kPicks;
  CHECK(share_a == Approx(0.75).margin(0.015));
  CHECK(counts[0] + counts[1] == kPicks);
}

TEST_CASE("least_busy: the target with the fewest requests in flight, ties shared") {
  Group group({make_target("a"), make_target("b"), make_target("c")});
  REQUIRE(group.state(0).claim(kStart, 0));
  REQUIRE(group.state(0).claim(kStart, 0));
  REQUIRE(group.state(1).claim(kStart, 0));
  Rng rng(7);
  CHECK(histogram(group, Strategy::least_busy, 100, rng)[2] == 100);

  // The chosen target counts as in flight until its attempt ends: the next goes elsewhere.
  SelectionInput input;
  input.now = kStart;
  input.strategy = Strategy::least_busy;
  const auto first = select_target(group.targets, group.state_span(), input, rng).target;
  REQUIRE(first == 2u);
  const auto second = select_target(group.targets, group.state_span(), input, rng).target;
  CHECK((second == 1u || second == 2u));

  Group idle({make_target("a"), make_target("b"), make_target("c")});
  const auto counts = histogram(idle, Strategy::least_busy, 3000, rng);
  for (int i = 0; i < 3; ++i) CHECK(counts[i] == Approx(1000).margin(150));
}

TEST_CASE("latency: power of two choices prefers the lower average, still feeds the second") {
  Group group({make_target("fast"), make_target("middle"), make_target("slow")});
  group.state(0).record_first_token(milliseconds{100});
  group.state(1).record_first_token(milliseconds{200});
  group.state(2).record_first_token(milliseconds{300});
  Rng rng(11);
  // Pairs are uniform among the three: fast wins the two pairs it is in, middle the third.
  const auto counts = histogram(group, Strategy::latency, 3000, rng);
  CHECK(counts[0] == Approx(2000).margin(150));
  CHECK(counts[1] == Approx(1000).margin(150));
  CHECK(counts[2] == 0);

  // A target with no sample yet counts as the fastest, so it gets measured.
  Group with_new({make_target("fast"), make_target("new")});
  with_new.state(0).record_first_token(milliseconds{50});
  CHECK(histogram(with_new, Strategy::latency, 100, rng)[1] == 100);

  // The average moves towards new samples (weight 1/5).
  TargetState& fast = group.state(0);
  fast.record_first_token(milliseconds{600});
  CHECK(fast.ttft_average() == microseconds{200000});
}

TEST_CASE("cost: the cheapest for the request's estimate, long-context tiers included") {
  TargetConfig input_cheap = make_target("input_cheap");
  input_cheap.price.input_per_mtok = 1;
  input_cheap.price.output_per_mtok = 10;
  input_cheap.price.long_context = LongContextTier{200000, {}};
  input_cheap.price.long_context->rates.input_per_mtok = 10;
  input_cheap.price.long_context->rates.output_per_mtok = 20;
  TargetConfig output_cheap = make_target("output_cheap");
  output_cheap.price.input_per_mtok = 3;
  output_cheap.price.output_per_mtok = 2;
  Group group({input_cheap, output_cheap});
  Rng rng(3);
  const auto cheapest = [&](std::int64_t input_tokens, std::int64_t output_tokens) {
    SelectionInput input;
    input.now = kStart;
    input.strategy = Strategy::cost;
    input.input_tokens = input_tokens;
    input.max_output_tokens = output_tokens;
    return group.pick(input, rng).target;
  };
  CHECK(cheapest(1000, 100) == 0u);    // 0.0020 against 0.0032 USD
  CHECK(cheapest(100, 1000) == 1u);    // 0.0101 against 0.0023
  CHECK(cheapest(150000, 100) == 0u);  // 0.151 against 0.450
  CHECK(cheapest(300000, 100) == 1u);  // past 200k: 3.002 against 0.900

  // Equal prices: the earlier target in the list.
  Group same({make_target("first"), make_target("second")});
  CHECK(histogram(same, Strategy::cost, 50, rng)[0] == 50);
}

TEST_CASE("ordered: the first available target in list order") {
  Group group({make_target("a"), make_target("b"), make_target("c")});
  Rng rng(5);
  CHECK(group.pick_at(kStart, rng, Strategy::ordered) == 0u);
  CHECK(group.pick_at(kStart, rng, Strategy::ordered, 0b001) == 1u);
  group.cool_down(1, kStart);
  CHECK(group.pick_at(kStart, rng, Strategy::ordered, 0b001) == 2u);
  CHECK(group.pick_at(kStart, rng, Strategy::ordered, 0b101) == std::nullopt);
}

TEST_CASE("pinned: only the pinned target, and only when it is available") {
  Group group({make_target("a"), make_target("b")});
  Rng rng(5);
  SelectionInput input;
  input.now = kStart;
  input.strategy = Strategy::ordered;
  input.pinned = 1;
  CHECK(group.pick(input, rng).target == 1u);
  group.cool_down(1, kStart);
  const Selection none = group.pick(input, rng);
  CHECK(none.target == std::nullopt);
  CHECK(none.unavailable.cooling == 1);
}

TEST_CASE("tiers: a higher tier only when every target of the lower one is unavailable") {
  TargetConfig limited = make_target("limited");
  limited.rpm = 1;
  Group group({make_target("backup", 100, 2), limited, make_target("b")});
  Rng rng(9);
  Group unlimited({make_target("backup", 100, 2), make_target("a"), make_target("b")});
  CHECK(histogram(unlimited, Strategy::weighted, 200, rng)[0] == 0);

  // b tried, limited used up its minute: the backup tier.
  SelectionInput input;
  input.now = kStart;
  input.strategy = Strategy::ordered;
  input.pinned = 1;
  REQUIRE(group.pick(input, rng).target == 1u);
  CHECK(group.pick_at(kStart, rng, Strategy::weighted, 0b100) == 0u);
  // b cooling instead of tried: the backup tier too; once b is back, tier 1 again.
  group.cool_down(2, kStart);
  CHECK(group.pick_at(kStart, rng, Strategy::weighted) == 0u);
  CHECK(group.pick_at(kStart + seconds{60}, rng, Strategy::weighted) != 0u);
  // Everything tried: nothing, and why.
  const auto none = group.pick_at(kStart, rng, Strategy::weighted, 0b111);
  CHECK(none == std::nullopt);
}

TEST_CASE("nothing available says why") {
  TargetConfig limited = make_target("limited");
  limited.rpm = 1;
  Group group({make_target("tried"), make_target("cooling"), limited, make_target("429")});
  group.cool_down(1, kStart);
  REQUIRE(group.state(2).claim(kStart, 0));
  group.state(3).record_failure(kStart, milliseconds{5000});
  Rng rng(1);
  SelectionInput input;
  input.now = kStart;
  input.tried = 0b0001;
  const Selection none = group.pick(input, rng);
  CHECK(none.target == std::nullopt);
  CHECK(none.unavailable.tried == 1);
  CHECK(none.unavailable.cooling == 1);
  CHECK(none.unavailable.over_limit == 1);
  CHECK(none.unavailable.rate_limited == 1);
  CHECK(describe_unavailable(none.unavailable) ==
        "1 target cooling down, 1 target rate limited by its provider, 1 target over its rate "
        "limit, 1 target already tried");
  // The upstream's Retry-After is over: the 429 target is back.
  input.now = kStart + seconds{5};
  CHECK(group.pick(input, rng).target == 3u);
}

TEST_CASE("rpm and tpm: a minute's allowance, then unavailable until the window moves on") {
  TargetConfig target = make_target("a");
  target.rpm = 5;
  Group group({target});
  Rng rng(2);
  for (int i = 0; i < 5; ++i) {
    CHECK(group.pick_at(kStart + seconds{i}, rng, Strategy::weighted) == 0u);
  }
  CHECK(group.pick_at(kStart + seconds{5}, rng, Strategy::weighted) == std::nullopt);
  CHECK(group.state(0).availability(kStart + seconds{55}, 0) == TargetAvailability::over_limit);
  CHECK(group.pick_at(kStart + seconds{65}, rng, Strategy::weighted) == 0u);

  TargetConfig tokens = make_target("t");
  tokens.tpm = 1000;
  Group by_tokens({tokens});
  SelectionInput input;
  input.strategy = Strategy::weighted;
  input.input_tokens = 300;
  input.max_output_tokens = 100;
  for (int i = 0; i < 2; ++i) {
    input.now = kStart + seconds{i};
    CHECK(by_tokens.pick(input, rng).target == 0u);
  }
  input.now = kStart + seconds{2};
  const Selection full = by_tokens.pick(input, rng);
  CHECK(full.target == std::nullopt);
  CHECK(full.unavailable.over_limit == 1);
  // Settling with what was really used gives the unused estimate back.
  by_tokens.state(0).settle_tokens(input.now, 400, 100);
  CHECK(by_tokens.pick(input, rng).target == 0u);
  input.now = kStart + seconds{61};
  CHECK(by_tokens.pick(input, rng).target == 0u);
}

TEST_CASE("cooldown: failures within the window trip the breaker, one probe decides") {
  Group group({make_target("a")});  // 3 failures within 30 s: 60 s cooldown
  TargetState& state = group.state(0);
  Rng rng(4);
  const auto available = [&](SteadyTime now) {
    return group.pick_at(now, rng, Strategy::weighted).has_value();
  };

  // Spread wider than the window: no cooldown.
  for (int s : {0, 20, 40, 60, 80}) CHECK_FALSE(state.record_failure(kStart + seconds{s}, {}));
  CHECK(available(kStart + seconds{80}));

  const SteadyTime t = kStart + seconds{200};
  CHECK_FALSE(state.record_failure(t, {}));
  CHECK_FALSE(state.record_failure(t + seconds{10}, {}));
  CHECK(state.record_failure(t + seconds{29}, {}));
  CHECK_FALSE(available(t + seconds{30}));
  CHECK_FALSE(available(t + seconds{88}));

  // After the cooldown exactly one request probes; while it is out the others stay away.
  SelectionInput input;
  input.now = t + seconds{89};
  const Selection probe = select_target(group.targets, group.state_span(), input, rng);
  REQUIRE(probe.target == 0u);
  const Selection other = select_target(group.targets, group.state_span(), input, rng);
  CHECK(other.target == std::nullopt);
  CHECK(other.unavailable.cooling == 1);
  // Its success closes the breaker.
  state.record_success(input.now);
  state.end_attempt();
  CHECK(available(input.now));
  // A single failure now does not reopen it: the counting starts afresh.
  CHECK_FALSE(state.record_failure(input.now, {}));
  CHECK(available(input.now));

  // A probe that fails cools the target down again.
  const SteadyTime u = kStart + seconds{500};
  group.cool_down(0, u);
  REQUIRE(group.pick_at(u + seconds{60}, rng, Strategy::weighted) == 0u);
  CHECK(state.record_failure(u + seconds{61}, {}));
  CHECK_FALSE(available(u + seconds{120}));
  CHECK(available(u + seconds{121}));
}

TEST_CASE("cooldown: a probe that never reports is given to another after a cooldown") {
  Group group({make_target("a")});
  Rng rng(4);
  group.cool_down(0, kStart);
  REQUIRE(group.pick_at(kStart + seconds{60}, rng, Strategy::weighted) == 0u);
  CHECK(group.pick_at(kStart + seconds{119}, rng, Strategy::weighted) == std::nullopt);
  CHECK(group.pick_at(kStart + seconds{120}, rng, Strategy::weighted) == 0u);
}

TEST_CASE("carry_over: a reload's new state keeps the cooldown, Retry-After and rpm window") {
  TargetConfig limited = make_target("a");
  limited.rpm = 3;
  Group before({limited, make_target("b"), make_target("c")});
  Rng rng(4);
  before.cool_down(1, kStart);
  before.state(2).record_failure(kStart, milliseconds{90'000});
  for (int i = 0; i < 3; ++i) {
    SelectionInput input;
    input.now = kStart + seconds{i};
    input.strategy = Strategy::ordered;
    CHECK(before.pick(input, rng).target == 0u);
  }
  before.state(0).record_first_token(microseconds{40'000});

  // The reloaded group: the same three targets (prices may differ; no state changes).
  Group after({limited, make_target("b"), make_target("c")});
  for (std::size_t i = 0; i < 3; ++i) after.state(i).carry_over(before.state(i));
  const SteadyTime now = kStart + seconds{10};
  CHECK(after.state(0).availability(now, 0) == TargetAvailability::over_limit);
  CHECK(after.state(1).availability(now, 0) == TargetAvailability::cooling);
  CHECK(after.state(2).availability(now, 0) == TargetAvailability::rate_limited);
  CHECK(after.state(0).ttft_average() == microseconds{40'000});
  CHECK(after.pick_at(now, rng, Strategy::weighted) == std::nullopt);
  // Each comes back when it would have without the reload.
  CHECK(after.pick_at(kStart + seconds{61}, rng, Strategy::ordered) == 0u);
  CHECK(after.state(1).availability(kStart + seconds{60}, 0) == TargetAvailability::available);
  CHECK(after.state(2).availability(kStart + seconds{89}, 0) == TargetAvailability::rate_limited);
  CHECK(after.state(2).availability(kStart + seconds{90}, 0) == TargetAvailability::available);
  // A fresh state, for comparison, has none of it.
  Group fresh({limited, make_target("b"), make_target("c")});
  CHECK(fresh.pick_at(now, rng, Strategy::ordered) == 0u);
}

TEST_CASE("cooldown: a longer Retry-After extends it") {
  Group group({make_target("a")});
  TargetState& state = group.state(0);
  Rng rng(4);
  state.record_failure(kStart, {});
  state.record_failure(kStart, {});
  CHECK(state.record_failure(kStart, milliseconds{120000}));
  CHECK(state.cooldown_until() == kStart + seconds{120});
  CHECK(group.pick_at(kStart + seconds{100}, rng, Strategy::weighted) == std::nullopt);
  CHECK(group.pick_at(kStart + seconds{120}, rng, Strategy::weighted) == 0u);

  // A Retry-After on one failure benches the target without opening the breaker.
  Group single({make_target("a")});
  CHECK_FALSE(single.state(0).record_failure(kStart, milliseconds{2000}));
  CHECK(single.state(0).availability(kStart + seconds{1}, 0) == TargetAvailability::rate_limited);
  CHECK(single.state(0).availability(kStart + seconds{2}, 0) == TargetAvailability::available);
}

// "p7": appended, as GCC 12 warns (-Wrestrict) about "p" + std::to_string(i) wrongly.
std::string numbered(std::size_t i) {
  std::string name = "p";
  name += std::to_string(i);
  return name;
}

// A group of `n` targets of one tier, weights 1, 2, 3, ... unless given.
std::vector<TargetConfig> many_targets(std::size_t n) {
  std::vector<TargetConfig> targets;
  for (std::size_t i = 0; i < n; ++i) {
    targets.push_back(make_target(numbered(i), static_cast<double>(i % 7 + 1)));
  }
  return targets;
}

constexpr Strategy kStrategies[] = {Strategy::weighted, Strategy::least_busy, Strategy::latency,
                                    Strategy::cost, Strategy::ordered};

TEST_CASE("a target that becomes unavailable, then available again, is seen by the next pick") {
  Group group(many_targets(50));
  Rng rng(12);
  CHECK(group.pick_at(kStart, rng, Strategy::ordered) == 0u);
  group.cool_down(0, kStart);
  CHECK(group.pick_at(kStart, rng, Strategy::ordered) == 1u);
  group.state(1).record_failure(kStart, milliseconds{5000});  // a Retry-After, no cooldown
  CHECK(group.pick_at(kStart, rng, Strategy::ordered) == 2u);
  CHECK(group.pick_at(kStart + seconds{5}, rng, Strategy::ordered) == 1u);
  // 0's cooldown is over: one request probes it, the others go on to 1 until it answers.
  SelectionInput input;
  input.now = kStart + seconds{60};
  input.strategy = Strategy::ordered;
  const Selection probe = select_target(group.targets, group.state_span(), input, rng);
  REQUIRE(probe.target == 0u);
  CHECK(group.pick(input, rng).target == 1u);
  group.state(0).record_success(input.now);
  group.state(0).end_attempt();
  CHECK(group.pick(input, rng).target == 0u);

  // The same through a weighted pick over the whole tier: never while it cools, again after.
  Group weighted(many_targets(50));
  weighted.cool_down(6, kStart);  // one of the heaviest
  const auto cooling = histogram(weighted, Strategy::weighted, 3000, rng);
  CHECK(cooling[6] == 0);
  CHECK(cooling[50] == 0);
  input.strategy = Strategy::weighted;
  input.pinned = 6;
  REQUIRE(select_target(weighted.targets, weighted.state_span(), input, rng).target == 6u);
  weighted.state(6).record_success(input.now);
  weighted.state(6).end_attempt();
  // Its share is 7/200 of 3000 picks, about 105 (a deviation of 10).
  CHECK(histogram(weighted, Strategy::weighted, 3000, rng, 0, input.now)[6] > 50);

  // A target with an rpm limit is looked at on every pick.
  std::vector<TargetConfig> limited = many_targets(50);
  limited[0].rpm = 1;
  Group with_limit(limited);
  CHECK(with_limit.pick_at(kStart, rng, Strategy::ordered) == 0u);
  CHECK(with_limit.pick_at(kStart, rng, Strategy::ordered) == 1u);
}

TEST_CASE("tiers interleaved in the list: every strategy keeps to the lowest available tier") {
  std::vector<TargetConfig> targets;
  for (int i = 0; i < 10; ++i) {
    targets.push_back(make_target(numbered(i), i + 1, i % 2 == 0 ? 2 : 1));
  }
  for (const Strategy strategy : kStrategies) {
    INFO(static_cast<int>(strategy));
    Group group(targets);
    Rng rng(21);
    const auto counts = histogram(group, strategy, 400, rng);
    for (std::size_t i = 0; i < 10; i += 2) CHECK(counts[i] == 0);
    CHECK(counts[10] == 0);
    // Tier 1 tried but for one: that one; all of it tried: tier 2.
    CHECK(group.pick_at(kStart, rng, strategy, 0b1010101000) == 1u);
    const auto second_tier = group.pick_at(kStart, rng, strategy, 0b1010101010);
    REQUIRE(second_tier.has_value());
    CHECK(*second_tier % 2 == 0);
    // Tier 1 cooling: tier 2 until the cooldown is over.
    for (std::size_t i = 1; i < 10; i += 2) group.cool_down(i, kStart);
    const auto while_cooling = group.pick_at(kStart, rng, strategy);
    REQUIRE(while_cooling.has_value());
    CHECK(*while_cooling % 2 == 0);
    // Everything out: nothing, and why.
    SelectionInput input;
    input.now = kStart;
    input.strategy = strategy;
    input.tried = 0b0101010101;
    const Selection none = group.pick(input, rng);
    CHECK(none.target == std::nullopt);
    CHECK(none.unavailable.tried == 5);
    CHECK(none.unavailable.cooling == 5);
  }
}

TEST_CASE("tried masks over 50 targets: never a tried target, the strategy among the rest") {
  std::vector<TargetConfig> targets = many_targets(50);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    targets[i].price.input_per_mtok = static_cast<double>(i * 37 % 11 + 1);
    targets[i].price.output_per_mtok = static_cast<double>(i * 17 % 13 + 1);
  }
  Group group(targets);
  for (std::size_t i = 0; i < 50; ++i) {
    group.state(i).record_first_token(milliseconds{static_cast<int>(100 + i * 7 % 50)});
    for (std::size_t n = 0; n < i % 3; ++n) REQUIRE(group.state(i).claim(kStart, 0));
  }
  Rng masks(31);
  Rng rng(32);
  constexpr std::uint64_t kAll = (std::uint64_t{1} << 50) - 1;
  for (int round = 0; round < 300; ++round) {
    // From one target out to all but one, and everything.
    std::uint64_t tried = masks.next_u64() & masks.next_u64() & kAll;
    if (round % 10 == 0) tried = kAll & ~(std::uint64_t{1} << (round % 50));
    if (round == 299) tried = kAll;
    for (const Strategy strategy : kStrategies) {
      INFO(round << " " << static_cast<int>(strategy));
      SelectionInput input;
      input.now = kStart;
      input.strategy = strategy;
      input.input_tokens = 1000;
      input.max_output_tokens = 300;
      input.tried = tried;
      const auto chosen = group.pick(input, rng).target;
      REQUIRE(chosen.has_value() == (tried != kAll));
      if (!chosen) continue;
      CHECK(((tried >> *chosen) & 1) == 0);
      std::int64_t fewest = std::numeric_limits<std::int64_t>::max();
      std::optional<std::size_t> first;
      std::optional<std::size_t> cheapest;
      double lowest = std::numeric_limits<double>::infinity();
      for (std::size_t i = 0; i < 50; ++i) {
        if (((tried >> i) & 1) != 0) continue;
        if (!first) first = i;
        fewest = std::min(fewest, group.state(i).in_flight());
        const double cost =
            1000 * targets[i].price.input_per_mtok + 300 * targets[i].price.output_per_mtok;
        if (cost < lowest) {
          lowest = cost;
          cheapest = i;
        }
      }
      if (strategy == Strategy::ordered) CHECK(chosen == first);
      if (strategy == Strategy::least_busy) CHECK(group.state(*chosen).in_flight() == fewest);
      if (strategy == Strategy::cost) CHECK(chosen == cheapest);
    }
  }
}

TEST_CASE("cost: the cheapest and the earliest of equals, over random prices and exclusions") {
  Rng rng(41);
  for (int group_round = 0; group_round < 40; ++group_round) {
    // Few distinct rates, so that ties and targets that never win are common.
    std::vector<TargetConfig> targets;
    const std::size_t size = 2 + rng.below(40);
    for (std::size_t i = 0; i < size; ++i) {
      TargetConfig target = make_target(numbered(i), 1, 1 + static_cast<int>(rng.below(2)));
      target.price.input_per_mtok = static_cast<double>(rng.below(4));
      target.price.output_per_mtok = static_cast<double>(rng.below(4));
      if (rng.below(3) == 0) {
        target.price.long_context =
            LongContextTier{static_cast<std::int64_t>(rng.below(3)) * 1000, {}};
        target.price.long_context->rates.input_per_mtok = static_cast<double>(rng.below(6));
        target.price.long_context->rates.output_per_mtok = static_cast<double>(rng.below(6));
      }
      targets.push_back(target);
    }
    Group group(targets);
    for (int round = 0; round < 50; ++round) {
      SelectionInput input;
      input.now = kStart;
      input.strategy = Strategy::cost;
      input.input_tokens = static_cast<std::int64_t>(rng.below(3500));
      input.max_output_tokens = static_cast<std::int64_t>(rng.below(3000));
      input.tried = round % 2 == 0 ? 0 : rng.next_u64() & rng.next_u64();
      // What the strategy promises, priced the long way: the lowest tier with a candidate,
      // the lowest cost in it, the earliest of those.
      std::optional<std::size_t> expected;
      double lowest = std::numeric_limits<double>::infinity();
      int expected_tier = std::numeric_limits<int>::max();
      for (std::size_t i = 0; i < size; ++i) {
        if (((input.tried >> i) & 1) != 0 || targets[i].tier > expected_tier) continue;
        const TokenRates& rates = targets[i].price.rates_for(input.input_tokens);
        const double cost = static_cast<double>(input.input_tokens) * rates.input_per_mtok +
                            static_cast<double>(input.max_output_tokens) * rates.output_per_mtok;
        if (targets[i].tier < expected_tier || cost < lowest) {
          expected_tier = targets[i].tier;
          lowest = cost;
          expected = i;
        }
      }
      INFO(group_round << " " << round);
      CHECK(group.pick(input, rng).target == expected);
    }
  }
}

TEST_CASE("weighted and latency with targets out: shares among those left") {
  // Weights 1..10; the two heaviest tried: target i's share is (i + 1) / 36.
  std::vector<TargetConfig> targets;
  for (int i = 0; i < 10; ++i) targets.push_back(make_target(numbered(i), i + 1));
  Group group(targets);
  Rng rng(51);
  constexpr int kPicks = 36000;
  const auto counts = histogram(group, Strategy::weighted, kPicks, rng, 0b1100000000);
  CHECK(counts[8] + counts[9] + counts[10] == 0);
  // The largest share's deviation over 36,000 picks is about 0.22%: ±1% is over four of them.
  CHECK(static_cast<double>(counts[7]) / kPicks == Approx(8.0 / 36).margin(0.01));
  CHECK(static_cast<double>(counts[0]) / kPicks == Approx(1.0 / 36).margin(0.005));
  // Only the two lightest left (most of the weight out): 1 against 2.
  const auto light = histogram(group, Strategy::weighted, 9000, rng, 0b1111111100);
  CHECK(light[0] + light[1] == 9000);
  CHECK(static_cast<double>(light[0]) / 9000 == Approx(1.0 / 3).margin(0.02));

  // Latency: 3 of 50 left, as in the three-target case: the fast one wins the two pairs it is in.
  Group wide(many_targets(50));
  wide.state(10).record_first_token(milliseconds{100});
  wide.state(20).record_first_token(milliseconds{200});
  wide.state(30).record_first_token(milliseconds{300});
  const std::uint64_t all = (std::uint64_t{1} << 50) - 1;
  const std::uint64_t left =
      (std::uint64_t{1} << 10) | (std::uint64_t{1} << 20) | (std::uint64_t{1} << 30);
  const auto pairs = histogram(wide, Strategy::latency, 3000, rng, all & ~left);
  CHECK(pairs[10] == Approx(2000).margin(150));
  CHECK(pairs[20] == Approx(1000).margin(150));
  CHECK(pairs[30] == 0);
}

TEST_CASE("targets past the 64th are not considered") {
  Group group(many_targets(70));
  Rng rng(61);
  SelectionInput input;
  input.now = kStart;
  input.strategy = Strategy::ordered;
  input.tried = ~std::uint64_t{0};
  const Selection none = group.pick(input, rng);
  CHECK(none.target == std::nullopt);
  CHECK(none.unavailable.tried == 64);
  input.tried = 0;
  input.pinned = 65;
  CHECK(group.pick(input, rng).target == std::nullopt);
  input.pinned = 63;
  CHECK(group.pick(input, rng).target == 63u);
}

TEST_CASE("key pool: benched keys are skipped until their time, all benched is none") {
  KeyPool pool(3);
  Rng rng(8);
  CooldownPolicy cooldown;
  pool.bench_for_status(1, 401, kStart, std::nullopt, cooldown);
  CHECK(pool.benched_count(kStart) == 1);
  std::set<std::size_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(*pool.pick(kStart, rng));
  CHECK(seen == std::set<std::size_t>{0, 2});

  pool.bench_for_status(0, 429, kStart, milliseconds{10000}, cooldown);
  pool.bench_for_status(2, 429, kStart, std::nullopt, cooldown);  // no Retry-After: not benched
  CHECK(pool.pick(kStart, rng) == 2u);
  pool.bench(2, kStart + seconds{5});
  CHECK(pool.benched_count(kStart) == 3);
  CHECK(pool.pick(kStart, rng) == std::nullopt);
  CHECK(pool.pick(kStart + seconds{5}, rng) == 2u);
  CHECK(pool.benched_count(kStart + seconds{10}) == 1);
  seen.clear();
  for (int i = 0; i < 200; ++i) seen.insert(*pool.pick(kStart + seconds{60}, rng));
  CHECK(seen == std::set<std::size_t>{0, 1, 2});
  CHECK(KeyPool(0).pick(kStart, rng) == std::nullopt);

  // One key (the common case, taken without a draw): in service, benched, back.
  KeyPool single(1);
  CHECK(single.pick(kStart, rng) == 0u);
  single.bench_for_status(0, 403, kStart, std::nullopt, cooldown);
  CHECK(single.pick(kStart, rng) == std::nullopt);
  CHECK(single.pick(kStart + cooldown.duration, rng) == 0u);
}

TEST_CASE("backoff: full jitter under a doubling bound, capped, no overflow") {
  RetryPolicy policy;  // 100 ms doubling, at most 4 s
  Rng rng(6);
  const auto largest = [&](int retry) {
    milliseconds most{0};
    for (int i = 0; i < 2000; ++i) {
      const milliseconds wait = backoff_delay(policy, retry, rng);
      REQUIRE(wait >= milliseconds{0});
      most = std::max(most, wait);
    }
    return most;
  };
  const milliseconds first = largest(1);
  CHECK(first <= milliseconds{100});
  CHECK(first >= milliseconds{90});
  const milliseconds third = largest(3);
  CHECK(third <= milliseconds{400});
  CHECK(third >= milliseconds{360});
  for (int retry : {7, 60, 1000}) {
    const milliseconds late = largest(retry);
    CHECK(late <= milliseconds{4000});
    CHECK(late >= milliseconds{3600});
  }
}

TEST_CASE("parse_retry_after: seconds, HTTP dates, milliseconds, garbage") {
  using namespace std::chrono;
  const auto now = sys_days{year{1994} / 11 / 6} + hours{8} + minutes{49};
  CHECK(parse_retry_after("120", "", now) == milliseconds{120000});
  CHECK(parse_retry_after(" 1.5 ", "", now) == milliseconds{1500});
  CHECK(parse_retry_after("0", "", now) == milliseconds{0});
  CHECK(parse_retry_after("120", "250", now) == milliseconds{250});
  CHECK(parse_retry_after("", "20.4", now) == milliseconds{20});
  CHECK(parse_retry_after("7", "soon", now) == milliseconds{7000});
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", "", now) == milliseconds{37000});
  CHECK(parse_retry_after("Mon, 07 Nov 1994 08:49:00 GMT", "", now) == milliseconds{86400000});
  CHECK(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", "", now) == milliseconds{0});
  CHECK(parse_retry_after("Thu, 29 Feb 1996 00:00:00 GMT", "", now).has_value());
  for (const char* garbage : {"", "soon", "-5", "5s", "1.", "Sun, 06 Nov 1994 08:49:37 UTC",
                              "Sun, 31 Nov 1994 08:49:37 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
                              "Sun, 06 Nov 1994 24:49:37 GMT", "Thu, 29 Feb 1995 00:00:00 GMT",
                              "Sunday, 06-Nov-94 08:49:37 GMT"}) {
    INFO(garbage);
    CHECK(parse_retry_after(garbage, "", now) == std::nullopt);
  }
  // Absurd numbers are long waits, not overflows.
  const auto huge = parse_retry_after("99999999999999999999999", "", now);
  REQUIRE(huge.has_value());
  CHECK(*huge > hours{24});
}

TEST_CASE("decide_retry: another target, wait, fallbacks or fail") {
  RetryPolicy policy;
  policy.attempts = 3;
  UpstreamFailure overloaded;
  overloaded.kind = FailureKind::status;
  overloaded.status = 503;
  Rng rng(10);
  const auto decide = [&](const UpstreamFailure& failure, int attempts, milliseconds elapsed,
                          std::optional<milliseconds> retry_after, bool other) {
    return decide_retry(RetryInput{policy, failure, attempts, elapsed, retry_after, other}, rng);
  };

  CHECK(decide(overloaded, 1, milliseconds{0}, {}, true).action == RetryAction::retry_other_target);
  const RetryDecision wait = decide(overloaded, 1, milliseconds{0}, {}, false);
  CHECK(wait.action == RetryAction::wait_then_retry);
  CHECK(wait.wait <= policy.backoff);
  // The upstream's Retry-After is what is waited for, when within the cap.
  const RetryDecision told = decide(overloaded, 1, milliseconds{0}, seconds{3}, false);
  CHECK(told.action == RetryAction::wait_then_retry);
  CHECK(told.wait == seconds{3});
  // Over the cap: never waited for.
  CHECK(decide(overloaded, 1, milliseconds{0}, seconds{31}, true).action ==
        RetryAction::retry_other_target);
  CHECK(decide(overloaded, 1, milliseconds{0}, seconds{31}, false).action ==
        RetryAction::give_up_group);
  // Attempts used up: the fallbacks.
  CHECK(decide(overloaded, 3, milliseconds{0}, {}, true).action == RetryAction::give_up_group);
  // A wait that would pass the total timeout is not taken; past it nothing starts.
  CHECK(decide(overloaded, 1, milliseconds{118000}, seconds{3}, false).action ==
        RetryAction::give_up_group);
  CHECK(decide(overloaded, 1, milliseconds{120000}, {}, true).action == RetryAction::fail);

  UpstreamFailure bad_request;
  bad_request.kind = FailureKind::status;
  bad_request.status = 400;
  CHECK(decide(bad_request, 1, milliseconds{0}, {}, true).action == RetryAction::fail);
  UpstreamFailure too_long = bad_request;
  too_long.context_length = true;
  CHECK(decide(too_long, 1, milliseconds{0}, {}, true).action == RetryAction::give_up_group);
  UpstreamFailure mid_stream = overloaded;
  mid_stream.after_first_byte = true;
  CHECK(decide(mid_stream, 1, milliseconds{0}, {}, true).action == RetryAction::fail);
  UpstreamFailure refused;
  refused.kind = FailureKind::connect;
  CHECK(decide(refused, 1, milliseconds{0}, {}, true).action == RetryAction::retry_other_target);
}

TEST_CASE("retry budget: a floor for quiet times, a share of the requests in flight") {
  RetryBudget config;  // 20%, at least 3
  RetryBudgetState budget(config);
  CHECK(budget.try_begin_retry());
  CHECK(budget.try_begin_retry());
  CHECK(budget.try_begin_retry());
  CHECK_FALSE(budget.try_begin_retry());
  CHECK(budget.refused() == 1);
  CHECK(budget.retries_in_flight() == 3);
  for (int i = 0; i < 3; ++i) budget.end_retry();

  for (int i = 0; i < 50; ++i) budget.begin_request();
  int admitted = 0;
  while (budget.try_begin_retry()) ++admitted;
  CHECK(admitted == 10);
  budget.end_retry();
  CHECK(budget.try_begin_retry());
  CHECK(budget.refused() == 2);
}

TEST_CASE("hedge gate: hedges stay within their share of the recent requests") {
  HedgeGate gate;
  HedgePolicy policy;
  policy.after = milliseconds{500};
  policy.max_fraction = 0.1;
  int hedged = 0;
  for (int i = 0; i < 1000; ++i) {
    const SteadyTime now = kStart + milliseconds{i * 10};
    gate.record_request(now);
    if (gate.try_begin_hedge(now, policy)) ++hedged;
  }
  CHECK(hedged == 100);
  CHECK(gate.hedge_delay(kStart, policy) == milliseconds{500});
  HedgePolicy off;
  CHECK_FALSE(gate.try_begin_hedge(kStart, off));
  CHECK(gate.hedge_delay(kStart, off) == std::nullopt);
}

TEST_CASE("hedge delay: the recent time-to-first-token percentile, none with few samples") {
  HedgeGate gate;
  HedgePolicy policy;
  policy.after_percentile = 90;
  for (int ms = 1; ms <= 19; ++ms) gate.record_first_token(kStart, milliseconds{ms * 10});
  CHECK(gate.hedge_delay(kStart, policy) == std::nullopt);
  for (int ms = 20; ms <= 100; ++ms) gate.record_first_token(kStart, milliseconds{ms * 10});
  // The true p90 is 900 ms; a bucket's upper bound is at most 25% above it.
  const auto delay = gate.hedge_delay(kStart, policy);
  REQUIRE(delay.has_value());
  CHECK(*delay >= milliseconds{900});
  CHECK(*delay <= milliseconds{1125});

  // Ten half-lives later the old samples are gone and new ones rule.
  const SteadyTime later = kStart + std::chrono::minutes{5};
  CHECK(gate.hedge_delay(later, policy) == std::nullopt);
  for (int i = 0; i < 100; ++i) gate.record_first_token(later, milliseconds{50});
  const auto recent = gate.hedge_delay(later, policy);
  REQUIRE(recent.has_value());
  CHECK(*recent >= milliseconds{50});
  CHECK(*recent <= milliseconds{63});
}

TEST_CASE("histogram buckets: four per doubling, each value under its bucket's bound") {
  for (std::int64_t us : {0, 1023, 1024, 1500, 2047, 2048, 999999, 120000000, 200000000}) {
    INFO(us);
    const std::size_t bucket = TtftHistogram::bucket_of(microseconds{us});
    CHECK(bucket < TtftHistogram::kBuckets);
    if (us <= (std::int64_t{1} << 27)) CHECK(TtftHistogram::upper_bound(bucket).count() >= us);
    if (bucket > 0 && bucket < TtftHistogram::kBuckets - 1) {
      CHECK(TtftHistogram::upper_bound(bucket - 1).count() <= us);
      CHECK(TtftHistogram::upper_bound(bucket).count() <=
            TtftHistogram::upper_bound(bucket - 1).count() * 5 / 4 + 1);
    }
  }
}

TEST_CASE("router rules: every condition, first match wins, a default at the end") {
  RouterConfig router;
  router.name = "auto";
  RouterRule long_prompts;
  long_prompts.when.min_input_tokens = 100000;
  long_prompts.model = "long";
  RouterRule short_tools;
  short_tools.when.max_input_tokens = 2000;
  short_tools.when.tools = true;
  short_tools.model = "small-tools";
  RouterRule vision;
  vision.when.images = true;
  vision.when.protocols = {"anthropic_messages"};
  vision.model = "vision";
  RouterRule team;
  team.when.headers = {{"x-team", "research"}};
  team.when.metadata = {{"tier", "gold"}};
  team.model = "research";
  RouterRule fallback;
  fallback.model = "default";
  router.rules = {long_prompts, short_tools, vision, team, fallback};

  const auto route = [&](const RuleFacts& facts) {
    const std::string* model = match_rule(router, facts);
    return model ? *model : std::string("(none)");
  };
  RuleFacts facts;
  facts.protocol = "openai_chat";
  facts.input_tokens = 500;
  CHECK(route(facts) == "default");
  facts.input_tokens = 100000;
  facts.tools = true;
  CHECK(route(facts) == "long");  // the first match wins over the tools rule
  facts.input_tokens = 2000;
  CHECK(route(facts) == "small-tools");
  facts.input_tokens = 2001;
  CHECK(route(facts) == "default");
  facts.tools = false;
  facts.images = true;
  CHECK(route(facts) == "default");  // images, but not from an Anthropic client
  facts.protocol = "anthropic_messages";
  CHECK(route(facts) == "vision");
  facts.images = false;

  const std::vector<std::pair<std::string_view, std::string_view>> headers{{"x-other", "1"},
                                                                           {"x-team", "research"}};
  const std::vector<std::pair<std::string_view, std::string_view>> gold{{"tier", "gold"}};
  const std::vector<std::pair<std::string_view, std::string_view>> silver{{"tier", "silver"}};
  facts.headers = headers;
  facts.metadata = silver;
  CHECK(route(facts) == "default");  // every condition of a rule must hold
  facts.metadata = gold;
  CHECK(route(facts) == "research");

  router.rules.pop_back();
  facts.metadata = silver;
  CHECK(route(facts) == "(none)");
}
