// The mock upstream's provider shapes other than plain OpenAI chat (Azure, Anthropic Messages,
// OpenAI Responses, Gemini, embeddings), its "#mock" lines and scripted tool calls, as a client
// of each provider sees them: the real binary, over TCP.

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using switchyard::testing::ChildProcess;
using switchyard::testing::http_request;
using switchyard::testing::HttpHeaders;
using switchyard::testing::HttpResponse;
using switchyard::testing::StreamingResponse;

constexpr auto kMessages = "/v1/messages";
constexpr auto kResponses = "/v1/responses";
const HttpHeaders kAnthropicHeaders{{"anthropic-version", "2023-06-01"}, {"x-api-key", "sk-ant"}};
const HttpHeaders kGeminiHeaders{{"x-goog-api-key", "g-key"}};
const HttpHeaders kAzureHeaders{{"api-key", "az-key"}};
constexpr auto kAzureChat = "/openai/deployments/dep-1/chat/completions?api-version=2024-10-21";
constexpr auto kGeminiJson = "/v1beta/models/gemini-x:generateContent";
constexpr auto kGeminiStream = "/v1beta/models/gemini-x:streamGenerateContent?alt=sse";

struct Mock {
  ChildProcess process;
  std::uint16_t port;
};

Mock start_mock(std::vector<std::string> flags = {}) {
  std::vector<std::string> argv{SWITCHYARD_MOCK_UPSTREAM_BIN};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto process = ChildProcess::start(argv);
  const auto port =
      switchyard::testing::port_from_listening_line(process.wait_for_line("listening on", 10s));
  return Mock{std::move(process), port};
}

HttpResponse post(std::uint16_t port, std::string_view target, const std::string& body,
                  const HttpHeaders& headers = {}) {
  return http_request(port, "POST", target, body, headers, 10s);
}

json::object parse_object(const std::string& text) {
  INFO(text);
  return json::parse(text).as_object();
}

std::string str(const json::value& v) { return std::string(v.as_string()); }

// "#mock {...}" for a message text.
std::string mock_line(const json::object& plan) { return "#mock " + json::serialize(plan); }

struct SseEvent {
  std::string name;  // the event: line, "" when absent
  std::string data;
};

// Every event must end in a blank line and hold only event: and data: lines.
std::vector<SseEvent> parse_sse(std::string_view body) {
  std::vector<SseEvent> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    const auto end = body.find("\n\n", pos);
    REQUIRE(end != std::string_view::npos);
    std::string_view block = body.substr(pos, end - pos);
    SseEvent event;
    while (!block.empty()) {
      const auto nl = block.find('\n');
      const std::string_view line = block.substr(0, nl);
      if (line.rfind("event: ", 0) == 0) {
        event.name = std::string(line.substr(7));
      } else {
        REQUIRE(line.rfind("data: ", 0) == 0);
        event.data += line.substr(6);
      }
      block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
    }
    out.push_back(std::move(event));
    pos = end + 2;
  }
  return out;
}

// Events of a stream whose every frame has an event: line naming its data's "type" (Anthropic,
// Responses); returns the data objects.
std::vector<json::object> typed_events(const std::string& body) {
  std::vector<json::object> out;
  for (const auto& e : parse_sse(body)) {
    auto data = parse_object(e.data);
    CHECK(e.name == str(data.at("type")));
    out.push_back(std::move(data));
  }
  return out;
}

std::vector<std::string> types_of(const std::vector<json::object>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(str(e.at("type")));
  return out;
}

// Reads a stream that the server breaks off; returns what arrived.
std::string read_until_broken(StreamingResponse& stream) {
  std::string seen;
  REQUIRE_THROWS_WITH(
      [&] {
        while (auto piece = stream.next_piece(5s)) seen += *piece;
      }(),
      Catch::Contains("connection broken"));
  return seen;
}

std::string anthropic_body(const std::string& text, bool stream, const std::string& extra = "") {
  json::object body{{"model", "claude-x"},
                    {"max_tokens", 100},
                    {"stream", stream},
                    {"messages", json::array{json::object{{"role", "user"}, {"content", text}}}}};
  std::string out = json::serialize(body);
  if (!extra.empty()) out.insert(out.size() - 1, "," + extra);
  return out;
}

std::string responses_body(const std::string& text, bool stream, const std::string& extra = "") {
  json::object body{{"model", "gpt-r"}, {"stream", stream}, {"input", text}};
  std::string out = json::serialize(body);
  if (!extra.empty()) out.insert(out.size() - 1, "," + extra);
  return out;
}

std::string gemini_body(const std::string& text, const std::string& extra = "") {
  json::object body{
      {"contents", json::array{json::object{
                       {"role", "user"}, {"parts", json::array{json::object{{"text", text}}}}}}}};
  std::string out = json::serialize(body);
  if (!extra.empty()) out.insert(out.size() - 1, "," + extra);
  return out;
}

std::string chat_body(const std::string& text, bool stream) {
  json::object body{{"model", "gpt-x"},
                    {"stream", stream},
                    {"messages", json::array{json::object{{"role", "user"}, {"content", text}}}}};
  return json::serialize(body);
}

