// OpenTelemetry export (issue 13): with a tracing section, each model request becomes a
// SERVER span with a CLIENT span per upstream attempt, sent over OTLP/HTTP JSON to a collector
// (here tests/support's receiver, which decodes what arrives). The spans continue a client's
// trace, the provider is told the attempt's span as its parent, attributes follow the GenAI
// conventions, and a broken collector costs spans, never requests.
#include <catch2/catch.hpp>
#include <thread>

#include "tests/proxy/gateway_fixture.hpp"
#include "tests/support/otlp_receiver.hpp"

using namespace switchyard::testing;

namespace {

constexpr const char* kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kClientSpan = "00f067aa0ba902b7";
constexpr const char* kCollectorToken = "collector-token-not-for-logs-7731";

std::string tracing_section(const OtlpReceiver& collector, std::string_view extra = {}) {
  return "tracing:\n"
         "  endpoint: " +
         collector.endpoint() +
         "\n"
         "  service_name: gateway-under-test\n"
         "  export_interval_ms: 50\n"
         "  headers: {x-collector-token: " +
         kCollectorToken +
         "}\n"
         "  resource_attributes: {deployment.environment.name: test}\n" +
         std::string(extra);
}

// The spans of one request, found by its x-request-id: its SERVER span and the CLIENT spans
// that are its children.
struct RequestSpans {
  ReceivedSpan server;
  std::vector<ReceivedSpan> attempts;
};

std::optional<RequestSpans> find_request(const std::vector<ReceivedSpan>& spans,
                                         std::string_view request_id) {
  std::optional<RequestSpans> found;
  for (const auto& s : spans)
    if (s.attribute("switchyard.request_id") == request_id) found = RequestSpans{s, {}};
  if (!found) return found;
  const std::string id = found->server.field("spanId");
  for (const auto& s : spans)
    if (s.field("parentSpanId") == id) found->attempts.push_back(s);
  return found;
}

RequestSpans wait_for_request(OtlpReceiver& collector, std::string_view request_id,
                              std::size_t attempts) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (std::size_t want = 1;; ++want) {
    const auto spans = collector.wait_for_spans(want, 10s);
    if (auto r = find_request(spans, request_id); r && r->attempts.size() >= attempts) return *r;
    want = spans.size();
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("no spans for request " + std::string(request_id));
  }
}

// Polls /metrics until `series` reads at least `floor` (exports keep failing while the
// collector is down, so the count passes any exact value); returns the exposition, or throws.
std::string wait_for_metric_at_least(std::uint16_t port, std::string_view series, double floor) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    std::string text = http_request(port, "GET", "/metrics").body;
    if (text.find(series) != std::string::npos && metric_value(text, series) >= floor) return text;
    if (std::chrono::steady_clock::now() >= until)
      throw std::runtime_error(std::string(series) + " stayed below its floor:\n" + text);
    std::this_thread::sleep_for(10ms);  // poll interval while waiting for the condition
  }
}

std::string header_sent(const boost::json::object& upstream, const char* name) {
  const auto& headers = upstream.at("headers").as_object();
  const auto* value = headers.if_contains(name);
  return value ? std::string(value->as_string()) : std::string("(absent)");
}

}  // namespace

