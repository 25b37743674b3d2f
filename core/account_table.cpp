#include "core/account_table.hpp"

#include <algorithm>

namespace switchyard::core {
namespace {

// A state can be kept for a new version of its record when the budget's shape (present, and
// its period) and the key-and-model entries are the same; limits and amounts change in place.
bool same_shape(const std::optional<BudgetSpec>& a, const std::optional<BudgetSpec>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->period.kind == b->period.kind && a->period.length == b->period.length &&
         a->anchor == b->anchor;
}

bool same_model_limits(const std::vector<ModelLimits>& a, const std::vector<ModelLimits>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].model != b[i].model) return false;
  return true;
}

std::unique_ptr<BudgetCounter> make_budget(const std::optional<BudgetSpec>& spec,
                                           const BudgetCounter* previous, WallTime wall_now) {
  if (!spec) return nullptr;
  auto counter = std::make_unique<BudgetCounter>(spec->max, spec->period, spec->anchor, spec->soft);
  // A new period for the same account: what it spent in the old period that is also in the new
  // one cannot be told apart, so the new one starts from what the old one had spent now.
  if (previous) counter->restore(previous->spent(wall_now), wall_now);
  return counter;
}

void configure_account(AccountState& state, const std::optional<BudgetSpec>& budget,
                       const Limits& limits, SteadyTime now) {
  if (state.budget && budget) state.budget->set_limit(budget->max, budget->soft);
  state.limits.configure(limits, now);
}

std::shared_ptr<AccountState> team_state(const TeamRecord& team, const TeamEntry* previous,
                                         WallTime wall_now, SteadyTime now) {
  if (previous && same_shape(previous->record.budget, team.budget)) {
    configure_account(*previous->state, team.budget, team.limits, now);
    return previous->state;
  }
  auto state = std::make_shared<AccountState>();
  state->budget =
      make_budget(team.budget, previous ? previous->state->budget.get() : nullptr, wall_now);
  state->limits.configure(team.limits, now);
  return state;
}

std::shared_ptr<KeyState> key_state(const KeyRecord& key, const KeyEntry* previous,
                                    WallTime wall_now, SteadyTime now) {
  if (previous && same_shape(previous->record.budget, key.budget) &&
      same_model_limits(previous->record.model_limits, key.model_limits)) {
    configure_account(*previous->state, key.budget, key.limits, now);
    for (std::size_t i = 0; i < key.model_limits.size(); ++i)
      previous->state->per_model[i]->configure(key.model_limits[i].limits, now);
    return previous->state;
  }
  auto state = std::make_shared<KeyState>();
  state->budget =
      make_budget(key.budget, previous ? previous->state->budget.get() : nullptr, wall_now);
  state->limits.configure(key.limits, now);
  for (const ModelLimits& m : key.model_limits) {
    state->per_model.push_back(std::make_unique<LimitCounters>());
    state->per_model.back()->configure(m.limits, now);
  }
  return state;
}

MinuteRateLimiter* on_or_null(MinuteRateLimiter& limiter, const std::atomic<std::int64_t>& limit) {
  return limit.load(std::memory_order_relaxed) > 0 ? &limiter : nullptr;
}

// The three levels of a request: the key, its team, its key-and-model entry; null if absent.
std::array<LimitCounters*, 3> levels_of(const KeyEntry& key, std::string_view model) {
  std::array<LimitCounters*, 3> out{&key.state->limits, nullptr, nullptr};
  if (key.team) out[1] = &key.team->state->limits;
  for (std::size_t i = 0; i < key.record.model_limits.size(); ++i) {
    if (glob_match(key.record.model_limits[i].model, model)) {
      out[2] = key.state->per_model[i].get();
      break;
    }
  }
  return out;
}

constexpr std::array<Refusal::Level, 3> kLevels{Refusal::Level::key, Refusal::Level::team,
                                                Refusal::Level::key_and_model};

