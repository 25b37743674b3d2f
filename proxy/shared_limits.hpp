#pragma once
// The I/O side of budgets and rate limits shared by several replicas through Redis (issue 14);
// the scripts and what they decide are core/shared_limits'. Each worker has its own pipelined
// Redis connection (proxy/redis_client), and a request with a budget or limit costs one script
// call there at admission, awaited without blocking, and one at the end, not awaited. A
// request with neither costs nothing.
//
// Two background threads, each with its own connection:
// - the heartbeat (every second): keeps this replica's worker fields alive
//   (core::shared_liveness_key) and sets sy:epoch when Redis has no data yet;
// - the seeder: a budget whose hash Redis lacks is seeded from the ledger's spend in its
//   period (PostgreSQL), admission waiting for it within the timeout; in a quiet second it
//   reads every budget's spend back into the local counters, which the admin API and the
//   metrics show.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/config.hpp"
#include "core/shared_limits.hpp"
#include "proxy/net.hpp"
#include "proxy/redis_client.hpp"
#include "proxy/store.hpp"

namespace switchyard::proxy {

class Governance;

// What a request charged in Redis: settled (or given back) when it ends.
struct SharedAdmission {
  std::shared_ptr<const core::KeyEntry> key;
  core::Estimate estimate;  // for this process's own counters, under on_redis_down: fail_open
  std::vector<core::SharedCheck> checks;
  std::size_t worker = 0;
  std::uint64_t generation = 0;
  bool admitted = false;
  core::RateViews rates;  // for the x-ratelimit-* headers, once Redis answered
};

class SharedLimits {
 public:
  // Connects the heartbeat and sets the first liveness keys (throws std::runtime_error for a
  // URL it cannot use; an unreachable Redis is not an error: it is retried, and requests get
  // the on_redis_down answer meanwhile).
  SharedLimits(const core::StateConfig& state, std::string replica_id, std::size_t workers,
               Governance& governance);
  ~SharedLimits();
  SharedLimits(const SharedLimits&) = delete;
  SharedLimits& operator=(const SharedLimits&) = delete;

  bool fail_open() const { return fail_open_; }
  const std::string& replica_id() const { return replica_id_; }

  enum class Verdict { admitted, refused, unavailable };
  // On `worker`'s thread (its executor): runs the admit script for `a.checks`. Refused: the
  // refusal in `refusal`. Unavailable: Redis did not answer in time, or the budget is being
  // seeded; the caller applies on_redis_down.
  net::awaitable<Verdict> admit(std::size_t worker, net::any_io_executor executor,
                                std::shared_ptr<SharedAdmission> shared, core::Refusal& refusal);
  // Settles an admitted request in the background, on the worker's connection. Returns at
  // once; `soft_crossed` (may be empty) is called on the worker if a budget passed its soft
  // limit with this request.
  void settle(const net::any_io_executor& executor, std::shared_ptr<SharedAdmission> a,
              core::Micros actual_cost, std::int64_t actual_tokens,
              std::function<void()> soft_crossed, bool give_back = false);

  // Asks the seeder for every budget of `table` that Redis has no spend for (a new key, team
  // or period, or Redis lost its data). Called when a table is published.
  void seed_budgets_of(const core::AccountTable& table);

  // Counters for the metrics, read at each scrape.
  struct Counts {
    std::atomic<std::uint64_t> admitted{0}, refused{0}, unavailable{0}, seeded{0};
    std::atomic<std::uint64_t> settle_failed{0};  // Redis answered the settle with an error
  };
  const Counts& counts() const { return counts_; }

 private:
  struct WorkerLink;
  WorkerLink& link(std::size_t worker, const net::any_io_executor& executor);
  net::awaitable<redis::Outcome> run_script(redis::Client& client, std::string_view sha,
                                            std::string_view script,
                                            const std::vector<std::string>& keys,
                                            const std::vector<std::string>& argv,
                                            redis::LateReplyHandler on_late = {});
  net::awaitable<void> settle_on_worker(std::shared_ptr<SharedAdmission> a,
                                        core::Micros actual_cost, std::int64_t actual_tokens,
                                        std::function<void()> soft_crossed, bool give_back);
  void done_with(WorkerLink& link, std::uint64_t generation, bool connection_failed);
  void request_seed(const core::SharedCheck& check);

  void heartbeat_loop();
  net::awaitable<void> heartbeat_once(redis::Client& client, bool& seeded_all);
  net::awaitable<void> mirror_all(redis::Client& client);
  net::awaitable<void> mirror_budget(redis::Client& client, core::BudgetCounter& budget,
                                     const std::string& account, core::WallTime now);
  void seeder_loop();
  net::awaitable<void> seed(redis::Client& client, std::vector<core::SharedCheck> wanted);
  static std::vector<core::SharedCheck> every_budget(const core::AccountTable& table);

  Governance& governance_;
  const std::string replica_id_;
  const redis::Endpoint endpoint_;
  const std::chrono::milliseconds timeout_;
  const bool fail_open_;
  std::string admit_sha_, settle_sha_, seed_sha_;
  std::vector<std::unique_ptr<WorkerLink>> links_;
  Counts counts_;

  std::atomic<bool> stopping_{false};
  std::mutex wake_mutex_;  // the background threads' sleep, and the seed requests
  std::condition_variable wake_;
  // Budget hashes waiting to be seeded, by key; only filled while Redis lacks data, never on
  // a request that Redis admits or refuses.
  std::map<std::string, core::SharedCheck> seed_wanted_;
  std::uint64_t seed_failures_ = 0;  // the seeder thread's
  bool first_beat_done_ = false;     // under wake_mutex_
  bool seeding_ = false;             // under wake_mutex_: the seeder is at work
  std::thread heartbeat_thread_;
  std::thread seeder_thread_;
};

}  // namespace switchyard::proxy
