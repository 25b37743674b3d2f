#pragma once
// OTLP/HTTP JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): the body of
// a trace export, an ExportTraceServiceRequest, for the exporter thread to POST to
// `/v1/traces` with "Content-Type: application/json". Pure: the spans, their times and the
// resource come from the caller; nothing is read from a clock or sent anywhere here.
//
// The proto3 JSON mapping with OTLP's deviations: lowerCamelCase keys; trace and span ids as
// lower-case hex, not base64; enums (kind, status.code) as integers; 64-bit integers
// (startTimeUnixNano, endTimeUnixNano, intValue) as decimal strings. Text is escaped for JSON
// and ill-formed UTF-8 in it is replaced (U+FFFD per maximal subpart, as `valid_utf8`), so the
// body is valid JSON whatever bytes a model name or an upstream's message holds.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/trace_context.hpp"

namespace switchyard::core {

struct SpanAttribute {
  std::string key;
  // A double that is not finite (NaN, ±infinity) is written as the string attribute "NaN",
  // "Infinity" or "-Infinity": proto3 JSON allows those strings for a double, but receivers
  // that read doubleValue as a JSON number refuse them, and a refused body loses the whole
  // batch; a string is accepted everywhere and still shows that the value was there.
  std::variant<std::string, std::int64_t, double, bool> value;
};

enum class SpanKind { internal = 1, server = 2, client = 3 };
enum class SpanStatus { unset = 0, ok = 1, error = 2 };

struct SpanRecord {
  TraceId trace_id{};
  SpanId span_id{};
  std::optional<SpanId> parent_span_id;  // absent: a root span
  std::string trace_state;               // W3C tracestate passed on, may be empty
  std::string name;
  SpanKind kind = SpanKind::internal;
  // fixed64 in OTLP: a negative time (a caller's bug) is written as 0, "unknown", rather than
  // as a value that would get the whole batch refused.
  std::int64_t start_unix_nano = 0;
  std::int64_t end_unix_nano = 0;
  std::vector<SpanAttribute> attributes;  // written in order; keys are not deduplicated
  SpanStatus status = SpanStatus::unset;
  std::string status_message;  // only with SpanStatus::error
};

struct TraceResource {
  std::string service_name;     // resource attribute service.name ("unknown_service" if empty)
  std::string service_version;  // service.version, omitted when empty
  // More resource attributes; one named service.name or service.version (when that is given)
  // is left out, so that each key is there once.
  std::vector<SpanAttribute> attributes;
};

// The body of one OTLP/HTTP JSON export (an ExportTraceServiceRequest): one resourceSpans
// entry with the resource, one scopeSpans entry with the scope (name, version) and every span.
// With no spans it is `{"resourceSpans":[]}`: OTLP asks senders not to make empty envelopes
// (a resource and scope with no spans), and an exporter has no reason to send one anyway.
//
// Per span: traceId, spanId, traceState (when not empty), parentSpanId (only for a child),
// name, kind, startTimeUnixNano, endTimeUnixNano, attributes (when there are any) and
// status {code, message (only for an error with a message)}. The output is reserved once
// from the spans' sizes, for batches of thousands on the exporter thread.
std::string encode_otlp_traces(const TraceResource& resource, std::string_view scope_name,
                               std::string_view scope_version, std::span<const SpanRecord> spans);

}  // namespace switchyard::core