// ---------------------------------------------------------------------------------------------

TEST_CASE("Azure chat needs api-key and api-version and answers with the deployment as model") {
  auto mock = start_mock();
  const std::string body = R"({"messages":[{"role":"user","content":"hi"}]})";

  auto no_key = post(mock.port, kAzureChat, body);
  CHECK(no_key.status == 401);
  CHECK(parse_object(no_key.body).at("error").at("message").is_string());
  CHECK(parse_object(no_key.body).at("error").at("type") == "authentication_error");

  auto no_version =
      post(mock.port, "/openai/deployments/dep-1/chat/completions", body, kAzureHeaders);
  CHECK(no_version.status == 400);
  CHECK(parse_object(no_version.body).at("error").at("type") == "invalid_request_error");

  auto ok = parse_object(post(mock.port, kAzureChat, body, kAzureHeaders).body);
  CHECK(ok.at("object") == "chat.completion");
  CHECK(ok.at("model") == "dep-1");
  CHECK(ok.at("choices").at(0).at("message").at("content") == "tok0 tok1 tok2 tok3 tok4 ");

  auto streamed =
      post(mock.port, kAzureChat,
           R"({"stream":true,"model":"ignored","stream_options":{"include_usage":true}})",
           kAzureHeaders);
  REQUIRE(streamed.status == 200);
  auto events = parse_sse(streamed.body);
  REQUIRE(events.size() == 9);
  CHECK(events.back().data == "[DONE]");
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    CHECK(events[i].name.empty());
    CHECK(parse_object(events[i].data).at("model") == "dep-1");
  }
}

TEST_CASE("Anthropic JSON message: shape, stop_reason and usage excluding cache reads and writes") {
  auto mock = start_mock();
  const std::string extra =
      R"("mock":{"text":"Hello there","usage":{"prompt_tokens":100,"cached_tokens":30,"cache_creation_tokens":20,"completion_tokens":7}})";
  for (const char* target : {"/v1/messages", "/v1/messages?beta=true"}) {
    INFO(target);
    auto res = post(mock.port, target, anthropic_body("hi", false, extra), kAnthropicHeaders);
    REQUIRE(res.status == 200);
    CHECK(res.header("content-type") == "application/json");
    auto m = parse_object(res.body);
    CHECK(str(m.at("id")).rfind("msg_", 0) == 0);
    CHECK(m.at("type") == "message");
    CHECK(m.at("role") == "assistant");
    CHECK(m.at("model") == "claude-x");
    CHECK(m.at("content") == json::parse(R"([{"type":"text","text":"Hello there"}])"));
    CHECK(m.at("stop_reason") == "end_turn");
    CHECK(m.at("stop_sequence").is_null());
    const auto& usage = m.at("usage").as_object();
    CHECK(usage.at("input_tokens") == 50);
    CHECK(usage.at("cache_read_input_tokens") == 30);
    CHECK(usage.at("cache_creation_input_tokens") == 20);
    CHECK(usage.at("output_tokens") == 7);
  }
}

TEST_CASE("Anthropic headers and required fields are enforced with Anthropic-shaped errors") {
  auto mock = start_mock();
  auto no_version = post(mock.port, kMessages, anthropic_body("hi", false), {{"x-api-key", "k"}});
  CHECK(no_version.status == 400);
  auto error = parse_object(no_version.body);
  CHECK(error.at("type") == "error");
  CHECK(error.at("error").at("type") == "invalid_request_error");
  CHECK(str(error.at("error").at("message")).find("anthropic-version") != std::string::npos);

  auto no_max =
      post(mock.port, kMessages, R"({"model":"c","messages":[{"role":"user","content":"hi"}]})",
           kAnthropicHeaders);
  CHECK(no_max.status == 400);
  CHECK(parse_object(no_max.body).at("error").at("type") == "invalid_request_error");

  auto count_no_version =
      post(mock.port, "/v1/messages/count_tokens", R"({"model":"c","messages":[]})");
  CHECK(count_no_version.status == 400);
  CHECK(parse_object(count_no_version.body).at("type") == "error");
}

TEST_CASE("Anthropic stream: event lines, block order, ping, cumulative usage, message_stop") {
  auto mock = start_mock();
  const std::string extra =
      R"("mock":{"text":"Hello there world","chunks":3,"usage":{"prompt_tokens":40,"cached_tokens":10,"completion_tokens":3}})";
  StreamingResponse stream(mock.port, "POST", kMessages, anthropic_body("hi", true, extra),
                           kAnthropicHeaders);
  REQUIRE(stream.status() == 200);
  CHECK(stream.header("content-type") == "text/event-stream");
  auto events = typed_events(stream.read_all(10s));
  CHECK(types_of(events) == std::vector<std::string>{"message_start", "content_block_start", "ping",
                                                     "content_block_delta", "content_block_delta",
                                                     "content_block_delta", "content_block_stop",
                                                     "message_delta", "message_stop"});
  const auto& start = events[0].at("message").as_object();
  CHECK(start.at("content").as_array().empty());
  CHECK(start.at("stop_reason").is_null());
  CHECK(start.at("model") == "claude-x");
  CHECK(start.at("usage").at("input_tokens") == 30);
  CHECK(start.at("usage").at("cache_read_input_tokens") == 10);
  CHECK(events[1].at("index") == 0);
  CHECK(events[1].at("content_block") == json::parse(R"({"type":"text","text":""})"));
  std::string text;
  for (int i = 3; i <= 5; ++i) {
    CHECK(events[i].at("index") == 0);
    CHECK(events[i].at("delta").at("type") == "text_delta");
    text += str(events[i].at("delta").at("text"));
  }
  CHECK(text == "Hello there world");
  CHECK(events[6].at("index") == 0);
  CHECK(events[7].at("delta").at("stop_reason") == "end_turn");
  CHECK(events[7].at("usage").at("output_tokens") == 3);
  CHECK(events[7].at("usage").at("input_tokens") == 30);
}

