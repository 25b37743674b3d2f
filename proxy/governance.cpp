#include "proxy/governance.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>

#include "core/attribution.hpp"
#include "proxy/key_secrets.hpp"
#include "proxy/postgres_db.hpp"
#include "proxy/postgres_store.hpp"
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

std::unique_ptr<GovernanceStore> open_store(const core::GovernanceConfig& config,
                                            const core::StateConfig& state) {
  if (state.store != core::StateConfig::Store::postgres) return open_sqlite_store(config.database);
  PostgresStoreOptions options;
  options.url = state.postgres_url;
  options.pool = state.postgres_pool;
  options.log = [](const std::string& line) {
    std::fprintf(stderr, "switchyard: state: %s\n", line.c_str());
  };
  std::fprintf(stderr, "switchyard: state: keys, teams and the ledger are in PostgreSQL at %s\n",
               postgres::redacted_url(state.postgres_url).c_str());
  return open_postgres_store(options);
}

// The host name, the process id and four random hex digits: unique among replicas that run at
// once, and readable in the ledger's batch ids.
std::string default_replica_id() {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host = {'g', 'w'};
  std::string id(host.data());
  std::replace_if(
      id.begin(), id.end(),
      [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '-'); }, '-');
  if (id.size() > 40) id.resize(40);
  const std::string random = new_record_id("");
  return id + "-" + std::to_string(::getpid()) + "-" + random.substr(random.size() - 4);
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

// Writes the queued row over `row` (kept from an earlier batch, so its strings' capacity is
// reused) and completes it with what its key says. The slot keeps its own strings for the
// worker's next fill; only its key reference is released here.
void complete_row(QueuedLedgerRow& queued, core::LedgerRow& row) {
  const core::LedgerRow& q = queued.row;
  row.request_id.assign(queued.request_id.data(), queued.request_id_size);
  row.time_ms = q.time_ms;
  row.model = q.model;
  row.provider = q.provider;
  row.input_tokens = q.input_tokens;
  row.output_tokens = q.output_tokens;
  row.cached_tokens = q.cached_tokens;
  row.cache_write_tokens = q.cache_write_tokens;
  row.reasoning_tokens = q.reasoning_tokens;
  row.cost = q.cost;
  row.latency_ms = q.latency_ms;
  row.ttft_ms = q.ttft_ms;
  row.status = q.status;
  row.error = q.error;
  // The writer may hold the last reference of a replaced table's entry: released on return.
  const std::shared_ptr<const core::KeyEntry> key = std::move(queued.key);
  if (key) {
    row.key_id = key->record.id;
    row.team_id = key->record.team_id;
    row.user = key->record.user;
    row.tags = key->record.tags;
  } else {
    row.key_id.clear();
    row.team_id.clear();
    row.user.clear();
    row.tags.clear();
  }
  // The user the client names wins over the key's; tags are the key's, the header's, then
  // the body's metadata's, each once.
  if (!queued.end_user.empty()) row.user = queued.end_user;
  core::add_tag_list(row.tags, queued.header_tags);
  for (const std::string& t : queued.metadata_tags) core::add_tag(row.tags, t);
}

}  // namespace

core::LedgerRow& LedgerWriter::RowBatch::next() {
  if (size == rows.size()) rows.emplace_back();
  return rows[size++];
}

void LedgerWriter::RowBatch::clear() {
  // Rows beyond four times this batch (and a floor) are a burst's: their memory goes back.
  constexpr std::size_t kKeptRows = 8192;
  if (rows.size() > kKeptRows && rows.size() > 4 * size) rows.resize(std::max(kKeptRows, 2 * size));
  size = 0;
}

