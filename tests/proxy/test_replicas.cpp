// Several gateway processes sharing one PostgreSQL database (issue 14): keys made, blocked or
// deleted through one replica reach the others, the ledger is one ledger whichever replica
// served a request, and a database restarted under load loses no ledger row. Real processes
// and a real server, all on 127.0.0.1.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/proxy/gateway_fixture.hpp"
#include "tests/proxy/governance_support.hpp"
#include "tests/support/database_servers.hpp"

using namespace switchyard::testing;

namespace {

constexpr const char* kMaster = "master-key-for-the-replica-tests";

PostgresServer& postgres() {
  static PostgresServer server;
  return server;
}

RedisServer& redis() {
  static RedisServer server;
  return server;
}

// `count` gateways on one new database, ledger commits every 50 ms; with `shared_limits`,
// budgets and limits through the test's Redis (emptied first).
struct Replicas {
  explicit Replicas(int count, std::string_view extra_state = {}, bool shared_limits = false,
                    std::vector<std::string> mock_args = {},
                    std::string_view extra_governance = {}) {
    database = postgres().create_database("replicas");
    if (shared_limits) redis().command({"FLUSHALL"});
    std::string state(extra_state);
    if (shared_limits) state += "  redis: {url: \"" + redis().url() + "\", timeout_ms: 200}\n";
    for (int i = 0; i < count; ++i) {
      GatewayOptions o = governance_options(kMaster, 50, extra_governance);
      o.mock_args = mock_args;
      o.top_level += "state:\n  store: postgres\n  postgres: {url: \"" + postgres().url(database) +
                     "\", pool: 2}\n  replica_id: replica-" + std::to_string(i) +
                     "\n  ledger_spool: {directory: \"@DIR@/spool\"}\n" + state;
      gateways.push_back(std::make_unique<GatewayFixture>(o));
    }
  }
  GatewayFixture& operator[](std::size_t i) { return *gateways.at(i); }
  HttpResponse admin(std::size_t i, std::string_view method, std::string_view path,
                     std::string_view body = {}) {
    return http_request(gateways.at(i)->port, method, path, body, bearer(kMaster));
  }
  std::string database;
  std::vector<std::unique_ptr<GatewayFixture>> gateways;
};

int chat(std::uint16_t port, std::string_view secret) {
  return http_request(port, "POST", "/v1/chat/completions", chat_body("gpt-test"), bearer(secret))
      .status;
}

// Polls `done` until it holds or `bound` passes; the time it took, or nullopt.
template <class Done>
std::optional<std::chrono::milliseconds> time_until(Done&& done, std::chrono::milliseconds bound) {
  const auto start = std::chrono::steady_clock::now();
  while (!done()) {
    if (std::chrono::steady_clock::now() - start > bound) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

// Stops a test's load threads and joins them when it goes out of scope, however the test ends
// (a failed REQUIRE included).
struct StopAndJoin {
  std::atomic<bool>& stop;
  std::vector<std::thread>& threads;
  ~StopAndJoin() {
    stop.store(true);
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
};

// The word of a change travels by NOTIFY; this bound only keeps a broken test from hanging.
// What a change takes is printed, and stated in the README.
constexpr std::chrono::milliseconds kPropagationBound = 5s;

}  // namespace

TEST_CASE("replicas: a key made, blocked and deleted through one replica reaches every other",
          "[replicas]") {
  Replicas r(3);
  const HttpResponse created = r.admin(0, "POST", "/admin/keys", R"({"alias":"shared"})");
  REQUIRE(created.status == 201);
  const auto key = parse_object(created.body);
  const std::string secret(key.at("secret").as_string());
  const std::string id(key.at("id").as_string());
  CHECK(chat(r[0].port, secret) == 200);  // where it was made: at once
  for (std::size_t i = 1; i < 3; ++i) {
    INFO("replica " << i);
    const auto took = time_until([&] { return chat(r[i].port, secret) == 200; }, kPropagationBound);
    REQUIRE(took);
    WARN("a new key worked on replica " << i << " after " << took->count() << " ms");
  }

  // Blocked through another replica: refused everywhere.
  REQUIRE(r.admin(1, "POST", "/admin/keys/" + id + "/block").status == 200);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("replica " << i);
    const auto took = time_until([&] { return chat(r[i].port, secret) == 401; }, kPropagationBound);
    REQUIRE(took);
    WARN("a blocked key was refused on replica " << i << " after " << took->count() << " ms");
  }
  // Each replica's admin listing agrees.
  for (std::size_t i = 0; i < 3; ++i) {
    const auto listed = parse_object(r.admin(i, "GET", "/admin/keys/" + id).body);
    CHECK(listed.at("blocked") == true);
  }
  REQUIRE(r.admin(2, "POST", "/admin/keys/" + id + "/unblock").status == 200);
  REQUIRE(time_until([&] { return chat(r[0].port, secret) == 200; }, kPropagationBound));
  REQUIRE(r.admin(2, "DELETE", "/admin/keys/" + id).status == 200);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("replica " << i);
    REQUIRE(time_until([&] { return chat(r[i].port, secret) == 401; }, kPropagationBound));
  }
  // A change of one replica made on another's stale records would undo it: a name taken
  // through replica 0 is refused through replica 1, even before word of it arrived.
  REQUIRE(r.admin(0, "POST", "/admin/teams", R"({"name":"research"})").status == 201);
  CHECK(r.admin(1, "POST", "/admin/teams", R"({"name":"research"})").status == 409);
}

TEST_CASE("replicas: the ledger is one ledger, whichever replica served", "[replicas]") {
  Replicas r(3);
  const HttpResponse created = r.admin(0, "POST", "/admin/keys", R"({"alias":"ledger"})");
  REQUIRE(created.status == 201);
  const std::string secret(parse_object(created.body).at("secret").as_string());
  // In force everywhere first (the model list costs no ledger row); then 1 + 2 + 3 requests.
  for (std::size_t i = 0; i < 3; ++i)
    REQUIRE(time_until(
        [&] {
          return http_request(r[i].port, "GET", "/v1/models", "", bearer(secret)).status == 200;
        },
        kPropagationBound));
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t n = 0; n <= i; ++n) REQUIRE(chat(r[i].port, secret) == 200);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("report from replica " << i);
    std::int64_t requests = 0;
    REQUIRE(time_until(
        [&] {
          const auto report = parse_object(r.admin(i, "GET", "/admin/spend?group_by=key").body);
          requests = report.at("total").at("requests").as_int64();
          return requests == 6;
        },
        10s));
  }
  CHECK(postgres().sql("SELECT count(DISTINCT request_id) FROM ledger", r.database) == "6");
  // Each replica wrote its own batches.
  CHECK(postgres().sql("SELECT count(DISTINCT split_part(id, '-', 2)) FROM ledger_batches",
                       r.database) == "3");
}