TEST_CASE("Anthropic faults: 429 with retry-after, 529, 500, a cut stream and an in-stream error") {
  auto mock = start_mock();
  auto fault = [&](int status) {
    const std::string extra =
        R"("mock":{"fault":"status","status":)" + std::to_string(status) + "}";
    return post(mock.port, kMessages, anthropic_body("hi", true, extra), kAnthropicHeaders);
  };
  auto limited = fault(429);
  CHECK(limited.status == 429);
  CHECK(limited.header("retry-after") == "1");
  CHECK(parse_object(limited.body) ==
        json::parse(
            R"({"type":"error","error":{"type":"rate_limit_error","message":"mock fault"}})"));
  auto overloaded = fault(529);
  CHECK(overloaded.status == 529);
  CHECK(parse_object(overloaded.body).at("error").at("type") == "overloaded_error");
  auto internal = fault(500);
  CHECK(internal.status == 500);
  CHECK(parse_object(internal.body).at("error").at("type") == "api_error");

  StreamingResponse cut(mock.port, "POST", kMessages,
                        anthropic_body("hi", true, R"("mock":{"fault":"cut","cut_after":2})"),
                        kAnthropicHeaders);
  REQUIRE(cut.status() == 200);
  auto seen = read_until_broken(cut);
  auto cut_events = typed_events(seen);
  CHECK(types_of(cut_events) == std::vector<std::string>{"message_start", "content_block_start",
                                                         "ping", "content_block_delta",
                                                         "content_block_delta"});

  auto errored = post(
      mock.port, kMessages,
      anthropic_body("hi", true, R"("mock":{"fault":"stream_error","cut_after":1,"status":529})"),
      kAnthropicHeaders);
  REQUIRE(errored.status == 200);
  auto events = typed_events(errored.body);
  REQUIRE(events.size() == 5);
  CHECK(events[3].at("type") == "content_block_delta");
  CHECK(events[4].at("type") == "error");
  CHECK(events[4].at("error").at("type") == "overloaded_error");
}

TEST_CASE("count_tokens answers input_tokens from the request's text size") {
  auto mock = start_mock();
  // 40 characters of text in system and messages: 10 tokens.
  const std::string body =
      R"({"model":"c","system":"0123456789","messages":[{"role":"user","content":[{"type":"text","text":"012345678901234567890123456789"}]}]})";
  auto res = post(mock.port, "/v1/messages/count_tokens?beta=true", body, kAnthropicHeaders);
  REQUIRE(res.status == 200);
  CHECK(parse_object(res.body) == json::parse(R"({"input_tokens":10})"));
}

TEST_CASE("Responses JSON object and stream with sequence numbers, items and usage") {
  auto mock = start_mock();
  const std::string extra =
      R"("mock":{"text":"one two three","chunks":3,"usage":{"prompt_tokens":20,"cached_tokens":5,"reasoning_tokens":2,"completion_tokens":9}})";
  auto json_res = post(mock.port, kResponses, responses_body("hi", false, extra));
  REQUIRE(json_res.status == 200);
  auto r = parse_object(json_res.body);
  CHECK(str(r.at("id")).rfind("resp_", 0) == 0);
  CHECK(r.at("object") == "response");
  CHECK(r.at("status") == "completed");
  CHECK(r.at("model") == "gpt-r");
  const auto& item = r.at("output").at(0).as_object();
  CHECK(item.at("type") == "message");
  CHECK(item.at("role") == "assistant");
  CHECK(item.at("content").at(0).at("type") == "output_text");
  CHECK(item.at("content").at(0).at("text") == "one two three");
  CHECK(r.at("usage") ==
        json::parse(R"({"input_tokens":20,"input_tokens_details":{"cached_tokens":5},
                        "output_tokens":9,"output_tokens_details":{"reasoning_tokens":2},
                        "total_tokens":29})"));

  auto streamed = post(mock.port, kResponses, responses_body("hi", true, extra));
  REQUIRE(streamed.status == 200);
  CHECK(streamed.header("content-type") == "text/event-stream");
  auto events = typed_events(streamed.body);
  CHECK(types_of(events) ==
        std::vector<std::string>{
            "response.created", "response.in_progress", "response.output_item.added",
            "response.content_part.added", "response.output_text.delta",
            "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
            "response.content_part.done", "response.output_item.done", "response.completed"});
  std::string text;
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].at("sequence_number") == static_cast<std::int64_t>(i));
    if (events[i].at("type") == "response.output_text.delta") text += str(events[i].at("delta"));
  }
  CHECK(text == "one two three");
  CHECK(events[9].at("item").at("content").at(0).at("text") == "one two three");
  const auto& completed = events.back().at("response").as_object();
  CHECK(completed.at("id") == events[0].at("response").at("id"));
  CHECK(completed.at("usage").at("input_tokens").is_int64());
  CHECK(completed.at("usage").at("output_tokens") == 9);
  CHECK(completed.at("usage").at("total_tokens") == 29);
}

