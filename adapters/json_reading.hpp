#pragma once
// Small helpers every codec uses to read Boost.JSON documents and to invent ids.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "core/gateway_error.hpp"
#include "core/usage.hpp"

namespace switchyard::adapters {

// A JSON number as a whole number: an int64, a uint64 that fits, or a double inside int64's
// range with its fraction dropped (providers that write 12.0 mean 12). Anything else, 1e40
// among them, is not one: casting it would be undefined behaviour.
inline std::optional<std::int64_t> whole_number(const boost::json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() &&
      v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double() && v.get_double() > -9.2e18 && v.get_double() < 9.2e18) {
    return static_cast<std::int64_t>(v.get_double());
  }
  return std::nullopt;
}

inline std::string to_std(const boost::json::string& s) { return std::string(s.data(), s.size()); }

// Present and not null: clients send null for "not set" as often as they omit a key.
inline const boost::json::value* member(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return (v && !v->is_null()) ? v : nullptr;
}

// Member `key` as a whole number (see whole_number); absent, null, another type, or a number
// no int64 holds reads as 0. Callers that read a count clamp it (core::token_count).
inline std::int64_t int_or_zero(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = member(o, key);
  return v ? whole_number(*v).value_or(0) : 0;
}

// Text as JSON, or nullopt when it is not (default limits: nesting up to 32, as every codec
// document is read).
inline std::optional<boost::json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return parsed;
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
bool read_content(Reader& reader, const boost::json::value& content, const std::string& param,
                  OnText&& on_text, OnPart&& on_part) {
  if (content.is_string()) return on_text(content.get_string());
  if (!content.is_array())
    return reader.fail("'" + param + "' must be a string or an array of content parts", param);
  const boost::json::array& parts = content.get_array();
  for (std::size_t j = 0; j < parts.size(); ++j) {
    const std::string part_param = indexed(param, j);
    if (!parts[j].is_object())
      return reader.fail("'" + part_param + "' must be an object", part_param);
    if (!on_part(parts[j].get_object(), part_param)) return false;
  }
  return true;
}

// ---- Reading a provider's answer ------------------------------------------------------------
// A provider's answer whose fields have the wrong JSON type is refused rather than read as
// empty: a client must never take a broken answer for an empty one. Absent and null members
// read as absent (providers send null for "none"), and members nobody reads are not looked at
// (providers add fields).

// Where a value sits in a provider's document ("choices[0].delta.content"): a chain of member
// names and indices on the stack, spelt out only when a message needs it. A path refers to its
// parent, so build each step as a named local (the lvalue-only members enforce it).
class JsonPath {
 public:
  JsonPath() = default;  // the document's root
  JsonPath member(std::string_view key) const& { return JsonPath(this, key, kNoIndex); }
  JsonPath element(std::size_t index) const& { return JsonPath(this, {}, index); }
  JsonPath member(std::string_view) const&& = delete;
  JsonPath element(std::size_t) const&& = delete;

  std::string text() const {
    std::string out;
    append_to(out);
    return out;
  }

 private:
  static constexpr std::size_t kNoIndex = static_cast<std::size_t>(-1);
  JsonPath(const JsonPath* parent, std::string_view key, std::size_t index)
      : parent_(parent), key_(key), index_(index) {}

  void append_to(std::string& out) const {
    if (!parent_) return;
    parent_->append_to(out);
    if (index_ != kNoIndex) {
      out.append("[").append(std::to_string(index_)).append("]");
      return;
    }
    if (!out.empty()) out.push_back('.');
    out.append(key_);
  }

  const JsonPath* parent_ = nullptr;
  std::string_view key_;
  std::size_t index_ = kNoIndex;
};

// "an object", "a number"...: what an upstream sent instead, named without quoting it (its
// data may be anything, and long).
inline std::string_view json_kind_name(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::object:
      return "an object";
    case boost::json::kind::array:
      return "an array";
    case boost::json::kind::string:
      return "a string";
    case boost::json::kind::bool_:
      return "a boolean";
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      break;
  }
  return "a number";
}

// Reads the members of a provider's document with the types its provider documents. A member
// of another type reads as absent and is remembered: the first one is what error() reports,
// so a decoder reads on and checks ok() once before it trusts what it read.
class UpstreamReader {
 public:
  bool ok() const { return error_.empty(); }
  // "'choices' must be an array, not an object"
  const std::string& error() const { return error_; }

  bool refuse(const JsonPath& at, std::string_view expected, const boost::json::value& got) {
    if (error_.empty()) {
      error_.append("'").append(at.text()).append("' must be ").append(expected).append(", not ");
      error_.append(json_kind_name(got));
    }
    return false;
  }
  bool refuse(const JsonPath& at, std::string_view why) {
    if (error_.empty()) error_.append("'").append(at.text()).append("' ").append(why);
    return false;
  }

