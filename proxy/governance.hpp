#pragma once
// The I/O side of governance (issue 12): the store, the current key and team table handed to
// every worker, the master key, and the ledger writer thread. The policy is core/'s
// (core/account_table.hpp); this file only loads, publishes and writes.
//
// Each admin change writes the store and builds a new core::AccountTable under the admin
// mutex, then bumps a version number. A worker compares the version (one atomic load) before
// it reads its own table pointer, and fetches the new table only after a change: the lock is
// taken once per worker per admin change, never otherwise. Once an admin answer is sent,
// every later request on every worker sees the change. A request keeps the key entry it was
// admitted with until it ends.
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/account_table.hpp"
#include "core/config.hpp"
#include "core/credential_cache.hpp"
#include "core/ledger.hpp"
#include "metrics/metrics.hpp"
#include "proxy/ledger_spool.hpp"
#include "proxy/net.hpp"
#include "proxy/shared_limits.hpp"
#include "proxy/spsc_ring.hpp"
#include "proxy/store.hpp"

namespace switchyard::proxy {

// A ledger row as a worker queues it. What the key says (its id, team, user and tags), the
// x-switchyard-tags header and the body's attribution are put into the row on the writer thread: on
// the request path those copies were allocations, the row's largest cost there.
struct QueuedLedgerRow {
  core::LedgerRow row;  // its request_id is the writer's to fill, from the copy below
  // The request id, copied rather than moved: a string allocated on the worker and freed on
  // the writer left each thread's allocator cache cold (about 0.2k instructions a request).
  // Ids are at most 128 bytes (the gateway's own, or a client's x-request-id within that).
  static constexpr std::size_t kMaxRequestId = 128;
  std::array<char, kMaxRequestId> request_id{};
  std::size_t request_id_size = 0;
  std::shared_ptr<const core::KeyEntry> key;  // null for a request without a valid key
  std::string header_tags;                    // x-switchyard-tags as sent
  std::string end_user;                       // from the body (user, metadata.user_id)
  std::vector<std::string> metadata_tags;     // from the body's metadata
};

// Ledger rows from every worker, committed in batches off the request path, in two stages:
// - each worker's ring is small (kRingRows slots) and emptied every kDrainInterval by the
//   drain thread, so the slots a worker writes stay in its cache: a ring of 65,536 slots of
//   0.6 KB had the worker write, and the writer read, memory that had left every cache;
// - the drain thread completes each row from its key into the pending batch, which holds up
//   to `queue_rows` rows a worker; the commit thread takes that batch every commit interval
//   and writes it. A slow database therefore stalls neither the workers nor the draining.
// A row that finds its ring full, or the pending batch full, is dropped and counted: the
// request never waits on the database. The batches' rows are kept and overwritten, string
// capacity included, so a steady load allocates nothing here.
class LedgerWriter {
 public:
  static constexpr std::size_t kRingRows = 1024;
  static constexpr std::chrono::milliseconds kDrainInterval{5};

  struct Options {
    std::size_t queue_rows = 65536;
    std::chrono::milliseconds commit_interval{1000};
    // Each batch's id is this, a number for this process's start and the batch's number.
    std::string batch_prefix = "gateway";
    // Where batches wait while the store cannot take them; empty: a failed batch is dropped
    // and counted (the single-process SQLite store: its disk is the spool's disk).
    std::string spool_directory;
    std::uint64_t spool_max_bytes = 256ull << 20;
  };
  LedgerWriter(GovernanceStore& store, std::size_t producers, const Options& options);
  ~LedgerWriter();
  LedgerWriter(const LedgerWriter&) = delete;
  LedgerWriter& operator=(const LedgerWriter&) = delete;

  // From that worker's thread only: `fill(QueuedLedgerRow&)` writes the row straight into its
  // queue slot. A full ring counts the row as dropped, without calling `fill`.
  template <class Fill>
  void push(std::size_t producer, Fill&& fill) {
    if (!rings_[producer]->try_fill(fill)) dropped_.fetch_add(1, std::memory_order_relaxed);
  }
  // Drains and commits what is queued, then stops both threads (at shutdown, after the
  // workers stopped).
  void close();

  std::uint64_t rows_written() const { return written_.load(std::memory_order_relaxed); }
  std::uint64_t rows_dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // Rows not yet committed: in the rings and in the pending batch.
  std::size_t queued() const;
  // Rows in the workers' rings, not yet drained into the pending batch.
  std::size_t in_rings() const;
  std::int64_t last_commit_unix_ms() const {
    return last_commit_ms_.load(std::memory_order_relaxed);
  }
  // Rows waiting in the on-disk spool for the store to answer again.
  std::uint64_t rows_spooled() const { return spooled_.load(std::memory_order_relaxed); }

 private:
  // Rows kept for reuse: [0, size) are this batch's, the rest wait to be overwritten.
  struct RowBatch {
    std::vector<core::LedgerRow> rows;
    std::size_t size = 0;
    core::LedgerRow& next();
    void clear();  // also gives back memory a burst left far above the usual batch
  };
  void drain_loop();
  void commit_loop();
  void drain_once();
  void commit_once();

