#include "proxy/sqlite_store.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "proxy/sqlite_db.hpp"
#include "proxy/store_records.hpp"

namespace switchyard::proxy {
namespace {

using sqlite::Database;
using sqlite::Statement;
using sqlite::Transaction;

// PRAGMA user_version: a later version migrates from the number it finds.
// 2: the ledger's per-key and per-team indexes dropped for the daily rollup's (kMigrateTo2).
// 3: the ledger's rows kept in blocks (ledger_blocks, ledger_dims) behind a view `ledger`
//    with the old columns (kMigrateTo3).
constexpr int kSchemaVersion = 3;

constexpr std::int64_t kDayMs = 86'400'000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

// The first midnight (UTC) at or after `ms`.
std::int64_t midnight_at_or_after(std::int64_t ms) {
  const std::int64_t day_start = floor_div(ms, kDayMs) * kDayMs;
  if (day_start == ms) return ms;
  return day_start > INT64_MAX - kDayMs ? INT64_MAX : day_start + kDayMs;
}

// Rows per ledger block at most: a block's JSON stays a few hundred kilobytes.
constexpr std::size_t kRowsPerBlock = 4096;

// Lists, budgets' periods and model limits are JSON text: one row per record keeps load() one
// query per table, and SQLite's json_each still reaches inside them (the tag report).
//
// The ledger is one row per request to its readers (the view `ledger`), and is stored in
// blocks: the rows of one commit that share a key, team, user, tags, model, provider (one
// ledger_dims row) and UTC day are one ledger_blocks row, with their sums and their own
// fields as a JSON array. A table row per request had cost SQLite ~4-6k instructions each, a
// block ~300 per request. Reports add up whole blocks and open only those that straddle one
// of their bounds; as a block holds one day, those lie within a day of the bounds.
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
CREATE TABLE IF NOT EXISTS ledger_blocks (
  id INTEGER PRIMARY KEY, dims INTEGER NOT NULL, first_ms INTEGER NOT NULL,
  last_ms INTEGER NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, cost INTEGER NOT NULL,
  rows_json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_blocks_last ON ledger_blocks(last_ms);
CREATE TABLE IF NOT EXISTS ledger_daily (
  day TEXT NOT NULL, key_id TEXT NOT NULL, team_id TEXT NOT NULL, model TEXT NOT NULL,
  provider TEXT NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, cost INTEGER NOT NULL,
  PRIMARY KEY (day, key_id, team_id, model, provider));
CREATE INDEX IF NOT EXISTS ledger_daily_key ON ledger_daily(key_id, day);
CREATE INDEX IF NOT EXISTS ledger_daily_team ON ledger_daily(team_id, day);
)sql";

// A block's rows_json: an array of [request_id, time_ms, input_tokens, output_tokens,
// cached_tokens, cache_write_tokens, reasoning_tokens, cost, latency_ms, ttft_ms, status,
// error], in this order (ttft_ms null when there was none).
//
// The ledger as one table, for people reading the file (sqlite3 switchyard.db) and the
// gateway's own row tests: `id` orders rows as they were written.
constexpr std::string_view kLedgerView = R"sql(
CREATE VIEW IF NOT EXISTS ledger AS
SELECT b.id * 65536 + r.key AS id, r.value ->> 0 AS request_id, r.value ->> 1 AS time_ms,
  d.key_id AS key_id, d.team_id AS team_id, d.user AS user, d.tags_json AS tags_json,
  d.model AS model, d.provider AS provider, r.value ->> 2 AS input_tokens,
  r.value ->> 3 AS output_tokens, r.value ->> 4 AS cached_tokens,
  r.value ->> 5 AS cache_write_tokens, r.value ->> 6 AS reasoning_tokens, r.value ->> 7 AS cost,
  r.value ->> 8 AS latency_ms, r.value ->> 9 AS ttft_ms, r.value ->> 10 AS status,
  r.value ->> 11 AS error
FROM ledger_blocks b JOIN ledger_dims d ON d.id = b.dims, json_each(b.rows_json) r;
)sql";
static_assert(kRowsPerBlock < 65536, "the view's id numbers a block's rows below 65536");

// Every ledger row had updated an index per key and per team (a third of the writer's work):
// spend since a time now reads whole days from the rollup, whose indexes change only once per
// (day, key, team, model, provider) of a batch, and the first, partial day from the ledger.
constexpr std::string_view kMigrateTo2 = R"sql(
DROP INDEX IF EXISTS ledger_key_time;
DROP INDEX IF EXISTS ledger_team_time;
)sql";