TEST_CASE("replicas: PostgreSQL restarted under load loses no ledger row", "[replicas]") {
  Replicas r(2);
  const HttpResponse created = r.admin(0, "POST", "/admin/keys", "{}");
  REQUIRE(created.status == 201);
  const auto key = parse_object(created.body);
  const std::string secret(key.at("secret").as_string());
  const std::string key_id(key.at("id").as_string());
  REQUIRE(time_until([&] { return chat(r[1].port, secret) == 200; }, kPropagationBound));

  std::atomic<bool> stop{false};
  std::atomic<int> answered{1}, refused{0};  // the request that found the key on replica 1
  std::vector<std::thread> load;
  for (std::size_t i = 0; i < 2; ++i)
    load.emplace_back([&, i] {
      // Bounded: at most 50,000 requests a thread.
      for (int n = 0; n < 50'000 && !stop.load(); ++n) {
        if (chat(r[i].port, secret) == 200)
          answered.fetch_add(1);
        else
          refused.fetch_add(1);
      }
    });
  const StopAndJoin joiner{stop, load};  // however the test ends
  REQUIRE(time_until([&] { return answered.load() >= 50; }, 10s));
  postgres().stop();
  // Keys keep working from memory; the ledger waits in each replica's spool.
  const int at_stop = answered.load();
  REQUIRE(time_until([&] { return answered.load() >= at_stop + 100; }, 10s));
  REQUIRE(time_until(
      [&] { return metric_value(r[0].metrics(), "switchyard_ledger_spool_rows") > 0; }, 10s));
  // An admin change cannot be made meanwhile, and says why.
  const HttpResponse during = r.admin(1, "POST", "/admin/keys", "{}");
  CHECK(during.status == 503);
  CHECK_THAT(during.body, Catch::Contains("store_unavailable"));
  postgres().start();
  const int at_start = answered.load();
  REQUIRE(time_until([&] { return answered.load() >= at_start + 50; }, 10s));
  stop.store(true);
  for (auto& t : load) t.join();
  CHECK(refused.load() == 0);
  const std::string want = std::to_string(answered.load());
  INFO(answered.load() << " requests answered");
  std::string seen;
  const bool all_there =
      time_until(
          [&] {
            seen = postgres().sql(
                "SELECT count(DISTINCT request_id) FROM ledger WHERE key_id = '" + key_id + "'",
                r.database);
            return seen == want;
          },
          20s)
          .has_value();
  INFO("the ledger has " << seen << " distinct requests");
  REQUIRE(all_there);
  CHECK(postgres().sql("SELECT count(*) FROM ledger WHERE key_id = '" + key_id + "'",
                       r.database) == want);  // none twice
  for (std::size_t i = 0; i < 2; ++i)
    CHECK(metric_value(r[i].metrics(), "switchyard_ledger_rows_dropped_total") == 0);
}

