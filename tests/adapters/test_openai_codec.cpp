#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "adapters/openai.hpp"
#include "core/sse_decoder.hpp"
#include "tests/adapters/canonical_builders.hpp"

namespace json = boost::json;
using namespace switchyard::adapters;
using namespace switchyard::adapters::test;
using switchyard::core::SseDecoder;
using switchyard::core::SseEvent;

namespace {

json::value parse(std::string_view text) { return json::parse(text); }

std::vector<StreamEvent> decode_stream(std::string_view sse) {
  auto decoder = make_chat_stream_decoder();
  std::vector<StreamEvent> events;
  SseDecoder sse_decoder;
  sse_decoder.feed(sse, [&](const SseEvent& e) { decoder->on_event(e, events); });
  decoder->on_end(events);
  return events;
}

// The JSON of each `data:` event, checking the framing on the way: every event is a single
// data line followed by a blank line.
std::vector<std::string> data_events(const std::string& sse) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < sse.size()) {
    const std::size_t end = sse.find("\n\n", pos);
    REQUIRE(end != std::string::npos);
    const std::string event = sse.substr(pos, end - pos);
    REQUIRE(event.rfind("data: ", 0) == 0);
    REQUIRE(event.find('\n') == std::string::npos);
    out.push_back(event.substr(6));
    pos = end + 2;
  }
  return out;
}

// Canonical events in a comparable text form.
std::string describe(const StreamEvent& e) {
  switch (e.kind) {
    case StreamEvent::Kind::start:
      return "start id=" + e.id + " model=" + e.model;
    case StreamEvent::Kind::text:
      return "text " + e.text;
    case StreamEvent::Kind::thinking:
      return "thinking " + e.text;
    case StreamEvent::Kind::thinking_signature:
      return "signature " + e.text;
    case StreamEvent::Kind::tool_call_start:
      return "call_start " + std::to_string(e.index) + " id=" + e.id + " name=" + e.name +
             " args=" + e.text;
    case StreamEvent::Kind::tool_call_delta:
      return "call_delta " + std::to_string(e.index) + " " + e.text;
    case StreamEvent::Kind::finish:
      return "finish " + std::to_string(static_cast<int>(e.finish));
    case StreamEvent::Kind::usage:
      return "usage " + std::to_string(e.usage.prompt_tokens) + "/" +
             std::to_string(e.usage.completion_tokens) + "/" +
             std::to_string(e.usage.cached_prompt_tokens) + "/" +
             std::to_string(e.usage.reasoning_tokens);
    case StreamEvent::Kind::error:
      return "error " + e.error.message;
  }
  return {};
}

std::vector<std::string> describe_all(const std::vector<StreamEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(describe(e));
  return out;
}

}  // namespace

TEST_CASE("chat request: every message, part and tool kind decodes to canonical form") {
  auto decoded = decode_chat_request(fixture("adapters/openai/request_all_kinds.json"));
  REQUIRE(decoded.ok());
  const Request& r = decoded.value();
  CHECK(r.model == "gpt-4o");
  REQUIRE(r.messages.size() == 8);

  CHECK(r.messages[0].role == Message::Role::system);
  CHECK(r.messages[0].parts.at(0).text == "You are terse.");
  CHECK(r.messages[1].role == Message::Role::system);  // developer
  CHECK(r.messages[1].parts.at(0).text == "Prefer metric units.");

  const Message& user = r.messages[2];
  CHECK(user.role == Message::Role::user);
  REQUIRE(user.parts.size() == 3);
  CHECK(user.parts[0].kind == Part::Kind::text);
  CHECK(user.parts[1].kind == Part::Kind::image);
  CHECK(user.parts[1].image.media_type == "image/png");
  CHECK(user.parts[1].image.data == "iVBORw0KGgo=");
  CHECK(user.parts[1].image.url.empty());
  CHECK(user.parts[2].image.url == "https://example.com/paris.jpg");

  const Message& assistant = r.messages[3];
  CHECK(assistant.role == Message::Role::assistant);
  REQUIRE(assistant.parts.size() == 2);
  CHECK(assistant.parts[0].kind == Part::Kind::tool_call);
  CHECK(assistant.parts[0].id == "call_Abc");
  CHECK(assistant.parts[0].name == "get_weather");
  CHECK(assistant.parts[0].arguments == R"({"location":"Paris"})");
  CHECK(assistant.parts[1].arguments == "{}");

  CHECK(r.messages[4].role == Message::Role::tool);
  REQUIRE(r.messages[4].parts.size() == 1);
  CHECK(r.messages[4].parts[0].kind == Part::Kind::tool_result);
  CHECK(r.messages[4].parts[0].id == "call_Abc");
  CHECK(r.messages[4].parts[0].text == "18C, cloudy");
  CHECK(r.messages[5].parts[0].text == "14:05\nCET");
  CHECK(r.messages[6].parts.at(0).text ==
        "It is a photo of the Eiffel Tower; 18C and cloudy at 14:05.");

  REQUIRE(r.tools.size() == 2);
  CHECK(r.tools[0].name == "get_weather");
  CHECK(r.tools[0].description == "Current weather");
  CHECK(
      parse(r.tools[0].parameters) ==
      parse(
          R"({"type":"object","properties":{"location":{"type":"string"}},"required":["location"]})"));
  CHECK(r.tools[1].parameters.empty());
  CHECK(r.tool_choice.mode == ToolChoice::Mode::named);
  CHECK(r.tool_choice.name == "get_weather");
  CHECK(r.parallel_tool_calls == false);
  CHECK(r.max_tokens == 256);  // max_completion_tokens wins over max_tokens
  CHECK(r.temperature == Approx(0.2));
  CHECK(r.top_p == Approx(0.9));
  CHECK(r.stop == std::vector<std::string>{"\n\n", "END"});
  CHECK(r.stream);
  CHECK(r.include_usage);
  CHECK(r.user == "user-42");
  CHECK(r.reasoning_effort == "low");
}

