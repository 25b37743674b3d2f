#include "core/sse_decoder.hpp"

#include <cstring>

namespace switchyard::core {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// A buffer that once held a very large event keeps its capacity after clear(); beyond this
// size it is released so one huge event does not pin memory for the rest of a long stream.
constexpr std::size_t kKeepCapacity = std::size_t{256} * 1024;

void clear_buffer(std::string& s) {
  if (s.capacity() > kKeepCapacity) {
    std::string().swap(s);
  } else {
    s.clear();
  }
}

// Position of `c` in [from, chunk.size()), or chunk.size(). memchr rather than a per-byte loop:
// data lines are long and line breaks rare, so the search is the decoder's hot loop.
std::size_t find_byte(std::string_view chunk, std::size_t from, char c) {
  if (from >= chunk.size()) return chunk.size();
  const void* hit = std::memchr(chunk.data() + from, c, chunk.size() - from);
  return hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - chunk.data())
             : chunk.size();
}

}  // namespace

void SseDecoder::overflow(std::size_t offset) {
  overflowed_ = true;
  overflow_offset_ = offset;
  std::string().swap(line_);
  std::string().swap(data_);
  std::string().swap(type_);
}

void SseDecoder::feed(std::string_view chunk, const OnEvent& on_event) {
  if (chunk.empty() || overflowed_) return;

  std::size_t pos = 0;
  if (last_was_cr_) {
    // The CR that ended the previous chunk already terminated its line; this LF is the second
    // half of that CRLF, not an empty line of its own.
    last_was_cr_ = false;
    if (chunk[0] == '\n') pos = 1;
  }

  // The next CR and LF are searched for separately and remembered, so each byte is scanned
  // once however the two interleave (most streams never contain a CR at all).
  std::size_t next_cr = find_byte(chunk, pos, '\r');
  std::size_t next_lf = find_byte(chunk, pos, '\n');

  while (pos < chunk.size()) {
    if (next_cr < pos) next_cr = find_byte(chunk, pos, '\r');
    if (next_lf < pos) next_lf = find_byte(chunk, pos, '\n');
    const std::size_t eol = next_cr < next_lf ? next_cr : next_lf;
    if (eol == chunk.size()) break;

    std::size_t after = eol + 1;
    if (chunk[eol] == '\r') {
      if (after < chunk.size()) {
        if (chunk[after] == '\n') ++after;
      } else {
        last_was_cr_ = true;
      }
    }

    const std::string_view tail = chunk.substr(pos, eol - pos);
    // The line alone, or the event's data with it, over the limit: stop before holding more.
    if (line_.size() + tail.size() + data_.size() > max_event_bytes_) {
      overflow(line_.empty() ? pos : 0);
      return;
    }
    if (line_.empty()) {
      process_line(tail, after, on_event);
    } else {
      line_.append(tail);
      process_line(line_, after, on_event);
      clear_buffer(line_);
    }
    pos = after;
  }

  if (pos < chunk.size()) {
    if (line_.size() + (chunk.size() - pos) + data_.size() > max_event_bytes_) {
      overflow(line_.empty() ? pos : 0);
      return;
    }
    line_.append(chunk.substr(pos));
  }
}

void SseDecoder::process_line(std::string_view line, std::size_t end_offset,
                              const OnEvent& on_event) {
  if (!bom_checked_) {
    // Only the first line can start at the beginning of the stream, where a BOM may sit.
    bom_checked_ = true;
    if (line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  }

  if (line.empty()) {
    if (has_data_) {
      SseEvent event;
      event.type = type_;
      event.data = data_;
      event.id = id_;
      event.end_offset = end_offset;
      on_event(event);
    }
    // Per WHATWG a blank line with an empty data buffer dispatches nothing but still resets
    // the event type.
    clear_buffer(data_);
    type_.clear();
    has_data_ = false;
    pending_fields_ = false;
    return;
  }

  if (line.front() == ':') return;  // comment (keep-alive)

  pending_fields_ = true;
  std::string_view name = line;
  std::string_view value;
  if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    name = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }

  if (name == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (name == "event") {
    type_.assign(value);
  } else if (name == "id") {
    // A NUL in the value makes WHATWG ignore the field. The id is the last-event-ID: it
    // persists across events until another id field changes it.
    if (value.find('\0') == std::string_view::npos) id_.assign(value);
  }
  // "retry" and unknown fields are ignored: the gateway never reconnects on its own.
}

bool SseDecoder::mid_event() const { return !line_.empty() || pending_fields_ || has_data_; }

void SseDecoder::reset() {
  std::string().swap(line_);
  std::string().swap(data_);
  type_.clear();
  id_.clear();
  has_data_ = false;
  pending_fields_ = false;
  last_was_cr_ = false;
  bom_checked_ = false;
  overflowed_ = false;
  overflow_offset_ = 0;
}

}  // namespace switchyard::core
