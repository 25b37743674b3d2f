// The Anthropic Messages and OpenAI Responses front doors and the provider types, over the
// wire: what reaches each provider (path, auth, forwarded headers), errors in each client's
// protocol, in-band errors after a stream started, and usage recorded the same whichever
// protocols met. The SDK suites in tests/clients drive the same paths with real clients.
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/proxy/adversarial_helpers.hpp"
#include "tests/proxy/gateway_fixture.hpp"

using namespace switchyard::testing;

namespace {

// A user message whose first line plans the mock's answer (it survives translation), as a
// JSON string literal.
std::string plan_text(std::string_view plan) {
  return boost::json::serialize(
      boost::json::value("#mock " + std::string(plan) + "\nPlease answer."));
}

std::string messages_body(std::string_view model, std::string_view plan,
                          std::string_view extra = {}) {
  return R"({"model":")" + std::string(model) +
         R"(","max_tokens":256,"messages":[{"role":"user","content":)" + plan_text(plan) + "}]" +
         std::string(extra) + "}";
}
std::string chat_plan_body(std::string_view model, std::string_view plan,
                           std::string_view extra = {}) {
  return R"({"model":")" + std::string(model) + R"(","messages":[{"role":"user","content":)" +
         plan_text(plan) + "}]" + std::string(extra) + "}";
}
std::string responses_body(std::string_view model, std::string_view plan,
                           std::string_view extra = {}) {
  return R"({"model":")" + std::string(model) + R"(","input":)" + plan_text(plan) +
         std::string(extra) + "}";
}

// Event names of an SSE body, in order (empty for data-only events).
std::vector<std::string> sse_event_names(std::string_view body) {
  std::vector<std::string> names;
  std::string current;
  bool has_data = false;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (has_data) names.push_back(current);
      current.clear();
      has_data = false;
    } else if (line.starts_with("event:")) {
      current = std::string(line.substr(line.find_first_not_of(' ', 6)));
    } else if (line.starts_with("data:")) {
      has_data = true;
    }
    pos = end + 1;
  }
  return names;
}

const HttpHeaders kAnthropicHeaders{{"anthropic-version", "2023-06-01"},
                                    {"x-api-key", "sk-ant-client"}};

}  // namespace

TEST_CASE("HEAD probes are answered at once with no body") {
  GatewayFixture gw;
  for (const char* path : {"/", "/v1/messages", "/api/hello"}) {
    INFO(path);
    auto res = http_request(gw.port, "HEAD", path);
    CHECK(res.status == 200);
    CHECK(res.body.empty());
  }
  CHECK(gw.mock_stats().at("requests").as_int64() == 0);
}

TEST_CASE("each provider type is called on its own path with its own auth header") {
  GatewayFixture gw;
  struct Case {
    const char* model;
    const char* path;
    const char* auth_header;
    std::string auth_value;
  };
  const std::string key = GatewayFixture::kUpstreamKey;
  const std::vector<Case> cases{
      {"openai-test", "/v1/chat/completions", "authorization", "Bearer " + key},
      {"azure-test", "/openai/deployments/azure-deployment/chat/completions?api-version=2024-10-21",
       "api-key", key},
      {"claude-test", "/v1/messages", "x-api-key", key},
      {"gemini-test", "/v1beta/models/gemini-upstream:generateContent", "x-goog-api-key", key},
  };
  for (const Case& c : cases) {
    INFO(c.model);
    auto res = http_request(gw.port, "POST", "/v1/chat/completions",
                            chat_plan_body(c.model, R"({"text":"hi there"})"));
    REQUIRE(res.status == 200);
    CHECK(parse_object(res.body).at("choices").at(0).at("message").at("content").as_string() ==
          "hi there");
    auto seen = gw.last_upstream_request();
    CHECK(seen.at("target").as_string() == c.path);
    CHECK(seen.at("headers").at(c.auth_header).as_string() == c.auth_value);
  }
}

TEST_CASE("an Anthropic client's version and beta headers reach an Anthropic provider unchanged") {
  GatewayFixture gw;
  HttpHeaders headers = kAnthropicHeaders;
  headers.emplace_back("anthropic-beta",
                       "interleaved-thinking-2025-05-14,context-management-2025-06-27");
  auto res = http_request(gw.port, "POST", "/v1/messages?beta=true",
                          messages_body("claude-test", R"({"text":"ok"})"), headers);
  REQUIRE(res.status == 200);
  auto body = parse_object(res.body);
  CHECK(body.at("type").as_string() == "message");
  CHECK(body.at("content").at(0).at("text").as_string() == "ok");
  auto seen = gw.last_upstream_request();
  CHECK(seen.at("headers").at("anthropic-version").as_string() == "2023-06-01");
  CHECK(seen.at("headers").at("anthropic-beta").as_string() ==
        "interleaved-thinking-2025-05-14,context-management-2025-06-27");
  // The client's own key never travels upstream: the provider's does.
  CHECK(seen.at("headers").at("x-api-key").as_string() == GatewayFixture::kUpstreamKey);
}

