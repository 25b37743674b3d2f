#include "adapters/thought_signature.hpp"

#include <array>
#include <cstdint>
#include <optional>

#include "core/utf8.hpp"

namespace switchyard::adapters {

namespace {

// Between the id and the signature. Generated ids (call_, toolu_ + alphanumerics) never hold
// it; the first occurrence is the split point, as base64url may contain it later on.
constexpr std::string_view kMarker = "__thought__";

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1]))
                                << 8 |
                            static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    if (rest == 2) out.push_back(kAlphabet[(n >> 6) & 63]);
  }
  return out;  // unpadded: '=' is not an id character
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i)
    value[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const int v = value[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    bits = bits << 6 | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  // Leftover bits must be zero, or the text was not written by base64url_encode.
  if ((bits & ((1u << count) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace

std::string id_with_thought_signature(std::string_view id, std::string_view signature) {
  std::string out(id);
  if (signature.empty()) return out;
  out.append(kMarker).append(base64url_encode(signature));
  return out;
}

SignedCallId split_thought_signature(std::string_view id) {
  const std::size_t at = id.find(kMarker);
  if (at == std::string_view::npos) return {std::string(id), {}};
  auto signature = base64url_decode(id.substr(at + kMarker.size()));
  // A signature Gemini wrote is a JSON string, so UTF-8; bytes that are not were forged by the
  // client, and copied into the next request they would make it invalid JSON.
  if (!signature || signature->empty() || !core::is_valid_utf8(*signature))
    return {std::string(id), {}};
  return {std::string(id.substr(0, at)), std::move(*signature)};
}

std::string id_without_thought_signature(std::string_view id) {
  return split_thought_signature(id).id;
}

}  // namespace switchyard::adapters
