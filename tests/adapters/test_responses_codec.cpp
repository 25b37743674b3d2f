#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "adapters/openai.hpp"
#include "adapters/responses.hpp"
#include "tests/adapters/canonical_builders.hpp"

namespace json = boost::json;
using namespace switchyard::adapters;
using namespace switchyard::adapters::test;

namespace {

json::value parse(std::string_view text) { return json::parse(text); }

struct Event {
  std::string type;  // from the event: line
  json::object data;
};

// Splits the encoder's bytes into events, checking the framing: an event: line, one data:
// line whose "type" matches it, a blank line; sequence numbers strictly increasing.
std::vector<Event> events_of(const std::string& sse) {
  std::vector<Event> out;
  std::size_t pos = 0;
  std::int64_t last_sequence = -1;
  while (pos < sse.size()) {
    const std::size_t end = sse.find("\n\n", pos);
    REQUIRE(end != std::string::npos);
    const std::string block = sse.substr(pos, end - pos);
    pos = end + 2;
    REQUIRE(block.rfind("event: ", 0) == 0);
    const std::size_t newline = block.find('\n');
    REQUIRE(newline != std::string::npos);
    REQUIRE(block.compare(newline + 1, 6, "data: ") == 0);
    REQUIRE(block.find('\n', newline + 1) == std::string::npos);
    Event e;
    e.type = block.substr(7, newline - 7);
    e.data = parse(block.substr(newline + 7)).as_object();
    CHECK(e.data.at("type") == e.type.c_str());
    const std::int64_t sequence = e.data.at("sequence_number").as_int64();
    CHECK(sequence > last_sequence);
    last_sequence = sequence;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> types_of(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.type);
  return out;
}

Request codex_request() {
  auto decoded = decode_responses_request(fixture("adapters/responses/codex_request.json"));
  REQUIRE(decoded.ok());
  return decoded.value();
}

std::string run(const Request& request, const std::vector<StreamEvent>& events) {
  auto encoder = make_responses_stream_encoder("resp_gw1", "gpt-5-codex", 1741290958, request);
  std::string out;
  for (const auto& e : events) encoder->encode(e, out);
  encoder->finish(out);
  return out;
}

// The usage object Codex parses from response.completed: integer counts, all present.
void check_usage(const json::value& usage, std::int64_t input, std::int64_t output,
                 std::int64_t cached, std::int64_t reasoning) {
  CHECK(usage.at("input_tokens").is_int64());
  CHECK(usage.at("input_tokens") == input);
  CHECK(usage.at("output_tokens") == output);
  CHECK(usage.at("total_tokens") == input + output);
  CHECK(usage.at("input_tokens_details").at("cached_tokens") == cached);
  CHECK(usage.at("output_tokens_details").at("reasoning_tokens") == reasoning);
}

}  // namespace

TEST_CASE("responses request: a Codex turn decodes to canonical messages and tools") {
  const Request r = codex_request();
  CHECK(r.model == "gpt-5-codex");
  REQUIRE(r.messages.size() == 8);
  CHECK(r.messages[0].role == Message::Role::system);
  CHECK(r.messages[0].parts.at(0).text == "You are Codex, a coding agent.");
  CHECK(r.messages[1].role == Message::Role::system);  // developer message
  CHECK(r.messages[2].role == Message::Role::user);
  const Message& user = r.messages[3];
  REQUIRE(user.parts.size() == 2);
  CHECK(user.parts[0].text == "List the files, then fix the typo in README.");
  CHECK(user.parts[1].kind == Part::Kind::image);
  CHECK(user.parts[1].image.media_type == "image/png");

  // The assistant's text and its call are one turn; the reasoning item is gone.
  const Message& turn = r.messages[4];
  CHECK(turn.role == Message::Role::assistant);
  REQUIRE(turn.parts.size() == 2);
  CHECK(turn.parts[0].text == "I'll list the files.");
  CHECK(turn.parts[1].kind == Part::Kind::tool_call);
  CHECK(turn.parts[1].id == "call_1");
  CHECK(turn.parts[1].name == "shell");
  CHECK(turn.parts[1].arguments == R"({"command":["ls"]})");

  CHECK(r.messages[5].role == Message::Role::tool);
  CHECK(r.messages[5].parts.at(0).kind == Part::Kind::tool_result);
  CHECK(r.messages[5].parts.at(0).id == "call_1");
  CHECK(r.messages[5].parts.at(0).name == "shell");
  CHECK(r.messages[5].parts.at(0).text == "README.md\nsrc");

  const Part& patch = r.messages[6].parts.at(0);
  CHECK(patch.kind == Part::Kind::tool_call);
  CHECK(patch.name == "apply_patch");
  CHECK(
      parse(patch.arguments) ==
      parse(
          R"({"input":"*** Begin Patch\n*** Update File: README.md\n-teh\n+the\n*** End Patch\n"})"));
  CHECK(r.messages[7].parts.at(0).id == "call_2");
  CHECK(r.messages[7].parts.at(0).text == "Success. Updated README.md");

  REQUIRE(r.tools.size() == 2);  // web_search and local_shell cannot go elsewhere
  CHECK(r.tools[0].name == "shell");
  CHECK_FALSE(r.tools[0].freeform);
  CHECK(parse(r.tools[0].parameters).at("required") == parse(R"(["command"])"));
  CHECK(r.tools[1].name == "apply_patch");
  CHECK(r.tools[1].freeform);
  CHECK(r.tool_choice.mode == ToolChoice::Mode::automatic);
  CHECK(r.parallel_tool_calls == false);
  CHECK(r.reasoning_effort == "medium");
  CHECK(r.max_tokens == 4096);
  CHECK(r.stream);
  CHECK(r.include_usage);
}

TEST_CASE("responses request: sent to a Chat provider, the patch tool is a function taking input") {
  const json::object body = parse(encode_chat_request(codex_request(), "gpt-4.1")).as_object();
  const json::array& tools = body.at("tools").as_array();
  REQUIRE(tools.size() == 2);
  CHECK(tools[1].at("function").at("name") == "apply_patch");
  CHECK(tools[1].at("function").at("parameters").at("required") == parse(R"(["input"])"));
  const json::array& messages = body.at("messages").as_array();
  CHECK(messages[6].at("tool_calls").at(0).at("id") == "call_2");
  CHECK(messages[7] ==
        parse(R"({"role":"tool","tool_call_id":"call_2","content":"Success. Updated README.md"})"));
}

TEST_CASE("responses request: string input, simple messages, and errors naming the field") {
  auto simple = decode_responses_request(
      R"({"model":"m","input":"hello","tool_choice":{"type":"function","name":"f"},"user":"u","temperature":0.5})");
  REQUIRE(simple.ok());
  REQUIRE(simple->messages.size() == 1);
  CHECK(simple->messages[0].role == Message::Role::user);
  CHECK(simple->messages[0].parts.at(0).text == "hello");
  CHECK(simple->tool_choice.mode == ToolChoice::Mode::named);
  CHECK(simple->tool_choice.name == "f");
  CHECK(simple->user == "u");
  CHECK_FALSE(simple->stream);

  auto easy = decode_responses_request(R"({"model":"m","input":[{"role":"user","content":"hi"}]})");
  REQUIRE(easy.ok());
  CHECK(easy->messages.at(0).parts.at(0).text == "hi");

  const std::pair<const char*, const char*> cases[] = {
      {R"({"model":"m"})", "input"},
      {R"({"input":"x"})", "model"},
      {R"({"model":"m","input":[{"type":"message","role":"robot","content":"x"}]})",
       "input[0].role"},
      {R"({"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]})",
       "input[0].call_id"},
      {R"({"model":"m","input":"x","previous_response_id":"resp_1"})", "previous_response_id"},
      {R"({"model":"m","input":"x","max_output_tokens":"many"})", "max_output_tokens"},
  };
  for (auto [body, param] : cases) {
    INFO(body);
    auto r = decode_responses_request(body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == 400);
    CHECK(r.error().param == param);
  }
  CHECK_FALSE(decode_responses_request("not json").ok());
}

