#include "proxy/postgres_store.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <mutex>

#include "proxy/postgres_db.hpp"
#include "proxy/store_records.hpp"

namespace switchyard::proxy {
namespace {

using postgres::Connection;
using postgres::ConnectionPool;
using postgres::Param;
using postgres::Result;
using postgres::Transaction;

constexpr std::string_view kStore = "postgres";
// Any fixed number, the same in every replica: pg_advisory_lock's key for migrating.
constexpr std::int64_t kMigrationLock = 0x5357'5944'0001;  // "SWYD", 1

constexpr std::int64_t kDayMs = 86'400'000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

std::string param(std::int64_t value) { return postgres::integer_param(value); }

std::optional<std::string> param(const std::optional<std::int64_t>& value) {
  if (!value) return std::nullopt;
  return param(*value);
}

Param view(const std::optional<std::string>& text) {
  return text ? Param(std::string_view(*text)) : Param();
}

std::string_view boolean(bool b) { return b ? "true" : "false"; }

// A report's day: the UTC date of a unix-millisecond column, as YYYY-MM-DD.
std::string day_of(std::string_view ms) {
  std::string sql = "to_char(DATE '1970-01-01' + floor(";
  return sql.append(ms).append("::numeric / 86400000)::integer, 'YYYY-MM-DD')");
}

constexpr std::string_view kIsError = "(status >= 400 OR error <> '')";

std::string spend_sums() {
  return "count(*)::bigint, (count(*) FILTER (WHERE " + std::string(kIsError) +
         "))::bigint, sum(input_tokens)::bigint, sum(output_tokens)::bigint,"
         " sum(cached_tokens)::bigint, sum(cache_write_tokens)::bigint,"
         " sum(reasoning_tokens)::bigint, sum(cost)::bigint";
}

// Appends `text` in COPY's text format: backslash, tab, newline and carriage return escaped.
void put_copy_text(std::string& out, std::string_view text) {
  for (const char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

void put_copy_integer(std::string& out, std::int64_t n) {
  std::array<char, 24> digits{};
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), n).ptr;
  out.append(digits.data(), end);
}

// The ledger's columns in the order of the table and of each COPY line.
constexpr std::string_view kLedgerColumns =
    "request_id, time_ms, key_id, team_id, end_user, tags_json, model, provider, input_tokens,"
    " output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost, latency_ms,"
    " ttft_ms, status, error";

void put_copy_row(std::string& out, const core::LedgerRow& r) {
  put_copy_text(out, r.request_id);
  out += '\t';
  put_copy_integer(out, r.time_ms);
  for (std::string_view text :
       {std::string_view(r.key_id), std::string_view(r.team_id), std::string_view(r.user)}) {
    out += '\t';
    put_copy_text(out, text);
  }
  out += '\t';
  put_copy_text(out, strings_to_json(r.tags));
  for (std::string_view text : {std::string_view(r.model), std::string_view(r.provider)}) {
    out += '\t';
    put_copy_text(out, text);
  }
  for (std::int64_t n : {r.input_tokens, r.output_tokens, r.cached_tokens, r.cache_write_tokens,
                         r.reasoning_tokens, r.cost, r.latency_ms}) {
    out += '\t';
    put_copy_integer(out, n);
  }
  out += '\t';
  if (r.ttft_ms) {
    put_copy_integer(out, *r.ttft_ms);
  } else {
    out += "\\N";
  }
  out += '\t';
  put_copy_integer(out, r.status);
  out += '\t';
  put_copy_text(out, r.error);
  out += '\n';
}

BudgetColumns budget_of(const Result& rows, int row, int first_column) {
  return {rows.optional_integer(row, first_column), rows.optional_integer(row, first_column + 1),
          rows.optional_integer(row, first_column + 3),
          rows.is_null(row, first_column + 2)
              ? std::nullopt
              : std::optional<std::string>(rows.text(row, first_column + 2))};
}

class PostgresStore final : public GovernanceStore {
 public:
  explicit PostgresStore(const PostgresStoreOptions& options)
      : options_(options),
        pool_(postgres::ConnectOptions{options.url, options.connect_timeout, "switchyard"},
              options.pool) {
    if (::pipe2(wake_pipe_.data(), O_CLOEXEC | O_NONBLOCK) != 0)
      throw StoreError("postgres: cannot make the change listener's pipe", false);
    pool_.with([this](Connection& c) { migrate(c); });
  }

  ~PostgresStore() override {
    for (const int fd : wake_pipe_) ::close(fd);
  }

