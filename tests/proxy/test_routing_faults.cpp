// Routing and failover against real mock upstreams: one misbehaving target (its instance plan
// makes every answer fail), one healthy (the fixture's mock). Whenever a healthy target exists
// and the fault comes before the first byte, the client gets its answer.
#include <catch2/catch.hpp>
#include <thread>

#include "tests/proxy/gateway_fixture.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

// A second mock upstream whose every model request follows `plan` (its --plan flag).
struct BrokenUpstream {
  explicit BrokenUpstream(const std::string& plan)
      : process(ChildProcess::start(
            {SWITCHYARD_MOCK_UPSTREAM_BIN, "--listen", "127.0.0.1:0", "--plan", plan})),
        port(port_from_listening_line(process.wait_for_line("listening on", 20s))) {}

  std::int64_t stat(std::string_view field) {
    const auto res = http_request(port, "GET", "/mock/stats", "");
    return parse_object(res.body).at(field).as_int64();
  }
  std::int64_t requests() { return stat("requests"); }
  // Polls the mock's stats until `field` reaches `value` (the real event), or 10 s pass.
  std::int64_t wait_stat(std::string_view field, std::int64_t value) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    std::int64_t seen = stat(field);
    while (seen < value && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
      seen = stat(field);
    }
    return seen;
  }

  ChildProcess process;
  std::uint16_t port;
};

std::string provider_line(std::string_view name, std::uint16_t port) {
  return "  - {name: " + std::string(name) +
         ", type: openai_compatible, base_url: \"http://127.0.0.1:" + std::to_string(port) +
         "/v1\"}\n";
}

const HttpHeaders kAnthropic{{"anthropic-version", "2023-06-01"},
                             {"content-type", "application/json"}};

std::string messages_request(std::string_view model) {
  return R"({"model":")" + std::string(model) +
         R"(","max_tokens":32,"messages":[{"role":"user","content":"hi"}]})";
}

std::string responses_request(std::string_view model) {
  return R"({"model":")" + std::string(model) + R"(","input":"hi"})";
}

}  // namespace

TEST_CASE(
    "a failing target is skipped on every front door, then cooled down so traffic stays off it") {
  BrokenUpstream broken(R"({"fault":"status","status":500})");
  GatewayFixture gw({.routing = "routing: {cooldown: {failures: 3, window_s: 60, duration_s: 600}}",
                     .extra_providers = provider_line("broken", broken.port),
                     .extra_models = "  - name: grp\n"
                                     "    strategy: ordered\n"
                                     "    retry: {attempts: 3, backoff_ms: 1, max_backoff_ms: 5}\n"
                                     "    targets:\n"
                                     "      - {provider: broken, model: b}\n"
                                     "      - {provider: upstream, model: upstream-model-id}\n"});
  for (int round = 0; round < 3; ++round) {
    auto chat = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("grp"));
    CHECK(chat.status == 200);
    CHECK(chat.header("x-switchyard-model") == "grp");
    CHECK(chat.header("x-switchyard-provider") == "upstream");
    auto messages =
        http_request(gw.port, "POST", "/v1/messages", messages_request("grp"), kAnthropic);
    CHECK(messages.status == 200);
    CHECK(parse_object(messages.body).at("type").as_string() == "message");
    auto responses = http_request(gw.port, "POST", "/v1/responses", responses_request("grp"));
    CHECK(responses.status == 200);
    CHECK(parse_object(responses.body).at("object").as_string() == "response");
  }
  // Three failures opened the breaker: the broken target saw exactly those, and the later
  // requests went straight to the healthy one.
  CHECK(broken.requests() == 3);
  auto later = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("grp"));
  CHECK(later.status == 200);
  CHECK(later.header("x-switchyard-attempts") == "1");
  CHECK(broken.requests() == 3);
  const std::string metrics = gw.metrics();
  CHECK(
      metric_value(
          metrics,
          R"(switchyard_upstream_attempts_total{model="grp",provider="broken",outcome="status_5xx"})") ==
      3);
  CHECK(metric_value(metrics,
                     R"(switchyard_target_cooldowns_total{model="grp",provider="broken"})") == 1);
  CHECK(metric_value(metrics, R"(switchyard_target_available{model="grp",provider="broken"})") ==
        0);
}

TEST_CASE("a client error is not retried elsewhere, and a refused connection is") {
  BrokenUpstream refusing(R"({"fault":"status","status":400})");
  GatewayFixture gw(
      {.routing = "routing: {retry: {attempts: 2, backoff_ms: 1}}",
       .extra_providers = provider_line("bad-request", refusing.port) + provider_line("nowhere", 1),
       .extra_models = "  - name: strict\n"
                       "    strategy: ordered\n"
                       "    targets:\n"
                       "      - {provider: bad-request, model: b}\n"
                       "      - {provider: upstream, model: upstream-model-id}\n"
                       "  - name: unreachable-first\n"
                       "    strategy: ordered\n"
                       "    targets:\n"
                       "      - {provider: nowhere, model: n}\n"
                       "      - {provider: upstream, model: upstream-model-id}\n"});
  auto strict = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("strict"));
  CHECK(strict.status == 400);
  CHECK(strict.header("x-switchyard-attempts") == "1");
  CHECK(strict.header("x-switchyard-provider") == "bad-request");

  auto moved =
      http_request(gw.port, "POST", "/v1/chat/completions", chat_body("unreachable-first"));
  CHECK(moved.status == 200);
  CHECK(moved.header("x-switchyard-attempts") == "2");
  CHECK(moved.header("x-switchyard-provider") == "upstream");
}

