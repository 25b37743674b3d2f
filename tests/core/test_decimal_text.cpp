// core::write_decimal against std::to_chars: every value the same text.
#include <catch2/catch.hpp>
#include <charconv>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/decimal_text.hpp"

namespace {

using switchyard::core::write_decimal;

std::string ours(std::int64_t v) {
  char buf[24];
  return std::string(buf, write_decimal(buf, v));
}
std::string theirs(std::int64_t v) {
  char buf[24];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace

TEST_CASE("write_decimal: the edges of every digit count, zero, and both extremes") {
  std::vector<std::int64_t> values{0,
                                   1,
                                   -1,
                                   9,
                                   10,
                                   11,
                                   99,
                                   100,
                                   101,
                                   std::numeric_limits<std::int64_t>::max(),
                                   std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::min() + 1};
  std::int64_t p = 1;
  for (int i = 0; i < 18; ++i) {
    p *= 10;
    for (std::int64_t v : {p - 1, p, p + 1}) {
      values.push_back(v);
      values.push_back(-v);
    }
  }
  for (std::int64_t v : values) {
    INFO(v);
    CHECK(ours(v) == theirs(v));
  }
  char buf[24];
  CHECK(std::string(buf, write_decimal(buf, std::numeric_limits<std::uint64_t>::max())) ==
        "18446744073709551615");
  CHECK(std::string(buf, write_decimal(buf, std::int64_t{42})) == "42");
}

TEST_CASE("write_decimal: a million values of every magnitude") {
  std::mt19937_64 random(12345);
  int mismatches = 0;
  std::int64_t first_bad = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    // A random value cut to a random number of bits, so that short numbers are as common as
    // long ones.
    const auto bits = static_cast<int>(random() % 64);
    auto v = static_cast<std::int64_t>(random() >> (63 - bits) >> 1);
    if (random() % 2) v = -v;
    if (ours(v) != theirs(v) && mismatches++ == 0) first_bad = v;
  }
  INFO("first mismatch: " << first_bad);
  CHECK(mismatches == 0);
}
