// Bad input gets a clear OpenAI-shaped error, and neither the connection nor the server
// suffers for it.
#include <catch2/catch.hpp>
#include <thread>

#include "tests/proxy/gateway_fixture.hpp"

using namespace switchyard::testing;

namespace {

// Checks the OpenAI error shape: all four keys, a message, the expected code.
void check_openai_error(const HttpResponse& res, int status, std::string_view code) {
  INFO(res.body);
  CHECK(res.status == status);
  CHECK(res.header("content-type") == "application/json");
  auto body = parse_object(res.body);
  auto& error = body.at("error").as_object();
  CHECK(!error.at("message").as_string().empty());
  CHECK(error.at("type").is_string());
  CHECK(error.contains("param"));
  REQUIRE(error.contains("code"));
  if (!code.empty()) CHECK(error.at("code").as_string() == code);
}

}  // namespace

TEST_CASE("malformed or incomplete chat requests get 400 and the connection stays usable") {
  GatewayFixture gw;
  HttpConnection conn(gw.port);
  check_openai_error(conn.request("POST", "/v1/chat/completions", R"({"model":"gpt-test",)"), 400,
                     "invalid_json");
  check_openai_error(conn.request("POST", "/v1/chat/completions",
                                  R"({"messages":[{"role":"user","content":"x"}]})"),
                     400, "");
  check_openai_error(conn.request("POST", "/v1/chat/completions", R"({"model":"gpt-test"})"), 400,
                     "");
  check_openai_error(
      conn.request("POST", "/v1/chat/completions", R"({"model":"gpt-test","messages":[]})"), 400,
      "");
  check_openai_error(conn.request("POST", "/v1/chat/completions",
                                  R"({"model":42,"messages":[{"role":"user","content":"x"}]})"),
                     400, "");
  check_openai_error(conn.request("POST", "/v1/chat/completions", "[1,2,3]"), 400, "");
  check_openai_error(conn.request("POST", "/v1/chat/completions", ""), 400, "");
  // The same connection still serves a good request.
  auto ok = conn.request("POST", "/v1/chat/completions", chat_body("gpt-test"));
  CHECK(ok.status == 200);
  CHECK(gw.mock_stats().at("requests").as_int64() == 1);  // none of the bad ones went upstream
}

TEST_CASE("missing fields name the parameter at fault") {
  GatewayFixture gw;
  auto res = http_request(gw.port, "POST", "/v1/chat/completions",
                          R"({"messages":[{"role":"user","content":"x"}]})");
  CHECK(parse_object(res.body).at("error").at("param").as_string() == "model");
  res = http_request(gw.port, "POST", "/v1/chat/completions", R"({"model":"gpt-test"})");
  CHECK(parse_object(res.body).at("error").at("param").as_string() == "messages");
}

TEST_CASE("an unknown model gets 404 model_not_found") {
  GatewayFixture gw;
  auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("no-such-model"));
  check_openai_error(res, 404, "model_not_found");
  CHECK(parse_object(res.body).at("error").at("message").as_string().find("no-such-model") !=
        std::string::npos);
}

TEST_CASE("a body over the limit gets 413, one under it is served") {
  GatewayFixture gw({.top_level = "max_body_bytes: 1MiB"});
  const std::string filler(1100 * 1024, 'a');
  auto res = http_request(
      gw.port, "POST", "/v1/chat/completions",
      R"({"model":"gpt-test","messages":[{"role":"user","content":")" + filler + "\"}]}");
  check_openai_error(res, 413, "request_too_large");
  const std::string smaller(900 * 1024, 'b');
  res = http_request(
      gw.port, "POST", "/v1/chat/completions",
      R"({"model":"gpt-test","messages":[{"role":"user","content":")" + smaller + "\"}]}");
  CHECK(res.status == 200);
  CHECK(gw.last_upstream_request().at("body").as_string().size() > smaller.size());
}

TEST_CASE("a multi-megabyte request body of the kind coding agents send is forwarded intact") {
  GatewayFixture gw;
  std::string content;
  for (int i = 0; content.size() < 3u * 1024 * 1024; ++i)
    content += "line " + std::to_string(i) + " of a big file\\n";
  const std::string body =
      R"({"model":"gpt-test","messages":[{"role":"user","content":")" + content + "\"}]}";
  auto res = http_request(gw.port, "POST", "/v1/chat/completions", body);
  REQUIRE(res.status == 200);
  auto sent = gw.last_upstream_request().at("body").as_string();
  auto expected = body;
  expected.replace(expected.find("gpt-test"), 8, "upstream-model-id");
  CHECK(sent == expected);
}

