#include <algorithm>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "adapters/anthropic.hpp"
#include "core/sse_decoder.hpp"
#include "tests/adapters/canonical_builders.hpp"

namespace json = boost::json;
using namespace switchyard;
using namespace switchyard::adapters;
using namespace switchyard::adapters::test;

namespace {

std::string read_fixture(const std::string& name) {
  return test::fixture("adapters/anthropic/" + name);
}

struct Frame {
  std::string type;
  json::value data;
};

std::vector<Frame> parse_sse(std::string_view text) {
  std::vector<Frame> frames;
  core::SseDecoder decoder;
  decoder.feed(text, [&](const core::SseEvent& e) {
    frames.push_back({std::string(e.type), json::parse(e.data)});
  });
  return frames;
}

std::string_view finish_name(FinishReason f) {
  switch (f) {
    case FinishReason::none:
      return "none";
    case FinishReason::stop:
      return "stop";
    case FinishReason::length:
      return "length";
    case FinishReason::tool_calls:
      return "tool_calls";
    case FinishReason::content_filter:
      return "content_filter";
  }
  return "?";
}

// The fields that matter for each kind of canonical event, to compare against golden JSON.
json::value to_json(const StreamEvent& e) {
  switch (e.kind) {
    case StreamEvent::Kind::start:
      return {{"kind", "start"}, {"id", e.id}, {"model", e.model}};
    case StreamEvent::Kind::text:
      return {{"kind", "text"}, {"text", e.text}};
    case StreamEvent::Kind::thinking:
      return {{"kind", "thinking"}, {"text", e.text}};
    case StreamEvent::Kind::thinking_signature:
      return {{"kind", "thinking_signature"}, {"text", e.text}};
    case StreamEvent::Kind::tool_call_start:
      return {{"kind", "tool_call_start"},
              {"index", e.index},
              {"id", e.id},
              {"name", e.name},
              {"text", e.text}};
    case StreamEvent::Kind::tool_call_delta:
      return {{"kind", "tool_call_delta"}, {"index", e.index}, {"text", e.text}};
    case StreamEvent::Kind::finish:
      return {{"kind", "finish"},
              {"finish", finish_name(e.finish)},
              {"stop_sequence", e.stop_sequence}};
    case StreamEvent::Kind::usage:
      return {{"kind", "usage"},
              {"prompt_tokens", e.usage.prompt_tokens},
              {"completion_tokens", e.usage.completion_tokens},
              {"cached_prompt_tokens", e.usage.cached_prompt_tokens},
              {"cache_creation_tokens", e.usage.cache_creation_tokens}};
    case StreamEvent::Kind::error:
      return {{"kind", "error"},
              {"status", e.error.status},
              {"code", e.error.code},
              {"message", e.error.message}};
  }
  return nullptr;
}

std::vector<StreamEvent> decode_stream(std::string_view sse) {
  auto decoder = make_messages_stream_decoder();
  std::vector<StreamEvent> events;
  core::SseDecoder sse_decoder;
  sse_decoder.feed(sse, [&](const core::SseEvent& e) { decoder->on_event(e, events); });
  decoder->on_end(events);
  return events;
}

json::object encode(const Request& request, std::int64_t default_max_tokens = 4096) {
  return json::parse(encode_messages_request(request, "claude-sonnet-4-6", default_max_tokens))
      .as_object();
}

}  // namespace