TEST_CASE("thinking and reasoning effort cross protocols only to models that accept them") {
  GatewayFixture gw;
  // Claude Code asks for adaptive thinking on every request.
  const std::string thinking = R"(,"thinking":{"type":"adaptive"})";
  auto res = http_request(gw.port, "POST", "/v1/messages",
                          messages_body("openai-reasoner", R"({"text":"ok"})", thinking),
                          kAnthropicHeaders);
  REQUIRE(res.status == 200);
  auto sent = parse_object(std::string(gw.last_upstream_request().at("body").as_string()));
  CHECK(sent.at("reasoning_effort").as_string() == "medium");
  // gpt-4o and unlisted models would refuse the whole request over reasoning_effort.
  res = http_request(gw.port, "POST", "/v1/messages",
                     messages_body("openai-test", R"({"text":"ok"})", thinking), kAnthropicHeaders);
  REQUIRE(res.status == 200);
  sent = parse_object(std::string(gw.last_upstream_request().at("body").as_string()));
  CHECK_FALSE(sent.contains("reasoning_effort"));

  // An OpenAI client's effort becomes a thinking budget, on top of the default answer room.
  const std::string effort = R"(,"reasoning_effort":"high")";
  res = http_request(gw.port, "POST", "/v1/chat/completions",
                     chat_plan_body("claude-reasoner", R"({"text":"ok"})", effort));
  REQUIRE(res.status == 200);
  sent = parse_object(std::string(gw.last_upstream_request().at("body").as_string()));
  CHECK(sent.at("thinking") == boost::json::parse(R"({"type":"enabled","budget_tokens":16384})"));
  CHECK(sent.at("max_tokens").as_int64() == 4096 + 16384);
  res = http_request(gw.port, "POST", "/v1/chat/completions",
                     chat_plan_body("claude-test", R"({"text":"ok"})", effort));
  REQUIRE(res.status == 200);
  sent = parse_object(std::string(gw.last_upstream_request().at("body").as_string()));
  CHECK_FALSE(sent.contains("thinking"));
  CHECK(sent.at("max_tokens").as_int64() == 4096);
}

TEST_CASE(
    "an overloaded Anthropic provider is a 529 for Anthropic clients and a 503 for OpenAI "
    "clients") {
  GatewayFixture gw;
  // The provider's retry-after, an HTTP date, is what each client must get.
  const std::string date = "Wed, 21 Oct 2037 07:28:00 GMT";
  const std::string plan = R"({"fault":"status","status":529,"retry_after":")" + date + R"("})";
  auto anthropic = http_request(gw.port, "POST", "/v1/messages", messages_body("claude-test", plan),
                                kAnthropicHeaders);
  CHECK(anthropic.status == 529);
  auto a = parse_object(anthropic.body);
  CHECK(a.at("type").as_string() == "error");
  CHECK(a.at("error").at("type").as_string() == "overloaded_error");
  CHECK(anthropic.header("retry-after") == date);

  auto openai =
      http_request(gw.port, "POST", "/v1/chat/completions", chat_plan_body("claude-test", plan));
  CHECK(openai.status == 503);
  CHECK(parse_object(openai.body).at("error").at("message").as_string().size() > 0);
  CHECK(openai.header("retry-after") == date);
}

TEST_CASE("a rate-limited OpenAI-format provider is a 429 with retry-after in Anthropic's shape") {
  GatewayFixture gw;
  auto res =
      http_request(gw.port, "POST", "/v1/messages",
                   messages_body("gpt-test", R"({"fault":"status","status":429,"retry_after":7})"),
                   kAnthropicHeaders);
  CHECK(res.status == 429);
  CHECK(res.header("retry-after") == "7");  // the provider's, not the gateway's 1
  auto body = parse_object(res.body);
  CHECK(body.at("type").as_string() == "error");
  CHECK(body.at("error").at("type").as_string() == "rate_limit_error");
}

