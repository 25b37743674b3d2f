#pragma once
// What the fuzzers of tests/fuzz share: the layout of an input that carries control bytes
// before its payload, the splitting of a payload into reads as a socket would deliver them,
// and exact-size copies so that AddressSanitizer sees any read past the end of a read.
//
// Layout of an input with a header (the seed generator, make_seeds.cpp, writes the same):
//   byte 0      selector: which variant to run (protocol pair, framing, body shape, flags)
//   bytes 1..4  param, little-endian: a number the variant needs (a Content-Length, a status)
//   bytes 5..8  split seed, little-endian: how the payload is cut into reads
//   bytes 9..   payload
// A shorter input reads the missing header bytes as zero and has an empty payload.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::fuzz {

inline constexpr std::size_t kHeaderBytes = 9;

struct Input {
  std::uint8_t selector = 0;
  std::uint32_t param = 0;
  std::uint32_t split_seed = 0;
  std::string_view payload;
};

inline Input read_input(const std::uint8_t* data, std::size_t size) {
  std::uint8_t header[kHeaderBytes] = {};
  std::memcpy(header, data, std::min(size, kHeaderBytes));
  auto u32 = [&](std::size_t at) {
    return static_cast<std::uint32_t>(header[at]) |
           static_cast<std::uint32_t>(header[at + 1]) << 8 |
           static_cast<std::uint32_t>(header[at + 2]) << 16 |
           static_cast<std::uint32_t>(header[at + 3]) << 24;
  };
  Input in;
  in.selector = header[0];
  in.param = u32(1);
  in.split_seed = u32(5);
  if (size > kHeaderBytes) {
    in.payload =
        std::string_view(reinterpret_cast<const char*>(data) + kHeaderBytes, size - kHeaderBytes);
  }
  return in;
}

inline std::string make_input(std::uint8_t selector, std::uint32_t param, std::uint32_t split_seed,
                              std::string_view payload) {
  std::string out;
  out.push_back(static_cast<char>(selector));
  for (std::uint32_t v : {param, split_seed}) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  out.append(payload);
  return out;
}

// Where to cut `size` bytes into reads. Seed 0: one read. A seed whose low byte is 1: one byte
// per read (every CR/LF pair, UTF-8 sequence and chunk-size line split). Otherwise pieces of
// random length up to a maximum the seed also picks, so both tiny and large reads occur.
inline std::vector<std::size_t> split_points(std::size_t size, std::uint32_t seed) {
  std::vector<std::size_t> cuts;  // ascending, each in (0, size)
  if (seed == 0 || size < 2) return cuts;
  if ((seed & 0xff) == 1) {
    for (std::size_t i = 1; i < size; ++i) cuts.push_back(i);
    return cuts;
  }
  const std::size_t max_piece = 1 + ((seed >> 8) & 0x3f) * ((seed & 0x80) ? 64 : 1);
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  std::size_t at = 0;
  while (true) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    at += 1 + static_cast<std::size_t>(state % max_piece);
    if (at >= size) break;
    cuts.push_back(at);
  }
  return cuts;
}

// A read's bytes in a heap block of exactly their size: a view that runs past the read is then
// a heap-buffer-overflow ASan reports, where a slice of the whole input would hide it.
class ExactCopy {
 public:
  explicit ExactCopy(std::string_view bytes)
      : size_(bytes.size()), data_(new char[std::max<std::size_t>(size_, 1)]) {
    if (size_ > 0) std::memcpy(data_.get(), bytes.data(), size_);
  }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  std::size_t size_;
  std::unique_ptr<char[]> data_;
};

// Calls on_piece(std::string_view) for each read of `payload` cut at `cuts`, each read an
// ExactCopy that is freed right after the call (so a view kept past it is a use-after-free).
template <class OnPiece>
void for_each_piece(std::string_view payload, const std::vector<std::size_t>& cuts,
                    OnPiece&& on_piece) {
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : payload.size();
    const ExactCopy piece(payload.substr(from, to - from));
    if (!on_piece(piece.view())) return;
    from = to;
  }
}

// A broken invariant is a crash, so libFuzzer saves the input; the message says which.
[[noreturn]] inline void invariant_failed(const char* what) {
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
  std::abort();
}

#define SWITCHYARD_FUZZ_CHECK(condition)                                \
  do {                                                                  \
    if (!(condition)) ::switchyard::fuzz::invariant_failed(#condition); \
  } while (false)

}  // namespace switchyard::fuzz
