// The cursor reads stream events in place of a general parser, so it must never read a
// document differently from one: here it is checked against Boost.JSON on hand-picked
// documents and on many deterministic mutations of real stream chunks.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/json_cursor.hpp"

using switchyard::core::JsonCursor;
namespace json = boost::json;

namespace {

// A canonical text for a document: strings written out raw with their length, numbers as
// '#', so that two readers agree exactly when they saw the same keys, strings and structure.
void describe(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::object:
      out += '{';
      for (const auto& member : v.get_object()) {
        out += std::to_string(member.key().size()) + ':' + std::string(member.key()) + '=';
        describe(member.value(), out);
        out += ';';
      }
      out += '}';
      break;
    case json::kind::array:
      out += '[';
      for (const auto& element : v.get_array()) {
        describe(element, out);
        out += ';';
      }
      out += ']';
      break;
    case json::kind::string:
      out += std::to_string(v.get_string().size()) + '"' + std::string(v.get_string());
      break;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      break;
    case json::kind::null:
      out += "null";
      break;
    default:
      out += '#';
      break;
  }
}

bool describe(JsonCursor& cursor, std::string& out, int depth = 0) {
  if (depth > 32) return false;
  switch (cursor.peek()) {
    case JsonCursor::Kind::object: {
      cursor.begin_object();
      out += '{';
      std::string_view key;
      while (cursor.next_key(key)) {
        out += std::to_string(key.size()) + ':' + std::string(key) + '=';
        if (!describe(cursor, out, depth + 1)) return false;
        out += ';';
      }
      out += '}';
      return !cursor.failed();
    }
    case JsonCursor::Kind::array: {
      cursor.begin_array();
      out += '[';
      while (cursor.next_element()) {
        if (!describe(cursor, out, depth + 1)) return false;
        out += ';';
      }
      out += ']';
      return !cursor.failed();
    }
    case JsonCursor::Kind::string: {
      std::string_view s;
      if (!cursor.read_string(s)) return false;
      out += std::to_string(s.size()) + '"' + std::string(s);
      return true;
    }
    case JsonCursor::Kind::null:
      out += "null";
      return cursor.read_null();
    case JsonCursor::Kind::boolean: {
      bool b = false;
      if (!cursor.read_bool(b)) return false;
      out += b ? "true" : "false";
      return true;
    }
    case JsonCursor::Kind::number:
      out += '#';
      return cursor.skip_value();
    case JsonCursor::Kind::invalid:
      return false;
  }
  return false;
}

struct Reading {
  bool accepted = false;
  json::error_code error;
  std::string description;
};

Reading read_with_cursor(std::string_view text) {
  std::string scratch;
  JsonCursor cursor(text, scratch);
  Reading r;
  r.accepted = describe(cursor, r.description) && cursor.finished();
  return r;
}

Reading read_with_boost(std::string_view text) {
  json::error_code ec;
  json::parse_options options;
  options.max_depth = 34;
  const json::value v = json::parse(text, ec, {}, options);
  Reading r;
  r.accepted = !ec;
  r.error = ec;
  if (r.accepted) describe(v, r.description);
  return r;
}

// The cursor may give up on valid JSON (the caller falls back), but whatever it accepts must be
// valid and read exactly as Boost.JSON reads it.
void check_agrees(std::string_view text) {
  INFO("document: " << text);
  const Reading cursor = read_with_cursor(text);
  const Reading boost = read_with_boost(text);
  if (cursor.accepted) {
    // A number whose exponent no double holds is valid JSON that Boost.JSON refuses; the
    // cursor only skips numbers, so it has no reason to.
    if (boost.error == json::error::exponent_overflow) return;
    REQUIRE(boost.accepted);
    REQUIRE(cursor.description == boost.description);
  }
}

const std::vector<std::string> kChunks = {
    R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]})",
    R"({"id":"c","choices":[{"index":0,"delta":{"content":"line\none \"quoted\" caf\u00e9 \ud83d\ude00 \\ \/"},"finish_reason":null}]})",
    R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":"}}]}}]})",
    R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":-3,"prompt_tokens_details":{"cached_tokens":0}}})",
    "{ \"a\" : [ 1.5e3 , -0.25 , true , false , null , { } , [ ] , \"\" ] }\n",
    R"({"text":"日本語 ünïcödé","n":123456789012345678})",
};

}  // namespace

TEST_CASE("json cursor reads strings as views, unescaping only when needed", "[json_cursor]") {
  std::string scratch;
  const std::string text =
      R"({"plain":"tok en","escaped":"a\nb\u00e9\ud83d\ude00","n":-42,"z":null})";
  JsonCursor cursor(text, scratch);
  REQUIRE(cursor.begin_object());
  std::string_view key, plain, escaped;
  std::int64_t n = 0;
  REQUIRE(cursor.next_key(key));
  CHECK(key == "plain");
  REQUIRE(cursor.read_string(plain));
  REQUIRE(cursor.next_key(key));
  REQUIRE(cursor.read_string(escaped));
  REQUIRE(cursor.next_key(key));
  REQUIRE(cursor.read_int(n));
  REQUIRE(cursor.next_key(key));
  std::string_view untouched = "kept";
  REQUIRE(cursor.read_string_or_null(untouched));
  CHECK_FALSE(cursor.next_key(key));
  REQUIRE(cursor.finished());
  CHECK(plain == "tok en");
  CHECK(plain.data() >= text.data());
  CHECK(plain.data() < text.data() + text.size());
  CHECK(escaped == "a\nb\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(n == -42);
  CHECK(untouched == "kept");
}

TEST_CASE("json cursor keeps earlier unescaped strings valid while reading later ones",
          "[json_cursor]") {
  std::string scratch;
  const std::string text = R"(["a\tb","c\"d","e\\f"])";
  JsonCursor cursor(text, scratch);
  REQUIRE(cursor.begin_array());
  std::vector<std::string_view> seen;
  while (cursor.next_element()) {
    std::string_view s;
    REQUIRE(cursor.read_string(s));
    seen.push_back(s);
  }
  REQUIRE(cursor.finished());
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == "a\tb");
  CHECK(seen[1] == "c\"d");
  CHECK(seen[2] == "e\\f");
}