TEST_CASE("Responses faults: OpenAI error bodies, and response.failed in the stream") {
  auto mock = start_mock();
  auto limited = post(mock.port, kResponses,
                      responses_body("hi", true, R"("mock":{"fault":"status","status":429})"));
  CHECK(limited.status == 429);
  CHECK(limited.header("retry-after") == "1");
  CHECK(parse_object(limited.body).at("error").at("code") == "rate_limit_exceeded");

  auto failed =
      post(mock.port, kResponses,
           responses_body("hi", true, R"("mock":{"fault":"stream_error","cut_after":1})"));
  REQUIRE(failed.status == 200);
  auto events = typed_events(failed.body);
  REQUIRE(!events.empty());
  CHECK(events.back().at("type") == "response.failed");
  CHECK(events.back().at("response").at("error").at("code") == "server_error");
  CHECK(events.back().at("sequence_number") == static_cast<std::int64_t>(events.size() - 1));
}

TEST_CASE("Gemini: key required, candidates and usageMetadata, data-only stream with usage last") {
  auto mock = start_mock();
  auto no_key = post(mock.port, kGeminiJson, gemini_body("hi"));
  CHECK(no_key.status == 403);
  auto error = parse_object(no_key.body).at("error").as_object();
  CHECK(error.at("code") == 403);
  CHECK(error.at("status") == "PERMISSION_DENIED");
  CHECK(post(mock.port, std::string(kGeminiJson) + "?key=abc", gemini_body("hi")).status == 200);

  const std::string extra =
      R"("mock":{"text":"a b c","chunks":3,"usage":{"prompt_tokens":50,"cached_tokens":20,"reasoning_tokens":4,"completion_tokens":10}})";
  auto res = post(mock.port, kGeminiJson, gemini_body("hi", extra), kGeminiHeaders);
  REQUIRE(res.status == 200);
  auto g = parse_object(res.body);
  const auto& candidate = g.at("candidates").at(0).as_object();
  CHECK(candidate.at("content").at("role") == "model");
  CHECK(candidate.at("content").at("parts") == json::parse(R"([{"text":"a b c"}])"));
  CHECK(candidate.at("finishReason") == "STOP");
  CHECK(g.at("usageMetadata") ==
        json::parse(R"({"promptTokenCount":50,"candidatesTokenCount":6,"totalTokenCount":60,
                        "cachedContentTokenCount":20,"thoughtsTokenCount":4})"));
  CHECK(g.at("modelVersion") == "gemini-x");
  CHECK(g.at("responseId").is_string());

  auto no_sse = post(mock.port, "/v1beta/models/gemini-x:streamGenerateContent", gemini_body("hi"),
                     kGeminiHeaders);
  CHECK(no_sse.status == 400);

  auto streamed = post(mock.port, kGeminiStream, gemini_body("hi", extra), kGeminiHeaders);
  REQUIRE(streamed.status == 200);
  CHECK(streamed.header("content-type") == "text/event-stream");
  auto events = parse_sse(streamed.body);
  REQUIRE(events.size() == 4);
  std::string text;
  for (const auto& e : events) {
    CHECK(e.name.empty());
    CHECK(e.data != "[DONE]");
    auto chunk = parse_object(e.data);
    CHECK(chunk.at("responseId") == parse_object(events[0].data).at("responseId"));
    for (const auto& part : chunk.at("candidates").at(0).at("content").at("parts").as_array()) {
      text += str(part.at("text"));
    }
  }
  CHECK(text == "a b c");
  CHECK(!parse_object(events[0].data).at("candidates").at(0).as_object().contains("finishReason"));
  auto last = parse_object(events.back().data);
  CHECK(last.at("candidates").at(0).at("finishReason") == "STOP");
  CHECK(last.at("usageMetadata").at("candidatesTokenCount") == 6);
  CHECK(last.at("usageMetadata").at("totalTokenCount") == 60);
}