  Snapshot load() override {
    Snapshot s;
    pool_.with([&](Connection& c) {
      // One snapshot of both tables: a key never names a team the same load misses.
      Transaction t(c);
      c.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      s.teams = load_teams(c);
      s.keys = load_keys(c);
      t.commit();
    });
    return s;
  }

  void put_team(const core::TeamRecord& t) override;
  void put_key(const core::KeyRecord& k) override;
  void delete_team(std::string_view id) override {
    change(id, [&](Connection& c) { c.query("DELETE FROM teams WHERE id = $1", {id}); });
  }
  void delete_key(std::string_view id) override {
    change(id, [&](Connection& c) { c.query("DELETE FROM keys WHERE id = $1", {id}); });
  }

  void append_audit(const AuditEntry& e) override {
    const std::string time = param(e.time_ms);
    pool_.with([&](Connection& c) {
      c.query(
          "INSERT INTO audit (time_ms, actor, action, target, detail_json)"
          " VALUES ($1, $2, $3, $4, $5)",
          {time, e.actor, e.action, e.target, e.detail_json});
    });
  }

  std::vector<AuditEntry> audit(std::int64_t from_ms, std::int64_t to_ms,
                                std::size_t limit) override {
    const std::string from = param(from_ms), to = param(to_ms),
                      capped =
                          param(static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    std::vector<AuditEntry> entries;
    pool_.with([&](Connection& c) {
      entries.clear();
      const Result rows = c.query(
          "SELECT time_ms, actor, action, target, detail_json FROM audit"
          " WHERE time_ms >= $1 AND time_ms < $2 ORDER BY time_ms, id LIMIT $3",
          {from, to, capped});
      for (int i = 0; i < rows.rows(); ++i)
        entries.push_back({rows.integer(i, 0), std::string(rows.text(i, 1)),
                           std::string(rows.text(i, 2)), std::string(rows.text(i, 3)),
                           std::string(rows.text(i, 4))});
    });
    return entries;
  }

  void write_ledger_batch(std::span<const core::LedgerRow> rows,
                          std::string_view batch_id) override;
  std::vector<core::SpendRow> spend(const core::SpendQuery& q) override;

  core::Micros key_spend_since(std::string_view key_id, std::int64_t from_ms) override {
    return sum_cost("key_id", key_id, from_ms);
  }
  core::Micros team_spend_since(std::string_view team_id, std::int64_t from_ms) override {
    return sum_cost("team_id", team_id, from_ms);
  }

  std::int64_t ledger_row_count() override {
    std::int64_t n = 0;
    pool_.with([&](Connection& c) { n = c.query("SELECT count(*) FROM ledger").integer(0, 0); });
    return n;
  }

  bool shared() const override { return true; }
  bool wait_for_change(std::chrono::milliseconds timeout) override;
  void interrupt_waits() override {
    const char byte = 1;
    // A full pipe already wakes every wait: nothing to do when the write cannot go in.
    [[maybe_unused]] const auto ignored = ::write(wake_pipe_[1], &byte, 1);
  }

 private:
  void migrate(Connection& c);
  static std::vector<core::TeamRecord> load_teams(Connection& c);
  static std::vector<core::KeyRecord> load_keys(Connection& c);
  // `write` in a transaction that also tells the other replicas `id` changed.
  template <class Write>
  void change(std::string_view id, Write&& write) {
    pool_.with([&](Connection& c) {
      Transaction t(c);
      write(c);
      c.query("SELECT pg_notify($1, $2)", {kAccountsChannel, id});
      t.commit();
    });
  }
  core::Micros sum_cost(std::string_view column, std::string_view id, std::int64_t from_ms);

  PostgresStoreOptions options_;
  ConnectionPool pool_;
  // The LISTEN connection, used by wait_for_change's one caller (the account sync thread).
  std::mutex listen_mutex_;
  std::unique_ptr<Connection> listener_;
  std::array<int, 2> wake_pipe_{-1, -1};
};

void PostgresStore::migrate(Connection& c) {
  c.query("SELECT pg_advisory_lock($1)", {param(kMigrationLock)});
  try {
    c.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
        " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    const std::int64_t found =
        c.query("SELECT COALESCE(max(version), 0) FROM schema_migrations").integer(0, 0);
    const auto& all = postgres_migrations();
    const int known = all.empty() ? 0 : all.back().version;
    if (found > known)
      throw StoreError("postgres: the database has schema " + std::to_string(found) +
                           ", newer than this gateway's " + std::to_string(known),
                       false);
    for (const Migration& m : all) {
      if (m.version <= found) continue;
      Transaction t(c);
      c.exec(m.sql);
      c.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
              {param(m.version), m.name});
      t.commit();
      if (options_.log)
        options_.log("postgres: applied migration " + std::to_string(m.version) + " (" +
                     std::string(m.name) + ")");
    }
  } catch (...) {
    if (c.good()) c.query("SELECT pg_advisory_unlock($1)", {param(kMigrationLock)});
    throw;
  }
  c.query("SELECT pg_advisory_unlock($1)", {param(kMigrationLock)});
}

void PostgresStore::put_team(const core::TeamRecord& t) {
  const BudgetColumns b = budget_columns(t.budget);
  const std::optional<std::string> max = param(b.max), soft = param(b.soft),
                                   anchor = param(b.anchor_s);
  const std::string rpm = param(t.limits.rpm), tpm = param(t.limits.tpm),
                    parallel = param(t.limits.parallel), created = param(seconds_of(t.created)),
                    models = strings_to_json(t.models);
  // An upsert on the id alone: a taken name is refused (unique), never replaces the other team.
  change(t.id, [&](Connection& c) {
    c.query(R"sql(
INSERT INTO teams (id, name, budget_max, budget_soft, budget_period, budget_anchor_s, rpm, tpm,
  parallel, models_json, blocked, metadata_json, created_s)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, budget_max = excluded.budget_max,
  budget_soft = excluded.budget_soft, budget_period = excluded.budget_period,
  budget_anchor_s = excluded.budget_anchor_s, rpm = excluded.rpm, tpm = excluded.tpm,
  parallel = excluded.parallel, models_json = excluded.models_json, blocked = excluded.blocked,
  metadata_json = excluded.metadata_json, created_s = excluded.created_s)sql",
            {t.id, t.name, view(max), view(soft), view(b.period), view(anchor), rpm, tpm, parallel,
             models, boolean(t.blocked), t.metadata_json, created});
  });
}

void PostgresStore::put_key(const core::KeyRecord& k) {
  const BudgetColumns b = budget_columns(k.budget);
  const std::optional<std::string> max = param(b.max), soft = param(b.soft),
                                   anchor = param(b.anchor_s);
  const std::optional<std::string> expires =
      k.expires ? std::optional(param(seconds_of(*k.expires))) : std::nullopt;
  const std::string hash = postgres::bytea_param(k.hash), rpm = param(k.limits.rpm),
                    tpm = param(k.limits.tpm), parallel = param(k.limits.parallel),
                    created = param(seconds_of(k.created)), models = strings_to_json(k.models),
                    model_limits = model_limits_to_json(k.model_limits),
                    tags = strings_to_json(k.tags);
  change(k.id, [&](Connection& c) {
    c.query(R"sql(
INSERT INTO keys (id, alias, hash, hint, role, team_id, end_user, models_json, budget_max,
  budget_soft, budget_period, budget_anchor_s, rpm, tpm, parallel, model_limits_json, tags_json,
  metadata_json, expires_s, blocked, created_s)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
  $20, $21)
ON CONFLICT (id) DO UPDATE SET alias = excluded.alias, hash = excluded.hash,
  hint = excluded.hint, role = excluded.role, team_id = excluded.team_id,
  end_user = excluded.end_user, models_json = excluded.models_json,
  budget_max = excluded.budget_max, budget_soft = excluded.budget_soft,
  budget_period = excluded.budget_period, budget_anchor_s = excluded.budget_anchor_s,
  rpm = excluded.rpm, tpm = excluded.tpm, parallel = excluded.parallel,
  model_limits_json = excluded.model_limits_json, tags_json = excluded.tags_json,
  metadata_json = excluded.metadata_json, expires_s = excluded.expires_s,
  blocked = excluded.blocked, created_s = excluded.created_s)sql",
            {k.id,
             k.alias,
             hash,
             k.hint,
             core::key_role_name(k.role),
             k.team_id,
             k.user,
             models,
             view(max),
             view(soft),
             view(b.period),
             view(anchor),
             rpm,
             tpm,
             parallel,
             model_limits,
             tags,
             k.metadata_json,
             view(expires),
             boolean(k.blocked),
             created});
  });
}

