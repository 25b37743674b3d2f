#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/json_member_capture.hpp"

using switchyard::core::JsonMemberCapture;

namespace {

// Feeds `doc` in pieces of `step` bytes, as reads from a socket would arrive.
std::optional<std::string> capture(std::string_view doc, std::size_t step,
                                   std::string name = "usage", std::size_t max = 4096) {
  JsonMemberCapture c(std::move(name), max);
  for (std::size_t at = 0; at < doc.size(); at += step) c.feed(doc.substr(at, step));
  if (auto v = c.value()) return std::string(*v);
  return std::nullopt;
}

}  // namespace

TEST_CASE("member capture: the top-level usage of an answer, however it is split") {
  const std::string doc =
      R"({"id":"x","choices":[{"message":{"content":"the \"usage\":{\"fake\":1} is {in} a string","usage":{"nested":true}}}],)"
      R"( "usage" : {"prompt_tokens":12,"completion_tokens":3,"details":{"a":[1,2]}} , "system_fingerprint":"fp"})";
  for (std::size_t step : {1u, 2u, 3u, 7u, 64u, 10000u}) {
    INFO(step);
    const auto v = capture(doc, step);
    REQUIRE(v);
    CHECK(*v == R"({"prompt_tokens":12,"completion_tokens":3,"details":{"a":[1,2]}})");
  }
}

TEST_CASE("member capture: a value at the end of the object, scalars, and absent members") {
  CHECK(capture(R"({"a":1,"usage":{"x":2}})", 1) == std::optional<std::string>(R"({"x":2})"));
  CHECK(capture(R"({"usage": 42 })", 3) == std::optional<std::string>("42"));
  CHECK(capture(R"({"usage":"a,}b"})", 1) == std::optional<std::string>(R"("a,}b")"));
  CHECK_FALSE(capture(R"({"a":{"usage":{"x":1}}})", 1));  // nested, not top level
  CHECK_FALSE(capture(R"(["usage",{"usage":1}])", 1));    // not an object
  CHECK_FALSE(capture(R"({"usages":{"x":1},"usag":2})", 1));
  CHECK_FALSE(capture(R"({"usage":{"x":1)", 1));  // never completed
  // A repeated member: the last one, as JSON parsers read it.
  CHECK(capture(R"({"usage":1,"usage":2})", 1) == std::optional<std::string>("2"));
  // Keys with escapes are compared as sent.
  CHECK(capture(R"({"us\"age":1,"usage":3})", 1) == std::optional<std::string>("3"));
}

TEST_CASE("member capture: a value over the bound is given up on, and nothing is held for it") {
  const std::string big = "{\"usage\":\"" + std::string(5000, 'z') + "\",\"b\":1}";
  CHECK_FALSE(capture(big, 100, "usage", 1000));
  CHECK(capture(big, 100, "b", 1000) == std::optional<std::string>("1"));
}