void release_budgets(Admission& a, WallTime wall_now) {
  if (a.key_budget) a.key->state->budget->release(*a.key_budget, wall_now);
  if (a.team_budget) a.key->team->state->budget->release(*a.team_budget, wall_now);
  a.key_budget.reset();
  a.team_budget.reset();
}

}  // namespace

void LimitCounters::configure(const Limits& limits, SteadyTime now) {
  if (limits.rpm > 0) rpm.set_limit(limits.rpm, now);
  if (limits.tpm > 0) tpm.set_limit(limits.tpm, now);
  if (limits.parallel > 0) parallel.set_limit(limits.parallel);
  rpm_limit.store(limits.rpm, std::memory_order_relaxed);
  tpm_limit.store(limits.tpm, std::memory_order_relaxed);
  parallel_limit.store(limits.parallel, std::memory_order_relaxed);
}

std::shared_ptr<const AccountTable> AccountTable::build(std::vector<TeamRecord> teams,
                                                        std::vector<KeyRecord> keys,
                                                        const AccountTable* previous,
                                                        WallTime wall_now, SteadyTime now) {
  auto table = std::make_shared<AccountTable>();
  for (TeamRecord& t : teams) {
    auto before = previous ? previous->team_by_id(t.id) : nullptr;
    auto entry = std::make_shared<TeamEntry>();
    entry->state = team_state(t, before.get(), wall_now, now);
    entry->record = std::move(t);
    table->teams_by_id_.emplace(entry->record.id, entry);
    table->teams_.push_back(std::move(entry));
  }
  for (KeyRecord& k : keys) {
    auto before = previous ? previous->key_by_id(k.id) : nullptr;
    auto entry = std::make_shared<KeyEntry>();
    entry->state = key_state(k, before.get(), wall_now, now);
    entry->team = k.team_id.empty() ? nullptr : table->team_by_id(k.team_id);
    entry->record = std::move(k);
    table->by_hash_.emplace(entry->record.hash, entry);
    table->keys_by_id_.emplace(entry->record.id, entry);
    table->keys_.push_back(std::move(entry));
  }
  return table;
}

std::shared_ptr<const KeyEntry> AccountTable::find(const KeyHash& hash) const {
  const auto it = by_hash_.find(hash);
  if (it == by_hash_.end() || !same_hash(it->second->record.hash, hash)) return nullptr;
  return it->second;
}

std::shared_ptr<const KeyEntry> AccountTable::key_by_id(std::string_view id) const {
  const auto it = keys_by_id_.find(id);
  return it == keys_by_id_.end() ? nullptr : it->second;
}

std::shared_ptr<const TeamEntry> AccountTable::team_by_id(std::string_view id) const {
  const auto it = teams_by_id_.find(id);
  return it == teams_by_id_.end() ? nullptr : it->second;
}