  // Writes one batch, through the spool while the store is away. False: the rows are lost.
  bool write_or_spool(std::span<const core::LedgerRow> rows);

  GovernanceStore& store_;
  const std::chrono::milliseconds interval_;
  const std::string batch_prefix_;
  std::uint64_t batch_number_ = 0;
  std::unique_ptr<LedgerSpool> spool_;  // the commit thread's
  std::atomic<std::uint64_t> spooled_{0};
  bool store_away_ = false;  // the commit thread's: logged once per outage
  const std::size_t max_pending_;
  std::vector<std::unique_ptr<SpscRing<QueuedLedgerRow>>> rings_;
  std::mutex pending_mutex_;  // between the two background threads only
  RowBatch pending_;          // filled by the drain thread
  RowBatch committing_;       // the commit thread's, swapped with pending_
  std::atomic<std::size_t> pending_size_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::int64_t> last_commit_ms_{0};
  std::mutex wake_mutex_;  // the background threads' sleep only: producers never take it
  std::condition_variable wake_;
  bool drain_stopping_ = false;
  bool commit_stopping_ = false;
  std::thread drain_thread_;
  std::thread commit_thread_;
};

// A worker's own view of the keys: its table, the version it has, and the credentials it
// authenticated against that table (forgotten whenever the table is replaced).
struct WorkerAccounts {
  std::shared_ptr<const core::AccountTable> table;
  std::uint64_t version = 0;
  core::CredentialCache credentials;
};

class Governance {
 public:
  // Opens the store named by the config (the SQLite file, or the PostgreSQL database of
  // `state`), loads every key and team, and restores each budget's spend in its current period
  // from the ledger. Throws StoreError when the store cannot open. `metrics` (which outlives
  // this) gets a labelled series per team and key alias. With a shared store, a thread listens
  // for other replicas' changes and publishes them within a second, and reads everything again
  // every kResyncInterval in case word of one was lost.
  Governance(const core::GovernanceConfig& config, const core::StateConfig& state,
             std::size_t workers, metrics::Metrics& metrics);
  static constexpr std::chrono::seconds kResyncInterval{30};
  ~Governance();

  const core::GovernanceConfig& config() const { return config_; }
  bool authentication() const { return config_.authentication(); }
  // The master key, compared by hash in constant time.
  bool is_master_key(std::string_view credential) const;

  // The worker's table, brought up to date first when an admin change happened since.
  const core::AccountTable* current(WorkerAccounts& accounts) const {
    const std::uint64_t v = version_.load(std::memory_order_acquire);
    if (v != accounts.version) refresh(accounts);
    return accounts.table.get();
  }

  // The admin side. Hold the lock while reading the records, writing the store and publishing,
  // so two admin changes never interleave; the request path never takes it.
  std::unique_lock<std::mutex> admin_lock() const { return std::unique_lock(admin_mutex_); }
  const GovernanceStore::Snapshot& records() const { return records_; }  // under the lock
  // Builds the table for `records` (carrying the counters over) and hands it to every worker.
  void publish_records(GovernanceStore::Snapshot records);
  // The records an admin change starts from, under the lock: with a shared store, read from
  // it first (and published when another replica changed them), so a change made elsewhere a
  // moment ago is not overwritten with what this replica had heard.
  const GovernanceStore::Snapshot& records_for_change();
  // The newest table, for answers that show a budget's spend (admin calls). Takes the lock:
  // never call it while holding admin_lock().
  std::shared_ptr<const core::AccountTable> table() const;
  // Admin calls run here, one at a time, off the workers: a store call may wait on a database.
  net::any_io_executor admin_executor() { return admin_thread_.get_executor(); }
  // This process's name among the replicas: the ledger's batch ids start with it.
  const std::string& replica_id() const { return replica_id_; }

  GovernanceStore& store() { return *store_; }
  // Budgets and limits shared through Redis (state.redis); null: counted by this process.
  SharedLimits* shared_limits() { return shared_.get(); }
  LedgerWriter& ledger() { return *ledger_; }
  void close();  // the ledger's last commit

  // At each scrape: the ledger's counts and every team's budget gauges.
  void refresh_metrics() const;

 private:
  void refresh(WorkerAccounts& accounts) const;
  void sync_loop();  // the shared store's listener thread
  void stop_sync();
  // Points every account of the table at its labelled series (new teams get theirs).
  void assign_series(const core::AccountTable& table);

  core::GovernanceConfig config_;
  metrics::Metrics& metrics_;
  core::KeyHash master_hash_{};
  std::unique_ptr<GovernanceStore> store_;
  std::unique_ptr<LedgerWriter> ledger_;
  mutable std::mutex admin_mutex_;  // admin changes and publishing: never the request path
  std::shared_ptr<const core::AccountTable> table_;
  GovernanceStore::Snapshot records_;
  std::atomic<std::uint64_t> version_{1};
  std::string replica_id_;
  std::unique_ptr<SharedLimits> shared_;
  net::thread_pool admin_thread_{1};
  std::atomic<bool> sync_stopping_{false};
  std::thread sync_thread_;
};

}  // namespace switchyard::proxy
