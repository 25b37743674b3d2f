// When the upstream fails, the client gets the provider's status and body in OpenAI's shape,
// or a gateway status that says what broke: 502 unreachable, 504 too slow.
#include <catch2/catch.hpp>
#include <csignal>
#include <thread>

#include "tests/proxy/gateway_fixture.hpp"

using namespace switchyard::testing;

TEST_CASE("an upstream 429 keeps its status, OpenAI-shaped body and retry-after") {
  GatewayFixture gw;
  // 7, not the 1 the gateway would say itself: the client must get the provider's figure.
  auto res = http_request(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("gpt-test", R"(,"mock":{"fault":"status","status":429,"retry_after":7})"));
  CHECK(res.status == 429);
  CHECK(res.header("retry-after") == "7");
  auto error = parse_object(res.body).at("error").as_object();
  CHECK(error.contains("message"));
  CHECK(error.contains("type"));
  const std::string metrics = wait_for_metric(
      gw.port, R"(switchyard_requests_total{model="gpt-test",provider="upstream",status="4xx"})",
      1);
  CHECK(metric_value(
            metrics,
            R"(switchyard_upstream_errors_total{provider="upstream",reason="status_4xx"})") == 1);
  CHECK(metric_value(
            metrics,
            R"(switchyard_requests_total{model="gpt-test",provider="upstream",status="4xx"})") ==
        1);
}

TEST_CASE("without the provider's retry-after, the gateway says 1 on transient statuses only") {
  GatewayFixture gw;
  auto unnamed = http_request(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("gpt-test", R"(,"mock":{"fault":"status","status":503,"retry_after":""})"));
  CHECK(unnamed.status == 503);
  CHECK(unnamed.header("retry-after") == "1");
  auto client_fault =
      http_request(gw.port, "POST", "/v1/chat/completions",
                   chat_body("gpt-test", R"(,"mock":{"fault":"status","status":400})"));
  CHECK(client_fault.status == 400);
  CHECK(client_fault.header("retry-after").empty());
}

TEST_CASE("an upstream error body that is not OpenAI-shaped is wrapped in OpenAI's shape") {
  GatewayFixture gw;
  auto res = http_request(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("gpt-test",
                R"(,"mock":{"fault":"status","status":503,"body":"<html>overloaded</html>"})"));
  CHECK(res.status == 503);
  auto error = parse_object(res.body).at("error").as_object();
  CHECK(std::string(error.at("message").as_string()).find("overloaded") != std::string::npos);
  CHECK(error.contains("param"));
  CHECK(error.contains("code"));
}

TEST_CASE("an upstream that resets the connection gives 502") {
  GatewayFixture gw;
  auto res = http_request(gw.port, "POST", "/v1/chat/completions",
                          chat_body("gpt-test", R"(,"mock":{"fault":"reset"})"));
  CHECK(res.status == 502);
  auto error = parse_object(res.body).at("error").as_object();
  CHECK(error.at("code").as_string() == "upstream_unreachable");
  CHECK(std::string(error.at("message").as_string()).find(GatewayFixture::kUpstreamKey) ==
        std::string::npos);
  // The next request works.
  CHECK(http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test")).status == 200);
}

TEST_CASE("an upstream that never answers gives 504 after the first-byte timeout") {
  GatewayFixture gw({.upstream_extra = "    first_byte_timeout_ms: 300\n"});
  auto res = http_request(gw.port, "POST", "/v1/chat/completions",
                          chat_body("gpt-test", R"(,"mock":{"fault":"stall"})"));
  CHECK(res.status == 504);
  CHECK(parse_object(res.body).at("error").at("code").as_string() == "upstream_timeout");
  CHECK(metric_value(gw.metrics(),
                     R"(switchyard_upstream_errors_total{provider="upstream",reason="timeout"})") ==
        1);
}

TEST_CASE("a slow stream is not cut by a total timeout: only silence between chunks counts") {
  // Each gap (200 ms) is far under the idle timeout (1 s), so a loaded machine cannot push
  // one over it; the whole stream (about 2.4 s) is well over it.
  GatewayFixture gw(
      {.upstream_extra = "    first_byte_timeout_ms: 1000\n    idle_timeout_ms: 1000\n"});
  StreamingResponse stream(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("gpt-test", R"(,"stream":true,"mock":{"chunks":12,"chunk_delay_ms":200})"));
  auto events = sse_data(stream.read_all());
  CHECK(events.size() == 1 + 12 + 1 + 1);
  CHECK(events.back() == "[DONE]");
}

TEST_CASE("an unreachable upstream gives 502") {
  GatewayFixture gw;
  gw.mock().send_signal(SIGKILL);
  REQUIRE(gw.mock().wait_exit(10s).has_value());
  auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"));
  CHECK(res.status == 502);
  CHECK(parse_object(res.body).at("error").at("code").as_string() == "upstream_unreachable");
}

TEST_CASE("a stream the upstream cuts short ends with an in-band error event") {
  GatewayFixture gw;
  StreamingResponse stream(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("gpt-test", R"(,"stream":true,"mock":{"fault":"cut","chunks":5,"cut_after":2})"));
  REQUIRE(stream.status() == 200);
  auto events = sse_data(stream.read_all());
  REQUIRE(!events.empty());
  CHECK(events.back() != "[DONE]");
  auto last = parse_object(events.back());
  CHECK(last.at("error").at("message").as_string().size() > 0);
  // The chunks that did arrive were relayed.
  CHECK(events.size() == 1 + 2 + 1);
}

TEST_CASE("a client that disconnects mid-stream cancels the upstream request at once") {
  GatewayFixture gw;
  StreamingResponse stream(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("gpt-test", R"(,"stream":true,"mock":{"chunks":50,"chunk_delay_ms":200})"));
  REQUIRE(stream.status() == 200);
  REQUIRE(stream.next_piece(10s));
  REQUIRE(gw.mock_stats().at("active_streams").as_int64() == 1);
  stream.close_abruptly();
  // 50 chunks 200 ms apart would take 10 s; the upstream must see the abort long before.
  CHECK(gw.wait_mock_stat("streams_aborted", 1, 5s) == 1);
  CHECK(gw.mock_stats().at("streams_completed").as_int64() == 0);
  CHECK(metric_value(wait_for_metric(gw.port, "switchyard_client_disconnects_total", 1),
                     "switchyard_client_disconnects_total") == 1);
}

TEST_CASE("a client that disconnects while waiting for a non-streaming answer cancels it too") {
  GatewayFixture gw;
  const std::string body = chat_body("gpt-test", R"(,"mock":{"fault":"stall"})");
  const std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  // The client gives up after 1 s and closes; the stalled upstream never answers.
  std::thread client([&] { raw_exchange(gw.port, request, 1s); });
  CHECK(gw.wait_mock_stat("requests", 1, 5s) == 1);
  client.join();
  CHECK(gw.wait_access_log_line("client_closed", 5s).find("\"status\":499") != std::string::npos);
}
