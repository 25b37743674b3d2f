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
#include "proxy/net.hpp"
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

  LedgerWriter(GovernanceStore& store, std::size_t producers, std::size_t queue_rows,
               std::chrono::milliseconds commit_interval);
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

  GovernanceStore& store_;
  const std::chrono::milliseconds interval_;
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
  // Opens the store named by the config, loads every key and team, and restores each budget's
  // spend in its current period from the ledger. Throws StoreError when the store cannot open.
  // `metrics` (which outlives this) gets a labelled series per team and key alias.
  Governance(const core::GovernanceConfig& config, std::size_t workers, metrics::Metrics& metrics);
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

  GovernanceStore& store() { return *store_; }
  LedgerWriter& ledger() { return *ledger_; }
  void close();  // the ledger's last commit

  // At each scrape: the ledger's counts and every team's budget gauges.
  void refresh_metrics() const;

 private:
  void refresh(WorkerAccounts& accounts) const;
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
};

}  // namespace switchyard::proxy
