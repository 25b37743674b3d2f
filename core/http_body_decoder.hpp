#pragma once
// Incremental decoder for an HTTP/1.1 response body, for the relay. The body arrives in reads
// of any size (a chunk-size line, a CRLF, or the data of a chunk may be split anywhere) and
// is reported as views into each read, so relaying copies nothing and keeps no buffer of its
// own. Framing comes from the response head: Content-Length, chunked, or until the server
// closes the connection (RFC 9112 §6.3).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace switchyard::core {

class HttpBodyDecoder {
 public:
  enum class Framing { length, chunked, until_close };

  // Bounds on what a chunk-size line (with extensions) and one trailer line may hold, so a
  // peer that never sends the line's end cannot make the reader scan (or wait) without end.
  static constexpr std::size_t kMaxLineBytes = 4096;
  static constexpr std::size_t kDefaultMaxTrailerBytes = std::size_t{64} * 1024;

  static HttpBodyDecoder with_length(std::uint64_t length);
  // `max_trailer_bytes` bounds the whole trailer section (all its lines together).
  static HttpBodyDecoder chunked(std::size_t max_trailer_bytes = kDefaultMaxTrailerBytes);
  static HttpBodyDecoder until_close();

  // Consumes the body's bytes from `input`, calling on_data(std::string_view) for each piece
  // of body data found (views into `input`, valid during the call). Returns how many bytes of
  // `input` belong to the body: fewer than input.size() only once the body is complete (the
  // rest belongs to whatever follows it). On malformed framing returns 0 and error() says why.
  template <class OnData>
  std::size_t feed(std::string_view input, OnData&& on_data);

  bool done() const { return state_ == State::done; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  Framing framing() const { return framing_; }

  // The server closed the connection: for an until-close body that is its end; for the
  // other framings it means the body was cut short. Returns whether the body is complete.
  bool on_eof();

 private:
  enum class State {
    size,
    extension,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailer_start,
    trailer_line,
    trailer_lf,
    done,
    until_close
  };
  explicit HttpBodyDecoder(Framing framing) : framing_(framing) {}
  std::size_t fail_with(const char* why);

  Framing framing_;
  State state_ = State::size;
  std::uint64_t remaining_ = 0;  // body bytes left (length) or data left in this chunk
  std::size_t line_bytes_ = 0;   // size digits, extension or trailer bytes seen on this line
  std::size_t trailer_bytes_ = 0;
  std::size_t max_trailer_bytes_ = kDefaultMaxTrailerBytes;
  bool size_has_digit_ = false;
  std::string error_;
};

template <class OnData>
std::size_t HttpBodyDecoder::feed(std::string_view input, OnData&& on_data) {
  if (failed()) return 0;
  std::size_t i = 0;
  const std::size_t n = input.size();
  while (i < n && state_ != State::done) {
    switch (state_) {
      case State::until_close:
        on_data(input.substr(i));
        return n;
      case State::data: {
        const std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n - i));
        if (take > 0) on_data(input.substr(i, take));
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = framing_ == Framing::length ? State::done : State::data_cr;
        break;
      }
      case State::size: {
        const char c = input[i];
        int digit = -1;
        if (c >= '0' && c <= '9')
          digit = c - '0';
        else if (c >= 'a' && c <= 'f')
          digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
          digit = c - 'A' + 10;
        if (digit >= 0) {
          if (remaining_ > (UINT64_MAX >> 4)) return fail_with("chunk size overflows");
          remaining_ = (remaining_ << 4) | static_cast<std::uint64_t>(digit);
          size_has_digit_ = true;
          if (++line_bytes_ > kMaxLineBytes) return fail_with("chunk size line too long");
          ++i;
        } else if (!size_has_digit_) {
          return fail_with("chunk size expected");
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::extension;
        } else if (c == '\r') {
          state_ = State::size_lf;
          ++i;
        } else if (c == '\n') {
          state_ = State::size_lf;  // a bare LF ends the line too
        } else {
          return fail_with("invalid character in chunk size");
        }
        break;
      }
      case State::extension: {
        const char c = input[i];
        if (c == '\r') {
          state_ = State::size_lf;
        } else if (c == '\n') {
          state_ = State::size_lf;
          break;  // handled as the line's LF
        } else if (++line_bytes_ > kMaxLineBytes) {
          return fail_with("chunk extension too long");
        }
        ++i;
        break;
      }
      case State::size_lf:
        if (input[i] != '\n') return fail_with("chunk size line must end in CRLF");
        ++i;
        line_bytes_ = 0;
        size_has_digit_ = false;
        state_ = remaining_ == 0 ? State::trailer_start : State::data;
        break;
      case State::data_cr:
        if (input[i] == '\r') {
          state_ = State::data_lf;
          ++i;
        } else if (input[i] == '\n') {
          state_ = State::data_lf;
        } else {
          return fail_with("chunk data must end in CRLF");
        }
        break;
      case State::data_lf:
        if (input[i] != '\n') return fail_with("chunk data must end in CRLF");
        ++i;
        state_ = State::size;
        break;
      case State::trailer_start:
        // After the last chunk: an empty line ends the body; anything else is a trailer field.
        if (++trailer_bytes_ > max_trailer_bytes_) return fail_with("trailer section too large");
        if (input[i] == '\r') {
          state_ = State::trailer_lf;
          ++i;
        } else if (input[i] == '\n') {
          ++i;
          state_ = State::done;
        } else {
          state_ = State::trailer_line;
          line_bytes_ = 0;
        }
        break;
      case State::trailer_line:
        if (input[i] == '\n') {
          state_ = State::trailer_start;
        } else if (++line_bytes_ > kMaxLineBytes) {
          return fail_with("trailer field too long");
        } else if (++trailer_bytes_ > max_trailer_bytes_) {
          return fail_with("trailer section too large");
        }
        ++i;
        break;
      case State::trailer_lf:
        if (input[i] != '\n') return fail_with("trailer section must end in CRLF");
        ++i;
        state_ = State::done;
        break;
      case State::done:
        break;
    }
  }
  return i;
}

}  // namespace switchyard::core
