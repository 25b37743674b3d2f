// W3C traceparent: what is accepted, what starts a new trace, and what is sent on.
#include <catch2/catch.hpp>
#include <string>

#include "core/routing.hpp"
#include "core/trace_context.hpp"

using namespace switchyard::core;

namespace {
constexpr std::string_view kExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}

TEST_CASE("traceparent: the specification's example is read and written back unchanged") {
  const auto context = parse_traceparent(kExample);
  REQUIRE(context);
  CHECK(to_hex(context->trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(to_hex(context->span_id) == "00f067aa0ba902b7");
  CHECK(context->sampled());
  CHECK(format_traceparent(*context) == kExample);
  const auto unsampled =
      parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  REQUIRE(unsampled);
  CHECK_FALSE(unsampled->sampled());
}

TEST_CASE("traceparent: anything but a valid header starts a new trace") {
  const std::string good(kExample);
  const char* bad[] = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",     // short
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // version 00 with more
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",    // flags not hex
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",   // later version, no '-'
  };
  for (const char* header : bad) {
    INFO(header);
    CHECK_FALSE(parse_traceparent(header));
  }
  // A later version may carry more after a '-': its first four fields are read.
  const auto later =
      parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what");
  REQUIRE(later);
  CHECK(format_traceparent(*later) == good);  // sent on as version 00
}

TEST_CASE("traceparent: only the sampled flag is passed on") {
  const auto context = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
  REQUIRE(context);
  CHECK(format_traceparent(*context).substr(53) == "01");
}

TEST_CASE("tracestate: passed on when within the specification's bounds") {
  CHECK(usable_tracestate(""));
  CHECK(usable_tracestate("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
  CHECK_FALSE(usable_tracestate(std::string(513, 'a')));
  CHECK(usable_tracestate(std::string(512, 'a')));
  std::string many;
  for (int i = 0; i < 33; ++i) many += (i ? ",k" : "k") + std::to_string(i) + "=v";
  CHECK_FALSE(usable_tracestate(many));
  CHECK_FALSE(usable_tracestate("a=b\r\nx-injected: 1"));
}

TEST_CASE("trace ids: made from the generator, never all zero, and in hex") {
  CHECK(to_hex(make_trace_id(0, 0)) == "00000000000000000000000000000001");
  CHECK(to_hex(make_span_id(0)) == "0000000000000001");
  CHECK(to_hex(make_trace_id(0x0123456789abcdefULL, 0xfedcba9876543210ULL)) ==
        "0123456789abcdeffedcba9876543210");
  CHECK(to_hex(make_span_id(0x00f067aa0ba902b7ULL)) == "00f067aa0ba902b7");
  TraceContext made{make_trace_id(1, 2), make_span_id(3), 1};
  CHECK(parse_traceparent(format_traceparent(made)).has_value());
}

TEST_CASE("sampling by trace id: the same decision for the same trace, at the asked ratio") {
  Rng rng(42);
  int kept = 0;
  constexpr int kTraces = 100000;
  for (int i = 0; i < kTraces; ++i) {
    const TraceId id = make_trace_id(rng.next_u64(), rng.next_u64());
    const bool keep = sample_trace(id, 0.01);
    CHECK(keep == sample_trace(id, 0.01));
    if (keep) ++kept;
    CHECK(sample_trace(id, 1.0));
    CHECK_FALSE(sample_trace(id, 0.0));
    // A trace kept at a ratio is kept at every higher one.
    if (keep) CHECK(sample_trace(id, 0.5));
  }
  // 1% of 100,000: 1,000 expected, the binomial's standard deviation about 31.
  CHECK(kept > 850);
  CHECK(kept < 1150);
}
