// Routing and failover against real mock upstreams: one misbehaving target (its instance plan
// makes every answer fail), one healthy (the fixture's mock). Whenever a healthy target exists
// and the fault comes before the first byte, the client gets its answer.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
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
  // The access log names each attempt's target and outcome.
  const std::string line = gw.wait_access_log_line("\"tried\"");
  CHECK(line.find(R"("tried":[{"model":"grp","provider":"broken","outcome":"status_5xx"},)"
                  R"({"model":"grp","provider":"upstream","outcome":"success"}])") !=
        std::string::npos);
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

TEST_CASE("an Anthropic pass-through stream is hedged at its first text, not its opening events") {
  // The slow target sends message_start, content_block_start and ping at once, then waits.
  BrokenUpstream slow(R"({"ttft_ms":5000})");
  GatewayFixture gw(
      {.extra_providers =
           "  - {name: slow-anthropic, type: anthropic, base_url: \"http://127.0.0.1:" +
           std::to_string(slow.port) + "\", api_key: k}\n",
       .extra_models = "  - name: hedged-claude\n"
                       "    strategy: ordered\n"
                       "    hedge: {after_ms: 100, max_fraction: 1.0}\n"
                       "    targets:\n"
                       "      - {provider: slow-anthropic, model: s}\n"
                       "      - {provider: up-anthropic, model: claude-upstream}\n"});
  const std::string body = R"({"model":"hedged-claude","max_tokens":32,"stream":true,)"
                           R"("messages":[{"role":"user","content":"hi"}]})";
  auto res = http_request(gw.port, "POST", "/v1/messages", body, kAnthropic);
  CHECK(res.status == 200);
  CHECK(res.header("x-switchyard-provider") == "up-anthropic");
  CHECK(res.header("x-switchyard-attempts") == "2");
  CHECK(res.body.find("event: message_stop") != std::string::npos);
  CHECK(slow.wait_stat("aborted", 1) == 1);
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

namespace {

// One request on one front door, streamed or not, and what its complete answer looks like.
struct FrontDoorCall {
  std::string name;
  std::string path;
  bool stream = false;
};

const std::vector<FrontDoorCall> kEveryFrontDoor{
    {"chat", "/v1/chat/completions", false}, {"chat, streamed", "/v1/chat/completions", true},
    {"messages", "/v1/messages", false},     {"messages, streamed", "/v1/messages", true},
    {"responses", "/v1/responses", false},   {"responses, streamed", "/v1/responses", true}};

HttpResponse call(std::uint16_t port, const FrontDoorCall& door, std::string_view model,
                  const HttpHeaders& extra_headers = {}) {
  const std::string stream = door.stream ? R"(,"stream":true)" : "";
  std::string body;
  HttpHeaders headers = extra_headers;
  if (door.path == "/v1/messages") {
    body = R"({"model":")" + std::string(model) +
           R"(","max_tokens":32,"messages":[{"role":"user","content":"hi"}])" + stream + "}";
    headers.insert(headers.end(), kAnthropic.begin(), kAnthropic.end());
  } else if (door.path == "/v1/responses") {
    body = R"({"model":")" + std::string(model) + R"(","input":"hi")" + stream + "}";
  } else {
    body = chat_body(model, stream);
  }
  return http_request(port, "POST", door.path, body, headers);
}

// The `type` of each data payload of an SSE body (Anthropic's and Responses' events carry it).
std::vector<std::string> event_types(std::string_view body) {
  std::vector<std::string> types;
  for (const std::string& data : sse_data(body)) {
    if (data == "[DONE]") {
      types.emplace_back("[DONE]");
      continue;
    }
    const auto event = parse_object(data);
    types.emplace_back(event.contains("type") ? std::string(event.at("type").as_string()) : "");
  }
  return types;
}

// Whether `res` is a whole, successful answer in the door's protocol.
bool answer_complete(const FrontDoorCall& door, const HttpResponse& res) {
  if (res.status != 200) return false;
  if (door.stream) {
    const auto events = sse_data(res.body);
    if (events.empty()) return false;
    if (door.path == "/v1/chat/completions") return events.back() == "[DONE]";
    const auto types = event_types(res.body);
    return types.back() == (door.path == "/v1/messages" ? "message_stop" : "response.completed");
  }
  const auto answer = parse_object(res.body);
  if (door.path == "/v1/messages") return answer.at("type").as_string() == "message";
  if (door.path == "/v1/responses") return answer.at("status").as_string() == "completed";
  return answer.at("object").as_string() == "chat.completion";
}

