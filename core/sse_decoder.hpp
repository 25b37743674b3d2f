#pragma once
// Incremental Server-Sent Events decoder (WHATWG HTML §9.2.5/9.2.6).
// Runs beside the relay: bytes arrive in arbitrary reads (an event, a line, a CRLF pair or a
// UTF-8 sequence may be split anywhere) and complete events are reported as they end.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace switchyard::core {

struct SseEvent {
  std::string_view type;  // value of the last "event:" field; empty when there was none
  std::string_view data;  // "data:" lines joined with '\n' (no trailing newline)
  std::string_view id;    // value of the last "id:" field; empty when there was none
  // Offset just past the blank line that dispatched this event, counted in the chunk passed to
  // the feed() call that reported it. Lets a relay forward or drop whole events by byte range.
  // An event is reported as soon as its blank line is recognised: when that line ends in a CR
  // that is the last byte of a chunk, end_offset is chunk.size() and the LF that may open the
  // next chunk is skipped as the rest of that CRLF (it then leads the next event's bytes).
  std::size_t end_offset = 0;
};

class SseDecoder {
 public:
  using OnEvent = std::function<void(const SseEvent&)>;
  static constexpr std::size_t kDefaultMaxEventBytes = 4u << 20;

  // `max_event_bytes` bounds what the decoder holds: a line, or an event's data, longer than
  // that stops the decoding (overflowed()), so a peer that never ends a line cannot make it
  // buffer without end.
  explicit SseDecoder(std::size_t max_event_bytes = kDefaultMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}

  // Consumes `chunk`; calls on_event for each event completed inside it, in order. The views
  // in SseEvent are valid only during the callback. After an overflow, does nothing.
  void feed(std::string_view chunk, const OnEvent& on_event);

  // A line or an event passed max_event_bytes; what it held is released.
  bool overflowed() const { return overflowed_; }
  // After the feed() that overflowed: how many bytes of that chunk came before the line that
  // overflowed (every line before it was complete and processed).
  std::size_t overflow_offset() const { return overflow_offset_; }

  // True while bytes of an event that has not been dispatched yet are buffered (a relay that
  // forwards whole events uses this to know the tail of the last read is still pending).
  bool mid_event() const;

  void reset();

 private:
  void process_line(std::string_view line, std::size_t end_offset, const OnEvent& on_event);
  void overflow(std::size_t offset);

  std::string line_;  // partial line carried over between feeds
  std::string data_;  // data buffer of the event being built
  std::string type_;
  std::string id_;
  bool has_data_ = false;        // at least one data: line seen (data may still be empty)
  bool pending_fields_ = false;  // any non-comment line seen since the last dispatch
  bool last_was_cr_ = false;     // previous chunk ended in CR: a leading LF is part of that break
  bool bom_checked_ = false;
  bool overflowed_ = false;
  std::size_t max_event_bytes_;
  std::size_t overflow_offset_ = 0;
};

}  // namespace switchyard::core