// --- Budgets and limits shared through Redis ---

namespace {

// `count` requests sent together (each thread waits for the others before it sends), spread
// over `replicas` gateways in turn from `first`; their statuses.
std::vector<int> all_at_once(Replicas& r, std::size_t replicas, int count, std::string_view secret,
                             const std::string& body, std::size_t first = 0) {
  std::vector<int> statuses(static_cast<std::size_t>(count));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i)
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      const std::uint16_t port = r[first + static_cast<std::size_t>(i) % replicas].port;
      statuses[static_cast<std::size_t>(i)] =
          http_request(port, "POST", "/v1/chat/completions", body, bearer(secret)).status;
    });
  while (ready.load() < count) std::this_thread::yield();
  go.store(true);
  for (auto& t : threads) t.join();
  return statuses;
}

int count_of(const std::vector<int>& statuses, int status) {
  return static_cast<int>(std::count(statuses.begin(), statuses.end(), status));
}

// A key made through replica 0 with `body` (its budget, limits), in force on all of them.
std::pair<std::string, std::string> shared_key(Replicas& r, const std::string& body) {
  const HttpResponse created = r.admin(0, "POST", "/admin/keys", body);
  REQUIRE(created.status == 201);
  const auto key = parse_object(created.body);
  const std::string secret(key.at("secret").as_string());
  for (std::size_t i = 0; i < r.gateways.size(); ++i)
    REQUIRE(time_until(
        [&] {
          return http_request(r[i].port, "GET", "/v1/models", "", bearer(secret)).status == 200;
        },
        kPropagationBound));
  return {std::string(key.at("id").as_string()), secret};
}

}  // namespace

TEST_CASE("replicas: 100 streams over 3 replicas against a budget that fits 10", "[replicas]") {
  // Each stream is held half a second before its first token: all 100 are in flight at once.
  Replicas r(3, {}, /*shared_limits=*/true, {"--ttft-ms", "500"});
  const std::string body = chat_body("gpt-test", R"(,"stream":true,"max_tokens":1000)");
  // What the gateway reserves for one: its input estimate (4 bytes a token) at $2 and 1,000
  // output tokens at $8 per million, rounded up to the micro-dollar.
  const auto input_tokens = static_cast<std::int64_t>(body.size() / 4);
  const std::int64_t reserve_micros = (input_tokens * 2 + 1000 * 8 + 0);  // $/M = micros a token
  char budget[96];
  std::snprintf(budget, sizeof budget, R"({"budget":{"max_usd":%.6f,"period":"daily"}})",
                static_cast<double>(10 * reserve_micros) / 1e6);
  const auto [id, secret] = shared_key(r, budget);

  const std::vector<int> statuses = all_at_once(r, 3, 100, secret, body);
  INFO("admitted " << count_of(statuses, 200) << ", refused " << count_of(statuses, 429)
                   << ", first status " << statuses.front());
  // Exactly what fits: the budget was never held by more than ten at once, on any replica.
  CHECK(count_of(statuses, 200) == 10);
  CHECK(count_of(statuses, 429) == 90);
  // Every replica's ledger rows agree; the settled spend is within the budget.
  std::int64_t cost = -1;
  REQUIRE(time_until(
      [&] {
        const auto report = parse_object(r.admin(1, "GET", "/admin/spend?group_by=key").body);
        const auto& total = report.at("total").as_object();
        if (total.at("requests").as_int64() != 100) return false;
        // The report's USD are decimal text, exact to the micro-dollar.
        cost = std::llround(std::stod(std::string(total.at("cost_usd").as_string())) * 1e6);
        return true;
      },
      10s));
  CHECK(cost > 0);
  CHECK(cost <= 10 * reserve_micros);
  // Each replica's admin API shows the budget's spend as Redis has it (read back every
  // second), whichever replica served the requests.
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("replica " << i);
    std::string shown;
    const bool mirrored = time_until(
                              [&] {
                                const auto key =
                                    parse_object(r.admin(i, "GET", "/admin/keys/" + id).body);
                                shown = std::string(key.at("spend").at("spent_usd").as_string());
                                return std::llround(std::stod(shown) * 1e6) == cost;
                              },
                              10s)
                              .has_value();
    INFO("shown " << shown << ", the ledger's " << cost);
    CHECK(mirrored);
  }
  // Nothing stays held: a new stream fits again once the others settled.
  CHECK(http_request(r[2].port, "POST", "/v1/chat/completions", body, bearer(secret)).status ==
        200);
}

