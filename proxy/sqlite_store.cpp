#include "proxy/sqlite_store.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "proxy/sqlite_db.hpp"

namespace switchyard::proxy {
namespace {

namespace json = boost::json;
using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

// PRAGMA user_version: a later version migrates from the number it finds.
// 2: the ledger's per-key and per-team indexes dropped for the daily rollup's (kMigrateTo2).
// 3: the ledger split into ledger_requests and ledger_dims, behind a view `ledger` with the
//    old columns (kMigrateTo3).
constexpr int kSchemaVersion = 3;

// A ledger row's id is its time and a number within that millisecond: time_ms * 2^20 + n. The
// rows are then stored in time order, and a time range is a range of ids, without an index on
// the time (which had cost ~2k instructions a row).
constexpr int kRowsPerMsBits = 20;
constexpr std::int64_t kRowsPerMs = std::int64_t{1} << kRowsPerMsBits;
// Times are kept within what an id can hold (year 2248 either side of 1970).
constexpr std::int64_t kMaxTimeMs = INT64_MAX / kRowsPerMs - 1;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

std::int64_t clamp_time_ms(std::int64_t ms) { return std::clamp(ms, -kMaxTimeMs, kMaxTimeMs); }
// The first row id of millisecond `ms`: bounds of a time range [from, to) are [first(from),
// first(to)).
std::int64_t first_row_id(std::int64_t ms) { return clamp_time_ms(ms) * kRowsPerMs; }

// Lists, budgets' periods and model limits are JSON text: one row per record keeps load() one
// query per table, and SQLite's json_each still reaches inside them (the tag report).
//
// The ledger: what most requests share (key, team, user, tags, model, provider) is a row of
// ledger_dims, written once; a request's own row (ledger_requests) holds its numbers, its id
// and its error, which made it half as costly to write as the 18 columns it had.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS teams (
  id TEXT PRIMARY KEY, name TEXT NOT NULL,
  budget_max INTEGER, budget_soft INTEGER, budget_period TEXT, budget_anchor_s INTEGER,
  rpm INTEGER NOT NULL, tpm INTEGER NOT NULL, parallel INTEGER NOT NULL,
  models_json TEXT NOT NULL, blocked INTEGER NOT NULL, metadata_json TEXT NOT NULL,
  created_s INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS teams_name ON teams(name);
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY, alias TEXT NOT NULL, hash BLOB NOT NULL, hint TEXT NOT NULL,
  role TEXT NOT NULL, team_id TEXT NOT NULL, user TEXT NOT NULL, models_json TEXT NOT NULL,
  budget_max INTEGER, budget_soft INTEGER, budget_period TEXT, budget_anchor_s INTEGER,
  rpm INTEGER NOT NULL, tpm INTEGER NOT NULL, parallel INTEGER NOT NULL,
  model_limits_json TEXT NOT NULL, tags_json TEXT NOT NULL, metadata_json TEXT NOT NULL,
  expires_s INTEGER, blocked INTEGER NOT NULL, created_s INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS keys_hash ON keys(hash);
CREATE UNIQUE INDEX IF NOT EXISTS keys_alias ON keys(alias) WHERE alias <> '';
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  target TEXT NOT NULL, detail_json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ms);
CREATE TABLE IF NOT EXISTS ledger_dims (
  id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, team_id TEXT NOT NULL, user TEXT NOT NULL,
  tags_json TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_dims_all
  ON ledger_dims(key_id, team_id, model, provider, user, tags_json);
CREATE TABLE IF NOT EXISTS ledger_requests (
  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, dims INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
  cost INTEGER NOT NULL, latency_ms INTEGER NOT NULL, ttft_ms INTEGER, status INTEGER NOT NULL,
  error TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_daily (
  day TEXT NOT NULL, key_id TEXT NOT NULL, team_id TEXT NOT NULL, model TEXT NOT NULL,
  provider TEXT NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, cost INTEGER NOT NULL,
  PRIMARY KEY (day, key_id, team_id, model, provider));
CREATE INDEX IF NOT EXISTS ledger_daily_key ON ledger_daily(key_id, day);
CREATE INDEX IF NOT EXISTS ledger_daily_team ON ledger_daily(team_id, day);
)sql";

// The ledger as one table again, for people reading the file (sqlite3 switchyard.db) and for
// the row count; the gateway's own queries use the two tables, whose row ids are the time.
constexpr std::string_view kLedgerView = R"sql(
CREATE VIEW IF NOT EXISTS ledger AS
SELECT r.id AS id, r.request_id AS request_id, r.id >> 20 AS time_ms, d.key_id AS key_id,
  d.team_id AS team_id, d.user AS user, d.tags_json AS tags_json, d.model AS model,
  d.provider AS provider, r.input_tokens AS input_tokens, r.output_tokens AS output_tokens,
  r.cached_tokens AS cached_tokens, r.cache_write_tokens AS cache_write_tokens,
  r.reasoning_tokens AS reasoning_tokens, r.cost AS cost, r.latency_ms AS latency_ms,
  r.ttft_ms AS ttft_ms, r.status AS status, r.error AS error
FROM ledger_requests r JOIN ledger_dims d ON d.id = r.dims;
)sql";

// Every ledger row had updated an index per key and per team (a third of the writer's work):
// spend since a time now reads whole days from the rollup, whose indexes change only once per
// (day, key, team, model, provider) of a batch, and the first, partial day from the ledger.
constexpr std::string_view kMigrateTo2 = R"sql(
DROP INDEX IF EXISTS ledger_key_time;
DROP INDEX IF EXISTS ledger_team_time;
)sql";

