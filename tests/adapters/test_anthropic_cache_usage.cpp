// Anthropic's cache writes by lifetime (usage.cache_creation.ephemeral_5m_input_tokens and
// ephemeral_1h_input_tokens), read in answers and streams, pass-through and translated: the
// 1-hour writes cost more, so the gateway must know their share to price a request.
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/anthropic.hpp"
#include "core/sse_decoder.hpp"

using namespace switchyard;
using namespace switchyard::adapters;

namespace {

// A Messages answer as Anthropic sends it with a 5-minute and a 1-hour cache breakpoint.
constexpr std::string_view kAnswer = R"({"id":"msg_1","type":"message","role":"assistant",
  "model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hi"}],
  "stop_reason":"end_turn","stop_sequence":null,
  "usage":{"input_tokens":20,"cache_creation_input_tokens":3000,"cache_read_input_tokens":500,
           "cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},
           "output_tokens":7,"service_tier":"standard"}})";

// The same answer streamed: the counts in message_start, the cumulative output in message_delta.
constexpr std::string_view kStream =
    "event: message_start\n"
    R"(data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":3000,"cache_read_input_tokens":500,"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},"output_tokens":1}}})"
    "\n\n"
    "event: content_block_start\n"
    R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})"
    "\n\n"
    "event: content_block_stop\n"
    R"(data: {"type":"content_block_stop","index":0})"
    "\n\n"
    "event: message_delta\n"
    R"(data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}})"
    "\n\n"
    "event: message_stop\n"
    R"(data: {"type":"message_stop"})"
    "\n\n";

void check_breakdown(const core::Usage& u) {
  CHECK(u.prompt_tokens == 20 + 3000 + 500);
  CHECK(u.cached_prompt_tokens == 500);
  CHECK(u.cache_creation_tokens == 3000);
  CHECK(u.cache_creation_1h_tokens == 2000);
  CHECK(u.completion_tokens == 7);
}

std::optional<core::Usage> translated_stream_usage(std::string_view sse) {
  auto decoder = make_messages_stream_decoder();
  std::vector<StreamEvent> events;
  core::SseDecoder sse_decoder;
  sse_decoder.feed(sse, [&](const core::SseEvent& e) { decoder->on_event(e, events); });
  decoder->on_end(events);
  std::optional<core::Usage> last;
  for (const auto& e : events)
    if (e.kind == StreamEvent::Kind::usage) last = e.usage;
  return last;
}

}  // namespace

TEST_CASE("the 1-hour share of cache writes is read from a pass-through answer",
          "[anthropic][usage]") {
  const auto usage = extract_messages_usage(kAnswer);
  REQUIRE(usage);
  check_breakdown(*usage);
}

TEST_CASE("the 1-hour share of cache writes is read from a pass-through stream",
          "[anthropic][usage]") {
  MessagesUsageTracker tracker;
  core::SseDecoder sse;
  sse.feed(kStream, [&](const core::SseEvent& e) { tracker.on_event(e); });
  REQUIRE(tracker.usage());
  check_breakdown(*tracker.usage());
}

TEST_CASE("the 1-hour share of cache writes is read from a translated answer and stream",
          "[anthropic][usage]") {
  const auto decoded = decode_messages_response(kAnswer);
  REQUIRE(decoded);
  REQUIRE(decoded.value().usage);
  check_breakdown(*decoded.value().usage);

  const auto streamed = translated_stream_usage(kStream);
  REQUIRE(streamed);
  check_breakdown(*streamed);
}

TEST_CASE("a message_delta with its own cache counts replaces the breakdown",
          "[anthropic][usage]") {
  // Newer streams repeat the cumulative counts in message_delta; the later breakdown wins, and
  // one without a breakdown keeps the earlier share.
  std::string stream(kStream);
  const std::string old_delta = R"("usage":{"output_tokens":7}})";
  const std::string new_delta =
      R"("usage":{"output_tokens":7,"cache_creation_input_tokens":3000,"cache_creation":{"ephemeral_5m_input_tokens":2500,"ephemeral_1h_input_tokens":500}}})";
  stream.replace(stream.find(old_delta), old_delta.size(), new_delta);
  MessagesUsageTracker tracker;
  core::SseDecoder sse;
  sse.feed(stream, [&](const core::SseEvent& e) { tracker.on_event(e); });
  REQUIRE(tracker.usage());
  CHECK(tracker.usage()->cache_creation_tokens == 3000);
  CHECK(tracker.usage()->cache_creation_1h_tokens == 500);
  const auto streamed = translated_stream_usage(stream);
  REQUIRE(streamed);
  CHECK(streamed->cache_creation_1h_tokens == 500);
}

TEST_CASE("a breakdown without the total still counts its writes", "[anthropic][usage]") {
  const auto usage = extract_messages_usage(
      R"({"usage":{"input_tokens":1,"cache_creation":{"ephemeral_5m_input_tokens":10,"ephemeral_1h_input_tokens":30},"output_tokens":2}})");
  REQUIRE(usage);
  CHECK(usage->cache_creation_tokens == 40);
  CHECK(usage->cache_creation_1h_tokens == 30);
  CHECK(usage->prompt_tokens == 41);
}