TEST_CASE("chat request: encoding the decoded fixture gives the golden upstream body") {
  auto decoded = decode_chat_request(fixture("adapters/openai/request_all_kinds.json"));
  REQUIRE(decoded.ok());
  const json::value encoded = parse(encode_chat_request(decoded.value(), "upstream-model"));
  CHECK(encoded == parse(fixture("adapters/openai/request_all_kinds.encoded.json")));
}

TEST_CASE("chat request: small forms decode (string stop, tool_choice strings, max_tokens, user)") {
  auto r = decode_chat_request(
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stop":"END","tool_choice":"required",
          "max_tokens":7,"user":"u1","stream":false,"tools":[{"type":"function","function":{"name":"f"}}]})");
  REQUIRE(r.ok());
  CHECK(r->stop == std::vector<std::string>{"END"});
  CHECK(r->tool_choice.mode == ToolChoice::Mode::required);
  CHECK(r->max_tokens == 7);
  CHECK(r->user == "u1");
  CHECK_FALSE(r->stream);
  CHECK_FALSE(r->include_usage);
  for (auto [text, mode] : {std::pair{"auto", ToolChoice::Mode::automatic},
                            std::pair{"none", ToolChoice::Mode::none}}) {
    auto c = decode_chat_request(
        std::string(R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":")") +
        text + "\"}");
    REQUIRE(c.ok());
    CHECK(c->tool_choice.mode == mode);
  }
}

TEST_CASE("chat request: malformed input is a 400 naming the offending field") {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {R"({"model":"m","messages":[]})", "messages"},
      {R"({"model":"m"})", "messages"},
      {R"({"messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"robot","content":"x"}]})",
       "messages[2].role"},
      {R"({"model":"m","messages":[{"content":"x"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user","content":42}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]})",
       "messages[0].content[0].type"},
      {R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", "messages[0].tool_call_id"},
      {R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]})",
       "messages[0].tool_calls[0].function.name"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"})",
       "temperature"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"})",
       "tool_choice"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":3})", "n"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]})",
       "tools[0].function"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    auto r = decode_chat_request(c.body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 400);
    CHECK(r.error().type == "invalid_request_error");
    CHECK(r.error().param == c.param);
    CHECK_FALSE(r.error().message.empty());
  }
  for (const char* body : {"{not json", "[1,2]", ""}) {
    INFO(body);
    auto r = decode_chat_request(body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 400);
  }
}

