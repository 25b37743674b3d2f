// OTLP/HTTP JSON trace export: the document an OpenTelemetry collector reads, parsed back with
// Boost.JSON and checked field by field against the OTLP JSON mapping.
#include <algorithm>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/otlp_json.hpp"
#include "core/utf8.hpp"

using namespace switchyard::core;
namespace json = boost::json;

namespace {

constexpr std::string_view kTraceHex = "4bf92f3577b34da6a3ce929d0e0e4736";

TraceId example_trace_id() { return make_trace_id(0x4bf92f3577b34da6ULL, 0xa3ce929d0e0e4736ULL); }

SpanRecord make_span(std::string name, std::uint64_t span_random) {
  SpanRecord span;
  span.trace_id = example_trace_id();
  span.span_id = make_span_id(span_random);
  span.name = std::move(name);
  span.start_unix_nano = 1'700'000'000'123'456'789;
  span.end_unix_nano = 1'700'000'000'987'654'321;
  return span;
}

TraceResource make_resource() {
  TraceResource resource;
  resource.service_name = "switchyard";
  resource.service_version = "0.4.0";
  return resource;
}

std::string encode(const std::vector<SpanRecord>& spans,
                   const TraceResource& resource = make_resource(),
                   std::string_view scope_name = "switchyard.proxy",
                   std::string_view scope_version = "0.4.0") {
  return encode_otlp_traces(resource, scope_name, scope_version, spans);
}

// Parses strictly (Boost.JSON refuses ill-formed UTF-8 and raw control characters in strings),
// so a test fails on any body a collector would refuse.
json::object parse(const std::string& text) {
  INFO(text);
  REQUIRE(is_valid_utf8(text));
  json::error_code ec;
  json::value doc = json::parse(text, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(doc.is_object());
  return doc.as_object();
}

const json::object& scope_spans(const json::object& doc) {
  const json::array& resource_spans = doc.at("resourceSpans").as_array();
  REQUIRE(resource_spans.size() == 1);
  const json::array& scopes = resource_spans[0].at("scopeSpans").as_array();
  REQUIRE(scopes.size() == 1);
  return scopes[0].as_object();
}

const json::array& spans_of(const json::object& doc) {
  return scope_spans(doc).at("spans").as_array();
}

const json::object& resource_of(const json::object& doc) {
  return doc.at("resourceSpans").as_array()[0].at("resource").as_object();
}

// The value object of the attribute named `key`, which must be there exactly once.
const json::object& attribute(const json::object& holder, std::string_view key) {
  const json::object* found = nullptr;
  for (const json::value& kv : holder.at("attributes").as_array()) {
    if (kv.at("key").as_string() != key) continue;
    INFO(key);
    REQUIRE(found == nullptr);
    found = &kv.at("value").as_object();
  }
  INFO(key);
  REQUIRE(found != nullptr);
  return *found;
}
const json::object& attribute(const json::value& holder, std::string_view key) {
  return attribute(holder.as_object(), key);
}

std::string text_of(const json::value& v) { return std::string(v.as_string()); }

// The double as written in the text, read exactly (Boost.JSON 1.81 may be off by an ulp).
double written_double(const std::string& text, std::string_view key) {
  const std::string marker = "{\"key\":\"" + std::string(key) + "\",\"value\":{\"doubleValue\":";
  const std::size_t at = text.find(marker);
  INFO(key);
  REQUIRE(at != std::string::npos);
  const char* first = text.data() + at + marker.size();
  double v = 0;
  const auto parsed = std::from_chars(first, text.data() + text.size(), v);
  REQUIRE(parsed.ec == std::errc());
  REQUIRE(*parsed.ptr == '}');
  return v;
}

}  // namespace

TEST_CASE("otlp json: one resource, one scope, and every span in order") {
  const std::string text =
      encode({make_span("first", 1), make_span("second", 2), make_span("third", 3)});
  const json::object doc = parse(text);
  const json::object& scope = scope_spans(doc);
  CHECK(text_of(scope.at("scope").at("name")) == "switchyard.proxy");
  CHECK(text_of(scope.at("scope").at("version")) == "0.4.0");
  const json::array& spans = scope.at("spans").as_array();
  REQUIRE(spans.size() == 3);
  CHECK(text_of(spans[0].at("name")) == "first");
  CHECK(text_of(spans[1].at("name")) == "second");
  CHECK(text_of(spans[2].at("name")) == "third");
}

TEST_CASE("otlp json: ids are lower-case hex, and only a child has a parentSpanId") {
  SpanRecord root = make_span("root", 0x00f067aa0ba902b7ULL);
  SpanRecord child = make_span("child", 0xABCDEF0123456789ULL);
  child.parent_span_id = root.span_id;
  const json::object doc = parse(encode({root, child}));
  const json::array& spans = spans_of(doc);
  REQUIRE(spans.size() == 2);

  const json::object& r = spans[0].as_object();
  CHECK(text_of(r.at("traceId")) == kTraceHex);
  CHECK(text_of(r.at("spanId")) == "00f067aa0ba902b7");
  CHECK_FALSE(r.contains("parentSpanId"));

  const json::object& c = spans[1].as_object();
  CHECK(text_of(c.at("traceId")) == kTraceHex);
  CHECK(text_of(c.at("spanId")) == "abcdef0123456789");  // lower case, not base64
  CHECK(text_of(c.at("parentSpanId")) == "00f067aa0ba902b7");
}

TEST_CASE("otlp json: traceState is passed on when there is one") {
  SpanRecord with = make_span("with", 1);
  with.trace_state = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
  const SpanRecord without = make_span("without", 2);
  const json::object doc = parse(encode({with, without}));
  const json::array& spans = spans_of(doc);
  CHECK(text_of(spans[0].at("traceState")) == with.trace_state);
  CHECK_FALSE(spans[1].as_object().contains("traceState"));
}

TEST_CASE("otlp json: kind and status code are integers, times are decimal strings") {
  SpanRecord server = make_span("server", 1);
  server.kind = SpanKind::server;
  SpanRecord client = make_span("client", 2);
  client.kind = SpanKind::client;
  client.start_unix_nano = std::numeric_limits<std::int64_t>::max();
  client.end_unix_nano = -5;  // a caller's bug: written as 0, never as a negative fixed64
  const SpanRecord internal = make_span("internal", 3);
  const json::object doc = parse(encode({server, client, internal}));
  const json::array& spans = spans_of(doc);

  CHECK(spans[0].at("kind").as_int64() == 2);
  CHECK(spans[1].at("kind").as_int64() == 3);
  CHECK(spans[2].at("kind").as_int64() == 1);
  CHECK(text_of(spans[0].at("startTimeUnixNano")) == "1700000000123456789");
  CHECK(text_of(spans[0].at("endTimeUnixNano")) == "1700000000987654321");
  CHECK(text_of(spans[1].at("startTimeUnixNano")) == "9223372036854775807");
  CHECK(text_of(spans[1].at("endTimeUnixNano")) == "0");
  CHECK(spans[2].at("status").at("code").as_int64() == 0);
}

TEST_CASE("otlp json: every attribute value kind, 64-bit integers as strings") {
  SpanRecord span = make_span("attrs", 1);
  span.attributes = {
      {"gen_ai.request.model", std::string("gpt-4o")},
      {"empty", std::string()},
      {"tokens", std::int64_t{1234}},
      {"negative", std::int64_t{-42}},
      {"min", std::numeric_limits<std::int64_t>::min()},
      {"max", std::numeric_limits<std::int64_t>::max()},
      {"cost", 1.5},
      {"small", 0.1},
      {"whole", 2.0},
      {"huge", 1e300},
      {"tiny", 5e-324},
      {"stream", true},
      {"cached", false},
  };
  const std::string text = encode({span});
  const json::object doc = parse(text);
  const json::array& spans = spans_of(doc);
  const json::value& s = spans[0];

  CHECK(text_of(attribute(s, "gen_ai.request.model").at("stringValue")) == "gpt-4o");
  CHECK(text_of(attribute(s, "empty").at("stringValue")).empty());
  CHECK(text_of(attribute(s, "tokens").at("intValue")) == "1234");
  CHECK(text_of(attribute(s, "negative").at("intValue")) == "-42");
  CHECK(text_of(attribute(s, "min").at("intValue")) == "-9223372036854775808");
  CHECK(text_of(attribute(s, "max").at("intValue")) == "9223372036854775807");
  CHECK(attribute(s, "cost").at("doubleValue").to_number<double>() == 1.5);
  CHECK(attribute(s, "whole").at("doubleValue").to_number<double>() == 2.0);
  CHECK(attribute(s, "stream").at("boolValue").as_bool());
  CHECK_FALSE(attribute(s, "cached").at("boolValue").as_bool());
  // Doubles are written to read back exactly.
  CHECK(written_double(text, "small") == 0.1);
  CHECK(written_double(text, "huge") == 1e300);
  CHECK(written_double(text, "tiny") == 5e-324);
  // Each value is one member of AnyValue, nothing more.
  for (const json::value& kv : s.at("attributes").as_array()) {
    INFO(kv);
    CHECK(kv.as_object().size() == 2);
    CHECK(kv.at("value").as_object().size() == 1);
  }
}

TEST_CASE("otlp json: a double that is not finite becomes a string attribute") {
  SpanRecord span = make_span("nonfinite", 1);
  span.attributes = {
      {"nan", std::numeric_limits<double>::quiet_NaN()},
      {"inf", std::numeric_limits<double>::infinity()},
      {"ninf", -std::numeric_limits<double>::infinity()},
  };
  const json::object doc = parse(encode({span}));
  const json::array& spans = spans_of(doc);
  CHECK(text_of(attribute(spans[0], "nan").at("stringValue")) == "NaN");
  CHECK(text_of(attribute(spans[0], "inf").at("stringValue")) == "Infinity");
  CHECK(text_of(attribute(spans[0], "ninf").at("stringValue")) == "-Infinity");
  CHECK_FALSE(attribute(spans[0], "nan").contains("doubleValue"));
}

TEST_CASE("otlp json: a span without attributes has none written") {
  const json::object doc = parse(encode({make_span("bare", 1)}));
  const json::array& spans = spans_of(doc);
  CHECK_FALSE(spans[0].as_object().contains("attributes"));
}

TEST_CASE("otlp json: quotes, backslashes and control characters are escaped") {
  const std::string nasty = std::string("say \"hi\"\\ \n\r\t\b\f \x01\x1f\x7f end") + '\0' + "!";
  SpanRecord span = make_span(nasty, 1);
  span.attributes = {{nasty, nasty}};
  span.status = SpanStatus::error;
  span.status_message = nasty;
  TraceResource resource = make_resource();
  resource.service_name = nasty;
  const std::string text = encode({span}, resource, nasty, nasty);

  const json::object doc = parse(text);
  const json::value& s = spans_of(doc)[0];
  CHECK(text_of(s.at("name")) == nasty);
  CHECK(text_of(attribute(s, nasty).at("stringValue")) == nasty);
  CHECK(text_of(s.at("status").at("message")) == nasty);
  CHECK(text_of(attribute(resource_of(doc), "service.name").at("stringValue")) == nasty);
  CHECK(text_of(scope_spans(doc).at("scope").at("name")) == nasty);
  CHECK(text_of(scope_spans(doc).at("scope").at("version")) == nasty);
  // JSON's short escapes where it has them, \u00XX for the other control characters.
  CHECK(text.find(R"(say \"hi\"\\ \n\r\t\b\f \u0001\u001f)") != std::string::npos);
  CHECK(text.find(R"(end\u0000!)") != std::string::npos);
  CHECK(std::none_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20; }));
}

