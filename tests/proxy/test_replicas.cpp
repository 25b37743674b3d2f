// Several gateway processes sharing one PostgreSQL database (issue 14): keys made, blocked or
// deleted through one replica reach the others, the ledger is one ledger whichever replica
// served a request, and a database restarted under load loses no ledger row. Real processes
// and a real server, all on 127.0.0.1.
#include <atomic>
#include <catch2/catch.hpp>
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

// `count` gateways on one new database, ledger commits every 50 ms.
struct Replicas {
  explicit Replicas(int count, std::string_view extra_state = {}) {
    database = postgres().create_database("replicas");
    for (int i = 0; i < count; ++i) {
      GatewayOptions o = governance_options(kMaster, 50);
      o.top_level += "state:\n  store: postgres\n  postgres: {url: \"" + postgres().url(database) +
                     "\", pool: 2}\n  replica_id: replica-" + std::to_string(i) +
                     "\n  ledger_spool: {directory: \"@DIR@/spool\"}\n" + std::string(extra_state);
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
  for (std::size_t i = 0; i < 3; ++i)
    REQUIRE(time_until([&] { return chat(r[i].port, secret) == 200; }, kPropagationBound));
  // 1 + 2 + 3 more requests: 3 + 6 in all.
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t n = 0; n <= i; ++n) REQUIRE(chat(r[i].port, secret) == 200);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("report from replica " << i);
    std::int64_t requests = 0;
    REQUIRE(time_until(
        [&] {
          const auto report = parse_object(r.admin(i, "GET", "/admin/spend?group_by=key").body);
          requests = report.at("total").at("requests").as_int64();
          return requests == 9;
        },
        10s));
  }
  CHECK(postgres().sql("SELECT count(DISTINCT request_id) FROM ledger", r.database) == "9");
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
      // Bounded: at most 2,000 requests a thread.
      for (int n = 0; n < 2000 && !stop.load(); ++n) {
        if (chat(r[i].port, secret) == 200)
          answered.fetch_add(1);
        else
          refused.fetch_add(1);
      }
    });
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
