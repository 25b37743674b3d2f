// What the relays do when an upstream stream misbehaves: a line or event that never ends, a
// body that ends before the stream's final event. Whatever the upstream sends, the client's
// stream ends in its protocol's well-formed in-band error, and no more than the limit is held.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "adapters/exchange.hpp"
#include "core/sse_decoder.hpp"

using namespace switchyard;
using adapters::Protocol;
using adapters::RelayFault;

namespace {

struct ClientView {
  std::string bytes;                   // everything written to the client
  std::vector<core::SseEvent> events;  // (views into `bytes`)
  std::vector<std::string> types;
  std::vector<std::string> data;
};

// Decodes what the client received, as its SDK would.
ClientView client_view(std::string bytes) {
  ClientView v;
  v.bytes = std::move(bytes);
  core::SseDecoder decoder(1u << 30);
  decoder.feed(v.bytes, [&](const core::SseEvent& e) {
    v.types.emplace_back(e.type);
    v.data.emplace_back(e.data);
  });
  return v;
}

std::unique_ptr<adapters::StreamRelay> relay(Protocol client, Protocol upstream,
                                             std::size_t max_event_bytes, bool wants_usage = true,
                                             std::size_t max_kept_bytes = 32u << 20) {
  adapters::StreamContext c;
  c.client = client;
  c.upstream = upstream;
  c.client_wants_usage = wants_usage;
  // Moved in rather than assigned from literals: GCC 12 warns (-Wrestrict) on the latter.
  c.id = std::string("id-1");
  c.model = std::string("model-1");
  c.created = 1;
  c.max_event_bytes = max_event_bytes;
  c.max_kept_bytes = max_kept_bytes;
  return adapters::make_stream_relay(std::move(c));
}

// The first upstream event of each protocol, whole.
std::string opening(Protocol upstream) {
  switch (upstream) {
    case Protocol::anthropic_messages:
      return "event: message_start\ndata: "
             "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
             "\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"stop_reason\":null,"
             "\"usage\":{\"input_tokens\":3,"
             "\"output_tokens\":1}}}\n\n";
    case Protocol::openai_responses:
      return "event: response.created\ndata: "
             "{\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\","
             "\"status\":\"in_progress\",\"output\":[]}}\n\n";
    case Protocol::gemini:
      return "data: "
             "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]}}]}"
             "\n\n";
    case Protocol::openai_chat:
      break;
  }
  return "data: "
         "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
         "\"choices\":[{\"index\":0,"
         "\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n";
}

// The data line of an event that never ends, begun in the protocol's shape.
std::string endless_line_start(Protocol upstream) {
  if (upstream == Protocol::anthropic_messages) {
    return "event: content_block_delta\ndata: "
           "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
           "\"text\":\"";
  }
  return "data: {\"x\":\"";
}

constexpr std::string_view kTooLarge = "longer than 4096 bytes";
constexpr std::string_view kTruncated = "ended before its final event";

// True when the client's last event is its protocol's in-band error saying `what`.
bool ends_in_error(Protocol client, const ClientView& v, std::string_view what) {
  if (v.data.empty()) return false;
  const std::string& last = v.data.back();
  if (last.find(what) == std::string::npos) return false;
  switch (client) {
    case Protocol::anthropic_messages:
      return v.types.back() == "error";
    case Protocol::openai_responses:
      return v.types.back() == "response.failed";
    case Protocol::openai_chat:
    case Protocol::gemini:
      break;
  }
  return last.starts_with("{\"error\"");
}

const std::vector<std::pair<Protocol, Protocol>> kPairs{
    {Protocol::openai_chat, Protocol::openai_chat},
    {Protocol::anthropic_messages, Protocol::anthropic_messages},
    {Protocol::openai_responses, Protocol::openai_responses},
    {Protocol::openai_chat, Protocol::anthropic_messages},
    {Protocol::anthropic_messages, Protocol::openai_chat},
    {Protocol::openai_responses, Protocol::openai_chat},
    {Protocol::openai_chat, Protocol::gemini},
    {Protocol::anthropic_messages, Protocol::gemini},
};

}  // namespace