TEST_CASE(
    "chat request encode: tool results, errors, images from tools, thinking and freeform tools") {
  Request r;
  r.model = "client-model";
  Message user;
  Part text;
  text.text = "Take a screenshot";
  user.parts.push_back(text);
  r.messages.push_back(user);

  Message assistant;
  assistant.role = Message::Role::assistant;
  Part thinking;
  thinking.kind = Part::Kind::thinking;
  thinking.text = "I should call the tool.";
  thinking.signature = "sig";
  assistant.parts.push_back(thinking);
  Part call;
  call.kind = Part::Kind::tool_call;
  call.id = "toolu_1";
  call.name = "screenshot";
  call.arguments = "{}";
  assistant.parts.push_back(call);
  call.id = "toolu_2";
  call.name = "apply_patch";
  call.arguments = R"({"input":"*** Begin Patch"})";
  assistant.parts.push_back(call);
  r.messages.push_back(assistant);

  Message result1;
  result1.role = Message::Role::tool;
  Part res;
  res.kind = Part::Kind::tool_result;
  res.id = "toolu_1";
  res.text = "captured";
  Image shot;
  shot.media_type = "image/jpeg";
  shot.data = "AAAA";
  res.images.push_back(shot);
  result1.parts.push_back(res);
  r.messages.push_back(result1);
  Message result2;
  result2.role = Message::Role::tool;
  res = Part{};
  res.kind = Part::Kind::tool_result;
  res.id = "toolu_2";
  res.text = "patch failed";
  res.is_error = true;
  result2.parts.push_back(res);
  r.messages.push_back(result2);

  Tool screenshot;
  screenshot.name = "screenshot";
  r.tools.push_back(screenshot);
  Tool patch;
  patch.name = "apply_patch";
  patch.freeform = true;
  r.tools.push_back(patch);
  r.stream = true;

  const json::object body = parse(encode_chat_request(r, "gpt-4.1")).as_object();
  CHECK(body.at("model") == "gpt-4.1");
  const json::array& messages = body.at("messages").as_array();
  REQUIRE(messages.size() == 5);
  CHECK(messages[0] == parse(R"({"role":"user","content":"Take a screenshot"})"));
  // The thinking part is gone; content is null beside tool calls.
  CHECK(messages[1].at("content").is_null());
  CHECK_FALSE(messages[1].as_object().contains("reasoning_content"));
  CHECK(messages[1].at("tool_calls").as_array().size() == 2);
  // Tool messages stay contiguous after the assistant turn; the image follows them.
  CHECK(messages[2] == parse(R"({"role":"tool","tool_call_id":"toolu_1","content":"captured"})"));
  CHECK(messages[3] ==
        parse(R"({"role":"tool","tool_call_id":"toolu_2","content":"Error: patch failed"})"));
  CHECK(messages[4].at("role") == "user");
  const json::array& image_parts = messages[4].at("content").as_array();
  REQUIRE(image_parts.size() == 2);
  CHECK(image_parts[1] ==
        parse(R"({"type":"image_url","image_url":{"url":"data:image/jpeg;base64,AAAA"}})"));

  const json::array& tools = body.at("tools").as_array();
  CHECK(
      tools[0] ==
      parse(
          R"({"type":"function","function":{"name":"screenshot","parameters":{"type":"object","properties":{}}}})"));
  CHECK(
      tools[1].at("function").at("parameters") ==
      parse(R"({"type":"object","properties":{"input":{"type":"string"}},"required":["input"]})"));
  // Streams always ask for usage, whether the client did or not.
  CHECK(body.at("stream") == true);
  CHECK(body.at("stream_options") == parse(R"({"include_usage":true})"));
  // Nothing that was not set.
  for (const char* absent :
       {"tool_choice", "parallel_tool_calls", "max_tokens", "temperature", "stop", "user"}) {
    INFO(absent);
    CHECK_FALSE(body.contains(absent));
  }
}

TEST_CASE("chat response: decode reads content, reasoning, tool calls, finish and usage details") {
  auto decoded = decode_chat_response(fixture("adapters/openai/response_tool_call.json"));
  REQUIRE(decoded.ok());
  const Response& r = decoded.value();
  CHECK(r.id == "chatcmpl-abc123");
  CHECK(r.model == "gpt-4o-mini");
  CHECK(r.created == 1699896916);
  REQUIRE(r.content.size() == 3);
  CHECK(r.content[0].kind == Part::Kind::thinking);
  CHECK(r.content[0].text == "Need the weather tool.");
  CHECK(r.content[1].text == "Checking.");
  CHECK(r.content[2].kind == Part::Kind::tool_call);
  CHECK(r.content[2].id == "call_abc123");
  CHECK(r.content[2].arguments == "{\n\"location\": \"Boston, MA\"\n}");
  CHECK(r.finish == FinishReason::tool_calls);
  REQUIRE(r.usage);
  CHECK(r.usage->prompt_tokens == 82);
  CHECK(r.usage->completion_tokens == 17);
  CHECK(r.usage->cached_prompt_tokens == 64);
  CHECK(r.usage->reasoning_tokens == 5);

  CHECK_FALSE(decode_chat_response("<html>502</html>").ok());
  CHECK_FALSE(decode_chat_response(R"({"id":"x","choices":[]})").ok());
}

