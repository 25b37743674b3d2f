// The governance stores: SQLite against real files, each test in a fresh temporary directory,
// and PostgreSQL against a real server (one per test process, a fresh database per test). The
// tests of what a GovernanceStore promises run on both; each store's own tests follow.
#include <sqlite3.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proxy/postgres_db.hpp"
#include "proxy/postgres_store.hpp"
#include "proxy/sqlite_store.hpp"
#include "tests/support/database_servers.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace switchyard;
using proxy::GovernanceStore;
using proxy::StoreError;
using std::chrono::seconds;

struct TempDir {
  testing::TempDir dir{"switchyard-store"};
  fs::path path = dir.path;
  std::string file() const { return (path / "store.db").string(); }
};

// A second connection, as an operator's sqlite3 shell would see the file.
struct RawConnection {
  sqlite3* db = nullptr;
  explicit RawConnection(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  }
  ~RawConnection() { sqlite3_close(db); }
  // The rows of a query, each column as text, joined by '|'.
  std::vector<std::string> rows(const std::string& sql) const {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::vector<std::string> out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        if (c) row += '|';
        const auto* text = sqlite3_column_text(stmt, c);
        row += text ? reinterpret_cast<const char*>(text) : "NULL";
      }
      out.push_back(row);
    }
    sqlite3_finalize(stmt);
    return out;
  }
};

core::WallTime at(std::int64_t unix_seconds) { return core::WallTime(seconds(unix_seconds)); }