TEST_CASE("relay limits: a line that never ends becomes the client's in-band error, not a buffer") {
  for (const auto& [client, upstream] : kPairs) {
    for (bool wants_usage : {true, false}) {
      INFO(static_cast<int>(client)
           << " <- " << static_cast<int>(upstream) << " usage " << wants_usage);
      auto r = relay(client, upstream, /*max_event_bytes=*/4096, wants_usage);
      std::string out(r->on_data(opening(upstream)));
      out += r->on_data(endless_line_start(upstream));
      std::size_t fed = 0;
      // Reads of 1 KB with no newline, far past the limit: the relay gives up at the limit.
      while (r->fault() == RelayFault::none && fed < (1u << 20)) {
        out += r->on_data(std::string(1024, 'a'));
        fed += 1024;
      }
      CHECK(r->fault() == RelayFault::oversized);
      CHECK(fed < 8192);
      // Nothing more is forwarded after the error, and the end adds nothing.
      CHECK(r->on_data("\n\ndata: [DONE]\n\n").empty());
      const ClientView v = client_view(out);
      CHECK(ends_in_error(client, v, kTooLarge));
      // The endless line itself never reached the client.
      CHECK(v.bytes.find(std::string(1024, 'a')) == std::string::npos);
    }
  }
}

TEST_CASE("relay limits: pass-through forwards whole lines, a cut line waits for its end") {
  auto r = relay(Protocol::anthropic_messages, Protocol::anthropic_messages, 1u << 20);
  const std::string event = opening(Protocol::anthropic_messages);
  // Each read stays alive while its bytes are written, as in the gateway.
  const std::string read1 = event.substr(0, event.size() / 2);
  const std::string read2 = event.substr(read1.size());
  const std::string first(r->on_data(read1));
  // The first read ends inside the data line: the lines before it go, the half line waits.
  CHECK(first == "event: message_start\n");
  CHECK(r->on_data(read2) == event.substr(first.size()));
  // Reads that end at an event's end go out as they are.
  const std::string stop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  CHECK(r->on_data(stop) == stop);
  CHECK(r->on_end().empty());
  CHECK(r->fault() == RelayFault::none);
}

TEST_CASE("relay limits: a pass-through stream that ends before its final event ends in an error") {
  for (Protocol p :
       {Protocol::openai_chat, Protocol::anthropic_messages, Protocol::openai_responses}) {
    INFO(static_cast<int>(p));
    auto r = relay(p, p, 1u << 20);
    std::string out(r->on_data(opening(p)));
    out += r->on_end();
    CHECK(r->fault() == RelayFault::truncated);
    CHECK(ends_in_error(p, client_view(out), kTruncated));
  }
  // A chat stream that sent its usage chunk (which the gateway always asks for, and which
  // follows the last choice) but no [DONE] (some OpenAI-compatible servers) is complete.
  auto chat = relay(Protocol::openai_chat, Protocol::openai_chat, 1u << 20);
  (void)chat->on_data(opening(Protocol::openai_chat));
  (void)chat->on_data(
      "data: "
      "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: "
      "{\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n");
  CHECK(chat->on_end().empty());
  CHECK(chat->fault() == RelayFault::none);
  // A provider's error event is its answer, not a cut.
  auto anthropic = relay(Protocol::anthropic_messages, Protocol::anthropic_messages, 1u << 20);
  (void)anthropic->on_data(
      "event: error\ndata: "
      "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n");
  CHECK(anthropic->on_end().empty());
  CHECK(anthropic->fault() == RelayFault::none);
}

TEST_CASE("relay limits: an event made of many data lines is bounded too") {
  auto r = relay(Protocol::openai_chat, Protocol::openai_chat, 2048);
  std::string out;
  for (int i = 0; i < 100 && r->fault() == RelayFault::none; ++i)
    out += r->on_data("data: 0123456789abcdef0123456789\n");
  CHECK(r->fault() == RelayFault::oversized);
  // The client holds data lines without their blank line: the error follows a blank line of
  // its own, so what the client dispatches last is the error.
  const ClientView v = client_view(out);
  CHECK(ends_in_error(Protocol::openai_chat, v, "longer than 2048 bytes"));
}