TEST_CASE("responses stream: a text answer") {
  StreamEvent start = ev(StreamEvent::Kind::start);
  start.id = "chatcmpl-up";
  const auto events =
      events_of(run(codex_request(), {start, ev(StreamEvent::Kind::text, "Hi"),
                                      ev(StreamEvent::Kind::text, " there"), usage_ev(37, 11, 5, 0),
                                      finish_ev(FinishReason::stop)}));
  CHECK(types_of(events) ==
        std::vector<std::string>{"response.created", "response.in_progress",
                                 "response.output_item.added", "response.content_part.added",
                                 "response.output_text.delta", "response.output_text.delta",
                                 "response.output_text.done", "response.content_part.done",
                                 "response.output_item.done", "response.completed"});
  CHECK(events[0].data.at("response").at("id") == "resp_gw1");
  CHECK(events[0].data.at("response").at("status") == "in_progress");
  CHECK(events[0].data.at("response").at("output") == json::array());
  const json::value& added = events[2].data.at("item");
  CHECK(added.at("type") == "message");
  const json::value item_id = added.at("id");
  CHECK(item_id.as_string().starts_with("msg_"));
  CHECK(events[4].data.at("item_id") == item_id);
  CHECK(events[4].data.at("output_index") == 0);
  CHECK(events[4].data.at("content_index") == 0);
  CHECK(events[4].data.at("delta") == "Hi");
  CHECK(events[6].data.at("text") == "Hi there");
  const json::value& done = events[8].data.at("item");
  CHECK(done.at("id") == item_id);
  CHECK(done.at("status") == "completed");
  CHECK(done.at("role") == "assistant");
  CHECK(done.at("content") ==
        parse(R"([{"type":"output_text","text":"Hi there","annotations":[]}])"));

  const json::value& response = events[9].data.at("response");
  CHECK(response.at("id") == "resp_gw1");
  CHECK(response.at("status") == "completed");
  CHECK(response.at("model") == "gpt-5-codex");
  CHECK(response.at("output") == json::array{done});
  check_usage(response.at("usage"), 37, 11, 5, 0);
}