TEST_CASE("a translated stream cut by the provider ends with the client protocol's error event") {
  GatewayFixture gw;
  const std::string plan = R"({"chunks":6,"fault":"cut","cut_after":2})";
  SECTION("Anthropic client, Gemini provider") {
    StreamingResponse s(gw.port, "POST", "/v1/messages",
                        messages_body("gemini-test", plan, R"(,"stream":true)"), kAnthropicHeaders);
    REQUIRE(s.status() == 200);
    const auto names = sse_event_names(s.read_all());
    REQUIRE(!names.empty());
    CHECK(names.front() == "message_start");
    CHECK(names.back() == "error");
  }
  SECTION("Responses client, Anthropic provider") {
    StreamingResponse s(gw.port, "POST", "/v1/responses",
                        responses_body("claude-test", plan, R"(,"stream":true)"));
    REQUIRE(s.status() == 200);
    const auto names = sse_event_names(s.read_all());
    REQUIRE(!names.empty());
    CHECK(names.front() == "response.created");
    CHECK(names.back() == "response.failed");
  }
  SECTION("OpenAI chat client, Anthropic provider") {
    StreamingResponse s(gw.port, "POST", "/v1/chat/completions",
                        chat_plan_body("claude-test", plan, R"(,"stream":true)"));
    REQUIRE(s.status() == 200);
    const auto data = sse_data(s.read_all());
    REQUIRE(!data.empty());
    CHECK(parse_object(data.back()).contains("error"));
  }
}

TEST_CASE("usage and cost are recorded the same whichever protocols met") {
  GatewayFixture gw;
  const std::string plan =
      R"({"text":"counted","usage":{"prompt_tokens":40,"completion_tokens":7,"cached_tokens":10}})";
  struct Pair {
    const char* path;
    const char* model;
    bool stream;
  };
  const std::vector<Pair> pairs{
      {"/v1/messages", "claude-test", true},   // Anthropic to Anthropic: bytes pass through
      {"/v1/messages", "gemini-test", false},  // Anthropic to Gemini
      {"/v1/responses", "azure-test", true},   // Responses to an OpenAI-format provider
      {"/v1/chat/completions", "openai-test", true},
  };
  for (const Pair& p : pairs) {
    INFO(p.path << " -> " << p.model);
    const std::string stream = p.stream ? R"(,"stream":true)" : "";
    std::string body = std::string(p.path) == "/v1/messages" ? messages_body(p.model, plan, stream)
                       : std::string(p.path) == "/v1/responses"
                           ? responses_body(p.model, plan, stream)
                           : chat_plan_body(p.model, plan, stream);
    auto res = http_request(gw.port, "POST", p.path, body, kAnthropicHeaders);
    REQUIRE(res.status == 200);
    const std::string completion =
        std::string(R"(switchyard_tokens_total{kind="completion",model=")") + p.model + "\"}";
    const std::string text = wait_for_metric(gw.port, completion, 7);
    CHECK(metric_value(text, completion) == 7);
    CHECK(metric_value(text, std::string(R"(switchyard_tokens_total{kind="prompt",model=")") +
                                 p.model + "\"}") == 40);
    CHECK(
        metric_value(text, std::string(R"(switchyard_tokens_total{kind="cached_prompt",model=")") +
                               p.model + "\"}") == 10);
  }
}

TEST_CASE("count_tokens goes to an Anthropic provider and is estimated for the others") {
  GatewayFixture gw;
  const std::string body =
      R"({"model":"claude-test","messages":[{"role":"user","content":"How many tokens is this?"}]})";
  auto native =
      http_request(gw.port, "POST", "/v1/messages/count_tokens?beta=true", body, kAnthropicHeaders);
  REQUIRE(native.status == 200);
  CHECK(parse_object(native.body).at("input_tokens").as_int64() > 0);
  CHECK(
      gw.last_upstream_request().at("target").as_string().starts_with("/v1/messages/count_tokens"));

  const auto requests_before = gw.mock_stats().at("requests").as_int64();
  auto estimated = http_request(
      gw.port, "POST", "/v1/messages/count_tokens",
      R"({"model":"gpt-test","messages":[{"role":"user","content":"How many tokens is this?"}]})",
      kAnthropicHeaders);
  REQUIRE(estimated.status == 200);
  CHECK(parse_object(estimated.body).at("input_tokens").as_int64() > 0);
  CHECK(gw.mock_stats().at("requests").as_int64() == requests_before);  // answered by the gateway
}