// The one-table ledger of schemas 1 and 2 into blocks (of one dims and day, at most 4096 rows,
// in their old order); the old table and its indexes go.
constexpr std::string_view kMigrateTo3 = R"sql(
INSERT INTO ledger_dims (key_id, team_id, user, tags_json, model, provider)
  SELECT DISTINCT key_id, team_id, user, tags_json, model, provider FROM ledger;
INSERT INTO ledger_blocks (dims, first_ms, last_ms, requests, errors, input_tokens,
  output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost, rows_json)
  SELECT dims, MIN(time_ms), MAX(time_ms), COUNT(*), SUM(status >= 400 OR error <> ''),
    SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), SUM(cache_write_tokens),
    SUM(reasoning_tokens), SUM(cost),
    json_group_array(json_array(request_id, time_ms, input_tokens, output_tokens, cached_tokens,
      cache_write_tokens, reasoning_tokens, cost, latency_ms, ttft_ms, status, error))
  FROM (SELECT d.id AS dims, l.*, (row_number() OVER (PARTITION BY d.id, l.time_ms / 86400000
          ORDER BY l.id) - 1) / 4096 AS chunk
        FROM ledger l JOIN ledger_dims d ON d.key_id = l.key_id AND d.team_id = l.team_id
          AND d.user = l.user AND d.tags_json = l.tags_json AND d.model = l.model
          AND d.provider = l.provider
        ORDER BY l.id)
  GROUP BY dims, time_ms / 86400000, chunk
  ORDER BY MIN(id);
DROP TABLE ledger;
)sql";
static_assert(kRowsPerBlock == 4096 && kDayMs == 86'400'000, "kMigrateTo3 spells them out");

std::string insert_block_sql() {
  return "INSERT INTO ledger_blocks (dims, first_ms, last_ms, requests, errors, input_tokens,"
         " output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost, rows_json)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
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

// `parts`: the ledger's sums over from <= time_ms < to, as rows of (dims, time_ms, requests,
// errors, the five token kinds, cost), each one a whole block (time_ms its first row's: a block
// is one day's) or one row of a block that straddles a bound. ?F is `from`, ?T `to`, and ?E the
// first midnight at or after `to`: a block that straddles either bound ends before it.
std::string ledger_parts_sql(std::string_view f, std::string_view t, std::string_view e) {
  const std::string from(f), to(t), end(e);
  const std::string in_range = "b.last_ms >= " + from + " AND b.first_ms < " + to;
  const std::string whole = "b.first_ms >= " + from + " AND b.last_ms < " + to;
  return "parts AS (SELECT b.dims AS dims, b.first_ms AS time_ms, b.requests AS requests,"
         " b.errors AS errors, b.input_tokens AS input_tokens, b.output_tokens AS output_tokens,"
         " b.cached_tokens AS cached_tokens, b.cache_write_tokens AS cache_write_tokens,"
         " b.reasoning_tokens AS reasoning_tokens, b.cost AS cost FROM ledger_blocks b WHERE " +
         whole + " AND b.last_ms >= " + from + " UNION ALL SELECT b.dims, r.value ->> 1, 1, " +
         is_error("r.value ->> 10", "r.value ->> 11") +
         ", r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5, r.value ->> 6,"
         " r.value ->> 7 FROM ledger_blocks b, json_each(b.rows_json) r WHERE " +
         in_range + " AND b.last_ms < " + end + " AND NOT (" + whole +
         ") AND r.value ->> 1 >= " + from + " AND r.value ->> 1 < " + to + ")";
}

// The sums every report row has, over the `parts` rows named `p`.
std::string spend_sums_sql() {
  return "SUM(p.requests), SUM(p.errors), SUM(p.input_tokens), SUM(p.output_tokens),"
         " SUM(p.cached_tokens), SUM(p.cache_write_tokens), SUM(p.reasoning_tokens),"
         " SUM(p.cost)";
}

[[noreturn]] void corrupt(std::string_view what) { corrupt_record("sqlite", what); }

std::optional<core::BudgetSpec> read_budget(const Statement& row, int first_column) {
  if (row.is_null(first_column)) return std::nullopt;
  return budget_from_columns({row.integer(first_column), row.optional_integer(first_column + 1),
                              row.integer(first_column + 3), row.text(first_column + 2)},
                             "sqlite");
}

// Room for one ledger row in a block's JSON besides its two strings' characters: ten numbers
// of at most 20 characters, the brackets, commas and the strings' quotes.
constexpr std::size_t kIntRoom = 20;
constexpr std::size_t kRowJsonRoom = 10 * kIntRoom + 24;

// Writes `text` as a JSON string at `out`, which has room for 6 * text.size() + 2 (a control
// character becomes \u00XX), and returns the end.
char* put_json_string(char* out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  *out++ = '"';
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u == '"' || u == '\\') {
      *out++ = '\\';
      *out++ = c;
    } else if (u < 0x20) {
      out = std::copy_n("\\u00", 4, out);
      *out++ = kHex[u >> 4];
      *out++ = kHex[u & 15];
    } else {
      *out++ = c;
    }
  }
  *out++ = '"';
  return out;
}

