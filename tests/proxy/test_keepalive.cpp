// Keep-alives while an upstream stream is silent (a long thinking phase): after
// stream_keepalive_ms of silence the client gets its protocol's keep-alive, never inside an
// event it holds part of, and the upstream still gets idle_timeout_ms in all.
#include <catch2/catch.hpp>

#include "tests/proxy/adversarial_helpers.hpp"

using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

std::string marker(std::string_view tag) { return "keepalive test " + std::string(tag); }

std::size_t count_of(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

// An SSE answer whose first event comes at once and whose next events come after `silence`.
HostileReply silent_stream(const std::vector<std::string>& events,
                           std::chrono::milliseconds silence) {
  HostileReply reply;
  reply.send(sse_head()).send(http_chunk(events.front())).pause(silence);
  for (std::size_t i = 1; i < events.size(); ++i) reply.send(http_chunk(events[i]));
  return reply.send(std::string(kLastChunk));
}

}  // namespace

TEST_CASE("a silent upstream stream gets the client protocol's keep-alive, and the answer is whole",
          "[keepalive]") {
  HostileGateway h({.top_level = "stream_keepalive_ms: 200"});
  auto& up = h.upstream;
  struct Case {
    Door door;
    const char* model;
    std::vector<std::string> events;
    const char* keepalive;  // what the client must see during the silence
  };
  const std::vector<Case> cases = {
      // pass-through, and translated to each other protocol
      {Door::chat, "hostile-chat", chat_stream_events("thought long", true), ": keep-alive\n\n"},
      {Door::messages, "hostile-claude", anthropic_stream_events("thought long", true),
       "event: ping\ndata: {\"type\": \"ping\"}\n\n"},
      {Door::messages, "hostile-chat", chat_stream_events("thought long", true),
       "event: ping\ndata: {\"type\": \"ping\"}\n\n"},
      {Door::responses, "hostile-gemini", gemini_stream_events("thought long", true),
       ": keep-alive\n\n"},
      {Door::chat, "hostile-claude", anthropic_stream_events("thought long", true),
       ": keep-alive\n\n"},
  };
  for (const Case& c : cases) {
    INFO(door_name(c.door) << " client, " << c.model);
    up.then(silent_stream(c.events, 1200ms));
    const Answer a = call(h.gw.port, c.door, c.model, marker("slow"), true);
    CHECK(a.failure.empty());
    CHECK(a.status == 200);
    // 1.2 s of silence cut into 200 ms steps: several keep-alives, never the answer changed.
    CHECK(count_of(a.body, c.keepalive) >= 2);
    CHECK(answer_text(c.door, a) == "thought long");
    CHECK(stream_claims_normal_finish(c.door, a.events));
    CHECK(!stream_error(c.door, a.events).has_value());
  }
}

TEST_CASE("keep-alives do not extend the upstream's idle timeout", "[keepalive]") {
  HostileGateway h({.top_level = "stream_keepalive_ms: 200"}, ", idle_timeout_ms: 1000");
  auto& up = h.upstream;
  // The first event, then nothing for far longer than idle_timeout_ms.
  up.then(silent_stream(chat_stream_events("never finished", true), 8000ms));
  const Answer a =
      call(h.gw.port, Door::messages, "hostile-chat", marker("stalled"), true, {}, 6000ms);
  CHECK(a.failure.empty());
  CHECK(count_of(a.body, "event: ping") >= 2);
  const auto error = stream_error(Door::messages, a.events);
  REQUIRE(error.has_value());
  CHECK(error->shape_problem.empty());
  CHECK(error->message.find("did not answer in time") != std::string::npos);
}

TEST_CASE("a keep-alive inside an event the client holds part of is a comment line alone",
          "[keepalive]") {
  HostileGateway h({.top_level = "stream_keepalive_ms: 200"});
  auto& up = h.upstream;
  struct Case {
    Door door;
    const char* model;
    std::vector<std::string> events;
    const char* extra;
    bool client_holds_part;  // the relay forwards the event's first line before its end
  };
  const std::vector<Case> cases = {
      // Forwarded line by line: the client holds the data line when the silence starts.
      {Door::chat, "hostile-chat", chat_stream_events("split event", true),
       R"(,"stream_options":{"include_usage":true})", true},
      {Door::messages, "hostile-claude", anthropic_stream_events("split event", true), "", true},
      // The gateway asked for usage on its own, so it forwards whole events only: the client
      // is between events and gets a whole keep-alive.
      {Door::chat, "hostile-chat", chat_stream_events("split event", true), "", false},
  };
  for (const Case& c : cases) {
    INFO(door_name(c.door) << " client, " << c.model << c.extra);
    // An event's last line arrives, then a silence before its blank line: a blank line from
    // the gateway in between would end that event early.
    const std::size_t split = c.events.size() / 2;
    std::string part = c.events[split];
    REQUIRE(part.ends_with("\n\n"));
    part.pop_back();
    HostileReply reply;
    reply.send(sse_head());
    for (std::size_t i = 0; i < split; ++i) reply.send(http_chunk(c.events[i]));
    reply.send(http_chunk(part)).pause(1000ms).send(http_chunk("\n"));
    for (std::size_t i = split + 1; i < c.events.size(); ++i) reply.send(http_chunk(c.events[i]));
    up.then(reply.send(std::string(kLastChunk)));

    const Answer a = call(h.gw.port, c.door, c.model, marker("split"), true, c.extra);
    CHECK(a.status == 200);
    if (c.client_holds_part) {
      CHECK(count_of(a.body, ": keep-alive\n") >= 2);
      // Pass-through: without the comment lines the client got the upstream's bytes exactly.
      std::string without = a.body, upstream;
      for (std::size_t at; (at = without.find(": keep-alive\n")) != std::string::npos;)
        without.erase(at, 13);
      for (const std::string& e : c.events) upstream += e;
      CHECK(without == upstream);
    } else {
      CHECK(count_of(a.body, ": keep-alive\n\n") >= 2);
    }
    CHECK(answer_text(c.door, a) == "split event");
    CHECK(stream_claims_normal_finish(c.door, a.events));
  }
}

TEST_CASE("stream_keepalive_ms: 0 sends no keep-alive", "[keepalive]") {
  HostileGateway h({.top_level = "stream_keepalive_ms: 0"});
  h.upstream.then(silent_stream(chat_stream_events("quiet", true), 700ms));
  const Answer a = call(h.gw.port, Door::messages, "hostile-chat", marker("quiet"), true);
  CHECK(a.status == 200);
  CHECK(count_of(a.body, "ping") == 0);
  CHECK(answer_text(Door::messages, a) == "quiet");
}
