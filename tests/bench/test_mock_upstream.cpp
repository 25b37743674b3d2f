// The mock upstream as gateway tests and benchmarks will see it: the real binary, over TCP.

#include <signal.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/mock_upstream.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using switchyard::testing::ChildProcess;
using switchyard::testing::http_request;
using switchyard::testing::HttpConnection;
using switchyard::testing::HttpResponse;
using switchyard::testing::StreamingResponse;
using Clock = std::chrono::steady_clock;

constexpr auto kCompletions = "/v1/chat/completions";

struct Mock {
  ChildProcess process;
  std::uint16_t port;
  std::string listening_line;
};

Mock start_mock(std::vector<std::string> flags = {}) {
  std::vector<std::string> argv{SWITCHYARD_MOCK_UPSTREAM_BIN};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto process = ChildProcess::start(argv);
  std::string line = process.wait_for_line("listening on", 10s);
  const auto port = switchyard::testing::port_from_listening_line(line);
  return Mock{std::move(process), port, std::move(line)};
}

HttpResponse post(std::uint16_t port, const std::string& body,
                  switchyard::testing::HttpHeaders headers = {}) {
  return http_request(port, "POST", kCompletions, body, std::move(headers), 10s);
}

json::object stats(std::uint16_t port) {
  auto res = http_request(port, "GET", "/mock/stats", {}, {}, 5s);
  REQUIRE(res.status == 200);
  return json::parse(res.body).as_object();
}

// Polls a real condition until it holds or the deadline passes.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = 5s) {
  const auto deadline = Clock::now() + limit;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// The data payloads of an SSE body, in order; every event must be one `data:` line and a blank
// line, as OpenAI's API reference shows for chat streams.
std::vector<std::string> sse_data(std::string_view body) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    const auto end = body.find("\n\n", pos);
    REQUIRE(end != std::string_view::npos);
    const std::string_view event = body.substr(pos, end - pos);
    REQUIRE(event.substr(0, 6) == "data: ");
    REQUIRE(event.find('\n') == std::string_view::npos);
    out.emplace_back(event.substr(6));
    pos = end + 2;
  }
  return out;
}

std::string content_of(const json::object& chunk) {
  const auto& choices = chunk.at("choices").as_array();
  REQUIRE(choices.size() == 1);
  const auto& delta = choices[0].at("delta").as_object();
  if (auto* content = delta.if_contains("content")) return std::string(content->as_string());
  return {};
}

// Parses a whole stream and checks the invariants every stream shares; returns the chunks
// (without [DONE]).
std::vector<json::object> chunks_of(const std::string& body) {
  auto events = sse_data(body);
  REQUIRE(!events.empty());
  REQUIRE(events.back() == "[DONE]");
  events.pop_back();
  std::vector<json::object> chunks;
  for (const auto& e : events) chunks.push_back(json::parse(e).as_object());
  for (const auto& c : chunks) {
    CHECK(c.at("id") == chunks.front().at("id"));
    CHECK(c.at("created") == chunks.front().at("created"));
    CHECK(c.at("object") == "chat.completion.chunk");
    CHECK(!c.contains("error"));
  }
  return chunks;
}

std::string joined_content(const std::vector<json::object>& chunks) {
  std::string text;
  for (const auto& c : chunks) {
    if (!c.at("choices").as_array().empty()) text += content_of(c);
  }
  return text;
}

TEST_CASE("non-streaming reply has the OpenAI chat.completion shape and default usage") {
  auto mock = start_mock();
  CHECK(mock.listening_line == "mock upstream listening on 127.0.0.1:" + std::to_string(mock.port));
  auto res = post(mock.port, R"({"model":"gpt-x","messages":[{"role":"user","content":"hi"}]})");
  REQUIRE(res.status == 200);
  CHECK(res.header("content-type") == "application/json");
  auto body = json::parse(res.body).as_object();
  CHECK(std::string(body.at("id").as_string()).rfind("chatcmpl-mock-", 0) == 0);
  CHECK(body.at("object") == "chat.completion");
  CHECK(body.at("model") == "gpt-x");
  CHECK(body.at("created").as_int64() > 0);
  const auto& choice = body.at("choices").as_array().at(0).as_object();
  CHECK(choice.at("index") == 0);
  CHECK(choice.at("finish_reason") == "stop");
  CHECK(choice.at("message").at("role") == "assistant");
  CHECK(choice.at("message").at("content") == "tok0 tok1 tok2 tok3 tok4 ");
  const auto& usage = body.at("usage").as_object();
  CHECK(usage.at("prompt_tokens") == 11);
  CHECK(usage.at("completion_tokens") == 5);
  CHECK(usage.at("total_tokens") == 16);
  CHECK(usage.at("prompt_tokens_details").at("cached_tokens") == 0);
  CHECK(usage.at("completion_tokens_details").at("reasoning_tokens") == 0);

  auto second = json::parse(post(mock.port, R"({"model":"gpt-x"})").body).as_object();
  CHECK(second.at("id") != body.at("id"));
}

