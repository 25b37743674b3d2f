#include <catch2/catch.hpp>
#include <string>

#include "core/http_response_head.hpp"

using switchyard::core::HeadParse;
using switchyard::core::parse_response_head;

TEST_CASE("response head: an SSE response from a provider") {
  const std::string head =
      "HTTP/1.1 200 OK\r\n"
      "Date: Sun, 22 Nov 2026 05:00:00 GMT\r\n"
      "content-type: text/event-stream; charset=utf-8\r\n"
      "Transfer-Encoding: chunked\r\n"
      "X-Request-Id: abc\r\n"
      "\r\n";
  const std::string wire = head + "1a\r\ndata: ...";
  const auto r = parse_response_head(wire);
  REQUIRE(r.state == HeadParse::complete);
  CHECK(r.head.status == 200);
  CHECK(r.head.content_type == "text/event-stream; charset=utf-8");
  CHECK(r.head.chunked);
  CHECK_FALSE(r.head.content_length);
  CHECK(r.head.keep_alive);
  CHECK(r.head.head_bytes == head.size());
}

TEST_CASE("response head: every prefix of a head is incomplete, never malformed") {
  const std::string head =
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After:  7 \r\nContent-Length: 12\r\n"
      "Content-Type: application/json\r\n\r\n";
  for (std::size_t n = 0; n < head.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    REQUIRE(parse_response_head(std::string_view(head).substr(0, n)).state ==
            HeadParse::incomplete);
  }
  const auto r = parse_response_head(head);
  REQUIRE(r.state == HeadParse::complete);
  CHECK(r.head.status == 429);
  CHECK(r.head.retry_after == "7");
  CHECK(r.head.content_length == 12u);
  CHECK(r.head.content_type == "application/json");
}

TEST_CASE("response head: keep-alive follows the version and Connection") {
  CHECK(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").head.keep_alive);
  CHECK_FALSE(
      parse_response_head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
          .head.keep_alive);
  CHECK_FALSE(parse_response_head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").head.keep_alive);
  CHECK(
      parse_response_head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
          .head.keep_alive);
  // No length and not chunked: the body runs until the server closes.
  const auto until_close =
      parse_response_head("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
  CHECK_FALSE(until_close.head.keep_alive);
  CHECK(until_close.head.has_body);
  // Transfer-Encoding wins over Content-Length; a non-chunked coding ends at the close.
  const auto both = parse_response_head(
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  CHECK(both.head.chunked);
  CHECK_FALSE(both.head.content_length);
  const auto gzip_only = parse_response_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
  CHECK_FALSE(gzip_only.head.chunked);
  CHECK_FALSE(gzip_only.head.keep_alive);
}

TEST_CASE("response head: 204 and 304 have no body; 1xx heads are skipped") {
  const auto no_content = parse_response_head("HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(no_content.head.status == 204);
  CHECK_FALSE(no_content.head.has_body);
  CHECK(no_content.head.keep_alive);

  const std::string wire =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}";
  const auto r = parse_response_head(wire);
  REQUIRE(r.state == HeadParse::complete);
  CHECK(r.head.status == 201);
  CHECK(r.head.head_bytes == wire.size() - 2);
  // Only the interim head has arrived so far.
  CHECK(parse_response_head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2").state ==
        HeadParse::incomplete);
}

TEST_CASE("response head: bare LF line endings are accepted") {
  const std::string wire = "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc";
  const auto r = parse_response_head(wire);
  REQUIRE(r.state == HeadParse::complete);
  CHECK(r.head.content_length == 3u);
  CHECK(r.head.head_bytes == wire.size() - 3);
}

TEST_CASE("response head: malformed heads are refused with a reason") {
  struct Case {
    const char* wire;
    const char* error;
  };
  const Case cases[] = {
      {"HTTP/2 200 OK\r\n\r\n", "bad status line"},
      {"SSH-2.0-OpenSSH\r\n\r\n", "bad status line"},
      {"HTTP/1.1 2x0 OK\r\n\r\n", "bad status code"},
      {"HTTP/1.1 099 Odd\r\n\r\n", "bad status code"},
      {"HTTP/1.1 2000 OK\r\n\r\n", "bad status line"},
      {"HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n", "bad header field"},
      {"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "bad header field"},
      {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "bad header field name"},
      {"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n", "obsolete header folding"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n", "bad content-length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "bad content-length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       "conflicting content-length"},
  };
  for (const Case& c : cases) {
    INFO(c.wire);
    const auto r = parse_response_head(c.wire);
    REQUIRE(r.state == HeadParse::malformed);
    CHECK(std::string(r.error) == c.error);
  }
}

TEST_CASE("response head: a 204 or 304 announcing a body ends the connection's reuse") {
  // Whether the announced bytes follow is unknown, so the next response cannot be trusted
  // to start after this head.
  CHECK_FALSE(
      parse_response_head("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n").head.keep_alive);
  CHECK_FALSE(parse_response_head("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n")
                  .head.keep_alive);
  CHECK(
      parse_response_head("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").head.keep_alive);
}

TEST_CASE("response head: Content-Encoding is reported, and only identity is accepted") {
  const auto gz = parse_response_head(
      "HTTP/1.1 200 OK\r\nContent-Encoding:  gzip \r\nContent-Length: 3\r\n\r\n");
  REQUIRE(gz.state == HeadParse::complete);
  CHECK(gz.head.content_encoding == "gzip");
  CHECK_FALSE(switchyard::core::is_identity_encoding(gz.head.content_encoding));
  CHECK_FALSE(switchyard::core::is_identity_encoding("br"));
  CHECK_FALSE(switchyard::core::is_identity_encoding("gzip, identity"));
  CHECK(switchyard::core::is_identity_encoding(""));
  CHECK(switchyard::core::is_identity_encoding("Identity"));
  CHECK(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .head.content_encoding.empty());
}

TEST_CASE("response head: which final statuses a client can be given") {
  using switchyard::core::is_relayable_status;
  for (int ok : {200, 201, 202, 400, 401, 404, 429, 499, 500, 503, 529, 599}) {
    INFO(ok);
    CHECK(is_relayable_status(ok));
  }
  for (int broken : {100, 101, 103, 199, 204, 205, 206, 300, 301, 302, 304, 307, 600, 999}) {
    INFO(broken);
    CHECK_FALSE(is_relayable_status(broken));
  }
  // A 101 is not skipped like other 1xx heads: it is final, and not relayable.
  CHECK(
      parse_response_head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n").head.status ==
      101);
}
