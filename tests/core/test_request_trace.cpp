#include <catch2/catch.hpp>

#include "core/request_trace.hpp"

using namespace switchyard::core;

namespace {

const SpanAttribute* find(const SpanRecord& s, std::string_view key) {
  for (const auto& a : s.attributes)
    if (a.key == key) return &a;
  return nullptr;
}

std::string text(const SpanRecord& s, std::string_view key) {
  const SpanAttribute* a = find(s, key);
  if (a == nullptr) return "(absent)";
  if (const auto* v = std::get_if<std::string>(&a->value)) return *v;
  if (const auto* v = std::get_if<std::int64_t>(&a->value)) return std::to_string(*v);
  if (const auto* v = std::get_if<bool>(&a->value)) return *v ? "true" : "false";
  return std::to_string(std::get<double>(a->value));
}

RequestTrace failover_request() {
  RequestTrace r;
  r.trace_id = make_trace_id(1, 2);
  r.span_id = make_span_id(3);
  r.parent_span_id = make_span_id(4);
  r.start_unix_nano = 1000;
  r.end_unix_nano = 9000;
  r.operation = "chat";
  r.protocol = "anthropic_messages";
  r.method = "POST";
  r.path = "/v1/messages";
  r.status = 200;
  r.request_id = "req-1";
  r.request_model = "smart";
  r.routed_model = "claude";
  r.has_usage = true;
  r.input_tokens = 120;
  r.output_tokens = 30;
  r.cached_input_tokens = 100;
  r.attempts = 2;
  r.tried_count = 2;
  r.tried[0] = {make_span_id(5),  1100, 2000,         "openai-eu", "openai", "gpt-4o",
                "api.openai.com", 443,  "status_5xx", 503,         false};
  r.tried[1] = {make_span_id(6),     2100, 8900,      "anthropic", "anthropic", "claude-sonnet-4-5",
                "api.anthropic.com", 443,  "success", 200,         false};
  return r;
}

}  // namespace

TEST_CASE("request trace: a SERVER span with GenAI attributes, a CLIENT child per attempt") {
  std::vector<SpanRecord> spans;
  append_request_spans(failover_request(), spans);
  REQUIRE(spans.size() == 3);
  const SpanRecord& server = spans[0];
  CHECK(server.kind == SpanKind::server);
  CHECK(server.name == "chat smart");
  CHECK(server.parent_span_id == make_span_id(4));
  CHECK(text(server, "gen_ai.operation.name") == "chat");
  CHECK(text(server, "gen_ai.request.model") == "smart");
  // The attempt that answered names the provider and the response model.
  CHECK(text(server, "gen_ai.provider.name") == "anthropic");
  CHECK(text(server, "gen_ai.response.model") == "claude-sonnet-4-5");
  CHECK(text(server, "gen_ai.usage.input_tokens") == "120");
  CHECK(text(server, "gen_ai.usage.output_tokens") == "30");
  CHECK(text(server, "gen_ai.usage.cache_read.input_tokens") == "100");
  CHECK(text(server, "gen_ai.usage.cache_creation.input_tokens") == "(absent)");
  CHECK(text(server, "switchyard.routed_model") == "claude");
  CHECK(text(server, "switchyard.attempts") == "2");
  CHECK(server.status == SpanStatus::unset);

  const SpanRecord& failed = spans[1];
  CHECK(failed.kind == SpanKind::client);
  CHECK(failed.trace_id == server.trace_id);
  CHECK(failed.parent_span_id == server.span_id);
  CHECK(failed.span_id == make_span_id(5));
  CHECK(failed.name == "chat gpt-4o");
  CHECK(failed.start_unix_nano == 1100);
  CHECK(failed.end_unix_nano == 2000);
  CHECK(text(failed, "gen_ai.provider.name") == "openai");
  CHECK(text(failed, "server.address") == "api.openai.com");
  CHECK(text(failed, "server.port") == "443");
  CHECK(text(failed, "http.response.status_code") == "503");
  CHECK(text(failed, "error.type") == "status_5xx");
  CHECK(failed.status == SpanStatus::error);
  CHECK(spans[2].status == SpanStatus::unset);
  CHECK(text(spans[2], "error.type") == "(absent)");
}

TEST_CASE("request trace: errors, a hedge's loser, and a request that reached no provider") {
  RequestTrace r = failover_request();
  r.status = 502;
  r.error = "upstream_unreachable";
  r.tried[1].outcome = "hedge_lost";
  r.tried[1].hedge = true;
  std::vector<SpanRecord> spans;
  append_request_spans(r, spans);
  CHECK(spans[0].status == SpanStatus::error);
  CHECK(spans[0].status_message == "upstream_unreachable");
  CHECK(text(spans[0], "error.type") == "upstream_unreachable");
  CHECK(text(spans[0], "gen_ai.response.model") == "(absent)");  // nothing answered
  CHECK(text(spans[0], "gen_ai.provider.name") == "anthropic");  // the last one tried
  CHECK(spans[2].status == SpanStatus::unset);                   // cancelled, not failed
  CHECK(text(spans[2], "switchyard.hedge") == "true");

  // A 4xx is the client's error: recorded, but the span is not an error.
  RequestTrace refused;
  refused.trace_id = make_trace_id(7, 8);
  refused.span_id = make_span_id(9);
  refused.operation = "embeddings";
  refused.status = 404;
  refused.error = "model_not_found";
  spans.clear();
  append_request_spans(refused, spans);
  REQUIRE(spans.size() == 1);
  CHECK_FALSE(spans[0].parent_span_id);
  CHECK(spans[0].name == "embeddings");
  CHECK(spans[0].status == SpanStatus::unset);
  CHECK(text(spans[0], "switchyard.error") == "model_not_found");
  CHECK(text(spans[0], "error.type") == "(absent)");
  CHECK(text(spans[0], "gen_ai.provider.name") == "(absent)");
  CHECK(text(spans[0], "gen_ai.usage.input_tokens") == "(absent)");
}

TEST_CASE("request trace: GenAI provider names") {
  CHECK(genai_provider_name("openai", "x") == "openai");
  CHECK(genai_provider_name("azure", "x") == "azure.ai.openai");
  CHECK(genai_provider_name("gemini", "x") == "gcp.gemini");
  CHECK(genai_provider_name("anthropic", "x") == "anthropic");
  CHECK(genai_provider_name("openai_compatible", "vllm-gpu") == "vllm-gpu");
}
