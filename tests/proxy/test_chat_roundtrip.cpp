// Chat completions through the gateway to a real upstream process: the client sees what the
// provider sent, the upstream sees the request the gateway should send, and the gateway
// counts what happened.
#include <catch2/catch.hpp>
#include <thread>

#include "tests/proxy/gateway_fixture.hpp"

using namespace switchyard::testing;

namespace {
const std::string kUsageOverride =
    R"(,"mock":{"text":"Hello there from upstream","chunks":4,)"
    R"("usage":{"prompt_tokens":1000,"completion_tokens":500,"cached_tokens":200,"reasoning_tokens":50}})";
}

TEST_CASE("a non-streaming chat completion passes through with the upstream model spliced in") {
  GatewayFixture gw;
  auto res =
      http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test", kUsageOverride),
                   {{"x-request-id", "client-id-123"}});
  REQUIRE(res.status == 200);
  auto body = parse_object(res.body);
  CHECK(body.at("choices").as_array()[0].at("message").at("content").as_string() ==
        "Hello there from upstream");
  CHECK(body.at("usage").at("prompt_tokens").as_int64() == 1000);
  CHECK(res.header("x-request-id") == "client-id-123");
  CHECK(!res.header("x-switchyard-overhead-us").empty());

  auto upstream = gw.last_upstream_request();
  auto sent = parse_object(upstream.at("body").as_string());
  CHECK(sent.at("model").as_string() == "upstream-model-id");
  CHECK(sent.at("messages").as_array().size() == 1);
  CHECK(upstream.at("headers").at("authorization").as_string() ==
        std::string("Bearer ") + GatewayFixture::kUpstreamKey);
  CHECK(upstream.at("headers").at("x-request-id").as_string() == "client-id-123");
  CHECK(upstream.at("headers").at("accept-encoding").as_string() == "identity");
  CHECK(upstream.at("target").as_string() == "/v1/chat/completions");
}

TEST_CASE("the /v1 prefix is optional on chat completions") {
  GatewayFixture gw;
  auto res = http_request(gw.port, "POST", "/chat/completions", chat_body("gpt-test"));
  REQUIRE(res.status == 200);
  CHECK(parse_object(res.body).at("object").as_string() == "chat.completion");
}

TEST_CASE(
    "a streamed completion reaches the client event by event, without the usage chunk it did not "
    "ask for") {
  GatewayFixture gw;
  StreamingResponse stream(gw.port, "POST", "/v1/chat/completions",
                           chat_body("gpt-test", R"(,"stream":true)" + kUsageOverride));
  REQUIRE(stream.status() == 200);
  CHECK(stream.header("content-type").starts_with("text/event-stream"));
  const std::string body = stream.read_all();
  auto events = sse_data(body);
  REQUIRE(events.size() == 1 + 4 + 1 + 1);  // role, 4 content chunks, finish, [DONE]
  CHECK(events.back() == "[DONE]");
  std::string text;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto chunk = parse_object(events[i]);
    CHECK(!chunk.at("choices").as_array().empty());
    auto& delta = chunk.at("choices").as_array()[0].at("delta").as_object();
    if (auto* c = delta.if_contains("content")) text += c->as_string();
  }
  CHECK(text == "Hello there from upstream");

  // The gateway asked the upstream for usage on the client's behalf...
  auto sent = parse_object(gw.last_upstream_request().at("body").as_string());
  CHECK(sent.at("stream_options").at("include_usage").as_bool());
  // ...and counted it.
  const std::string metrics = wait_for_metric(
      gw.port, R"(switchyard_tokens_total{kind="completion",model="gpt-test"})", 500);
  CHECK(metric_value(metrics, R"(switchyard_tokens_total{kind="prompt",model="gpt-test"})") ==
        1000);
  CHECK(metric_value(metrics, R"(switchyard_tokens_total{kind="completion",model="gpt-test"})") ==
        500);
}

TEST_CASE("a client that asks for usage gets the upstream's usage chunk unchanged") {
  GatewayFixture gw;
  StreamingResponse stream(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("gpt-test",
                R"(,"stream":true,"stream_options":{"include_usage":true})" + kUsageOverride));
  REQUIRE(stream.status() == 200);
  auto events = sse_data(stream.read_all());
  REQUIRE(events.size() >= 3);
  CHECK(events.back() == "[DONE]");
  auto usage_chunk = parse_object(events[events.size() - 2]);
  CHECK(usage_chunk.at("choices").as_array().empty());
  CHECK(usage_chunk.at("usage").at("completion_tokens").as_int64() == 500);
  CHECK(usage_chunk.at("usage").at("prompt_tokens_details").at("cached_tokens").as_int64() == 200);
}

TEST_CASE("the first chunk reaches the client while the upstream is still generating") {
  GatewayFixture gw;
  StreamingResponse stream(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("gpt-test", R"(,"stream":true,"mock":{"chunks":10,"chunk_delay_ms":300})"));
  REQUIRE(stream.status() == 200);
  std::string received;
  while (received.find("\"content\":\"tok") == std::string::npos) {
    auto piece = stream.next_piece(10s);
    REQUIRE(piece);
    received += *piece;
  }
  // At this moment the upstream has sent one content chunk and is pacing the other nine.
  auto stats = gw.mock_stats();
  CHECK(stats.at("active_streams").as_int64() == 1);
  CHECK(stats.at("streams_completed").as_int64() == 0);
  received += stream.read_all();
  CHECK(received.find("data: [DONE]") != std::string::npos);
  // The mock counts a stream once its last write completes, which may come just after the
  // client has read the end of the relayed stream.
  CHECK(gw.wait_mock_stat("streams_completed", 1) == 1);
}