std::vector<core::TeamRecord> PostgresStore::load_teams(Connection& c) {
  const Result rows = c.query(R"sql(
SELECT id, name, budget_max, budget_soft, budget_period, budget_anchor_s, rpm, tpm, parallel,
  models_json, blocked, metadata_json, created_s FROM teams ORDER BY created_s, id COLLATE "C")sql");
  std::vector<core::TeamRecord> teams;
  for (int i = 0; i < rows.rows(); ++i) {
    core::TeamRecord& t = teams.emplace_back();
    t.id = rows.text(i, 0);
    t.name = rows.text(i, 1);
    t.budget = budget_from_columns(budget_of(rows, i, 2), kStore);
    t.limits = {rows.integer(i, 6), rows.integer(i, 7), rows.integer(i, 8)};
    t.models = strings_from_json(rows.text(i, 9), kStore);
    t.blocked = rows.boolean(i, 10);
    t.metadata_json = rows.text(i, 11);
    t.created = wall_time_of_seconds(rows.integer(i, 12));
  }
  return teams;
}

std::vector<core::KeyRecord> PostgresStore::load_keys(Connection& c) {
  const Result rows = c.query(R"sql(
SELECT id, alias, hash, hint, role, team_id, end_user, models_json, budget_max, budget_soft,
  budget_period, budget_anchor_s, rpm, tpm, parallel, model_limits_json, tags_json,
  metadata_json, expires_s, blocked, created_s FROM keys ORDER BY created_s, id COLLATE "C")sql");
  std::vector<core::KeyRecord> keys;
  for (int i = 0; i < rows.rows(); ++i) {
    core::KeyRecord& k = keys.emplace_back();
    k.id = rows.text(i, 0);
    k.alias = rows.text(i, 1);
    const std::vector<std::uint8_t> hash = rows.bytes(i, 2);
    if (hash.size() != k.hash.size()) corrupt_record(kStore, "key hash");
    std::copy(hash.begin(), hash.end(), k.hash.begin());
    k.hint = rows.text(i, 3);
    const auto role = core::parse_key_role(rows.text(i, 4));
    if (!role) corrupt_record(kStore, "key role");
    k.role = *role;
    k.team_id = rows.text(i, 5);
    k.user = rows.text(i, 6);
    k.models = strings_from_json(rows.text(i, 7), kStore);
    k.budget = budget_from_columns(budget_of(rows, i, 8), kStore);
    k.limits = {rows.integer(i, 12), rows.integer(i, 13), rows.integer(i, 14)};
    k.model_limits = model_limits_from_json(rows.text(i, 15), kStore);
    k.tags = strings_from_json(rows.text(i, 16), kStore);
    k.metadata_json = rows.text(i, 17);
    if (const auto expires_s = rows.optional_integer(i, 18))
      k.expires = wall_time_of_seconds(*expires_s);
    k.blocked = rows.boolean(i, 19);
    k.created = wall_time_of_seconds(rows.integer(i, 20));
  }
  return keys;
}