// The one-table ledger of schemas 1 and 2 into the two tables, numbering each millisecond's
// rows in their old order; the old table (and its time index) goes.
constexpr std::string_view kMigrateTo3 = R"sql(
INSERT INTO ledger_dims (key_id, team_id, user, tags_json, model, provider)
  SELECT DISTINCT key_id, team_id, user, tags_json, model, provider FROM ledger;
INSERT INTO ledger_requests (id, request_id, dims, input_tokens, output_tokens, cached_tokens,
  cache_write_tokens, reasoning_tokens, cost, latency_ms, ttft_ms, status, error)
  SELECT l.time_ms * 1048576 + row_number() OVER (PARTITION BY l.time_ms ORDER BY l.id) - 1,
    l.request_id, d.id, l.input_tokens, l.output_tokens, l.cached_tokens,
    l.cache_write_tokens, l.reasoning_tokens, l.cost, l.latency_ms, l.ttft_ms, l.status, l.error
  FROM ledger l JOIN ledger_dims d ON d.key_id = l.key_id AND d.team_id = l.team_id
    AND d.user = l.user AND d.tags_json = l.tags_json AND d.model = l.model
    AND d.provider = l.provider;
DROP TABLE ledger;
)sql";
static_assert(kRowsPerMs == 1048576, "kMigrateTo3 and kLedgerView spell it out");

constexpr int kLedgerColumns = 13;
// Rows per multi-row INSERT, the rest of a batch going one by one: 64 rows bind 832
// parameters, under the 999 that SQLite before 3.32 allows a statement.
constexpr std::size_t kLedgerRowsPerInsert = 64;
static_assert(kLedgerColumns * kLedgerRowsPerInsert <= 999);

std::string insert_ledger_sql(std::size_t rows) {
  std::string sql =
      "INSERT INTO ledger_requests (id, request_id, dims, input_tokens, output_tokens,"
      " cached_tokens, cache_write_tokens, reasoning_tokens, cost, latency_ms, ttft_ms, status,"
      " error) VALUES ";
  for (std::size_t i = 0; i < rows; ++i) {
    sql.append(i ? ", (" : "(");
    for (int c = 0; c < kLedgerColumns; ++c) sql.append(c ? ", ?" : "?");
    sql.append(")");
  }
  return sql;
}

// One definition of a row's UTC day and of an error row, shared by the rollup and the report.
// Dividing by 1000.0 floors times before 1970 to the right day.
// (append, not operator+: GCC 12 warns falsely of overlapping copies on "(" + std::string.)
std::string day_of(std::string_view ms) {
  std::string sql = "date(";
  return sql.append(ms).append(" / 1000.0, 'unixepoch')");
}
std::string is_error(std::string_view status, std::string_view error) {
  std::string sql = "(";
  return sql.append(status).append(" >= 400 OR ").append(error).append(" <> '')");
}

