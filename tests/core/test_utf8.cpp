#include <catch2/catch.hpp>
#include <string>

#include "core/utf8.hpp"

using switchyard::core::utf8_sequence_length;
using switchyard::core::valid_utf8;

namespace {
const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD
}

TEST_CASE("well-formed UTF-8 is kept byte for byte", "[utf8]") {
  const std::string text =
      "ascii \x7F, caf\xC3\xA9, \xE2\x82\xAC, \xED\x9F\xBF, \xEE\x80\x80, \xF0\x9F\x9A\x80, "
      "\xF4\x8F\xBF\xBF";
  CHECK(valid_utf8(text) == text);
  CHECK(valid_utf8("") == "");
  CHECK(utf8_sequence_length("\xC3\xA9", 0) == 2);
  CHECK(utf8_sequence_length("\xE2\x82\xAC", 0) == 3);
  CHECK(utf8_sequence_length("\xF0\x9F\x9A\x80", 0) == 4);
  CHECK(utf8_sequence_length("a\xF0\x9F\x9A\x80", 1) == 4);
}

TEST_CASE("overlong forms are replaced byte by byte", "[utf8]") {
  // "/" as two, three and four bytes; C0 and C1 can never start a sequence.
  CHECK(valid_utf8("\xC0\xAF") == kReplacement + kReplacement);
  CHECK(valid_utf8("\xC1\xBF") == kReplacement + kReplacement);
  CHECK(valid_utf8("\xE0\x80\xAF") == kReplacement + kReplacement + kReplacement);
  CHECK(valid_utf8("\xF0\x80\x80\xAF") ==
        kReplacement + kReplacement + kReplacement + kReplacement);
  CHECK(utf8_sequence_length("\xE0\x9F\xBF", 0) == 0);
  CHECK(utf8_sequence_length("\xF0\x8F\xBF\xBF", 0) == 0);
  // The smallest three- and four-byte forms are not overlong.
  CHECK(utf8_sequence_length("\xE0\xA0\x80", 0) == 3);
  CHECK(utf8_sequence_length("\xF0\x90\x80\x80", 0) == 4);
}

TEST_CASE("surrogates and code points past U+10FFFF are replaced", "[utf8]") {
  CHECK(valid_utf8("a\xED\xA0\x80z") == "a" + kReplacement + kReplacement + kReplacement + "z");
  CHECK(valid_utf8("\xED\xBF\xBF") == kReplacement + kReplacement + kReplacement);
  CHECK(utf8_sequence_length("\xED\xA0\x80", 0) == 0);
  CHECK(valid_utf8("\xF4\x90\x80\x80") ==
        kReplacement + kReplacement + kReplacement + kReplacement);
  CHECK(valid_utf8("\xF5\x80\x80\x80") ==
        kReplacement + kReplacement + kReplacement + kReplacement);
  CHECK(valid_utf8("\xFF\xFE") == kReplacement + kReplacement);
}

TEST_CASE("a sequence cut short is one replacement, and what follows it is kept", "[utf8]") {
  CHECK(valid_utf8("\xE2\x82") == kReplacement);
  CHECK(valid_utf8("ab\xF0\x9F\x9A") == "ab" + kReplacement);
  CHECK(valid_utf8("\xE2\x82z") == kReplacement + "z");
  CHECK(valid_utf8("\xF0\x9F\xC3\xA9") == kReplacement + "\xC3\xA9");
  CHECK(valid_utf8("\xC3") == kReplacement);
  CHECK(utf8_sequence_length("\xE2\x82", 0) == 0);
  CHECK(utf8_sequence_length("\xF0\x9F\x9A", 0) == 0);
  // A continuation byte with nothing before it.
  CHECK(valid_utf8("\x80x\xBF") == kReplacement + "x" + kReplacement);
}

TEST_CASE("is_valid_utf8 accepts only text that is well-formed throughout", "[utf8]") {
  using switchyard::core::is_valid_utf8;
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(is_valid_utf8("\xff"));
  CHECK_FALSE(is_valid_utf8("cut \xe2\x82"));
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));  // a surrogate
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong '/'
}