std::int64_t count_of(const std::vector<std::string>& items, std::string_view item) {
  return std::count(items.begin(), items.end(), item);
}

}  // namespace

TEST_CASE("a revoked key in a pool is benched after one 401, and never named") {
  BrokenUpstream keyed(R"({"revoked_keys":["key-bad-pool-0417"]})");
  GatewayFixture gw({.routing = "routing: {retry: {attempts: 2, backoff_ms: 1}}",
                     .extra_providers = "  - {name: pooled, type: openai_compatible, base_url: "
                                        "\"http://127.0.0.1:" +
                                        std::to_string(keyed.port) +
                                        "/v1\", api_keys: [key-good-pool-0417, "
                                        "key-bad-pool-0417]}\n",
                     .extra_models = "  - {name: pooled-model, provider: pooled, model: p}\n"});
  int retried_with_the_other_key = 0;
  for (int i = 0; i < 20; ++i) {
    auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("pooled-model"));
    CHECK(res.status == 200);
    CHECK(res.header("x-switchyard-provider") == "pooled");
    if (res.header("x-switchyard-attempts") == "2") ++retried_with_the_other_key;
  }
  // Keys are picked at random: the bad one is all but certain to come up in 20 requests
  // (1 - 2^-20), and once it has, it is benched for the cooldown (60 s by default).
  CHECK(retried_with_the_other_key == 1);
  const auto keys =
      parse_object(http_request(keyed.port, "GET", "/mock/stats").body).at("keys").as_object();
  CHECK(keys.at("key-bad-pool-0417").as_int64() == 1);
  CHECK(keys.at("key-good-pool-0417").as_int64() == 20);
  const std::string metrics =
      wait_for_metric(gw.port, R"(switchyard_provider_keys_benched_total{provider="pooled"})", 1);
  CHECK(metric_value(metrics, R"(switchyard_provider_keys_benched_total{provider="pooled"})") == 1);
  CHECK(metric_value(metrics, R"(switchyard_provider_keys_available{provider="pooled"})") == 1);
  const std::string access_log = gw.wait_access_log_lines(20);
  for (const std::string_view text : {metrics, access_log, gw.gateway().output()}) {
    CHECK(text.find("pool-0417") == std::string_view::npos);
  }
}

TEST_CASE("a target that resets the connection is skipped on every front door, streamed or not") {
  BrokenUpstream resetting(R"({"fault":"reset"})");
  // A breaker that never opens here, so every request meets the reset first.
  GatewayFixture gw(
      {.routing =
           "routing: {retry: {attempts: 2, backoff_ms: 1}, cooldown: {failures: 100, window_s: 60, "
           "duration_s: 60}}",
       .extra_providers = provider_line("resetting", resetting.port),
       .extra_models = "  - name: grp\n"
                       "    strategy: ordered\n"
                       "    targets:\n"
                       "      - {provider: resetting, model: r}\n"
                       "      - {provider: upstream, model: upstream-model-id}\n"});
  for (const FrontDoorCall& door : kEveryFrontDoor) {
    INFO(door.name);
    auto res = call(gw.port, door, "grp");
    CHECK(answer_complete(door, res));
    CHECK(res.header("x-switchyard-provider") == "upstream");
    CHECK(res.header("x-switchyard-attempts") == "2");
  }
  CHECK(resetting.requests() == 6);
  CHECK(
      metric_value(
          wait_for_metric(
              gw.port,
              R"(switchyard_upstream_attempts_total{model="grp",provider="resetting",outcome="reset"})",
              6),
          R"(switchyard_upstream_attempts_total{model="grp",provider="resetting",outcome="reset"})") ==
      6);
}

