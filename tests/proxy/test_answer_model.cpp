// What a translated answer says about itself, over the wire: the model it names (the one the
// upstream reported, which the mock upstream sets to the model it was sent, not the client's
// alias), its time, and the input tokens a Messages stream's message_start carries.
#include <catch2/catch.hpp>
#include <chrono>

#include "tests/proxy/gateway_fixture.hpp"

using namespace switchyard::testing;

namespace {

std::string plan_text(std::string_view plan) {
  return boost::json::serialize(
      boost::json::value("#mock " + std::string(plan) + "\nPlease answer."));
}

constexpr std::string_view kPlan =
    R"({"text":"named","usage":{"prompt_tokens":40,"completion_tokens":7,"cached_tokens":10}})";

std::string body_for(std::string_view path, std::string_view model, bool stream) {
  const std::string tail = stream ? R"(,"stream":true})" : "}";
  const std::string m(model);
  if (path == "/v1/messages")
    return R"({"model":")" + m + R"(","max_tokens":256,"messages":[{"role":"user","content":)" +
           plan_text(kPlan) + "}]" + tail;
  if (path == "/v1/responses")
    return R"({"model":")" + m + R"(","input":)" + plan_text(kPlan) + tail;
  return R"({"model":")" + m + R"(","messages":[{"role":"user","content":)" + plan_text(kPlan) +
         "}]" + tail;
}

const HttpHeaders kAnthropicHeaders{{"anthropic-version", "2023-06-01"},
                                    {"x-api-key", "sk-ant-client"}};

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Case {
  const char* path;
  const char* alias;           // the model the client asks for
  const char* upstream_model;  // what the config sends upstream (and the mock reports)
};

// Translated pairs (client protocol differs from the provider's) and one pass-through each.
const std::vector<Case> kCases{
    {"/v1/chat/completions", "claude-test", "claude-upstream"},
    {"/v1/chat/completions", "gemini-test", "gemini-upstream"},
    {"/v1/responses", "claude-test", "claude-upstream"},
    {"/v1/responses", "gemini-test", "gemini-upstream"},
    {"/v1/responses", "azure-test", "azure-deployment"},
    {"/v1/messages", "openai-test", "openai-upstream"},
    {"/v1/messages", "gemini-test", "gemini-upstream"},
    {"/v1/chat/completions", "openai-test", "openai-upstream"},  // pass-through
    {"/v1/messages", "claude-test", "claude-upstream"},          // pass-through
};

}  // namespace

TEST_CASE(
    "whole answers name the upstream's model and carry the request's time, whichever "
    "protocols met") {
  GatewayFixture gw;
  for (const Case& c : kCases) {
    INFO(c.path << " -> " << c.alias);
    const std::int64_t before = now_seconds();
    auto res =
        http_request(gw.port, "POST", c.path, body_for(c.path, c.alias, false), kAnthropicHeaders);
    REQUIRE(res.status == 200);
    const auto body = parse_object(res.body);
    CHECK(body.at("model").as_string() == c.upstream_model);
    const std::string_view path = c.path;
    if (path == "/v1/messages") continue;  // Messages answers carry no time
    const std::int64_t created =
        body.at(path == "/v1/responses" ? "created_at" : "created").as_int64();
    CHECK(created >= before - 1);
    CHECK(created <= now_seconds() + 1);
  }
}

TEST_CASE(
    "streamed answers name the upstream's model in every event that names one, whichever "
    "protocols met") {
  GatewayFixture gw;
  for (const Case& c : kCases) {
    INFO(c.path << " -> " << c.alias);
    StreamingResponse s(gw.port, "POST", c.path, body_for(c.path, c.alias, true),
                        kAnthropicHeaders);
    REQUIRE(s.status() == 200);
    std::size_t named = 0;
    for (const std::string& data : sse_data(s.read_all())) {
      if (data == "[DONE]") continue;
      const auto event = parse_object(data);
      const boost::json::object* holder = &event;
      if (const auto* r = event.if_contains("response")) holder = &r->as_object();
      if (const auto* m = event.if_contains("message")) holder = &m->as_object();
      if (const auto* model = holder->if_contains("model")) {
        CHECK(model->as_string() == c.upstream_model);
        ++named;
      }
    }
    CHECK(named > 0);
  }
}

TEST_CASE(
    "a translated Messages stream's message_start carries input tokens: Gemini's exact count "
    "from its first chunk, the gateway's estimate for an OpenAI-format provider") {
  GatewayFixture gw;
  for (const char* alias : {"gemini-test", "openai-test"}) {
    INFO(alias);
    StreamingResponse s(gw.port, "POST", "/v1/messages", body_for("/v1/messages", alias, true),
                        kAnthropicHeaders);
    REQUIRE(s.status() == 200);
    const auto data = sse_data(s.read_all());
    REQUIRE(!data.empty());
    const auto start = parse_object(data.front());
    REQUIRE(start.at("type").as_string() == "message_start");
    const auto& usage = start.at("message").at("usage");
    if (std::string_view(alias) == "gemini-test") {
      // The mock's first chunks count the prompt (40) without the cache split it gives last,
      // as Gemini does.
      CHECK(usage.at("input_tokens").as_int64() == 40);
    } else {
      CHECK(usage.at("input_tokens").as_int64() > 0);
    }
    // The final figures are in message_delta, as Anthropic sends them.
    for (const std::string& d : data) {
      const auto e = parse_object(d);
      if (e.at("type").as_string() != "message_delta") continue;
      CHECK(e.at("usage").at("input_tokens").as_int64() == 30);
      CHECK(e.at("usage").at("cache_read_input_tokens").as_int64() == 10);
      CHECK(e.at("usage").at("output_tokens").as_int64() == 7);
    }
  }
}

TEST_CASE("the in-process mock names the configured upstream model, never the client's alias") {
  GatewayFixture gw({.extra_models = "  - {name: mock-alias, provider: local-mock, model: "
                                     "mock-upstream-id}\n"});
  auto whole = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("mock-alias"));
  REQUIRE(whole.status == 200);
  CHECK(parse_object(whole.body).at("model").as_string() == "mock-upstream-id");
  auto streamed = http_request(gw.port, "POST", "/v1/chat/completions",
                               chat_body("mock-alias", R"(,"stream":true)"));
  REQUIRE(streamed.status == 200);
  const auto data = sse_data(streamed.body);
  REQUIRE(data.size() > 1);
  CHECK(parse_object(data.front()).at("model").as_string() == "mock-upstream-id");
}
