#include "core/json_cursor.hpp"

namespace switchyard::core {

namespace {

using json_cursor_detail::find_string_special;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads four hex digits at `at`; -1 when they are not.
long read_hex4(const char* at, const char* end) {
  if (end - at < 4) return -1;
  long value = 0;
  for (int i = 0; i < 4; ++i) {
    const int digit = hex_value(at[i]);
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

void append_utf8(std::string& into, unsigned long cp) {
  if (cp < 0x80) {
    into.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    into.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    into.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    into.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    into.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    into.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    into.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    into.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    into.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    into.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// The length of the well-formed UTF-8 sequence at `at` (its lead byte is >= 0x80), or 0 when
// it is not one: RFC 3629 table 3-7, so no overlong forms, surrogates or code points past
// U+10FFFF.
int utf8_sequence_length(const char* at, const char* end) {
  const auto* p = reinterpret_cast<const unsigned char*>(at);
  const long left = end - at;
  const unsigned char lead = p[0];
  if (lead >= 0xC2 && lead <= 0xDF) return (left >= 2 && is_continuation(p[1])) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (left < 3 || !is_continuation(p[2])) return 0;
    const unsigned char second = p[1];
    if (lead == 0xE0) return (second >= 0xA0 && second <= 0xBF) ? 3 : 0;
    if (lead == 0xED) return (second >= 0x80 && second <= 0x9F) ? 3 : 0;
    return is_continuation(second) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (left < 4 || !is_continuation(p[2]) || !is_continuation(p[3])) return 0;
    const unsigned char second = p[1];
    if (lead == 0xF0) return (second >= 0x90 && second <= 0xBF) ? 4 : 0;
    if (lead == 0xF4) return (second >= 0x80 && second <= 0x8F) ? 4 : 0;
    return is_continuation(second) ? 4 : 0;
  }
  return 0;
}

}  // namespace

JsonCursor::JsonCursor(std::string_view text, std::string& scratch)
    : at_(text.data()), end_(text.data() + text.size()), scratch_(scratch) {
  // A string's unescaped form is never longer than its escaped text, so all of them together
  // fit in the document's length and appending never moves what earlier views point at.
  scratch_.clear();
  scratch_.reserve(text.size());
}

bool JsonCursor::begin_object() {
  if (peek() != Kind::object) return fail();
  ++at_;
  first_ = true;
  return true;
}

bool JsonCursor::next_key(std::string_view& key) {
  skip_whitespace();
  if (failed_ || at_ == end_) return fail();
  if (*at_ == '}') {
    ++at_;
    first_ = false;
    return false;
  }
  if (first_) {
    first_ = false;
  } else {
    if (*at_ != ',') return fail();
    ++at_;
    skip_whitespace();
  }
  if (at_ == end_ || *at_ != '"') return fail();
  if (!read_string_at_quote(key)) return false;
  skip_whitespace();
  if (at_ == end_ || *at_ != ':') return fail();
  ++at_;
  skip_whitespace();  // so that only reading the value moves the cursor (for_each_member)
  return true;
}

bool JsonCursor::begin_array() {
  if (peek() != Kind::array) return fail();
  ++at_;
  first_ = true;
  return true;
}

bool JsonCursor::next_element() {
  skip_whitespace();
  if (failed_ || at_ == end_) return fail();
  if (*at_ == ']') {
    ++at_;
    first_ = false;
    return false;
  }
  if (first_) {
    first_ = false;
    return true;
  }
  if (*at_ != ',') return fail();
  ++at_;
  return true;
}

bool JsonCursor::read_string(std::string_view& out) {
  if (peek() != Kind::string) return fail();
  return read_string_at_quote(out);
}

bool JsonCursor::read_string_slow(const char* start, const char* p, std::string_view& out) {
  // `p` is at a backslash, a control character or a multi-byte character.
  for (;;) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') {
      out = std::string_view(start, static_cast<std::size_t>(p - start));
      at_ = p + 1;
      return true;
    }
    if (c < 0x80) break;  // a backslash, or a control character (refused below)
    const int length = utf8_sequence_length(p, end_);
    if (length == 0) return fail();
    p = find_string_special(p + length, end_);
    if (p == end_) return fail();
  }
  const std::size_t begin = scratch_.size();
  scratch_.append(start, p);
  at_ = p;
  while (at_ < end_) {
    const auto c = static_cast<unsigned char>(*at_);
    if (c == '"') {
      out = std::string_view(scratch_.data() + begin, scratch_.size() - begin);
      ++at_;
      return true;
    }
    if (c == '\\') {
      if (!read_escape(scratch_)) return fail();
    } else if (c < 0x20) {
      return fail();
    } else if (c >= 0x80) {
      const int length = utf8_sequence_length(at_, end_);
      if (length == 0) return fail();
      scratch_.append(at_, at_ + length);
      at_ += length;
    } else {
      const char* plain_end = find_string_special(at_, end_);
      scratch_.append(at_, plain_end);
      at_ = plain_end;
    }
  }
  return fail();
}

bool JsonCursor::read_escape(std::string& into) {
  ++at_;  // the backslash
  if (at_ == end_) return false;
  const char code = *at_++;
  switch (code) {
    case '"':
      into.push_back('"');
      return true;
    case '\\':
      into.push_back('\\');
      return true;
    case '/':
      into.push_back('/');
      return true;
    case 'b':
      into.push_back('\b');
      return true;
    case 'f':
      into.push_back('\f');
      return true;
    case 'n':
      into.push_back('\n');
      return true;
    case 'r':
      into.push_back('\r');
      return true;
    case 't':
      into.push_back('\t');
      return true;
    case 'u':
      break;
    default:
      return false;
  }
  const long unit = read_hex4(at_, end_);
  if (unit < 0) return false;
  at_ += 4;
  if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a trailing surrogate alone
  if (unit < 0xD800 || unit > 0xDBFF) {
    append_utf8(into, static_cast<unsigned long>(unit));
    return true;
  }
  // A leading surrogate must be followed by its trailing half.
  if (end_ - at_ < 6 || at_[0] != '\\' || at_[1] != 'u') return false;
  const long low = read_hex4(at_ + 2, end_);
  if (low < 0xDC00 || low > 0xDFFF) return false;
  at_ += 6;
  append_utf8(into, 0x10000 + ((static_cast<unsigned long>(unit) - 0xD800) << 10) +
                        (static_cast<unsigned long>(low) - 0xDC00));
  return true;
}

bool JsonCursor::read_int(std::int64_t& out) {
  if (peek() != Kind::number) return fail();
  const bool negative = *at_ == '-';
  if (negative) ++at_;
  if (at_ == end_ || !is_digit(*at_)) return fail();
  std::int64_t value = 0;
  int digits = 0;
  if (*at_ == '0') {
    ++at_;
    digits = 1;
  } else {
    // 18 digits always fit; longer integers are left to a general parser.
    while (at_ < end_ && is_digit(*at_)) {
      if (++digits > 18) return fail();
      value = value * 10 + (*at_ - '0');
      ++at_;
    }
  }
  if (at_ < end_ && (is_digit(*at_) || *at_ == '.' || *at_ == 'e' || *at_ == 'E')) return fail();
  out = negative ? -value : value;
  return true;
}

bool JsonCursor::skip_number() {
  if (at_ < end_ && *at_ == '-') ++at_;
  if (at_ == end_ || !is_digit(*at_)) return fail();
  if (*at_ == '0') {
    ++at_;
  } else {
    while (at_ < end_ && is_digit(*at_)) ++at_;
  }
  if (at_ < end_ && *at_ == '.') {
    ++at_;
    if (at_ == end_ || !is_digit(*at_)) return fail();
    while (at_ < end_ && is_digit(*at_)) ++at_;
  }
  if (at_ < end_ && (*at_ == 'e' || *at_ == 'E')) {
    ++at_;
    if (at_ < end_ && (*at_ == '+' || *at_ == '-')) ++at_;
    if (at_ == end_ || !is_digit(*at_)) return fail();
    while (at_ < end_ && is_digit(*at_)) ++at_;
  }
  if (at_ < end_ && is_digit(*at_)) return fail();  // "01"
  return true;
}

bool JsonCursor::expect_literal(std::string_view word) {
  if (static_cast<std::size_t>(end_ - at_) < word.size() ||
      std::string_view(at_, word.size()) != word) {
    return fail();
  }
  at_ += word.size();
  return true;
}

bool JsonCursor::read_bool(bool& out) {
  if (peek() != Kind::boolean) return fail();
  out = *at_ == 't';
  return out ? expect_literal("true") : expect_literal("false");
}

bool JsonCursor::read_null() {
  if (peek() != Kind::null) return fail();
  return expect_literal("null");
}

bool JsonCursor::read_string_or_null(std::string_view& out) {
  const Kind kind = peek();
  if (kind == Kind::null) return expect_literal("null");
  if (kind == Kind::string) return read_string_at_quote(out);
  return fail();
}

bool JsonCursor::skip_value() { return skip_value_at(0); }

bool JsonCursor::skip_value_at(int depth) {
  if (depth > kMaxDepth) return fail();
  switch (peek()) {
    case Kind::object: {
      begin_object();
      std::string_view key;
      while (next_key(key)) {
        if (!skip_value_at(depth + 1)) return false;
      }
      return !failed_;
    }
    case Kind::array: {
      begin_array();
      while (next_element()) {
        if (!skip_value_at(depth + 1)) return false;
      }
      return !failed_;
    }
    case Kind::string: {
      std::string_view ignored;
      return read_string(ignored);
    }
    case Kind::number:
      return skip_number();
    case Kind::boolean: {
      bool ignored = false;
      return read_bool(ignored);
    }
    case Kind::null:
      return expect_literal("null");
    case Kind::invalid:
      break;
  }
  return fail();
}

bool JsonCursor::finished() {
  if (failed_) return false;
  skip_whitespace();
  return at_ == end_;
}

}  // namespace switchyard::core
