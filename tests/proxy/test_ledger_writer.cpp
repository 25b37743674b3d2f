// The ledger's writer threads against a real SQLite file: every row lands once, a row
// written over an earlier one's slot carries nothing of it, and a database that is locked
// stalls neither the workers nor the draining of their rings. Against a real PostgreSQL
// server: batches wait in the on-disk spool while it is down and all land once after.
#include <sqlite3.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "proxy/governance.hpp"
#include "proxy/ledger_spool.hpp"
#include "proxy/postgres_store.hpp"
#include "proxy/sqlite_store.hpp"
#include "tests/support/database_servers.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using namespace switchyard;
using namespace std::chrono_literals;
using proxy::LedgerWriter;
using proxy::QueuedLedgerRow;

struct Dir {
  testing::TempDir dir{"switchyard-ledger"};
  std::string db() const { return dir.path + "/gov.db"; }
};

void fill_row(QueuedLedgerRow& q, const std::string& id, std::int64_t time_ms) {
  q.request_id_size = id.copy(q.request_id.data(), q.request_id.size());
  q.row.time_ms = time_ms;
  q.row.model = "gpt-test";
  q.row.provider = "mock";
  q.row.input_tokens = 3;
  q.row.output_tokens = 4;
  q.row.cached_tokens = 0;
  q.row.cache_write_tokens = 0;
  q.row.reasoning_tokens = 0;
  q.row.cost = 7;
  q.row.latency_ms = 1;
  q.row.ttft_ms.reset();
  q.row.status = 200;
  q.row.error.clear();
  q.key.reset();
  q.header_tags.clear();
  q.end_user.clear();
  q.metadata_tags.clear();
}

LedgerWriter::Options options(std::size_t queue_rows, std::chrono::milliseconds interval) {
  LedgerWriter::Options o;
  o.queue_rows = queue_rows;
  o.commit_interval = interval;
  return o;
}

// Polls, bounded, until `done()`; false when the bound passed first.
template <class Done>
bool wait_until(Done&& done, std::chrono::milliseconds bound = 5s) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

std::vector<std::string> column(const std::string& db, const char* sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, sql, -1, &st, nullptr) == SQLITE_OK);
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(st, 0);
    out.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
  }
  sqlite3_finalize(st);
  sqlite3_close(raw);
  return out;
}

}  // namespace

TEST_CASE("ledger writer: rows from every worker land once, in each worker's order") {
  Dir dir;
  auto store = proxy::open_sqlite_store(dir.db());
  constexpr int kPerWorker = 5000;  // several laps of each ring
  {
    LedgerWriter writer(*store, 2, options(65536, 20ms));
    std::vector<std::thread> workers;
    for (int w = 0; w < 2; ++w)
      workers.emplace_back([&writer, w] {
        for (int i = 0; i < kPerWorker; ++i) {
          // A full ring drops the row: wait for the drain thread instead, as the test wants
          // every row (a worker never waits; this test's producer may).
          while (writer.in_rings() >= LedgerWriter::kRingRows) std::this_thread::yield();
          writer.push(static_cast<std::size_t>(w), [&](QueuedLedgerRow& q) {
            char id[32];
            std::snprintf(id, sizeof id, "w%d-%06d", w, i);
            fill_row(q, id, 1'700'000'000'000 + i);
          });
        }
      });
    for (auto& t : workers) t.join();
    writer.close();
    CHECK(writer.rows_dropped() == 0);
    CHECK(writer.rows_written() == 2 * kPerWorker);
    CHECK(writer.queued() == 0);
  }
  CHECK(store->ledger_row_count() == 2 * kPerWorker);
  const auto ids =
      column(dir.db(), "SELECT request_id FROM ledger WHERE request_id LIKE 'w1-%' ORDER BY id");
  REQUIRE(ids.size() == kPerWorker);
  bool in_order = true;
  for (int i = 0; i < kPerWorker; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "w1-%06d", i);
    in_order = in_order && ids[static_cast<std::size_t>(i)] == id;
  }
  CHECK(in_order);
}