TEST_CASE("otlp json: UTF-8 is kept, ill-formed UTF-8 is replaced and still valid JSON") {
  const std::string good = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // é € 😀
  SpanRecord span = make_span(good, 1);
  const std::string bad[] = {
      "a\xFF!",                   // never a lead byte
      "cut \xE2\x82",             // a sequence cut short, at the end
      "cut \xE2\x82 mid",         // ... and before more text
      "overlong \xC0\xAF",        // overlong '/'
      "surrogate \xED\xA0\x80",   // U+D800
      "past \xF4\x90\x80\x80",    // past U+10FFFF
      "\x80\x80\"quote after\"",  // stray continuations, then text that needs escaping
  };
  for (const std::string& b : bad) span.attributes.push_back({b, b});
  span.status = SpanStatus::error;
  span.status_message = "upstream said \xC3(";
  const std::string text = encode({span});
  const json::object doc = parse(text);
  const json::value& s = spans_of(doc)[0];

  CHECK(text_of(s.at("name")) == good);
  CHECK(text.find(good) != std::string::npos);  // copied, not escaped
  for (const std::string& b : bad) {
    const std::string repaired = valid_utf8(b);
    INFO(repaired);
    REQUIRE(repaired != b);
    CHECK(text_of(attribute(s, repaired).at("stringValue")) == repaired);
  }
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(text_of(attribute(s, "a" + fffd + "!").at("stringValue")) == "a" + fffd + "!");
  CHECK(text_of(attribute(s, "cut " + fffd + " mid").at("stringValue")) == "cut " + fffd + " mid");
  CHECK(text_of(attribute(s, "overlong " + fffd + fffd).at("stringValue")) ==
        "overlong " + fffd + fffd);
  CHECK(text_of(attribute(s, "surrogate " + fffd + fffd + fffd).at("stringValue")) ==
        "surrogate " + fffd + fffd + fffd);
  CHECK(text_of(s.at("status").at("message")) == "upstream said \xEF\xBF\xBD(");
}

