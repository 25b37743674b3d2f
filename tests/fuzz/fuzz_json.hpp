#pragma once
// Boost.JSON as the fuzzers' reference reader of what the gateway writes: without its default
// nesting limit of 32 (the gateway's own readers go deeper), and with a comparison of
// documents that allows doubles to differ in their last bits, because Boost.JSON 1.81 reads
// long decimal fractions imprecisely, and not always to the same double for the same digits,
// and a zero with a huge exponent as NaN.
#include <boost/json.hpp>
#include <cmath>
#include <string_view>

namespace switchyard::fuzz {

inline boost::json::value parse_json(std::string_view text, boost::json::error_code& ec) {
  boost::json::parse_options options;
  options.max_depth = 100000;
  return boost::json::parse(text, ec, {}, options);
}

inline bool is_json(std::string_view text) {
  boost::json::error_code ec;
  parse_json(text, ec);
  return !ec;
}

inline bool same_json(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double(), y = b.get_double();
    // Boost.JSON reads 0e4001027 (zero, in valid JSON) as NaN: the same text on both sides.
    if (std::isnan(x) && std::isnan(y)) return true;
    return x == y || std::fabs(x - y) <= 1e-14 * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& ao = a.get_object();
    const auto& bo = b.get_object();
    if (ao.size() != bo.size()) return false;
    for (const auto& member : ao) {
      const boost::json::value* other = bo.if_contains(member.key());
      if (!other || !same_json(member.value(), *other)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const auto& aa = a.get_array();
    const auto& ba = b.get_array();
    if (aa.size() != ba.size()) return false;
    for (std::size_t i = 0; i < aa.size(); ++i) {
      if (!same_json(aa[i], ba[i])) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace switchyard::fuzz
