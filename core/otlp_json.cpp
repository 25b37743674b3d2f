#include "core/otlp_json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "core/chat_request.hpp"
#include "core/decimal_text.hpp"
#include "core/utf8.hpp"

namespace switchyard::core {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// A JSON string literal of `text` (core::append_json_string escapes it); ill-formed UTF-8 is
// repaired first (valid_utf8 allocates only for such text), so the body always parses.
void append_string(std::string& out, std::string_view text) {
  if (is_valid_utf8(text))
    append_json_string(out, text);
  else
    append_json_string(out, valid_utf8(text));
}

template <std::size_t N>
void append_hex(std::string& out, const std::array<std::uint8_t, N>& id) {
  std::array<char, 2 * N + 2> text{};
  char* p = text.data();
  *p++ = '"';
  for (const std::uint8_t b : id) {
    *p++ = kHex[b >> 4];
    *p++ = kHex[b & 15];
  }
  *p = '"';
  out.append(text.data(), text.size());
}

void append_integer(std::string& out, std::int64_t v) {
  std::array<char, 20> text{};
  out.append(text.data(), write_decimal(text.data(), v));
}

// A 64-bit integer as proto3 JSON writes it: a decimal string.
void append_quoted_integer(std::string& out, std::int64_t v) {
  std::array<char, 22> text{};
  text[0] = '"';
  char* end = write_decimal(text.data() + 1, v);
  *end++ = '"';
  out.append(text.data(), end);
}

// A time, fixed64 in OTLP: never negative.
void append_time(std::string& out, std::int64_t unix_nano) {
  append_quoted_integer(out, std::max<std::int64_t>(unix_nano, 0));
}

void append_value(std::string& out, const std::string& v) {
  out.append("{\"stringValue\":");
  append_string(out, v);
  out.push_back('}');
}

void append_value(std::string& out, std::int64_t v) {
  out.append("{\"intValue\":");
  append_quoted_integer(out, v);
  out.push_back('}');
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out.append(R"({"stringValue":"NaN"})");
    return;
  }
  if (std::isinf(v)) {
    out.append(v > 0 ? R"({"stringValue":"Infinity"})" : R"({"stringValue":"-Infinity"})");
    return;
  }
  // Shortest text that reads back as the same double; always a valid JSON number for a
  // finite value ("1.5", "-0", "1e+300", "5e-324").
  std::array<char, 32> text{};
  const auto written = std::to_chars(text.data(), text.data() + text.size(), v);
  out.append("{\"doubleValue\":");
  out.append(text.data(), written.ptr);
  out.push_back('}');
}

void append_value(std::string& out, bool v) {
  out.append(v ? R"({"boolValue":true})" : R"({"boolValue":false})");
}

void append_attribute(std::string& out, const SpanAttribute& attribute) {
  out.append("{\"key\":");
  append_string(out, attribute.key);
  out.append(",\"value\":");
  std::visit([&out](const auto& v) { append_value(out, v); }, attribute.value);
  out.push_back('}');
}

void append_string_attribute(std::string& out, std::string_view key, std::string_view value) {
  out.append("{\"key\":");
  append_string(out, key);
  out.append(R"(,"value":{"stringValue":)");
  append_string(out, value);
  out.append("}}");
}

// Room for the attributes' text before escapes: the key, a string value, and the JSON around
// them (`{"key":"","value":{"stringValue":""}}` and a comma, or a number's digits).
std::size_t attributes_size(const std::vector<SpanAttribute>& attributes) {
  std::size_t size = 0;
  for (const SpanAttribute& a : attributes) {
    size += a.key.size() + 64;
    if (const auto* s = std::get_if<std::string>(&a.value)) size += s->size();
  }
  return size;
}

std::size_t estimated_size(const TraceResource& resource, std::string_view scope_name,
                           std::string_view scope_version, std::span<const SpanRecord> spans) {
  // The envelope, the resource and the scope.
  std::size_t size = 256 + resource.service_name.size() + resource.service_version.size() +
                     attributes_size(resource.attributes) + scope_name.size() +
                     scope_version.size();
  // Per span: the keys, ids, times, kind and status (under 320 bytes), and its text.
  for (const SpanRecord& span : spans) {
    size += 320 + span.name.size() + span.trace_state.size() + span.status_message.size() +
            attributes_size(span.attributes);
  }
  return size + size / 16;  // a little for escapes
}

void append_resource(std::string& out, const TraceResource& resource) {
  out.append(R"({"attributes":[)");
  // OpenTelemetry's resource conventions name a service that did not say as "unknown_service".
  append_string_attribute(
      out, "service.name",
      resource.service_name.empty() ? std::string_view("unknown_service") : resource.service_name);
  const bool has_version = !resource.service_version.empty();
  if (has_version) {
    out.push_back(',');
    append_string_attribute(out, "service.version", resource.service_version);
  }
  for (const SpanAttribute& attribute : resource.attributes) {
    if (attribute.key == "service.name" || (has_version && attribute.key == "service.version"))
      continue;  // given by the fields above: a key is there once
    out.push_back(',');
    append_attribute(out, attribute);
  }
  out.append("]}");
}

void append_span(std::string& out, const SpanRecord& span) {
  out.append(R"({"traceId":)");
  append_hex(out, span.trace_id);
  out.append(R"(,"spanId":)");
  append_hex(out, span.span_id);
  if (!span.trace_state.empty()) {
    out.append(R"(,"traceState":)");
    append_string(out, span.trace_state);
  }
  if (span.parent_span_id) {
    out.append(R"(,"parentSpanId":)");
    append_hex(out, *span.parent_span_id);
  }
  out.append(R"(,"name":)");
  append_string(out, span.name);
  out.append(R"(,"kind":)");
  append_integer(out, static_cast<std::int64_t>(span.kind));
  out.append(R"(,"startTimeUnixNano":)");
  append_time(out, span.start_unix_nano);
  out.append(R"(,"endTimeUnixNano":)");
  append_time(out, span.end_unix_nano);
  if (!span.attributes.empty()) {
    out.append(R"(,"attributes":[)");
    bool first = true;
    for (const SpanAttribute& attribute : span.attributes) {
      if (!first) out.push_back(',');
      first = false;
      append_attribute(out, attribute);
    }
    out.push_back(']');
  }
  out.append(R"(,"status":{"code":)");
  append_integer(out, static_cast<std::int64_t>(span.status));
  // The API keeps a description only for an error; OTLP carries it in status.message.
  if (span.status == SpanStatus::error && !span.status_message.empty()) {
    out.append(R"(,"message":)");
    append_string(out, span.status_message);
  }
  out.append("}}");
}

}  // namespace

std::string encode_otlp_traces(const TraceResource& resource, std::string_view scope_name,
                               std::string_view scope_version, std::span<const SpanRecord> spans) {
  if (spans.empty()) return R"({"resourceSpans":[]})";
  std::string out;
  out.reserve(estimated_size(resource, scope_name, scope_version, spans));
  out.append(R"({"resourceSpans":[{"resource":)");
  append_resource(out, resource);
  out.append(R"(,"scopeSpans":[{"scope":{"name":)");
  append_string(out, scope_name);
  if (!scope_version.empty()) {
    out.append(R"(,"version":)");
    append_string(out, scope_version);
  }
  out.append(R"(},"spans":[)");
  bool first = true;
  for (const SpanRecord& span : spans) {
    if (!first) out.push_back(',');
    first = false;
    append_span(out, span);
  }
  out.append("]}]}]}");
  return out;
}

}  // namespace switchyard::core