std::string upsert_daily_sql() {
  return "INSERT INTO ledger_daily (day, key_id, team_id, model, provider, requests, errors,"
         " input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,"
         " cost) VALUES (" +
         day_of("?1") +
         ", ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
         " ON CONFLICT (day, key_id, team_id, model, provider) DO UPDATE SET"
         " requests = requests + excluded.requests, errors = errors + excluded.errors,"
         " input_tokens = input_tokens + excluded.input_tokens,"
         " output_tokens = output_tokens + excluded.output_tokens,"
         " cached_tokens = cached_tokens + excluded.cached_tokens,"
         " cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,"
         " reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,"
         " cost = cost + excluded.cost";
}

// The sums every report row has, over the ledger_requests rows named `r`.
std::string spend_sums_sql() {
  return "COUNT(*), SUM(" + is_error("r.status", "r.error") +
         "), SUM(r.input_tokens), SUM(r.output_tokens), SUM(r.cached_tokens),"
         " SUM(r.cache_write_tokens), SUM(r.reasoning_tokens), SUM(r.cost)";
}

[[noreturn]] void corrupt(std::string_view what) {
  throw StoreError("sqlite: the store holds an unreadable " + std::string(what), false);
}

std::string strings_to_json(const std::vector<std::string>& items) {
  if (items.empty()) return "[]";  // most ledger rows: no JSON serializer for them
  json::array array;
  for (const auto& item : items) array.emplace_back(item);
  return json::serialize(array);
}

json::value parse_json(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec) corrupt(what);
  return value;
}

std::vector<std::string> strings_from_json(std::string_view text) {
  const json::value value = parse_json(text, "list");
  if (!value.is_array()) corrupt("list");
  std::vector<std::string> items;
  for (const auto& item : value.get_array()) {
    if (!item.is_string()) corrupt("list");
    items.emplace_back(item.get_string());
  }
  return items;
}

std::int64_t integer_member(const json::object& object, std::string_view name) {
  const json::value* member = object.if_contains(name);
  if (!member || !member->is_int64()) corrupt("model limit");
  return member->get_int64();
}

std::string model_limits_to_json(const std::vector<core::ModelLimits>& all) {
  json::array array;
  for (const auto& entry : all)
    array.push_back(json::object{{"model", entry.model},
                                 {"rpm", entry.limits.rpm},
                                 {"tpm", entry.limits.tpm},
                                 {"parallel", entry.limits.parallel}});
  return json::serialize(array);
}

std::vector<core::ModelLimits> model_limits_from_json(std::string_view text) {
  const json::value value = parse_json(text, "model limit");
  if (!value.is_array()) corrupt("model limit");
  std::vector<core::ModelLimits> all;
  for (const auto& item : value.get_array()) {
    const json::object* object = item.if_object();
    const json::value* model = object ? object->if_contains("model") : nullptr;
    if (!model || !model->is_string()) corrupt("model limit");
    all.push_back({std::string(model->get_string()),
                   {integer_member(*object, "rpm"), integer_member(*object, "tpm"),
                    integer_member(*object, "parallel")}});
  }
  return all;
}

// A budget is four columns, all NULL without one.
struct BudgetColumns {
  std::optional<std::int64_t> max, soft, anchor_s;
  std::optional<std::string> period;
};

BudgetColumns budget_columns(const std::optional<core::BudgetSpec>& budget) {
  if (!budget) return {};
  return {budget->max, budget->soft, budget->anchor.time_since_epoch().count(),
          core::format_budget_period(budget->period)};
}

std::optional<core::BudgetSpec> read_budget(const Statement& row, int first_column) {
  if (row.is_null(first_column)) return std::nullopt;
  auto period = core::parse_budget_period(row.text(first_column + 2));
  if (!period) corrupt("budget period");
  return core::BudgetSpec{row.integer(first_column), row.optional_integer(first_column + 1),
                          period.value(),
                          core::WallTime(std::chrono::seconds(row.integer(first_column + 3)))};
}

core::WallTime wall_time(std::int64_t seconds) {
  return core::WallTime(std::chrono::seconds(seconds));
}

std::int64_t seconds_of(core::WallTime t) { return t.time_since_epoch().count(); }

