#include "core/trace_context.hpp"

#include <algorithm>
#include <cmath>

namespace switchyard::core {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// A lower-case hex digit's value, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

template <std::size_t N>
bool read_hex(std::string_view text, std::array<std::uint8_t, N>& out) {
  if (text.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& id) {
  return std::all_of(id.begin(), id.end(), [](std::uint8_t b) { return b == 0; });
}

template <std::size_t N>
char* put_hex(char* out, const std::array<std::uint8_t, N>& id) {
  for (const std::uint8_t b : id) {
    *out++ = kHex[b >> 4];
    *out++ = kHex[b & 15];
  }
  return out;
}

void put_u64(std::uint8_t* out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<std::uint8_t>(v & 0xff);
    v >>= 8;
  }
}

}  // namespace

std::optional<TraceContext> parse_traceparent(std::string_view header) {
  constexpr std::size_t kLength = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
  if (header.size() < kLength) return std::nullopt;
  std::array<std::uint8_t, 1> version{};
  if (!read_hex(header.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  // Version 00 has nothing after its flags; a later version may go on after a '-'.
  if (version[0] == 0 ? header.size() != kLength
                      : header.size() > kLength && header[kLength] != '-')
    return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  TraceContext context;
  std::array<std::uint8_t, 1> flags{};
  if (!read_hex(header.substr(3, 32), context.trace_id) ||
      !read_hex(header.substr(36, 16), context.span_id) || !read_hex(header.substr(53, 2), flags))
    return std::nullopt;
  if (all_zero(context.trace_id) || all_zero(context.span_id)) return std::nullopt;
  context.flags = flags[0];
  return context;
}

char* write_traceparent(char* out, const TraceContext& context) {
  *out++ = '0';
  *out++ = '0';
  *out++ = '-';
  out = put_hex(out, context.trace_id);
  *out++ = '-';
  out = put_hex(out, context.span_id);
  *out++ = '-';
  // Only the sampled flag is defined for version 00; the others are not passed on.
  return put_hex(out, std::array<std::uint8_t, 1>{static_cast<std::uint8_t>(context.flags & 0x01)});
}

std::string format_traceparent(const TraceContext& context) {
  std::string text(55, '\0');
  write_traceparent(text.data(), context);
  return text;
}

bool usable_tracestate(std::string_view header) {
  if (header.size() > 512) return false;
  std::size_t members = 1;
  for (const char c : header) {
    if (c < 0x20 || c > 0x7e) return false;
    if (c == ',') ++members;
  }
  return members <= 32;
}

TraceId make_trace_id(std::uint64_t high, std::uint64_t low) {
  TraceId id{};
  put_u64(id.data(), high);
  put_u64(id.data() + 8, low == 0 && high == 0 ? 1 : low);
  return id;
}

SpanId make_span_id(std::uint64_t random) {
  SpanId id{};
  put_u64(id.data(), random == 0 ? 1 : random);
  return id;
}

std::string to_hex(const TraceId& id) {
  std::string text(32, '\0');
  put_hex(text.data(), id);
  return text;
}

std::string to_hex(const SpanId& id) {
  std::string text(16, '\0');
  put_hex(text.data(), id);
  return text;
}

bool sample_trace(const TraceId& id, double ratio) {
  if (!(ratio > 0)) return false;
  if (ratio >= 1) return true;
  std::uint64_t low = 0;
  for (std::size_t i = 8; i < 16; ++i) low = low << 8 | id[i];
  // Compared in 63 bits, as OpenTelemetry does, so that the bound is exact in a double.
  const auto bound = static_cast<std::uint64_t>(std::ldexp(ratio, 63));
  return (low >> 1) < bound;
}

}  // namespace switchyard::core