class SqliteStore final : public GovernanceStore {
 public:
  explicit SqliteStore(const std::string& path)
      : db_(path),
        upsert_daily_(prepare_schema(), upsert_daily_sql()),
        insert_block_(db_, insert_block_sql()),
        find_dims_(db_,
                   "SELECT id FROM ledger_dims WHERE key_id = ?1 AND team_id = ?2 AND model = ?3"
                   " AND provider = ?4 AND user = ?5 AND tags_json = ?6"),
        insert_dims_(db_,
                     "INSERT INTO ledger_dims (key_id, team_id, model, provider, user, tags_json)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)") {}

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
  // One process writes this file: a batch is never sent twice, so `batch_id` is not kept.
  void write_ledger_batch(std::span<const core::LedgerRow> rows, std::string_view) override;
  std::vector<core::SpendRow> spend(const core::SpendQuery& q) override;

  core::Micros key_spend_since(std::string_view key_id, std::int64_t from_ms) override {
    return sum_cost("key_id", key_id, from_ms);
  }

  core::Micros team_spend_since(std::string_view team_id, std::int64_t from_ms) override {
    return sum_cost("team_id", team_id, from_ms);
  }

  std::int64_t ledger_row_count() override {
    std::lock_guard lock(mutex_);
    Statement count(db_, "SELECT COALESCE(SUM(requests), 0) FROM ledger_blocks");
    count.step();
    return count.integer(0);
  }

 private:
  // Runs before the kept statements are prepared: they need the tables.
  Database& prepare_schema();
  std::vector<core::TeamRecord> load_teams();
  std::vector<core::KeyRecord> load_keys();
  void write_ledger_locked(std::span<const core::LedgerRow> rows);
  void write_block(std::int64_t dims, std::span<const core::LedgerRow* const> rows);
  std::int64_t dims_id(const core::LedgerRow& row, std::string_view tags_json);
  static bool same_dims(const core::LedgerRow& a, const core::LedgerRow& b);
  core::Micros sum_cost(std::string_view column, std::string_view id, std::int64_t from_ms);

  std::mutex mutex_;
  Database db_;
  Statement upsert_daily_;
  Statement insert_block_;
  Statement find_dims_;
  Statement insert_dims_;

  // ledger_dims ids by their six fields (length-prefixed, concatenated), under mutex_; emptied
  // when full (the file answers again) and when a batch fails (its new rows were rolled back).
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>()(text);
    }
  };
  std::unordered_map<std::string, std::int64_t, TextHash, std::equal_to<>> dims_ids_;
  std::string dims_fields_;  // dims_id()'s scratch: one allocation for the store's life
  // write_block()'s scratch, grown as needed and never zero-filled (a string's resize had
  // cleared the room of every block's JSON first).
  std::unique_ptr<char[]> block_json_;
  std::size_t block_json_room_ = 0;
};

constexpr std::size_t kMaxRememberedDims = 65536;

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
    t.models = strings_from_json(rows.text(9), "sqlite");
    t.blocked = rows.integer(10) != 0;
    t.metadata_json = rows.text(11);
    t.created = wall_time_of_seconds(rows.integer(12));
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
    k.models = strings_from_json(rows.text(7), "sqlite");
    k.budget = read_budget(rows, 8);
    k.limits = {rows.integer(12), rows.integer(13), rows.integer(14)};
    k.model_limits = model_limits_from_json(rows.text(15), "sqlite");
    k.tags = strings_from_json(rows.text(16), "sqlite");
    k.metadata_json = rows.text(17);
    if (const auto expires_s = rows.optional_integer(18))
      k.expires = wall_time_of_seconds(*expires_s);
    k.blocked = rows.integer(19) != 0;
    k.created = wall_time_of_seconds(rows.integer(20));
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