class SqliteStore final : public GovernanceStore {
 public:
  explicit SqliteStore(const std::string& path)
      : db_(path),
        insert_ledger_(prepare_schema(), insert_ledger_sql(1)),
        insert_ledger_rows_(db_, insert_ledger_sql(kLedgerRowsPerInsert)),
        upsert_daily_(db_, upsert_daily_sql()),
        find_dims_(db_,
                   "SELECT id FROM ledger_dims WHERE key_id = ?1 AND team_id = ?2 AND model = ?3"
                   " AND provider = ?4 AND user = ?5 AND tags_json = ?6"),
        insert_dims_(db_,
                     "INSERT INTO ledger_dims (key_id, team_id, model, provider, user, tags_json)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        last_row_in_ms_(db_, "SELECT MAX(id) FROM ledger_requests WHERE id >= ?1 AND id < ?2") {
    Statement last(db_, "SELECT MAX(id) FROM ledger_requests");
    last.step();
    // Rows of a later millisecond than any in the file are numbered from 0 without asking it.
    if (!last.is_null(0)) numbered_up_to_ms_ = floor_div(last.integer(0), kRowsPerMs);
  }

  Snapshot load() override {
    std::lock_guard lock(mutex_);
    return {load_teams(), load_keys()};
  }

  void put_team(const core::TeamRecord& t) override;
  void put_key(const core::KeyRecord& k) override;

  void delete_team(std::string_view id) override {
    std::lock_guard lock(mutex_);
    Statement(db_, "DELETE FROM teams WHERE id = ?1").bind(id).run();
  }

  void delete_key(std::string_view id) override {
    std::lock_guard lock(mutex_);
    Statement(db_, "DELETE FROM keys WHERE id = ?1").bind(id).run();
  }