TEST_CASE("a traced request continues the client's trace, and the provider sees the attempt") {
  OtlpReceiver collector;
  GatewayFixture gw({.top_level = tracing_section(collector), .workers = 1});
  const std::string parent = std::string("00-") + kTraceId + "-" + kClientSpan + "-01";
  auto res = http_request(
      gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
      {{"traceparent", parent}, {"tracestate", "vendor=abc"}, {"x-request-id", "traced-1"}});
  REQUIRE(res.status == 200);
  const RequestSpans r = wait_for_request(collector, "traced-1", 1);
  const ReceivedSpan& server = r.server;
  CHECK(server.field("traceId") == kTraceId);
  CHECK(server.field("parentSpanId") == kClientSpan);
  CHECK(server.field("traceState") == "vendor=abc");
  CHECK(server.field("name") == "chat gpt-test");
  CHECK(server.span.at("kind").as_int64() == 2);  // SERVER
  CHECK(server.attribute("gen_ai.operation.name") == "chat");
  CHECK(server.attribute("gen_ai.request.model") == "gpt-test");
  CHECK(server.attribute("gen_ai.response.model") == "upstream-model-id");
  CHECK(server.attribute("gen_ai.provider.name") == "upstream");  // openai_compatible: its name
  CHECK(server.attribute("http.response.status_code") == "200");
  CHECK(server.attribute("http.request.method") == "POST");
  CHECK(server.attribute("url.path") == "/v1/chat/completions");
  CHECK(server.attribute("switchyard.protocol") == "openai_chat");
  CHECK(server.attribute("switchyard.attempts") == "1");
  CHECK(server.attribute("switchyard.overhead_ms") != "(absent)");
  // The mock reports usage: the span has the request's tokens, as the ledger and metrics do.
  CHECK(std::stoll(server.attribute("gen_ai.usage.input_tokens")) > 0);
  CHECK(std::stoll(server.attribute("gen_ai.usage.output_tokens")) > 0);
  CHECK(server.span.at("status").as_object().at("code").as_int64() == 0);  // unset: not an error
  CHECK(server.resource_attribute("service.name") == "gateway-under-test");
  CHECK(server.resource_attribute("deployment.environment.name") == "test");
  CHECK(server.scope.at("name").as_string() == "switchyard");

  REQUIRE(r.attempts.size() == 1);
  const ReceivedSpan& attempt = r.attempts[0];
  CHECK(attempt.field("traceId") == kTraceId);
  CHECK(attempt.span.at("kind").as_int64() == 3);  // CLIENT
  CHECK(attempt.field("name") == "chat upstream-model-id");
  CHECK(attempt.attribute("gen_ai.request.model") == "upstream-model-id");
  CHECK(attempt.attribute("server.address") == "127.0.0.1");
  CHECK(attempt.attribute("server.port") == std::to_string(gw.mock_port));
  CHECK(attempt.attribute("http.response.status_code") == "200");
  CHECK(attempt.attribute("switchyard.attempt.outcome") == "success");
  // The attempt lies within the request.
  CHECK(std::stoll(attempt.field("startTimeUnixNano")) >=
        std::stoll(server.field("startTimeUnixNano")));
  CHECK(std::stoll(attempt.field("endTimeUnixNano")) <=
        std::stoll(server.field("endTimeUnixNano")));
  // The provider was told the attempt's span as its parent, in the client's trace.
  const auto upstream = gw.last_upstream_request();
  CHECK(header_sent(upstream, "traceparent") ==
        std::string("00-") + kTraceId + "-" + attempt.field("spanId") + "-01");
  CHECK(header_sent(upstream, "tracestate") == "vendor=abc");
  // The collector got the configured header and JSON; the token is in no log line.
  const auto headers = collector.last_headers();
  CHECK(headers.at("x-collector-token") == kCollectorToken);
  CHECK(headers.at("content-type") == "application/json");
  const std::string line = gw.wait_access_log_line("traced-1");
  CHECK(line.find(std::string("\"trace_id\":\"") + kTraceId + "\"") != std::string::npos);
  CHECK(gw.gateway().output().find(kCollectorToken) == std::string::npos);
}

TEST_CASE(
    "a request without a traceparent starts a trace, logged; each failover attempt is a span") {
  OtlpReceiver collector;
  GatewayFixture gw({.top_level = tracing_section(collector),
                     .workers = 1,
                     .extra_providers = "  - {name: unreachable, type: openai_compatible, "
                                        "base_url: \"http://127.0.0.1:1/v1\"}\n",
                     .extra_models = "  - name: failover\n"
                                     "    strategy: ordered\n"
                                     "    retry: {attempts: 2, backoff_ms: 1, max_backoff_ms: 2}\n"
                                     "    targets:\n"
                                     "      - {provider: unreachable, model: gone}\n"
                                     "      - {provider: upstream, model: upstream-model-id}\n"});
  // A stream: the span has the time to first token.
  auto stream =
      http_request(gw.port, "POST", "/v1/chat/completions",
                   chat_body("gpt-test", R"(,"stream":true)"), {{"x-request-id", "new-trace"}});
  REQUIRE(stream.status == 200);
  const RequestSpans s = wait_for_request(collector, "new-trace", 1);
  CHECK(s.server.field("parentSpanId").empty());  // a root span
  CHECK(s.server.field("traceId").size() == 32);
  CHECK(s.server.attribute("switchyard.stream") == "true");
  CHECK(s.server.attribute("switchyard.time_to_first_token_ms") != "(absent)");
  const std::string line = gw.wait_access_log_line("new-trace");
  CHECK(line.find("\"trace_id\":\"" + s.server.field("traceId") + "\"") != std::string::npos);
  CHECK(header_sent(gw.last_upstream_request(), "traceparent") ==
        "00-" + s.server.field("traceId") + "-" + s.attempts.at(0).field("spanId") + "-01");

  // Failover: the first target cannot be reached, the second answers.
  auto failover = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("failover"),
                               {{"x-request-id", "two-attempts"}});
  REQUIRE(failover.status == 200);
  const RequestSpans f = wait_for_request(collector, "two-attempts", 2);
  CHECK(f.server.attribute("switchyard.attempts") == "2");
  CHECK(f.server.attribute("gen_ai.request.model") == "failover");
  CHECK(f.server.attribute("gen_ai.response.model") == "upstream-model-id");
  REQUIRE(f.attempts.size() == 2);
  const auto& first = f.attempts[0].attribute("switchyard.provider") == "unreachable"
                          ? f.attempts[0]
                          : f.attempts[1];
  const auto& second = &first == &f.attempts[0] ? f.attempts[1] : f.attempts[0];
  CHECK(first.attribute("switchyard.attempt.outcome") == "connect");
  CHECK(first.attribute("error.type") == "connect");
  CHECK(first.span.at("status").as_object().at("code").as_int64() == 2);  // ERROR
  CHECK(first.attribute("http.response.status_code") == "(absent)");
  CHECK(second.attribute("switchyard.provider") == "upstream");
  CHECK(second.attribute("switchyard.attempt.outcome") == "success");
  CHECK(std::stoll(first.field("endTimeUnixNano")) <=
        std::stoll(second.field("startTimeUnixNano")));

  // A refused request is in the trace too: a 404, the client's error, not the span's.
  auto unknown = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("no-such-model"),
                              {{"x-request-id", "refused"}});
  REQUIRE(unknown.status == 404);
  const RequestSpans u = wait_for_request(collector, "refused", 0);
  CHECK(u.server.attribute("http.response.status_code") == "404");
  CHECK(u.server.attribute("switchyard.error") == "model_not_found");
  CHECK(u.server.span.at("status").as_object().at("code").as_int64() == 0);
  CHECK(u.attempts.empty());
}

