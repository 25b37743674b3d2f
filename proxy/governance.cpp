#include "proxy/governance.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "core/attribution.hpp"
#include "proxy/key_secrets.hpp"
#include "proxy/sqlite_store.hpp"

namespace switchyard::proxy {
namespace {

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

core::WallTime wall_now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

std::int64_t ms_of(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// What the ledger says each budget spent in its current period: a restart keeps it.
void restore_budgets(const core::AccountTable& table, GovernanceStore& store, core::WallTime now) {
  for (const auto& team : table.teams()) {
    core::BudgetCounter* b = team->state->budget.get();
    if (!b) continue;
    b->restore(store.team_spend_since(team->record.id, ms_of(b->window(now).start)), now);
  }
  for (const auto& key : table.keys()) {
    core::BudgetCounter* b = key->state->budget.get();
    if (!b) continue;
    b->restore(store.key_spend_since(key->record.id, ms_of(b->window(now).start)), now);
  }
}

// Moves everything out of the queue slot (the next row is written over it field by field) and
// completes the row with what its key says.
void complete_row(QueuedLedgerRow& queued, core::LedgerRow& row) {
  row = std::move(queued.row);
  row.request_id.assign(queued.request_id.data(), queued.request_id_size);
  const std::shared_ptr<const core::KeyEntry> key = std::move(queued.key);
  const std::string header_tags = std::move(queued.header_tags);
  std::string end_user = std::move(queued.end_user);
  const std::vector<std::string> metadata_tags = std::move(queued.metadata_tags);
  row.key_id.clear();
  row.team_id.clear();
  row.user.clear();
  row.tags.clear();
  if (key) {
    // Copied here, not on the request path; the writer may hold the last reference of a
    // replaced table's entry, released on return.
    row.key_id = key->record.id;
    row.team_id = key->record.team_id;
    row.user = key->record.user;
    row.tags = key->record.tags;
  }
  // The user the client names wins over the key's; tags are the key's, the header's, then
  // the body's metadata's, each once.
  if (!end_user.empty()) row.user = std::move(end_user);
  core::add_tag_list(row.tags, header_tags);
  for (const std::string& t : metadata_tags) core::add_tag(row.tags, t);
}

}  // namespace

LedgerWriter::LedgerWriter(GovernanceStore& store, std::size_t producers, std::size_t ring_rows,
                           std::chrono::milliseconds commit_interval)
    : store_(store), interval_(commit_interval) {
  for (std::size_t i = 0; i < producers; ++i)
    rings_.push_back(std::make_unique<SpscRing<QueuedLedgerRow>>(ring_rows));
  thread_ = std::thread([this] { run(); });
}

LedgerWriter::~LedgerWriter() { close(); }

std::size_t LedgerWriter::queued() const {
  std::size_t n = 0;
  for (const auto& ring : rings_) n += ring->size();
  return n;
}

void LedgerWriter::commit_once() {
  batch_.clear();
  for (auto& ring : rings_)
    ring->drain([this](QueuedLedgerRow& queued) { complete_row(queued, batch_.emplace_back()); });
  if (batch_.empty()) return;
  try {
    store_.write_ledger(batch_);
    written_.fetch_add(batch_.size(), std::memory_order_relaxed);
    last_commit_ms_.store(unix_ms(std::chrono::system_clock::now()), std::memory_order_relaxed);
  } catch (const StoreError& e) {
    // The rows are lost (the database refused them: full disk, a broken file); say so once a
    // batch, and count them.
    dropped_.fetch_add(batch_.size(), std::memory_order_relaxed);
    std::fprintf(stderr, "switchyard: ledger: %zu rows not written: %s\n", batch_.size(), e.what());
  }
}

void LedgerWriter::run() {
  std::unique_lock lock(wake_mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
    lock.unlock();
    commit_once();
    lock.lock();
  }
  lock.unlock();
  commit_once();  // what came in before the stop
}

void LedgerWriter::close() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

Governance::Governance(const core::GovernanceConfig& config, std::size_t workers,
                       metrics::Metrics& metrics)
    : config_(config), metrics_(metrics), store_(open_sqlite_store(config.database)) {
  if (config_.authentication()) master_hash_ = sha256_of(config_.master_key);
  records_ = store_->load();
  const core::WallTime now = wall_now();
  table_ = core::AccountTable::build(records_.teams, records_.keys, nullptr, now,
                                     std::chrono::steady_clock::now());
  restore_budgets(*table_, *store_, now);
  assign_series(*table_);
  ledger_ = std::make_unique<LedgerWriter>(*store_, workers, config_.ledger_queue_rows,
                                           config_.commit_interval);
}

Governance::~Governance() { close(); }

void Governance::close() {
  if (ledger_) ledger_->close();
}

bool Governance::is_master_key(std::string_view credential) const {
  return authentication() && core::same_hash(sha256_of(credential), master_hash_);
}

void Governance::refresh(WorkerAccounts& accounts) const {
  accounts.credentials.clear();  // they were checked against the table being replaced
  std::lock_guard lock(admin_mutex_);
  accounts.table = table_;
  accounts.version = version_.load(std::memory_order_relaxed);
}

void Governance::publish_records(GovernanceStore::Snapshot records) {
  // Called with admin_mutex_ held (admin_lock()).
  table_ = core::AccountTable::build(records.teams, records.keys, table_.get(), wall_now(),
                                     std::chrono::steady_clock::now());
  records_ = std::move(records);
  assign_series(*table_);
  version_.fetch_add(1, std::memory_order_release);
}

void Governance::assign_series(const core::AccountTable& table) {
  for (const auto& team : table.teams())
    team->state->series.store(metrics_.team_slot(team->record.name), std::memory_order_relaxed);
  if (config_.metrics_max_key_aliases == 0) return;
  for (const auto& key : table.keys())
    key->state->series.store(metrics_.key_alias_slot(key->record.alias), std::memory_order_relaxed);
}

void Governance::refresh_metrics() const {
  const metrics::GovernanceMetrics* g = metrics_.governance();
  if (!g) return;
  g->ledger_queued->set(static_cast<double>(ledger_->queued()));
  g->ledger_written->set(static_cast<double>(ledger_->rows_written()));
  g->ledger_dropped->set(static_cast<double>(ledger_->rows_dropped()));
  g->ledger_last_commit->set(static_cast<double>(ledger_->last_commit_unix_ms()) / 1000.0);
  std::shared_ptr<const core::AccountTable> table;
  {
    std::lock_guard lock(admin_mutex_);
    table = table_;
  }
  const core::WallTime now = wall_now();
  const double none = std::numeric_limits<double>::quiet_NaN();
  // A team whose budget was removed, or which was deleted, says nothing any more.
  for (std::size_t i = 0; i < g->teams.size(); ++i) {
    const metrics::AccountSeries& s = g->teams.at(static_cast<std::uint32_t>(i));
    for (metrics::ShardedValue* v : {s.budget_usd, s.spent_usd, s.remaining_usd, s.reset_seconds})
      v->set(none);
  }
  for (const auto& team : table->teams()) {
    const core::BudgetCounter* b = team->state->budget.get();
    const std::uint32_t slot = team->state->series.load(std::memory_order_relaxed);
    if (!b || slot <= metrics::AccountSeriesSet::kNone) continue;
    const metrics::AccountSeries& s = g->teams.at(slot);
    const core::Micros spent = b->spent(now);
    s.budget_usd->set(core::micros_to_usd(b->limit()));
    s.spent_usd->set(core::micros_to_usd(spent));
    s.remaining_usd->set(core::micros_to_usd(std::max<core::Micros>(b->limit() - spent, 0)));
    s.reset_seconds->set(static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(b->window(now).reset.time_since_epoch())
            .count()));
  }
}

}  // namespace switchyard::proxy