TEST_CASE("a target that stalls before its first byte times out, is closed, and the next serves") {
  BrokenUpstream stalled(R"({"fault":"stall"})");
  GatewayFixture gw(
      {.routing =
           "routing: {retry: {attempts: 2, backoff_ms: 1}, cooldown: {failures: 100, window_s: 60, "
           "duration_s: 60}}",
       .extra_providers = "  - {name: stalled, type: openai_compatible, base_url: "
                          "\"http://127.0.0.1:" +
                          std::to_string(stalled.port) + "/v1\", first_byte_timeout_ms: 300}\n",
       .extra_models = "  - name: grp\n"
                       "    strategy: ordered\n"
                       "    targets:\n"
                       "      - {provider: stalled, model: s}\n"
                       "      - {provider: upstream, model: upstream-model-id}\n"});
  for (const FrontDoorCall& door : kEveryFrontDoor) {
    INFO(door.name);
    auto res = call(gw.port, door, "grp");
    CHECK(answer_complete(door, res));
    CHECK(res.header("x-switchyard-provider") == "upstream");
    CHECK(res.header("x-switchyard-attempts") == "2");
  }
  // Every stalled connection was closed by the gateway, not left open.
  CHECK(stalled.wait_stat("aborted", 6) == 6);
  CHECK(
      metric_value(
          wait_for_metric(
              gw.port,
              R"(switchyard_upstream_attempts_total{model="grp",provider="stalled",outcome="timeout"})",
              6),
          R"(switchyard_upstream_attempts_total{model="grp",provider="stalled",outcome="timeout"})") ==
      6);
}

TEST_CASE(
    "a stream cut after its first byte ends with the protocol's error, never a second answer") {
  BrokenUpstream cutting(R"({"fault":"cut","chunks":5,"cut_after":2})");
  // Retries are allowed, and a healthy target is there: neither may be used once the answer
  // has started.
  GatewayFixture gw({.routing = "routing: {retry: {attempts: 3, backoff_ms: 1}}",
                     .extra_providers = provider_line("cutting", cutting.port),
                     .extra_models = "  - name: grp\n"
                                     "    strategy: ordered\n"
                                     "    targets:\n"
                                     "      - {provider: cutting, model: c}\n"
                                     "      - {provider: upstream, model: upstream-model-id}\n"});
  SECTION("chat") {
    auto res = call(gw.port, {"chat, streamed", "/v1/chat/completions", true}, "grp");
    REQUIRE(res.status == 200);
    CHECK(res.header("x-switchyard-attempts") == "1");
    CHECK(res.header("x-switchyard-provider") == "cutting");
    const auto events = sse_data(res.body);
    REQUIRE(events.size() >= 2);
    CHECK(count_of(events, "[DONE]") == 0);
    CHECK(parse_object(events.back()).at("error").at("message").as_string().size() > 0);
    // The role chunk and the two pieces the upstream sent, all of one completion.
    std::set<std::string> ids;
    int roles = 0;
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
      const auto chunk = parse_object(events[i]);
      ids.insert(std::string(chunk.at("id").as_string()));
      const auto& choices = chunk.at("choices").as_array();
      if (!choices.empty() && choices[0].at("delta").as_object().contains("role")) ++roles;
    }
    CHECK(ids.size() == 1);
    CHECK(roles == 1);
    CHECK(events.size() == 1 + 2 + 1);
  }
  SECTION("messages") {
    auto res = call(gw.port, {"messages, streamed", "/v1/messages", true}, "grp");
    REQUIRE(res.status == 200);
    CHECK(res.header("x-switchyard-attempts") == "1");
    const auto types = event_types(res.body);
    REQUIRE_FALSE(types.empty());
    CHECK(types.back() == "error");
    CHECK(count_of(types, "message_start") == 1);
    CHECK(count_of(types, "message_stop") == 0);
    CHECK(count_of(types, "error") == 1);
  }
  SECTION("responses") {
    auto res = call(gw.port, {"responses, streamed", "/v1/responses", true}, "grp");
    REQUIRE(res.status == 200);
    CHECK(res.header("x-switchyard-attempts") == "1");
    const auto types = event_types(res.body);
    REQUIRE_FALSE(types.empty());
    CHECK(types.back() == "response.failed");
    CHECK(count_of(types, "response.created") == 1);
    CHECK(count_of(types, "response.completed") == 0);
    CHECK(count_of(types, "response.failed") == 1);
  }
  CHECK(cutting.requests() == 1);
  CHECK(gw.mock_stats().at("requests").as_int64() == 0);
}