TEST_CASE("A Claude Code request decodes to every canonical field", "[anthropic][request]") {
  auto decoded = decode_messages_request(read_fixture("claude_code_request.json"));
  REQUIRE(decoded.ok());
  const Request& r = decoded.value();

  CHECK(r.model == "claude-sonnet-4-6");
  CHECK(r.max_tokens == 32000);
  CHECK(r.stream);
  CHECK(r.temperature == 1.0);
  CHECK(r.top_k == 40);
  CHECK(r.stop == std::vector<std::string>{"</done>"});
  CHECK(r.user == "user_7f3a_account_b2_session_91");
  CHECK(r.thinking_budget == 4096);
  CHECK(r.tool_choice.mode == ToolChoice::Mode::automatic);
  CHECK(r.parallel_tool_calls == false);

  // Server tools are dropped; custom-typed tools are ordinary tools.
  REQUIRE(r.tools.size() == 2);
  CHECK(r.tools[0].name == "Bash");
  CHECK(r.tools[0].description == "Run a shell command");
  CHECK(
      json::parse(r.tools[0].parameters) ==
      json::parse(
          R"({"type":"object","properties":{"command":{"type":"string"}},"required":["command"]})"));
  CHECK(r.tools[1].name == "Read");

  // system, user, assistant, three tool messages (one per tool_result), then the user's text.
  REQUIRE(r.messages.size() == 7);
  const Message& system = r.messages[0];
  CHECK(system.role == Message::Role::system);
  REQUIRE(system.parts.size() == 2);
  CHECK(system.parts[1].text == "You are Claude Code, Anthropic's official CLI for Claude.");

  const Message& user = r.messages[1];
  CHECK(user.role == Message::Role::user);
  REQUIRE(user.parts.size() == 3);
  CHECK(user.parts[0].text == "What is in this screenshot, and list the repo?");
  CHECK(user.parts[1].kind == Part::Kind::image);
  CHECK(user.parts[1].image.media_type == "image/png");
  CHECK(user.parts[1].image.data == "iVBORw0KGgo=");
  CHECK(user.parts[2].image.url == "https://example.com/diagram.jpg");
  CHECK(user.parts[2].image.data.empty());

  const Message& assistant = r.messages[2];
  CHECK(assistant.role == Message::Role::assistant);
  REQUIRE(assistant.parts.size() == 6);
  CHECK(assistant.parts[0].kind == Part::Kind::thinking);
  CHECK(assistant.parts[0].text == "The user wants a listing.");
  CHECK(assistant.parts[0].signature == "EqQBCgIYAhIM1gbc");
  CHECK(assistant.parts[1].kind == Part::Kind::redacted_thinking);
  CHECK(assistant.parts[1].signature == "EmwKAhgBEgy3va3pzix");
  CHECK(assistant.parts[2].text == "Let me look.");
  CHECK(assistant.parts[3].kind == Part::Kind::tool_call);
  CHECK(assistant.parts[3].id == "toolu_01A");
  CHECK(assistant.parts[3].name == "Bash");
  CHECK(json::parse(assistant.parts[3].arguments) ==
        json::parse(R"({"command":"ls -la","timeout":120})"));
  CHECK(assistant.parts[4].arguments == "{}");

  const Message& failed = r.messages[3];
  CHECK(failed.role == Message::Role::tool);
  REQUIRE(failed.parts.size() == 1);
  CHECK(failed.parts[0].kind == Part::Kind::tool_result);
  CHECK(failed.parts[0].id == "toolu_01A");
  CHECK(failed.parts[0].name == "Bash");
  CHECK(failed.parts[0].is_error);
  CHECK(failed.parts[0].text == "ls: cannot access: Permission denied");

  // A tool_reference-only result still answers its call, with empty text.
  const Message& reference = r.messages[4];
  CHECK(reference.role == Message::Role::tool);
  CHECK(reference.parts[0].id == "toolu_01B");
  CHECK(reference.parts[0].text.empty());
  CHECK_FALSE(reference.parts[0].is_error);

  const Message& with_image = r.messages[5];
  CHECK(with_image.parts[0].id == "toolu_01C");
  CHECK(with_image.parts[0].text == "Image read.\nSize 1x1.");
  REQUIRE(with_image.parts[0].images.size() == 1);
  CHECK(with_image.parts[0].images[0].data == "AAAA");

  const Message& after = r.messages[6];
  CHECK(after.role == Message::Role::user);
  REQUIRE(after.parts.size() == 1);
  CHECK(after.parts[0].text == "Try again with sudo.");
}

TEST_CASE("Malformed Messages requests are 400s naming the field", "[anthropic][request]") {
  auto not_json = decode_messages_request("{\"model\":");
  REQUIRE_FALSE(not_json.ok());
  CHECK(not_json.error().status == 400);
  CHECK(not_json.error().source == core::ErrorSource::client);

  auto bad_role = decode_messages_request(
      R"({"model":"m","max_tokens":5,"messages":[{"role":"robot","content":"x"}]})");
  REQUIRE_FALSE(bad_role.ok());
  CHECK(bad_role.error().param == "messages.0.role");

  auto bad_block = decode_messages_request(
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":5}]}]})");
  REQUIRE_FALSE(bad_block.ok());
  CHECK(bad_block.error().param == "messages.0.content.0.text");

  auto adaptive = decode_messages_request(
      R"({"model":"m","max_tokens":5,"thinking":{"type":"adaptive"},"system":"be brief","messages":[{"role":"user","content":"hi"}],
          "tool_choice":{"type":"tool","name":"f"}})");
  REQUIRE(adaptive.ok());
  CHECK(adaptive->reasoning_effort == "medium");
  CHECK_FALSE(adaptive->thinking_budget);
  CHECK(adaptive->tool_choice.mode == ToolChoice::Mode::named);
  CHECK(adaptive->tool_choice.name == "f");
  CHECK(adaptive->messages[0].role == Message::Role::system);
  CHECK(adaptive->messages[0].parts[0].text == "be brief");
}

TEST_CASE("Encoding hoists system text and drops empty text blocks", "[anthropic][request]") {
  Request r;
  r.messages.push_back({Message::Role::system, {text_part("You are terse.")}});
  r.messages.push_back({Message::Role::user, {text_part(""), text_part("Hi")}});
  r.messages.push_back({Message::Role::system, {text_part("Answer in French.")}});
  r.messages.push_back({Message::Role::user, {text_part("Again")}});
  r.messages.push_back({Message::Role::assistant, {text_part("")}});
  r.temperature = 1.7;
  r.top_p = 0.9;
  r.stop = {"END"};
  r.user = "u-1";
  r.stream = true;

  const json::object body = encode(r);
  CHECK(body.at("model") == "claude-sonnet-4-6");
  CHECK(body.at("max_tokens") == 4096);
  CHECK(body.at("system") == "You are terse.\n\nAnswer in French.");
  CHECK(body.at("temperature").as_double() == 1.0);
  CHECK(body.at("top_p").as_double() == 0.9);
  CHECK(body.at("stop_sequences") == json::array{"END"});
  CHECK(body.at("metadata") == json::object{{"user_id", "u-1"}});
  CHECK(body.at("stream") == true);
  CHECK_FALSE(body.contains("thinking"));

  // Both user turns merge into one; the assistant turn had nothing to say and is gone.
  CHECK(
      body.at("messages") ==
      json::parse(
          R"([{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":"Again"}]}])"));
}