void SqliteStore::write_ledger_batch(std::span<const core::LedgerRow> rows, std::string_view) {
  if (rows.empty()) return;
  std::lock_guard lock(mutex_);
  try {
    write_ledger_locked(rows);
  } catch (...) {
    // The transaction rolled back: the ledger_dims rows it added are gone, and so must be
    // their remembered ids.
    dims_ids_.clear();
    throw;
  }
}

void SqliteStore::write_ledger_locked(std::span<const core::LedgerRow> rows) {
  if (dims_ids_.size() > kMaxRememberedDims) dims_ids_.clear();
  Transaction transaction(db_);
  // The batch's rows by block: (dims, day), in the order they came.
  struct BlockKey {
    std::int64_t dims, day;
    bool operator==(const BlockKey&) const = default;
  };
  struct BlockKeyHash {
    std::size_t operator()(const BlockKey& k) const {
      return std::hash<std::int64_t>()(k.dims * 1'000'003 + k.day);
    }
  };
  std::unordered_map<BlockKey, std::vector<const core::LedgerRow*>, BlockKeyHash> blocks;
  // Rows come in runs from one key and model: a row like the one before it joins its block
  // without looking its dims up again.
  const core::LedgerRow* previous = nullptr;
  std::vector<const core::LedgerRow*>* previous_block = nullptr;
  for (const core::LedgerRow& r : rows) {
    const std::int64_t day = floor_div(r.time_ms, kDayMs);
    if (previous && floor_div(previous->time_ms, kDayMs) == day && same_dims(*previous, r)) {
      previous_block->push_back(&r);
    } else {
      previous_block = &blocks[{dims_id(r, strings_to_json(r.tags)), day}];
      previous_block->push_back(&r);
    }
    previous = &r;
  }
  for (const auto& [key, members] : blocks) {
    const std::span all(members);
    for (std::size_t at = 0; at < all.size(); at += kRowsPerBlock)
      write_block(key.dims, all.subspan(at, std::min(kRowsPerBlock, all.size() - at)));
  }
  transaction.commit();
}

// Whether two rows share their ledger_dims row.
bool SqliteStore::same_dims(const core::LedgerRow& a, const core::LedgerRow& b) {
  return a.key_id == b.key_id && a.team_id == b.team_id && a.model == b.model &&
         a.provider == b.provider && a.user == b.user && a.tags == b.tags;
}

// One ledger_blocks row, and its sums added to the daily rollup.
void SqliteStore::write_block(std::int64_t dims, std::span<const core::LedgerRow* const> rows) {
  struct Sums {
    std::int64_t first_ms = INT64_MAX, last_ms = INT64_MIN, errors = 0, input = 0, output = 0,
                 cached = 0, cache_write = 0, reasoning = 0, cost = 0;
  } sum;
  // The JSON is written through a pointer into room made once for the whole block: appending
  // each field to the string had cost ~1.4k instructions a row.
  std::size_t room = 2;
  for (const core::LedgerRow* row : rows)
    room += kRowJsonRoom + 6 * (row->request_id.size() + row->error.size());
  if (room > block_json_room_) {
    block_json_room_ = std::max(room, 2 * block_json_room_);
    block_json_ = std::make_unique_for_overwrite<char[]>(block_json_room_);
  }
  char* const start = block_json_.get();
  char* out = start;
  *out++ = '[';
  for (const core::LedgerRow* row : rows) {
    const core::LedgerRow& r = *row;
    sum.first_ms = std::min(sum.first_ms, r.time_ms);
    sum.last_ms = std::max(sum.last_ms, r.time_ms);
    sum.errors += r.status >= 400 || !r.error.empty() ? 1 : 0;
    sum.input += r.input_tokens;
    sum.output += r.output_tokens;
    sum.cached += r.cached_tokens;
    sum.cache_write += r.cache_write_tokens;
    sum.reasoning += r.reasoning_tokens;
    sum.cost += r.cost;
    if (row != rows.front()) *out++ = ',';
    *out++ = '[';
    out = put_json_string(out, r.request_id);
    for (std::int64_t n : {r.time_ms, r.input_tokens, r.output_tokens, r.cached_tokens,
                           r.cache_write_tokens, r.reasoning_tokens, r.cost, r.latency_ms}) {
      *out++ = ',';
      out = std::to_chars(out, out + kIntRoom, n).ptr;
    }
    *out++ = ',';
    if (r.ttft_ms) {
      out = std::to_chars(out, out + kIntRoom, *r.ttft_ms).ptr;
    } else {
      out = std::copy_n("null", 4, out);
    }
    *out++ = ',';
    out = std::to_chars(out, out + kIntRoom, r.status).ptr;
    *out++ = ',';
    out = put_json_string(out, r.error);
    *out++ = ']';
  }
  *out++ = ']';
  const std::string_view json(start, static_cast<std::size_t>(out - start));
  const auto requests = static_cast<std::int64_t>(rows.size());
  insert_block_
      .bind(dims, sum.first_ms, sum.last_ms, requests, sum.errors, sum.input, sum.output,
            sum.cached, sum.cache_write, sum.reasoning, sum.cost, sqlite::Borrowed{json})
      .run();
  const core::LedgerRow& r = *rows.front();  // the block's key, team, model and provider
  using sqlite::Borrowed;
  upsert_daily_
      .bind(sum.first_ms, Borrowed{r.key_id}, Borrowed{r.team_id}, Borrowed{r.model},
            Borrowed{r.provider}, requests, sum.errors, sum.input, sum.output, sum.cached,
            sum.cache_write, sum.reasoning, sum.cost)
      .run();
}