  void append_audit(const AuditEntry& e) override {
    std::lock_guard lock(mutex_);
    Statement(db_,
              "INSERT INTO audit (time_ms, actor, action, target, detail_json)"
              " VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(e.time_ms, e.actor, e.action, e.target, e.detail_json)
        .run();
  }

  std::vector<AuditEntry> audit(std::int64_t from_ms, std::int64_t to_ms,
                                std::size_t limit) override;
  void write_ledger(std::span<const core::LedgerRow> rows) override;
  std::vector<core::SpendRow> spend(const core::SpendQuery& q) override;

  core::Micros key_spend_since(std::string_view key_id, std::int64_t from_ms) override {
    return sum_cost("key_id", key_id, from_ms);
  }

  core::Micros team_spend_since(std::string_view team_id, std::int64_t from_ms) override {
    return sum_cost("team_id", team_id, from_ms);
  }

  std::int64_t ledger_row_count() override {
    std::lock_guard lock(mutex_);
    Statement count(db_, "SELECT COUNT(*) FROM ledger_requests");
    count.step();
    return count.integer(0);
  }

 private:
  // Runs before the kept statements are prepared: they need the tables.
  Database& prepare_schema();
  std::vector<core::TeamRecord> load_teams();
  std::vector<core::KeyRecord> load_keys();
  struct NumberedRow;
  void write_ledger_locked(std::span<const core::LedgerRow> rows);
  void insert_ledger(Statement& insert, std::span<const NumberedRow> rows);
  std::int64_t dims_id(const core::LedgerRow& row, std::string_view tags_json);
  std::int64_t next_row_id(std::int64_t time_ms);
  core::Micros sum_cost(std::string_view column, std::string_view id, std::int64_t from_ms);

  std::mutex mutex_;
  Database db_;
  Statement insert_ledger_;       // one row
  Statement insert_ledger_rows_;  // kLedgerRowsPerInsert rows
  Statement upsert_daily_;
  Statement find_dims_;
  Statement insert_dims_;
  Statement last_row_in_ms_;

  // The ledger writer's memory, under mutex_. Both are bounded: when full they are emptied,
  // and the file answers for what they no longer hold.
  // ledger_dims ids by their six fields (length-prefixed, concatenated).
  std::unordered_map<std::string, std::int64_t> dims_ids_;
  // The next row number of each millisecond written since numbered_up_to_ms_; a millisecond
  // at or before it may have rows in the file already (an earlier run, or forgotten numbers).
  std::unordered_map<std::int64_t, std::int64_t> next_in_ms_;
  std::int64_t numbered_up_to_ms_ = INT64_MIN;
};

constexpr std::size_t kMaxRememberedDims = 65536;
constexpr std::size_t kMaxRememberedMs = 65536;

Database& SqliteStore::prepare_schema() {
  {
    Statement mode(db_, "PRAGMA journal_mode = WAL");
    if (!mode.step() || mode.text(0) != "wal")
      throw StoreError("sqlite: the store's file cannot use WAL journaling", false);
  }
  db_.exec("PRAGMA synchronous = NORMAL");
  const std::int64_t found = [this] {
    // Finished before the migration: SQLite refuses a DROP while a statement is still reading.
    Statement version(db_, "PRAGMA user_version");
    version.step();
    return version.integer(0);
  }();
  if (found > kSchemaVersion)
    throw StoreError("sqlite: the store has schema " + std::to_string(found) +
                         ", newer than this gateway's " + std::to_string(kSchemaVersion),
                     false);
  const bool one_table_ledger = [this] {
    Statement table(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger'");
    return table.step();
  }();
  Transaction transaction(db_);
  db_.exec(kSchema);
  if (found < 2) db_.exec(kMigrateTo2);
  if (one_table_ledger) db_.exec(kMigrateTo3);
  db_.exec(kLedgerView);
  db_.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
  transaction.commit();
  return db_;
}

void SqliteStore::put_team(const core::TeamRecord& t) {
  const BudgetColumns budget = budget_columns(t.budget);
  std::lock_guard lock(mutex_);
  // An upsert on the id alone: a taken name must be refused, never replace the other team.
  Statement put(db_, R"sql(
INSERT INTO teams (id, name, budget_max, budget_soft, budget_period, budget_anchor_s, rpm, tpm,
  parallel, models_json, blocked, metadata_json, created_s)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, budget_max = excluded.budget_max,
  budget_soft = excluded.budget_soft, budget_anchor_s = excluded.budget_anchor_s,
  rpm = excluded.rpm, tpm = excluded.tpm, parallel = excluded.parallel,
  models_json = excluded.models_json, blocked = excluded.blocked,
  metadata_json = excluded.metadata_json, created_s = excluded.created_s,
  budget_period = excluded.budget_period)sql");
  put.bind(t.id, t.name, budget.max, budget.soft, budget.period, budget.anchor_s, t.limits.rpm,
           t.limits.tpm, t.limits.parallel, strings_to_json(t.models), int{t.blocked},
           t.metadata_json, seconds_of(t.created))
      .run();
}

void SqliteStore::put_key(const core::KeyRecord& k) {
  const BudgetColumns budget = budget_columns(k.budget);
  const std::optional<std::int64_t> expires_s =
      k.expires ? std::optional(seconds_of(*k.expires)) : std::nullopt;
  std::lock_guard lock(mutex_);
  // As for teams: a taken hash or alias is refused, never replaces the other key.
  Statement put(db_, R"sql(
INSERT INTO keys (id, alias, hash, hint, role, team_id, user, models_json, budget_max,
  budget_soft, budget_period, budget_anchor_s, rpm, tpm, parallel, model_limits_json, tags_json,
  metadata_json, expires_s, blocked, created_s)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
  ?20, ?21)
ON CONFLICT (id) DO UPDATE SET alias = excluded.alias, hash = excluded.hash,
  hint = excluded.hint, role = excluded.role, team_id = excluded.team_id, user = excluded.user,
  models_json = excluded.models_json, budget_max = excluded.budget_max,
  budget_soft = excluded.budget_soft, budget_anchor_s = excluded.budget_anchor_s,
  rpm = excluded.rpm, tpm = excluded.tpm, parallel = excluded.parallel,
  model_limits_json = excluded.model_limits_json, tags_json = excluded.tags_json,
  metadata_json = excluded.metadata_json, expires_s = excluded.expires_s,
  blocked = excluded.blocked, created_s = excluded.created_s,
  budget_period = excluded.budget_period)sql");
  put.bind(k.id, k.alias, k.hash, k.hint, core::key_role_name(k.role), k.team_id, k.user,
           strings_to_json(k.models), budget.max, budget.soft, budget.period, budget.anchor_s,
           k.limits.rpm, k.limits.tpm, k.limits.parallel, model_limits_to_json(k.model_limits),
           strings_to_json(k.tags), k.metadata_json, expires_s, int{k.blocked},
           seconds_of(k.created))
      .run();
}

std::vector<core::TeamRecord> SqliteStore::load_teams() {
  Statement rows(db_, R"sql(
SELECT id, name, budget_max, budget_soft, budget_period, budget_anchor_s, rpm, tpm, parallel,
  models_json, blocked, metadata_json, created_s FROM teams ORDER BY created_s, id)sql");
  std::vector<core::TeamRecord> teams;
  while (rows.step()) {
    core::TeamRecord& t = teams.emplace_back();
    t.id = rows.text(0);
    t.name = rows.text(1);
    t.budget = read_budget(rows, 2);
    t.limits = {rows.integer(6), rows.integer(7), rows.integer(8)};
    t.models = strings_from_json(rows.text(9));
    t.blocked = rows.integer(10) != 0;
    t.metadata_json = rows.text(11);
    t.created = wall_time(rows.integer(12));
  }
  return teams;
}

std::vector<core::KeyRecord> SqliteStore::load_keys() {
  Statement rows(db_, R"sql(
SELECT id, alias, hash, hint, role, team_id, user, models_json, budget_max, budget_soft,
  budget_period, budget_anchor_s, rpm, tpm, parallel, model_limits_json, tags_json,
  metadata_json, expires_s, blocked, created_s FROM keys ORDER BY created_s, id)sql");
  std::vector<core::KeyRecord> keys;
  while (rows.step()) {
    core::KeyRecord& k = keys.emplace_back();
    k.id = rows.text(0);
    k.alias = rows.text(1);
    const auto hash = rows.blob(2);
    if (hash.size() != k.hash.size()) corrupt("key hash");
    std::copy(hash.begin(), hash.end(), k.hash.begin());
    k.hint = rows.text(3);
    const auto role = core::parse_key_role(rows.text(4));
    if (!role) corrupt("key role");
    k.role = *role;
    k.team_id = rows.text(5);
    k.user = rows.text(6);
    k.models = strings_from_json(rows.text(7));
    k.budget = read_budget(rows, 8);
    k.limits = {rows.integer(12), rows.integer(13), rows.integer(14)};
    k.model_limits = model_limits_from_json(rows.text(15));
    k.tags = strings_from_json(rows.text(16));
    k.metadata_json = rows.text(17);
    if (const auto expires_s = rows.optional_integer(18)) k.expires = wall_time(*expires_s);
    k.blocked = rows.integer(19) != 0;
    k.created = wall_time(rows.integer(20));
  }
  return keys;
}

std::vector<AuditEntry> SqliteStore::audit(std::int64_t from_ms, std::int64_t to_ms,
                                           std::size_t limit) {
  std::lock_guard lock(mutex_);
  Statement rows(db_,
                 "SELECT time_ms, actor, action, target, detail_json FROM audit"
                 " WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY time_ms, id LIMIT ?3");
  const auto capped = static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX));
  rows.bind(from_ms, to_ms, capped);
  std::vector<AuditEntry> entries;
  while (rows.step())
    entries.push_back({rows.integer(0), rows.text(1), rows.text(2), rows.text(3), rows.text(4)});
  return entries;
}