void PostgresStore::write_ledger_batch(std::span<const core::LedgerRow> rows,
                                       std::string_view batch_id) {
  if (rows.empty()) return;
  std::string data;
  data.reserve(rows.size() * 200);
  for (const core::LedgerRow& r : rows) put_copy_row(data, r);
  const std::string count = param(static_cast<std::int64_t>(rows.size()));
  pool_.with([&](Connection& c) {
    Transaction t(c);
    if (!batch_id.empty()) {
      const Result seen = c.query(
          "INSERT INTO ledger_batches (id, rows) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING"
          " RETURNING 1",
          {batch_id, count});
      if (seen.rows() == 0) return;  // written before: the transaction rolls back, empty
    }
    // The batch goes into a table of this session's first, so the rollup reads exactly it.
    c.exec("CREATE TEMP TABLE IF NOT EXISTS ledger_incoming (LIKE ledger) ON COMMIT DELETE ROWS");
    c.copy_in("COPY ledger_incoming (" + std::string(kLedgerColumns) + ") FROM STDIN", data);
    c.exec("INSERT INTO ledger SELECT * FROM ledger_incoming");
    // In the primary key's order, so two replicas adding to the same days never deadlock.
    c.exec(
        "INSERT INTO ledger_daily (day, key_id, team_id, model, provider, requests, errors,"
        " input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,"
        " cost) SELECT DATE '1970-01-01' + floor(time_ms::numeric / 86400000)::integer AS day,"
        " key_id, team_id, model, provider, " +
        spend_sums() +
        " FROM ledger_incoming GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
        " ON CONFLICT (day, key_id, team_id, model, provider) DO UPDATE SET"
        " requests = ledger_daily.requests + excluded.requests,"
        " errors = ledger_daily.errors + excluded.errors,"
        " input_tokens = ledger_daily.input_tokens + excluded.input_tokens,"
        " output_tokens = ledger_daily.output_tokens + excluded.output_tokens,"
        " cached_tokens = ledger_daily.cached_tokens + excluded.cached_tokens,"
        " cache_write_tokens = ledger_daily.cache_write_tokens + excluded.cache_write_tokens,"
        " reasoning_tokens = ledger_daily.reasoning_tokens + excluded.reasoning_tokens,"
        " cost = ledger_daily.cost + excluded.cost");
    t.commit();
  });
}

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
      key = "l.end_user";
      break;
    case G::day:
      key = day_of("l.time_ms");
      break;
    case G::tag:
      // A tag given twice on one request still counts that request once.
      key = "t.tag";
      from +=
          " CROSS JOIN LATERAL (SELECT DISTINCT value AS tag"
          " FROM json_array_elements_text(l.tags_json::json)) t";
      break;
  }
  return "SELECT " + key + " AS g, " + spend_sums() + from +
         " WHERE l.time_ms >= $1 AND l.time_ms < $2 GROUP BY g"
         " ORDER BY sum(l.cost) DESC, " +
         key + " COLLATE \"C\"";
}