TEST_CASE(
    "relay limits: a translated answer a Responses client's final event would repeat is bounded") {
  // Responses' last event carries the whole answer, so its encoder keeps it: an upstream that
  // never stops would grow that copy for good.
  auto r = relay(Protocol::openai_responses, Protocol::openai_chat, 1u << 20, true,
                 /*max_kept_bytes=*/10000);
  std::string out(r->on_data(opening(Protocol::openai_chat)));
  const std::string delta =
      "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" +
      std::string(100, 'w') + "\"},\"finish_reason\":null}]}\n\n";
  int sent = 0;
  while (r->fault() == RelayFault::none && sent < 10000) {
    out += r->on_data(delta);
    ++sent;
  }
  CHECK(r->fault() == RelayFault::oversized);
  CHECK(sent <= 101);
  CHECK(ends_in_error(Protocol::openai_responses, client_view(out), "grew past 10000 bytes"));
  // Other clients keep nothing of the answer, and are not bounded by it.
  auto chat = relay(Protocol::anthropic_messages, Protocol::openai_chat, 1u << 20, true, 10000);
  (void)chat->on_data(opening(Protocol::openai_chat));
  for (int i = 0; i < 200; ++i) (void)chat->on_data(delta);
  CHECK(chat->fault() == RelayFault::none);
}

TEST_CASE(
    "relay limits: a JSON answer missing what every answer has is a 502, not an empty success") {
  for (
      const auto& [upstream, body] : std::vector<std::pair<Protocol, std::string>>{
          {Protocol::anthropic_messages,
           R"({"id":"msg_1","type":"message","role":"assistant","model":"c","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}})"},
          {Protocol::gemini, R"({"usageMetadata":{"promptTokenCount":1},"modelVersion":"g"})"},
          {Protocol::openai_chat,
           R"({"id":"c","object":"chat.completion","model":"m","usage":{"prompt_tokens":1}})"},
      }) {
    INFO(body);
    const Protocol client =
        upstream == Protocol::openai_chat ? Protocol::anthropic_messages : Protocol::openai_chat;
    auto translated = adapters::translate_response(client, upstream, body, nullptr);
    REQUIRE_FALSE(translated);
    CHECK(translated.error().status == 502);
    CHECK(translated.error().code == "bad_upstream_response");
  }
  // An answer with empty content is still an answer.
  CHECK(adapters::translate_response(
      Protocol::openai_chat, Protocol::anthropic_messages,
      R"({"id":"msg_1","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"end_turn"})",
      nullptr));
  CHECK(adapters::translate_response(Protocol::openai_chat, Protocol::gemini,
                                     R"({"promptFeedback":{"blockReason":"SAFETY"}})", nullptr));
}

TEST_CASE("relay limits: counts no provider could mean are held within bounds, never overflowed") {
  // Found by fuzz_codec_responses: sums and casts of such numbers were undefined behaviour
  // (the sanitizer build aborts on them).
  const std::vector<std::tuple<Protocol, Protocol, std::string>> cases{
      {Protocol::anthropic_messages, Protocol::openai_chat,
       R"({"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":-9223372036854775808,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":1}}})"},
      {Protocol::openai_chat, Protocol::gemini,
       R"({"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9223372036854775807,"toolUsePromptTokenCount":1}})"},
      {Protocol::openai_chat, Protocol::gemini,
       R"({"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1e40}})"},
      {Protocol::openai_chat, Protocol::anthropic_messages,
       R"({"id":"m","type":"message","role":"assistant","model":"x","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":9223372036854775807,"cache_read_input_tokens":1,"output_tokens":1}})"},
  };
  for (const auto& [client, upstream, body] : cases) {
    INFO(body);
    auto translated = adapters::translate_response(client, upstream, body, nullptr);
    if (!translated) continue;  // refused outright is fine too
    REQUIRE(translated.value().usage);
    const core::Usage& u = *translated.value().usage;
    for (std::int64_t n :
         {u.prompt_tokens, u.completion_tokens, u.cached_prompt_tokens, u.cache_creation_tokens}) {
      CHECK(n >= 0);
      CHECK(n <= 3 * core::kMaxTokenCount);
    }
  }
  // A pass-through Responses answer's usage, read on its own.
  const auto usage = adapters::extract_usage(
      Protocol::openai_responses,
      R"({"object":"response","status":"completed","output":[],"usage":{"input_tokens":1e40,"output_tokens":1}})");
  REQUIRE(usage);
  CHECK(usage->prompt_tokens == 0);
  // A client's max_tokens of 1e20 is a 400, not a cast.
  auto request = adapters::decode_request(
      Protocol::openai_chat,
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":1e20})");
  REQUIRE_FALSE(request);
  CHECK(request.error().status == 400);
}