core::BudgetSpec budget(core::BudgetPeriod::Kind kind, seconds length = seconds(0)) {
  return {12'500'000, std::optional<core::Micros>(10'000'000), {kind, length}, at(1'700'000'000)};
}

core::KeyHash hash_of(std::uint8_t seed) {
  core::KeyHash h{};
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<std::uint8_t>(seed * 31 + i);
  return h;
}

core::TeamRecord full_team() {
  core::TeamRecord t;
  t.id = "team_00000000000000a1";
  t.name = "research";
  t.budget = budget(core::BudgetPeriod::Kind::duration, seconds(30 * 86400));
  t.limits = {600, 100'000, 8};
  t.models = {"gpt-4o*", "claude-?-sonnet"};
  t.blocked = true;
  t.metadata_json = R"({"cost_center":"r&d","n":[1,2]})";
  t.created = at(1'700'000'100);
  return t;
}

core::KeyRecord full_key(std::string id, std::uint8_t seed) {
  core::KeyRecord k;
  k.id = std::move(id);
  k.alias = "ci-bot-" + std::to_string(seed);
  k.hash = hash_of(seed);
  k.hint = "sk-sy-…Ab9_";
  k.role = core::KeyRole::reporting;
  k.team_id = "team_00000000000000a1";
  k.user = "alice@example.com";
  k.models = {"gpt-4o-mini"};
  k.budget = budget(core::BudgetPeriod::Kind::weekly);
  k.budget->soft.reset();
  k.limits = {60, 0, 2};
  k.model_limits = {{"gpt-4o*", {10, 2000, 1}}, {"*", {0, 500, 0}}};
  k.tags = {"ci", "nightly"};
  k.metadata_json = R"({"owner":"ops"})";
  k.expires = at(1'800'000'000);
  k.blocked = true;
  k.created = at(1'700'000'200 + seed);
  return k;
}

void check_same_budget(const std::optional<core::BudgetSpec>& got,
                       const std::optional<core::BudgetSpec>& want) {
  REQUIRE(got.has_value() == want.has_value());
  if (!want) return;
  CHECK(got->max == want->max);
  CHECK(got->soft == want->soft);
  CHECK(got->period.kind == want->period.kind);
  CHECK(got->period.length == want->period.length);
  CHECK(got->anchor == want->anchor);
}

void check_same_limits(const core::Limits& got, const core::Limits& want) {
  CHECK(got.rpm == want.rpm);
  CHECK(got.tpm == want.tpm);
  CHECK(got.parallel == want.parallel);
}

void check_same_team(const core::TeamRecord& got, const core::TeamRecord& want) {
  CHECK(got.id == want.id);
  CHECK(got.name == want.name);
  check_same_budget(got.budget, want.budget);
  check_same_limits(got.limits, want.limits);
  CHECK(got.models == want.models);
  CHECK(got.blocked == want.blocked);
  CHECK(got.metadata_json == want.metadata_json);
  CHECK(got.created == want.created);
}

void check_same_key(const core::KeyRecord& got, const core::KeyRecord& want) {
  CHECK(got.id == want.id);
  CHECK(got.alias == want.alias);
  CHECK(got.hash == want.hash);
  CHECK(got.hint == want.hint);
  CHECK(got.role == want.role);
  CHECK(got.team_id == want.team_id);
  CHECK(got.user == want.user);
  CHECK(got.models == want.models);
  check_same_budget(got.budget, want.budget);
  check_same_limits(got.limits, want.limits);
  REQUIRE(got.model_limits.size() == want.model_limits.size());
  for (std::size_t i = 0; i < want.model_limits.size(); ++i) {
    CHECK(got.model_limits[i].model == want.model_limits[i].model);
    check_same_limits(got.model_limits[i].limits, want.model_limits[i].limits);
  }
  CHECK(got.tags == want.tags);
  CHECK(got.metadata_json == want.metadata_json);
  CHECK(got.expires == want.expires);
  CHECK(got.blocked == want.blocked);
  CHECK(got.created == want.created);
}

core::LedgerRow row(std::string request_id, std::int64_t time_ms, std::string key, std::string team,
                    std::string model, std::string provider, core::Micros cost) {
  core::LedgerRow r;
  r.request_id = std::move(request_id);
  r.time_ms = time_ms;
  r.key_id = std::move(key);
  r.team_id = std::move(team);
  r.model = std::move(model);
  r.provider = std::move(provider);
  r.cost = cost;
  r.input_tokens = cost / 10;
  r.output_tokens = cost / 20;
  r.cached_tokens = cost / 40;
  r.cache_write_tokens = cost / 80;
  r.reasoning_tokens = cost / 160;
  r.latency_ms = 250;
  r.status = 200;
  return r;
}

constexpr std::int64_t kDay1 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kDayMs = 86'400'000;

// Three days of traffic over two teams, three keys, two providers; errors and tags mixed in.
std::vector<core::LedgerRow> sample_ledger() {
  std::vector<core::LedgerRow> rows = {
      row("r1", kDay1 + 1000, "key_a", "team_x", "gpt-4o", "openai", 1200),
      row("r2", kDay1 + 2000, "key_a", "team_x", "gpt-4o", "openai", 800),
      row("r3", kDay1 + kDayMs - 1, "key_b", "team_x", "claude-sonnet", "anthropic", 5000),
      row("r4", kDay1 + kDayMs, "key_b", "team_x", "claude-sonnet", "anthropic", 7000),
      row("r5", kDay1 + kDayMs + 5, "key_c", "team_y", "gpt-4o", "openai", 300),
      row("r6", kDay1 + 2 * kDayMs + 7, "key_c", "team_y", "gpt-4o-mini", "openai", 90),
      row("r7", kDay1 + 2 * kDayMs + 9, "", "", "gpt-4o-mini", "openai", 0),
  };
  rows[0].tags = {"ci", "nightly"};
  rows[1].tags = {"ci"};
  rows[3].tags = {"nightly", "nightly"};  // the same tag twice counts the request once
  rows[4].tags = {"web"};
  rows[0].user = "alice";
  rows[3].user = "bob";
  rows[4].user = "alice";
  rows[2].status = 429;
  rows[5].error = "client_disconnected";
  rows[4].ttft_ms = 120;
  return rows;
}

std::string utc_day(std::int64_t time_ms) {
  const auto days = std::chrono::floor<std::chrono::days>(
      std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(time_ms)));
  const std::chrono::year_month_day ymd(days);
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return text;
}

std::vector<std::string> groups_of(const core::LedgerRow& r, core::SpendGroup g) {
  using G = core::SpendGroup;
  switch (g) {
    case G::key:
      return {r.key_id};
    case G::team:
      return {r.team_id};
    case G::model:
      return {r.model};
    case G::provider:
      return {r.provider};
    case G::user:
      return {r.user};
    case G::day:
      return {utc_day(r.time_ms)};
    case G::tag: {
      const std::set<std::string> distinct(r.tags.begin(), r.tags.end());
      return {distinct.begin(), distinct.end()};
    }
  }
  return {};
}

// The report worked out by hand from the rows, in the store's order.
std::vector<core::SpendRow> expected_spend(const std::vector<core::LedgerRow>& rows,
                                           const core::SpendQuery& q) {
  std::map<std::string, core::SpendRow> by_group;
  for (const auto& r : rows) {
    if (r.time_ms < q.from_ms || r.time_ms >= q.to_ms) continue;
    for (const auto& g : groups_of(r, q.group)) {
      core::SpendRow& s = by_group[g];
      s.group = g;
      s.requests += 1;
      s.errors += (r.status >= 400 || !r.error.empty()) ? 1 : 0;
      s.input_tokens += r.input_tokens;
      s.output_tokens += r.output_tokens;
      s.cached_tokens += r.cached_tokens;
      s.cache_write_tokens += r.cache_write_tokens;
      s.reasoning_tokens += r.reasoning_tokens;
      s.cost += r.cost;
    }
  }
  std::vector<core::SpendRow> out;
  for (auto& [g, s] : by_group) out.push_back(s);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.cost > b.cost; });
  return out;
}

void check_same_spend(const std::vector<core::SpendRow>& got,
                      const std::vector<core::SpendRow>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("group " << want[i].group);
    CHECK(got[i].group == want[i].group);
    CHECK(got[i].requests == want[i].requests);
    CHECK(got[i].errors == want[i].errors);
    CHECK(got[i].input_tokens == want[i].input_tokens);
    CHECK(got[i].output_tokens == want[i].output_tokens);
    CHECK(got[i].cached_tokens == want[i].cached_tokens);
    CHECK(got[i].cache_write_tokens == want[i].cache_write_tokens);
    CHECK(got[i].reasoning_tokens == want[i].reasoning_tokens);
    CHECK(got[i].cost == want[i].cost);
  }
}

enum class Backend { sqlite, postgres };

testing::PostgresServer& postgres_server() {
  static testing::PostgresServer server;
  return server;
}

// One store of either kind, empty at first; open() gives a new handle on the same data (a
// reopen of the file, a new pool on the database).
struct StoreUnderTest {
  explicit StoreUnderTest(Backend b) : backend(b) {
    if (b == Backend::postgres) database = postgres_server().create_database("store");
  }
  Backend backend;
  TempDir dir;
  std::string database;

  std::unique_ptr<GovernanceStore> open() const {
    if (backend == Backend::sqlite) return proxy::open_sqlite_store(dir.file());
    proxy::PostgresStoreOptions options;
    options.url = postgres_server().url(database);
    options.pool = 2;
    return proxy::open_postgres_store(options);
  }
  // A query's rows as the database's own shell shows them: columns joined by '|'.
  std::vector<std::string> rows(const std::string& sql) const {
    if (backend == Backend::sqlite) return RawConnection(dir.file()).rows(sql);
    const std::string out = postgres_server().sql(sql, database);
    std::vector<std::string> lines;
    if (out.empty()) return lines;
    std::size_t start = 0;
    for (std::size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1)
      lines.push_back(out.substr(start, nl - start));
    lines.push_back(out.substr(start));
    return lines;
  }
  // The ledger's column for the end user: "user" is a reserved word in PostgreSQL.
  std::string user_column() const { return backend == Backend::sqlite ? "user" : "end_user"; }
};

const char* name_of(Backend b) { return b == Backend::sqlite ? "sqlite" : "postgres"; }

// The start of a test that runs once on each store.
#define ON_EACH_STORE(var)                                                    \
  const Backend var##_backend = GENERATE(Backend::sqlite, Backend::postgres); \
  INFO("store: " << name_of(var##_backend));                                  \
  StoreUnderTest var(var##_backend)

void write_in_batches(GovernanceStore& store, const std::vector<core::LedgerRow>& rows) {
  const std::span<const core::LedgerRow> all(rows);
  store.write_ledger(all.subspan(0, 2));
  store.write_ledger(all.subspan(2, 3));
  store.write_ledger({});
  store.write_ledger(all.subspan(5));
}

}  // namespace

TEST_CASE("teams and keys come back from a reopened store with every field", "[store]") {
  ON_EACH_STORE(dir);
  const core::TeamRecord team = full_team();
  core::TeamRecord plain_team;
  plain_team.id = "team_00000000000000b2";
  plain_team.name = "plain";
  plain_team.created = at(1'700'000'050);

  std::vector<core::KeyRecord> keys;
  using Kind = core::BudgetPeriod::Kind;
  const std::vector<core::BudgetPeriod> periods = {{Kind::daily},
                                                   {Kind::weekly},
                                                   {Kind::monthly},
                                                   {Kind::duration, seconds(12 * 3600)},
                                                   {Kind::duration, seconds(90)}};
  for (std::size_t i = 0; i < periods.size(); ++i) {
    core::KeyRecord k =
        full_key("key_00000000000000c" + std::to_string(i), static_cast<std::uint8_t>(i + 1));
    k.budget->period = periods[i];
    keys.push_back(k);
  }
  core::KeyRecord bare;  // every optional field absent, every list empty
  bare.id = "key_00000000000000d0";
  bare.hash = hash_of(99);
  bare.created = at(1'700'000'900);
  keys.push_back(bare);
  {
    auto store = dir.open();
    store->put_team(team);
    store->put_team(plain_team);
    for (const auto& k : keys) store->put_key(k);
  }
  const auto snapshot = dir.open()->load();
  REQUIRE(snapshot.teams.size() == 2);
  check_same_team(snapshot.teams[0], plain_team);  // oldest first
  check_same_team(snapshot.teams[1], team);
  REQUIRE(snapshot.keys.size() == keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) check_same_key(snapshot.keys[i], keys[i]);
}

TEST_CASE("a put with a known id replaces that record, and a delete removes it", "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  core::KeyRecord key = full_key("key_1", 1);
  store->put_key(key);
  store->put_key(full_key("key_2", 2));
  key.alias = "renamed";
  key.hash = hash_of(7);  // a rotation keeps the id and changes the hash
  key.budget.reset();
  key.expires.reset();
  key.blocked = false;
  store->put_key(key);
  core::TeamRecord team = full_team();
  store->put_team(team);
  team.name = "research-2";
  team.budget.reset();
  store->put_team(team);

  auto snapshot = store->load();
  REQUIRE(snapshot.keys.size() == 2);
  check_same_key(snapshot.keys[0], key);
  REQUIRE(snapshot.teams.size() == 1);
  check_same_team(snapshot.teams[0], team);

  store->delete_key("key_1");
  store->delete_key("key_unknown");
  store->delete_team(team.id);
  snapshot = store->load();
  REQUIRE(snapshot.keys.size() == 1);
  CHECK(snapshot.keys[0].id == "key_2");
  CHECK(snapshot.teams.empty());
}

TEST_CASE("a key whose hash or alias is taken is refused, and the holder is untouched", "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  const core::KeyRecord holder = full_key("key_1", 1);
  store->put_key(holder);

  core::KeyRecord same_hash = full_key("key_2", 2);
  same_hash.hash = holder.hash;
  core::KeyRecord same_alias = full_key("key_3", 3);
  same_alias.alias = holder.alias;
  for (const auto* refused : {&same_hash, &same_alias}) {
    try {
      store->put_key(*refused);
      FAIL("the duplicate was accepted");
    } catch (const StoreError& e) {
      CHECK(e.conflict());
      CHECK_THAT(e.what(), Catch::Contains("unique", Catch::CaseSensitive::No));
    }
  }
  core::KeyRecord no_alias_1 = full_key("key_4", 4), no_alias_2 = full_key("key_5", 5);
  no_alias_1.alias.clear();
  no_alias_2.alias.clear();
  store->put_key(no_alias_1);
  store->put_key(no_alias_2);  // many keys may have no alias

  const auto keys = store->load().keys;
  REQUIRE(keys.size() == 3);
  check_same_key(keys[0], holder);

  core::TeamRecord other = full_team();
  other.id = "team_other";
  store->put_team(full_team());
  CHECK_THROWS_AS(store->put_team(other), StoreError);  // a team's name is unique too
}

TEST_CASE("the spend report groups the ledger's rows by each grouping", "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  const auto rows = sample_ledger();
  write_in_batches(*store, rows);
  REQUIRE(store->ledger_row_count() == static_cast<std::int64_t>(rows.size()));

  using G = core::SpendGroup;
  for (G group : {G::key, G::team, G::model, G::provider, G::tag, G::user, G::day}) {
    INFO("grouped by " << core::spend_group_name(group));
    const core::SpendQuery q{group, 0, INT64_MAX};
    check_same_spend(store->spend(q), expected_spend(rows, q));
  }
  const auto by_tag = store->spend({G::tag, 0, INT64_MAX});
  REQUIRE(by_tag.size() == 3);
  CHECK(by_tag[0].group == "nightly");
  CHECK(by_tag[0].requests == 2);
  CHECK(by_tag[0].cost == 1200 + 7000);
  const auto by_day = store->spend({G::day, 0, INT64_MAX});
  REQUIRE(by_day.size() == 3);
  CHECK(by_day[0].group == "2026-01-02");
  CHECK(by_day[0].requests == 2);
}

TEST_CASE("the spend report counts rows from `from` up to but not including `to`", "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  const auto rows = sample_ledger();
  write_in_batches(*store, rows);

  const core::SpendQuery day2{core::SpendGroup::key, kDay1 + kDayMs, kDay1 + 2 * kDayMs};
  const auto report = store->spend(day2);
  check_same_spend(report, expected_spend(rows, day2));
  REQUIRE(report.size() == 2);
  CHECK(report[0].group == "key_b");
  CHECK(report[0].cost == 7000);  // r4 at the bound; r3, 1 ms before it, is out
  CHECK(report[1].group == "key_c");
  CHECK(report[1].cost == 300);
  CHECK(store->spend({core::SpendGroup::key, kDay1, kDay1}).empty());
}

TEST_CASE("errors count rows with a 4xx/5xx status or an error reason", "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  write_in_batches(*store, sample_ledger());
  std::map<std::string, std::int64_t> errors;
  for (const auto& s : store->spend({core::SpendGroup::key, 0, INT64_MAX}))
    errors[s.group] = s.errors;
  CHECK(errors ==
        std::map<std::string, std::int64_t>{{"", 0}, {"key_a", 0}, {"key_b", 1}, {"key_c", 1}});
}

TEST_CASE("the daily rollup agrees with the ledger's rows", "[store]") {
  ON_EACH_STORE(dir);
  const auto rows = sample_ledger();
  write_in_batches(*dir.open(), rows);

  std::map<std::string, std::vector<std::int64_t>> want;
  for (const auto& r : rows) {
    auto& sums = want[utc_day(r.time_ms) + "|" + r.key_id + "|" + r.team_id + "|" + r.model + "|" +
                      r.provider];
    sums.resize(8);
    const std::int64_t add[] = {1,
                                (r.status >= 400 || !r.error.empty()) ? 1 : 0,
                                r.input_tokens,
                                r.output_tokens,
                                r.cached_tokens,
                                r.cache_write_tokens,
                                r.reasoning_tokens,
                                r.cost};
    for (std::size_t i = 0; i < 8; ++i) sums[i] += add[i];
  }
  std::vector<std::string> want_rows;
  for (const auto& [group, sums] : want) {
    std::string line = group;
    for (auto v : sums) line.append("|").append(std::to_string(v));
    want_rows.push_back(line);
  }
  std::sort(want_rows.begin(), want_rows.end());
  auto got = dir.rows(
      "SELECT day, key_id, team_id, model, provider, requests, errors,"
      " input_tokens, output_tokens, cached_tokens, cache_write_tokens,"
      " reasoning_tokens, cost FROM ledger_daily");
  std::sort(got.begin(), got.end());
  CHECK(got == want_rows);
}

TEST_CASE("spend since a time, per key and per team, restores a period's budget", "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  write_in_batches(*store, sample_ledger());
  CHECK(store->key_spend_since("key_a", 0) == 2000);
  CHECK(store->key_spend_since("key_a", kDay1 + 2000) == 800);  // inclusive
  CHECK(store->key_spend_since("key_a", kDay1 + 2001) == 0);
  CHECK(store->key_spend_since("key_unknown", 0) == 0);
  CHECK(store->team_spend_since("team_x", kDay1 + kDayMs - 1) == 5000 + 7000);
  CHECK(store->team_spend_since("team_y", 0) == 390);
}

TEST_CASE("what was written is there after a reopen, in a file that checks as sound", "[store]") {
  ON_EACH_STORE(dir);
  const auto rows = sample_ledger();
  {
    auto store = dir.open();
    write_in_batches(*store, rows);
    store->put_key(full_key("key_1", 1));
  }
  auto store = dir.open();
  CHECK(store->ledger_row_count() == static_cast<std::int64_t>(rows.size()));
  const core::SpendQuery q{core::SpendGroup::model, 0, INT64_MAX};
  check_same_spend(store->spend(q), expected_spend(rows, q));
  CHECK(store->load().keys.size() == 1);
  if (dir.backend == Backend::sqlite)
    CHECK(dir.rows("PRAGMA integrity_check") == std::vector<std::string>{"ok"});
}

TEST_CASE("the store's file is in WAL mode once opened", "[store]") {
  TempDir dir;
  auto store = proxy::open_sqlite_store(dir.file());
  CHECK(RawConnection(dir.file()).rows("PRAGMA journal_mode") == std::vector<std::string>{"wal"});
}

TEST_CASE("a store of a newer schema or in a missing folder is refused", "[store]") {
  TempDir dir;
  proxy::open_sqlite_store(dir.file());
  RawConnection(dir.file()).rows("PRAGMA user_version = 99");
  CHECK_THROWS_WITH(proxy::open_sqlite_store(dir.file()), Catch::Contains("schema 99"));
  CHECK_THROWS_AS(proxy::open_sqlite_store((dir.path / "missing" / "store.db").string()),
                  StoreError);
}

TEST_CASE("audit entries are read back by time range, oldest first", "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  store->append_audit({3000, "key_admin", "key.block", "key_2", R"({"reason":"leak"})"});
  store->append_audit({1000, "master", "key.create", "key_1", "{}"});
  store->append_audit({2000, "master", "team.create", "team_1", R"({"name":"research"})"});
  store->append_audit({4000, "master", "key.delete", "key_1", "{}"});

  const auto entries = store->audit(1000, 4000, 10);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].action == "key.create");
  CHECK(entries[1].time_ms == 2000);
  CHECK(entries[1].actor == "master");
  CHECK(entries[1].action == "team.create");
  CHECK(entries[1].target == "team_1");
  CHECK(entries[1].detail_json == R"({"name":"research"})");
  CHECK(entries[2].action == "key.block");
  const auto first = store->audit(0, INT64_MAX, 1);
  REQUIRE(first.size() == 1);
  CHECK(first[0].time_ms == 1000);
}

TEST_CASE("admin writes and ledger batches from two threads all land", "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  constexpr int kWrites = 40;
  std::thread ledger_writer([&] {
    for (int i = 0; i < kWrites; ++i) {
      const std::vector<core::LedgerRow> batch = {row("a", i, "key_a", "", "m", "p", 1),
                                                  row("b", i, "key_a", "", "m", "p", 2)};
      store->write_ledger(batch);
    }
  });
  for (int i = 0; i < kWrites; ++i) {
    core::KeyRecord k = full_key("key_" + std::to_string(i), static_cast<std::uint8_t>(i));
    store->put_key(k);
  }
  ledger_writer.join();
  CHECK(store->ledger_row_count() == 2 * kWrites);
  CHECK(store->key_spend_since("key_a", 0) == 3 * kWrites);
  CHECK(store->load().keys.size() == kWrites);
}

TEST_CASE("spend since a time inside a day counts that day from the time on, then whole days",
          "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  write_in_batches(*store, sample_ledger());
  CHECK(store->team_spend_since("team_x", kDay1 + kDayMs) == 7000);  // a midnight
  CHECK(store->team_spend_since("team_x", kDay1 + 1001) == 800 + 5000 + 7000);
  CHECK(store->key_spend_since("key_c", kDay1 + kDayMs + 6) == 90);  // r5 is 1 ms early
  CHECK(store->key_spend_since("key_c", kDay1 + 3 * kDayMs) == 0);
  CHECK(store->key_spend_since("key_a", kDay1 - kDayMs / 2) == 2000);  // the day before
}

// More rows than one multi-row INSERT holds (the store binds 32 rows a statement), and a count
// that is not a multiple of it: every row must land whole, in its own columns.
TEST_CASE("a batch of many rows, in one call, is written row for row", "[store]") {
  const Backend backend = GENERATE(Backend::sqlite, Backend::postgres);
  INFO("store: " << name_of(backend));
  for (const std::size_t count : {std::size_t{64}, std::size_t{101}}) {
    INFO(count << " rows");
    StoreUnderTest dir(backend);
    std::vector<core::LedgerRow> rows;
    for (std::size_t i = 0; i < count; ++i) {
      const auto n = static_cast<std::int64_t>(i);
      core::LedgerRow r =
          row("req-" + std::to_string(i), kDay1 + n * 3'600'000, "key_" + std::to_string(i % 3),
              "team_" + std::to_string(i % 2), i % 4 ? "gpt-4o" : "claude-sonnet",
              i % 4 ? "openai" : "anthropic", 100 + n);
      if (i % 5 == 0) r.tags = {"t" + std::to_string(i % 10)};
      if (i % 7 == 0) r.ttft_ms = n;
      if (i % 11 == 0) r.error = "upstream_timeout";
      r.user = "u" + std::to_string(i);
      r.latency_ms = 1000 + n;
      rows.push_back(std::move(r));
    }
    auto store = dir.open();
    store->write_ledger(rows);
    REQUIRE(store->ledger_row_count() == static_cast<std::int64_t>(count));
    using G = core::SpendGroup;
    for (G group : {G::key, G::team, G::model, G::tag, G::user, G::day}) {
      INFO("grouped by " << core::spend_group_name(group));
      const core::SpendQuery q{group, 0, INT64_MAX};
      check_same_spend(store->spend(q), expected_spend(rows, q));
    }
    const auto stored =
        dir.rows("SELECT request_id, " + dir.user_column() +
                 ", tags_json, latency_ms, COALESCE(CAST(ttft_ms AS TEXT), 'NULL'), error"
                 " FROM ledger ORDER BY time_ms");
    REQUIRE(stored.size() == count);
    for (std::size_t i = 0; i < count; ++i) {
      const core::LedgerRow& r = rows[i];
      const std::string tags = r.tags.empty() ? "[]" : "[\"" + r.tags[0] + "\"]";
      const std::string ttft = r.ttft_ms ? std::to_string(*r.ttft_ms) : "NULL";
      CHECK(stored[i] == r.request_id + "|" + r.user + "|" + tags + "|" +
                             std::to_string(r.latency_ms) + "|" + ttft + "|" + r.error);
    }
  }
}

// Schema 1, as gateways before the daily rollup's indexes wrote it (the ledger's two tables).
constexpr const char* kSchema1Ledger = R"sql(
CREATE TABLE ledger (
  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, time_ms INTEGER NOT NULL,
  key_id TEXT NOT NULL, team_id TEXT NOT NULL, user TEXT NOT NULL, tags_json TEXT NOT NULL,
  model TEXT NOT NULL, provider TEXT NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
  cost INTEGER NOT NULL, latency_ms INTEGER NOT NULL, ttft_ms INTEGER, status INTEGER NOT NULL,
  error TEXT NOT NULL);
CREATE INDEX ledger_time ON ledger(time_ms);
CREATE INDEX ledger_key_time ON ledger(key_id, time_ms);
CREATE INDEX ledger_team_time ON ledger(team_id, time_ms);
CREATE TABLE ledger_daily (
  day TEXT NOT NULL, key_id TEXT NOT NULL, team_id TEXT NOT NULL, model TEXT NOT NULL,
  provider TEXT NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
  cache_write_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL, cost INTEGER NOT NULL,
  PRIMARY KEY (day, key_id, team_id, model, provider));
INSERT INTO ledger VALUES (1, 'old-1', 1767225601000, 'key_a', 'team_x', '', '[]', 'gpt-4o',
  'openai', 0, 0, 0, 0, 0, 1200, 250, NULL, 200, '');
INSERT INTO ledger VALUES (2, 'old-2', 1767312000000, 'key_a', 'team_x', '', '[]', 'gpt-4o',
  'openai', 0, 0, 0, 0, 0, 800, 250, NULL, 200, '');
INSERT INTO ledger_daily VALUES ('2026-01-01', 'key_a', 'team_x', 'gpt-4o', 'openai', 1, 0, 0, 0,
  0, 0, 0, 1200);
INSERT INTO ledger_daily VALUES ('2026-01-02', 'key_a', 'team_x', 'gpt-4o', 'openai', 1, 0, 0, 0,
  0, 0, 0, 800);
PRAGMA user_version = 1;
)sql";

TEST_CASE("a store of schema 1 opens, keeps its spend, and takes new rows", "[store]") {
  TempDir dir;
  {
    RawConnection old(dir.file());
    REQUIRE(sqlite3_exec(old.db, kSchema1Ledger, nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  auto store = proxy::open_sqlite_store(dir.file());
  CHECK(store->key_spend_since("key_a", 0) == 2000);
  CHECK(store->team_spend_since("team_x", kDay1 + 1001) == 800);
  const std::vector<core::LedgerRow> more = {
      row("new-1", kDay1 + kDayMs + 5, "key_a", "team_x", "gpt-4o", "openai", 50)};
  store->write_ledger(more);
  CHECK(store->key_spend_since("key_a", kDay1 + kDayMs) == 850);
  CHECK(store->spend({core::SpendGroup::key, 0, INT64_MAX}).at(0).requests == 3);
  RawConnection file(dir.file());
  CHECK(file.rows("PRAGMA user_version") == std::vector<std::string>{"3"});
  // The one-table ledger became blocks, read through the view.
  CHECK(file.rows("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ledger%'"
                  " ORDER BY name") ==
        std::vector<std::string>{"ledger_blocks_last", "ledger_daily_key", "ledger_daily_team",
                                 "ledger_dims_all"});
  CHECK(file.rows("SELECT type FROM sqlite_master WHERE name = 'ledger'") ==
        std::vector<std::string>{"view"});
  // (append: GCC 12 warns falsely of overlapping copies on "..." + std::string.)
  std::string new_row = "new-1|";
  new_row.append(std::to_string(kDay1 + kDayMs + 5)).append("|key_a|50");
  CHECK(file.rows("SELECT request_id, time_ms, key_id, cost FROM ledger ORDER BY id") ==
        std::vector<std::string>{"old-1|1767225601000|key_a|1200", "old-2|1767312000000|key_a|800",
                                 new_row});
  CHECK(file.rows("SELECT COUNT(*) FROM ledger_dims") == std::vector<std::string>{"1"});
  CHECK(file.rows("PRAGMA integrity_check") == std::vector<std::string>{"ok"});
}

TEST_CASE("rows of one millisecond are all kept, within a batch, across batches and a reopen",
          "[store]") {
  ON_EACH_STORE(dir);
  const std::int64_t t = kDay1 + 42;
  auto batch = [&](const std::string& prefix, std::size_t n) {
    std::vector<core::LedgerRow> rows;
    for (std::size_t i = 0; i < n; ++i)
      rows.push_back(row(prefix + std::to_string(i), t, "key_a", "team_x", "m", "p", 1));
    return rows;
  };
  {
    auto store = dir.open();
    store->write_ledger(batch("a", 3000));
    store->write_ledger(batch("b", 10));
  }
  auto store = dir.open();
  store->write_ledger(batch("c", 10));
  CHECK(store->ledger_row_count() == 3020);
  CHECK(store->key_spend_since("key_a", t) == 3020);
  const auto report = store->spend({core::SpendGroup::day, t, t + 1});
  REQUIRE(report.size() == 1);
  CHECK(report[0].requests == 3020);
  CHECK(dir.rows("SELECT DISTINCT time_ms FROM ledger") ==
        std::vector<std::string>{std::to_string(t)});
}

TEST_CASE("a row for a millisecond long past, after many others, is kept", "[store]") {
  // A stream that ran for minutes reaches the ledger after rows that arrived later; a batch
  // of 70,000 rows of one key is split into blocks of at most 4096.
  ON_EACH_STORE(dir);
  auto store = dir.open();
  store->write_ledger(std::vector{row("first", kDay1, "key_a", "team_x", "m", "p", 7)});
  std::vector<core::LedgerRow> later;
  for (std::int64_t i = 1; i <= 70'000; ++i)
    later.push_back(
        row(std::string("r").append(std::to_string(i)), kDay1 + i, "key_a", "team_x", "m", "p", 1));
  store->write_ledger(later);
  store->write_ledger(later);  // the same milliseconds again: each gets its second number
  store->write_ledger(std::vector{row("late", kDay1, "key_a", "team_x", "m", "p", 5)});
  CHECK(store->ledger_row_count() == 2 + 2 * 70'000);
  const auto first_ms = store->spend({core::SpendGroup::key, kDay1, kDay1 + 1});
  REQUIRE(first_ms.size() == 1);
  CHECK(first_ms[0].requests == 2);
  CHECK(first_ms[0].cost == 12);
}

TEST_CASE("rows that differ only in user or tags are told apart in every report", "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  std::vector<core::LedgerRow> rows;
  for (int i = 0; i < 6; ++i) {
    core::LedgerRow r = row("r" + std::to_string(i), kDay1 + i, "key_a", "team_x", "m", "p", 10);
    r.user = i % 2 ? "alice" : "bob";
    if (i % 3 == 0) r.tags = {"batch"};
    rows.push_back(std::move(r));
  }
  store->write_ledger(std::span(rows).subspan(0, 3));
  {
    // A failed batch (the gateway's ledger writer drops it) must leave nothing half-remembered.
    std::vector<core::LedgerRow> bad = {rows[3]};
    bad[0].key_id = "key_new";
    if (dir.backend == Backend::sqlite) {
      dir.rows(
          "CREATE TRIGGER refuse BEFORE INSERT ON ledger_blocks BEGIN SELECT RAISE(ABORT, 'no');"
          " END");
    } else {
      dir.rows(
          "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
          " 'BEGIN RAISE EXCEPTION ''no''; END';"
          " CREATE TRIGGER refuse BEFORE INSERT ON ledger FOR EACH ROW EXECUTE FUNCTION refuse()");
    }
    CHECK_THROWS_AS(store->write_ledger(bad), StoreError);
    dir.rows(dir.backend == Backend::sqlite ? "DROP TRIGGER refuse"
                                            : "DROP TRIGGER refuse ON ledger");
    bad[0].request_id = "after-failure";
    store->write_ledger(bad);
  }
  store->write_ledger(std::span(rows).subspan(3));
  const core::SpendQuery all{core::SpendGroup::user, 0, INT64_MAX};
  const auto by_user = store->spend(all);
  REQUIRE(by_user.size() == 2);
  CHECK(by_user[0].requests + by_user[1].requests == 7);
  const auto by_tag = store->spend({core::SpendGroup::tag, 0, INT64_MAX});
  REQUIRE(by_tag.size() == 1);
  CHECK(by_tag[0].group == "batch");
  CHECK(by_tag[0].requests == 3);  // rows 0 and 3, and the row written after the failure
  CHECK(store->key_spend_since("key_new", 0) == 10);
  if (dir.backend == Backend::sqlite)
    CHECK(dir.rows("SELECT COUNT(*) FROM ledger_blocks WHERE dims NOT IN"
                   " (SELECT id FROM ledger_dims)") == std::vector<std::string>{"0"});
}

TEST_CASE("reports and spend since a time agree with the rows, at any bounds", "[store]") {
  // Whole blocks count by their sums, blocks cut by a bound row by row: bounds inside a block,
  // at its edges and at midnights must all give the rows' own sums.
  ON_EACH_STORE(dir);
  std::vector<core::LedgerRow> rows;
  for (std::int64_t i = 0; i < 600; ++i) {
    const std::int64_t t = kDay1 + (i * 7'919'993) % (3 * kDayMs);  // spread over three days
    core::LedgerRow r = row(std::string("r").append(std::to_string(i)), t,
                            i % 3 ? "key_a" : "key_b", i % 3 ? "team_x" : "team_y",
                            i % 2 ? "gpt-4o" : "claude", i % 2 ? "openai" : "anthropic", 10 + i);
    if (i % 5 == 0) r.tags = {"ci"};
    if (i % 7 == 0) r.status = 500;
    rows.push_back(std::move(r));
  }
  auto store = dir.open();
  const std::span all(rows);
  for (std::size_t at = 0; at < all.size(); at += 150) store->write_ledger(all.subspan(at, 150));

  std::vector<std::int64_t> bounds = {0, kDay1, kDay1 + kDayMs, kDay1 + 3 * kDayMs, INT64_MAX};
  for (std::size_t i = 0; i < rows.size(); i += 37) {
    bounds.push_back(rows[i].time_ms);
    bounds.push_back(rows[i].time_ms + 1);
  }
  using G = core::SpendGroup;
  for (std::int64_t from : bounds) {
    for (std::int64_t to : bounds) {
      if (to < from) continue;
      for (G group : {G::key, G::day, G::tag}) {
        INFO("from " << from << " to " << to << " by " << core::spend_group_name(group));
        const core::SpendQuery q{group, from, to};
        check_same_spend(store->spend(q), expected_spend(rows, q));
      }
    }
    core::Micros want_a = 0, want_x = 0;
    for (const auto& r : rows) {
      if (r.time_ms < from) continue;
      if (r.key_id == "key_a") want_a += r.cost;
      if (r.team_id == "team_x") want_x += r.cost;
    }
    INFO("spend since " << from);
    CHECK(store->key_spend_since("key_a", from) == want_a);
    CHECK(store->team_spend_since("team_x", from) == want_x);
  }
}

TEST_CASE("a request id or error with quotes, backslashes or control characters reads back whole",
          "[store]") {
  ON_EACH_STORE(dir);
  auto store = dir.open();
  core::LedgerRow r = row("id \"quoted\" \\ back", kDay1, "key_a", "team_x", "m", "p", 1);
  r.error = "tab\there\x01\x1f end";
  r.ttft_ms = 0;
  store->write_ledger(std::vector{r});
  CHECK(dir.rows("SELECT request_id, error, ttft_ms FROM ledger") ==
        std::vector<std::string>{r.request_id + "|" + r.error + "|0"});
}

// --- PostgreSQL's own: what several replicas sharing one database rely on ---

namespace {

proxy::PostgresStoreOptions options_for(const std::string& database,
                                        std::vector<std::string>* log = nullptr) {
  proxy::PostgresStoreOptions options;
  options.url = postgres_server().url(database);
  options.pool = 2;
  options.connect_timeout = seconds(2);
  if (log) options.log = [log](const std::string& line) { log->push_back(line); };
  return options;
}

}  // namespace

TEST_CASE("replicas opening one new database together migrate it once", "[store][postgres]") {
  const std::string database = postgres_server().create_database("migrate");
  constexpr int kReplicas = 3;
  std::vector<std::vector<std::string>> logs(kReplicas);
  std::vector<std::unique_ptr<GovernanceStore>> stores(kReplicas);
  std::vector<std::string> failures(kReplicas);
  std::vector<std::thread> starting;
  for (int i = 0; i < kReplicas; ++i)
    starting.emplace_back([&, i] {
      try {
        stores[i] = proxy::open_postgres_store(options_for(database, &logs[i]));
      } catch (const StoreError& e) {
        failures[i] = e.what();
      }
    });
  for (auto& t : starting) t.join();
  for (int i = 0; i < kReplicas; ++i) {
    INFO("replica " << i);
    CHECK(failures[i].empty());
    REQUIRE(stores[i] != nullptr);
  }
  std::size_t applied = 0;
  for (const auto& log : logs)
    for (const auto& line : log) applied += line.find("applied migration 1") != std::string::npos;
  CHECK(applied == 1);
  const auto& all = proxy::postgres_migrations();
  REQUIRE(!all.empty());
  CHECK(postgres_server().sql("SELECT count(*), max(version) FROM schema_migrations", database) ==
        std::to_string(all.size()) + "|" + std::to_string(all.back().version));
  // Each sees what another wrote.
  stores[0]->put_key(full_key("key_1", 1));
  CHECK(stores[2]->load().keys.size() == 1);
}

TEST_CASE("a database of a newer schema is refused", "[store][postgres]") {
  const std::string database = postgres_server().create_database("newer");
  proxy::open_postgres_store(options_for(database));
  postgres_server().sql("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')",
                        database);
  CHECK_THROWS_WITH(proxy::open_postgres_store(options_for(database)),
                    Catch::Contains("schema 99"));
}

TEST_CASE("a ledger batch sent again with its id is counted once", "[store][postgres]") {
  const std::string database = postgres_server().create_database("batch");
  auto store = proxy::open_postgres_store(options_for(database));
  const auto rows = sample_ledger();
  store->write_ledger_batch(rows, "replica-a-1");
  store->write_ledger_batch(rows, "replica-a-1");  // its answer was lost: sent again
  store->write_ledger_batch(rows, "replica-b-1");  // another batch
  CHECK(store->ledger_row_count() == 2 * static_cast<std::int64_t>(rows.size()));
  core::Micros once = 0;
  for (const auto& r : rows) once += r.key_id == "key_a" ? r.cost : 0;
  CHECK(store->key_spend_since("key_a", 0) == 2 * once);
}

TEST_CASE("a change through one replica's store is heard by another's", "[store][postgres]") {
  const std::string database = postgres_server().create_database("listen");
  auto writer = proxy::open_postgres_store(options_for(database));
  auto reader = proxy::open_postgres_store(options_for(database));
  REQUIRE(reader->shared());
  // The first wait connects and says a change may have been missed meanwhile.
  CHECK(reader->wait_for_change(std::chrono::milliseconds(0)));
  CHECK_FALSE(reader->wait_for_change(std::chrono::milliseconds(50)));  // nothing happened
  for (int change = 0; change < 3; ++change) {
    INFO("change " << change);
    if (change == 0) writer->put_key(full_key("key_1", 1));
    if (change == 1) writer->put_team(full_team());
    if (change == 2) writer->delete_key("key_1");
    bool heard = false;
    const auto give_up = std::chrono::steady_clock::now() + seconds(5);
    while (!heard && std::chrono::steady_clock::now() < give_up)
      heard = reader->wait_for_change(std::chrono::milliseconds(500));
    CHECK(heard);
  }
  CHECK(reader->load().teams.size() == 1);
  // Shutdown ends a wait at once.
  std::thread waiting([&] { reader->wait_for_change(std::chrono::minutes(5)); });
  reader->interrupt_waits();
  waiting.join();
}

TEST_CASE("the store works again after PostgreSQL restarts", "[store][postgres]") {
  const std::string database = postgres_server().create_database("restart");
  auto store = proxy::open_postgres_store(options_for(database));
  store->put_key(full_key("key_1", 1));
  store->write_ledger_batch(sample_ledger(), "before");
  postgres_server().stop();
  CHECK_THROWS_AS(store->load(), StoreError);  // down: a StoreError, not a hang or a crash
  postgres_server().start();
  // The pool's connections died with the server: the next call makes a new one.
  CHECK(store->load().keys.size() == 1);
  store->write_ledger_batch(sample_ledger(), "after");
  CHECK(store->ledger_row_count() == 2 * static_cast<std::int64_t>(sample_ledger().size()));
}

TEST_CASE("an unreachable database is a clear error that never shows the password",
          "[store][postgres]") {
  proxy::PostgresStoreOptions options;
  options.url = "postgresql://switchyard:hunter2-not-shown@127.0.0.1:" +
                std::to_string(testing::pick_free_port()) + "/switchyard?sslmode=disable";
  options.connect_timeout = seconds(2);
  try {
    proxy::open_postgres_store(options);
    FAIL("opened a store on a closed port");
  } catch (const StoreError& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("cannot connect to postgresql://switchyard@127.0.0.1:"));
    CHECK_THAT(message, !Catch::Contains("hunter2"));
  }
  CHECK(proxy::postgres::redacted_url("postgres://u:p%40ss@db.internal:5433/sy?password=x") ==
        "postgres://u@db.internal:5433/sy");
}