std::vector<core::SpendRow> PostgresStore::spend(const core::SpendQuery& q) {
  const std::string from = param(q.from_ms), to = param(q.to_ms);
  std::vector<core::SpendRow> report;
  pool_.with([&](Connection& c) {
    report.clear();
    const Result rows = c.query(spend_sql(q.group), {from, to});
    for (int i = 0; i < rows.rows(); ++i)
      report.push_back({std::string(rows.text(i, 0)), rows.integer(i, 1), rows.integer(i, 2),
                        rows.integer(i, 3), rows.integer(i, 4), rows.integer(i, 5),
                        rows.integer(i, 6), rows.integer(i, 7), rows.integer(i, 8)});
  });
  return report;
}

// The rollup's whole days from the first midnight at or after `from_ms`, and the ledger's rows
// before that midnight.
core::Micros PostgresStore::sum_cost(std::string_view column, std::string_view id,
                                     std::int64_t from_ms) {
  const std::int64_t day =
      floor_div(from_ms, kDayMs) + (floor_div(from_ms, kDayMs) * kDayMs == from_ms ? 0 : 1);
  // Past the last day a date can hold, the rollup has nothing and the ledger has every row.
  constexpr std::int64_t kLastDay = 2'900'000;  // days after 1970: about the year 9900
  const bool whole_days = day <= kLastDay;
  const std::int64_t midnight = whole_days ? day * kDayMs : INT64_MAX;
  const std::string c(column), from = param(from_ms), until = param(midnight),
                               first_day = param(std::min(day, kLastDay));
  core::Micros total = 0;
  pool_.with([&](Connection& conn) {
    total = conn.query("SELECT COALESCE((SELECT sum(cost) FROM ledger_daily WHERE " + c +
                           " = $1 AND day >= DATE '1970-01-01' + $4::integer AND $5), 0)::bigint"
                           " + COALESCE((SELECT sum(cost) FROM ledger WHERE " +
                           c + " = $1 AND time_ms >= $2 AND time_ms < $3), 0)::bigint",
                       {id, from, until, first_day, boolean(whole_days)})
                .integer(0, 0);
  });
  return total;
}

bool PostgresStore::wait_for_change(std::chrono::milliseconds timeout) {
  std::lock_guard lock(listen_mutex_);
  bool missed = false;
  if (!listener_ || !listener_->good()) {
    try {
      listener_ = std::make_unique<Connection>(pool_.options());
      listener_->exec("LISTEN " + std::string(kAccountsChannel));
      missed = true;  // whatever changed while no one listened
    } catch (const StoreError& e) {
      listener_.reset();
      if (options_.log)
        options_.log(std::string("postgres: cannot listen for changes: ") + e.what());
    }
  }
  if (missed) return true;
  std::array<pollfd, 2> fds{};
  fds[0] = {listener_ ? listener_->socket() : -1, POLLIN, 0};
  fds[1] = {wake_pipe_[0], POLLIN, 0};
  const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  if (ready <= 0) return false;
  if (fds[1].revents) {
    std::array<char, 64> drained{};
    while (::read(wake_pipe_[0], drained.data(), drained.size()) > 0) {
    }
    return false;
  }
  try {
    return !listener_->take_notifications().empty();
  } catch (const StoreError&) {
    listener_.reset();  // made again at the next wait, which then says a change may be missed
    return false;
  }
}

}  // namespace

std::unique_ptr<GovernanceStore> open_postgres_store(const PostgresStoreOptions& options) {
  return std::make_unique<PostgresStore>(options);
}

}  // namespace switchyard::proxy
