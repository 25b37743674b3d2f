#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "core/sse_decoder.hpp"

using switchyard::core::SseDecoder;
using switchyard::core::SseEvent;

namespace {

struct Recorded {
  std::string type;
  std::string data;
  std::string id;
  std::size_t end = 0;  // offset in the whole stream just past the dispatching blank line

  bool operator==(const Recorded&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Recorded& r) {
  return os << "{type=" << r.type << " data=" << r.data << " id=" << r.id << " end=" << r.end
            << "}";
}

// Feeds `stream` cut at the given offsets (ascending, each within the stream).
std::vector<Recorded> decode(std::string_view stream, const std::vector<std::size_t>& cuts,
                             SseDecoder* decoder_out = nullptr) {
  SseDecoder local;
  SseDecoder& decoder = decoder_out ? *decoder_out : local;
  std::vector<Recorded> events;
  std::size_t start = 0;
  auto feed_to = [&](std::size_t end) {
    const std::size_t chunk_start = start;
    decoder.feed(stream.substr(start, end - start), [&](const SseEvent& e) {
      events.push_back({std::string(e.type), std::string(e.data), std::string(e.id),
                        chunk_start + e.end_offset});
    });
    start = end;
  };
  for (const std::size_t cut : cuts) feed_to(cut);
  feed_to(stream.size());
  return events;
}

std::vector<Recorded> decode_whole(std::string_view stream) { return decode(stream, {}); }

std::vector<Recorded> decode_byte_by_byte(std::string_view stream) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  return decode(stream, cuts);
}

std::string read_fixture(const std::string& name) {
  const std::string path = std::string(SWITCHYARD_FIXTURES) + "/sse/" + name;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A CRLF whose LF starts the next chunk is recognised at the CR, so the event ends one byte
// earlier than when the pair arrives together. Everything else must match exactly.
bool same_event(const Recorded& whole, const Recorded& split, std::string_view stream) {
  if (whole.type != split.type || whole.data != split.data || whole.id != split.id) return false;
  if (whole.end == split.end) return true;
  return split.end + 1 == whole.end && stream[split.end - 1] == '\r' && stream[split.end] == '\n';
}

void require_same_events(const std::vector<Recorded>& whole, const std::vector<Recorded>& split,
                         std::string_view stream) {
  REQUIRE(split.size() == whole.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    INFO("event " << i << " whole " << whole[i] << " split " << split[i]);
    REQUIRE(same_event(whole[i], split[i], stream));
  }
}

const std::vector<std::string> kFixtures = {
    "openai_text_include_usage.txt",
    "openai_text_crlf.txt",
    "openai_tool_call.txt",
    "comments_keepalive_multiline.txt",
};

}  // namespace

TEST_CASE("every fixture decodes the same whether split at any byte or fed byte by byte", "[sse]") {
  for (const auto& name : kFixtures) {
    const std::string stream = read_fixture(name);
    const auto whole = decode_whole(stream);
    INFO("fixture " << name);
    REQUIRE_FALSE(whole.empty());
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
      INFO("split at " << cut);
      require_same_events(whole, decode(stream, {cut}), stream);
    }
    require_same_events(whole, decode_byte_by_byte(stream), stream);
  }
}

TEST_CASE("the OpenAI text stream yields every chunk, the usage chunk and [DONE]", "[sse]") {
  for (const char* name : {"openai_text_include_usage.txt", "openai_text_crlf.txt"}) {
    const std::string stream = read_fixture(name);
    const auto events = decode_whole(stream);
    INFO("fixture " << name);
    REQUIRE(events.size() == 10);
    for (const auto& e : events) {
      CHECK(e.type.empty());
      CHECK(e.id.empty());
      CHECK(e.data.find('\r') == std::string::npos);
      CHECK(e.data.find('\n') == std::string::npos);
    }
    CHECK(events.front().data.rfind("{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\"", 0) == 0);
    CHECK(events[3].data.find("un café ☕") != std::string::npos);
    CHECK(events[8].data.find("\"choices\":[]") != std::string::npos);
    CHECK(events[8].data.find("\"cached_tokens\":1024") != std::string::npos);
    CHECK(events.back().data == "[DONE]");
    CHECK(events.back().end == stream.size());
  }
}