// A ledger row with what it is written as: its time-ordered id, its ledger_dims row.
struct SqliteStore::NumberedRow {
  const core::LedgerRow* row;
  std::int64_t id;
  std::int64_t dims;
};

void SqliteStore::write_ledger(std::span<const core::LedgerRow> rows) {
  if (rows.empty()) return;
  std::lock_guard lock(mutex_);
  try {
    write_ledger_locked(rows);
  } catch (...) {
    // The transaction rolled back: ledger_dims rows it added are gone, so their remembered
    // ids must go too (a forgotten row number is only skipped, never reused).
    dims_ids_.clear();
    throw;
  }
}

void SqliteStore::write_ledger_locked(std::span<const core::LedgerRow> rows) {
  if (dims_ids_.size() > kMaxRememberedDims) dims_ids_.clear();
  if (next_in_ms_.size() > kMaxRememberedMs) {
    for (const auto& [ms, next] : next_in_ms_)
      numbered_up_to_ms_ = std::max(numbered_up_to_ms_, ms);
    next_in_ms_.clear();
  }
  // Made before any bind: the binds borrow these strings, and the rows', until the step.
  std::vector<std::string> tags_json;
  tags_json.reserve(rows.size());
  for (const auto& r : rows) tags_json.push_back(strings_to_json(r.tags));

  Transaction transaction(db_);
  std::vector<NumberedRow> numbered;
  numbered.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    numbered.push_back({&rows[i], next_row_id(rows[i].time_ms), dims_id(rows[i], tags_json[i])});

  // The daily rollup is summed here first: one upsert per (day, dims) of the batch rather than
  // one per row, which had cost as much as the row's own insert.
  struct DailyKey {
    std::int64_t day, dims;
    bool operator==(const DailyKey&) const = default;
  };
  struct DailyKeyHash {
    std::size_t operator()(const DailyKey& k) const {
      return std::hash<std::int64_t>()(k.day * 1'000'003 + k.dims);
    }
  };
  struct DailySums {
    const core::LedgerRow* row;  // one of the group's rows: its key, team, model and provider
    std::int64_t requests = 0, errors = 0, input = 0, output = 0, cached = 0, cache_write = 0,
                 reasoning = 0, cost = 0;
  };
  std::unordered_map<DailyKey, DailySums, DailyKeyHash> daily;
  for (const NumberedRow& n : numbered) {
    const core::LedgerRow& r = *n.row;
    DailySums& d = daily.try_emplace({floor_div(r.time_ms, 86'400'000), n.dims}, &r).first->second;
    ++d.requests;
    d.errors += r.status >= 400 || !r.error.empty() ? 1 : 0;
    d.input += r.input_tokens;
    d.output += r.output_tokens;
    d.cached += r.cached_tokens;
    d.cache_write += r.cache_write_tokens;
    d.reasoning += r.reasoning_tokens;
    d.cost += r.cost;
  }

  const std::span all(numbered);
  std::size_t done = 0;
  for (; all.size() - done >= kLedgerRowsPerInsert; done += kLedgerRowsPerInsert)
    insert_ledger(insert_ledger_rows_, all.subspan(done, kLedgerRowsPerInsert));
  for (; done < all.size(); ++done) insert_ledger(insert_ledger_, all.subspan(done, 1));
  using sqlite::Borrowed;
  for (const auto& [k, d] : daily) {
    upsert_daily_
        .bind(d.row->time_ms, Borrowed{d.row->key_id}, Borrowed{d.row->team_id},
              Borrowed{d.row->model}, Borrowed{d.row->provider}, d.requests, d.errors, d.input,
              d.output, d.cached, d.cache_write, d.reasoning, d.cost)
        .run();
  }
  transaction.commit();
}