TEST_CASE("Gemini faults are Google-shaped, in the status and in the stream") {
  auto mock = start_mock();
  auto limited =
      post(mock.port, kGeminiStream, gemini_body("hi", R"("mock":{"fault":"status","status":429})"),
           kGeminiHeaders);
  CHECK(limited.status == 429);
  CHECK(limited.header("retry-after") == "1");
  CHECK(parse_object(limited.body) ==
        json::parse(
            R"({"error":{"code":429,"message":"mock fault","status":"RESOURCE_EXHAUSTED"}})"));

  auto errored =
      post(mock.port, kGeminiStream,
           gemini_body("hi", R"("mock":{"fault":"stream_error","cut_after":2,"status":503})"),
           kGeminiHeaders);
  REQUIRE(errored.status == 200);
  auto events = parse_sse(errored.body);
  REQUIRE(events.size() == 3);
  CHECK(parse_object(events[2].data).at("error").at("status") == "UNAVAILABLE");
}

TEST_CASE("OpenAI chat stream_error ends with an error chunk and no [DONE]") {
  auto mock = start_mock();
  auto res = post(mock.port, "/v1/chat/completions",
                  R"({"model":"m","stream":true,"mock":{"fault":"stream_error","cut_after":1}})");
  REQUIRE(res.status == 200);
  auto events = parse_sse(res.body);
  REQUIRE(events.size() == 3);  // role, one content chunk, the error
  CHECK(parse_object(events[2].data).at("error").at("type") == "server_error");
  CHECK(res.body.find("[DONE]") == std::string::npos);
}

TEST_CASE("embeddings are deterministic OpenAI-shaped vectors, also on Azure") {
  auto mock = start_mock();
  auto one = parse_object(
      post(mock.port, "/v1/embeddings", R"({"model":"emb","input":"hello world"})").body);
  CHECK(one.at("object") == "list");
  CHECK(one.at("model") == "emb");
  const auto& data = one.at("data").as_array();
  REQUIRE(data.size() == 1);
  CHECK(data[0].at("object") == "embedding");
  CHECK(data[0].at("index") == 0);
  const auto& vector = data[0].at("embedding").as_array();
  CHECK(vector.size() == 8);
  for (const auto& x : vector) {
    CHECK(x.is_double());
    CHECK(x.as_double() >= -1.0);
    CHECK(x.as_double() <= 1.0);
  }
  CHECK(one.at("usage") == json::parse(R"({"prompt_tokens":3,"total_tokens":3})"));

  auto many = parse_object(
      post(mock.port, "/v1/embeddings", R"({"model":"emb","input":["other","hello world"]})").body);
  REQUIRE(many.at("data").as_array().size() == 2);
  CHECK(many.at("data").at(1).at("index") == 1);
  CHECK(many.at("data").at(1).at("embedding") == vector);  // same text, same vector
  CHECK(many.at("data").at(0).at("embedding") != vector);

  auto azure = post(mock.port, "/openai/deployments/emb-dep/embeddings?api-version=2024-10-21",
                    R"({"input":"hello world"})", kAzureHeaders);
  REQUIRE(azure.status == 200);
  auto azure_body = parse_object(azure.body);
  CHECK(azure_body.at("model") == "emb-dep");
  CHECK(azure_body.at("data").at(0).at("embedding") == vector);
  CHECK(post(mock.port, "/openai/deployments/emb-dep/embeddings?api-version=1", R"({"input":"x"})")
            .status == 401);

  auto sized = parse_object(
      post(mock.port, "/v1/embeddings", R"({"model":"emb","input":"x","dimensions":3})").body);
  CHECK(sized.at("data").at(0).at("embedding").as_array().size() == 3);
  CHECK(post(mock.port, "/v1/embeddings", R"({"model":"emb"})").status == 400);
}

TEST_CASE("a #mock line in user text plans the answer in every protocol") {
  auto mock = start_mock();
  const std::string text =
      "Please answer.\n" + mock_line({{"text", "planned words here"}, {"chunks", 3}}) + "\nthanks";
  SECTION("OpenAI chat") {
    auto res = parse_object(post(mock.port, "/v1/chat/completions", chat_body(text, false)).body);
    CHECK(res.at("choices").at(0).at("message").at("content") == "planned words here");
    // Content parts too.
    const std::string parts = R"({"model":"m","messages":[{"role":"system","content":"s"},
        {"role":"user","content":[{"type":"text","text":"#mock {\"text\":\"from parts\"}"}]}]})";
    auto from_parts = parse_object(post(mock.port, "/v1/chat/completions", parts).body);
    CHECK(from_parts.at("choices").at(0).at("message").at("content") == "from parts");
  }
  SECTION("Azure chat") {
    auto res =
        parse_object(post(mock.port, kAzureChat, chat_body(text, false), kAzureHeaders).body);
    CHECK(res.at("choices").at(0).at("message").at("content") == "planned words here");
  }
  SECTION("Anthropic") {
    auto res = parse_object(
        post(mock.port, kMessages, anthropic_body(text, false), kAnthropicHeaders).body);
    CHECK(res.at("content").at(0).at("text") == "planned words here");
  }
  SECTION("Responses, string input and message items") {
    auto res = parse_object(post(mock.port, kResponses, responses_body(text, false)).body);
    CHECK(res.at("output").at(0).at("content").at(0).at("text") == "planned words here");
    json::object items{
        {"model", "gpt-r"},
        {"input",
         json::array{json::object{
             {"type", "message"},
             {"role", "user"},
             {"content", json::array{json::object{{"type", "input_text"}, {"text", text}}}}}}}};
    auto from_items = parse_object(post(mock.port, kResponses, json::serialize(items)).body);
    CHECK(from_items.at("output").at(0).at("content").at(0).at("text") == "planned words here");
  }
  SECTION("Gemini") {
    auto res = parse_object(post(mock.port, kGeminiJson, gemini_body(text), kGeminiHeaders).body);
    CHECK(res.at("candidates").at(0).at("content").at("parts").at(0).at("text") ==
          "planned words here");
  }
  SECTION("faults and a bad line") {
    auto limited = post(mock.port, kMessages,
                        anthropic_body(mock_line({{"fault", "status"}, {"status", 529}}), false),
                        kAnthropicHeaders);
    CHECK(limited.status == 529);
    CHECK(parse_object(limited.body).at("error").at("type") == "overloaded_error");
    auto bad = post(mock.port, "/v1/chat/completions", chat_body("#mock {nope", false));
    CHECK(bad.status == 400);
  }
}

