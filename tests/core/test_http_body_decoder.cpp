#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/http_body_decoder.hpp"

using switchyard::core::HttpBodyDecoder;

namespace {

struct Decoded {
  std::string body;
  std::size_t consumed = 0;  // bytes of the input that belonged to the body
  bool done = false;
  std::string error;
};

// Feeds `wire` in pieces cut at `cuts` (ascending offsets), as reads from a socket would.
Decoded decode(HttpBodyDecoder decoder, std::string_view wire, std::vector<std::size_t> cuts) {
  Decoded out;
  cuts.push_back(wire.size());
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    const std::string piece(wire.substr(from, cut - from));  // own copy: views must not outlive it
    const std::size_t used = decoder.feed(piece, [&](std::string_view data) { out.body += data; });
    out.consumed += used;
    if (decoder.failed() || decoder.done()) break;
    from = cut;
  }
  out.done = decoder.done();
  out.error = decoder.error();
  return out;
}

}  // namespace

TEST_CASE("body decoder: a chunked body split at every byte gives the same data") {
  const std::string wire =
      "5\r\nhello\r\n"
      "1a;name=\"value\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
      "0\r\nX-Trailer: yes\r\n\r\n"
      "HTTP/1.1 200 OK\r\n";  // the next response on the connection
  const std::size_t body_end = wire.find("HTTP/1.1");
  for (std::size_t a = 0; a <= wire.size(); ++a) {
    for (std::size_t b = a; b <= wire.size(); b += 7) {
      const Decoded d = decode(HttpBodyDecoder::chunked(), wire, {a, b});
      INFO("cuts at " << a << " and " << b);
      REQUIRE(d.error.empty());
      REQUIRE(d.done);
      REQUIRE(d.body == "helloabcdefghijklmnopqrstuvwxyz");
      // What follows the body is left for the next response.
      REQUIRE(d.consumed == body_end);
    }
  }
}

TEST_CASE(
    "body decoder: SSE events in chunks come out as sent, uppercase sizes and bare LF accepted") {
  const std::string event = "data: {\"choices\":[]}\n\n";
  const std::string wire = "16\r\n" + event + "\r\n" + "16\n" + event + "\n0\r\n\r\n";
  const Decoded d = decode(HttpBodyDecoder::chunked(), wire, {3, 30});
  REQUIRE(d.error.empty());
  REQUIRE(d.done);
  REQUIRE(d.body == event + event);
  REQUIRE(decode(HttpBodyDecoder::chunked(), "A\r\n0123456789\r\n0\r\n\r\n", {}).body ==
          "0123456789");
}

TEST_CASE("body decoder: a Content-Length body ends at its length, the rest is not body") {
  const std::string wire = "{\"id\":1}NEXT";
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    const Decoded d = decode(HttpBodyDecoder::with_length(8), wire, {cut});
    INFO("cut at " << cut);
    REQUIRE(d.done);
    REQUIRE(d.body == "{\"id\":1}");
    REQUIRE(d.consumed == 8);
  }
  REQUIRE(HttpBodyDecoder::with_length(0).done());
}

TEST_CASE(
    "body decoder: a body delimited by the close ends at EOF, other framings are cut short by it") {
  HttpBodyDecoder until_close = HttpBodyDecoder::until_close();
  std::string body;
  until_close.feed("part one, ", [&](std::string_view d) { body += d; });
  until_close.feed("part two", [&](std::string_view d) { body += d; });
  REQUIRE_FALSE(until_close.done());
  REQUIRE(until_close.on_eof());
  REQUIRE(body == "part one, part two");

  HttpBodyDecoder chunked = HttpBodyDecoder::chunked();
  chunked.feed("5\r\nhel", [](std::string_view) {});
  REQUIRE_FALSE(chunked.on_eof());
  HttpBodyDecoder length = HttpBodyDecoder::with_length(10);
  length.feed("12345", [](std::string_view) {});
  REQUIRE_FALSE(length.on_eof());
}

TEST_CASE("body decoder: malformed chunked framing is an error, not a guess") {
  struct Case {
    std::string wire;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"zz\r\n", "chunk size expected"},
      {"\r\n", "chunk size expected"},
      {"5x\r\nhello\r\n", "invalid character in chunk size"},
      {"5\rhello", "chunk size line must end in CRLF"},
      {"5\r\nhelloXX", "chunk data must end in CRLF"},
      {"5\r\nhello\rX", "chunk data must end in CRLF"},
      {"11111111111111111\r\n", "chunk size overflows"},
      {"0\r\n\rX", "trailer section must end in CRLF"},
      {"5;" + std::string(5000, 'e') + "\r\n", "chunk extension too long"},
      {"0\r\nX-Long: " + std::string(5000, 't') + "\r\n\r\n", "trailer field too long"},
      {std::string(5000, '0') + "5\r\n", "chunk size line too long"},
  };
  for (const Case& c : cases) {
    INFO(c.wire.substr(0, 40));
    const Decoded d = decode(HttpBodyDecoder::chunked(), c.wire, {});
    REQUIRE_FALSE(d.done);
    REQUIRE(d.error == c.error);
  }
  // Once failed, further input is refused.
  HttpBodyDecoder failed = HttpBodyDecoder::chunked();
  failed.feed("q", [](std::string_view) {});
  bool called = false;
  REQUIRE(failed.feed("5\r\nhello\r\n", [&](std::string_view) { called = true; }) == 0);
  REQUIRE_FALSE(called);
}

TEST_CASE(
    "body decoder: a line that never ends is refused once it passes the limit, not buffered") {
  // A peer sending "5;ext=aaaa..." with no CRLF: the decoder fails as soon as the line is over
  // its limit, however the bytes arrive, and never asks for the rest.
  const std::string endless = "5;ext=" + std::string(HttpBodyDecoder::kMaxLineBytes + 10, 'a');
  std::vector<std::size_t> cuts;
  for (std::size_t at = 100; at < endless.size(); at += 100) cuts.push_back(at);
  const Decoded d = decode(HttpBodyDecoder::chunked(), endless, cuts);
  CHECK(d.error == "chunk extension too long");
  // Within the limit the same line is merely incomplete.
  const Decoded partial = decode(HttpBodyDecoder::chunked(), endless.substr(0, 4000), {});
  CHECK(partial.error.empty());
  CHECK_FALSE(partial.done);
}

TEST_CASE("body decoder: the trailer section as a whole is bounded") {
  // Many short trailer lines, each under the line limit, together over the section limit.
  std::string wire = "0\r\n";
  for (int i = 0; i < 40; ++i)
    wire += "X-Field-" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
  wire += "\r\n";
  CHECK(decode(HttpBodyDecoder::chunked(), wire, {}).done);
  const Decoded small = decode(HttpBodyDecoder::chunked(/*max_trailer_bytes=*/1000), wire, {});
  CHECK_FALSE(small.done);
  CHECK(small.error == "trailer section too large");
  // Endless empty-looking trailer input counts too.
  const Decoded endless =
      decode(HttpBodyDecoder::chunked(100), "0\r\nX: " + std::string(200, 'y'), {});
  CHECK(endless.error == "trailer section too large");
}