TEST_CASE("otlp json: status code, and a message only with an error") {
  SpanRecord error = make_span("error", 1);
  error.status = SpanStatus::error;
  error.status_message = "upstream timed out";
  SpanRecord ok = make_span("ok", 2);
  ok.status = SpanStatus::ok;
  ok.status_message = "ignored";
  SpanRecord silent_error = make_span("silent", 3);
  silent_error.status = SpanStatus::error;
  const SpanRecord unset = make_span("unset", 4);
  const json::object doc = parse(encode({error, ok, silent_error, unset}));
  const json::array& spans = spans_of(doc);

  CHECK(spans[0].at("status").at("code").as_int64() == 2);
  CHECK(text_of(spans[0].at("status").at("message")) == "upstream timed out");
  CHECK(spans[1].at("status").at("code").as_int64() == 1);
  CHECK_FALSE(spans[1].at("status").as_object().contains("message"));
  CHECK(spans[2].at("status").at("code").as_int64() == 2);
  CHECK_FALSE(spans[2].at("status").as_object().contains("message"));
  CHECK(spans[3].at("status").at("code").as_int64() == 0);
  CHECK_FALSE(spans[3].at("status").as_object().contains("message"));
}

TEST_CASE("otlp json: the resource names the service, each key once") {
  TraceResource resource = make_resource();
  resource.attributes = {
      {"deployment.environment.name", std::string("prod")},
      {"service.name", std::string("shadowed")},  // the field wins
      {"service.version", std::string("0.0.1")},
      {"service.instance.id", std::string("worker-7")},
      {"host.cpus", std::int64_t{2}},
  };
  const json::object doc = parse(encode({make_span("s", 1)}, resource));
  const json::object& r = resource_of(doc);
  CHECK(text_of(attribute(r, "service.name").at("stringValue")) == "switchyard");
  CHECK(text_of(attribute(r, "service.version").at("stringValue")) == "0.4.0");
  CHECK(text_of(attribute(r, "deployment.environment.name").at("stringValue")) == "prod");
  CHECK(text_of(attribute(r, "service.instance.id").at("stringValue")) == "worker-7");
  CHECK(text_of(attribute(r, "host.cpus").at("intValue")) == "2");
  CHECK(r.at("attributes").as_array().size() == 5);

  // Without a version, none is written unless an attribute gives one.
  TraceResource bare;
  const json::object bare_doc = parse(encode({make_span("s", 1)}, bare, "scope", ""));
  const json::object& b = resource_of(bare_doc);
  CHECK(text_of(attribute(b, "service.name").at("stringValue")) == "unknown_service");
  CHECK(b.at("attributes").as_array().size() == 1);
  CHECK_FALSE(scope_spans(bare_doc).at("scope").as_object().contains("version"));
  bare.attributes = {{"service.version", std::string("from-attribute")}};
  const json::object given = parse(encode({make_span("s", 1)}, bare));
  CHECK(text_of(attribute(resource_of(given), "service.version").at("stringValue")) ==
        "from-attribute");
}