TEST_CASE(
    "responses stream: a function call closes the message and is complete in output_item.done") {
  const Request request = codex_request();
  const auto events =
      events_of(run(request, {ev(StreamEvent::Kind::start), ev(StreamEvent::Kind::text, "Listing."),
                              call_start(0, "call_9", "shell", ""),
                              ev(StreamEvent::Kind::tool_call_delta, "{\"command\":", 0),
                              ev(StreamEvent::Kind::tool_call_delta, "[\"ls\"]}", 0),
                              finish_ev(FinishReason::tool_calls), usage_ev(100, 20, 0, 3)}));
  CHECK(types_of(events) ==
        std::vector<std::string>{
            "response.created", "response.in_progress", "response.output_item.added",
            "response.content_part.added", "response.output_text.delta",
            "response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.output_item.added", "response.function_call_arguments.delta",
            "response.function_call_arguments.delta", "response.function_call_arguments.done",
            "response.output_item.done", "response.completed"});
  const json::value& added = events[8].data.at("item");
  CHECK(events[8].data.at("output_index") == 1);
  CHECK(added.at("type") == "function_call");
  CHECK(added.at("call_id") == "call_9");
  CHECK(added.at("name") == "shell");
  CHECK(added.at("arguments") == "");
  CHECK(added.at("id").as_string().starts_with("fc_"));
  CHECK(events[9].data.at("item_id") == added.at("id"));
  CHECK(events[11].data.at("arguments") == R"({"command":["ls"]})");
  const json::value& done = events[12].data.at("item");
  CHECK(done.at("type") == "function_call");
  CHECK(done.at("id") == added.at("id"));
  CHECK(done.at("call_id") == "call_9");
  CHECK(done.at("name") == "shell");
  CHECK(done.at("arguments") == R"({"command":["ls"]})");
  CHECK(done.at("status") == "completed");
  const json::value& response = events[13].data.at("response");
  CHECK(response.at("output").as_array().size() == 2);
  CHECK(response.at("output").at(1) == done);
  check_usage(response.at("usage"), 100, 20, 0, 3);
}