// The row's ledger_dims id: remembered, else found in the file, else a new row.
std::int64_t SqliteStore::dims_id(const core::LedgerRow& r, std::string_view tags_json) {
  std::string fields;
  const std::string_view parts[] = {r.key_id, r.team_id, r.model, r.provider, r.user, tags_json};
  for (std::string_view part : parts) {
    const auto size = static_cast<std::uint32_t>(part.size());
    fields.append(reinterpret_cast<const char*>(&size), sizeof size).append(part);
  }
  auto [it, fresh] = dims_ids_.try_emplace(std::move(fields), 0);
  if (!fresh) return it->second;
  using sqlite::Borrowed;
  find_dims_.bind(Borrowed{r.key_id}, Borrowed{r.team_id}, Borrowed{r.model}, Borrowed{r.provider},
                  Borrowed{r.user}, Borrowed{tags_json});
  if (find_dims_.step()) {
    it->second = find_dims_.integer(0);
    find_dims_.finish();
  } else {
    insert_dims_
        .bind(Borrowed{r.key_id}, Borrowed{r.team_id}, Borrowed{r.model}, Borrowed{r.provider},
              Borrowed{r.user}, Borrowed{tags_json})
        .run();
    it->second = db_.last_insert_rowid();
  }
  return it->second;
}

// time_ms * 2^20 + the next number in that millisecond. 2^20 rows in one millisecond go on
// into the next one.
std::int64_t SqliteStore::next_row_id(std::int64_t time_ms) {
  time_ms = std::min(clamp_time_ms(time_ms), kMaxTimeMs - 1);
  for (;; ++time_ms) {
    auto [it, fresh] = next_in_ms_.try_emplace(time_ms, 0);
    if (fresh && time_ms <= numbered_up_to_ms_) {
      last_row_in_ms_.bind(first_row_id(time_ms), first_row_id(time_ms + 1));
      last_row_in_ms_.step();
      if (!last_row_in_ms_.is_null(0))
        it->second = last_row_in_ms_.integer(0) - first_row_id(time_ms) + 1;
      last_row_in_ms_.finish();
    }
    if (it->second < kRowsPerMs) return first_row_id(time_ms) + it->second++;
  }
}

