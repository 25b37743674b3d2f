// The process families on /metrics (issue 13's dashboard row "process"): client connections
// open now, the standard process_* gauges read from /proc, and spend per target, from the
// real gateway's exposition.
#include <catch2/catch.hpp>
#include <optional>
#include <vector>

#include "tests/proxy/gateway_fixture.hpp"
#include "tests/support/process_memory.hpp"

using namespace switchyard::testing;

TEST_CASE("open client connections are counted while open and uncounted once closed") {
  GatewayFixture gw;
  // The scrape's own connection is the only one (the fixture's readiness polls may still be
  // closing, so wait for it).
  std::string m = wait_for_metric(gw.port, "switchyard_client_connections_open", 1);
  REQUIRE(metric_value(m, "switchyard_client_connections_open") == 1);
  const double fds_before = metric_value(m, "process_open_fds");

  std::vector<HttpConnection> idle;
  for (int i = 0; i < 5; ++i) {
    idle.emplace_back(gw.port);
    REQUIRE(idle.back().request("GET", "/health/live").status == 200);  // accepted and served
  }
  // Spread over both workers' shards; the sum is what the process holds.
  m = wait_for_metric(gw.port, "switchyard_client_connections_open", 6);
  CHECK(metric_value(m, "switchyard_client_connections_open") == 6);
  // Each connection is a descriptor of the gateway.
  CHECK(metric_value(m, "process_open_fds") >= fds_before + 5);

  idle.clear();
  m = wait_for_metric(gw.port, "switchyard_client_connections_open", 1);
  CHECK(metric_value(m, "switchyard_client_connections_open") == 1);
}

TEST_CASE("process_* gauges describe the gateway process") {
  GatewayFixture gw;
  const auto now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string m = gw.metrics();
  for (const char* family : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                             "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                             "process_start_time_seconds"})
    CHECK(m.find(std::string("# TYPE ") + family) != std::string::npos);
  CHECK(m.find("# TYPE process_cpu_seconds_total counter") != std::string::npos);

  // What the kernel says of the same process, read just after the scrape.
  const std::optional<std::size_t> rss = rss_bytes(gw.gateway().pid());
  REQUIRE(rss);
  const double exported = metric_value(m, "process_resident_memory_bytes");
  CHECK(exported > 1e6);
  CHECK(exported == Approx(static_cast<double>(*rss)).epsilon(0.5));
  CHECK(metric_value(m, "process_virtual_memory_bytes") >= exported);
  // The gateway started moments ago (the fixture waited for it).
  const double started = metric_value(m, "process_start_time_seconds");
  CHECK(started <= now + 1);
  CHECK(started > now - 60);
  CHECK(metric_value(m, "process_cpu_seconds_total") >= 0);
  CHECK(metric_value(m, "process_open_fds") >= 3);  // two listeners and the scrape at least
  CHECK(metric_value(m, "process_max_fds") >= metric_value(m, "process_open_fds"));
}

TEST_CASE("spend is also counted per target, by the provider that served") {
  GatewayFixture gw;
  const auto res = http_request(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("gpt-test", R"(,"mock":{"usage":{"prompt_tokens":1000,"completion_tokens":500}})"));
  REQUIRE(res.status == 200);
  const std::string m = wait_for_metric(
      gw.port, R"(switchyard_requests_total{model="gpt-test",provider="upstream",status="2xx"})",
      1);
  const double by_model = metric_value(m, R"(switchyard_cost_usd_total{model="gpt-test"})");
  CHECK(by_model > 0);
  CHECK(metric_value(m,
                     R"(switchyard_target_cost_usd_total{model="gpt-test",provider="upstream"})") ==
        Approx(by_model));
}
