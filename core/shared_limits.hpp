#pragma once
// Budgets and rate limits shared by several gateway replicas through Redis (issue 14): what a
// request charges there, as one Lua script run atomically, and how the answer reads. Pure:
// proxy/shared_state sends the scripts and their arguments and hands the replies back here.
//
// The design, in Redis:
// - A budget is a hash per account and period, `sy:b:<account>:<period start ms>`, with the
//   settled spend in field `spent` and what each worker connection holds for requests in
//   flight in a field of its own, `w:<replica>:<worker>:<generation>`. A request fits when
//   spent + every live field + its worst-case cost <= the limit.
// - A parallel limit is a hash of the same fields (requests in flight), `sy:p:<account>`.
// - A requests- or tokens-per-minute limit is GCRA, as core/rate_limit's: the theoretical
//   arrival time in microseconds of Redis's own clock (TIME), `sy:r:<account>` and
//   `sy:t:<account>`, so every replica's charge is on one clock.
// - A field is live while its liveness key `sy:live:<replica>:<worker>:<generation>` exists:
//   each replica refreshes its own every second with a 3 s expiry. A script meeting a field
//   whose key is gone deletes it: what a killed replica held is freed within about 3 s. A
//   worker whose connection broke (a reply lost, so the outcome of a script unknown) moves to
//   a new generation, and the old one lapses as soon as the requests it admitted have settled:
//   a reservation of unknown outcome is freed the same way.
// - `sy:epoch` holds when this Redis's data began (the first replica to find it missing sets
//   it). A budget hash missing for a period that started after it had no spend (a new period);
//   one missing for an earlier period was lost (Redis restarted empty) and is seeded from the
//   ledger before requests are admitted against it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/account_table.hpp"

namespace switchyard::core {

// The scripts, as sent with EVAL (and by their SHA-1 with EVALSHA).
std::string_view shared_admit_script();
std::string_view shared_settle_script();
std::string_view shared_seed_script();

// One budget or limit of a request, in the order the script checks them.
struct SharedCheck {
  enum class Kind : char { budget = 'b', rate = 'r', parallel = 'p' } kind = Kind::budget;
  Refusal::Level level = Refusal::Level::key;
  bool tokens = false;  // a rate: tokens per minute (else requests)
  std::string key;      // the Redis key
  std::int64_t limit = 0;
  std::int64_t amount = 0;           // budget: the worst-case cost; rate: units; parallel: 1
  std::int64_t period_start_ms = 0;  // budget
  std::int64_t ttl_ms = 0;           // how long the key is kept after this charge
  WallTime reset;                    // budget: when its period ends
};

// Everything `key` has to check for `model` (empty: no budget or limit at any level, and the
// request needs no round trip).
void shared_checks(const KeyEntry& key, std::string_view model, const Estimate& estimate,
                   WallTime now, std::vector<SharedCheck>& out);

// The admit script's KEYS and ARGV: the keys in order, then `field` and each check's kind,
// limit, amount, period start and expiry.
void shared_admit_arguments(const std::vector<SharedCheck>& checks, std::string_view field,
                            std::vector<std::string>& keys, std::vector<std::string>& argv);

// The settle script's, for an admitted request that cost `actual_cost` and used
// `actual_tokens`. `give_back`: the request never went out (the admission's answer came too
// late), so its request-per-minute unit is given back too.
void shared_settle_arguments(const std::vector<SharedCheck>& checks, std::string_view field,
                             Micros actual_cost, std::int64_t actual_tokens, bool give_back,
                             std::vector<std::string>& keys, std::vector<std::string>& argv);

// What the admit script answered.
struct SharedVerdict {
  enum class Kind { admitted, refused, needs_seed, malformed } kind = Kind::malformed;
  Refusal refusal;        // refused
  std::size_t check = 0;  // refused, needs_seed: which check (index into the checks)
  // For the x-ratelimit-* headers, the tightest request and token limits as Redis holds them:
  // admitted, every rate check once charged; refused by a rate limit, that limit (a request
  // refused by a budget or a parallel limit carries none: the script stops at it).
  RateViews rates;
};
// `reply` as the script's array: its elements as text ("ok", then each rate check's backlog
// in µs; "refuse", i, and a budget's spent and held or a rate's wait and backlog; "seed", i).
SharedVerdict read_admit_reply(const std::vector<std::string>& reply,
                               const std::vector<SharedCheck>& checks);

// The settle script answers each budget's spend after the settle (in check order, budgets
// only): true when one of them passed its soft limit with this request.
bool crossed_soft_limit(const KeyEntry& key, const std::vector<SharedCheck>& checks,
                        const std::vector<std::int64_t>& spent_after, Micros actual_cost);

// A live-field name and its liveness key.
std::string shared_field(std::string_view replica, std::size_t worker, std::uint64_t generation);
std::string shared_liveness_key(std::string_view field);  // "sy:live:" + the field past "w:"
inline constexpr std::chrono::milliseconds kSharedLivenessTtl{3000};  // also in the admit script
inline constexpr std::chrono::milliseconds kSharedHeartbeat{1000};

// The budget hash of an account's current period (for seeding and for reading its spend).
std::string shared_budget_key(std::string_view account, std::int64_t period_start_ms);
std::int64_t unix_ms(WallTime t);

}  // namespace switchyard::core
