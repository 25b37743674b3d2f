#pragma once
// UTF-8 checks for text the gateway writes into JSON strings: Boost.JSON escapes control
// characters but copies other bytes as they are, so mis-encoded text (an upstream's binary
// body, say) would make the document that quotes it invalid JSON.
#include <cstddef>
#include <string>
#include <string_view>

namespace switchyard::core {

// Length of the well-formed UTF-8 sequence starting at text[at], or 0 when the bytes there are
// not one (overlong forms, surrogates, code points past U+10FFFF and cut sequences are not).
std::size_t utf8_sequence_length(std::string_view text, std::size_t at);

// Whether the whole text is well-formed UTF-8.
bool is_valid_utf8(std::string_view text);

// The text with every ill-formed part replaced by U+FFFD, one per maximal subpart (Unicode
// §3.9, as browsers and Python decode): a sequence cut short is one replacement, each byte
// that cannot start or continue a sequence is one.
std::string valid_utf8(std::string_view text);

}  // namespace switchyard::core