TEST_CASE("sampling: sample_ratio for new traces, the client's sampled flag for its own") {
  OtlpReceiver collector;
  GatewayFixture gw({.top_level = tracing_section(collector, "  sample_ratio: 0\n"), .workers = 1});
  // Not sampled: no traceparent at all (ratio 0), and a client trace whose flag says no.
  auto plain = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
                            {{"x-request-id", "unsampled-new"}});
  REQUIRE(plain.status == 200);
  CHECK(header_sent(gw.last_upstream_request(), "traceparent") == "(absent)");
  const std::string unsampled = std::string("00-") + kTraceId + "-" + kClientSpan + "-00";
  auto declined = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
                               {{"traceparent", unsampled}, {"x-request-id", "unsampled-client"}});
  REQUIRE(declined.status == 200);
  // The client's unsampled context still goes on as it came.
  CHECK(header_sent(gw.last_upstream_request(), "traceparent") == unsampled);
  // Sampled by its client: traced whatever the ratio. One worker, one queue, in order: once
  // its spans are in, the two before would have been too.
  const std::string sampled = std::string("00-") + kTraceId + "-" + kClientSpan + "-01";
  auto traced = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
                             {{"traceparent", sampled}, {"x-request-id", "sampled-client"}});
  REQUIRE(traced.status == 200);
  wait_for_request(collector, "sampled-client", 1);
  gw.wait_access_log_line("sampled-client");
  const auto spans = collector.spans();
  CHECK(spans.size() == 2);
  CHECK_FALSE(find_request(spans, "unsampled-new"));
  CHECK_FALSE(find_request(spans, "unsampled-client"));
}

TEST_CASE("a stalled or refusing collector costs spans, counted, never requests") {
  OtlpReceiver collector;
  collector.set_mode(OtlpReceiver::Mode::stall);
  GatewayFixture gw({.top_level = tracing_section(collector,
                                                  "  export_timeout_ms: 300\n"
                                                  "  queue_spans: 4\n"
                                                  "  batch_spans: 2\n"),
                     .workers = 1});
  // While the exporter waits on the stalled collector, requests go on at full speed; the
  // queue of 4 fills and the rest of their spans are dropped.
  for (int i = 0; i < 100; ++i) {
    auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"));
    REQUIRE(res.status == 200);
  }
  collector.wait_for_exports(1, 10s);
  wait_for_metric_at_least(gw.port, "switchyard_trace_exports_total{result=\"failure\"}", 1);
  wait_for_metric_at_least(gw.port, "switchyard_trace_spans_dropped_total{reason=\"queue_full\"}",
                           1);
  gw.gateway().wait_for_line("tracing: export failed", 10s);

  // A collector that refuses: its batches are counted as lost too.
  collector.set_mode(OtlpReceiver::Mode::refuse);
  const std::size_t before = collector.exports();
  auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"));
  REQUIRE(res.status == 200);
  collector.wait_for_exports(before + 1, 10s);
  wait_for_metric_at_least(gw.port,
                           "switchyard_trace_spans_dropped_total{reason=\"export_failed\"}", 1);

  // Back to health: new requests' spans arrive, and the exporter says so.
  collector.set_mode(OtlpReceiver::Mode::accept);
  auto after = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
                            {{"x-request-id", "after-recovery"}});
  REQUIRE(after.status == 200);
  wait_for_request(collector, "after-recovery", 1);
  gw.gateway().wait_for_line("exports to the collector succeed again", 10s);
  wait_for_metric_at_least(gw.port, "switchyard_trace_exports_total{result=\"success\"}", 1);
  wait_for_metric_at_least(gw.port, "switchyard_trace_spans_exported_total", 2);
}