TEST_CASE(
    "responses stream: a freeform tool call comes back as custom_tool_call with the raw input") {
  // Arguments arrive whole in the opening fragment, as Gemini sends them.
  const auto events = events_of(run(
      codex_request(),
      {call_start(0, "call_p", "apply_patch", R"({"input":"*** Begin Patch\n*** End Patch\n"})"),
       finish_ev(FinishReason::tool_calls)}));
  CHECK(types_of(events) == std::vector<std::string>{"response.created", "response.in_progress",
                                                     "response.output_item.added",
                                                     "response.custom_tool_call_input.done",
                                                     "response.output_item.done",
                                                     "response.completed"});
  const json::value& added = events[2].data.at("item");
  CHECK(added.at("type") == "custom_tool_call");
  CHECK(added.at("name") == "apply_patch");
  const json::value& done = events[4].data.at("item");
  CHECK(done.at("type") == "custom_tool_call");
  CHECK(done.at("call_id") == "call_p");
  CHECK(done.at("name") == "apply_patch");
  CHECK(done.at("input") == "*** Begin Patch\n*** End Patch\n");
  CHECK_FALSE(done.as_object().contains("arguments"));
  // No usage from the provider: null, never a partial object Codex cannot parse.
  CHECK(events[5].data.at("response").at("usage").is_null());
}

TEST_CASE("responses stream: thinking streams as a reasoning summary item; length is incomplete") {
  const auto events =
      events_of(run(codex_request(),
                    {ev(StreamEvent::Kind::thinking, "Plan."), ev(StreamEvent::Kind::text, "Done"),
                     finish_ev(FinishReason::length), usage_ev(1, 2, 0, 1)}));
  CHECK(types_of(events) ==
        std::vector<std::string>{
            "response.created", "response.in_progress", "response.output_item.added",
            "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
            "response.output_item.done", "response.output_item.added",
            "response.content_part.added", "response.output_text.delta",
            "response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.completed"});
  CHECK(events[4].data.at("summary_index") == 0);
  CHECK(events[7].data.at("item").at("summary") ==
        parse(R"([{"type":"summary_text","text":"Plan."}])"));
  const json::value& response = events.back().data.at("response");
  CHECK(response.at("status") == "incomplete");
  CHECK(response.at("incomplete_details") == parse(R"({"reason":"max_output_tokens"})"));
}

TEST_CASE("responses stream: fail() ends with response.failed carrying a code Codex understands") {
  auto failed_with = [](int status, std::string message) {
    auto encoder = make_responses_stream_encoder("resp_f", "m", 1, Request{});
    std::string out;
    encoder->encode(ev(StreamEvent::Kind::text, "partial"), out);
    switchyard::core::GatewayError error;
    error.status = status;
    error.message = std::move(message);
    encoder->fail(error, out);
    encoder->finish(out);  // nothing after a failure
    auto events = events_of(out);
    REQUIRE(events.back().type == "response.failed");
    return events.back().data.at("response");
  };
  const json::value limited = failed_with(429, "Rate limit reached. Please try again in 2s.");
  CHECK(limited.at("id") == "resp_f");
  CHECK(limited.at("status") == "failed");
  CHECK(
      limited.at("error") ==
      parse(
          R"({"code":"rate_limit_exceeded","message":"Rate limit reached. Please try again in 2s."})"));
  CHECK(failed_with(500, "boom").at("error").at("code") == "server_error");
  CHECK(failed_with(400, "prompt is too long: 250000 tokens > 200000 maximum")
            .at("error")
            .at("code") == "context_length_exceeded");
  CHECK(failed_with(429, "insufficient_quota: add credits").at("error").at("code") ==
        "insufficient_quota");
}