TEST_CASE("replicas: a requests-per-minute limit is one limit across replicas", "[replicas]") {
  Replicas r(3, {}, /*shared_limits=*/true);
  const auto [id, secret] = shared_key(r, R"({"limits":{"rpm":30}})");
  const auto start = std::chrono::steady_clock::now();
  int admitted = 0;
  std::vector<std::int64_t> remaining;  // each admitted answer's x-ratelimit-remaining-requests
  std::string refused_remaining;
  for (int i = 0; i < 60; ++i) {
    const HttpResponse answer =
        http_request(r[static_cast<std::size_t>(i % 3)].port, "POST", "/v1/chat/completions",
                     chat_body("gpt-test"), bearer(secret));
    CHECK(answer.header("x-ratelimit-limit-requests") == "30");
    if (answer.status == 200) {
      ++admitted;
      remaining.push_back(std::stoll(answer.header("x-ratelimit-remaining-requests")));
    } else if (refused_remaining.empty()) {
      refused_remaining = answer.header("x-ratelimit-remaining-requests");
    }
  }
  // The headers count the one limit Redis holds, whichever replica answered: 29, 28, ... as
  // the burst is spent (the refill can give one back between two requests), and 0 once it is.
  REQUIRE(remaining.size() >= 3);
  CHECK(remaining[0] == 29);
  CHECK(remaining[1] == 28);
  CHECK(remaining[2] <= 27);
  CHECK(refused_remaining == "0");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(admitted << " of 60 admitted in " << seconds << " s");
  // GCRA: the whole burst of 30, and what the rate refilled while the test ran (30 a minute).
  CHECK(admitted >= 30);
  CHECK(admitted <= 30 + static_cast<int>(std::ceil(30 * seconds / 60)));
}

TEST_CASE("replicas: a free model's requests settle, so a budgeted key's parallel slots come back",
          "[replicas]") {
  // A model without a price, counted as free: every reservation on the budget is zero, which
  // the settle must give back like any other amount before it releases the parallel slot.
  Replicas r(2, {}, /*shared_limits=*/true, {}, "  unpriced_models: free\n");
  const auto [id, secret] =
      shared_key(r, R"({"budget":{"max_usd":10,"period":"daily"},"limits":{"parallel":2}})");
  const std::string body = chat_body("openai-test");
  for (int i = 0; i < 12; ++i) {
    const HttpResponse answer = http_request(r[static_cast<std::size_t>(i % 2)].port, "POST",
                                             "/v1/chat/completions", body, bearer(secret));
    INFO("request " << i << ": " << answer.status << " " << answer.body);
    REQUIRE(answer.status == 200);
    // The settle is not awaited by the request: wait for it before the next one, so that one
    // request at a time is in flight and a slot that never came back shows as a refusal.
    REQUIRE(time_until(
        [&] {
          return redis().command({"HLEN", "sy:p:" + id}) == "0";
        },
        std::chrono::milliseconds(2000)));
  }
  // The budget's hash keeps its settled spend and no reservation.
  const std::string day = redis().command({"KEYS", "sy:b:" + id + ":*"});
  REQUIRE_FALSE(day.empty());
  CHECK(redis().command({"HKEYS", day}) == "spent");
  CHECK(redis().command({"HGET", day, "spent"}) == "0");
}

