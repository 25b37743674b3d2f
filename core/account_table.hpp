#pragma once
// Every key and team in memory, with their counters, and the admission policy a model request
// goes through when client authentication is on (issue 12). Pure: proxy/ loads the records,
// publishes each new table to the workers and calls admit/settle.
//
// The records (core/governance.hpp) come from the store at start-up and from the admin API
// after. Each change builds a new immutable AccountTable, which every worker picks up between
// two requests: the request path reads its own worker's table and takes no lock. The counters
// (budgets, rate limits: atomics) live in state objects that a rebuild carries over by id, so
// an admin change never resets what was spent.
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/budget.hpp"
#include "core/governance.hpp"
#include "core/rate_limit.hpp"

namespace switchyard::core {

// The limiters of one key, team or key-and-model. All of them exist from the start and an
// admin change only sets their limits (0 is off): a worker may be using any of them at that
// moment, so none is ever replaced while the state lives.
struct LimitCounters {
  MinuteRateLimiter rpm{1};
  MinuteRateLimiter tpm{1};
  ParallelLimiter parallel{0};
  std::atomic<std::int64_t> rpm_limit{0};
  std::atomic<std::int64_t> tpm_limit{0};
  std::atomic<std::int64_t> parallel_limit{0};
  void configure(const Limits& limits, SteadyTime now);
};

// What a key or a team counts, shared by every worker and every table version that keeps it.
// The budget's period is fixed for the state's life: a different period (or a budget added or
// removed) makes a new state, whose budget starts from what the old one had spent.
struct AccountState {
  std::unique_ptr<BudgetCounter> budget;  // null without a budget
  LimitCounters limits;
  // Which of the metrics' labelled series this account's requests count into (a team's name,
  // a key's alias). Assigned by proxy/ when a table is published; core/ never reads it.
  static constexpr std::uint32_t kNoSeries = 0xffff'ffff;
  std::atomic<std::uint32_t> series{kNoSeries};
};

struct KeyState : AccountState {
  std::vector<std::unique_ptr<LimitCounters>> per_model;  // parallel to KeyRecord::model_limits
};

struct TeamEntry {
  TeamRecord record;
  std::shared_ptr<AccountState> state;
};

struct KeyEntry {
  KeyRecord record;
  std::shared_ptr<KeyState> state;
  std::shared_ptr<const TeamEntry> team;  // null without a team
};

struct KeyHashHash {
  std::size_t operator()(const KeyHash& h) const {
    std::size_t v;
    std::memcpy(&v, h.data(), sizeof v);  // a SHA-256 is uniform already
    return v;
  }
};

// One immutable snapshot of every key and team.
class AccountTable {
 public:
  // Builds the table from records, carrying over the counters of `previous` by id.
  static std::shared_ptr<const AccountTable> build(std::vector<TeamRecord> teams,
                                                   std::vector<KeyRecord> keys,
                                                   const AccountTable* previous, WallTime wall_now,
                                                   SteadyTime now);

  // The key whose secret hashes to `hash` (compared in constant time once found).
  std::shared_ptr<const KeyEntry> find(const KeyHash& hash) const;
  std::shared_ptr<const KeyEntry> key_by_id(std::string_view id) const;
  std::shared_ptr<const TeamEntry> team_by_id(std::string_view id) const;
  const std::vector<std::shared_ptr<const KeyEntry>>& keys() const { return keys_; }
  const std::vector<std::shared_ptr<const TeamEntry>>& teams() const { return teams_; }

 private:
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <class T>
  using ById = std::unordered_map<std::string, std::shared_ptr<const T>, IdHash, std::equal_to<>>;

  std::unordered_map<KeyHash, std::shared_ptr<const KeyEntry>, KeyHashHash> by_hash_;
  ById<KeyEntry> keys_by_id_;
  ById<TeamEntry> teams_by_id_;
  std::vector<std::shared_ptr<const KeyEntry>> keys_;
  std::vector<std::shared_ptr<const TeamEntry>> teams_;
};

// What a request took at admission, given back or settled when it ends. It holds its key's
// entry, so the counters it charged outlive any table change meanwhile.
struct Admission {
  std::shared_ptr<const KeyEntry> key;
  std::optional<BudgetCounter::Reservation> key_budget;
  std::optional<BudgetCounter::Reservation> team_budget;
  // The key's, the team's and the key-and-model's limiters, in that order; null where off.
  std::array<MinuteRateLimiter*, 3> rpm{};  // charged once each, nothing to settle
  std::array<MinuteRateLimiter*, 3> tpm{};
  std::array<MinuteRateLimiter::Taken, 3> tokens_taken{};
  std::array<ParallelLimiter*, 3> parallel_entered{};
  bool open = false;  // admitted and not settled yet
};

// The request's worst case, what the budget and token limits reserve.
struct Estimate {
  Micros cost = 0;
  std::int64_t tokens = 0;  // input plus the most output the request allows
};

// Why admission refused a request, with what the client's error says.
struct Refusal {
  enum class Kind { budget, rate_requests, rate_tokens, parallel } kind = Kind::budget;
  enum class Level { key, team, key_and_model } level = Level::key;
  BudgetCounter::Refusal budget{};          // Kind::budget
  std::chrono::nanoseconds retry_after{0};  // the rate limits
  std::int64_t limit = 0;                   // the rate or parallel limit that refused
};

// The tightest of a key's request and token limits (its own, its team's, its key-and-model
// one), for the x-ratelimit-* answer headers. Empty where no level has that limit.
struct RateView {
  std::int64_t limit = 0;
  std::int64_t remaining = 0;
  std::chrono::nanoseconds reset{0};  // until the limit is whole again
};
struct RateViews {
  std::optional<RateView> requests;
  std::optional<RateView> tokens;
};
RateViews rate_views(const KeyEntry& key, std::string_view model, SteadyTime now);
struct Admission;
// The same for an admitted request, from the limiters its admission charged.
RateViews rate_views(const Admission& admitted, SteadyTime now);

// Reserves budgets and charges the rate limits of `key` (and its team, and its key-and-model
// limit for `model`) all or nothing. On a refusal nothing stays charged.
std::optional<Refusal> admit(const std::shared_ptr<const KeyEntry>& key, std::string_view model,
                             const Estimate& estimate, WallTime wall_now, SteadyTime now,
                             Admission& out);

// Settles what admission took: budgets to `actual_cost`, token limits to `actual_tokens`, and
// leaves the parallel limits. Returns true when a budget's spend crossed its soft limit.
bool settle(Admission& a, Micros actual_cost, std::int64_t actual_tokens, WallTime wall_now,
            SteadyTime now);

}  // namespace switchyard::core