TEST_CASE("otlp json: no spans is an empty request, not an empty envelope") {
  const std::string text = encode({});
  CHECK(text == R"({"resourceSpans":[]})");
  CHECK(parse(text).at("resourceSpans").as_array().empty());
}

TEST_CASE("otlp json: a minimal span, exactly") {
  SpanRecord span;
  span.trace_id = make_trace_id(0, 1);
  span.span_id = make_span_id(2);
  span.name = "chat";
  span.start_unix_nano = 10;
  span.end_unix_nano = 20;
  TraceResource resource;
  resource.service_name = "sy";
  CHECK(encode_otlp_traces(resource, "p", "", std::span<const SpanRecord>(&span, 1)) ==
        R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":)"
        R"({"stringValue":"sy"}}]},"scopeSpans":[{"scope":{"name":"p"},"spans":[)"
        R"({"traceId":"00000000000000000000000000000001","spanId":"0000000000000002",)"
        R"("name":"chat","kind":1,"startTimeUnixNano":"10","endTimeUnixNano":"20",)"
        R"("status":{"code":0}}]}]}]})");
}

TEST_CASE("otlp json: a batch of thousands of spans") {
  std::vector<SpanRecord> spans;
  for (std::uint64_t i = 0; i < 3000; ++i) {
    SpanRecord span = make_span("span " + std::to_string(i), i + 1);
    span.attributes = {{"index", static_cast<std::int64_t>(i)},
                       {"model", std::string("claude-sonnet-4")}};
    spans.push_back(std::move(span));
  }
  const json::object doc = parse(encode(spans));
  const json::array& out = spans_of(doc);
  REQUIRE(out.size() == 3000);
  CHECK(text_of(out[2999].at("name")) == "span 2999");
  CHECK(text_of(attribute(out[2999], "index").at("intValue")) == "2999");
}