TEST_CASE("the tool-call stream keeps argument fragments intact", "[sse]") {
  const auto events = decode_whole(read_fixture("openai_tool_call.txt"));
  REQUIRE(events.size() == 8);
  CHECK(events[1].data.find(R"("arguments":"{\"loc")") != std::string::npos);
  CHECK(events[2].data.find(R"("arguments":"ation\":\"Paris\"}")") != std::string::npos);
  CHECK(events.back().data == "[DONE]");
}

TEST_CASE("comments, keep-alives, multi-line data and odd fields follow WHATWG", "[sse]") {
  const std::string stream = read_fixture("comments_keepalive_multiline.txt");
  SseDecoder decoder;
  const auto events = decode(stream, {}, &decoder);
  REQUIRE(events.size() == 7);

  // The BOM is dropped and comments never produce events.
  CHECK(events[0].data.rfind("{\"id\":\"chatcmpl-kA\"", 0) == 0);
  CHECK(events[0].id == "1");
  CHECK(events[0].type.empty());

  // Two data lines join with one LF; only one leading space is stripped.
  CHECK(events[1].type == "message");
  CHECK(events[1].id == "2");
  CHECK(events[1].data ==
        "{\"id\":\"chatcmpl-kA\",\"object\":\"chat.completion.chunk\",\n"
        " \"choices\":[{\"index\":0,\"delta\":{\"content\":\"multi\"}}]}");

  // "data:x" without a space; the event type was reset by the dispatch, the id persists.
  CHECK(events[2].data.rfind("{\"id\"", 0) == 0);
  CHECK(events[2].data.find("línea") != std::string::npos);
  CHECK(events[2].type.empty());
  CHECK(events[2].id == "2");

  // "event: ping" with no data dispatches nothing; "data" (no colon) and "data:" are two
  // empty data lines.
  CHECK(events[3].data == "\n");
  CHECK(events[3].type.empty());

  // Lone CR endings, and an unknown field ignored.
  CHECK(events[4].type == "message");
  CHECK(events[4].data.find("🚀") != std::string::npos);

  CHECK(events[5].data.find("\"finish_reason\":\"stop\"") != std::string::npos);
  CHECK(events[6].data == "[DONE]");

  // The stream ends inside an event that never got its blank line: dropped, but pending.
  CHECK(decoder.mid_event());
}

TEST_CASE("LF, CR and CRLF line endings are equivalent", "[sse]") {
  for (const char* eol : {"\n", "\r", "\r\n"}) {
    const std::string e = eol;
    const std::string stream =
        "event: a" + e + "data: one" + e + "data: two" + e + e + "data: three" + e + e;
    const auto events = decode_whole(stream);
    REQUIRE(events.size() == 2);
    CHECK(events[0].type == "a");
    CHECK(events[0].data == "one\ntwo");
    CHECK(events[1].type.empty());
    CHECK(events[1].data == "three");
    CHECK(events[1].end == stream.size());
    require_same_events(events, decode_byte_by_byte(stream), stream);
  }
}

TEST_CASE("a CR at the end of one feed and an LF at the start of the next are one break", "[sse]") {
  SseDecoder decoder;
  std::vector<std::string> data;
  std::vector<std::size_t> ends;
  auto on_event = [&](const SseEvent& e) {
    data.emplace_back(e.data);
    ends.push_back(e.end_offset);
  };

  decoder.feed("data: a\r", on_event);
  CHECK(data.empty());
  CHECK(decoder.mid_event());
  // Were the LF read as a second line break, this would dispatch "a" here.
  decoder.feed("\n", on_event);
  CHECK(data.empty());
  decoder.feed("data: b\r\n\r", on_event);
  // The blank line is recognised at its CR: dispatched now, ending at the chunk's end.
  REQUIRE(data.size() == 1);
  CHECK(data[0] == "a\nb");
  CHECK(ends[0] == 10);
  CHECK_FALSE(decoder.mid_event());
  // The LF completing that CRLF is skipped, not taken as a blank line or part of a field.
  decoder.feed("\ndata: c\n\n", on_event);
  REQUIRE(data.size() == 2);
  CHECK(data[1] == "c");
  CHECK(ends[1] == 10);
}

TEST_CASE("a CR ending a feed does not swallow a following non-LF byte", "[sse]") {
  SseDecoder decoder;
  std::vector<std::string> data;
  auto on_event = [&](const SseEvent& e) { data.emplace_back(e.data); };
  decoder.feed("data: a\r", on_event);
  decoder.feed("data: b\r", on_event);
  decoder.feed("\r", on_event);
  REQUIRE(data.size() == 1);
  CHECK(data[0] == "a\nb");
}

TEST_CASE("a multibyte UTF-8 character split across feeds arrives whole", "[sse]") {
  const std::string stream = "data: caf\xC3\xA9 \xE4\xB8\x96 \xF0\x9F\x9A\x80\n\n";
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    const auto events = decode(stream, {cut});
    REQUIRE(events.size() == 1);
    CHECK(events[0].data == "caf\xC3\xA9 \xE4\xB8\x96 \xF0\x9F\x9A\x80");
  }
}

TEST_CASE("field values: data:x equals data: x, and only one space is stripped", "[sse]") {
  const auto events = decode_whole("data:x\n\ndata: x\n\ndata:  x\n\ndata\n\ndata:\n\n");
  REQUIRE(events.size() == 5);
  CHECK(events[0].data == "x");
  CHECK(events[1].data == "x");
  CHECK(events[2].data == " x");
  CHECK(events[3].data.empty());
  CHECK(events[4].data.empty());
}

TEST_CASE("the value is split at the first colon only", "[sse]") {
  const auto events = decode_whole("data: {\"a\":\"b:c\"}\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "{\"a\":\"b:c\"}");
}

TEST_CASE("blank lines without data dispatch nothing and reset the event type", "[sse]") {
  const auto events = decode_whole("\n\n: hi\n\nevent: ping\n\nid: 7\n\ndata: x\n\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].type.empty());
  CHECK(events[0].id == "7");
  CHECK(events[0].data == "x");
}

TEST_CASE("field names are case-sensitive and ids with NUL are ignored", "[sse]") {
  using namespace std::string_literals;
  const std::string stream = "id: 1\n\nData: no\nEVENT: no\nid: a\0b\ndata: y\n\n"s;
  const auto events = decode_whole(stream);
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "y");
  CHECK(events[0].type.empty());
  CHECK(events[0].id == "1");
}

TEST_CASE("a final event without its blank line is never dispatched", "[sse]") {
  SseDecoder decoder;
  int count = 0;
  auto on_event = [&](const SseEvent&) { ++count; };
  decoder.feed("data: complete\n\ndata: incomplete\n", on_event);
  CHECK(count == 1);
  CHECK(decoder.mid_event());
  decoder.feed("data: still incomplete", on_event);
  CHECK(count == 1);
}

TEST_CASE("mid_event tracks whether an undispatched event is buffered", "[sse]") {
  SseDecoder decoder;
  auto ignore = [](const SseEvent&) {};
  CHECK_FALSE(decoder.mid_event());
  decoder.feed("da", ignore);
  CHECK(decoder.mid_event());
  decoder.feed("ta: x\n", ignore);
  CHECK(decoder.mid_event());
  decoder.feed("\n", ignore);
  CHECK_FALSE(decoder.mid_event());
  decoder.feed(": keep-alive\n", ignore);
  CHECK_FALSE(decoder.mid_event());
  decoder.feed("event: e\n", ignore);
  CHECK(decoder.mid_event());
  decoder.feed("\n", ignore);
  CHECK_FALSE(decoder.mid_event());
}

TEST_CASE("a leading BOM is ignored once, even when split across feeds", "[sse]") {
  const std::string stream =
      "\xEF\xBB\xBF"
      "data: a\n\n\xEF\xBB\xBF"
      "data: b\n\n";
  const auto whole = decode_whole(stream);
  // The second BOM is not at the start of the stream: it is part of a field name.
  REQUIRE(whole.size() == 1);
  CHECK(whole[0].data == "a");
  require_same_events(whole, decode(stream, {1}), stream);
  require_same_events(whole, decode(stream, {2}), stream);
  require_same_events(whole, decode_byte_by_byte(stream), stream);
}

TEST_CASE("reset starts a fresh stream", "[sse]") {
  SseDecoder decoder;
  std::vector<std::string> data;
  std::vector<std::string> ids;
  auto on_event = [&](const SseEvent& e) {
    data.emplace_back(e.data);
    ids.emplace_back(e.id);
  };
  decoder.feed("id: 9\ndata: half", on_event);
  decoder.reset();
  CHECK_FALSE(decoder.mid_event());
  decoder.feed(
      "\xEF\xBB\xBF"
      "data: fresh\n\n",
      on_event);
  REQUIRE(data.size() == 1);
  CHECK(data[0] == "fresh");
  CHECK(ids[0].empty());
}

TEST_CASE("a 1 MB single event is decoded whole, in one feed or many", "[sse]") {
  std::string payload(1 << 20, 'x');
  for (std::size_t i = 0; i < payload.size(); i += 997)
    payload[i] = static_cast<char>('a' + i % 26);
  const std::string stream = "data: " + payload + "\n\n";

  const auto whole = decode_whole(stream);
  REQUIRE(whole.size() == 1);
  CHECK(whole[0].data == payload);

  // Reads of a typical socket size.
  std::vector<std::size_t> cuts;
  for (std::size_t i = 16384; i < stream.size(); i += 16384) cuts.push_back(i);
  const auto split = decode(stream, cuts);
  REQUIRE(split.size() == 1);
  CHECK(split[0] == whole[0]);

  // And small reads: 256-byte reads over a megabyte must not turn quadratic.
  cuts.clear();
  for (std::size_t i = 256; i < stream.size(); i += 256) cuts.push_back(i);
  const auto small = decode(stream, cuts);
  REQUIRE(small.size() == 1);
  CHECK(small[0] == whole[0]);
}

TEST_CASE("end offsets cut the stream into the raw bytes of each event", "[sse]") {
  for (const auto& name : kFixtures) {
    const std::string stream = read_fixture(name);
    INFO("fixture " << name);
    for (const bool byte_by_byte : {false, true}) {
      const auto events = byte_by_byte ? decode_byte_by_byte(stream) : decode_whole(stream);
      std::size_t start = 0;
      std::string rebuilt;
      for (const auto& e : events) {
        REQUIRE(e.end > start);
        const std::string_view raw = std::string_view(stream).substr(start, e.end - start);
        rebuilt.append(raw);
        // Each range on its own is exactly one event. Only the stream's first range may carry
        // the BOM; a range starting with the LF of a split CRLF decodes as a no-op blank line.
        const auto alone = decode_whole(raw);
        REQUIRE(alone.size() == 1);
        CHECK(alone[0].data == e.data);
        CHECK(alone[0].type == e.type);
        start = e.end;
      }
      rebuilt.append(stream.substr(start));
      CHECK(rebuilt == stream);
    }
  }
}

TEST_CASE("several events in one feed report their own end offsets", "[sse]") {
  SseDecoder decoder;
  std::vector<std::size_t> ends;
  const std::string chunk = "data: 1\n\ndata: 22\r\n\r\ndata: 333\r\rdata: partial";
  decoder.feed(chunk, [&](const SseEvent& e) { ends.push_back(e.end_offset); });
  REQUIRE(ends.size() == 3);
  CHECK(ends[0] == 9);
  CHECK(ends[1] == 21);
  CHECK(ends[2] == 32);
  CHECK(chunk.substr(ends[2]) == "data: partial");
}

TEST_CASE("SSE decoder: a line that never ends stops the decoding at the limit, holding no more") {
  SseDecoder decoder(/*max_event_bytes=*/1000);
  std::vector<std::string> seen;
  auto on_event = [&](const SseEvent& e) { seen.emplace_back(e.data); };
  decoder.feed("data: first\n\n", on_event);
  REQUIRE(seen.size() == 1);
  // "data: " and then bytes with no newline, read by read.
  decoder.feed("data: ", on_event);
  for (int i = 0; i < 20 && !decoder.overflowed(); ++i)
    decoder.feed(std::string(100, 'x'), on_event);
  REQUIRE(decoder.overflowed());
  // The line began in an earlier read: nothing of the read that overflowed came before it.
  CHECK(decoder.overflow_offset() == 0);
  // Whatever follows is not decoded.
  decoder.feed("\n\ndata: later\n\n", on_event);
  CHECK(seen.size() == 1);
}

TEST_CASE("SSE decoder: the limit covers an event's data across lines, and lines inside one read") {
  SseDecoder many_lines(100);
  std::string event;
  for (int i = 0; i < 20; ++i) event += "data: 0123456789\n";
  event += "\n";
  bool dispatched = false;
  many_lines.feed(event, [&](const SseEvent&) { dispatched = true; });
  CHECK(many_lines.overflowed());
  CHECK_FALSE(dispatched);

  // A whole oversized line inside one read: the lines before it are complete and were decoded.
  SseDecoder one_read(100);
  std::vector<std::string> seen;
  const std::string before = "data: a\n\n: keep-alive\n";
  one_read.feed(before + "data: " + std::string(200, 'y') + "\n\n",
                [&](const SseEvent& e) { seen.emplace_back(e.data); });
  CHECK(one_read.overflowed());
  CHECK(one_read.overflow_offset() == before.size());
  CHECK(seen == std::vector<std::string>{"a"});

  // Under the limit, the same shapes decode as always.
  SseDecoder roomy(10000);
  std::size_t events = 0;
  roomy.feed(event + "data: " + std::string(200, 'y') + "\n\n", [&](const SseEvent&) { ++events; });
  CHECK_FALSE(roomy.overflowed());
  CHECK(events == 2);
}