TEST_CASE("a 429 storm with Retry-After benches its target after the first, the other serves") {
  BrokenUpstream limited(R"({"fault":"status","status":429,"retry_after":"30"})");
  GatewayFixture gw({.routing = "routing: {retry: {attempts: 2, backoff_ms: 1}}",
                     .extra_providers = provider_line("limited", limited.port),
                     .extra_models = "  - name: grp\n"
                                     "    strategy: weighted\n"
                                     "    targets:\n"
                                     "      - {provider: limited, model: l, weight: 1}\n"
                                     "      - {provider: upstream, model: upstream-model-id, "
                                     "weight: 1}\n"});
  for (int i = 0; i < 40; ++i) {
    auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("grp"));
    REQUIRE(res.status == 200);
    CHECK(res.header("x-switchyard-provider") == "upstream");
  }
  const std::int64_t seen = limited.requests();
  CHECK(seen >= 1);  // 40 picks at 1:1 all but surely met it once (1 - 2^-40)
  CHECK(seen <= 3);
  const std::string series =
      R"(switchyard_upstream_attempts_total{model="grp",provider="limited",outcome="status_4xx"})";
  CHECK(metric_value(wait_for_metric(gw.port, series, static_cast<double>(seen)), series) ==
        static_cast<double>(seen));
  CHECK(gw.mock_stats().at("requests").as_int64() == 40);
}

TEST_CASE("a cooled-down target gets one probe after its cooldown, and serves again") {
  BrokenUpstream flaky(R"({"fault":"status","status":500,"fail_first":3})");
  GatewayFixture gw(
      {.routing =
           "routing: {retry: {attempts: 2, backoff_ms: 1}, cooldown: {failures: 3, window_s: 60, "
           "duration_s: 1}}",
       .extra_providers = provider_line("flaky", flaky.port),
       .extra_models = "  - name: grp\n"
                       "    strategy: ordered\n"
                       "    targets:\n"
                       "      - {provider: flaky, model: f}\n"
                       "      - {provider: upstream, model: upstream-model-id}\n"});
  const std::string available = R"(switchyard_target_available{model="grp",provider="flaky"})";
  for (int i = 0; i < 3; ++i) {
    auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("grp"));
    REQUIRE(res.status == 200);
    CHECK(res.header("x-switchyard-provider") == "upstream");
    CHECK(res.header("x-switchyard-attempts") == "2");
  }
  CHECK(flaky.requests() == 3);
  CHECK(metric_value(gw.metrics(), available) == 0);
  // While it cools down, the first target is passed over.
  auto cooling = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("grp"));
  CHECK(cooling.header("x-switchyard-provider") == "upstream");
  CHECK(cooling.header("x-switchyard-attempts") == "1");
  CHECK(flaky.requests() == 3);
  // The cooldown (1 s) ends: the gauge, read at each scrape, says so.
  REQUIRE(metric_value(wait_for_metric(gw.port, available, 1), available) == 1);
  auto probe = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("grp"));
  CHECK(probe.status == 200);
  CHECK(probe.header("x-switchyard-provider") == "flaky");
  CHECK(probe.header("x-switchyard-attempts") == "1");
  CHECK(flaky.requests() == 4);
  for (int i = 0; i < 3; ++i) {
    auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("grp"));
    CHECK(res.status == 200);
    CHECK(res.header("x-switchyard-provider") == "flaky");
  }
  CHECK(flaky.requests() == 7);
  CHECK(metric_value(gw.metrics(), available) == 1);
  CHECK(metric_value(gw.metrics(),
                     R"(switchyard_target_cooldowns_total{model="grp",provider="flaky"})") == 1);
}

TEST_CASE("when every target fails, an Anthropic client gets an Anthropic error and Retry-After") {
  BrokenUpstream first(R"({"fault":"status","status":503})");
  BrokenUpstream second(R"({"fault":"status","status":503,"retry_after":"4"})");
  // One model per case: the second target's Retry-After benches it in its group for 4 s.
  std::string models;
  for (const char* name : {"grp", "grp-streamed"}) {
    models += std::string("  - name: ") + name +
              "\n"
              "    strategy: ordered\n"
              "    targets:\n"
              "      - {provider: first, model: a}\n"
              "      - {provider: second, model: b}\n";
  }
  GatewayFixture gw(
      {.routing = "routing: {retry: {attempts: 2, backoff_ms: 1}}",
       .extra_providers = provider_line("first", first.port) + provider_line("second", second.port),
       .extra_models = models});
  for (const bool stream : {false, true}) {
    INFO("streamed: " << stream);
    const std::string model = stream ? "grp-streamed" : "grp";
    const auto before = first.requests() + second.requests();
    auto res = call(gw.port, {"messages", "/v1/messages", stream}, model);
    CHECK(res.status == 503);
    CHECK(res.header("retry-after") == "4");
    CHECK(res.header("x-switchyard-attempts") == "2");
    CHECK(res.header("x-switchyard-provider") == "second");
    CHECK(res.header("x-switchyard-model") == model);
    const auto body = parse_object(res.body);
    CHECK(body.at("type").as_string() == "error");
    CHECK(body.at("error").at("type").as_string().size() > 0);
    CHECK(body.at("error").at("message").as_string().size() > 0);
    CHECK(first.requests() + second.requests() == before + 2);
  }
}