TEST_CASE("chat response: encode emits the full OpenAI shape and decodes back to the same answer") {
  Response r;
  r.id = "chatcmpl-9";
  r.model = "claude-sonnet-4";
  r.created = 1700000000;
  Part t;
  t.text = "Calling.";
  r.content.push_back(t);
  Part c;
  c.kind = Part::Kind::tool_call;
  c.id = "toolu_01";
  c.name = "get_weather";
  c.arguments = R"({"location":"Paris"})";
  r.content.push_back(c);
  r.finish = FinishReason::tool_calls;
  r.usage = switchyard::core::Usage{100, 20, 30, 0, 4};

  const json::value body = parse(encode_chat_response(r));
  CHECK(body == parse(R"({
    "id":"chatcmpl-9","object":"chat.completion","created":1700000000,"model":"claude-sonnet-4",
    "choices":[{"index":0,"message":{"role":"assistant","content":"Calling.",
      "tool_calls":[{"id":"toolu_01","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}],
      "refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],
    "usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,
      "prompt_tokens_details":{"cached_tokens":30},"completion_tokens_details":{"reasoning_tokens":4}}})"));

  auto back = decode_chat_response(json::serialize(body));
  REQUIRE(back.ok());
  CHECK(back->content.size() == 2);
  CHECK(back->content[1].arguments == c.arguments);
  CHECK(back->usage->cached_prompt_tokens == 30);

  Response empty;
  empty.id = "x";
  const json::value plain = parse(encode_chat_response(empty));
  CHECK(plain.at("choices").at(0).at("message").at("content") == "");
  CHECK(plain.at("choices").at(0).at("finish_reason") == "stop");
}

TEST_CASE("chat errors: OpenAI bodies keep their fields, other bodies are wrapped by status") {
  auto e = decode_chat_error(
      429,
      R"({"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}})");
  CHECK(e.status == 429);
  CHECK(e.message == "Rate limit reached");
  CHECK(e.type == "requests");
  CHECK(e.code == "rate_limit_exceeded");
  CHECK(e.source == switchyard::core::ErrorSource::upstream);

  auto html = decode_chat_error(503, "<html><body>Service Unavailable</body></html>");
  CHECK(html.status == 503);
  CHECK(html.type == "server_error");
  CHECK(html.message == "<html><body>Service Unavailable</body></html>");

  const std::pair<int, const char*> types[] = {
      {400, "invalid_request_error"}, {401, "authentication_error"}, {403, "permission_error"},
      {404, "not_found_error"},       {429, "rate_limit_error"},     {500, "server_error"}};
  for (auto [status, type] : types) {
    auto w = decode_chat_error(status, "nope");
    CHECK(w.type == type);
  }
  auto big = decode_chat_error(502, std::string(5000, 'x'));
  CHECK(big.message.size() < 600);
  auto flat = decode_chat_error(400, R"({"error":"model not found"})");
  CHECK(flat.message == "model not found");
}

TEST_CASE("chat stream decode: OpenAI tool-call stream with usage chunk") {
  const auto events = decode_stream(fixture("sse/openai_tool_call.txt"));
  CHECK(describe_all(events) == std::vector<std::string>{
                                    "start id=chatcmpl-9 model=gpt-4o-2024-08-06",
                                    "call_start 0 id=call_Abc name=get_weather args=",
                                    "call_delta 0 {\"loc",
                                    "call_delta 0 ation\":\"Paris\"}",
                                    "call_start 1 id=call_Def name=get_time args=",
                                    "call_delta 1 {\"tz\":\"Europe/Paris\"}",
                                    "finish 3",
                                    "usage 82/17/0/0",
                                });
}

TEST_CASE(
    "chat stream decode: a whole call in one chunk keeps its arguments; stop becomes tool_calls") {
  const auto events = decode_stream(fixture("adapters/openai/stream_gemini_tool_call.txt"));
  REQUIRE(events.size() == 5);
  CHECK(describe(events[0]) == "start id=u9xoaO2HBuq7nvgPq8bG0Ag model=gemini-2.5-flash");
  CHECK(describe(events[1]) == "text Let me check.");
  CHECK(events[2].kind == StreamEvent::Kind::tool_call_start);
  CHECK(events[2].name == "get_weather");
  CHECK(events[2].text == R"({"location":"Paris","unit":"celsius"})");
  CHECK(events[2].id.rfind("call_", 0) == 0);  // the empty upstream id was replaced
  CHECK(events[2].id.size() > 5);
  CHECK(events[3].kind == StreamEvent::Kind::finish);
  CHECK(events[3].finish == FinishReason::tool_calls);
  // Usage rode on a chunk with non-empty choices.
  CHECK(describe(events[4]) == "usage 61/24/0/0");
}

TEST_CASE(
    "chat stream decode: reasoning, empty deltas skipped, length finish, usage details, errors") {
  const auto events = decode_stream(fixture("adapters/openai/stream_reasoning_text.txt"));
  CHECK(describe_all(events) == std::vector<std::string>{
                                    "start id=chatcmpl-r1 model=deepseek-reasoner",
                                    "thinking The user greets me.",
                                    "text Hello",
                                    "text !",
                                    "finish 2",
                                    "usage 12/9/4/5",
                                });

  const auto failed = decode_stream(
      "data: "
      "{\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}"
      "\n\n"
      "data: {\"error\":{\"message\":\"Rate limit "
      "exceeded\",\"type\":\"rate_limit_error\",\"code\":\"rate_limit_exceeded\"}}\n\n");
  REQUIRE(failed.size() == 3);
  CHECK(failed[2].kind == StreamEvent::Kind::error);
  CHECK(failed[2].error.message == "Rate limit exceeded");
  CHECK(failed[2].error.status == 429);
}

TEST_CASE("chat stream decode: a mid-stream error takes the status its type stands for") {
  const std::pair<const char*, int> cases[] = {
      {"invalid_request_error", 400}, {"authentication_error", 401}, {"permission_error", 403},
      {"not_found_error", 404},       {"rate_limit_error", 429},     {"insufficient_quota", 429},
      {"server_error", 500},          {"something_new", 500},
  };
  for (const auto& [type, status] : cases) {
    INFO(type);
    const auto events = decode_stream(
        std::string("data: {\"error\":{\"message\":\"no\",\"type\":\"") + type + "\"}}\n\n");
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == StreamEvent::Kind::error);
    CHECK(events[0].error.status == status);
  }
}

TEST_CASE("chat stream decode: providers that number every call 0 still get one call each") {
  const auto events = decode_stream(
      "data: "
      "{\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
      "\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n"
      "data: "
      "{\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
      "\"index\":0,\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"x\\\":1}\"}}]}}]}"
      "\n\n"
      "data: [DONE]\n\n");
  CHECK(describe_all(events) ==
        std::vector<std::string>{"start id=c model=m", "call_start 0 id=a name=f args={}",
                                 "call_start 1 id=b name=g args={\"x\":1}"});
}

TEST_CASE("chat stream encode: one id, role first, call identity once, usage chunk, [DONE] last") {
  auto encoder = make_chat_stream_encoder("chatcmpl-gw1", "claude-sonnet-4", 1700000001, true);
  std::string out;
  StreamEvent start = ev(StreamEvent::Kind::start);
  start.id = "msg_upstream";
  for (const StreamEvent& e :
       {start, ev(StreamEvent::Kind::thinking, "Hmm."), ev(StreamEvent::Kind::text, "Checking."),
        call_start(0, "toolu_1", "get_weather", ""),
        ev(StreamEvent::Kind::tool_call_delta, "{\"location\":", 0),
        ev(StreamEvent::Kind::tool_call_delta, "\"Paris\"}", 0), usage_ev(50, 10, 20, 0),
        finish_ev(FinishReason::tool_calls)}) {
    encoder->encode(e, out);
  }
  encoder->finish(out);
  CHECK(out.size() >= 2);
  CHECK(out.substr(out.size() - 2) == "\n\n");

  const auto events = data_events(out);
  REQUIRE(events.size() == 9);
  CHECK(events.back() == "[DONE]");
  std::vector<json::object> chunks;
  for (std::size_t i = 0; i + 1 < events.size(); ++i)
    chunks.push_back(parse(events[i]).as_object());
  for (const auto& c : chunks) {
    CHECK(c.at("id") == "chatcmpl-gw1");
    CHECK(c.at("created") == 1700000001);
    CHECK(c.at("model") == "claude-sonnet-4");
    CHECK(c.at("object") == "chat.completion.chunk");
    CHECK_FALSE(c.contains("error"));
  }
  auto delta = [&](std::size_t i) { return chunks[i].at("choices").at(0).at("delta"); };
  CHECK(delta(0) == parse(R"({"content":"","role":"assistant"})"));
  CHECK(delta(1) == parse(R"({"reasoning_content":"Hmm."})"));
  CHECK(delta(2) == parse(R"({"content":"Checking."})"));
  CHECK(
      delta(3) ==
      parse(
          R"({"tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":""}}]})"));
  CHECK(delta(4) ==
        parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"location\":"}}]})"));
  CHECK(delta(5) == parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]})"));
  CHECK(delta(6) == json::object());
  CHECK(chunks[6].at("choices").at(0).at("finish_reason") == "tool_calls");
  CHECK(chunks[7].at("choices") == json::array());
  CHECK(chunks[7].at("usage") ==
        parse(R"({"prompt_tokens":50,"completion_tokens":10,"total_tokens":60,
      "prompt_tokens_details":{"cached_tokens":20},"completion_tokens_details":{"reasoning_tokens":0}})"));
  for (std::size_t i = 0; i < 7; ++i) CHECK_FALSE(chunks[i].contains("usage"));
}

