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

template <class T>
using Decoded = core::Result<T, core::GatewayError>;  // errors are 400s in the client's terms

// Turns a provider's stream, event by event, into canonical events.
class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  virtual void on_event(const core::SseEvent& event, std::vector<StreamEvent>& out) = 0;
  // The upstream body ended (some protocols end only by closing the stream).
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