std::optional<Refusal> admit(const std::shared_ptr<const KeyEntry>& key, std::string_view model,
                             const Estimate& estimate, WallTime wall_now, SteadyTime now,
                             Admission& out) {
  out = Admission{};
  out.key = key;
  // Budgets first: the reservation is the one step that must not be split.
  if (BudgetCounter* b = key->state->budget.get()) {
    auto r = b->try_reserve(estimate.cost, wall_now);
    if (!r)
      return Refusal{
          .kind = Refusal::Kind::budget, .level = Refusal::Level::key, .budget = r.error()};
    out.key_budget = r.value();
  }
  if (key->team && key->team->state->budget) {
    auto r = key->team->state->budget->try_reserve(estimate.cost, wall_now);
    if (!r) {
      release_budgets(out, wall_now);
      return Refusal{
          .kind = Refusal::Kind::budget, .level = Refusal::Level::team, .budget = r.error()};
    }
    out.team_budget = r.value();
  }
  const std::array<LimitCounters*, 3> levels = levels_of(*key, model);
  std::array<MinuteRateLimiter*, 3>& rpm = out.rpm;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    if (!levels[i]) continue;
    rpm[i] = on_or_null(levels[i]->rpm, levels[i]->rpm_limit);
    out.tpm[i] = on_or_null(levels[i]->tpm, levels[i]->tpm_limit);
  }
  if (auto refused = core::admit(rpm, out.tpm, estimate.tokens, now, out.tokens_taken)) {
    release_budgets(out, wall_now);
    const std::size_t i = refused->which;
    MinuteRateLimiter* limiter = refused->requests ? rpm[i] : out.tpm[i];
    out.rpm = {};
    out.tpm = {};
    return Refusal{
        .kind = refused->requests ? Refusal::Kind::rate_requests : Refusal::Kind::rate_tokens,
        .level = kLevels[i],
        .retry_after = refused->retry_after,
        .limit = limiter ? limiter->limit() : 0};
  }
  for (std::size_t i = 0; i < levels.size(); ++i) {
    if (!levels[i] || levels[i]->parallel_limit.load(std::memory_order_relaxed) <= 0) continue;
    if (levels[i]->parallel.try_enter()) {
      out.parallel_entered[i] = &levels[i]->parallel;
      continue;
    }
    for (ParallelLimiter* entered : out.parallel_entered)
      if (entered) entered->leave();
    out.parallel_entered = {};
    for (std::size_t t = 0; t < out.tpm.size(); ++t)
      if (out.tpm[t]) out.tpm[t]->give_back(out.tokens_taken[t], now);
    out.tpm = {};
    for (MinuteRateLimiter* r : rpm)
      if (r) r->give_back(MinuteRateLimiter::Taken{1}, now);
    out.rpm = {};
    release_budgets(out, wall_now);
    return Refusal{
        .kind = Refusal::Kind::parallel, .level = kLevels[i], .limit = levels[i]->parallel.limit()};
  }
  out.open = true;
  return std::nullopt;
}

bool settle(Admission& a, Micros actual_cost, std::int64_t actual_tokens, WallTime wall_now,
            SteadyTime now) {
  if (!a.open) return false;
  a.open = false;
  bool soft_crossed = false;
  if (a.key_budget)
    soft_crossed |= a.key->state->budget->settle(*a.key_budget, actual_cost, wall_now);
  if (a.team_budget)
    soft_crossed |= a.key->team->state->budget->settle(*a.team_budget, actual_cost, wall_now);
  for (std::size_t i = 0; i < a.tpm.size(); ++i)
    if (a.tpm[i]) a.tpm[i]->settle(a.tokens_taken[i], actual_tokens, now);
  for (ParallelLimiter* p : a.parallel_entered)
    if (p) p->leave();
  a.key_budget.reset();
  a.team_budget.reset();
  a.rpm = {};
  a.tpm = {};
  a.parallel_entered = {};
  return soft_crossed;
}

namespace {

void tighter(std::optional<RateView>& slot, const MinuteRateLimiter* limiter, SteadyTime now) {
  if (!limiter) return;
  const RateView v{limiter->limit(), limiter->remaining(now), limiter->until_full(now)};
  if (!slot || v.remaining < slot->remaining) slot = v;
}

}  // namespace

RateViews rate_views(const KeyEntry& key, std::string_view model, SteadyTime now) {
  RateViews views;
  for (LimitCounters* level : levels_of(key, model)) {
    if (!level) continue;
    tighter(views.requests, on_or_null(level->rpm, level->rpm_limit), now);
    tighter(views.tokens, on_or_null(level->tpm, level->tpm_limit), now);
  }
  return views;
}

RateViews rate_views(const Admission& admitted, SteadyTime now) {
  RateViews views;
  for (std::size_t i = 0; i < admitted.rpm.size(); ++i) {
    tighter(views.requests, admitted.rpm[i], now);
    tighter(views.tokens, admitted.tpm[i], now);
  }
  return views;
}

}  // namespace switchyard::core