TEST_CASE("a router picks the model per request by its rules, and counts its decisions") {
  GatewayFixture gw({.top_level = "routers:\n"
                                  "  - name: auto\n"
                                  "    rules:\n"
                                  "      - when: {max_input_tokens: 50}\n"
                                  "        model: gpt-test\n"
                                  "      - when: {header: {x-switchyard-tier: batch}}\n"
                                  "        model: claude-test\n"
                                  "      - model: openai-test\n"});
  const std::string long_text(2000, 'a');
  const std::string long_body =
      R"({"model":"auto","messages":[{"role":"user","content":")" + long_text + R"("}]})";

  auto short_one = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("auto"));
  CHECK(short_one.status == 200);
  CHECK(short_one.header("x-switchyard-model") == "gpt-test");
  CHECK(gw.last_upstream_request().at("protocol").as_string() == "openai_chat");

  auto batch = http_request(gw.port, "POST", "/v1/chat/completions", long_body,
                            {{"x-switchyard-tier", "batch"}});
  CHECK(batch.status == 200);
  CHECK(batch.header("x-switchyard-model") == "claude-test");
  CHECK(gw.last_upstream_request().at("protocol").as_string() == "anthropic_messages");

  for (int i = 0; i < 2; ++i) {
    auto other = http_request(gw.port, "POST", "/v1/chat/completions", long_body);
    CHECK(other.status == 200);
    CHECK(other.header("x-switchyard-model") == "openai-test");
  }

  auto models = parse_object(http_request(gw.port, "GET", "/v1/models").body);
  bool listed = false;
  for (const auto& m : models.at("data").as_array()) listed |= m.at("id").as_string() == "auto";
  CHECK(listed);

  const std::string metrics = wait_for_metric(
      gw.port, R"(switchyard_router_decisions_total{router="auto",model="openai-test"})", 2);
  CHECK(metric_value(metrics,
                     R"(switchyard_router_decisions_total{router="auto",model="gpt-test"})") == 1);
  CHECK(metric_value(metrics,
                     R"(switchyard_router_decisions_total{router="auto",model="claude-test"})") ==
        1);
  CHECK(metric_value(metrics,
                     R"(switchyard_router_decisions_total{router="auto",model="openai-test"})") ==
        2);
}

TEST_CASE("router rules read tools, images, the front door and the request's metadata") {
  GatewayFixture gw({.top_level =
                         "routers:\n"
                         "  - name: auto\n"
                         "    rules:\n"
                         "      - when: {tools: true}\n"
                         "        model: claude-test\n"
                         "      - when: {images: true}\n"
                         "        model: gemini-test\n"
                         "      - when: {protocol: [openai_chat], metadata: {team: search}}\n"
                         "        model: azure-test\n"
                         "      - when: {protocol: [anthropic_messages]}\n"
                         "        model: openai-test\n"
                         "      - model: gpt-test\n"});
  auto served_by = [&](std::string_view path, const std::string& body) {
    auto r = http_request(gw.port, "POST", std::string(path), body);
    CHECK(r.status == 200);
    return r.header("x-switchyard-model");
  };
  const std::string chat = "/v1/chat/completions";
  CHECK(served_by(chat, R"({"model":"auto","messages":[{"role":"user","content":"hi"}],)"
                        R"("tools":[{"type":"function","function":{"name":"f","parameters":)"
                        R"({"type":"object"}}}]})") == "claude-test");
  CHECK(
      served_by(
          chat,
          R"({"model":"auto","messages":[{"role":"user","content":[)"
          R"({"type":"text","text":"what is this?"},)"
          R"({"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]})") ==
      "gemini-test");
  CHECK(served_by(chat, R"({"model":"auto","metadata":{"team":"search","env":"prod"},)"
                        R"("messages":[{"role":"user","content":"hi"}]})") == "azure-test");
  // Another team's metadata, or none: not that rule.
  CHECK(served_by(chat, R"({"model":"auto","metadata":{"team":"ads"},)"
                        R"("messages":[{"role":"user","content":"hi"}]})") == "gpt-test");
  CHECK(served_by(chat, chat_body("auto")) == "gpt-test");
  // The same metadata through the Anthropic front door falls to its protocol's rule.
  CHECK(served_by("/v1/messages",
                  R"({"model":"auto","max_tokens":16,"metadata":{"team":"search"},)"
                  R"("messages":[{"role":"user","content":"hi"}]})") == "openai-test");
}