// ---------------------------------------------------------------------------------------------
// Scripted tool calls: turn 1 asks for the call, turn 2 carries its result.

const std::string kToolPlan = mock_line(
    {{"tool_call", {{"name", "get_weather"}, {"arguments", {{"city", "Paris"}}}}}, {"chunks", 3}});

TEST_CASE("scripted tool call over OpenAI chat, JSON and stream, then the tool result") {
  auto mock = start_mock();
  auto first =
      parse_object(post(mock.port, "/v1/chat/completions", chat_body(kToolPlan, false)).body);
  const auto& choice = first.at("choices").at(0).as_object();
  CHECK(choice.at("finish_reason") == "tool_calls");
  const auto& call = choice.at("message").at("tool_calls").at(0).as_object();
  CHECK(call.at("id") == "call_mock_1");
  CHECK(call.at("type") == "function");
  CHECK(call.at("function").at("name") == "get_weather");
  CHECK(json::parse(str(call.at("function").at("arguments"))) ==
        json::parse(R"({"city":"Paris"})"));

  auto streamed =
      parse_sse(post(mock.port, "/v1/chat/completions", chat_body(kToolPlan, true)).body);
  REQUIRE(streamed.size() >= 4);
  CHECK(streamed.back().data == "[DONE]");
  auto opening =
      parse_object(streamed[0].data).at("choices").at(0).at("delta").at("tool_calls").at(0);
  CHECK(opening.at("id") == "call_mock_1");
  CHECK(opening.at("function").at("name") == "get_weather");
  std::string arguments;
  for (std::size_t i = 1; i + 2 < streamed.size(); ++i) {
    auto fragment =
        parse_object(streamed[i].data).at("choices").at(0).at("delta").at("tool_calls").at(0);
    CHECK(!fragment.as_object().contains("id"));
    CHECK(!fragment.at("function").as_object().contains("name"));
    arguments += str(fragment.at("function").at("arguments"));
  }
  CHECK(streamed.size() == 6);  // opening, three fragments, finish, [DONE]
  CHECK(json::parse(arguments) == json::parse(R"({"city":"Paris"})"));
  CHECK(parse_object(streamed[streamed.size() - 2].data).at("choices").at(0).at("finish_reason") ==
        "tool_calls");

  json::object second{
      {"model", "gpt-x"},
      {"messages",
       json::array{
           json::object{{"role", "user"}, {"content", kToolPlan}},
           json::object{{"role", "assistant"},
                        {"content", nullptr},
                        {"tool_calls", first.at("choices").at(0).at("message").at("tool_calls")}},
           json::object{
               {"role", "tool"}, {"tool_call_id", "call_mock_1"}, {"content", "15 degrees"}}}}};
  auto answer = parse_object(post(mock.port, "/v1/chat/completions", json::serialize(second)).body);
  CHECK(answer.at("choices").at(0).at("finish_reason") == "stop");
  CHECK(answer.at("choices").at(0).at("message").at("content") == "Tool result: 15 degrees");

  // The body's own mock object plans a call too.
  auto from_body = parse_object(
      post(mock.port, "/v1/chat/completions", R"({"model":"m","mock":{"tool_call":{"name":"f"}}})")
          .body);
  CHECK(from_body.at("choices").at(0).at("message").at("tool_calls").at(0).at("function") ==
        json::parse(R"({"name":"f","arguments":"{}"})"));
}

