#pragma once
// Small helpers every codec uses to read Boost.JSON documents and to invent ids.
#include <boost/json.hpp>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>

namespace switchyard::adapters {

inline std::string to_std(const boost::json::string& s) { return std::string(s.data(), s.size()); }

// Present and not null: clients send null for "not set" as often as they omit a key.
inline const boost::json::value* member(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return (v && !v->is_null()) ? v : nullptr;
}

inline std::string string_or_empty(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = member(o, key);
  return (v && v->is_string()) ? to_std(v->get_string()) : std::string();
}

// "messages[3]": how an error names an element of an array.
inline std::string indexed(std::string_view base, std::size_t i) {
  std::string out(base);
  out.append("[").append(std::to_string(i)).append("]");
  return out;
}

// An id the gateway has to invent (a provider sent none, or the protocol has none): random,
// so ids of different turns of one conversation never collide.
inline std::string random_id(std::string_view prefix, std::size_t length = 24) {
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  thread_local std::mt19937_64 engine{std::random_device{}()};
  std::uniform_int_distribution<std::size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string out(prefix);
  for (std::size_t i = 0; i < length; ++i) out.push_back(kAlphabet[pick(engine)]);
  return out;
}

}  // namespace switchyard::adapters