TEST_CASE("streaming reply: role chunk, content chunks, finish chunk, [DONE]") {
  auto mock = start_mock();
  StreamingResponse stream(mock.port, "POST", kCompletions, R"({"model":"m","stream":true})");
  REQUIRE(stream.status() == 200);
  CHECK(stream.header("content-type") == "text/event-stream");
  CHECK(stream.header("transfer-encoding") == "chunked");
  auto chunks = chunks_of(stream.read_all(10s));
  REQUIRE(chunks.size() == 7);  // role + 5 content + finish; no usage chunk unless asked
  CHECK(chunks[0].at("choices").at(0).at("delta") ==
        json::parse(R"({"role":"assistant","content":""})"));
  for (int i = 1; i <= 5; ++i) {
    CHECK(content_of(chunks[i]) == "tok" + std::to_string(i - 1) + " ");
    CHECK(chunks[i].at("choices").at(0).at("finish_reason").is_null());
  }
  CHECK(chunks[6].at("choices").at(0).at("delta").as_object().empty());
  CHECK(chunks[6].at("choices").at(0).at("finish_reason") == "stop");
  for (const auto& c : chunks) CHECK(!c.contains("usage"));
  CHECK(chunks[0].at("model") == "m");
}

TEST_CASE("include_usage adds one usage chunk with empty choices just before [DONE]") {
  auto mock = start_mock();
  auto res =
      post(mock.port, R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})");
  REQUIRE(res.status == 200);
  auto chunks = chunks_of(res.body);
  REQUIRE(chunks.size() == 8);
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) {
    CHECK(chunks[i].at("usage").is_null());
    CHECK(chunks[i].at("choices").as_array().size() == 1);
  }
  const auto& last = chunks.back();
  CHECK(last.at("choices").as_array().empty());
  CHECK(last.at("usage") ==
        json::parse(R"({"prompt_tokens":11,"completion_tokens":5,"total_tokens":16,
                        "prompt_tokens_details":{"cached_tokens":0},
                        "completion_tokens_details":{"reasoning_tokens":0}})"));

  auto off = chunks_of(
      post(mock.port, R"({"model":"m","stream":true,"stream_options":{"include_usage":false}})")
          .body);
  CHECK(off.size() == 7);
}

TEST_CASE("mock text is split on word boundaries and reassembles exactly") {
  auto mock = start_mock();
  const std::vector<std::pair<std::string, int>> cases = {
      {"The quick brown fox jumps over the lazy dog", 4},
      {"  leading and trailing spaces  ", 3},
      {"one", 1},
      {"two words", 5},  // fewer words than chunks: some pieces are empty
      {"line one\nline \"two\"\twith tab", 2},
  };
  for (const auto& [text, n] : cases) {
    INFO(text << " in " << n << " chunks");
    json::object mock_object{{"text", text}, {"chunks", n}};
    json::object request{{"model", "m"}, {"stream", true}, {"mock", mock_object}};
    auto chunks = chunks_of(post(mock.port, json::serialize(request)).body);
    REQUIRE(chunks.size() == static_cast<std::size_t>(n) + 2);
    CHECK(joined_content(chunks) == text);
    std::size_t pos = 0;
    for (int i = 1; i <= n; ++i) {
      // A piece never starts inside a word.
      const std::string piece = content_of(chunks[i]);
      if (!piece.empty() && pos > 0) CHECK(std::isspace(static_cast<unsigned char>(text[pos - 1])));
      pos += piece.size();
    }
    request["stream"] = false;
    auto body = json::parse(post(mock.port, json::serialize(request)).body);
    CHECK(body.at("choices").at(0).at("message").at("content").as_string() == text);
  }
  // Evenly: nine words in three chunks are three words each.
  auto chunks = chunks_of(
      post(mock.port,
           R"({"model":"m","stream":true,"mock":{"text":"a b c d e f g h i","chunks":3}})")
          .body);
  CHECK(content_of(chunks[1]) == "a b c ");
  CHECK(content_of(chunks[2]) == "d e f ");
  CHECK(content_of(chunks[3]) == "g h i");
}

TEST_CASE("CLI defaults apply and a request's mock object overrides them") {
  auto mock = start_mock({"--chunks", "3"});
  auto chunks = chunks_of(post(mock.port, R"({"model":"m","stream":true})").body);
  CHECK(chunks.size() == 5);
  CHECK(joined_content(chunks) == "tok0 tok1 tok2 ");

  auto overridden = chunks_of(post(mock.port, R"({"model":"m","stream":true,
      "stream_options":{"include_usage":true},
      "mock":{"chunks":7,"usage":{"prompt_tokens":100,"cached_tokens":40,"reasoning_tokens":2}}})")
                                  .body);
  REQUIRE(overridden.size() == 10);
  CHECK(overridden.back().at("usage") ==
        json::parse(R"({"prompt_tokens":100,"completion_tokens":7,"total_tokens":107,
                        "prompt_tokens_details":{"cached_tokens":40},
                        "completion_tokens_details":{"reasoning_tokens":2}})"));

  auto body = json::parse(
      post(mock.port, R"({"model":"m","mock":{"chunks":2,"usage":{"completion_tokens":42}}})")
          .body);
  CHECK(body.at("choices").at(0).at("message").at("content") == "tok0 tok1 ");
  CHECK(body.at("usage").at("completion_tokens") == 42);
  CHECK(body.at("usage").at("total_tokens") == 53);
}

