// Fuzzes core::HttpBodyDecoder, which frames an upstream's response body, in its three
// framings (chunked, Content-Length, until close) with the bytes cut into random reads. The
// decoder keeps no buffer and reports views into each read, so the checks are: views stay
// inside the read they came from, the outcome (data, bytes consumed, done, error) is the same
// however the body is cut, and a body this harness chunk-encodes itself always decodes back.
//
// Selector: bits 0-1 the case (0 chunked, 1 Content-Length = param, 2 until close, 3 the
// payload chunk-encoded here then decoded); bit 2 the connection closes after the last read.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/http_body_decoder.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using switchyard::core::HttpBodyDecoder;
namespace fuzz = switchyard::fuzz;

namespace {

struct Outcome {
  std::string data;
  std::size_t consumed = 0;
  bool done = false;
  bool complete_at_eof = false;
  std::string error;

  bool operator==(const Outcome&) const = default;
};

HttpBodyDecoder make_decoder(int framing, std::uint32_t length) {
  switch (framing) {
    case 1:
      return HttpBodyDecoder::with_length(length);
    case 2:
      return HttpBodyDecoder::until_close();
    default:
      return HttpBodyDecoder::chunked();
  }
}

Outcome decode(HttpBodyDecoder decoder, std::string_view wire, const std::vector<std::size_t>& cuts,
               bool eof) {
  Outcome out;
  fuzz::for_each_piece(wire, cuts, [&](std::string_view piece) {
    const std::size_t used = decoder.feed(piece, [&](std::string_view data) {
      SWITCHYARD_FUZZ_CHECK(data.data() >= piece.data() &&
                            data.data() + data.size() <= piece.data() + piece.size());
      SWITCHYARD_FUZZ_CHECK(!data.empty());
      out.data.append(data);
    });
    SWITCHYARD_FUZZ_CHECK(used <= piece.size());
    // A read is taken whole unless the body ended inside it (or the framing was bad).
    SWITCHYARD_FUZZ_CHECK(used == piece.size() || decoder.done() || decoder.failed());
    out.consumed += used;
    return !decoder.done() && !decoder.failed();
  });
  SWITCHYARD_FUZZ_CHECK(!(decoder.done() && decoder.failed()));
  SWITCHYARD_FUZZ_CHECK(out.data.size() <= out.consumed || decoder.failed());
  out.done = decoder.done();
  out.error = decoder.error();
  // The read that finds bad framing reports 0 bytes used, whatever the reads before it used.
  if (decoder.failed()) out.consumed = 0;
  if (eof) out.complete_at_eof = decoder.on_eof();
  return out;
}

// The payload as a chunked body with chunks, extensions, line endings and trailers the seed
// picks, followed by a few bytes of whatever comes next on the connection.
std::string chunk_encode(std::string_view payload, std::uint32_t seed) {
  std::string wire;
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 7;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  auto eol = [&] { return (next() & 3) == 0 ? "\n" : "\r\n"; };
  auto hex = [&](std::size_t n) {
    const char* digits = (next() & 1) ? "0123456789abcdef" : "0123456789ABCDEF";
    std::string s;
    do {
      s.insert(s.begin(), digits[n & 15]);
      n >>= 4;
    } while (n > 0);
    if ((next() & 7) == 0) s.insert(0, "00");  // leading zeros are allowed
    return s;
  };
  auto extension = [&] {
    switch (next() % 6) {
      case 0:
        return std::string(";name=value");
      case 1:
        return std::string(";q=\"quoted; value\"");
      case 2:
        return std::string(" ;x");
      default:
        return std::string();
    }
  };
  std::size_t at = 0;
  while (at < payload.size()) {
    const std::size_t take = std::min<std::size_t>(payload.size() - at, 1 + next() % 300);
    wire += hex(take) + extension() + eol();
    wire.append(payload.substr(at, take));
    wire += eol();
    at += take;
  }
  wire += "0" + extension() + eol();
  if ((next() & 3) == 0) wire += std::string("X-Trailer: yes") + eol();
  wire += eol();
  wire += "HTTP/1.1 200 OK\r\n";
  return wire;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input in = fuzz::read_input(data, size);
  const int framing = in.selector & 3;
  const bool eof = (in.selector & 4) != 0;

  if (framing == 3) {
    const std::string wire = chunk_encode(in.payload, in.param);
    const Outcome split = decode(HttpBodyDecoder::chunked(), wire,
                                 fuzz::split_points(wire.size(), in.split_seed), eof);
    SWITCHYARD_FUZZ_CHECK(split.error.empty());
    SWITCHYARD_FUZZ_CHECK(split.done);
    SWITCHYARD_FUZZ_CHECK(split.data == in.payload);
    SWITCHYARD_FUZZ_CHECK(split.consumed ==
                          wire.size() - std::string_view("HTTP/1.1 200 OK\r\n").size());
    return 0;
  }

  const Outcome whole = decode(make_decoder(framing, in.param), in.payload, {}, eof);
  const Outcome split = decode(make_decoder(framing, in.param), in.payload,
                               fuzz::split_points(in.payload.size(), in.split_seed), eof);
  SWITCHYARD_FUZZ_CHECK(whole == split);

  if (framing == 1) {
    SWITCHYARD_FUZZ_CHECK(whole.data.size() <= in.param);
    SWITCHYARD_FUZZ_CHECK(whole.done == (whole.data.size() == in.param));
    SWITCHYARD_FUZZ_CHECK(whole.error.empty());
  } else if (framing == 2) {
    SWITCHYARD_FUZZ_CHECK(whole.data == in.payload);
    SWITCHYARD_FUZZ_CHECK(!whole.done && whole.error.empty());
    SWITCHYARD_FUZZ_CHECK(whole.complete_at_eof == eof);
  }
  return 0;
}
