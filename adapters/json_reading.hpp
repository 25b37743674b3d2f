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

// Message content as the OpenAI protocols have it: a string, or an array of part objects.
// `on_text(string)` takes the first form, `on_part(part, part_param)` each part of the second;
// any other shape is reported through the codec's `reader.fail(message, param)`. False once
// any of them is.
template <class Reader, class OnText, class OnPart>
bool read_content(Reader& reader, const boost::json::value& content, const std::string& param, OnText&& on_text,
                  OnPart&& on_part) {
  if (content.is_string()) return on_text(content.get_string());
  if (!content.is_array()) return reader.fail("'" + param + "' must be a string or an array of content parts", param);
  const boost::json::array& parts = content.get_array();
  for (std::size_t j = 0; j < parts.size(); ++j) {
    const std::string part_param = indexed(param, j);
    if (!parts[j].is_object()) return reader.fail("'" + part_param + "' must be an object", part_param);
    if (!on_part(parts[j].get_object(), part_param)) return false;
  }
  return true;
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

// Parses one stream event's JSON into memory that is recycled for the next event: an event is
// parsed, read and dropped at once, and a general-purpose DOM's heap allocations per node were
// most of the cost of translating a stream (callgrind). Keep the value only while the
// EventDocument lives, and have one at a time per thread.
class EventDocument {
 public:
  explicit EventDocument(std::string_view text)
      : arena_(buffer(), kBufferBytes), value_(boost::json::parse(text, ec_, &arena_)) {}
  EventDocument(const EventDocument&) = delete;
  EventDocument& operator=(const EventDocument&) = delete;

  // The parsed value, or nullptr when the text is not JSON.
  const boost::json::value* value() const { return ec_ ? nullptr : &value_; }
  // The root object, or nullptr when the text is not a JSON object.
  const boost::json::object* object() const { return !ec_ && value_.is_object() ? &value_.get_object() : nullptr; }

 private:
  static constexpr std::size_t kBufferBytes = 16 * 1024;
  static unsigned char* buffer() {
    thread_local unsigned char bytes[kBufferBytes];
    return bytes;
  }

  boost::json::monotonic_resource arena_;
  boost::system::error_code ec_;
  boost::json::value value_;
};

// Parses a document that is read and dropped within one call (a request or response being
// decoded into canonical form): its nodes come from an arena that starts inside this object,
// instead of one heap allocation and free each (callgrind). Larger documents continue on the
// heap. Nothing read from it may outlive it: copy strings out.
class ScratchDocument {
 public:
  explicit ScratchDocument(std::string_view text)
      : arena_(bytes_, sizeof bytes_), value_(boost::json::parse(text, ec_, &arena_)) {}
  ScratchDocument(const ScratchDocument&) = delete;
  ScratchDocument& operator=(const ScratchDocument&) = delete;

  // The parsed value, or nullptr when the text is not JSON (error() says why).
  const boost::json::value* value() const { return ec_ ? nullptr : &value_; }
  const boost::system::error_code& error() const { return ec_; }

 private:
  unsigned char bytes_[4096];
  boost::json::monotonic_resource arena_;
  boost::system::error_code ec_;
  boost::json::value value_;
};

}  // namespace switchyard::adapters