TEST_CASE("responses response: non-streamed answer with text, a call and a custom call") {
  Response r;
  r.id = "chatcmpl-up";
  r.model = "gpt-5-codex";
  r.created = 1741290958;
  Part text;
  text.text = "Patching.";
  r.content.push_back(text);
  Part call;
  call.kind = Part::Kind::tool_call;
  call.id = "call_1";
  call.name = "shell";
  call.arguments = R"({"command":["ls"]})";
  r.content.push_back(call);
  call.id = "call_2";
  call.name = "apply_patch";
  call.arguments = "not json";
  r.content.push_back(call);
  r.finish = FinishReason::tool_calls;
  r.usage = switchyard::core::Usage{10, 4, 2, 0, 1};

  const json::object body = parse(encode_responses_response(r, codex_request())).as_object();
  CHECK(body.at("id") == "resp_chatcmpl-up");
  CHECK(body.at("object") == "response");
  CHECK(body.at("created_at") == 1741290958);
  CHECK(body.at("status") == "completed");
  CHECK(body.at("error").is_null());
  CHECK(body.at("incomplete_details").is_null());
  CHECK(body.at("parallel_tool_calls") == false);
  const json::array& output = body.at("output").as_array();
  REQUIRE(output.size() == 3);
  CHECK(output[0].at("type") == "message");
  CHECK(output[0].at("content") ==
        parse(R"([{"type":"output_text","text":"Patching.","annotations":[]}])"));
  CHECK(output[1].at("type") == "function_call");
  CHECK(output[1].at("arguments") == R"({"command":["ls"]})");
  CHECK(output[1].at("call_id") == "call_1");
  CHECK(output[2].at("type") == "custom_tool_call");
  CHECK(output[2].at("input") ==
        "not json");  // arguments that were not {"input":...} pass as they are
  check_usage(body.at("usage"), 10, 4, 2, 1);

  r.finish = FinishReason::length;
  const json::object cut = parse(encode_responses_response(r, codex_request())).as_object();
  CHECK(cut.at("status") == "incomplete");
  CHECK(cut.at("incomplete_details").at("reason") == "max_output_tokens");
}

TEST_CASE("responses usage: read from a response object or a response.completed event") {
  const auto from_event = extract_responses_usage(
      R"({"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","usage":{"input_tokens":37,
          "input_tokens_details":{"cached_tokens":7},"output_tokens":11,"output_tokens_details":{"reasoning_tokens":3},
          "total_tokens":48}}})");
  REQUIRE(from_event);
  CHECK(from_event->prompt_tokens == 37);
  CHECK(from_event->cached_prompt_tokens == 7);
  CHECK(from_event->completion_tokens == 11);
  CHECK(from_event->reasoning_tokens == 3);
  const auto from_object = extract_responses_usage(
      R"({"id":"resp_1","object":"response","usage":{"input_tokens":5,"output_tokens":2,"total_tokens":7}})");
  REQUIRE(from_object);
  CHECK(from_object->prompt_tokens == 5);
  CHECK(from_object->completion_tokens == 2);
  CHECK_FALSE(extract_responses_usage(R"({"type":"response.output_text.delta","delta":"x"})"));
  CHECK_FALSE(extract_responses_usage(R"({"id":"r","usage":null})"));
  CHECK_FALSE(extract_responses_usage("[DONE]"));
}