TEST_CASE("ttft_ms and chunk_delay_ms pace the stream") {
  auto mock = start_mock();
  const auto start = Clock::now();
  StreamingResponse stream(mock.port, "POST", kCompletions,
                           R"({"model":"m","stream":true,
                               "mock":{"ttft_ms":300,"chunk_delay_ms":100,"chunks":3}})");
  REQUIRE(stream.status() == 200);
  std::string seen;
  std::optional<Clock::duration> first_token;
  while (auto piece = stream.next_piece(5s)) {
    seen += *piece;
    if (!first_token && seen.find("tok0") != std::string::npos) first_token = Clock::now() - start;
  }
  const auto total = Clock::now() - start;
  REQUIRE(first_token);
  CHECK(*first_token >= 300ms);
  CHECK(total >= 500ms);  // ttft + two delays between three chunks
  CHECK(chunks_of(seen).size() == 5);

  // Non-streaming replies wait ttft_ms too.
  const auto json_start = Clock::now();
  CHECK(post(mock.port, R"({"model":"m","mock":{"ttft_ms":200}})").status == 200);
  CHECK(Clock::now() - json_start >= 200ms);
}

TEST_CASE("status fault answers with the status, an OpenAI error body and retry-after on 429") {
  auto mock = start_mock();
  auto limited =
      post(mock.port, R"({"model":"m","stream":true,"mock":{"fault":"status","status":429}})");
  CHECK(limited.status == 429);
  CHECK(limited.header("retry-after") == "1");
  auto error = json::parse(limited.body).at("error").as_object();
  CHECK(error.at("message") == "mock fault");
  CHECK(error.at("type").is_string());
  CHECK(error.at("param").is_null());
  CHECK(error.at("code") == "rate_limit_exceeded");

  auto server = post(mock.port, R"({"model":"m","mock":{"fault":"status","status":503}})");
  CHECK(server.status == 503);
  CHECK(server.header("retry-after").empty());
  CHECK(json::parse(server.body).at("error").at("type") == "server_error");

  auto custom = post(
      mock.port, R"({"model":"m","mock":{"fault":"status","status":400,"body":"plain words"}})");
  CHECK(custom.status == 400);
  CHECK(custom.body == "plain words");
  auto object_body =
      post(mock.port,
           R"({"model":"m","mock":{"fault":"status","status":500,"body":{"error":{"code":7}}}})");
  CHECK(object_body.status == 500);
  CHECK(json::parse(object_body.body) == json::parse(R"({"error":{"code":7}})"));
}

TEST_CASE("the status fault's retry-after is the plan's when it names one") {
  auto mock = start_mock();
  auto seven =
      post(mock.port, R"({"model":"m","mock":{"fault":"status","status":429,"retry_after":7}})");
  CHECK(seven.status == 429);
  CHECK(seven.header("retry-after") == "7");
  auto date = post(
      mock.port,
      R"({"model":"m","mock":{"fault":"status","status":503,"retry_after":"Wed, 21 Oct 2037 07:28:00 GMT"}})");
  CHECK(date.status == 503);
  CHECK(date.header("retry-after") == "Wed, 21 Oct 2037 07:28:00 GMT");
  auto none =
      post(mock.port, R"({"model":"m","mock":{"fault":"status","status":429,"retry_after":""}})");
  CHECK(none.status == 429);
  CHECK(none.header("retry-after").empty());
  for (const char* bad : {R"(-1)", R"(1.5)", R"("a\r\nx: y")", R"(true)"}) {
    INFO(bad);
    auto refused =
        post(mock.port,
             std::string(R"({"model":"m","mock":{"fault":"status","retry_after":)") + bad + "}}");
    CHECK(refused.status == 400);
    CHECK(refused.body.find("mock.retry_after") != std::string::npos);
  }
}

TEST_CASE("reset fault drops the connection without a response") {
  auto mock = start_mock();
  REQUIRE_THROWS_WITH(post(mock.port, R"({"model":"m","mock":{"fault":"reset"}})"),
                      Catch::Contains("connection error"));
  // The server carries on.
  CHECK(post(mock.port, R"({"model":"m"})").status == 200);
}

TEST_CASE("stall fault never answers but does not hold up other connections") {
  auto mock = start_mock({"--threads", "1"});
  REQUIRE_THROWS_WITH(
      StreamingResponse(mock.port, "POST", kCompletions,
                        R"({"model":"m","stream":true,"mock":{"fault":"stall"}})", {}, 300ms),
      Catch::Contains("timed out"));

  auto stalled = std::async(std::launch::async, [port = mock.port] {
    return http_request(port, "POST", kCompletions, R"({"model":"m","mock":{"fault":"stall"}})", {},
                        1500ms);
  });
  REQUIRE(eventually([&] { return stats(mock.port).at("requests") == 2; }));
  CHECK(post(mock.port, R"({"model":"m"})").status == 200);
  CHECK(stalled.wait_for(0s) == std::future_status::timeout);  // still held
  REQUIRE_THROWS_WITH(stalled.get(), Catch::Contains("timed out"));
}

