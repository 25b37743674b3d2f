#include "core/utf8.hpp"

namespace switchyard::core {

namespace {

struct Utf8Step {
  std::size_t length;  // bytes taken: the whole sequence, or its ill-formed maximal subpart
  bool valid;
};

Utf8Step next_sequence(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) return {1, true};
  std::size_t length = 0;
  unsigned char lo = 0x80;  // the range of the second byte; later ones are 0x80..0xBF
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) lo = 0xA0;  // no overlong forms
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) lo = 0x90;  // no overlong forms
    if (lead == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return {1, false};  // a continuation byte, C0, C1 or F5..FF: never a lead
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (at + k >= text.size()) return {k, false};
    const unsigned char b = byte(at + k);
    const bool fits = k == 1 ? b >= lo && b <= hi : b >= 0x80 && b <= 0xBF;
    if (!fits) return {k, false};
  }
  return {length, true};
}

}  // namespace

std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  const Utf8Step step = next_sequence(text, at);
  return step.valid ? step.length : 0;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const Utf8Step step = next_sequence(text, i);
    if (!step.valid) return false;
    i += step.length;
  }
  return true;
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const Utf8Step step = next_sequence(text, i);
    if (step.valid) {
      out.append(text.substr(i, step.length));
    } else {
      out.append("\xEF\xBF\xBD");
    }
    i += step.length;
  }
  return out;
}

}  // namespace switchyard::core