TEST_CASE("concurrent streams on one worker each get exactly their own events") {
  // One worker, so every stream shares its io_context, pools and buffers: anything shared
  // that is not consumed before a suspension would mix streams up here.
  GatewayFixture gw({.workers = 1});
  constexpr int kStreams = 24;
  std::vector<std::string> received(kStreams);
  std::vector<std::thread> clients;
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([&, i] {
      const std::string text =
          "stream " + std::to_string(i) + " says alpha beta gamma delta epsilon";
      StreamingResponse stream(
          gw.port, "POST", "/v1/chat/completions",
          chat_body("gpt-test", R"(,"stream":true,"mock":{"chunks":7,"chunk_delay_ms":3,"text":")" +
                                    text + "\"}"));
      received[i] = stream.read_all();
    });
  }
  for (auto& c : clients) c.join();
  for (int i = 0; i < kStreams; ++i) {
    INFO("stream " << i);
    auto events = sse_data(received[i]);
    REQUIRE(!events.empty());
    CHECK(events.back() == "[DONE]");
    std::string text;
    for (std::size_t e = 0; e + 1 < events.size(); ++e) {
      const auto chunk = parse_object(events[e]);
      const auto& delta = chunk.at("choices").as_array()[0].at("delta").as_object();
      if (auto* c = delta.if_contains("content")) text += c->as_string();
    }
    CHECK(text == "stream " + std::to_string(i) + " says alpha beta gamma delta epsilon");
  }
}

TEST_CASE("usage and cost of each request show in /metrics and the access log") {
  GatewayFixture gw;
  auto res =
      http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test", kUsageOverride),
                   {{"x-request-id", "cost-check-1"}});
  REQUIRE(res.status == 200);
  // The access-log line is queued after every metric of the request is recorded.
  const std::string line = gw.wait_access_log_line("cost-check-1");
  const std::string metrics = gw.metrics();
  CHECK(metric_value(
            metrics,
            R"(switchyard_requests_total{model="gpt-test",provider="upstream",status="2xx"})") ==
        1);
  CHECK(metric_value(metrics,
                     R"(switchyard_tokens_total{kind="cached_prompt",model="gpt-test"})") == 200);
  CHECK(metric_value(metrics, R"(switchyard_tokens_total{kind="reasoning",model="gpt-test"})") ==
        50);
  // 800 uncached prompt tokens at $2/M, 200 cached at $1/M, 500 completion at $8/M.
  const double expected = (800 * 2.0 + 200 * 1.0 + 500 * 8.0) / 1e6;
  CHECK(metric_value(metrics, R"(switchyard_cost_usd_total{model="gpt-test"})") ==
        Approx(expected));
  CHECK(metrics.find("switchyard_gateway_overhead_seconds_count 1") != std::string::npos);
  CHECK(metrics.find(GatewayFixture::kUpstreamKey) == std::string::npos);

  auto entry = parse_object(line);
  CHECK(entry.at("model").as_string() == "gpt-test");
  CHECK(entry.at("provider").as_string() == "upstream");
  CHECK(entry.at("upstream_model").as_string() == "upstream-model-id");
  CHECK(entry.at("status").as_int64() == 200);
  CHECK(entry.at("prompt_tokens").as_int64() == 1000);
  CHECK(entry.at("cost_usd").to_number<double>() == Approx(expected));
  CHECK(line.find("Say hello") == std::string::npos);  // never the prompt
  CHECK(line.find(GatewayFixture::kUpstreamKey) == std::string::npos);
}

TEST_CASE("the in-process mock provider answers plain and streaming requests") {
  GatewayFixture gw;
  auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("mock-test"));
  REQUIRE(res.status == 200);
  CHECK(
      parse_object(res.body).at("choices").as_array()[0].at("message").at("content").as_string() ==
      "Hello from the in-process mock.");

  StreamingResponse stream(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("mock-test", R"(,"stream":true,"stream_options":{"include_usage":true})"));
  auto events = sse_data(stream.read_all());
  REQUIRE(events.size() >= 4);
  CHECK(events.back() == "[DONE]");
  CHECK(parse_object(events[events.size() - 2]).at("usage").at("completion_tokens").as_int64() ==
        5);
  CHECK(gw.mock_stats().at("requests").as_int64() == 0);  // never left the process
}

TEST_CASE("GET /v1/models lists the configured models") {
  GatewayFixture gw;
  auto res = http_request(gw.port, "GET", "/v1/models");
  REQUIRE(res.status == 200);
  auto body = parse_object(res.body);
  CHECK(body.at("object").as_string() == "list");
  std::vector<std::string> ids;
  for (auto& m : body.at("data").as_array()) ids.emplace_back(m.at("id").as_string());
  CHECK(ids == std::vector<std::string>{"gpt-test", "openai-test", "azure-test", "claude-test",
                                        "gemini-test", "openai-reasoner", "claude-reasoner",
                                        "mock-test"});
  CHECK(http_request(gw.port, "GET", "/health/live").status == 200);
  CHECK(http_request(gw.port, "GET", "/health/ready").status == 200);
}

TEST_CASE(
    "several requests share one keep-alive client connection and pooled upstream connections") {
  GatewayFixture gw;
  HttpConnection conn(gw.port);
  for (int i = 0; i < 5; ++i) {
    auto res = conn.request("POST", "/v1/chat/completions", chat_body("gpt-test"));
    REQUIRE(res.status == 200);
  }
  CHECK(conn.is_open());
  CHECK(gw.mock_stats().at("requests").as_int64() == 5);
}
