// The ledger's writer threads against a real SQLite file: every row lands once, a row
// written over an earlier one's slot carries nothing of it, and a database that is locked
// stalls neither the workers nor the draining of their rings.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "proxy/governance.hpp"
#include "proxy/sqlite_store.hpp"
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
    LedgerWriter writer(*store, 2, 65536, 20ms);
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
    LedgerWriter writer(*store, 1, 65536, 20ms);
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
    LedgerWriter writer(*store, 1, kQueueRows, 10ms);
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