TEST_CASE("cut fault ends the body early, without [DONE]") {
  auto mock = start_mock();
  StreamingResponse stream(mock.port, "POST", kCompletions,
                           R"({"model":"m","stream":true,"mock":{"fault":"cut","cut_after":2}})");
  REQUIRE(stream.status() == 200);
  std::string seen;
  REQUIRE_THROWS_WITH(
      [&] {
        while (auto piece = stream.next_piece(5s)) seen += *piece;
      }(),
      Catch::Contains("connection broken"));
  auto events = sse_data(seen);
  REQUIRE(events.size() == 3);  // role chunk + two content chunks
  CHECK(content_of(json::parse(events[1]).as_object()) == "tok0 ");
  CHECK(content_of(json::parse(events[2]).as_object()) == "tok1 ");
  CHECK(seen.find("[DONE]") == std::string::npos);

  // A non-streaming cut promises a content-length it does not deliver.
  REQUIRE_THROWS_WITH(post(mock.port, R"({"model":"m","mock":{"fault":"cut"}})"),
                      Catch::Contains("connection error"));
}

TEST_CASE("stats count streams, and a client leaving mid-stream is counted as aborted at once") {
  auto mock = start_mock();
  CHECK(stats(mock.port) == json::parse(R"({"requests":0,"streams_started":0,
      "streams_completed":0,"streams_aborted":0,"active_streams":0,"aborted":0,
      "protocols":{"openai_chat":0,"azure_chat":0,"anthropic_messages":0,
                   "anthropic_count_tokens":0,"openai_responses":0,"gemini":0,"embeddings":0},
      "keys":{}})"));

  post(mock.port, R"({"model":"m","stream":true})");
  post(mock.port, R"({"model":"m"})");
  CHECK(stats(mock.port) == json::parse(R"({"requests":2,"streams_started":1,
      "streams_completed":1,"streams_aborted":0,"active_streams":0,"aborted":0,
      "protocols":{"openai_chat":2,"azure_chat":0,"anthropic_messages":0,
                   "anthropic_count_tokens":0,"openai_responses":0,"gemini":0,"embeddings":0},
      "keys":{}})"));

  SECTION("leaving during a long time-to-first-token") {
    StreamingResponse stream(mock.port, "POST", kCompletions,
                             R"({"model":"m","stream":true,"mock":{"ttft_ms":60000}})");
    REQUIRE(stream.next_piece(5s).has_value());  // the role chunk comes before the wait
    CHECK(stats(mock.port).at("active_streams") == 1);
    stream.close_abruptly();
    // Well before the 60 s ttft: the mock watches the socket, not just its writes.
    REQUIRE(eventually([&] { return stats(mock.port).at("streams_aborted") == 1; }, 5s));
  }
  SECTION("leaving between chunks") {
    StreamingResponse stream(mock.port, "POST", kCompletions,
                             R"({"model":"m","stream":true,"mock":{"chunk_delay_ms":60000}})");
    std::string seen;
    while (seen.find("tok0") == std::string::npos) seen += stream.next_piece(5s).value();
    stream.close_abruptly();
    REQUIRE(eventually([&] { return stats(mock.port).at("streams_aborted") == 1; }, 5s));
  }
  auto after = stats(mock.port);
  CHECK(after.at("streams_started") == 2);
  CHECK(after.at("streams_completed") == 1);
  CHECK(after.at("active_streams") == 0);
  CHECK(after.at("aborted") == 1);  // a stream the client left is an aborted request too
}

TEST_CASE("x-request-id is echoed and the last request is recorded") {
  auto mock = start_mock();
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"say \"hi\"\n"}]})";
  auto res = http_request(mock.port, "POST", "/chat/completions?x=1", body,
                          {{"X-Request-Id", "req-123"}, {"Authorization", "Bearer sk-test"}}, 5s);
  REQUIRE(res.status == 200);
  CHECK(res.header("x-mock-saw-request-id") == "req-123");
  CHECK(post(mock.port, R"({"model":"m"})").header("x-mock-saw-request-id").empty());

  http_request(mock.port, "POST", "/chat/completions?x=1", body,
               {{"X-Request-Id", "req-456"}, {"Authorization", "Bearer sk-test"}}, 5s);
  http_request(mock.port, "GET", "/mock/stats");  // GETs are not recorded
  auto last = json::parse(http_request(mock.port, "GET", "/mock/last-request").body).as_object();
  CHECK(last.at("method") == "POST");
  CHECK(last.at("target") == "/chat/completions?x=1");
  CHECK(last.at("headers").at("x-request-id") == "req-456");
  CHECK(last.at("headers").at("authorization") == "Bearer sk-test");
  CHECK(last.at("headers").at("content-type") == "application/json");
  CHECK(last.at("body").as_string() == body);
}

TEST_CASE("unknown paths, wrong methods and bad JSON get OpenAI-shaped errors") {
  auto mock = start_mock();
  auto missing = http_request(mock.port, "GET", "/v1/models");
  CHECK(missing.status == 404);
  CHECK(json::parse(missing.body).at("error").at("message").is_string());

  CHECK(http_request(mock.port, "GET", kCompletions).status == 405);

  for (const char* bad :
       {"{not json", "[1,2]", R"({"stream":true})", R"({"model":"m","mock":{"fault":"nope"}})",
        R"({"model":"m","mock":{"chunks":"many"}})"}) {
    INFO(bad);
    auto res = post(mock.port, bad);
    CHECK(res.status == 400);
    CHECK(json::parse(res.body).at("error").at("type") == "invalid_request_error");
  }
}