TEST_CASE("ledger writer: a row written over an earlier row's slot keeps nothing of it") {
  Dir dir;
  auto store = proxy::open_sqlite_store(dir.db());
  {
    LedgerWriter writer(*store, 1, options(65536, 20ms));
    // Enough rows for the slots to be reused: each odd row has an error, a user and tags, each
    // even row none, so a field left over from the row before would show.
    for (int i = 0; i < 3 * static_cast<int>(LedgerWriter::kRingRows); ++i) {
      REQUIRE(wait_until([&] { return writer.in_rings() < LedgerWriter::kRingRows; }));
      writer.push(0, [&](QueuedLedgerRow& q) {
        fill_row(q, std::string("r").append(std::to_string(i)), 1'700'000'000'000 + i);
        if (i % 2 == 1) {
          q.row.status = 502;
          q.row.error = "upstream_error";
          q.end_user = "alice";
          q.header_tags = "a,b";
          q.metadata_tags = {"m"};
        }
      });
    }
    writer.close();
    CHECK(writer.rows_dropped() == 0);
  }
  const auto even =
      column(dir.db(),
             "SELECT DISTINCT status || '|' || error || '|' || user || '|' || tags_json"
             " FROM ledger WHERE CAST(substr(request_id, 2) AS INTEGER) % 2 = 0");
  CHECK(even == std::vector<std::string>{"200|||[]"});
  const auto odd =
      column(dir.db(),
             "SELECT DISTINCT status || '|' || error || '|' || user || '|' || tags_json"
             " FROM ledger WHERE CAST(substr(request_id, 2) AS INTEGER) % 2 = 1");
  CHECK(odd == std::vector<std::string>{R"(502|upstream_error|alice|["a","b","m"])"});
}