TEST_CASE("wrong paths get 404 and wrong methods 405") {
  GatewayFixture gw;
  check_openai_error(http_request(gw.port, "GET", "/v1/nothing-here"), 404, "unknown_url");
  check_openai_error(http_request(gw.port, "GET", "/v1/chat/completions"), 405,
                     "method_not_allowed");
  check_openai_error(http_request(gw.port, "POST", "/v1/models", "{}"), 405, "method_not_allowed");
}

TEST_CASE("garbage instead of HTTP gets 400 and the server keeps serving others") {
  GatewayFixture gw;
  const std::string answer = raw_exchange(gw.port, "THIS IS NOT HTTP\r\n\r\n");
  CHECK(answer.starts_with("HTTP/1.1 400"));
  const std::string huge_header =
      "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(128 * 1024, 'h') + "\r\n\r\n";
  CHECK(raw_exchange(gw.port, huge_header).starts_with("HTTP/1.1 431"));
  CHECK(http_request(gw.port, "GET", "/health/live").status == 200);
  CHECK(http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test")).status == 200);
}

TEST_CASE("a client that stalls mid-request does not hold up other clients") {
  GatewayFixture gw;
  // Half a request, never finished, on one connection...
  HttpConnection idle(gw.port);
  const std::string partial =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"model\"";
  std::thread stalled([&] { raw_exchange(gw.port, partial, 2s); });
  // ...while others are served.
  for (int i = 0; i < 3; ++i) {
    CHECK(http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test")).status ==
          200);
  }
  stalled.join();
}

TEST_CASE("request framing that cannot be trusted is refused and nothing of it goes upstream") {
  GatewayFixture gw;
  const std::string body = chat_body("gpt-test");
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  const std::string chunked_body = std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n";
  struct Case {
    const char* what;
    std::string request;
  };
  const std::vector<Case> cases = {
      {"a transfer coding other than chunked",
       "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" + body},
      {"chunked not last",
       "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" +
           chunked_body},
      {"a coding before chunked",
       "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
           chunked_body},
      {"Transfer-Encoding in HTTP/1.0",
       "POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
           chunked_body},
      {"Content-Length with Transfer-Encoding",
       "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
       "chunked\r\n\r\n" +
           chunked_body},
      {"a chunk extension that never ends",
       "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=" +
           std::string(64 * 1024, 'a')},
      {"a trailer line that never ends",
       "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
           std::string(size) + "\r\n" + body +
           "\r\n0\r\nX-Trailer: " + std::string(64 * 1024, 't')},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    // Followed by a second, well-formed request that must not be served from the same bytes.
    const std::string answer =
        raw_exchange(gw.port, c.request + "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n", 10s);
    CHECK(answer.starts_with("HTTP/1.1 400"));
    CHECK(answer.find("Connection: close") != std::string::npos);
    CHECK(answer.find("HTTP/1.1 200") == std::string::npos);
  }
  CHECK(gw.mock_stats().at("requests").as_int64() == 0);
  // A well-formed chunked request, with trailers, is served.
  const std::string ok =
      raw_exchange(gw.port,
                   "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: "
                   "close\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       std::string(size) + "\r\n" + body + "\r\n0\r\nX-Checksum: 1\r\n\r\n");
  CHECK(ok.starts_with("HTTP/1.1 200"));
  CHECK(gw.mock_stats().at("requests").as_int64() == 1);
}

TEST_CASE("empty lines before a request line are ignored") {
  GatewayFixture gw;
  const std::string body = chat_body("gpt-test");
  const std::string answer = raw_exchange(gw.port,
                                          "\r\n\r\nPOST /v1/chat/completions HTTP/1.1\r\nHost: "
                                          "x\r\nConnection: close\r\nContent-Length: " +
                                              std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(answer.starts_with("HTTP/1.1 200"));
  // Nothing but empty lines is not a request.
  CHECK(raw_exchange(gw.port, std::string(200, '\n')).starts_with("HTTP/1.1 400"));
}