TEST_CASE("keep-alive: one connection carries several requests") {
  auto mock = start_mock();
  HttpConnection connection(mock.port);
  for (int i = 0; i < 3; ++i) {
    CHECK(connection.request("POST", kCompletions, R"({"model":"m"})").status == 200);
    CHECK(connection.request("POST", kCompletions, R"({"model":"m","stream":true})").status == 200);
    CHECK(connection.is_open());
  }
  auto res = connection.request("GET", "/mock/stats", {}, {{"Connection", "close"}});
  CHECK(json::parse(res.body).at("requests") == 6);
  CHECK(!connection.is_open());
}

TEST_CASE("a pipelined request sent during a stream is answered after it") {
  auto mock = start_mock();
  const std::string first = R"({"model":"m","stream":true,"mock":{"chunk_delay_ms":20}})";
  const std::string second = R"({"model":"m"})";
  auto request = [](const std::string& body, bool close) {
    return std::string(
               "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: "
               "application/json\r\n") +
           (close ? "connection: close\r\n" : "") +
           "content-length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  auto reply = switchyard::testing::raw_exchange(
      mock.port, request(first, false) + request(second, true), 10s);
  const auto done = reply.find("data: [DONE]");
  const auto second_status = reply.find("HTTP/1.1 200", 1);
  REQUIRE(done != std::string::npos);
  REQUIRE(second_status != std::string::npos);
  CHECK(done < second_status);
  CHECK(reply.find("\"object\":\"chat.completion\"") != std::string::npos);
  CHECK(stats(mock.port).at("streams_aborted") == 0);
}

TEST_CASE("malformed HTTP gets a 400 and a closed connection") {
  auto mock = start_mock();
  auto reply = switchyard::testing::raw_exchange(mock.port, "THIS IS NOT HTTP\r\n\r\n", 5s);
  CHECK(reply.rfind("HTTP/1.1 400", 0) == 0);
}

TEST_CASE("several threads share the port and one set of counters") {
  auto mock = start_mock({"--threads", "3"});
  for (int i = 0; i < 30; ++i) {
    CHECK(post(mock.port, i % 2 ? R"({"model":"m"})" : R"({"model":"m","stream":true})").status ==
          200);
  }
  // A stream counts as completed once the mock's last write completes, which can come just
  // after the client has read it.
  CHECK(eventually([&] { return stats(mock.port).at("streams_completed") == 15; }, 5s));
  CHECK(stats(mock.port).at("requests") == 30);
}

// ---------------------------------------------------------------------------------------------
// The instance plan and the counters routing tests use: several mocks, one of them misbehaving.

HttpResponse put_plan(std::uint16_t port, const std::string& plan) {
  return http_request(port, "PUT", "/mock/plan", plan, {}, 5s);
}

TEST_CASE("the instance plan wins over the request's plan, and PUT /mock/plan replaces it") {
  auto mock = start_mock({"--plan", R"({"text":"from the instance"})"});
  const std::string request =
      R"({"model":"m","stream":true,"mock":{"text":"from the request","chunks":3},
          "messages":[{"role":"user","content":"#mock {\"text\":\"from the line\"}"}]})";
  auto chunks = chunks_of(post(mock.port, request).body);
  CHECK(joined_content(chunks) == "from the instance");
  CHECK(chunks.size() == 5);  // the request's chunks still apply: the plans are layered
  CHECK(json::parse(http_request(mock.port, "GET", "/mock/plan").body) ==
        json::parse(R"({"text":"from the instance"})"));

  auto set = put_plan(mock.port, R"({"fault":"status","status":503})");
  CHECK((set.status == 204 || set.status == 200));
  CHECK(post(mock.port, request).status == 503);
  CHECK(post(mock.port, R"({"model":"m"})").status == 503);

  for (const char* bad :
       {"", "[1]", "not json", R"({"fault":"nope"})", R"({"a":1} x)", R"({"revoked_keys":"k"})"}) {
    INFO(bad);
    auto refused = put_plan(mock.port, bad);
    CHECK(refused.status == 400);
    CHECK(json::parse(refused.body).at("error").at("message").is_string());
  }
  CHECK(post(mock.port, R"({"model":"m"})").status == 503);  // a refused plan changes nothing

  CHECK(put_plan(mock.port, "{}").status / 100 == 2);
  CHECK(joined_content(chunks_of(post(mock.port, request).body)) == "from the line");
  CHECK(http_request(mock.port, "GET", "/mock/plan").body == "{}");
}

TEST_CASE("a --plan that is not a plan object is a usage error") {
  auto bad = ChildProcess::start({SWITCHYARD_MOCK_UPSTREAM_BIN, "--plan", R"({"fault":7})"});
  CHECK(bad.wait_exit(10s) == 2);
  CHECK(bad.output().find("mock.fault") != std::string::npos);
}

