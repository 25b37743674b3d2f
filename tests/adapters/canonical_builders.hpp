#pragma once
// What the codec tests share: reading fixtures, building canonical parts, messages and stream
// events in one line each, and checking how a decoder refuses a provider's broken answer.
#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "adapters/canonical.hpp"
#include "adapters/codec.hpp"

namespace switchyard::adapters::test {

// A protocol's short name, for test messages and fixture names.
inline const char* name_of(Protocol p) {
  switch (p) {
    case Protocol::openai_chat:
      return "chat";
    case Protocol::openai_responses:
      return "responses";
    case Protocol::anthropic_messages:
      return "messages";
    case Protocol::gemini:
      return "gemini";
  }
  return "?";
}

// A file under tests/fixtures, whole; a missing file fails the test.
inline std::string fixture(const std::string& path) {
  std::ifstream in(std::string(SWITCHYARD_FIXTURES) + "/" + path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline Part text_part(std::string text) {
  Part p;
  p.text = std::move(text);
  return p;
}

inline Part image_part(std::string url, std::string media_type, std::string data) {
  Part p;
  p.kind = Part::Kind::image;
  p.image = Image{std::move(url), std::move(media_type), std::move(data)};
  return p;
}

inline Part tool_call(std::string id, std::string name, std::string arguments) {
  Part p;
  p.kind = Part::Kind::tool_call;
  p.id = std::move(id);
  p.name = std::move(name);
  p.arguments = std::move(arguments);
  return p;
}

inline Message tool_message(std::string id, std::string text, bool is_error = false) {
  Part p;
  p.kind = Part::Kind::tool_result;
  p.id = std::move(id);
  p.text = std::move(text);
  p.is_error = is_error;
  return Message{Message::Role::tool, {std::move(p)}};
}

inline StreamEvent ev(StreamEvent::Kind kind, std::string text = {}, int index = 0) {
  StreamEvent e;
  e.kind = kind;
  e.text = std::move(text);
  e.index = index;
  return e;
}

inline StreamEvent call_start(int index, std::string id, std::string name,
                              std::string arguments = {}) {
  StreamEvent e = ev(StreamEvent::Kind::tool_call_start, std::move(arguments), index);
  e.id = std::move(id);
  e.name = std::move(name);
  return e;
}

inline StreamEvent finish_ev(FinishReason reason) {
  StreamEvent e = ev(StreamEvent::Kind::finish);
  e.finish = reason;
  return e;
}

inline StreamEvent usage_ev(std::int64_t prompt, std::int64_t completion, std::int64_t cached,
                            std::int64_t reasoning) {
  StreamEvent e = ev(StreamEvent::Kind::usage);
  e.usage.prompt_tokens = prompt;
  e.usage.completion_tokens = completion;
  e.usage.cached_prompt_tokens = cached;
  e.usage.reasoning_tokens = reasoning;
  return e;
}

// A provider's whole answer refused as unreadable (translate_response makes it the client's
// 502), with a message that names `field`.
inline void check_answer_refused(const Decoded<Response>& decoded, const std::string& field) {
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().status == 502);
  CHECK(decoded.error().code == "bad_upstream_response");
  CHECK(decoded.error().source == core::ErrorSource::upstream);
  INFO(decoded.error().message);
  CHECK(decoded.error().message.find("'" + field + "'") != std::string::npos);
}

// A decoded stream that ends with the unreadable-answer error naming `field`, the only error.
inline void check_stream_refused(const std::vector<StreamEvent>& events, const std::string& field) {
  REQUIRE(!events.empty());
  const StreamEvent& last = events.back();
  REQUIRE(last.kind == StreamEvent::Kind::error);
  CHECK(last.error.status == 502);
  CHECK(last.error.type == "server_error");
  CHECK(last.error.code == "bad_upstream_response");
  CHECK(last.error.source == core::ErrorSource::upstream);
  INFO(last.error.message);
  CHECK(last.error.message.find("'" + field + "'") != std::string::npos);
  for (std::size_t i = 0; i + 1 < events.size(); ++i)
    CHECK(events[i].kind != StreamEvent::Kind::error);
}

// A decoded stream that ends with the error for a stream cut before its final event.
inline void check_stream_truncated(const std::vector<StreamEvent>& events) {
  REQUIRE(!events.empty());
  const StreamEvent& last = events.back();
  REQUIRE(last.kind == StreamEvent::Kind::error);
  CHECK(last.error.status == 502);
  CHECK(last.error.type == "server_error");
  CHECK(last.error.code == "upstream_stream_truncated");
  CHECK(last.error.source == core::ErrorSource::upstream);
  CHECK(last.error.message == "The upstream provider's stream ended before its final event.");
  for (std::size_t i = 0; i + 1 < events.size(); ++i)
    CHECK(events[i].kind != StreamEvent::Kind::error);
}

}  // namespace switchyard::adapters::test
