#pragma once
// What the gateway keeps across restarts (issue 12): teams, keys, the audit log and the spend
// ledger. core/ decides; a GovernanceStore only persists. The interface says nothing about the
// database behind it, so SQLite (one process) and PostgreSQL (several replicas) can both sit
// here. Never on the request path: admin writes and the ledger writer thread call it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/governance.hpp"
#include "core/ledger.hpp"

namespace switchyard::proxy {

struct AuditEntry {
  std::int64_t time_ms = 0;  // unix milliseconds
  std::string actor;         // the key id that acted, or "master"
  std::string action;        // "key.create", "team.update", ...
  std::string target;        // the id acted on
  std::string detail_json = "{}";
};

// Every failure of a store. The message is the database's, with what was being done; it never
// holds a secret, since a store only ever sees hashes.
class StoreError : public std::runtime_error {
 public:
  StoreError(const std::string& message, bool conflict)
      : std::runtime_error(message), conflict_(conflict) {}
  // A uniqueness rule refused the write (a key's hash or alias, a team's name is taken): the
  // admin API answers that as the client's mistake, anything else as the gateway's.
  bool conflict() const { return conflict_; }

 private:
  bool conflict_;
};

// Safe to call from several threads: each call is one transaction on its own.
class GovernanceStore {
 public:
  virtual ~GovernanceStore() = default;

  struct Snapshot {
    std::vector<core::TeamRecord> teams;
    std::vector<core::KeyRecord> keys;
  };
  // Everything, at start-up, oldest first.
  virtual Snapshot load() = 0;

  // Insert, or replace the record with the same id. Deleting an unknown id does nothing.
  virtual void put_team(const core::TeamRecord& team) = 0;
  virtual void delete_team(std::string_view id) = 0;
  virtual void put_key(const core::KeyRecord& key) = 0;
  virtual void delete_key(std::string_view id) = 0;

  virtual void append_audit(const AuditEntry& entry) = 0;
  // Entries with from_ms <= time_ms < to_ms, oldest first, at most `limit`.
  virtual std::vector<AuditEntry> audit(std::int64_t from_ms, std::int64_t to_ms,
                                        std::size_t limit) = 0;

  // The whole batch in one transaction: all rows are kept or none. A store shared by several
  // gateways keeps `batch_id` (unique to the batch: its writer's id and a number) and writes
  // a batch it has seen before as nothing, so a batch sent again after its answer was lost
  // counts once. Empty: no such check.
  virtual void write_ledger_batch(std::span<const core::LedgerRow> rows,
                                  std::string_view batch_id) = 0;
  void write_ledger(std::span<const core::LedgerRow> rows) { write_ledger_batch(rows, {}); }
  // Grouped over the rows with q.from_ms <= time_ms < q.to_ms, most cost first, then by group.
  virtual std::vector<core::SpendRow> spend(const core::SpendQuery& q) = 0;
  // Spend with time_ms >= from_ms: restores the current periods' budgets at start-up.
  virtual core::Micros key_spend_since(std::string_view key_id, std::int64_t from_ms) = 0;
  virtual core::Micros team_spend_since(std::string_view team_id, std::int64_t from_ms) = 0;
  virtual std::int64_t ledger_row_count() = 0;

  // Whether other gateways share this store and may change its teams and keys.
  virtual bool shared() const { return false; }
  // A shared store: waits up to `timeout` for word that a team or key changed (from any
  // gateway). True when word came, or may have been missed (the store's connection was made
  // again): the caller then reads the records again. interrupt_waits() ends every wait at
  // once, at shutdown.
  virtual bool wait_for_change(std::chrono::milliseconds timeout) {
    (void)timeout;
    return false;
  }
  virtual void interrupt_waits() {}
};

}  // namespace switchyard::proxy