LedgerWriter::LedgerWriter(GovernanceStore& store, std::size_t producers, const Options& options)
    : store_(store),
      interval_(options.commit_interval),
      batch_prefix_(options.batch_prefix + "-" +
                    std::to_string(unix_ms(std::chrono::system_clock::now()))),
      max_pending_(std::max<std::size_t>(options.queue_rows, 1) *
                   std::max<std::size_t>(producers, 1)) {
  const std::size_t queue_rows = options.queue_rows;
  if (!options.spool_directory.empty()) {
    spool_ = std::make_unique<LedgerSpool>(options.spool_directory, options.spool_max_bytes);
    spooled_.store(spool_->rows(), std::memory_order_relaxed);
    if (!spool_->empty())
      std::fprintf(stderr, "switchyard: ledger: %llu rows wait in the spool (%s) from before\n",
                   static_cast<unsigned long long>(spool_->rows()), spool_->directory().c_str());
  }
  for (std::size_t i = 0; i < producers; ++i)
    rings_.push_back(std::make_unique<SpscRing<QueuedLedgerRow>>(
        std::min(kRingRows, std::max<std::size_t>(queue_rows, 1))));
  drain_thread_ = std::thread([this] { drain_loop(); });
  commit_thread_ = std::thread([this] { commit_loop(); });
}

LedgerWriter::~LedgerWriter() { close(); }

std::size_t LedgerWriter::queued() const {
  return pending_size_.load(std::memory_order_relaxed) + in_rings();
}

std::size_t LedgerWriter::in_rings() const {
  std::size_t n = 0;
  for (const auto& ring : rings_) n += ring->size();
  return n;
}

