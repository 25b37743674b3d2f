#pragma once
// What a traced request leaves for the exporter, and the spans made of it: one SERVER span for
// the request and a CLIENT span, its child, per upstream attempt. Attributes follow the
// OpenTelemetry GenAI semantic conventions (gen_ai.*) and HTTP ones, plus the gateway's own
// (switchyard.*). Never the prompt, the completion or a key: ids, names, counts and timings.
//
// A RequestTrace is filled on the request path into a slot of the worker's export queue, so
// its strings keep their room from one request to the next; the spans are made on the
// exporter thread. Pure: times are given, in Unix nanoseconds.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/otlp_json.hpp"
#include "core/trace_context.hpp"

namespace switchyard::core {

struct AttemptTrace {
  SpanId span_id{};
  std::int64_t start_unix_nano = 0;
  std::int64_t end_unix_nano = 0;
  std::string provider;       // the configured provider's name
  std::string provider_type;  // openai, openai_compatible, azure, anthropic, gemini, mock
  std::string model;          // the model asked of the provider
  std::string server_address;
  int server_port = 0;
  std::string_view outcome;  // as switchyard_upstream_attempts_total's label (static text)
  int status = 0;            // the provider's HTTP status, 0 when none came
  bool hedge = false;        // the second attempt of a hedged race
};

struct RequestTrace {
  TraceId trace_id{};
  SpanId span_id{};
  std::optional<SpanId> parent_span_id;  // the client's span, from its traceparent
  std::string trace_state;
  std::int64_t start_unix_nano = 0;
  std::int64_t end_unix_nano = 0;
  std::string_view operation;  // gen_ai.operation.name: chat, embeddings, count_tokens
  std::string_view protocol;   // the front door: openai_chat, openai_responses, anthropic_messages
  std::string method;
  std::string path;
  int status = 0;
  std::string request_id;
  std::string request_model;  // as the client named it
  std::string routed_model;   // the model group that served (a router's or fallback's choice)
  std::string fallback_from;
  bool stream = false;
  bool has_usage = false;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t cache_creation_input_tokens = 0;
  double cost_usd = 0;
  double overhead_ms = 0;
  std::optional<double> time_to_first_token_ms;
  int attempts = 0;
  std::string error;  // the request's short reason code when it failed
  std::string key_alias;
  std::string team;
  static constexpr std::size_t kMaxAttempts = 8;
  std::array<AttemptTrace, kMaxAttempts> tried;
  std::size_t tried_count = 0;
};

// gen_ai.provider.name for a provider type: the convention's names where it has one
// (openai, anthropic, gcp.gemini, azure.ai.openai), else the configured provider's name.
std::string_view genai_provider_name(std::string_view provider_type, std::string_view provider);

// Appends the request's SERVER span, then one CLIENT span per recorded attempt. The SERVER span
// is an error for a 5xx answer and for a client that left (499); an attempt's span is an error
// unless it succeeded (a hedge's loser is not an error: it was cancelled).
void append_request_spans(const RequestTrace& request, std::vector<SpanRecord>& out);

}  // namespace switchyard::core
