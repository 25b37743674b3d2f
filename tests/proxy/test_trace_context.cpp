// W3C trace context through the gateway: a client's traceparent and tracestate reach the
// provider on every provider type, the trace id is in the access log, and a malformed
// traceparent is dropped rather than passed on.
#include <catch2/catch.hpp>

#include "tests/proxy/gateway_fixture.hpp"

using namespace switchyard::testing;

namespace {

constexpr const char* kParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* kState = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

std::string header_sent(const boost::json::object& upstream, const char* name) {
  const auto& headers = upstream.at("headers").as_object();
  const auto* value = headers.if_contains(name);
  return value ? std::string(value->as_string()) : std::string("(absent)");
}

}  // namespace

TEST_CASE(
    "a client's traceparent and tracestate reach every provider type, and its trace id is "
    "logged") {
  GatewayFixture gw;
  for (const char* model :
       {"gpt-test", "openai-test", "azure-test", "claude-test", "gemini-test"}) {
    INFO(model);
    const std::string request_id = std::string("trace-") + model;
    auto res = http_request(
        gw.port, "POST", "/v1/chat/completions", chat_body(model),
        {{"traceparent", kParent}, {"tracestate", kState}, {"x-request-id", request_id}});
    REQUIRE(res.status == 200);
    const auto upstream = gw.last_upstream_request();
    CHECK(header_sent(upstream, "traceparent") == kParent);
    CHECK(header_sent(upstream, "tracestate") == kState);
    const std::string line = gw.wait_access_log_line(request_id);
    CHECK(line.find(R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736")") != std::string::npos);
  }
  // Messages and Responses front doors too.
  auto messages = http_request(
      gw.port, "POST", "/v1/messages",
      R"({"model":"claude-test","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})",
      {{"traceparent", kParent}, {"anthropic-version", "2023-06-01"}});
  REQUIRE(messages.status == 200);
  CHECK(header_sent(gw.last_upstream_request(), "traceparent") == kParent);
  CHECK(header_sent(gw.last_upstream_request(), "tracestate") == "(absent)");
}

TEST_CASE("a malformed traceparent or an oversized tracestate is not passed on") {
  GatewayFixture gw;
  for (const char* bad : {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero id
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",     // short
                          "garbage"}) {
    INFO(bad);
    auto res =
        http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
                     {{"traceparent", bad}, {"tracestate", kState}, {"x-request-id", "bad-tp"}});
    REQUIRE(res.status == 200);
    const auto upstream = gw.last_upstream_request();
    CHECK(header_sent(upstream, "traceparent") == "(absent)");
    CHECK(header_sent(upstream, "tracestate") == "(absent)");
  }
  CHECK(gw.wait_access_log_line("bad-tp").find("trace_id") == std::string::npos);
  // A tracestate over the 512 characters the specification lets a hop keep is dropped; the
  // traceparent still goes.
  const std::string long_state = "k=" + std::string(600, 'v');
  auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
                          {{"traceparent", kParent}, {"tracestate", long_state}});
  REQUIRE(res.status == 200);
  CHECK(header_sent(gw.last_upstream_request(), "traceparent") == kParent);
  CHECK(header_sent(gw.last_upstream_request(), "tracestate") == "(absent)");
}
