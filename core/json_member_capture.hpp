#pragma once
// Finds one member of a JSON object's top level in a document that arrives in pieces, and
// keeps a copy of its raw value, without holding the document. For answers relayed as they
// arrive (a pass-through answer too large to buffer): the usage object is read beside the
// relay. Strings and escapes are tracked so a key or brace inside a string is never taken for
// structure; the document is not validated beyond that (it goes to the client as it is).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard::core {

class JsonMemberCapture {
 public:
  // `name` is compared with the raw (unescaped-as-sent) key; `max_value_bytes` bounds the
  // copy: a longer value is given up on.
  JsonMemberCapture(std::string name, std::size_t max_value_bytes);

  void feed(std::string_view piece);

  // The member's raw value (whitespace around it trimmed) once it has been read whole;
  // nullopt while not (yet) found, when it was longer than the bound, or when the document is
  // not an object. A repeated member: the last one.
  std::optional<std::string_view> value() const;

 private:
  enum class State {
    before_root,  // whitespace before the top-level '{'
    key_or_end,   // depth 1, where a key (or the closing brace) may start
    in_key,
    after_key,   // between a key and its ':'
    in_value,    // a member's value at depth >= 1
    not_object,  // the document is not an object: nothing to find
  };
  void finish_value();

  std::string name_;
  std::size_t max_value_bytes_;
  State state_ = State::before_root;
  std::size_t depth_ = 0;   // nesting inside the value (0: the value itself is at depth 1)
  bool in_string_ = false;  // inside a string of the current value
  bool escape_ = false;     // the previous byte was a backslash inside a string
  std::string key_;         // the key being read, up to name_.size() + 1 bytes
  bool key_too_long_ = false;
  bool capturing_ = false;
  bool too_long_ = false;
  std::string current_;  // the value being captured
  std::string found_;
  bool has_found_ = false;
};

}  // namespace switchyard::core