TEST_CASE("json cursor refuses what is not JSON", "[json_cursor]") {
  for (const std::string bad : {
           "",
           "{",
           "}",
           "{\"a\"}",
           "{\"a\":}",
           "{\"a\":1,}",
           "{,}",
           "[1,]",
           "[,1]",
           "{\"a\":1 \"b\":2}",
           "{'a':1}",
           "{\"a\":01}",
           "{\"a\":1.}",
           "{\"a\":.5}",
           "{\"a\":1e}",
           "{\"a\":-}",
           "{\"a\":tru}",
           "{\"a\":nul}",
           "{\"a\":\"x\\q\"}",
           "{\"a\":\"\\u12\"}",
           "{\"a\":\"\\ud800\"}",
           "{\"a\":\"\\udc00\"}",
           "{\"a\":\"\\ud800\\u0041\"}",
           "{\"a\":\"tab\there\"}",
           "{\"a\":\"\xc3\"}",
           "{\"a\":\"\xc0\xaf\"}",
           "{\"a\":\"\xed\xa0\x80\"}",
           "{\"a\":\"\xf4\x90\x80\x80\"}",
           "{\"a\":\"\xff\"}",
           "{} {}",
           "{}x",
           "{\"a\":1}}",
           "[1 2]",
           "{\"a\":\"unterminated}",
       }) {
    INFO("document: " << bad);
    const Reading r = read_with_cursor(bad);
    CHECK_FALSE(r.accepted);
  }
}

TEST_CASE("json cursor integers: exact, or refused for a general parser", "[json_cursor]") {
  auto read = [](std::string text, std::int64_t& out) {
    std::string scratch;
    JsonCursor cursor(text, scratch);
    return cursor.read_int(out) && cursor.finished();
  };
  std::int64_t n = 0;
  REQUIRE(read("0", n));
  CHECK(n == 0);
  REQUIRE(read("-0", n));
  CHECK(n == 0);
  REQUIRE(read("999999999999999999", n));
  CHECK(n == 999999999999999999);
  CHECK_FALSE(read("1.0", n));
  CHECK_FALSE(read("1e3", n));
  CHECK_FALSE(read("9999999999999999999", n));
  CHECK_FALSE(read("\"1\"", n));
}

TEST_CASE("json cursor gives up on nesting past its depth instead of recursing on",
          "[json_cursor]") {
  const std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  std::string scratch;
  JsonCursor cursor(deep, scratch);
  REQUIRE(cursor.begin_object());
  std::string_view key;
  REQUIRE(cursor.next_key(key));
  CHECK_FALSE(cursor.skip_value());
  CHECK_FALSE(cursor.finished());
}

TEST_CASE("json cursor reads real chunks exactly as Boost.JSON does", "[json_cursor]") {
  for (const std::string& chunk : kChunks) {
    INFO("document: " << chunk);
    const Reading cursor = read_with_cursor(chunk);
    REQUIRE(cursor.accepted);
    check_agrees(chunk);
  }
}

TEST_CASE("json cursor agrees with Boost.JSON on mutated chunks", "[json_cursor]") {
  // Deterministic: the same mutations every run, so a failure reproduces.
  std::mt19937 random(20261122);
  const std::string alphabet = "{}[]\":,\\ntu0123456789.-eE \x01\x7f\xc3\xa9\xed\xf0";
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = kChunks[random() % kChunks.size()];
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % text.size();
      switch (random() % 3) {
        case 0:
          text[at] = alphabet[random() % alphabet.size()];
          break;
        case 1:
          text.erase(at, 1);
          break;
        default:
          text.insert(at, 1, alphabet[random() % alphabet.size()]);
          break;
      }
    }
    check_agrees(text);
    if (read_with_cursor(text).accepted) ++accepted;
  }
  // Some mutations stay valid JSON (inside strings, mostly): those were compared, not skipped.
  CHECK(accepted > 1000);
}

TEST_CASE("json cursor for_each_member skips what the reader leaves unread", "[json_cursor]") {
  std::string scratch;
  const std::string text =
      R"({"skip": {"deep": [1, {"x": null}]}, "want": "yes", "peeked":  null, "n": 7})";
  JsonCursor cursor(text, scratch);
  std::string_view want;
  std::int64_t n = 0;
  const bool read = cursor.for_each_member([&](std::string_view key) {
    if (key == "want") return cursor.read_string(want);
    if (key == "n") return cursor.read_int(n);
    // Looking at a value without reading it leaves it to be skipped.
    if (key == "peeked") return cursor.peek() == JsonCursor::Kind::null;
    return true;
  });
  REQUIRE(read);
  REQUIRE(cursor.finished());
  CHECK(want == "yes");
  CHECK(n == 7);

  JsonCursor refused(text, scratch);
  CHECK_FALSE(refused.for_each_member([&](std::string_view key) { return key != "want"; }));
  CHECK_FALSE(refused.finished());
}
