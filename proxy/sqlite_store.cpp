#include "proxy/sqlite_store.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <mutex>
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
constexpr int kSchemaVersion = 2;

// Lists, budgets' periods and model limits are JSON text: one row per record keeps load() one
// query per table, and SQLite's json_each still reaches inside them (the tag report).
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
CREATE TABLE IF NOT EXISTS ledger (
  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, time_ms INTEGER NOT NULL,
  key_id TEXT NOT NULL, team_id TEXT NOT NULL, user TEXT NOT NULL, tags_json TEXT NOT NULL,
  model TEXT NOT NULL, provider TEXT NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
  cost INTEGER NOT NULL, latency_ms INTEGER NOT NULL, ttft_ms INTEGER, status INTEGER NOT NULL,
  error TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_time ON ledger(time_ms);
CREATE TABLE IF NOT EXISTS ledger_daily (
  day TEXT NOT NULL, key_id TEXT NOT NULL, team_id TEXT NOT NULL, model TEXT NOT NULL,
  provider TEXT NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, cost INTEGER NOT NULL,
  PRIMARY KEY (day, key_id, team_id, model, provider));
CREATE INDEX IF NOT EXISTS ledger_daily_key ON ledger_daily(key_id, day);
CREATE INDEX IF NOT EXISTS ledger_daily_team ON ledger_daily(team_id, day);
)sql";

// Every ledger row had updated an index per key and per team (a third of the writer's work):
// spend since a time now reads whole days from the rollup, whose indexes change only once per
// (day, key, team, model, provider) of a batch, and the first, partial day from ledger_time.
constexpr std::string_view kMigrateTo2 = R"sql(
DROP INDEX IF EXISTS ledger_key_time;
DROP INDEX IF EXISTS ledger_team_time;
)sql";

constexpr int kLedgerColumns = 18;
// Rows per multi-row INSERT, the rest of a batch going one by one: 32 rows bind 576
// parameters, under the 999 that SQLite before 3.32 allows a statement.
constexpr std::size_t kLedgerRowsPerInsert = 32;
static_assert(kLedgerColumns * kLedgerRowsPerInsert <= 999);

std::string insert_ledger_sql(std::size_t rows) {
  std::string sql =
      "INSERT INTO ledger (request_id, time_ms, key_id, team_id, user, tags_json, model,"
      " provider, input_tokens, output_tokens, cached_tokens, cache_write_tokens,"
      " reasoning_tokens, cost, latency_ms, ttft_ms, status, error) VALUES ";
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

// The sums every report row has, over the ledger rows named `l`.
std::string spend_sums_sql() {
  return "COUNT(*), SUM(" + is_error("l.status", "l.error") +
         "), SUM(l.input_tokens), SUM(l.output_tokens), SUM(l.cached_tokens),"
         " SUM(l.cache_write_tokens), SUM(l.reasoning_tokens), SUM(l.cost)";
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
        upsert_daily_(db_, upsert_daily_sql()) {}

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
    Statement count(db_, "SELECT COUNT(*) FROM ledger");
    count.step();
    return count.integer(0);
  }

 private:
  // Runs before the kept statements are prepared: they need the tables.
  Database& prepare_schema();
  std::vector<core::TeamRecord> load_teams();
  std::vector<core::KeyRecord> load_keys();
  void insert_ledger(Statement& insert, std::span<const core::LedgerRow> rows,
                     std::span<const std::string> tags_json);
  core::Micros sum_cost(std::string_view column, std::string_view id, std::int64_t from_ms);

  std::mutex mutex_;
  Database db_;
  Statement insert_ledger_;       // one row
  Statement insert_ledger_rows_;  // kLedgerRowsPerInsert rows
  Statement upsert_daily_;
};

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
  Transaction transaction(db_);
  db_.exec(kSchema);
  if (found < 2) db_.exec(kMigrateTo2);
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

