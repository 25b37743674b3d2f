#include "core/http_body_decoder.hpp"

namespace switchyard::core {

HttpBodyDecoder HttpBodyDecoder::with_length(std::uint64_t length) {
  HttpBodyDecoder d(Framing::length);
  d.remaining_ = length;
  d.state_ = length == 0 ? State::done : State::data;
  return d;
}

HttpBodyDecoder HttpBodyDecoder::chunked(std::size_t max_trailer_bytes) {
  HttpBodyDecoder d(Framing::chunked);
  d.max_trailer_bytes_ = max_trailer_bytes;
  return d;
}

HttpBodyDecoder HttpBodyDecoder::until_close() {
  HttpBodyDecoder d(Framing::until_close);
  d.state_ = State::until_close;
  return d;
}

bool HttpBodyDecoder::on_eof() {
  if (state_ == State::until_close) state_ = State::done;
  return state_ == State::done;
}

std::size_t HttpBodyDecoder::fail_with(const char* why) {
  error_ = why;
  return 0;
}

}  // namespace switchyard::core