TEST_CASE("scripted tool call over Anthropic: tool_use block, input_json_delta, then tool_result") {
  auto mock = start_mock();
  auto first = parse_object(
      post(mock.port, kMessages, anthropic_body(kToolPlan, false), kAnthropicHeaders).body);
  CHECK(first.at("stop_reason") == "tool_use");
  CHECK(
      first.at("content") ==
      json::parse(
          R"([{"type":"tool_use","id":"toolu_mock_1","name":"get_weather","input":{"city":"Paris"}}])"));

  auto events = typed_events(
      post(mock.port, kMessages, anthropic_body(kToolPlan, true), kAnthropicHeaders).body);
  CHECK(types_of(events) == std::vector<std::string>{"message_start", "content_block_start", "ping",
                                                     "content_block_delta", "content_block_delta",
                                                     "content_block_delta", "content_block_stop",
                                                     "message_delta", "message_stop"});
  CHECK(events[1].at("content_block") ==
        json::parse(R"({"type":"tool_use","id":"toolu_mock_1","name":"get_weather","input":{}})"));
  std::string partial;
  for (int i = 3; i <= 5; ++i) {
    CHECK(events[i].at("delta").at("type") == "input_json_delta");
    partial += str(events[i].at("delta").at("partial_json"));
  }
  CHECK(json::parse(partial) == json::parse(R"({"city":"Paris"})"));
  CHECK(events[7].at("delta").at("stop_reason") == "tool_use");

  json::object second{
      {"model", "claude-x"},
      {"max_tokens", 100},
      {"messages",
       json::array{
           json::object{{"role", "user"}, {"content", kToolPlan}},
           json::object{{"role", "assistant"}, {"content", first.at("content")}},
           json::object{
               {"role", "user"},
               {"content", json::array{json::object{
                               {"type", "tool_result"},
                               {"tool_use_id", "toolu_mock_1"},
                               {"content", json::array{json::object{
                                               {"type", "text"}, {"text", "15 degrees"}}}}}}}}}}};
  auto answer =
      parse_object(post(mock.port, kMessages, json::serialize(second), kAnthropicHeaders).body);
  CHECK(answer.at("stop_reason") == "end_turn");
  CHECK(answer.at("content").at(0).at("text") == "Tool result: 15 degrees");
}

TEST_CASE("scripted tool call over Responses: function_call item events, then its output") {
  auto mock = start_mock();
  auto first = parse_object(post(mock.port, kResponses, responses_body(kToolPlan, false)).body);
  const auto& item = first.at("output").at(0).as_object();
  CHECK(item.at("type") == "function_call");
  CHECK(item.at("call_id") == "call_mock_1");
  CHECK(item.at("name") == "get_weather");
  CHECK(json::parse(str(item.at("arguments"))) == json::parse(R"({"city":"Paris"})"));

  auto events = typed_events(post(mock.port, kResponses, responses_body(kToolPlan, true)).body);
  CHECK(types_of(events) ==
        std::vector<std::string>{
            "response.created", "response.in_progress", "response.output_item.added",
            "response.function_call_arguments.delta", "response.function_call_arguments.delta",
            "response.function_call_arguments.delta", "response.function_call_arguments.done",
            "response.output_item.done", "response.completed"});
  CHECK(events[2].at("item").at("type") == "function_call");
  CHECK(events[2].at("item").at("arguments") == "");
  std::string arguments;
  for (int i = 3; i <= 5; ++i) arguments += str(events[i].at("delta"));
  CHECK(json::parse(arguments) == json::parse(R"({"city":"Paris"})"));
  CHECK(events[7].at("item").at("call_id") == "call_mock_1");
  CHECK(events[7].at("item").at("name") == "get_weather");
  CHECK(events[7].at("item").at("arguments") == item.at("arguments"));

  for (const char* output_type : {"function_call_output", "custom_tool_call_output"}) {
    json::object second{
        {"model", "gpt-r"},
        {"input",
         json::array{
             json::object{{"type", "message"}, {"role", "user"}, {"content", kToolPlan}}, item,
             json::object{
                 {"type", output_type}, {"call_id", "call_mock_1"}, {"output", "15 degrees"}}}}};
    auto answer = parse_object(post(mock.port, kResponses, json::serialize(second)).body);
    CHECK(answer.at("output").at(0).at("type") == "message");
    CHECK(answer.at("output").at(0).at("content").at(0).at("text") == "Tool result: 15 degrees");
  }
}

TEST_CASE("scripted tool call over Gemini: one functionCall part, then the functionResponse") {
  auto mock = start_mock();
  auto first =
      parse_object(post(mock.port, kGeminiJson, gemini_body(kToolPlan), kGeminiHeaders).body);
  CHECK(first.at("candidates").at(0).at("content").at("parts") ==
        json::parse(R"([{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}])"));

  auto events =
      parse_sse(post(mock.port, kGeminiStream, gemini_body(kToolPlan), kGeminiHeaders).body);
  int calls = 0;
  for (const auto& e : events) {
    const auto chunk = parse_object(e.data);
    for (const auto& part : chunk.at("candidates").at(0).at("content").at("parts").as_array()) {
      if (part.as_object().contains("functionCall")) {
        ++calls;
        CHECK(part.at("functionCall").at("args") == json::parse(R"({"city":"Paris"})"));
      }
    }
  }
  CHECK(calls == 1);
  CHECK(parse_object(events.back().data).at("candidates").at(0).at("finishReason") == "STOP");
  CHECK(parse_object(events.back().data).contains("usageMetadata"));

  json::object second{
      {"contents",
       json::array{json::object{{"role", "user"},
                                {"parts", json::array{json::object{{"text", kToolPlan}}}}},
                   json::object{{"role", "model"},
                                {"parts", first.at("candidates").at(0).at("content").at("parts")}},
                   json::object{{"role", "user"},
                                {"parts", json::array{json::object{
                                              {"functionResponse",
                                               {{"name", "get_weather"},
                                                {"response", {{"result", "15 degrees"}}}}}}}}}}}};
  auto answer =
      parse_object(post(mock.port, kGeminiJson, json::serialize(second), kGeminiHeaders).body);
  CHECK(answer.at("candidates").at(0).at("content").at("parts").at(0).at("text") ==
        "Tool result: 15 degrees");
}