TEST_CASE("errors of the Anthropic front door have Anthropic's shape") {
  GatewayFixture gw;
  auto bad_json = http_request(gw.port, "POST", "/v1/messages", "{not json", kAnthropicHeaders);
  CHECK(bad_json.status == 400);
  auto b = parse_object(bad_json.body);
  CHECK(b.at("type").as_string() == "error");
  CHECK(b.at("error").at("type").as_string() == "invalid_request_error");

  auto unknown = http_request(gw.port, "POST", "/v1/messages", messages_body("no-such-model", "{}"),
                              kAnthropicHeaders);
  CHECK(unknown.status == 404);
  CHECK(parse_object(unknown.body).at("error").at("type").as_string() == "not_found_error");

  auto embeddings =
      http_request(gw.port, "POST", "/v1/embeddings", R"({"model":"claude-test","input":"x"})");
  CHECK(embeddings.status == 400);
  CHECK(parse_object(embeddings.body).at("error").at("code").as_string() == "model_not_supported");
}

TEST_CASE("embeddings pass through to OpenAI-format providers") {
  GatewayFixture gw;
  for (const char* model : {"gpt-test", "azure-test"}) {
    INFO(model);
    auto res =
        http_request(gw.port, "POST", "/v1/embeddings",
                     R"({"model":")" + std::string(model) + R"(","input":["alpha","beta"]})");
    REQUIRE(res.status == 200);
    auto body = parse_object(res.body);
    CHECK(body.at("data").as_array().size() == 2);
    CHECK(body.at("usage").at("prompt_tokens").as_int64() > 0);
  }
}

TEST_CASE("the Messages front door also answers without /v1, as the Vercel AI SDK calls it") {
  GatewayFixture gw;
  // @ai-sdk/anthropic appends /messages to a base URL that already ends in /v1, so a client
  // configured with the gateway's root calls /messages.
  auto res = http_request(gw.port, "POST", "/messages", messages_body("claude-test", "{}"),
                          kAnthropicHeaders);
  REQUIRE(res.status == 200);
  CHECK(parse_object(res.body).at("type").as_string() == "message");
  CHECK(gw.last_upstream_request().at("target").as_string().starts_with("/v1/messages"));

  auto count = http_request(
      gw.port, "POST", "/messages/count_tokens",
      R"({"model":"gpt-test","messages":[{"role":"user","content":"How many tokens is this?"}]})",
      kAnthropicHeaders);
  REQUIRE(count.status == 200);
  CHECK(parse_object(count.body).at("input_tokens").as_int64() > 0);
}

TEST_CASE("every request gets exactly one access-log line, unknown paths and probes included") {
  GatewayFixture gw;
  struct Case {
    const char* method;
    const char* path;
    int status;
  };
  for (const Case& c : {Case{"POST", "/v2/no-such-endpoint", 404}, Case{"GET", "/health/live", 200},
                        Case{"HEAD", "/api/hello", 200}, Case{"GET", "/v1/messages", 405}}) {
    INFO(c.method << " " << c.path);
    const std::string id = std::string("log-line-") + c.method + "-" + std::to_string(c.status);
    auto res = http_request(gw.port, c.method, c.path, {}, {{"x-request-id", id}});
    CHECK(res.status == c.status);
    auto entry = parse_object(gw.wait_access_log_line(id));
    CHECK(entry.at("method").as_string() == c.method);
    CHECK(entry.at("path").as_string() == c.path);
    CHECK(entry.at("status").as_int64() == c.status);
  }
  // A request whose head cannot be parsed is answered 400 and logged too.
  auto bad = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
                          {{"Transfer-Encoding", "gzip, chunked"}});
  CHECK(bad.status == 400);
  gw.wait_access_log_line("\"status\":400");

  std::ifstream in(gw.access_log_path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  CHECK(lines == 5);  // exactly one per request
  // Probes and unknown paths do not count as model requests; the 405 on a model path does.
  CHECK(gw.metrics().find("status=\"4xx\"} 1") != std::string::npos);
}

TEST_CASE("a request whose body never arrives in full still gets its access-log line") {
  GatewayFixture gw({.top_level = "read_timeout_ms: 300"});
  const std::string body = chat_body("gpt-test");
  // The client leaves halfway through its body.
  {
    RawClient client(gw.port);
    REQUIRE(
        client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-request-id: "
                    "left-mid-body\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, body.size() / 2)));
  }
  auto left = parse_object(gw.wait_access_log_line("left-mid-body"));
  CHECK(left.at("status").as_int64() == 499);
  CHECK(left.at("error").as_string() == "client_closed");
  // The client stays but stops sending: read_timeout_ms ends the request.
  RawClient slow(gw.port);
  REQUIRE(
      slow.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-request-id: "
                "stalled-mid-body\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 10)));
  auto stalled = parse_object(gw.wait_access_log_line("stalled-mid-body"));
  CHECK(stalled.at("status").as_int64() == 408);
  CHECK(stalled.at("error").as_string() == "request_timeout");
}