TEST_CASE("several mocks in-process: one fails while the others answer, then recovers") {
  switchyard::bench::MockUpstreamOptions healthy_options;
  switchyard::bench::MockUpstreamOptions failing_options;
  failing_options.instance_plan = R"({"fault":"status","status":529})";
  switchyard::bench::MockUpstream healthy(healthy_options);
  switchyard::bench::MockUpstream failing(failing_options);
  healthy.start();
  failing.start();
  REQUIRE(healthy.port() != failing.port());

  CHECK(post(healthy.port(), R"({"model":"m"})").status == 200);
  CHECK(post(failing.port(), R"({"model":"m"})").status == 529);
  failing.set_instance_plan("{}");
  CHECK(post(failing.port(), R"({"model":"m"})").status == 200);
  CHECK(stats(healthy.port()).at("requests") == 1);
  CHECK(stats(failing.port()).at("requests") == 2);
  CHECK_THROWS_AS(failing.set_instance_plan("[]"), std::invalid_argument);

  failing_options.instance_plan = "{";
  CHECK_THROWS_AS(switchyard::bench::MockUpstream(failing_options), std::invalid_argument);
}

TEST_CASE("fail_first: the fault hits the first N requests after the plan is set, then none") {
  auto mock = start_mock({"--threads", "2"});
  REQUIRE(put_plan(mock.port, R"({"fault":"status","status":503,"fail_first":2})").status / 100 ==
          2);
  // Fresh connections, so both threads take some: the count is the instance's.
  std::vector<int> statuses;
  for (int i = 0; i < 5; ++i) statuses.push_back(post(mock.port, R"({"model":"m"})").status);
  CHECK(statuses == std::vector<int>{503, 503, 200, 200, 200});

  // Setting the plan again starts the count again: a target that goes down a second time.
  REQUIRE(put_plan(mock.port, R"({"fault":"context_length","fail_first":1})").status / 100 == 2);
  CHECK(post(mock.port, R"({"model":"m"})").status == 400);
  CHECK(post(mock.port, R"({"model":"m"})").status == 200);

  // A request's own fail_first counts by the same sequence, from the last PUT.
  REQUIRE(put_plan(mock.port, "{}").status / 100 == 2);
  const std::string failing_once = R"({"model":"m","mock":{"fault":"status","fail_first":1}})";
  CHECK(post(mock.port, failing_once).status == 500);
  CHECK(post(mock.port, failing_once).status == 200);
  CHECK(post(mock.port, R"({"model":"m","mock":{"fault":"status","fail_first":3}})").status == 500);
}

TEST_CASE("slow_every: every Nth request waits slow_ttft_ms before its first content") {
  auto mock = start_mock();
  REQUIRE(put_plan(mock.port, R"({"slow_every":3,"slow_ttft_ms":60000})").status / 100 == 2);
  for (int i = 1; i <= 6; ++i) {
    INFO("request " << i);
    if (i % 3 != 0) {
      CHECK(post(mock.port, R"({"model":"m"})").status == 200);
    } else {
      CHECK_THROWS_WITH(
          http_request(mock.port, "POST", kCompletions, R"({"model":"m"})", {}, 300ms),
          Catch::Contains("timed out"));
    }
  }
  // The two slow ones were left by their clients while they waited.
  CHECK(eventually([&] { return stats(mock.port).at("aborted") == 2; }));

  // Streams too: the head and the role chunk at once, then the slow wait before content.
  REQUIRE(put_plan(mock.port, R"({"slow_every":2,"slow_ttft_ms":60000,"ttft_ms":0})").status /
              100 ==
          2);
  CHECK(post(mock.port, R"({"model":"m","stream":true})").status == 200);
  StreamingResponse slow(mock.port, "POST", kCompletions, R"({"model":"m","stream":true})", {}, 5s);
  CHECK(slow.status() == 200);
  CHECK(slow.next_piece(5s).value().find(R"("role":"assistant")") != std::string::npos);
  CHECK_THROWS_WITH(slow.next_piece(300ms), Catch::Contains("timed out"));
}

TEST_CASE("a streamed reply's head goes out before the ttft wait, in every protocol") {
  auto mock = start_mock({"--ttft-ms", "60000"});
  struct Case {
    const char* target;
    const char* body;
    switchyard::testing::HttpHeaders headers;
    bool opening_event;  // Gemini has none: its head is the status line and headers alone
  };
  const std::vector<Case> cases = {
      {kCompletions, R"({"model":"m","stream":true})", {}, true},
      {"/v1/messages",
       R"({"model":"m","max_tokens":9,"stream":true})",
       {{"anthropic-version", "2023-06-01"}},
       true},
      {"/v1/responses", R"({"model":"m","stream":true})", {}, true},
      {"/v1beta/models/g:streamGenerateContent?alt=sse",
       R"({"contents":[]})",
       {{"x-goog-api-key", "g"}},
       false},
  };
  for (const Case& c : cases) {
    INFO(c.target);
    StreamingResponse stream(mock.port, "POST", c.target, c.body, c.headers, 5s);
    CHECK(stream.status() == 200);
    CHECK(stream.header("content-type") == "text/event-stream");
    // Whatever opening events there are arrive at once; then silence, and no content yet.
    std::string seen;
    bool silent = false;
    for (int i = 0; i < 10 && !silent; ++i) {
      try {
        seen += stream.next_piece(seen.empty() && c.opening_event ? 5s : 300ms).value();
      } catch (const std::runtime_error& e) {
        REQUIRE(std::string(e.what()).find("timed out") != std::string::npos);
        silent = true;
      }
    }
    CHECK(silent);
    CHECK(seen.empty() == !c.opening_event);
    CHECK(seen.find("tok0") == std::string::npos);
  }
}