void SqliteStore::write_ledger(std::span<const core::LedgerRow> rows) {
  if (rows.empty()) return;
  // The daily rollup is summed here first: one upsert per (day, key, team, model, provider) of
  // the batch rather than one per row, which had cost as much as the row's own insert.
  struct DailyKey {
    std::int64_t day;
    std::string_view key_id, team_id, model, provider;
    auto operator<=>(const DailyKey&) const = default;
  };
  struct DailySums {
    std::int64_t time_ms = 0;  // one of the rows' times: SQL turns it into the day's text
    std::int64_t requests = 0, errors = 0, input = 0, output = 0, cached = 0, cache_write = 0,
                 reasoning = 0, cost = 0;
  };
  std::map<DailyKey, DailySums> daily;
  for (const auto& r : rows) {
    // Floor division: a time before 1970 belongs to the day before.
    const std::int64_t day =
        r.time_ms >= 0 ? r.time_ms / 86'400'000 : (r.time_ms - 86'399'999) / 86'400'000;
    DailySums& d = daily[DailyKey{day, r.key_id, r.team_id, r.model, r.provider}];
    d.time_ms = r.time_ms;
    ++d.requests;
    d.errors += r.status >= 400 || !r.error.empty() ? 1 : 0;
    d.input += r.input_tokens;
    d.output += r.output_tokens;
    d.cached += r.cached_tokens;
    d.cache_write += r.cache_write_tokens;
    d.reasoning += r.reasoning_tokens;
    d.cost += r.cost;
  }
  // Made before any bind: the binds borrow these strings, and the rows', until the step.
  std::vector<std::string> tags_json;
  tags_json.reserve(rows.size());
  for (const auto& r : rows) tags_json.push_back(strings_to_json(r.tags));
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  std::size_t done = 0;
  for (; rows.size() - done >= kLedgerRowsPerInsert; done += kLedgerRowsPerInsert)
    insert_ledger(insert_ledger_rows_, rows.subspan(done, kLedgerRowsPerInsert),
                  std::span(tags_json).subspan(done, kLedgerRowsPerInsert));
  for (; done < rows.size(); ++done)
    insert_ledger(insert_ledger_, rows.subspan(done, 1), std::span(tags_json).subspan(done, 1));
  using sqlite::Borrowed;
  for (const auto& [k, d] : daily) {
    upsert_daily_
        .bind(d.time_ms, Borrowed{k.key_id}, Borrowed{k.team_id}, Borrowed{k.model},
              Borrowed{k.provider}, d.requests, d.errors, d.input, d.output, d.cached,
              d.cache_write, d.reasoning, d.cost)
        .run();
  }
  transaction.commit();
}

// `insert` has a row of parameters for each of `rows`.
void SqliteStore::insert_ledger(Statement& insert, std::span<const core::LedgerRow> rows,
                                std::span<const std::string> tags_json) {
  using sqlite::Borrowed;
  insert.restart();
  int first = 1;
  for (std::size_t i = 0; i < rows.size(); ++i, first += kLedgerColumns) {
    const core::LedgerRow& r = rows[i];
    insert.bind_from(first, Borrowed{r.request_id}, r.time_ms, Borrowed{r.key_id},
                     Borrowed{r.team_id}, Borrowed{r.user}, Borrowed{tags_json[i]},
                     Borrowed{r.model}, Borrowed{r.provider}, r.input_tokens, r.output_tokens,
                     r.cached_tokens, r.cache_write_tokens, r.reasoning_tokens, r.cost,
                     r.latency_ms, r.ttft_ms, r.status, Borrowed{r.error});
  }
  insert.run();
}

// The report's group expression, and the rows it runs over (`l` is the ledger row).
std::string spend_sql(core::SpendGroup group) {
  using G = core::SpendGroup;
  std::string key;
  std::string from = " FROM ledger l";
  switch (group) {
    case G::key:
      key = "l.key_id";
      break;
    case G::team:
      key = "l.team_id";
      break;
    case G::model:
      key = "l.model";
      break;
    case G::provider:
      key = "l.provider";
      break;
    case G::user:
      key = "l.user";
      break;
    case G::day:
      key = day_of("l.time_ms");
      break;
    case G::tag:
      // A tag given twice on one request still counts that request once.
      key = "t.tag";
      from +=
          " JOIN (SELECT DISTINCT l2.id AS row_id, j.value AS tag FROM ledger l2,"
          " json_each(l2.tags_json) j WHERE l2.time_ms >= ?1 AND l2.time_ms < ?2) t"
          " ON t.row_id = l.id";
      break;
  }
  return "SELECT " + key + " AS g, " + spend_sums_sql() + from +
         " WHERE l.time_ms >= ?1 AND l.time_ms < ?2 GROUP BY g ORDER BY SUM(l.cost) DESC, g";
}

std::vector<core::SpendRow> SqliteStore::spend(const core::SpendQuery& q) {
  std::lock_guard lock(mutex_);
  Statement rows(db_, spend_sql(q.group));
  rows.bind(q.from_ms, q.to_ms);
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
                         " = ?1 AND day >= " + day_of("?3") +
                         "), 0) + COALESCE((SELECT SUM(cost) FROM ledger WHERE " + c +
                         " = ?1 AND time_ms >= ?2 AND time_ms < ?3), 0)");
  sum.bind(id, from_ms, midnight);
  sum.step();
  return sum.integer(0);
}

}  // namespace

std::unique_ptr<GovernanceStore> open_sqlite_store(const std::string& path) {
  return std::make_unique<SqliteStore>(path);
}

}  // namespace switchyard::proxy