void LedgerWriter::drain_once() {
  std::lock_guard lock(pending_mutex_);
  for (auto& ring : rings_)
    ring->drain([this](QueuedLedgerRow& queued) {
      if (pending_.size >= max_pending_) {
        queued.key.reset();
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      complete_row(queued, pending_.next());
    });
  pending_size_.store(pending_.size, std::memory_order_relaxed);
}

void LedgerWriter::commit_once() {
  {
    std::lock_guard lock(pending_mutex_);
    std::swap(pending_, committing_);
    pending_size_.store(0, std::memory_order_relaxed);
  }
  const std::span<const core::LedgerRow> rows(committing_.rows.data(), committing_.size);
  if (!rows.empty() || (spool_ && !spool_->empty())) write_or_spool(rows);
  committing_.clear();
}

bool LedgerWriter::write_or_spool(std::span<const core::LedgerRow> rows) {
  const std::string batch_id = batch_prefix_ + "-" + std::to_string(++batch_number_);
  auto written = [this](std::size_t n) {
    written_.fetch_add(n, std::memory_order_relaxed);
    last_commit_ms_.store(unix_ms(std::chrono::system_clock::now()), std::memory_order_relaxed);
  };
  try {
    // What waited comes first, and while it cannot go, the new batch does not try either (a
    // store that is away can cost a whole connect timeout per try).
    if (spool_ && !spool_->empty()) {
      spool_->replay([&](std::span<const core::LedgerRow> kept, std::string_view id) {
        store_.write_ledger_batch(kept, id);
        written(kept.size());
      });
      spooled_.store(spool_->rows(), std::memory_order_relaxed);
      std::fprintf(stderr, "switchyard: ledger: the spool is written, the store answers again\n");
    }
    if (rows.empty()) return true;
    store_.write_ledger_batch(rows, batch_id);
    written(rows.size());
    store_away_ = false;
    return true;
  } catch (const StoreError& e) {
    if (spool_) spooled_.store(spool_->rows(), std::memory_order_relaxed);
    if (rows.empty()) return true;
    if (spool_ && spool_->keep(batch_id, rows)) {
      spooled_.store(spool_->rows(), std::memory_order_relaxed);
      if (!store_away_)
        std::fprintf(stderr,
                     "switchyard: ledger: the store cannot take rows (%s): spooling to %s\n",
                     e.what(), spool_->directory().c_str());
      store_away_ = true;
      return true;
    }
    // The rows are lost: the database refused them (full disk, a broken file), or the spool is
    // full. Said once a batch, and counted.
    dropped_.fetch_add(rows.size(), std::memory_order_relaxed);
    std::fprintf(stderr, "switchyard: ledger: %zu rows not written%s: %s\n", rows.size(),
                 spool_ ? " (the spool is full)" : "", e.what());
    return false;
  }
}

void LedgerWriter::drain_loop() {
  std::unique_lock lock(wake_mutex_);
  while (!drain_stopping_) {
    wake_.wait_for(lock, kDrainInterval, [this] { return drain_stopping_; });
    lock.unlock();
    drain_once();
    lock.lock();
  }
  lock.unlock();
  drain_once();  // what came in before the stop
}

void LedgerWriter::commit_loop() {
  std::unique_lock lock(wake_mutex_);
  while (!commit_stopping_) {
    wake_.wait_for(lock, interval_, [this] { return commit_stopping_; });
    lock.unlock();
    commit_once();
    lock.lock();
  }
  lock.unlock();
  commit_once();  // what the drain thread's last round left
}

void LedgerWriter::close() {
  if (!drain_thread_.joinable()) return;
  {
    std::lock_guard lock(wake_mutex_);
    drain_stopping_ = true;
  }
  wake_.notify_all();
  drain_thread_.join();
  {
    std::lock_guard lock(wake_mutex_);
    commit_stopping_ = true;
  }
  wake_.notify_all();
  commit_thread_.join();
}

Governance::Governance(const core::GovernanceConfig& config, const core::StateConfig& state,
                       std::size_t workers, metrics::Metrics& metrics)
    : config_(config),
      metrics_(metrics),
      store_(open_store(config, state)),
      replica_id_(state.replica_id.empty() ? default_replica_id() : state.replica_id) {
  if (config_.authentication()) master_hash_ = sha256_of(config_.master_key);
  records_ = store_->load();
  const core::WallTime now = wall_now();
  table_ = core::AccountTable::build(records_.teams, records_.keys, nullptr, now,
                                     std::chrono::steady_clock::now());
  restore_budgets(*table_, *store_, now);
  assign_series(*table_);
  LedgerWriter::Options ledger;
  ledger.queue_rows = config_.ledger_queue_rows;
  ledger.commit_interval = config_.commit_interval;
  ledger.batch_prefix = replica_id_;
  if (store_->shared()) {
    ledger.spool_directory = state.ledger_spool_directory;
    ledger.spool_max_bytes = state.ledger_spool_max_bytes;
  }
  ledger_ = std::make_unique<LedgerWriter>(*store_, workers, ledger);
  if (store_->shared()) sync_thread_ = std::thread([this] { sync_loop(); });
  if (!state.redis_url.empty())
    shared_ = std::make_unique<SharedLimits>(state, replica_id_, workers, *this);
}

Governance::~Governance() { close(); }

void Governance::close() {
  shared_.reset();  // its threads read the table and the store
  stop_sync();
  admin_thread_.join();
  if (ledger_) ledger_->close();
}

void Governance::stop_sync() {
  if (!sync_thread_.joinable()) return;
  sync_stopping_.store(true);
  store_->interrupt_waits();
  sync_thread_.join();
}

void Governance::sync_loop() {
  auto last_read = std::chrono::steady_clock::now();
  bool failing = false;
  while (!sync_stopping_.load()) {
    const bool changed = store_->wait_for_change(std::chrono::seconds(1));
    if (sync_stopping_.load()) break;
    const auto now = std::chrono::steady_clock::now();
    if (!changed && now - last_read < kResyncInterval) continue;
    last_read = now;
    try {
      GovernanceStore::Snapshot records = store_->load();
      if (failing) std::fprintf(stderr, "switchyard: state: the store answers again\n");
      failing = false;
      auto lock = admin_lock();
      // A change this replica made itself comes back as word too: nothing new then.
      if (records.teams != records_.teams || records.keys != records_.keys)
        publish_records(std::move(records));
    } catch (const StoreError& e) {
      // The keys in memory keep serving; the next round tries again.
      if (!failing)
        std::fprintf(stderr, "switchyard: state: cannot read teams and keys: %s\n", e.what());
      failing = true;
    }
  }
}

const GovernanceStore::Snapshot& Governance::records_for_change() {
  // Called with admin_mutex_ held. A failed read is the admin call's failure (a StoreError).
  if (store_->shared()) {
    GovernanceStore::Snapshot records = store_->load();
    if (records.teams != records_.teams || records.keys != records_.keys)
      publish_records(std::move(records));
  }
  return records_;
}

std::shared_ptr<const core::AccountTable> Governance::table() const {
  std::lock_guard lock(admin_mutex_);
  return table_;
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
  if (shared_) shared_->seed_budgets_of(*table_);
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
  g->ledger_spooled->set(static_cast<double>(ledger_->rows_spooled()));
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