TEST_CASE("revoked_keys: a revoked credential gets 401 in each header form, another key 200") {
  auto mock = start_mock();
  REQUIRE(put_plan(mock.port, R"({"revoked_keys":["sk-old","sk-older"]})").status / 100 == 2);
  const std::string chat_body = R"({"model":"m"})";
  const std::string anthropic_body = R"({"model":"m","max_tokens":9})";
  const std::string gemini_body = R"({"contents":[]})";
  const std::string gemini = "/v1beta/models/g:generateContent";
  const std::string azure = "/openai/deployments/d/chat/completions?api-version=2024-10-21";
  using H = switchyard::testing::HttpHeaders;
  struct Case {
    std::string name;
    std::function<HttpResponse(const std::string&)> send;
    std::function<void(const json::object&)> check_error;
  };
  auto openai_401 = [](const json::object& body) {
    CHECK(body.at("error").at("type") == "authentication_error");
  };
  const std::vector<Case> cases = {
      {"Authorization: Bearer",
       [&](const std::string& key) {
         return http_request(mock.port, "POST", kCompletions, chat_body,
                             H{{"Authorization", "Bearer " + key}}, 5s);
       },
       openai_401},
      {"x-api-key",
       [&](const std::string& key) {
         return http_request(mock.port, "POST", "/v1/messages", anthropic_body,
                             H{{"x-api-key", key}, {"anthropic-version", "2023-06-01"}}, 5s);
       },
       [](const json::object& body) {
         CHECK(body.at("type") == "error");
         CHECK(body.at("error").at("type") == "authentication_error");
       }},
      {"api-key",
       [&](const std::string& key) {
         return http_request(mock.port, "POST", azure, chat_body, H{{"api-key", key}}, 5s);
       },
       openai_401},
      {"x-goog-api-key",
       [&](const std::string& key) {
         return http_request(mock.port, "POST", gemini, gemini_body, H{{"x-goog-api-key", key}},
                             5s);
       },
       [](const json::object& body) {
         CHECK(body.at("error").at("code") == 401);
         CHECK(body.at("error").at("status") == "UNAUTHENTICATED");
       }},
      {"?key=",
       [&](const std::string& key) {
         return http_request(mock.port, "POST", gemini + "?key=" + key, gemini_body, {}, 5s);
       },
       [](const json::object& body) { CHECK(body.at("error").at("status") == "UNAUTHENTICATED"); }},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto revoked = c.send("sk-older");
    CHECK(revoked.status == 401);
    c.check_error(json::parse(revoked.body).as_object());
    CHECK(c.send("sk-new").status == 200);
  }
}

TEST_CASE("context_length: the 400 each provider sends for a prompt over the window") {
  auto mock = start_mock({"--plan", R"({"fault":"context_length"})"});
  using H = switchyard::testing::HttpHeaders;
  for (bool stream : {false, true}) {
    INFO("stream " << stream);
    const std::string flag = stream ? "true" : "false";
    for (const char* target : {kCompletions, "/v1/responses",
                               "/openai/deployments/d/chat/completions?api-version=2024-10-21"}) {
      INFO(target);
      auto res = http_request(mock.port, "POST", target, R"({"model":"m","stream":)" + flag + "}",
                              H{{"api-key", "k"}}, 5s);
      CHECK(res.status == 400);
      const auto error = json::parse(res.body).at("error").as_object();
      CHECK(error.at("code") == "context_length_exceeded");
      CHECK(error.at("type") == "invalid_request_error");
      CHECK(error.at("param") == "messages");
      CHECK(std::string(error.at("message").as_string())
                .find("maximum context length is 128000 tokens") != std::string::npos);
    }
    auto anthropic = http_request(mock.port, "POST", "/v1/messages",
                                  R"({"model":"m","max_tokens":9,"stream":)" + flag + "}",
                                  H{{"anthropic-version", "2023-06-01"}}, 5s);
    CHECK(anthropic.status == 400);
    const auto body = json::parse(anthropic.body).as_object();
    CHECK(body.at("type") == "error");
    CHECK(body.at("error").at("type") == "invalid_request_error");
    CHECK(body.at("error").at("message") == "prompt is too long: 210000 tokens > 200000 maximum");

    auto gemini = http_request(mock.port, "POST",
                               stream ? "/v1beta/models/g:streamGenerateContent?alt=sse"
                                      : "/v1beta/models/g:generateContent",
                               R"({"contents":[]})", H{{"x-goog-api-key", "k"}}, 5s);
    CHECK(gemini.status == 400);
    const auto error = json::parse(gemini.body).at("error").as_object();
    CHECK(error.at("code") == 400);
    CHECK(error.at("status") == "INVALID_ARGUMENT");
    CHECK(
        std::string(error.at("message").as_string()).find("exceeds the maximum number of tokens") !=
        std::string::npos);
  }
}