TEST_CASE(
    "ledger writer: a locked database stalls neither the workers nor the draining, past "
    "queue_rows the rows are dropped and counted, the rest written once it frees") {
  Dir dir;
  auto store = proxy::open_sqlite_store(dir.db());
  constexpr std::size_t kQueueRows = 3000;
  constexpr int kRows = 10000;
  // Another connection holds the write lock, as an operator's long transaction would.
  sqlite3* locker = nullptr;
  REQUIRE(sqlite3_open(dir.db().c_str(), &locker) == SQLITE_OK);
  REQUIRE(sqlite3_exec(locker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
  std::uint64_t written = 0;
  std::uint64_t dropped = 0;
  {
    LedgerWriter writer(*store, 1, options(kQueueRows, 10ms));
    for (int i = 0; i < kRows; ++i) {
      // The drain thread keeps emptying the ring while the commit waits on the lock.
      REQUIRE(wait_until([&] { return writer.in_rings() < LedgerWriter::kRingRows; }));
      writer.push(0, [&](QueuedLedgerRow& q) {
        fill_row(q, std::string("k").append(std::to_string(i)), 1'700'000'000'000 + i);
      });
    }
    REQUIRE(wait_until([&] { return writer.in_rings() == 0; }));
    // At most one batch in the stalled commit and kQueueRows pending: the rest was dropped.
    CHECK(writer.rows_written() == 0);
    CHECK(writer.rows_dropped() >= kRows - 2 * kQueueRows);
    CHECK(writer.queued() <= kQueueRows);
    REQUIRE(sqlite3_exec(locker, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    writer.close();
    written = writer.rows_written();
    dropped = writer.rows_dropped();
  }
  sqlite3_close(locker);
  INFO("written " << written << ", dropped " << dropped);
  CHECK(written + dropped == kRows);
  CHECK(written >= kQueueRows);
  CHECK(static_cast<std::uint64_t>(store->ledger_row_count()) == written);
}

// --- The spool: a shared store (PostgreSQL) that is away loses no row ---

namespace {

testing::PostgresServer& postgres_server() {
  static testing::PostgresServer server;
  return server;
}

std::unique_ptr<proxy::GovernanceStore> postgres_store(const std::string& database) {
  proxy::PostgresStoreOptions o;
  o.url = postgres_server().url(database);
  o.pool = 1;
  o.connect_timeout = 2s;
  return proxy::open_postgres_store(o);
}

LedgerWriter::Options spooling(const std::string& directory, std::uint64_t max_bytes = 1 << 20) {
  LedgerWriter::Options o = options(65536, 10ms);
  o.batch_prefix = "replica-test";
  o.spool_directory = directory;
  o.spool_max_bytes = max_bytes;
  return o;
}

void push_rows(LedgerWriter& writer, const std::string& prefix, int count) {
  for (int i = 0; i < count; ++i) {
    REQUIRE(wait_until([&] { return writer.in_rings() < LedgerWriter::kRingRows; }));
    writer.push(0, [&](QueuedLedgerRow& q) {
      fill_row(q, prefix + std::to_string(i), 1'700'000'000'000 + i);
    });
  }
}

}  // namespace

TEST_CASE("ledger writer: rows wait in the spool while PostgreSQL is down, then all land once") {
  Dir dir;
  const std::string database = postgres_server().create_database("spool");
  auto store = postgres_store(database);
  LedgerWriter writer(*store, 1, spooling(dir.dir.path + "/spool"));
  push_rows(writer, "before-", 100);
  REQUIRE(wait_until([&] { return writer.rows_written() == 100; }));

  postgres_server().stop();
  push_rows(writer, "during-", 300);
  REQUIRE(wait_until([&] { return writer.rows_spooled() == 300; }, 20s));
  CHECK(writer.rows_dropped() == 0);
  CHECK(writer.rows_written() == 100);

  postgres_server().start();
  push_rows(writer, "after-", 50);
  REQUIRE(wait_until([&] { return writer.rows_written() == 450; }, 20s));
  CHECK(writer.rows_spooled() == 0);
  writer.close();
  CHECK(store->ledger_row_count() == 450);
  // Every request once: no row lost, none twice.
  CHECK(postgres_server().sql("SELECT count(DISTINCT request_id) FROM ledger", database) == "450");
}

TEST_CASE("ledger writer: a spool left by a stopped gateway is written by the next one") {
  Dir dir;
  const std::string spool = dir.dir.path + "/spool";
  const std::string database = postgres_server().create_database("spool_restart");
  auto store = postgres_store(database);
  postgres_server().stop();
  {
    LedgerWriter writer(*store, 1, spooling(spool));
    push_rows(writer, "kept-", 200);
    writer.close();  // the last commit spools what was queued
    CHECK(writer.rows_spooled() == 200);
    CHECK(writer.rows_dropped() == 0);
  }
  postgres_server().start();
  LedgerWriter next(*store, 1, spooling(spool));
  CHECK(next.rows_spooled() == 200);
  REQUIRE(wait_until([&] { return next.rows_written() == 200; }, 20s));
  next.close();
  CHECK(store->ledger_row_count() == 200);
}

TEST_CASE("ledger writer: past the spool's size, rows are dropped and counted") {
  Dir dir;
  const std::string database = postgres_server().create_database("spool_full");
  auto store = postgres_store(database);
  postgres_server().stop();
  std::uint64_t spooled = 0, dropped = 0;
  {
    // About 40 rows fit in 8 KiB of spool: batches of 20 rows, one commit each.
    LedgerWriter writer(*store, 1, spooling(dir.dir.path + "/spool", 8 << 10));
    for (int batch = 0; batch < 20; ++batch) {
      push_rows(writer, "r-" + std::to_string(batch) + "-", 20);
      REQUIRE(wait_until(
          [&] { return writer.rows_spooled() + writer.rows_dropped() == 20u * (batch + 1); }, 20s));
    }
    writer.close();
    spooled = writer.rows_spooled();
    dropped = writer.rows_dropped();
  }
  postgres_server().start();
  INFO("spooled " << spooled << ", dropped " << dropped);
  CHECK(spooled > 0);
  CHECK(dropped > 0);
  CHECK(spooled + dropped == 400);
}

TEST_CASE("ledger spool: a batch file that cannot be read whole is set aside, the rest replays") {
  Dir dir;
  const std::string path = dir.dir.path + "/spool";
  std::vector<core::LedgerRow> rows(3);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    rows[i].request_id = "id-" + std::to_string(i);
    rows[i].tags = {"a", "b\"quoted\""};
    rows[i].ttft_ms = i == 1 ? std::optional<std::int64_t>(5) : std::nullopt;
    rows[i].error = i == 2 ? "tab\there" : "";
  }
  {
    proxy::LedgerSpool spool(path, 1 << 20);
    REQUIRE(spool.keep("b-1", rows));
    REQUIRE(spool.keep("b-2", rows));
    REQUIRE(spool.keep("b-3", rows));
    CHECK(spool.rows() == 9);
  }
  // Cut the second file short, as a full disk would have.
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(path)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() == 3);
  std::filesystem::resize_file(files[1], std::filesystem::file_size(files[1]) / 2);

  proxy::LedgerSpool spool(path, 1 << 20);
  CHECK(spool.rows() == 9);
  std::vector<std::string> replayed;
  spool.replay([&](std::span<const core::LedgerRow> batch, std::string_view id) {
    replayed.emplace_back(id);
    REQUIRE(batch.size() == rows.size());
    CHECK(batch[1].ttft_ms == rows[1].ttft_ms);
    CHECK(batch[2].error == rows[2].error);
    CHECK(batch[0].tags == rows[0].tags);
  });
  CHECK(replayed == std::vector<std::string>{"b-1", "b-3"});
  CHECK(spool.empty());
  CHECK(spool.unreadable_rows() == 3);
  CHECK(std::filesystem::exists(files[1].string() + ".unreadable"));
}
