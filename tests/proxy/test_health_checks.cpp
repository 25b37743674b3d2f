// Active health checks: a provider whose check fails cools down before traffic reaches it;
// one whose check passes stays in.
#include <catch2/catch.hpp>

#include "tests/proxy/gateway_fixture.hpp"
#include "tests/support/http_client.hpp"

using namespace switchyard::testing;
using namespace std::chrono_literals;

TEST_CASE("a provider failing its health checks cools down before any request reaches it") {
  // "dead" listens nowhere: its checks fail; "checked" is the mock, whose /mock/stats answers.
  GatewayFixture gw({.extra_providers =
                         "  - {name: dead, type: openai_compatible, base_url: "
                         "\"http://127.0.0.1:1/v1\", health_check: {interval_s: 1}}\n",
                     .extra_models = "  - name: guarded\n"
                                     "    strategy: ordered\n"
                                     "    cooldown: {failures: 1, window_s: 60, duration_s: 600}\n"
                                     "    targets:\n"
                                     "      - {provider: dead, model: d}\n"
                                     "      - {provider: upstream, model: upstream-model-id}\n"});
  const std::string metrics = wait_for_metric(
      gw.port, R"(switchyard_target_available{model="guarded",provider="dead"})", 0, 15s);
  REQUIRE(metric_value(metrics,
                       R"(switchyard_target_available{model="guarded",provider="dead"})") == 0);
  CHECK(metric_value(metrics,
                     R"(switchyard_target_cooldowns_total{model="guarded",provider="dead"})") == 1);
  auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("guarded"));
  CHECK(res.status == 200);
  CHECK(res.header("x-switchyard-provider") == "upstream");
  CHECK(res.header("x-switchyard-attempts") == "1");
  const std::string logged =
      gw.gateway().wait_for_line("health check of provider 'dead' failed", 5s);
  CHECK(logged.find("Bearer") == std::string::npos);
}