TEST_CASE(
    "chat stream encode: no usage chunk without include_usage; a missing finish becomes stop") {
  auto encoder = make_chat_stream_encoder("chatcmpl-2", "m", 1, false);
  std::string out;
  encoder->encode(ev(StreamEvent::Kind::text, "Hi"),
                  out);  // no start: role rides on the first delta
  encoder->encode(usage_ev(5, 1, 0, 0), out);
  encoder->finish(out);
  const auto events = data_events(out);
  REQUIRE(events.size() == 3);
  CHECK(parse(events[0]).at("choices").at(0).at("delta") ==
        parse(R"({"content":"Hi","role":"assistant"})"));
  CHECK(parse(events[1]).at("choices").at(0).at("finish_reason") == "stop");
  CHECK(events[2] == "[DONE]");
}

TEST_CASE("chat stream encode: fail() writes an OpenAI error event and no [DONE]") {
  auto encoder = make_chat_stream_encoder("chatcmpl-3", "m", 1, true);
  std::string out;
  encoder->encode(ev(StreamEvent::Kind::start), out);
  switchyard::core::GatewayError error;
  error.status = 529;
  error.type = "overloaded_error";
  error.message = "Overloaded";
  encoder->fail(error, out);
  encoder->finish(out);  // the stream is over: nothing more
  const auto events = data_events(out);
  REQUIRE(events.size() == 2);
  CHECK(
      parse(events[1]) ==
      parse(
          R"({"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}})"));
}

