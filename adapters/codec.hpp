#pragma once
// What every protocol codec offers, for the pipeline to drive translation without knowing
// which protocols met. A codec is a set of pure functions and small state machines; it never
// does I/O. Each protocol's file pair (openai, responses, anthropic, gemini) implements the
// parts that apply to it.
#include <string>
#include <string_view>
#include <vector>

#include "adapters/canonical.hpp"
#include "core/result.hpp"
#include "core/sse_decoder.hpp"

namespace switchyard::adapters {

// Decoding a client's request: errors are 400s in the client's terms. Decoding a provider's
// answer: errors are 502s with code bad_upstream_response (not JSON, or a field of the wrong
// JSON type), never an empty answer.
template <class T>
using Decoded = core::Result<T, core::GatewayError>;

// Appends the error event that ends a stream; the decoder that appends it reads no more.
inline void push_stream_error(std::vector<StreamEvent>& out, core::GatewayError error) {
  StreamEvent& e = out.emplace_back();
  e.kind = StreamEvent::Kind::error;
  e.error = std::move(error);
}

// Turns a provider's stream, event by event, into canonical events. An event with a field of
// the wrong JSON type becomes an error event (502, bad_upstream_response); after any error
// event, including the provider's own, the decoder emits nothing more.
class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  virtual void on_event(const core::SseEvent& event, std::vector<StreamEvent>& out) = 0;
  // The upstream body ended cleanly. A stream that never sent its final event was cut: an
  // error event (502, upstream_stream_truncated) rather than a normal finish.
  virtual void on_end(std::vector<StreamEvent>& out) { (void)out; }
};

// Turns canonical events into the client's stream, as SSE bytes appended to `out`.
class StreamEncoder {
 public:
  virtual ~StreamEncoder() = default;
  virtual void encode(const StreamEvent& event, std::string& out) = 0;
  // The answer is complete: close what is open and write the protocol's ending.
  virtual void finish(std::string& out) = 0;
  // The upstream failed after the stream started: a well-formed in-band error, then the end.
  virtual void fail(const core::GatewayError& error, std::string& out) = 0;
};

}  // namespace switchyard::adapters
