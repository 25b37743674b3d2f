#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>

#include "adapters/json_reading.hpp"

using switchyard::adapters::int_or_zero;
using switchyard::adapters::parse_json;

namespace {

boost::json::object object_of(std::string_view text) {
  auto parsed = parse_json(text);
  REQUIRE(parsed);
  REQUIRE(parsed->is_object());
  return parsed->get_object();
}

}  // namespace

TEST_CASE("int_or_zero reads whole numbers and nothing else", "[json_reading]") {
  const boost::json::object o = object_of(R"({
    "plain": 42, "negative": -7, "zero": 0, "whole_double": 12.0, "fraction": 12.9,
    "int64_max": 9223372036854775807, "uint64_past_int64": 9223372036854775808,
    "uint64_max": 18446744073709551615, "huge": 1e40, "minus_huge": -1e40,
    "text": "12", "flag": true, "nothing": null, "list": [1], "nested": {"n": 1}
  })");
  CHECK(int_or_zero(o, "plain") == 42);
  CHECK(int_or_zero(o, "negative") == -7);
  CHECK(int_or_zero(o, "zero") == 0);
  CHECK(int_or_zero(o, "whole_double") == 12);
  CHECK(int_or_zero(o, "fraction") == 12);  // providers that write 12.0 mean 12
  CHECK(int_or_zero(o, "int64_max") == std::numeric_limits<std::int64_t>::max());
  // Numbers no int64 holds are not read as some other number.
  CHECK(int_or_zero(o, "uint64_past_int64") == 0);
  CHECK(int_or_zero(o, "uint64_max") == 0);
  CHECK(int_or_zero(o, "huge") == 0);
  CHECK(int_or_zero(o, "minus_huge") == 0);
  // Not numbers at all.
  CHECK(int_or_zero(o, "text") == 0);
  CHECK(int_or_zero(o, "flag") == 0);
  CHECK(int_or_zero(o, "nothing") == 0);
  CHECK(int_or_zero(o, "list") == 0);
  CHECK(int_or_zero(o, "nested") == 0);
  CHECK(int_or_zero(o, "absent") == 0);
}

TEST_CASE("parse_json gives a value for JSON and nothing for anything else", "[json_reading]") {
  CHECK(parse_json(R"({"a":[1,2]})")->is_object());
  CHECK(parse_json("[]")->is_array());
  CHECK(parse_json(" 3 ")->is_int64());
  CHECK(parse_json("null")->is_null());
  CHECK_FALSE(parse_json(""));
  CHECK_FALSE(parse_json("{"));
  CHECK_FALSE(parse_json(R"({"a":1} trailing)"));
  CHECK_FALSE(parse_json("{'a':1}"));
  CHECK_FALSE(parse_json("<html>502 Bad Gateway</html>"));
  // Nesting is bounded, so a hostile document cannot take the stack.
  CHECK(parse_json(std::string(32, '[') + std::string(32, ']')));
  CHECK_FALSE(parse_json(std::string(10000, '[') + std::string(10000, ']')));
}