TEST_CASE("Encoding tool results: first in the user turn, N:N, ids sanitized",
          "[anthropic][request]") {
  Request r;
  r.max_tokens = 2000;
  r.messages.push_back({Message::Role::user, {text_part("Weather and time?")}});
  r.messages.push_back(
      {Message::Role::assistant,
       {text_part("Checking."), tool_call("call.1:a", "get_weather", R"({"city":"Paris"})"),
        tool_call("call_2", "get_time", "{not json"), tool_call("call_3", "noop", "")}});
  r.messages.push_back(tool_message("call.1:a", "15C"));
  r.messages.push_back(tool_message("call_2", "boom", true));
  Message with_image = tool_message("call_3", "");
  with_image.parts[0].images.push_back(Image{"", "image/png", "AAAA"});
  r.messages.push_back(with_image);
  r.messages.push_back({Message::Role::user, {text_part("Thanks")}});

  const json::array messages = encode(r).at("messages").as_array();
  REQUIRE(messages.size() == 3);

  const json::array& calls = messages[1].at("content").as_array();
  REQUIRE(calls.size() == 4);
  CHECK(
      calls[1] ==
      json::parse(
          R"({"type":"tool_use","id":"call_1_a","name":"get_weather","input":{"city":"Paris"}})"));
  CHECK(calls[2].at("input") == json::object{});  // invalid JSON arguments
  CHECK(calls[3].at("input") == json::object{});  // empty arguments

  CHECK(messages[2].at("role") == "user");
  const json::array& results = messages[2].at("content").as_array();
  REQUIRE(results.size() == 4);
  CHECK(results[0] ==
        json::parse(R"({"type":"tool_result","tool_use_id":"call_1_a","content":"15C"})"));
  CHECK(results[1] ==
        json::parse(
            R"({"type":"tool_result","tool_use_id":"call_2","content":"boom","is_error":true})"));
  CHECK(results[2] == json::parse(R"({"type":"tool_result","tool_use_id":"call_3","content":[
      {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]})"));
  CHECK(results[3] == json::parse(R"({"type":"text","text":"Thanks"})"));
}