TEST_CASE("chat stream: decoding the encoder's output gives back the same canonical events") {
  StreamEvent start = ev(StreamEvent::Kind::start);
  start.id = "chatcmpl-rt";
  start.model = "m";
  const std::vector<StreamEvent> original = {
      start,
      ev(StreamEvent::Kind::thinking, "plan"),
      ev(StreamEvent::Kind::text, "Hello "),
      ev(StreamEvent::Kind::text, "world"),
      call_start(0, "call_1", "f", "{\"a\":"),
      ev(StreamEvent::Kind::tool_call_delta, "1}", 0),
      call_start(1, "call_2", "g", ""),
      ev(StreamEvent::Kind::tool_call_delta, "{}", 1),
      finish_ev(FinishReason::tool_calls),
      usage_ev(10, 5, 2, 1),
  };
  auto encoder = make_chat_stream_encoder("chatcmpl-rt", "m", 42, true);
  std::string out;
  for (const auto& e : original) encoder->encode(e, out);
  encoder->finish(out);
  CHECK(describe_all(decode_stream(out)) == describe_all(original));
}

TEST_CASE(
    "chat response: a field of the wrong JSON type is refused, not read as empty, but null and "
    "unknown fields are not") {
  const std::vector<std::pair<std::string, std::string>> wrong{
      {R"({"id":"c","model":"m","choices":{}})", "choices"},
      {R"({"choices":["x"]})", "choices[0]"},
      {R"({"choices":[{"index":0,"message":"x"}]})", "choices[0].message"},
      {R"({"choices":[{"message":{"role":"assistant","content":5}}]})",
       "choices[0].message.content"},
      {R"({"choices":[{"message":{"role":"assistant","content":5.5}}]})",
       "choices[0].message.content"},
      {R"({"choices":[{"message":{"content":[{"type":"text","text":7}]}}]})",
       "choices[0].message.content[0].text"},
      {R"({"choices":[{"message":{"content":null,"tool_calls":{}}}]})",
       "choices[0].message.tool_calls"},
      {R"({"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function","function":"f"}]}}]})",
       "choices[0].message.tool_calls[0].function"},
      {R"({"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","function":{"name":5,"arguments":"{}"}}]}}]})",
       "choices[0].message.tool_calls[0].function.name"},
      {R"({"choices":[{"message":{"content":"Hi","reasoning_content":["x"]}}]})",
       "choices[0].message.reasoning_content"},
      {R"({"choices":[{"message":{"content":"Hi"},"finish_reason":1}]})",
       "choices[0].finish_reason"},
      {R"({"model":42,"choices":[{"message":{"content":"Hi"}}]})", "model"},
      {R"({"id":["x"],"choices":[{"message":{"content":"Hi"}}]})", "id"},
      {R"({"created":"today","choices":[{"message":{"content":"Hi"}}]})", "created"},
      {R"({"choices":[{"message":{"content":"Hi"}}],"usage":"12"})", "usage"},
      {R"({"choices":[{"message":{"content":"Hi"}}],"usage":{"prompt_tokens":"12","completion_tokens":3}})",
       "usage.prompt_tokens"},
      {R"({"choices":[{"message":{"content":"Hi"}}],"usage":{"prompt_tokens":1,"prompt_tokens_details":{"cached_tokens":"1"}}})",
       "usage.prompt_tokens_details.cached_tokens"},
  };
  for (const auto& [body, field] : wrong) {
    INFO(body);
    check_answer_refused(decode_chat_response(body), field);
  }
  const auto root = decode_chat_response("[1]");
  REQUIRE_FALSE(root.ok());
  CHECK(root.error().code == "bad_upstream_response");

  // Null where OpenAI documents it, and fields the gateway does not know.
  auto calls = decode_chat_response(R"({"id":"c","object":"chat.completion","created":1,"model":"m",
      "system_fingerprint":null,"service_tier":"default","choices":[{"index":0,"logprobs":null,
      "message":{"role":"assistant","content":null,"refusal":null,"annotations":[],"audio":null,
      "tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
      "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,
      "prompt_tokens_details":null,"completion_tokens_details":null}})");
  REQUIRE(calls.ok());
  REQUIRE(calls->content.size() == 1);
  CHECK(calls->content[0].name == "f");
  CHECK(calls->usage->prompt_tokens == 3);
  auto nulls = decode_chat_response(
      R"({"id":null,"model":"m","choices":[{"message":{"content":"Hi","tool_calls":null},"finish_reason":null}],"usage":null})");
  REQUIRE(nulls.ok());
  CHECK(nulls->content.size() == 1);
  CHECK_FALSE(nulls->usage);
}

TEST_CASE(
    "chat stream decode: a chunk with a field of the wrong JSON type ends the stream with "
    "bad_upstream_response") {
  const std::string first =
      "data: "
      "{\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}"
      "\n\n";
  const std::string later =
      "data: "
      "{\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"more\"},"
      "\"finish_reason\":\"stop\"}]}\n\n"
      "data: [DONE]\n\n";
  // Each as the second chunk of a stream; some are read by the fast reader, some need the
  // general one (numbers with fractions, escapes), and both must refuse them.
  const std::vector<std::pair<std::string, std::string>> wrong{
      {R"({"id":"c","choices":{}})", "choices"},
      {R"({"id":"c","choices":["x"]})", "choices[0]"},
      {R"({"id":"c","choices":[{"index":0,"delta":"x"}]})", "choices[0].delta"},
      {R"({"id":"c","choices":[{"index":0,"delta":{"content":5}}]})", "choices[0].delta.content"},
      {R"({"id":"c","choices":[{"index":0,"delta":{"content":5.5}}]})", "choices[0].delta.content"},
      {R"({"id":"c","choices":[{"index":0,"delta":{"content":"ok","reasoning_content":false}}]})",
       "choices[0].delta.reasoning_content"},
      {R"({"id":"c","choices":[{"index":0,"delta":{"content":"ok","tool_calls":[{"index":0,"function":"f"}]}}]})",
       "choices[0].delta.tool_calls[0].function"},
      {R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":5,"function":{"name":"f"}}]}}]})",
       "choices[0].delta.tool_calls[0].id"},
      {R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":"0","function":{"name":"f"}}]}}]})",
       "choices[0].delta.tool_calls[0].index"},
      {R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":{}}}]}}]})",
       "choices[0].delta.tool_calls[0].function.arguments"},
      {R"({"id":"c","choices":[{"index":0,"delta":{"tool_calls":{}}}]})",
       "choices[0].delta.tool_calls"},
      {R"({"id":"c","choices":[{"index":"0","delta":{"content":"x"}}]})", "choices[0].index"},
      {R"({"id":"c","choices":[{"index":0,"delta":{},"finish_reason":7}]})",
       "choices[0].finish_reason"},
      {R"({"id":"c","model":5,"choices":[]})", "model"},
      {R"({"id":"c","model":"caf\u00e9","choices":[],"usage":{"prompt_tokens":"12","completion_tokens":3}})",
       "usage.prompt_tokens"},
      {R"({"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens_details":"x"}})",
       "usage.completion_tokens_details"},
      {R"({"id":"c","choices":[],"usage":[]})", "usage"},
  };
  for (const auto& [chunk, field] : wrong) {
    INFO(chunk);
    const auto events = decode_stream(first + "data: " + chunk + "\n\n" + later);
    // What came before stays; nothing of the wrong chunk or after it does.
    REQUIRE(events.size() == 3);
    CHECK(describe(events[0]) == "start id=c model=m");
    CHECK(describe(events[1]) == "text Hi");
    check_stream_refused(events, field);
  }
  // Not an object at all.
  const auto root = decode_stream(first + "data: [1,2]\n\n" + later);
  REQUIRE(root.size() == 3);
  CHECK(root[2].error.code == "bad_upstream_response");

  // A wrong first chunk: no start, only the error.
  check_stream_refused(
      decode_stream("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":[\"x\"]}}]}\n\n"),
      "choices[0].delta.content");

  // Null where OpenAI documents it, and fields the gateway does not know.
  const auto fine = decode_stream(
      "data: "
      "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"system_fingerprint\":"
      "null,\"obfuscation\":\"x1\","
      "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"refusal\":"
      "null,\"tool_calls\":null},"
      "\"logprobs\":{\"content\":[{\"token\":\"Hi\",\"logprob\":-0.25,\"bytes\":[72,105],\"top_"
      "logprobs\":[]}]},\"finish_reason\":null}],\"usage\":null}\n\n"
      "data: "
      "{\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\","
      "\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":"
      "\"f\",\"arguments\":null}}]},\"finish_reason\":null}]}\n\n"
      "data: "
      "{\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"function_call\":null},"
      "\"finish_reason\":\"tool_calls\"}],"
      "\"usage\":{\"prompt_tokens\":3.0,\"completion_tokens\":2,\"prompt_tokens_details\":null,"
      "\"completion_tokens_details\":{\"reasoning_tokens\":null}}}\n\n"
      "data: [DONE]\n\n");
  CHECK(describe_all(fine) == std::vector<std::string>{"start id=c model=m", "text Hi",
                                                       "call_start 0 id=t name=f args=", "finish 3",
                                                       "usage 3/2/0/0"});
}

TEST_CASE(
    "chat stream decode: a stream cut before [DONE] and before any finish_reason ends with "
    "upstream_stream_truncated") {
  const std::string text =
      "data: "
      "{\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}"
      "\n\n";
  const auto cut = decode_stream(text);
  REQUIRE(cut.size() == 3);
  CHECK(describe(cut[1]) == "text Hi");
  check_stream_truncated(cut);
  // Nothing at all.
  const auto empty = decode_stream("");
  REQUIRE(empty.size() == 1);
  check_stream_truncated(empty);

  // A finish_reason and then the end without [DONE] (vLLM, Ollama): the answer is whole.
  const auto no_done = decode_stream(text +
                                     "data: "
                                     "{\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,"
                                     "\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
  CHECK(describe_all(no_done) ==
        std::vector<std::string>{"start id=c model=m", "text Hi", "finish 1"});
  // [DONE] without a finish_reason: complete too (the encoder says stop).
  CHECK(describe_all(decode_stream(text + "data: [DONE]\n\n")) ==
        std::vector<std::string>{"start id=c model=m", "text Hi"});

  // The provider's own error chunk stays the only error.
  const auto failed = decode_stream(
      text + "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\"}}\n\n");
  REQUIRE(failed.size() == 3);
  CHECK(failed[2].error.message == "Overloaded");
}