TEST_CASE(
    "the auto tool script (--tool-script auto) calls Bash, shell or exec_command, else answers "
    "with text") {
  auto mock = start_mock({"--tool-script", "auto"});

  const std::string claude =
      R"({"model":"c","max_tokens":10,"tools":[{"name":"Read","input_schema":{}},
      {"name":"Bash","input_schema":{}}],"messages":[{"role":"user","content":"list files"}]})";
  auto bash = parse_object(post(mock.port, kMessages, claude, kAnthropicHeaders).body);
  CHECK(bash.at("stop_reason") == "tool_use");
  CHECK(bash.at("content").at(0).at("name") == "Bash");
  CHECK(bash.at("content").at(0).at("input") ==
        json::parse(R"({"command":"echo switchyard-tool-ok","description":"print a marker"})"));

  const std::string codex = R"({"model":"r","tools":[{"type":"local_shell"},
      {"type":"function","name":"shell","parameters":{}}],"input":"run it"})";
  auto shell = parse_object(post(mock.port, kResponses, codex).body);
  CHECK(shell.at("output").at(0).at("name") == "shell");
  CHECK(json::parse(str(shell.at("output").at(0).at("arguments"))) ==
        json::parse(R"({"command":["bash","-lc","echo switchyard-tool-ok"]})"));

  const std::string chat =
      R"({"model":"m","tools":[{"type":"function","function":{"name":"exec_command"}}],
      "messages":[{"role":"user","content":"go"}]})";
  auto exec = parse_object(post(mock.port, "/v1/chat/completions", chat).body);
  CHECK(json::parse(str(exec.at("choices")
                            .at(0)
                            .at("message")
                            .at("tool_calls")
                            .at(0)
                            .at("function")
                            .at("arguments"))) ==
        json::parse(R"({"cmd":"echo switchyard-tool-ok"})"));

  const std::string other =
      R"({"model":"m","tools":[{"type":"function","function":{"name":"lookup"}}],
      "messages":[{"role":"user","content":"go"}]})";
  auto plain = parse_object(post(mock.port, "/v1/chat/completions", other).body);
  CHECK(plain.at("choices").at(0).at("finish_reason") == "stop");
  CHECK(plain.at("choices").at(0).at("message").at("content") == "tok0 tok1 tok2 tok3 tok4 ");

  const std::string result =
      R"({"model":"c","max_tokens":10,"tools":[{"name":"Bash","input_schema":{}}],
      "messages":[{"role":"user","content":"list files"},
        {"role":"assistant","content":[{"type":"tool_use","id":"toolu_mock_1","name":"Bash","input":{}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_mock_1","content":"switchyard-tool-ok\n"}]}]})";
  auto done = parse_object(post(mock.port, kMessages, result, kAnthropicHeaders).body);
  CHECK(done.at("stop_reason") == "end_turn");
  CHECK(done.at("content").at(0).at("text") == "Tool result: switchyard-tool-ok\n");
}

TEST_CASE("the last request keeps headers, path and query; stats count per protocol") {
  auto mock = start_mock();
  post(mock.port, kGeminiStream, gemini_body("hi"),
       {{"x-goog-api-key", "secret-key"}, {"X-Trace", "t1"}});
  auto last = parse_object(http_request(mock.port, "GET", "/mock/last-request").body);
  CHECK(last.at("target") == kGeminiStream);
  CHECK(last.at("path") == "/v1beta/models/gemini-x:streamGenerateContent");
  CHECK(last.at("query") == "alt=sse");
  CHECK(last.at("protocol") == "gemini");
  CHECK(last.at("headers").at("x-goog-api-key") == "secret-key");
  CHECK(last.at("headers").at("x-trace") == "t1");

  post(mock.port, kMessages, anthropic_body("hi", false), kAnthropicHeaders);
  post(mock.port, kMessages, anthropic_body("hi", true), kAnthropicHeaders);
  post(mock.port, kResponses, responses_body("hi", false));
  post(mock.port, "/v1/chat/completions", chat_body("hi", false));
  post(mock.port, "/v1/embeddings", R"({"model":"e","input":"x"})");
  auto stats = parse_object(http_request(mock.port, "GET", "/mock/stats").body);
  CHECK(stats.at("requests") == 6);
  CHECK(stats.at("streams_completed") == 2);
  CHECK(stats.at("protocols") ==
        json::parse(R"({"openai_chat":1,"azure_chat":0,"anthropic_messages":2,
                        "anthropic_count_tokens":0,"openai_responses":1,"gemini":1,"embeddings":1})"));
}

}  // namespace