TEST_CASE("stats count requests per key and aborted requests, and reset-stats zeroes them") {
  auto mock = start_mock();
  using H = switchyard::testing::HttpHeaders;
  post(mock.port, R"({"model":"m"})", H{{"Authorization", "Bearer key-a"}});
  post(mock.port, R"({"model":"m"})", H{{"Authorization", "Bearer key-a"}});
  post(mock.port, R"({"model":"m"})", H{{"x-api-key", "key-b"}});
  post(mock.port, R"({"model":"m"})");
  CHECK(stats(mock.port).at("keys") == json::parse(R"({"key-a":2,"key-b":1})"));

  // A non-streamed request whose client leaves during the ttft wait: the losing hedge.
  CHECK_THROWS_WITH(http_request(mock.port, "POST", kCompletions,
                                 R"({"model":"m","mock":{"ttft_ms":60000}})", {}, 300ms),
                    Catch::Contains("timed out"));
  REQUIRE(eventually([&] { return stats(mock.port).at("aborted") == 1; }));
  // And a stalled one left by its client.
  CHECK_THROWS_WITH(http_request(mock.port, "POST", kCompletions,
                                 R"({"model":"m","mock":{"fault":"stall"}})", {}, 300ms),
                    Catch::Contains("timed out"));
  REQUIRE(eventually([&] { return stats(mock.port).at("aborted") == 2; }));
  CHECK(stats(mock.port).at("streams_aborted") == 0);  // neither was a stream
  CHECK(post(mock.port, R"({"model":"m","mock":{"ttft_ms":10}})").status == 200);
  CHECK(stats(mock.port).at("aborted") == 2);  // a client that waits is not counted

  auto reset = http_request(mock.port, "POST", "/mock/reset-stats", {}, {}, 5s);
  CHECK(reset.status == 204);
  CHECK(stats(mock.port) == json::parse(R"({"requests":0,"streams_started":0,
      "streams_completed":0,"streams_aborted":0,"active_streams":0,"aborted":0,
      "protocols":{"openai_chat":0,"azure_chat":0,"anthropic_messages":0,
                   "anthropic_count_tokens":0,"openai_responses":0,"gemini":0,"embeddings":0},
      "keys":{}})"));
  post(mock.port, R"({"model":"m"})", H{{"Authorization", "Bearer key-c"}});
  CHECK(stats(mock.port).at("keys") == json::parse(R"({"key-c":1})"));
  CHECK(stats(mock.port).at("requests") == 1);
}

TEST_CASE("SIGTERM and SIGINT make the mock exit 0") {
  for (int signal : {SIGTERM, SIGINT}) {
    auto mock = start_mock();
    StreamingResponse open_stream(mock.port, "POST", kCompletions,
                                  R"({"model":"m","stream":true,"mock":{"ttft_ms":60000}})");
    mock.process.send_signal(signal);
    CHECK(mock.process.wait_exit(5s) == 0);
  }
}

TEST_CASE("the mock runs in-process through the library API") {
  switchyard::bench::MockUpstreamOptions options;
  options.chunks = 2;
  options.threads = 2;
  switchyard::bench::MockUpstream mock(options);
  mock.start();
  REQUIRE(mock.port() != 0);
  auto body = json::parse(post(mock.port(), R"({"model":"m"})").body);
  CHECK(body.at("choices").at(0).at("message").at("content") == "tok0 tok1 ");
  mock.stop();
  mock.stop();
  CHECK_THROWS(post(mock.port(), R"({"model":"m"})"));
}

// A temporary directory removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "switchyard-mock-tls-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

int run_tool(std::vector<std::string> argv, std::string* output = nullptr) {
  auto tool = ChildProcess::start(std::move(argv));
  auto code = tool.wait_exit(60s);
  REQUIRE(code);
  if (output) *output = tool.output();
  return *code;
}

TEST_CASE("TLS mode serves HTTPS with the given certificate") {
  TempDir dir;
  const std::string cert = (dir.path / "cert.pem").string();
  const std::string key = (dir.path / "key.pem").string();
  REQUIRE(run_tool({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                    "-keyout", key, "-out", cert}) == 0);

  auto mock = start_mock({"--tls-cert", cert, "--tls-key", key, "--threads", "2"});
  CHECK(mock.listening_line ==
        "mock upstream listening on https://127.0.0.1:" + std::to_string(mock.port));
  const std::string url = "https://127.0.0.1:" + std::to_string(mock.port) + kCompletions;

  std::string out;
  CHECK(run_tool({"curl", "-sS", "--max-time", "20", "--cacert", cert, "-H",
                  "content-type: application/json", "-d", R"({"model":"tls-m"})", url},
                 &out) == 0);
  CHECK(out.find(R"("model":"tls-m")") != std::string::npos);
  CHECK(out.find("tok0 tok1 tok2 tok3 tok4 ") != std::string::npos);

  CHECK(run_tool({"curl", "-sS", "-N", "--max-time", "20", "--cacert", cert, "-H",
                  "content-type: application/json", "-d",
                  R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})", url},
                 &out) == 0);
  CHECK(out.find("data: [DONE]\n\n") != std::string::npos);
  CHECK(out.find(R"("choices":[],"usage":{"prompt_tokens":11)") != std::string::npos);

  // Without the certificate as trust anchor verification fails, so the test above did verify.
  CHECK(run_tool({"curl", "-sS", "--max-time", "20", "-d", "{}", url}, &out) != 0);
}

}  // namespace
