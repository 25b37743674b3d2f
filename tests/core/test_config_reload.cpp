// What a reload applies and what it leaves for a restart, named as in the config file.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/config_reload.hpp"

using namespace switchyard::core;

namespace {

Config load(const std::string& text) {
  auto r = parse_config(text, "switchyard.yaml", [](const std::string&) { return std::nullopt; });
  if (!r.ok()) {
    for (const auto& e : r.error()) UNSCOPED_INFO(e.to_string());
  }
  REQUIRE(r.ok());
  return std::move(r.value());
}

constexpr const char* kModels = R"(
providers:
  - {name: mock, type: mock}
models:
  - {name: m1, provider: mock}
)";

std::string with(const std::string& top, const char* models = kModels) { return top + models; }

}  // namespace

TEST_CASE("config reload: models, providers, prices and timeouts apply without a restart") {
  const Config running = load(with("listen: 127.0.0.1:4000\nworkers: 2\n"));
  const Config loaded = load(
      "listen: 127.0.0.1:4000\nworkers: 2\nread_timeout_ms: 5000\n"
      "providers:\n  - {name: mock, type: mock}\n  - {name: other, type: mock}\n"
      "models:\n  - {name: m1, provider: other, price: {input_per_mtok: 1, output_per_mtok: 2}}\n"
      "  - {name: m2, provider: mock}\n");
  CHECK(restart_only_changes(running, loaded).empty());
}

TEST_CASE("config reload: the listen address, workers and the access log wait for a restart") {
  const Config running = load(with("listen: 127.0.0.1:4000\nworkers: 2\naccess_log: stdout\n"));
  const Config loaded = load(with("listen: 127.0.0.1:4001\nworkers: 4\naccess_log: off\n"));
  CHECK(restart_only_changes(running, loaded) ==
        std::vector<std::string>{"server.listen", "server.workers", "server.access_log"});
  const Config host = load(with("listen: 0.0.0.0:4000\nworkers: 2\naccess_log: stdout\n"));
  CHECK(restart_only_changes(running, host) == std::vector<std::string>{"server.listen"});
}

TEST_CASE("config reload: governance's store and ledger settings wait for a restart") {
  const std::string base = "governance:\n  master_key: master-key-0123456789\n  database: a.db\n";
  const Config running = load(with(base));
  CHECK(restart_only_changes(running, load(with(base))).empty());
  CHECK(restart_only_changes(running, load(with(base + "  unpriced_models: free\n"))).empty());
  CHECK(restart_only_changes(
            running, load(with("governance:\n  master_key: master-key-9876543210\n"
                               "  database: b.db\n  ledger: {commit_interval_ms: 250}\n"))) ==
        std::vector<std::string>{"governance.master_key", "governance.database",
                                 "governance.ledger.commit_interval_ms"});
  // Adding or removing the section opens or closes the store: a restart.
  CHECK(restart_only_changes(running, load(with(""))) == std::vector<std::string>{"governance"});
  CHECK(restart_only_changes(load(with("")), running) == std::vector<std::string>{"governance"});
}

TEST_CASE("config reload: the shared state's store, Redis and replica id wait for a restart") {
  const std::string base = "governance:\n  master_key: master-key-0123456789\n";
  const Config running = load(with(base));
  CHECK(
      restart_only_changes(
          running, load(with(base + "state:\n  store: postgres\n  postgres: {url: postgres://h/d}\n"
                                    "  redis: {url: redis://h:6379}\n  replica_id: a\n"))) ==
      std::vector<std::string>{"state.store", "state.postgres.url", "state.redis.url",
                               "state.replica_id"});
  CHECK(restart_only_changes(running, load(with(base + "state: {on_redis_down: fail_open}\n"))) ==
        std::vector<std::string>{"state.on_redis_down"});
}

TEST_CASE("config reload: tracing switched on or a new queue size waits for a restart") {
  const std::string on = "tracing: {endpoint: \"http://127.0.0.1:4318\", sample_ratio: 1}\n";
  const Config off = load(with(""));
  const Config traced = load(with(on));
  // On from off: the exporter is made at start-up.
  CHECK(restart_only_changes(off, traced) == std::vector<std::string>{"tracing"});
  // Off from on, and a new endpoint, ratio or headers: applied by the reload.
  CHECK(restart_only_changes(traced, off).empty());
  const Config elsewhere = load(with(
      "tracing: {endpoint: \"http://10.0.0.9:4318\", sample_ratio: 0.1, headers: {x-k: v}}\n"));
  CHECK(restart_only_changes(traced, elsewhere).empty());
  const Config bigger =
      load(with("tracing: {endpoint: \"http://127.0.0.1:4318\", queue_spans: 9}\n"));
  CHECK(restart_only_changes(traced, bigger) == std::vector<std::string>{"tracing.queue_spans"});
}

TEST_CASE("config reload: the listener's tls applies to new connections, without a restart") {
  const Config plain = load(with("listen: 127.0.0.1:4000\n"));
  const Config tls =
      load(with("listen: 127.0.0.1:4000\ntls: {cert_file: a.pem, key_file: a.key}\n"));
  const Config rotated =
      load(with("listen: 127.0.0.1:4000\ntls: {cert_file: b.pem, key_file: b.key}\n"));
  CHECK(restart_only_changes(plain, tls).empty());
  CHECK(restart_only_changes(tls, rotated).empty());
  CHECK(restart_only_changes(tls, plain).empty());
}
