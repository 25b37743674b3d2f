#pragma once
// A strict, forward-only JSON reader for small documents read once: one stream event's data.
//
// Why not a DOM: translating a stream parses one small JSON document per token, and building
// any DOM (Boost.JSON's or simdjson's tape) and then looking keys up in it was most of the cost
// of a translated stream (callgrind). The cursor walks the text once, the caller picks out the
// members it wants as they pass and skips the rest, and nothing is allocated.
//
// It accepts only valid JSON (RFC 8259, UTF-8 checked) and gives up on anything it does not
// read exactly: numbers with a fraction read as integers, nesting deeper than kMaxDepth, lone
// surrogate escapes. A caller treats giving up as "read this one with a general parser".
//
// Use: for_each_member() with a function that reads the values of the members it wants (or
// begin_object(), then `while (next_key(key))` read or skip each value whole). Check finished()
// at the end: it is false after any error and when anything but whitespace follows.
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace switchyard::core {

namespace json_cursor_detail {
// The first byte at or after `p` that ends a run of plain string bytes: a quote, a backslash, a
// control character or the lead of a multi-byte character. Eight bytes at a time, because
// scanning strings is most of reading a stream chunk.
inline const char* find_string_special(const char* p, const char* end) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  if constexpr (std::endian::native == std::endian::little) {
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      const std::uint64_t quote = word ^ (ones * '"');
      const std::uint64_t backslash = word ^ (ones * '\\');
      // A byte's high bit is set here when it is zero (quote, backslash), below 0x20, or at
      // least 0x80. Bytes after the first such byte can be flagged falsely, which the count
      // of trailing zeros never looks at.
      const std::uint64_t special = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
                                    (word - ones * 0x20) | word;
      const std::uint64_t flagged = special & highs;
      if (flagged != 0) return p + std::countr_zero(flagged) / 8;
      p += 8;
    }
  }
  while (p < end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return p;
    ++p;
  }
  return p;
}

}  // namespace json_cursor_detail

// key == literal, as a length test and a memcmp of known size that compilers turn into a few
// integer compares: keys are compared a dozen times per chunk.
template <std::size_t N>
inline bool key_is(std::string_view key, const char (&literal)[N]) {
  return key.size() == N - 1 && std::memcmp(key.data(), literal, N - 1) == 0;
}

class JsonCursor {
 public:
  static constexpr int kMaxDepth = 64;

  // `scratch` receives strings that contain escapes; views returned for them point into it.
  // It is reserved up front so that those views stay valid until the next document.
  JsonCursor(std::string_view text, std::string& scratch);

  enum class Kind { object, array, string, number, boolean, null, invalid };
  // The kind of the next value, without consuming it.
  Kind peek() {
    skip_whitespace();
    if (failed_ || at_ == end_) return Kind::invalid;
    switch (*at_) {
      case '{':
        return Kind::object;
      case '[':
        return Kind::array;
      case '"':
        return Kind::string;
      case 't':
      case 'f':
        return Kind::boolean;
      case 'n':
        return Kind::null;
      default:
        return (*at_ == '-' || (*at_ >= '0' && *at_ <= '9')) ? Kind::number : Kind::invalid;
    }
  }

  bool begin_object();
  // The next member's key, or false at the end of the object (or on an error: see failed()).
  bool next_key(std::string_view& key);
  // Reads the object at the cursor member by member. `read_member(key)` reads the value of a
  // member it wants and returns whether that went well; a value it leaves unread is skipped.
  template <class ReadMember>
  [[gnu::always_inline]] bool for_each_member(ReadMember&& read_member) {
    if (!begin_object()) return false;
    std::string_view key;
    while (next_key(key)) {
      const char* before = at_;
      if (!read_member(key)) return fail();
      if (at_ == before && !skip_value()) return false;
    }
    return !failed_;
  }

  bool begin_array();
  // True when another element follows, false at the end of the array (or on an error).
  bool next_element();

  bool read_string(std::string_view& out);
  // An integer without fraction or exponent that fits in 64 bits.
  bool read_int(std::int64_t& out);
  bool read_bool(bool& out);
  bool read_null();
  // A string, or null (out left as it was). False for anything else.
  bool read_string_or_null(std::string_view& out);
  bool skip_value();

  bool failed() const { return failed_; }
  // The document was read without error and only whitespace follows it.
  bool finished();

 private:
  bool fail() {
    failed_ = true;
    return false;
  }
  void skip_whitespace() {
    // Machine-written JSON has little whitespace: test the common case once.
    while (at_ < end_ && static_cast<unsigned char>(*at_) <= ' ' &&
           (*at_ == ' ' || *at_ == '\n' || *at_ == '\r' || *at_ == '\t')) {
      ++at_;
    }
  }
  // At the opening quote. The common case, a string without escapes or multi-byte
  // characters, is read here; the rest is left to read_string_slow.
  bool read_string_at_quote(std::string_view& out) {
    const char* start = at_ + 1;
    const char* p = json_cursor_detail::find_string_special(start, end_);
    if (p != end_ && *p == '"') {
      out = std::string_view(start, static_cast<std::size_t>(p - start));
      at_ = p + 1;
      return true;
    }
    if (p == end_) return fail();
    return read_string_slow(start, p, out);
  }
  bool read_string_slow(const char* start, const char* p, std::string_view& out);
  bool expect_literal(std::string_view word);
  bool skip_number();
  bool skip_value_at(int depth);
  bool read_escape(std::string& into);

  const char* at_;
  const char* end_;
  std::string& scratch_;
  bool first_ = false;  // just after '{' or '[': no comma expected before the next item
  bool failed_ = false;
};

}  // namespace switchyard::core