// `insert` has a row of parameters for each of `rows`, all of them bound again each time.
void SqliteStore::insert_ledger(Statement& insert, std::span<const NumberedRow> rows) {
  using sqlite::Borrowed;
  insert.restart();
  int first = 1;
  for (const NumberedRow& n : rows) {
    const core::LedgerRow& r = *n.row;
    insert.bind_from(first, n.id, Borrowed{r.request_id}, n.dims, r.input_tokens, r.output_tokens,
                     r.cached_tokens, r.cache_write_tokens, r.reasoning_tokens, r.cost,
                     r.latency_ms, r.ttft_ms, r.status, Borrowed{r.error});
    first += kLedgerColumns;
  }
  insert.run();
}

// The report's group expression, and the rows it runs over (`r` is the request's row, `d` its
// ledger_dims row; ?1 and ?2 the first row ids of `from` and `to`).
std::string spend_sql(core::SpendGroup group) {
  using G = core::SpendGroup;
  std::string key;
  std::string from = " FROM ledger_requests r JOIN ledger_dims d ON d.id = r.dims";
  switch (group) {
    case G::key:
      key = "d.key_id";
      break;
    case G::team:
      key = "d.team_id";
      break;
    case G::model:
      key = "d.model";
      break;
    case G::provider:
      key = "d.provider";
      break;
    case G::user:
      key = "d.user";
      break;
    case G::day:
      key = day_of("(r.id >> 20)");
      break;
    case G::tag:
      // A tag given twice on one request still counts that request once.
      key = "t.tag";
      from +=
          " JOIN (SELECT DISTINCT d2.id AS dims_id, j.value AS tag FROM ledger_dims d2,"
          " json_each(d2.tags_json) j) t ON t.dims_id = d.id";
      break;
  }
  return "SELECT " + key + " AS g, " + spend_sums_sql() + from +
         " WHERE r.id >= ?1 AND r.id < ?2 GROUP BY g ORDER BY SUM(r.cost) DESC, g";
}

std::vector<core::SpendRow> SqliteStore::spend(const core::SpendQuery& q) {
  std::lock_guard lock(mutex_);
  Statement rows(db_, spend_sql(q.group));
  rows.bind(first_row_id(q.from_ms), first_row_id(q.to_ms));
  std::vector<core::SpendRow> report;
  while (rows.step())
    report.push_back({rows.text(0), rows.integer(1), rows.integer(2), rows.integer(3),
                      rows.integer(4), rows.integer(5), rows.integer(6), rows.integer(7),
                      rows.integer(8)});
  return report;
}

// The rollup's whole days from the first midnight at or after `from_ms`, and the ledger's rows
// before that midnight (none when `from_ms` is one, as calendar periods' starts are).
core::Micros SqliteStore::sum_cost(std::string_view column, std::string_view id,
                                   std::int64_t from_ms) {
  constexpr std::int64_t kDayMs = 86'400'000;
  const std::int64_t into_day = ((from_ms % kDayMs) + kDayMs) % kDayMs;
  const std::int64_t midnight = into_day == 0 ? from_ms : from_ms - into_day + kDayMs;
  const std::string c(column);
  std::lock_guard lock(mutex_);
  Statement sum(db_, "SELECT COALESCE((SELECT SUM(cost) FROM ledger_daily WHERE " + c +
                         " = ?1 AND day >= " + day_of("?2") +
                         "), 0) + COALESCE((SELECT SUM(r.cost) FROM ledger_requests r"
                         " JOIN ledger_dims d ON d.id = r.dims WHERE d." +
                         c + " = ?1 AND r.id >= ?3 AND r.id < ?4), 0)");
  sum.bind(id, midnight, first_row_id(from_ms), first_row_id(midnight));
  sum.step();
  return sum.integer(0);
}

}  // namespace

std::unique_ptr<GovernanceStore> open_sqlite_store(const std::string& path) {
  return std::make_unique<SqliteStore>(path);
}

}  // namespace switchyard::proxy