TEST_CASE("replicas: a parallel limit holds across replicas, and a killed replica's share is freed",
          "[replicas]") {
  Replicas r(3, {}, /*shared_limits=*/true, {"--ttft-ms", "1500"});
  const auto [id, secret] = shared_key(r, R"({"limits":{"parallel":4}})");
  const std::string body = chat_body("gpt-test", R"(,"stream":true)");
  CHECK(count_of(all_at_once(r, 3, 30, secret, body), 200) == 4);

  // Two streams held by replica 0, which is then killed outright: no settle ever comes.
  const std::int64_t seen = r[0].mock_stats().at("requests").as_int64();
  std::vector<std::thread> held;
  for (int i = 0; i < 2; ++i)
    held.emplace_back([&] {
      try {
        http_request(r[0].port, "POST", "/v1/chat/completions", body, bearer(secret));
      } catch (const std::exception&) {
        // The replica was killed under the request: its connection breaks, as expected.
      }
    });
  REQUIRE(r[0].wait_mock_stat("requests", seen + 2) == seen + 2);
  r[0].gateway().send_signal(SIGKILL);
  for (auto& t : held) t.join();
  // Until its liveness lapses (3 s), its two count; then only what the live replicas hold.
  const auto freed = time_until(
      [&] { return count_of(all_at_once(r, 2, 4, secret, chat_body("gpt-test"), 1), 200) == 4; },
      10s);
  REQUIRE(freed);
  WARN("a killed replica's parallel share was freed after " << freed->count() << " ms");
}

TEST_CASE(
    "replicas: Redis restarted empty under load: fail_closed refuses meanwhile, then the "
    "budget is seeded from the ledger",
    "[replicas]") {
  Replicas r(2, {}, /*shared_limits=*/true);
  const auto [id, secret] = shared_key(r, R"({"budget":{"max_usd":100,"period":"daily"}})");
  for (int i = 0; i < 20; ++i)
    REQUIRE(chat(r[static_cast<std::size_t>(i % 2)].port, secret) == 200);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::vector<std::thread> load;
  const StopAndJoin joiner{stop, load};  // however the test ends
  for (std::size_t i = 0; i < 2; ++i)
    load.emplace_back([&, i] {
      for (int n = 0; n < 50'000 && !stop.load(); ++n) {
        const HttpResponse answer = http_request(r[i].port, "POST", "/v1/chat/completions",
                                                 chat_body("gpt-test"), bearer(secret));
        if (answer.status == 200)
          ok.fetch_add(1);
        else if (answer.status == 503 &&
                 answer.body.find("limits_unavailable") != std::string::npos)
          unavailable.fetch_add(1);
        else
          other.fetch_add(1);
      }
    });
  REQUIRE(time_until([&] { return ok.load() >= 50; }, 10s));
  redis().kill();  // its data is gone with it: no appendonly
  REQUIRE(time_until([&] { return unavailable.load() >= 20; }, 10s));
  const int refused_while_down = unavailable.load();
  redis().start();
  const int ok_at_start = ok.load();
  REQUIRE(time_until([&] { return ok.load() >= ok_at_start + 50; }, 20s));
  stop.store(true);
  for (auto& t : load) t.join();
  INFO(ok.load() << " admitted, " << unavailable.load() << " refused with 503, " << other.load()
                 << " other answers");
  CHECK(other.load() == 0);
  CHECK(refused_while_down >= 20);
  for (std::size_t i = 0; i < 2; ++i)
    CHECK(metric_value(r[i].metrics(), "switchyard_shared_limits_unavailable_total") > 0);

  // Once everything is settled and committed, Redis's spend for today is the ledger's: the
  // budget was seeded from it, not started again from zero.
  const std::int64_t day_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count() /
                              86'400'000 * 86'400'000;
  const std::string budget_key = "sy:b:" + id + ":" + std::to_string(day_ms);
  std::string in_redis, in_ledger;
  const bool agree =
      time_until(
          [&] {
            in_redis = redis().command({"HGET", budget_key, "spent"});
            in_ledger = postgres().sql(
                "SELECT COALESCE(sum(cost), 0) FROM ledger WHERE key_id = '" + id + "'",
                r.database);
            return !in_redis.empty() && in_redis == in_ledger;
          },
          10s)
          .has_value();
  INFO("Redis says " << in_redis << ", the ledger " << in_ledger);
  CHECK(agree);
  CHECK(in_ledger != "0");
}

TEST_CASE("replicas: under fail_open, Redis down, each replica admits on its own counters",
          "[replicas]") {
  Replicas r(2, "  on_redis_down: fail_open\n", /*shared_limits=*/true);
  const auto [id, secret] = shared_key(r, R"({"limits":{"rpm":5}})");
  redis().stop();
  // Each replica lets its own 5 a minute through: twice the limit over two, the stated cost.
  int admitted_0 = 0, admitted_1 = 0;
  for (int i = 0; i < 8; ++i) {
    admitted_0 += chat(r[0].port, secret) == 200;
    admitted_1 += chat(r[1].port, secret) == 200;
  }
  redis().start();
  CHECK(admitted_0 == 5);
  CHECK(admitted_1 == 5);
}