TEST_CASE("Encoding tools, tool choice and thinking", "[anthropic][request]") {
  Request r;
  r.messages.push_back({Message::Role::user, {text_part("go")}});
  Tool with_schema{"lookup", "Look it up",
                   R"({"type":"object","properties":{"q":{"type":"string"}}})", false};
  Tool without_schema{"ping", "", "", false};
  Tool freeform{"apply_patch", "Apply a patch", "", true};
  r.tools = {with_schema, without_schema, freeform};
  r.tool_choice = {ToolChoice::Mode::automatic, ""};
  r.parallel_tool_calls = false;
  r.thinking_budget = 2048;
  r.max_tokens = 8000;
  r.temperature = 0.3;

  json::object body = encode(r);
  CHECK(body.at("tools") == json::parse(R"([
      {"name":"lookup","description":"Look it up","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}},
      {"name":"ping","input_schema":{"type":"object","properties":{}}},
      {"name":"apply_patch","description":"Apply a patch","input_schema":{"type":"object",
        "properties":{"input":{"type":"string"}},"required":["input"]}}])"));
  CHECK(body.at("tool_choice") ==
        json::parse(R"({"type":"auto","disable_parallel_tool_use":true})"));
  CHECK(body.at("thinking") == json::parse(R"({"type":"enabled","budget_tokens":2048})"));
  CHECK(body.at("max_tokens").as_int64() == 8000);
  CHECK_FALSE(body.contains("temperature"));  // Anthropic rejects temperature with thinking on

  // "Thinking may not be enabled when tool_choice forces tool use."
  r.tool_choice = {ToolChoice::Mode::named, "lookup"};
  body = encode(r);
  CHECK(body.at("tool_choice") ==
        json::parse(R"({"type":"tool","name":"lookup","disable_parallel_tool_use":true})"));
  CHECK_FALSE(body.contains("thinking"));
  CHECK(body.at("temperature").as_double() == 0.3);

  r.thinking_budget = 512;  // below Anthropic's minimum
  r.tool_choice = {ToolChoice::Mode::required, ""};
  r.parallel_tool_calls.reset();
  body = encode(r);
  CHECK_FALSE(body.contains("thinking"));
  CHECK(body.at("tool_choice") == json::object{{"type", "any"}});

  // The client's limit covers thinking and answer: thinking gets at most half of it.
  r.tool_choice = {ToolChoice::Mode::automatic, ""};
  r.thinking_budget = 8000;
  CHECK(encode(r).at("thinking") == json::parse(R"({"type":"enabled","budget_tokens":4000})"));
  r.max_tokens = 1500;
  CHECK_FALSE(encode(r).contains("thinking"));
}

TEST_CASE("Thinking comes on top of the default limit and stays off mid tool loop",
          "[anthropic][request]") {
  Request r;
  r.messages.push_back({Message::Role::user, {text_part("list the files")}});
  r.thinking_budget = 4096;
  json::object body = json::parse(encode_messages_request(r, "claude-test", 4096)).as_object();
  CHECK(body.at("max_tokens").as_int64() == 4096 + 4096);
  CHECK(body.at("thinking").at("budget_tokens").as_int64() == 4096);

  // The assistant's tool call came back from an OpenAI client without its thinking block:
  // Anthropic would refuse thinking on this turn.
  Part call;
  call.kind = Part::Kind::tool_call;
  call.id = "call_1";
  call.name = "Bash";
  call.arguments = R"({"command":"ls"})";
  Part result;
  result.kind = Part::Kind::tool_result;
  result.id = "call_1";
  result.text = "a.txt";
  r.messages.push_back({Message::Role::assistant, {call}});
  r.messages.push_back({Message::Role::tool, {result}});
  body = json::parse(encode_messages_request(r, "claude-test", 4096)).as_object();
  CHECK_FALSE(body.contains("thinking"));
  CHECK(body.at("max_tokens").as_int64() == 4096);

  // A later turn that is not answering a tool call may think again.
  Part answer = text_part("Found a.txt");
  r.messages.push_back({Message::Role::assistant, {answer}});
  r.messages.push_back({Message::Role::user, {text_part("and now?")}});
  body = json::parse(encode_messages_request(r, "claude-test", 4096)).as_object();
  CHECK(body.contains("thinking"));
}

TEST_CASE("A tool-use response decodes and encodes back", "[anthropic][response]") {
  auto decoded = decode_messages_response(read_fixture("message_response.json"));
  REQUIRE(decoded.ok());
  const Response& r = decoded.value();
  CHECK(r.id == "msg_01Aq9w938a90dw8q");
  CHECK(r.model == "claude-opus-5");
  CHECK(r.finish == FinishReason::tool_calls);
  REQUIRE(r.content.size() == 3);
  CHECK(r.content[0].kind == Part::Kind::thinking);
  CHECK(r.content[0].signature == "EqQBCgIYAhIM");
  CHECK(r.content[1].text == "I'll check the current weather in San Francisco for you.");
  CHECK(r.content[2].id == "toolu_01A09q90qw90lq917835lq9");
  CHECK(json::parse(r.content[2].arguments) == json::parse(R"({"location":"San Francisco, CA"})"));
  REQUIRE(r.usage);
  CHECK(r.usage->prompt_tokens == 16 + 200 + 1000);
  CHECK(r.usage->cached_prompt_tokens == 1000);
  CHECK(r.usage->cache_creation_tokens == 200);
  CHECK(r.usage->completion_tokens == 5);

  const json::value encoded = json::parse(encode_messages_response(r));
  CHECK(
      encoded ==
      json::parse(
          R"({"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-opus-5",
      "content":[{"type":"thinking","thinking":"Need the weather tool.","signature":"EqQBCgIYAhIM"},
                 {"type":"text","text":"I'll check the current weather in San Francisco for you."},
                 {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA"}}],
      "stop_reason":"tool_use","stop_sequence":null,
      "usage":{"input_tokens":16,"cache_creation_input_tokens":200,"cache_read_input_tokens":1000,"output_tokens":5}})"));
}

TEST_CASE("Stop reasons map both ways", "[anthropic][response]") {
  const auto finish_of = [](std::string_view stop_reason) {
    std::string body = R"({"id":"msg_1","model":"m","content":[],"stop_reason":")" +
                       std::string(stop_reason) + "\"}";
    return decode_messages_response(body).value().finish;
  };
  CHECK(finish_of("end_turn") == FinishReason::stop);
  CHECK(finish_of("stop_sequence") == FinishReason::stop);
  CHECK(finish_of("pause_turn") == FinishReason::stop);
  CHECK(finish_of("max_tokens") == FinishReason::length);
  CHECK(finish_of("model_context_window_exceeded") == FinishReason::length);
  CHECK(finish_of("tool_use") == FinishReason::tool_calls);
  CHECK(finish_of("refusal") == FinishReason::content_filter);

  Response r;
  r.id = "chatcmpl-9";
  r.model = "gpt-4o";
  r.content.push_back(text_part("done"));
  const auto stop_reason_of = [&](FinishReason f, std::string seq = {}) {
    r.finish = f;
    r.stop_sequence = std::move(seq);
    return json::parse(encode_messages_response(r));
  };
  CHECK(stop_reason_of(FinishReason::stop).at("stop_reason") == "end_turn");
  const json::value with_sequence = stop_reason_of(FinishReason::stop, "END");
  CHECK(with_sequence.at("stop_reason") == "stop_sequence");
  CHECK(with_sequence.at("stop_sequence") == "END");
  CHECK(stop_reason_of(FinishReason::length).at("stop_reason") == "max_tokens");
  CHECK(stop_reason_of(FinishReason::tool_calls).at("stop_reason") == "tool_use");
  const json::value filtered = stop_reason_of(FinishReason::content_filter);
  CHECK(filtered.at("stop_reason") == "refusal");
  CHECK(filtered.at("id") == "msg_chatcmpl-9");
}

TEST_CASE("Usage converts with cache reads and writes both ways", "[anthropic][usage]") {
  auto usage = extract_messages_usage(
      R"({"usage":{"input_tokens":10,"cache_creation_input_tokens":300,"cache_read_input_tokens":2000,"output_tokens":77}})");
  REQUIRE(usage);
  CHECK(usage->prompt_tokens == 2310);
  CHECK(usage->cached_prompt_tokens == 2000);
  CHECK(usage->cache_creation_tokens == 300);
  CHECK(usage->completion_tokens == 77);
  CHECK_FALSE(extract_messages_usage(R"({"id":"msg_1"})"));

  Response r;
  r.id = "msg_x";
  r.usage = core::Usage{2310, 77, 2000, 300, 0};
  const json::value back = json::parse(encode_messages_response(r)).at("usage");
  CHECK(
      back ==
      json::parse(
          R"({"input_tokens":10,"cache_creation_input_tokens":300,"cache_read_input_tokens":2000,"output_tokens":77})"));

  // Inconsistent counts from elsewhere never give a negative input count.
  r.usage = core::Usage{5, 1, 50, 0, 0};
  CHECK(json::parse(encode_messages_response(r)).at("usage").at("input_tokens") == 0);

  MessagesUsageTracker tracker;
  core::SseDecoder sse;
  sse.feed(read_fixture("tool_use_stream.sse"),
           [&](const core::SseEvent& e) { tracker.on_event(e); });
  REQUIRE(tracker.usage());
  CHECK(tracker.usage()->prompt_tokens == 377);
  CHECK(tracker.usage()->completion_tokens == 65);
}

TEST_CASE("Error bodies carry Anthropic's type for the status", "[anthropic][error]") {
  const auto body_of = [](int status) {
    core::GatewayError e;
    e.status = status;
    e.message = "slow down";
    return json::parse(to_anthropic_error_body(e));
  };
  CHECK(
      body_of(429) ==
      json::parse(R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})"));
  CHECK(body_of(529).at("error").at("type") == "overloaded_error");
  CHECK(body_of(401).at("error").at("type") == "authentication_error");
  CHECK(body_of(413).at("error").at("type") == "request_too_large");
  CHECK(body_of(422).at("error").at("type") == "invalid_request_error");
  CHECK(body_of(504).at("error").at("type") == "timeout_error");
  CHECK(body_of(503).at("error").at("type") == "api_error");

  const core::GatewayError overloaded = decode_messages_error(
      529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  CHECK(overloaded.status == 529);
  CHECK(overloaded.code == "overloaded_error");
  CHECK(overloaded.message == "Overloaded");
  CHECK(overloaded.type == "server_error");
  CHECK(overloaded.source == core::ErrorSource::upstream);

  const core::GatewayError limited = decode_messages_error(
      429, R"({"type":"error","error":{"type":"rate_limit_error","message":"Too many"}})");
  CHECK(limited.type == "rate_limit_error");

  const core::GatewayError html =
      decode_messages_error(400, "<html>" + std::string(2000, 'x') + "</html>");
  CHECK(html.code == "invalid_request_error");
  CHECK(html.message.starts_with("<html>"));
  CHECK(html.message.size() <= 500);
}

TEST_CASE("The recorded tool_use stream decodes to canonical events", "[anthropic][stream]") {
  const std::vector<StreamEvent> events = decode_stream(read_fixture("tool_use_stream.sse"));
  const json::array expected =
      json::parse(read_fixture("tool_use_stream_expected.json")).as_array();
  REQUIRE(events.size() == expected.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    INFO("event " << i);
    CHECK(to_json(events[i]) == expected[i]);
  }
}

TEST_CASE("Stream decoder: thinking, tool indices after text, cumulative usage, errors",
          "[anthropic][stream]") {
  const std::string sse =
      "event: message_start\ndata: "
      "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":"
      "{\"input_tokens\":3,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: "
      "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\","
      "\"thinking\":\"\",\"signature\":\"\"}}\n\n"
      "event: content_block_delta\ndata: "
      "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
      "\"thinking\":\"hmm\"}}\n\n"
      "event: content_block_delta\ndata: "
      "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\","
      "\"signature\":\"SIG\"}}\n\n"
      "event: content_block_start\ndata: "
      "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
      "\"id\":\"t1\",\"name\":\"a\",\"input\":{\"x\":1}}}\n\n"
      "event: content_block_start\ndata: "
      "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\","
      "\"id\":\"t2\",\"name\":\"b\",\"input\":{}}}\n\n"
      "event: content_block_delta\ndata: "
      "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\","
      "\"partial_json\":\"{}\"}}\n\n"
      "event: message_delta\ndata: "
      "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":"
      "\"END\"},"
      "\"usage\":{\"input_tokens\":7,\"output_tokens\":30}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  const std::vector<StreamEvent> events = decode_stream(sse);
  REQUIRE(events.size() == 9);
  CHECK(
      to_json(events[1]) ==
      json::parse(
          R"({"kind":"usage","prompt_tokens":103,"completion_tokens":1,"cached_prompt_tokens":100,"cache_creation_tokens":0})"));
  CHECK(to_json(events[2]) == json::parse(R"({"kind":"thinking","text":"hmm"})"));
  CHECK(to_json(events[3]) == json::parse(R"({"kind":"thinking_signature","text":"SIG"})"));
  CHECK(to_json(events[4]) ==
        json::parse(
            R"({"kind":"tool_call_start","index":0,"id":"t1","name":"a","text":"{\"x\":1}"})"));
  CHECK(to_json(events[5]) ==
        json::parse(R"({"kind":"tool_call_start","index":1,"id":"t2","name":"b","text":""})"));
  CHECK(to_json(events[6]) == json::parse(R"({"kind":"tool_call_delta","index":1,"text":"{}"})"));
  CHECK(to_json(events[7]) ==
        json::parse(R"({"kind":"finish","finish":"stop","stop_sequence":"END"})"));
  // input_tokens overwritten, cache reads kept from message_start.
  CHECK(
      to_json(events[8]) ==
      json::parse(
          R"({"kind":"usage","prompt_tokens":107,"completion_tokens":30,"cached_prompt_tokens":100,"cache_creation_tokens":0})"));

  const std::vector<StreamEvent> failed = decode_stream(
      "event: error\ndata: "
      "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"
      "\n\n");
  REQUIRE(failed.size() == 1);
  CHECK(to_json(failed[0]) ==
        json::parse(
            R"({"kind":"error","status":529,"code":"overloaded_error","message":"Overloaded"})"));
}

TEST_CASE("Stream encoder: text, tool calls and usage as a well-formed Messages stream",
          "[anthropic][stream]") {
  auto encoder = make_messages_stream_encoder("chatcmpl-42", "claude-sonnet-4-6", 7);
  std::string out;
  StreamEvent start = ev(StreamEvent::Kind::start);
  start.id = "chatcmpl-42";
  start.model = "gpt-4o";
  encoder->encode(start, out);
  encoder->encode(ev(StreamEvent::Kind::text, "Hel"), out);
  encoder->encode(ev(StreamEvent::Kind::text, ""), out);
  encoder->encode(ev(StreamEvent::Kind::text, "lo"), out);
  encoder->encode(call_start(0, "call_a.1", "get_weather"), out);
  encoder->encode(ev(StreamEvent::Kind::tool_call_delta, "{\"city\":", 0), out);
  encoder->encode(ev(StreamEvent::Kind::tool_call_delta, "\"Paris\"}", 0), out);
  encoder->encode(ev(StreamEvent::Kind::tool_call_delta, "{\"tz\":", 1), out);  // before its start
  encoder->encode(call_start(1, "call_b", "get_time"), out);
  encoder->encode(ev(StreamEvent::Kind::tool_call_delta, "\"UTC\"}", 1), out);
  StreamEvent finish = ev(StreamEvent::Kind::finish);
  finish.finish = FinishReason::tool_calls;
  encoder->encode(finish, out);
  StreamEvent usage = ev(StreamEvent::Kind::usage);
  usage.usage = core::Usage{1200, 42, 1000, 0, 0};
  encoder->encode(usage, out);
  encoder->finish(out);

  // Every frame has its event: line, and the SDK-visible content matches the golden stream.
  std::size_t frame_start = 0;
  while (frame_start < out.size()) {
    const std::size_t end = out.find("\n\n", frame_start);
    REQUIRE(end != std::string::npos);
    const std::string_view frame(out.data() + frame_start, end - frame_start);
    CHECK(frame.starts_with("event: "));
    CHECK(frame.find("\ndata: ") != std::string_view::npos);
    frame_start = end + 2;
  }
  const std::vector<Frame> frames = parse_sse(out);
  const std::vector<Frame> expected = parse_sse(read_fixture("encoder_text_tools_expected.sse"));
  REQUIRE(frames.size() == expected.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    INFO("frame " << i);
    CHECK(frames[i].type == expected[i].type);
    CHECK(frames[i].data == expected[i].data);
    CHECK(frames[i].data.at("type").as_string() == frames[i].type);
  }

  // Each tool block's input_json_delta pieces concatenate to valid JSON.
  std::map<std::int64_t, std::string> inputs;
  for (const Frame& f : frames) {
    if (f.type != "content_block_delta" || f.data.at("delta").at("type") != "input_json_delta")
      continue;
    inputs[f.data.at("index").as_int64()] +=
        f.data.at("delta").at("partial_json").as_string().c_str();
  }
  REQUIRE(inputs.size() == 2);
  CHECK(json::parse(inputs[1]) == json::parse(R"({"city":"Paris"})"));
  CHECK(json::parse(inputs[2]) == json::parse(R"({"tz":"UTC"})"));
}

TEST_CASE("Stream encoder: arguments on the start, generated ids, no start, failure",
          "[anthropic][stream]") {
  auto encoder = make_messages_stream_encoder("", "claude-x", 0);
  std::string out;
  encoder->encode(call_start(0, "", "lookup", R"({"q":"x"})"), out);  // whole call in one piece
  encoder->finish(out);
  std::vector<Frame> frames = parse_sse(out);
  REQUIRE(frames.size() == 6);
  CHECK(frames[0].type == "message_start");  // emitted although no start event came
  CHECK(frames[0].data.at("message").at("id").as_string().starts_with("msg_"));
  CHECK(frames[1].data.at("content_block").at("id").as_string().starts_with("toolu_"));
  CHECK(frames[2].data.at("delta").at("partial_json") == R"({"q":"x"})");
  CHECK(frames[4].data.at("delta").at("stop_reason") == "end_turn");
  CHECK(frames[5].type == "message_stop");

  auto failing = make_messages_stream_encoder("msg_7", "claude-x", 0);
  out.clear();
  failing->encode(ev(StreamEvent::Kind::start), out);
  failing->encode(ev(StreamEvent::Kind::thinking, "let me see"), out);
  failing->encode(ev(StreamEvent::Kind::thinking_signature, "SIG"), out);
  failing->fail(core::upstream_timeout("upstream went quiet"), out);
  failing->finish(out);  // nothing more after the error
  frames = parse_sse(out);
  REQUIRE(frames.size() == 5);
  CHECK(frames[1].data.at("content_block").at("type") == "thinking");
  CHECK(frames[2].data.at("delta").at("type") == "thinking_delta");
  CHECK(frames[3].data.at("delta") ==
        json::parse(R"({"type":"signature_delta","signature":"SIG"})"));
  CHECK(frames[4].type == "error");
  CHECK(
      frames[4].data ==
      json::parse(
          R"({"type":"error","error":{"type":"timeout_error","message":"upstream went quiet"}})"));
}

TEST_CASE("Encoder output decodes back to the same answer", "[anthropic][stream]") {
  auto encoder = make_messages_stream_encoder("msg_rt", "claude-y", 0);
  std::string out;
  StreamEvent start = ev(StreamEvent::Kind::start);
  encoder->encode(start, out);
  encoder->encode(ev(StreamEvent::Kind::thinking, "plan"), out);
  encoder->encode(ev(StreamEvent::Kind::text, "Sure."), out);
  encoder->encode(call_start(0, "toolu_1", "f", "{\"a\":"), out);
  encoder->encode(ev(StreamEvent::Kind::tool_call_delta, "1}", 0), out);
  StreamEvent finish = ev(StreamEvent::Kind::finish);
  finish.finish = FinishReason::length;
  encoder->encode(finish, out);
  StreamEvent usage = ev(StreamEvent::Kind::usage);
  usage.usage = core::Usage{500, 9, 100, 50, 0};
  encoder->encode(usage, out);
  encoder->finish(out);

  const std::vector<StreamEvent> events = decode_stream(out);
  json::array got;
  for (const StreamEvent& e : events) got.push_back(to_json(e));
  CHECK(got == json::parse(R"([
      {"kind":"start","id":"msg_rt","model":"claude-y"},
      {"kind":"usage","prompt_tokens":0,"completion_tokens":0,"cached_prompt_tokens":0,"cache_creation_tokens":0},
      {"kind":"thinking","text":"plan"},
      {"kind":"text","text":"Sure."},
      {"kind":"tool_call_start","index":0,"id":"toolu_1","name":"f","text":""},
      {"kind":"tool_call_delta","index":0,"text":"{\"a\":"},
      {"kind":"tool_call_delta","index":0,"text":"1}"},
      {"kind":"finish","finish":"length","stop_sequence":""},
      {"kind":"usage","prompt_tokens":500,"completion_tokens":9,"cached_prompt_tokens":100,"cache_creation_tokens":50}])"));
}

TEST_CASE("Input token estimate counts text, tool calls and tool definitions",
          "[anthropic][usage]") {
  Request empty;
  CHECK(estimate_input_tokens(empty) == 1);
  Request r;
  r.messages.push_back({Message::Role::user, {text_part(std::string(400, 'a'))}});
  const std::int64_t text_only = estimate_input_tokens(r);
  CHECK(text_only == 100);
  r.tools.push_back(Tool{"t", "", std::string(399, 'b'), false});
  CHECK(estimate_input_tokens(r) == 200);
}

TEST_CASE(
    "A Messages response with a field of the wrong JSON type is refused, but null and unknown "
    "fields are not",
    "[anthropic][response]") {
  const std::vector<std::pair<std::string, std::string>> wrong{
      {R"({"id":"msg_1","type":"message","content":"not an array"})", "content"},
      {R"({"content":["text"]})", "content[0]"},
      {R"({"content":[{"text":"Hi"}]})", "content[0].type"},
      {R"({"content":[{"type":5,"text":"Hi"}]})", "content[0].type"},
      {R"({"content":[{"type":"text","text":"Hi"},{"type":"text","text":{"value":"Hi"}}]})",
       "content[1].text"},
      {R"({"content":[{"type":"tool_use","id":"t","name":"f","input":"{}"}]})", "content[0].input"},
      {R"({"content":[{"type":"tool_use","id":7,"name":"f","input":{}}]})", "content[0].id"},
      {R"({"content":[{"type":"thinking","thinking":"x","signature":1}]})", "content[0].signature"},
      {R"({"model":5,"content":[{"type":"text","text":"Hi"}]})", "model"},
      {R"({"content":[{"type":"text","text":"Hi"}],"stop_reason":1})", "stop_reason"},
      {R"({"content":[{"type":"text","text":"Hi"}],"usage":"many"})", "usage"},
      {R"({"content":[{"type":"text","text":"Hi"}],"usage":{"input_tokens":"3","output_tokens":1}})",
       "usage.input_tokens"},
      {R"({"content":[{"type":"text","text":"Hi"}],"usage":{"input_tokens":3,"output_tokens":true}})",
       "usage.output_tokens"},
  };
  for (const auto& [body, field] : wrong) {
    INFO(body);
    check_answer_refused(decode_messages_response(body), field);
  }
  const auto root = decode_messages_response(R"(["msg"])");
  REQUIRE_FALSE(root.ok());
  CHECK(root.error().code == "bad_upstream_response");

  // Null where Anthropic documents it, blocks of kinds the gateway does not translate, and
  // fields it does not know.
  const auto fine =
      decode_messages_response(R"({"id":"msg_1","type":"message","role":"assistant","model":"m",
      "content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{"query":"q"}},
                 {"type":"web_search_tool_result","tool_use_id":"s","content":[]},
                 {"type":"text","text":"Hi","citations":null}],
      "stop_reason":"end_turn","stop_sequence":null,"container":null,
      "usage":{"input_tokens":3,"output_tokens":1,"cache_creation_input_tokens":null,"cache_read_input_tokens":null,
               "server_tool_use":{"web_search_requests":1},"service_tier":"standard"}})");
  REQUIRE(fine.ok());
  REQUIRE(fine->content.size() == 1);
  CHECK(fine->content[0].text == "Hi");
  CHECK(fine->usage->prompt_tokens == 3);
}

TEST_CASE(
    "A Messages stream event with a field of the wrong JSON type ends the stream with "
    "bad_upstream_response",
    "[anthropic][stream]") {
  const std::string first =
      "event: message_start\ndata: "
      "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"content\":[],"
      "\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: "
      "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":"
      "\"\"}}\n\n"
      "event: content_block_delta\ndata: "
      "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
      "\"Hi\"}}\n\n";
  const std::string later =
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: message_delta\ndata: "
      "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
      "\"usage\":{\"output_tokens\":5}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  // Each as an event in the middle of the stream; deltas go through the fast reader first,
  // and both readers must refuse them.
  const std::vector<std::tuple<std::string, std::string, std::string>> wrong{
      {"content_block_delta",
       R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":5}})",
       "delta.text"},
      {"content_block_delta",
       R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":5.5}})",
       "delta.text"},
      {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"text":"x"}})",
       "delta.type"},
      {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":"text"})",
       "delta"},
      {"content_block_delta",
       R"({"type":"content_block_delta","index":"0","delta":{"type":"text_delta","text":"x"}})",
       "index"},
      {"content_block_delta",
       R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":{}}})",
       "delta.partial_json"},
      {"content_block_start",
       R"({"type":"content_block_start","index":1,"content_block":{"text":""}})",
       "content_block.type"},
      {"content_block_start",
       R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":["f"],"input":{}}})",
       "content_block.name"},
      {"content_block_start",
       R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":[]}})",
       "content_block.input"},
      {"content_block_start", R"({"type":"content_block_start","index":1,"content_block":"text"})",
       "content_block"},
      {"message_delta",
       R"({"type":"message_delta","delta":{"stop_reason":1},"usage":{"output_tokens":5}})",
       "delta.stop_reason"},
      {"message_delta",
       R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":"65"}})",
       "usage.output_tokens"},
      {"message_start", R"({"type":"message_start","message":"hello"})", "message"},
      {"message_start", R"({"type":"message_start","message":{"id":"msg_2","model":1}})",
       "message.model"},
      {"message_start",
       R"({"type":"message_start","message":{"id":"msg_2","usage":{"input_tokens":"3"}}})",
       "message.usage.input_tokens"},
      {"content_block_delta", R"({"type":7,"index":0,"delta":{"type":"text_delta","text":"x"}})",
       "type"},
  };
  for (const auto& [name, data, field] : wrong) {
    INFO(data);
    const auto events =
        decode_stream(first + "event: " + name + "\ndata: " + data + "\n\n" + later);
    // What came before stays; nothing of the wrong event or after it does.
    REQUIRE(events.size() == 4);
    CHECK(to_json(events[2]) == json::parse(R"({"kind":"text","text":"Hi"})"));
    check_stream_refused(events, field);
  }
  const auto root = decode_stream(first + "event: content_block_delta\ndata: [\"Hi\"]\n\n" + later);
  REQUIRE(root.size() == 4);
  CHECK(root[3].error.code == "bad_upstream_response");

  // Null where Anthropic documents it, events and deltas the gateway does not translate.
  const auto fine =
      decode_stream(first +
                    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
                    "event: content_block_delta\ndata: "
                    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"citations_"
                    "delta\",\"citation\":{\"type\":\"char_location\"}}}\n\n"
                    "event: something_new\ndata: {\"type\":\"something_new\",\"index\":[1]}\n\n" +
                    later);
  REQUIRE(fine.size() == 5);
  CHECK(to_json(fine[2]) == json::parse(R"({"kind":"text","text":"Hi"})"));
  CHECK(to_json(fine[3]) == json::parse(R"({"kind":"finish","finish":"stop","stop_sequence":""})"));
  CHECK(fine[4].kind == StreamEvent::Kind::usage);
}

TEST_CASE("A Messages stream that ends without message_stop ends with upstream_stream_truncated",
          "[anthropic][stream]") {
  const std::string sse = read_fixture("tool_use_stream.sse");
  const std::size_t stop = sse.find("event: message_stop");
  REQUIRE(stop != std::string::npos);
  // Even with the stop reason already sent: message_stop is the end.
  const std::vector<StreamEvent> cut = decode_stream(sse.substr(0, stop));
  REQUIRE(cut.size() == decode_stream(sse).size() + 1);
  check_stream_truncated(cut);
  check_stream_truncated(decode_stream(""));

  // The provider's own error stays the only error.
  const std::vector<StreamEvent> failed =
      decode_stream(sse.substr(0, sse.find("event: ping")) +
                    "event: error\ndata: "
                    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                    "\"Overloaded\"}}\n\n");
  REQUIRE(!failed.empty());
  CHECK(to_json(failed.back()) ==
        json::parse(
            R"({"kind":"error","status":529,"code":"overloaded_error","message":"Overloaded"})"));
  CHECK(std::count_if(failed.begin(), failed.end(), [](const StreamEvent& e) {
          return e.kind == StreamEvent::Kind::error;
        }) == 1);
}