  // Each reads member `key` of `o`, which sits at `at`: nullptr (nullopt) when it is absent,
  // null or of another type (then refused).
  const boost::json::object* object(const boost::json::object& o, std::string_view key,
                                    const JsonPath& at) {
    const boost::json::value* v = present(o, key);
    if (!v || v->is_object()) return v ? &v->get_object() : nullptr;
    refuse(at.member(key), "an object", *v);
    return nullptr;
  }
  const boost::json::array* array(const boost::json::object& o, std::string_view key,
                                  const JsonPath& at) {
    const boost::json::value* v = present(o, key);
    if (!v || v->is_array()) return v ? &v->get_array() : nullptr;
    refuse(at.member(key), "an array", *v);
    return nullptr;
  }
  const boost::json::string* string(const boost::json::object& o, std::string_view key,
                                    const JsonPath& at) {
    const boost::json::value* v = present(o, key);
    if (!v || v->is_string()) return v ? &v->get_string() : nullptr;
    refuse(at.member(key), "a string", *v);
    return nullptr;
  }
  std::string string_or_empty(const boost::json::object& o, std::string_view key,
                              const JsonPath& at) {
    const boost::json::string* s = string(o, key, at);
    return s ? to_std(*s) : std::string();
  }
  std::optional<bool> boolean(const boost::json::object& o, std::string_view key,
                              const JsonPath& at) {
    const boost::json::value* v = present(o, key);
    if (!v) return std::nullopt;
    if (v->is_bool()) return v->get_bool();
    refuse(at.member(key), "a boolean", *v);
    return std::nullopt;
  }
  // A whole number (a count, an index, a time). Fractions are truncated, as providers that
  // write 12.0 mean 12; numbers past int64 are refused.
  std::optional<std::int64_t> integer(const boost::json::object& o, std::string_view key,
                                      const JsonPath& at) {
    const boost::json::value* v = present(o, key);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64() &&
        v->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(v->get_uint64());
    }
    if (const auto n = whole_number(*v)) return n;
    refuse(at.member(key), "an integer", *v);
    return std::nullopt;
  }
  std::int64_t integer_or_zero(const boost::json::object& o, std::string_view key,
                               const JsonPath& at) {
    return integer(o, key, at).value_or(0);
  }
  // A token count: an integer, held within [0, core::kMaxTokenCount].
  std::int64_t count(const boost::json::object& o, std::string_view key, const JsonPath& at) {
    return core::token_count(integer(o, key, at).value_or(0));
  }
  // An element of an array that must be an object.
  const boost::json::object* element_object(const boost::json::value& v, const JsonPath& at) {
    if (v.is_object()) return &v.get_object();
    refuse(at, "an object", v);
    return nullptr;
  }

 private:
  static const boost::json::value* present(const boost::json::object& o, std::string_view key) {
    const boost::json::value* v = o.if_contains(key);
    return (v && !v->is_null()) ? v : nullptr;
  }

  std::string error_;
};

// A provider's stream event that cannot be read (`why` names the field): the stream ends with
// this in the client's terms. The same status and code as an unreadable whole answer.
inline core::GatewayError unreadable_upstream_stream(std::string_view why) {
  return core::bad_upstream_response("The upstream provider's stream could not be read: " +
                                     std::string(why));
}

// A provider's stream that ended cleanly before its final event: a cut answer must not look
// complete, so the client gets an error instead of a normal finish.
inline core::GatewayError truncated_upstream_stream() {
  return core::bad_upstream_response("The upstream provider's stream ended before its final event.",
                                     "upstream_stream_truncated");
}

// An upstream whole answer that cannot be read (`why` names the field); translate_response
// turns it into the client's 502.
inline core::GatewayError bad_upstream_answer(std::string why) {
  core::GatewayError e;
  e.status = 502;
  e.type = std::string(core::openai_error_type(502));
  e.code = "bad_upstream_response";
  e.message = std::move(why);
  e.source = core::ErrorSource::upstream;
  return e;
}

// An id the gateway has to invent (a provider sent none, or the protocol has none): random,
// so ids of different turns of one conversation never collide.
inline std::string random_id(std::string_view prefix, std::size_t length = 24) {
  static constexpr char kAlphabet[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
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
  const boost::json::object* object() const {
    return !ec_ && value_.is_object() ? &value_.get_object() : nullptr;
  }

 private:
  static constexpr std::size_t kBufferBytes = std::size_t{16} * 1024;
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