TEST_CASE("per-request overrides pin a target, drop retries and fallbacks, and can be forbidden") {
  BrokenUpstream broken(R"({"fault":"status","status":500})");
  const std::string models =
      "  - name: grp\n"
      "    strategy: ordered\n"
      "    targets:\n"
      "      - {provider: broken, model: b}\n"
      "      - {provider: upstream, model: upstream-model-id}\n"
      "  - name: falls-back\n"
      "    provider: broken\n"
      "    model: b\n"
      "    fallbacks: [gpt-test]\n";
  // The breaker never opens here, so the broken target sees every request sent to it.
  const std::string routing =
      "routing: {retry: {attempts: 2, backoff_ms: 1}, cooldown: {failures: 100, window_s: 60, "
      "duration_s: 60}";
  GatewayFixture gw({.routing = routing + "}",
                     .extra_providers = provider_line("broken", broken.port),
                     .extra_models = models});
  auto post = [&](std::string_view model, const HttpHeaders& headers) {
    return http_request(gw.port, "POST", "/v1/chat/completions", chat_body(model), headers);
  };

  auto plain = post("grp", {});
  CHECK(plain.status == 200);
  CHECK(plain.header("x-switchyard-attempts") == "2");
  CHECK(broken.requests() == 1);

  auto pinned_healthy = post("grp", {{"x-switchyard-target", "upstream"}});
  CHECK(pinned_healthy.status == 200);
  CHECK(pinned_healthy.header("x-switchyard-provider") == "upstream");
  CHECK(pinned_healthy.header("x-switchyard-attempts") == "1");
  CHECK(broken.requests() == 1);

  // Pinned to the broken target, the request goes nowhere else.
  auto pinned_broken = post("grp", {{"x-switchyard-target", "broken/b"}});
  CHECK(pinned_broken.status == 500);
  CHECK(pinned_broken.header("x-switchyard-provider") == "broken");
  CHECK(gw.mock_stats().at("requests").as_int64() == 2);

  const auto before = broken.requests();
  auto no_retry = post("grp", {{"x-switchyard-retries", "0"}});
  CHECK(no_retry.status == 500);
  CHECK(no_retry.header("x-switchyard-attempts") == "1");
  CHECK(no_retry.header("x-switchyard-provider") == "broken");
  CHECK(broken.requests() == before + 1);

  auto fell_back = post("falls-back", {});
  CHECK(fell_back.status == 200);
  CHECK(fell_back.header("x-switchyard-model") == "gpt-test");
  CHECK(fell_back.header("x-switchyard-fallback") == "falls-back");
  auto no_fallback = post("falls-back", {{"x-switchyard-fallbacks", "off"}});
  CHECK(no_fallback.status == 500);
  CHECK(no_fallback.header("x-switchyard-model") == "falls-back");
  CHECK(no_fallback.header("x-switchyard-fallback").empty());

  auto unknown = post("grp", {{"x-switchyard-target", "nowhere"}});
  CHECK(unknown.status == 400);
  CHECK(parse_object(unknown.body).at("error").at("param").as_string() == "x-switchyard-target");

  GatewayFixture locked({.routing = routing + ", overrides: {target: false}}",
                         .extra_providers = provider_line("broken", broken.port),
                         .extra_models = models});
  const auto before_locked = broken.requests();
  auto refused = http_request(locked.port, "POST", "/v1/chat/completions", chat_body("grp"),
                              {{"x-switchyard-target", "upstream"}});
  CHECK(refused.status == 400);
  const auto error = parse_object(refused.body).at("error").as_object();
  CHECK(error.at("param").as_string() == "x-switchyard-target");
  CHECK(std::string(error.at("message").as_string()).find("not allowed") != std::string::npos);
  CHECK(broken.requests() == before_locked);
  CHECK(locked.mock_stats().at("requests").as_int64() == 0);
}
