#include "core/json_member_capture.hpp"

namespace switchyard::core {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trimmed(std::string_view v) {
  while (!v.empty() && is_space(v.front())) v.remove_prefix(1);
  while (!v.empty() && is_space(v.back())) v.remove_suffix(1);
  return v;
}

}  // namespace

JsonMemberCapture::JsonMemberCapture(std::string name, std::size_t max_value_bytes)
    : name_(std::move(name)), max_value_bytes_(max_value_bytes) {}

void JsonMemberCapture::finish_value() {
  if (capturing_ && !too_long_) {
    found_.assign(trimmed(current_));
    has_found_ = true;
  }
  capturing_ = false;
  std::string().swap(current_);
}

void JsonMemberCapture::feed(std::string_view piece) {
  const std::size_t n = piece.size();
  std::size_t i = 0;
  while (i < n) {
    const char c = piece[i];
    switch (state_) {
      case State::before_root:
        if (c == '{')
          state_ = State::key_or_end;
        else if (!is_space(c))
          state_ = State::not_object;
        ++i;
        break;
      case State::key_or_end:
        if (c == '"') {
          state_ = State::in_key;
          key_.clear();
          key_too_long_ = false;
          escape_ = false;
        } else if (c == '}') {
          state_ = State::not_object;  // the object ended: nothing more to find
        }
        ++i;
        break;
      case State::in_key:
        if (escape_) {
          escape_ = false;
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          state_ = State::after_key;
          ++i;
          break;
        }
        if (key_.size() <= name_.size())
          key_.push_back(c);
        else
          key_too_long_ = true;
        ++i;
        break;
      case State::after_key:
        if (c == ':') {
          state_ = State::in_value;
          capturing_ = !key_too_long_ && key_ == name_;
          too_long_ = false;
          depth_ = 0;
          in_string_ = false;
          escape_ = false;
          current_.clear();
        }
        ++i;
        break;
      case State::in_value: {
        if (in_string_) {
          if (escape_) {
            escape_ = false;
          } else if (c == '\\') {
            escape_ = true;
          } else if (c == '"') {
            in_string_ = false;
          } else if (!capturing_) {
            // Skip the rest of a string that is not kept to its next quote or backslash.
            std::size_t j = i + 1;
            while (j < n && piece[j] != '"' && piece[j] != '\\') ++j;
            i = j;
            break;
          }
        } else if (c == '"') {
          in_string_ = true;
        } else if (c == '{' || c == '[') {
          ++depth_;
        } else if (c == '}' || c == ']' || c == ',') {
          if (depth_ == 0) {
            // The end of this member's value: ',' starts the next member, '}' ends the object.
            finish_value();
            state_ = c == ',' ? State::key_or_end : State::not_object;
            ++i;
            break;
          }
          if (c != ',') --depth_;
        }
        if (capturing_ && !too_long_) {
          current_.push_back(c);
          if (current_.size() > max_value_bytes_) {
            too_long_ = true;
            std::string().swap(current_);
          }
        }
        ++i;
        break;
      }
      case State::not_object:
        return;
    }
  }
}

std::optional<std::string_view> JsonMemberCapture::value() const {
  if (!has_found_) return std::nullopt;
  return std::string_view(found_);
}

}  // namespace switchyard::core
