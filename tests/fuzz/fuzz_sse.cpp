// Fuzzes core::SseDecoder, which reads every upstream event stream, with the bytes cut into
// random reads. The invariant: the events reported (type, data, id, where each ends) are the
// same however the stream is cut, the one allowed difference being the CRLF whose LF opens the
// next read (the event is then reported at its CR: see SseEvent::end_offset). A decoder that
// was reset reads a stream exactly as a new one does.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/sse_decoder.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using switchyard::core::SseDecoder;
using switchyard::core::SseEvent;
namespace fuzz = switchyard::fuzz;

namespace {

struct Recorded {
  std::string type;
  std::string data;
  std::string id;
  std::size_t end = 0;  // offset in the whole stream just past the dispatching blank line
  bool operator==(const Recorded&) const = default;
};

struct Decoded {
  std::vector<Recorded> events;
  bool mid_event = false;
};

Decoded decode(SseDecoder& decoder, std::string_view stream, const std::vector<std::size_t>& cuts) {
  Decoded out;
  std::size_t start = 0;
  fuzz::for_each_piece(stream, cuts, [&](std::string_view piece) {
    std::size_t last_end = 0;
    decoder.feed(piece, [&](const SseEvent& e) {
      SWITCHYARD_FUZZ_CHECK(e.end_offset > 0 && e.end_offset <= piece.size());
      SWITCHYARD_FUZZ_CHECK(e.end_offset > last_end || last_end == 0);
      last_end = e.end_offset;
      out.events.push_back(
          {std::string(e.type), std::string(e.data), std::string(e.id), start + e.end_offset});
    });
    start += piece.size();
    return true;
  });
  out.mid_event = decoder.mid_event();
  return out;
}

bool same_event(const Recorded& whole, const Recorded& split, std::string_view stream) {
  if (whole.type != split.type || whole.data != split.data || whole.id != split.id) return false;
  if (whole.end == split.end) return true;
  return split.end + 1 == whole.end && stream[split.end - 1] == '\r' && stream[split.end] == '\n';
}

void check_same(const Decoded& whole, const Decoded& split, std::string_view stream) {
  SWITCHYARD_FUZZ_CHECK(whole.events.size() == split.events.size());
  for (std::size_t i = 0; i < whole.events.size(); ++i) {
    SWITCHYARD_FUZZ_CHECK(same_event(whole.events[i], split.events[i], stream));
  }
  SWITCHYARD_FUZZ_CHECK(whole.mid_event == split.mid_event);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input in = fuzz::read_input(data, size);
  const std::string_view stream = in.payload;

  SseDecoder decoder;
  const Decoded whole = decode(decoder, stream, {});
  for (std::size_t i = 1; i < whole.events.size(); ++i) {
    SWITCHYARD_FUZZ_CHECK(whole.events[i - 1].end < whole.events[i].end);
  }

  SseDecoder split;
  check_same(whole, decode(split, stream, fuzz::split_points(stream.size(), in.split_seed)),
             stream);
  if (stream.size() <= 1024) {
    SseDecoder byte_by_byte;
    check_same(whole, decode(byte_by_byte, stream, fuzz::split_points(stream.size(), 1)), stream);
  }

  decoder.reset();
  const Decoded again = decode(decoder, stream, {});
  SWITCHYARD_FUZZ_CHECK(again.events == whole.events && again.mid_event == whole.mid_event);
  return 0;
}
