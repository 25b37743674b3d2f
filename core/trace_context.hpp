#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` a client sends,
// read strictly, and the one the gateway sends on, so that a client's trace continues through
// the gateway to the provider. Pure: ids come from the caller's random source, nothing is
// read from a clock or a socket here.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard::core {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

struct TraceContext {
  TraceId trace_id{};
  SpanId span_id{};  // the caller's span: the parent of the spans made from it
  std::uint8_t flags = 0;
  bool sampled() const { return (flags & 0x01) != 0; }
};

// The header's context, or nothing when it is not one (then a new trace starts, as the
// specification asks). Version 00 is exactly 55 characters; a later version may carry more
// after a '-', which is ignored; version ff, upper-case hex and all-zero ids are invalid.
std::optional<TraceContext> parse_traceparent(std::string_view header);

// "00-<trace id>-<span id>-<flags>", 55 characters.
std::string format_traceparent(const TraceContext& context);
// The same into `out` (room for 55 bytes); returns the end.
char* write_traceparent(char* out, const TraceContext& context);

// Whether a `tracestate` may be passed on as it came: at most 512 characters (the limit the
// specification lets a vendor keep), printable ASCII, and at most 32 list members.
bool usable_tracestate(std::string_view header);

// A trace or span id from two 64-bit random draws (the caller's generator); never all zero,
// which would be invalid.
TraceId make_trace_id(std::uint64_t high, std::uint64_t low);
SpanId make_span_id(std::uint64_t random);

// Lower-case hex of an id, as OTLP/JSON and the access log write it.
std::string to_hex(const TraceId& id);
std::string to_hex(const SpanId& id);

// Head sampling by trace id: the same trace is kept or not wherever it is decided, as
// OpenTelemetry's TraceIdRatioBased sampler does (its last 8 bytes against ratio * 2^64).
bool sample_trace(const TraceId& id, double ratio);

}  // namespace switchyard::core
