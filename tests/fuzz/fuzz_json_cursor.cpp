// Fuzzes core::JsonCursor, which reads upstream stream events in place of a general parser,
// against Boost.JSON as tests/core/test_json_cursor.cpp does: the cursor may give up on valid
// JSON, but whatever it accepts must be valid and read exactly as Boost.JSON reads it (keys,
// strings, structure; integers it reads with read_int have Boost.JSON's value). Also: every
// string view it handed out is still valid at the end of the document (the scratch buffer
// never moves), and skipping a document member by member accepts what reading it accepts.
// The input is the document itself.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_cursor.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using switchyard::core::JsonCursor;
namespace json = boost::json;

namespace {

enum class Numbers { skipped, as_int };

void describe(const json::value& v, Numbers numbers, std::string& out) {
  switch (v.kind()) {
    case json::kind::object:
      out += '{';
      for (const auto& member : v.get_object()) {
        out += std::to_string(member.key().size()) + ':' + std::string(member.key()) + '=';
        describe(member.value(), numbers, out);
        out += ';';
      }
      out += '}';
      break;
    case json::kind::array:
      out += '[';
      for (const auto& element : v.get_array()) {
        describe(element, numbers, out);
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
    case json::kind::int64:
      out += numbers == Numbers::as_int ? std::to_string(v.get_int64()) : "#";
      break;
    case json::kind::uint64:
      out += numbers == Numbers::as_int ? std::to_string(v.get_uint64()) : "#";
      break;
    case json::kind::double_: {
      const double d = v.get_double();
      // "-0" is the one integer Boost.JSON reads as a double.
      if (numbers == Numbers::as_int && d == 0)
        out += "0";
      else
        out += numbers == Numbers::as_int ? "double" : "#";
      break;
    }
  }
}

// Reads the document with the cursor into the same canonical text. Strings and keys are
// recorded as views too, to be checked once the document is done.
struct CursorReader {
  JsonCursor& cursor;
  Numbers numbers;
  std::vector<std::pair<std::string_view, std::string>> views;
  bool duplicate_keys = false;  // Boost.JSON keeps one of them: no comparison then

  bool describe(std::string& out, int depth = 0) {
    if (depth > 32) return false;
    switch (cursor.peek()) {
      case JsonCursor::Kind::object: {
        if (!cursor.begin_object()) return false;
        out += '{';
        std::vector<std::string> keys;
        std::string_view key;
        while (cursor.next_key(key)) {
          views.emplace_back(key, std::string(key));
          for (const std::string& k : keys) duplicate_keys |= k == key;
          keys.emplace_back(key);
          out += std::to_string(key.size()) + ':' + std::string(key) + '=';
          if (!describe(out, depth + 1)) return false;
          out += ';';
        }
        out += '}';
        return !cursor.failed();
      }
      case JsonCursor::Kind::array: {
        if (!cursor.begin_array()) return false;
        out += '[';
        while (cursor.next_element()) {
          if (!describe(out, depth + 1)) return false;
          out += ';';
        }
        out += ']';
        return !cursor.failed();
      }
      case JsonCursor::Kind::string: {
        std::string_view s;
        if (!cursor.read_string(s)) return false;
        views.emplace_back(s, std::string(s));
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
      case JsonCursor::Kind::number: {
        if (numbers == Numbers::skipped) {
          out += '#';
          return cursor.skip_value();
        }
        std::int64_t n = 0;
        if (!cursor.read_int(n)) return false;
        out += std::to_string(n);
        return true;
      }
      case JsonCursor::Kind::invalid:
        return false;
    }
    return false;
  }
};

struct Boost {
  bool accepted = false;
  json::error_code error;
  json::value value;
};

// Reads `text` with the cursor and compares with Boost.JSON when the cursor accepted it.
bool check_agrees(std::string_view text, Numbers numbers, const Boost& boost) {
  std::string scratch;
  JsonCursor cursor(text, scratch);
  CursorReader reader{cursor, numbers, {}};
  std::string description;
  const bool accepted = reader.describe(description) && cursor.finished();
  // Views into the text or the scratch buffer must all still hold what they held when read.
  for (const auto& [view, copy] : reader.views) SWITCHYARD_FUZZ_CHECK(view == copy);
  if (!accepted) return false;
  // A number whose exponent no double holds is valid JSON that Boost.JSON refuses.
  if (boost.error == json::error::exponent_overflow) return true;
  SWITCHYARD_FUZZ_CHECK(boost.accepted);
  if (reader.duplicate_keys) return true;
  std::string expected;
  describe(boost.value, numbers, expected);
  SWITCHYARD_FUZZ_CHECK(description == expected);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Boost boost;
  json::parse_options options;
  options.max_depth = 100;  // deeper than the cursor goes, so its depth limit decides
  boost.value = json::parse(text, boost.error, {}, options);
  boost.accepted = !boost.error;

  const bool read = check_agrees(text, Numbers::skipped, boost);
  check_agrees(text, Numbers::as_int, boost);

  // Skipping member by member (what for_each_member does with what a reader leaves) accepts
  // every object that reading it whole accepts, and only valid JSON.
  std::string scratch;
  JsonCursor cursor(text, scratch);
  if (cursor.peek() == JsonCursor::Kind::object) {
    const bool skipped =
        cursor.for_each_member([](std::string_view) { return true; }) && cursor.finished();
    if (read) SWITCHYARD_FUZZ_CHECK(skipped);
    if (skipped && boost.error != json::error::exponent_overflow)
      SWITCHYARD_FUZZ_CHECK(boost.accepted);
  }
  return 0;
}