TEST_CASE("a context-length error goes to the context-window fallback, in another protocol") {
  BrokenUpstream short_context(R"({"fault":"context_length"})");
  GatewayFixture gw({.extra_providers = provider_line("short", short_context.port),
                     .extra_models = "  - name: small\n"
                                     "    provider: short\n"
                                     "    model: s\n"
                                     "    fallbacks: [gpt-test]\n"
                                     "    context_window_fallbacks: [claude-test]\n"});
  auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("small"));
  CHECK(res.status == 200);
  CHECK(res.header("x-switchyard-fallback") == "small");
  CHECK(res.header("x-switchyard-model") == "claude-test");
  CHECK(gw.last_upstream_request().at("protocol").as_string() == "anthropic_messages");
  CHECK(short_context.requests() == 1);
}

TEST_CASE("when every target fails, the client gets the last error and what was tried") {
  BrokenUpstream limited(R"({"fault":"status","status":429,"retry_after":"7"})");
  // A Retry-After over max_retry_after_s is not waited for: with no other target, the
  // client gets the provider's answer at once, with its Retry-After.
  GatewayFixture gw(
      {.routing = "routing: {retry: {attempts: 2, backoff_ms: 1, max_retry_after_s: 5}}",
       .extra_providers = provider_line("limited", limited.port),
       .extra_models = "  - name: only-limited\n"
                       "    provider: limited\n"
                       "    model: l\n"});
  auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("only-limited"));
  CHECK(res.status == 429);
  CHECK(res.header("retry-after") == "7");
  CHECK(res.header("x-switchyard-provider") == "limited");
  CHECK(parse_object(res.body).at("error").at("type").as_string() == "rate_limit_error");
  CHECK(limited.requests() == 1);
}

TEST_CASE(
    "a stream with no first token in time goes to the next target, and the stalled one is "
    "cancelled") {
  // The slow target sends its head and its role-only opening chunk at once, then nothing for
  // 5 s: the opening is not a first token.
  BrokenUpstream slow(R"({"ttft_ms":5000})");
  GatewayFixture gw({.routing = "routing: {retry: {attempts: 2, backoff_ms: 1}}",
                     .extra_providers = provider_line("slow", slow.port),
                     .extra_models = "  - name: impatient\n"
                                     "    strategy: ordered\n"
                                     "    first_token_timeout_ms: 300\n"
                                     "    targets:\n"
                                     "      - {provider: slow, model: s}\n"
                                     "      - {provider: upstream, model: upstream-model-id}\n"});
  auto res = http_request(gw.port, "POST", "/v1/chat/completions",
                          chat_body("impatient", R"(,"stream":true)"));
  CHECK(res.status == 200);
  CHECK(res.header("x-switchyard-provider") == "upstream");
  CHECK(res.header("x-switchyard-attempts") == "2");
  const auto events = sse_data(res.body);
  REQUIRE_FALSE(events.empty());
  CHECK(events.back() == "[DONE]");
  CHECK(slow.wait_stat("aborted", 1) == 1);
  CHECK(
      metric_value(
          gw.metrics(),
          R"(switchyard_upstream_attempts_total{model="impatient",provider="slow",outcome="first_token_timeout"})") ==
      1);
}

TEST_CASE("a hedge to a second target wins when the first is slow, and the loser is cancelled") {
  BrokenUpstream slow(R"({"ttft_ms":5000})");
  GatewayFixture gw({.extra_providers = provider_line("slow", slow.port),
                     .extra_models = "  - name: hedged\n"
                                     "    strategy: ordered\n"
                                     "    hedge: {after_ms: 100, max_fraction: 1.0}\n"
                                     "    targets:\n"
                                     "      - {provider: slow, model: s}\n"
                                     "      - {provider: upstream, model: upstream-model-id}\n"});
  SECTION("a stream") {
    auto res = http_request(gw.port, "POST", "/v1/chat/completions",
                            chat_body("hedged", R"(,"stream":true)"));
    CHECK(res.status == 200);
    CHECK(res.header("x-switchyard-provider") == "upstream");
    CHECK(res.header("x-switchyard-attempts") == "2");
    CHECK(sse_data(res.body).back() == "[DONE]");
  }
  SECTION("a whole answer, to an Anthropic client") {
    auto res =
        http_request(gw.port, "POST", "/v1/messages", messages_request("hedged"), kAnthropic);
    CHECK(res.status == 200);
    CHECK(parse_object(res.body).at("type").as_string() == "message");
    CHECK(res.header("x-switchyard-provider") == "upstream");
  }
  // The provider of the losing attempt saw its client leave: it stops generating.
  CHECK(slow.wait_stat("aborted", 1) == 1);
  const std::string metrics =
      wait_for_metric(gw.port, R"(switchyard_hedges_total{model="hedged",result="won"})", 1);
  CHECK(metric_value(metrics, R"(switchyard_hedges_total{model="hedged",result="sent"})") == 1);
  CHECK(
      metric_value(
          metrics,
          R"(switchyard_upstream_attempts_total{model="hedged",provider="slow",outcome="hedge_lost"})") ==
      1);
}

TEST_CASE("hedges stay within max_fraction of the requests") {
  BrokenUpstream slow(R"({"ttft_ms":250})");
  GatewayFixture gw({.extra_providers = provider_line("slow", slow.port),
                     .extra_models = "  - name: half\n"
                                     "    strategy: ordered\n"
                                     "    hedge: {after_ms: 20, max_fraction: 0.5}\n"
                                     "    targets:\n"
                                     "      - {provider: slow, model: s}\n"
                                     "      - {provider: upstream, model: upstream-model-id}\n"});
  int hedged = 0;
  for (int i = 0; i < 6; ++i) {
    auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("half"));
    REQUIRE(res.status == 200);
    if (res.header("x-switchyard-attempts") == "2") ++hedged;
  }
  CHECK(hedged == 3);
}