// The row's ledger_dims id: remembered, else found in the file, else a new row.
std::int64_t SqliteStore::dims_id(const core::LedgerRow& r, std::string_view tags_json) {
  std::string& fields = dims_fields_;
  fields.clear();
  for (std::string_view part :
       {std::string_view(r.key_id), std::string_view(r.team_id), std::string_view(r.model),
        std::string_view(r.provider), std::string_view(r.user), tags_json}) {
    const auto size = static_cast<std::uint32_t>(part.size());
    fields.append(reinterpret_cast<const char*>(&size), sizeof size).append(part);
  }
  if (const auto known = dims_ids_.find(std::string_view(fields)); known != dims_ids_.end())
    return known->second;
  using sqlite::Borrowed;
  std::int64_t id = 0;
  find_dims_.bind(Borrowed{r.key_id}, Borrowed{r.team_id}, Borrowed{r.model}, Borrowed{r.provider},
                  Borrowed{r.user}, Borrowed{tags_json});
  if (find_dims_.step()) {
    id = find_dims_.integer(0);
    find_dims_.finish();
  } else {
    insert_dims_
        .bind(Borrowed{r.key_id}, Borrowed{r.team_id}, Borrowed{r.model}, Borrowed{r.provider},
              Borrowed{r.user}, Borrowed{tags_json})
        .run();
    id = db_.last_insert_rowid();
  }
  dims_ids_.emplace(fields, id);
  return id;
}

// The report's group expression over `parts` (?1 from, ?2 to, ?3 the midnight at or after
// `to`), joined with each part's ledger_dims row `d`.
std::string spend_sql(core::SpendGroup group) {
  using G = core::SpendGroup;
  std::string key;
  std::string from = " FROM parts p JOIN ledger_dims d ON d.id = p.dims";
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
      key = day_of("p.time_ms");
      break;
    case G::tag:
      // A tag given twice on one request still counts that request once.
      key = "t.tag";
      from +=
          " JOIN (SELECT DISTINCT d2.id AS dims_id, j.value AS tag FROM ledger_dims d2,"
          " json_each(d2.tags_json) j) t ON t.dims_id = d.id";
      break;
  }
  return "WITH " + ledger_parts_sql("?1", "?2", "?3") + " SELECT " + key + " AS g, " +
         spend_sums_sql() + from + " GROUP BY g ORDER BY SUM(p.cost) DESC, g";
}

std::vector<core::SpendRow> SqliteStore::spend(const core::SpendQuery& q) {
  std::lock_guard lock(mutex_);
  Statement rows(db_, spend_sql(q.group));
  rows.bind(q.from_ms, q.to_ms, midnight_at_or_after(q.to_ms));
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
  const std::int64_t midnight = midnight_at_or_after(from_ms);
  const std::string c(column);
  std::lock_guard lock(mutex_);
  Statement sum(db_, "WITH " + ledger_parts_sql("?2", "?3", "?3") +
                         " SELECT COALESCE((SELECT SUM(cost) FROM ledger_daily WHERE " + c +
                         " = ?1 AND day >= " + day_of("?3") +
                         "), 0) + COALESCE((SELECT SUM(p.cost) FROM parts p"
                         " JOIN ledger_dims d ON d.id = p.dims WHERE d." +
                         c + " = ?1), 0)");
  sum.bind(id, from_ms, midnight);
  sum.step();
  return sum.integer(0);
}

}  // namespace

std::unique_ptr<GovernanceStore> open_sqlite_store(const std::string& path) {
  return std::make_unique<SqliteStore>(path);
}

}  // namespace switchyard::proxy
