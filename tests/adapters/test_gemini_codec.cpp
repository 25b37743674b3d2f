#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "adapters/gemini.hpp"
#include "core/sse_decoder.hpp"
#include "tests/adapters/canonical_builders.hpp"

namespace json = boost::json;
using namespace switchyard;
using namespace switchyard::adapters;
using namespace switchyard::adapters::test;

namespace {

std::string read_fixture(const std::string& name) {
  return test::fixture("adapters/gemini/" + name);
}

std::vector<StreamEvent> decode_stream(std::string_view sse, bool end = true) {
  auto decoder = make_gemini_stream_decoder();
  std::vector<StreamEvent> events;
  core::SseDecoder sse_decoder;
  sse_decoder.feed(sse, [&](const core::SseEvent& e) { decoder->on_event(e, events); });
  if (end) decoder->on_end(events);
  return events;
}

std::vector<StreamEvent> of_kind(const std::vector<StreamEvent>& events, StreamEvent::Kind kind) {
  std::vector<StreamEvent> out;
  for (const StreamEvent& e : events) {
    if (e.kind == kind) out.push_back(e);
  }
  return out;
}

}  // namespace

TEST_CASE("Gemini request: system, N:N function responses named from ids, schema cleanup, config",
          "[gemini][request]") {
  Request r;
  r.model = "gpt-4o";
  r.messages.push_back({Message::Role::system, {text_part("You are concise.")}});
  r.messages.push_back(
      {Message::Role::user,
       {text_part("Weather in Paris and Rome?"), image_part("", "image/png", "iVBOR"),
        image_part("https://example.com/cat.webp?size=2", "", "")}});
  r.messages.push_back(
      {Message::Role::assistant,
       {text_part("Checking."), tool_call("call_1", "get_weather", R"({"location":"Paris"})"),
        tool_call("call_2", "get_weather", R"({"location":"Rome"})"),
        tool_call("call_3", "get_time", "")}});
  r.messages.push_back(tool_message("call_1", "15C"));
  r.messages.push_back(tool_message("call_2", "18C"));
  r.messages.push_back(tool_message("call_3", "clock broken", true));
  r.messages.push_back({Message::Role::user, {text_part("Thanks")}});
  r.tools.push_back(Tool{"get_weather", "Current weather", R"({
      "$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
      "properties":{
        "location":{"type":"string"},
        "opts":{"type":"object","additionalProperties":{"type":"string"},
                "properties":{"additionalProperties":{"type":"boolean"}}},
        "days":{"type":"array","items":{"type":"object","additionalProperties":false,
                "properties":{"d":{"type":"integer"}}}}},
      "required":["location"]})",
                         false});
  r.tools.push_back(Tool{"get_time", "", R"({"type":"object","properties":{}})", false});
  r.tools.push_back(Tool{"apply_patch", "Apply a patch", "", true});
  r.tool_choice = {ToolChoice::Mode::named, "get_weather"};
  r.max_tokens = 1024;
  r.temperature = 0.7;
  r.top_p = 0.95;
  r.top_k = 40;
  r.stop = {"END"};
  r.thinking_budget = 2048;

  const json::value encoded = json::parse(encode_gemini_request(r));
  const json::value expected = json::parse(read_fixture("request_expected.json"));
  CHECK(encoded.at("systemInstruction") == expected.at("systemInstruction"));
  CHECK(encoded.at("contents") == expected.at("contents"));
  CHECK(encoded.at("tools") == expected.at("tools"));
  CHECK(encoded.at("toolConfig") == expected.at("toolConfig"));
  CHECK(encoded.at("generationConfig") == expected.at("generationConfig"));
  CHECK(encoded == expected);

  // As many function responses as calls in the turn before.
  const json::array& contents = encoded.at("contents").as_array();
  std::size_t calls = 0;
  std::size_t responses = 0;
  for (const json::value& part : contents[1].at("parts").as_array())
    calls += part.as_object().contains("functionCall");
  for (const json::value& part : contents[2].at("parts").as_array())
    responses += part.as_object().contains("functionResponse");
  CHECK(calls == 3);
  CHECK(responses == calls);
}

TEST_CASE("Gemini request: tool choice modes and a bare conversation", "[gemini][request]") {
  Request r;
  r.messages.push_back({Message::Role::user, {text_part("hi")}});
  json::value plain = json::parse(encode_gemini_request(r));
  CHECK(plain == json::parse(R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})"));

  r.tools.push_back(
      Tool{"f", "", R"({"type":"object","properties":{"a":{"type":"string"}}})", false});
  const auto mode_of = [&](ToolChoice::Mode mode) {
    r.tool_choice = {mode, ""};
    return json::parse(encode_gemini_request(r));
  };
  CHECK(mode_of(ToolChoice::Mode::automatic).at("toolConfig").at("functionCallingConfig") ==
        json::object{{"mode", "AUTO"}});
  CHECK(mode_of(ToolChoice::Mode::none).at("toolConfig").at("functionCallingConfig") ==
        json::object{{"mode", "NONE"}});
  CHECK(mode_of(ToolChoice::Mode::required).at("toolConfig").at("functionCallingConfig") ==
        json::object{{"mode", "ANY"}});
  CHECK_FALSE(mode_of(ToolChoice::Mode::unset).as_object().contains("toolConfig"));
}

TEST_CASE("Gemini request paths", "[gemini][request]") {
  CHECK(gemini_request_path("gemini-2.5-flash", false) ==
        "/models/gemini-2.5-flash:generateContent");
  CHECK(gemini_request_path("gemini-2.5-flash", true) ==
        "/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
  CHECK(gemini_request_path("models/gemini-2.5-pro", false) ==
        "/models/gemini-2.5-pro:generateContent");
}

TEST_CASE("Gemini response with thoughts, text and function calls", "[gemini][response]") {
  auto decoded = decode_gemini_response(read_fixture("response_function_call.json"));
  REQUIRE(decoded.ok());
  const Response& r = decoded.value();
  CHECK(r.id == "mK3xZ-abc123");
  CHECK(r.model == "gemini-2.5-pro");
  CHECK(r.finish == FinishReason::tool_calls);  // Gemini says STOP
  REQUIRE(r.content.size() == 4);
  CHECK(r.content[0].kind == Part::Kind::thinking);
  CHECK(r.content[0].text == "Which tools do I need?");
  CHECK(r.content[1].kind == Part::Kind::text);
  CHECK(r.content[1].text == "I'll look that up.");
  CHECK(r.content[2].kind == Part::Kind::tool_call);
  CHECK(r.content[2].name == "get_weather");
  CHECK(json::parse(r.content[2].arguments) ==
        json::parse(R"({"location":"Paris","unit":"celsius"})"));
  CHECK(r.content[3].arguments == "{}");
  CHECK(r.content[2].id.starts_with("call_"));
  CHECK(r.content[2].id != r.content[3].id);
  REQUIRE(r.usage);
  CHECK(r.usage->prompt_tokens == 204);
  CHECK(r.usage->completion_tokens == 50);
  CHECK(r.usage->reasoning_tokens == 30);
  CHECK(r.usage->cached_prompt_tokens == 150);

  // The call decoded from a response goes back with its thought signature.
  Request next;
  next.messages.push_back({Message::Role::assistant, {r.content[2]}});
  next.messages.push_back(tool_message(r.content[2].id, "15C"));
  const json::value encoded = json::parse(encode_gemini_request(next));
  CHECK(encoded.at("contents").at(0).at("parts").at(0).at("thoughtSignature") == "CiQB");
  CHECK(encoded.at("contents").at(1).at("parts").at(0).at("functionResponse").at("name") ==
        "get_weather");
}

TEST_CASE("Gemini finish reasons", "[gemini][response]") {
  const auto finish_of = [](std::string_view reason) {
    const std::string body =
        R"({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":")" +
        std::string(reason) + "\"}]}";
    return decode_gemini_response(body).value().finish;
  };
  CHECK(finish_of("STOP") == FinishReason::stop);
  CHECK(finish_of("MAX_TOKENS") == FinishReason::length);
  CHECK(finish_of("SAFETY") == FinishReason::content_filter);
  CHECK(finish_of("RECITATION") == FinishReason::content_filter);
  CHECK(finish_of("PROHIBITED_CONTENT") == FinishReason::content_filter);
  CHECK(finish_of("OTHER") == FinishReason::stop);
}

TEST_CASE("Gemini errors", "[gemini][error]") {
  const core::GatewayError invalid = decode_gemini_error(
      400, R"({"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}})");
  CHECK(invalid.status == 400);
  CHECK(invalid.message == "API key not valid.");
  CHECK(invalid.code == "INVALID_ARGUMENT");
  CHECK(invalid.type == "invalid_request_error");
  CHECK(invalid.source == core::ErrorSource::upstream);

  const core::GatewayError exhausted = decode_gemini_error(
      429,
      R"([{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}])");
  CHECK(exhausted.code == "RESOURCE_EXHAUSTED");
  CHECK(exhausted.type == "rate_limit_error");

  const core::GatewayError page = decode_gemini_error(503, "<html>Service Unavailable</html>");
  CHECK(page.status == 503);
  CHECK(page.message.find("Service Unavailable") != std::string::npos);
}

TEST_CASE(
    "Gemini stream: a function call chunk then a separate STOP chunk finishes with tool_calls",
    "[gemini][stream]") {
  const std::vector<StreamEvent> events =
      decode_stream(read_fixture("stream_tool_call_then_stop.sse"));
  REQUIRE(events.size() == 7);
  CHECK(events[0].kind == StreamEvent::Kind::start);
  CHECK(events[0].id == "tTCwacuEBMvnitYP06qsgQY");
  CHECK(events[0].model == "gemini-3.1-flash-lite-preview");
  CHECK(events[1].kind == StreamEvent::Kind::text);
  CHECK(events[1].text == "Let me check.");
  CHECK(events[2].kind == StreamEvent::Kind::thinking);
  CHECK(events[2].text == "The user wants Paris.");

  CHECK(events[3].kind == StreamEvent::Kind::tool_call_start);
  CHECK(events[3].index == 0);
  CHECK(events[3].name == "get_weather");
  CHECK(events[3].id.starts_with("call_"));
  CHECK(json::parse(events[3].text) == json::parse(R"({"location":"Paris","unit":"celsius"})"));

  CHECK(events[4].kind == StreamEvent::Kind::usage);  // partial usage with the call
  CHECK(events[4].usage.completion_tokens == 10);

  CHECK(events[5].kind == StreamEvent::Kind::finish);
  CHECK(events[5].finish == FinishReason::tool_calls);

  // The last usage wins and is complete.
  CHECK(events[6].kind == StreamEvent::Kind::usage);
  CHECK(events[6].usage.prompt_tokens == 125);
  CHECK(events[6].usage.completion_tokens == 42);
  CHECK(events[6].usage.reasoning_tokens == 12);
  CHECK(events[6].usage.cached_prompt_tokens == 100);
}

TEST_CASE(
    "Gemini stream: a body that ends before a finishReason ends with upstream_stream_truncated",
    "[gemini][stream]") {
  // Gemini's stream has no end event: the body ending is all there is, and without a
  // finishReason it was cut.
  const std::string text_only =
      "data: "
      "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]}}],"
      "\"responseId\":\"r1\"}\n\n"
      "data: "
      "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]}}],"
      "\"responseId\":\"r1\"}\n\n";
  std::vector<StreamEvent> events = decode_stream(text_only);
  REQUIRE(events.size() == 4);
  CHECK(of_kind(events, StreamEvent::Kind::start).size() == 1);
  CHECK(of_kind(events, StreamEvent::Kind::finish).empty());
  check_stream_truncated(events);

  // Cut off after a call: not a tool call turn, a cut one.
  const std::string call_only =
      "data: "
      "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{}}}]}}"
      "]}\n\n";
  events = decode_stream(call_only);
  CHECK(of_kind(events, StreamEvent::Kind::finish).empty());
  CHECK(of_kind(events, StreamEvent::Kind::tool_call_start)[0].text == "{}");
  check_stream_truncated(events);
  check_stream_truncated(decode_stream(""));

  // A finish already seen: on_end adds nothing, whatever follows it.
  const std::string finished =
      "data: "
      "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"cut\"}]},\"finishReason\":\"MAX_"
      "TOKENS\"}]}\n\n"
      "data: {\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":1}}\n\n";
  events = decode_stream(finished);
  const std::vector<StreamEvent> finishes = of_kind(events, StreamEvent::Kind::finish);
  REQUIRE(finishes.size() == 1);
  CHECK(finishes[0].finish == FinishReason::length);
  CHECK(of_kind(events, StreamEvent::Kind::error).empty());

  // A blocked prompt has no candidates: its feedback is the last word.
  events = decode_stream(
      "data: "
      "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":3}}"
      "\n\n");
  REQUIRE(of_kind(events, StreamEvent::Kind::finish).size() == 1);
  CHECK(of_kind(events, StreamEvent::Kind::finish)[0].finish == FinishReason::content_filter);
  CHECK(of_kind(events, StreamEvent::Kind::error).empty());

  // The provider's own error stays the only error.
  events = decode_stream(
      text_only +
      "data: {\"error\":{\"code\":503,\"message\":\"Overloaded\",\"status\":\"UNAVAILABLE\"}}\n\n");
  REQUIRE(of_kind(events, StreamEvent::Kind::error).size() == 1);
  CHECK(events.back().error.code == "UNAVAILABLE");
}

TEST_CASE("Gemini stream: an in-band error becomes an error event", "[gemini][stream]") {
  const std::vector<StreamEvent> events = decode_stream(
      "data: {\"error\":{\"code\":503,\"message\":\"The model is "
      "overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\n",
      false);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == StreamEvent::Kind::error);
  CHECK(events[0].error.status == 503);
  CHECK(events[0].error.code == "UNAVAILABLE");
  CHECK(events[0].error.message == "The model is overloaded.");
}

TEST_CASE("Gemini stream: an in-band error code that is no HTTP status reads as 500",
          "[gemini][stream]") {
  // 4294967696 is 2^32 + 400: narrowed before its range was checked, it read as a 400.
  for (const char* code : {"4294967696", "-1", "200", "1e40", "\"429\"", "429.5"}) {
    INFO(code);
    const std::vector<StreamEvent> events = decode_stream(
        std::string("data: {\"error\":{\"code\":") + code + ",\"message\":\"no\"}}\n\n", false);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == StreamEvent::Kind::error);
    CHECK(events[0].error.status == (std::string_view(code) == "429.5" ? 429 : 500));
  }
}

TEST_CASE(
    "Gemini response: a field of the wrong JSON type is refused, but null and unknown fields are "
    "not",
    "[gemini][response]") {
  const std::vector<std::pair<std::string, std::string>> wrong{
      {R"({"candidates":[{"content":{"parts":"hello","role":"model"},"finishReason":"STOP"}]})",
       "candidates[0].content.parts"},
      {R"({"candidates":{"content":{"parts":[{"text":"hello"}]}}})", "candidates"},
      {R"({"candidates":["hello"]})", "candidates[0]"},
      {R"({"candidates":[{"content":"hello"}]})", "candidates[0].content"},
      {R"({"candidates":[{"content":{"parts":["hello"]}}]})", "candidates[0].content.parts[0]"},
      {R"({"candidates":[{"content":{"parts":[{"text":"a"},{"text":5}]}}]})",
       "candidates[0].content.parts[1].text"},
      {R"({"candidates":[{"content":{"parts":[{"text":"a","thought":"yes"}]}}]})",
       "candidates[0].content.parts[0].thought"},
      {R"({"candidates":[{"content":{"parts":[{"functionCall":"f"}]}}]})",
       "candidates[0].content.parts[0].functionCall"},
      {R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":"{}"}}]}}]})",
       "candidates[0].content.parts[0].functionCall.args"},
      {R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":1,"args":{}}}]}}]})",
       "candidates[0].content.parts[0].functionCall.name"},
      {R"({"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":1}]})",
       "candidates[0].finishReason"},
      {R"({"candidates":[{"content":{"parts":[{"text":"a"}]}}],"modelVersion":2.5})",
       "modelVersion"},
      {R"({"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":"12"}})",
       "usageMetadata.promptTokenCount"},
      {R"({"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":"12"})",
       "usageMetadata"},
      {R"({"promptFeedback":{"blockReason":["SAFETY"]}})", "promptFeedback.blockReason"},
  };
  for (const auto& [body, field] : wrong) {
    INFO(body);
    check_answer_refused(decode_gemini_response(body), field);
  }
  const auto root = decode_gemini_response(R"("hello")");
  REQUIRE_FALSE(root.ok());
  CHECK(root.error().code == "bad_upstream_response");

  // Fields the gateway does not know, and null.
  const auto fine = decode_gemini_response(
      R"({"candidates":[{"content":{"parts":[{"text":"Hi","thoughtSignature":"x"},
      {"executableCode":{"code":"1"}}],"role":"model"},"finishReason":"STOP","index":0,"avgLogprobs":-0.5,
      "safetyRatings":[],"citationMetadata":null}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,
      "totalTokenCount":5,"promptTokensDetails":[{"modality":"TEXT","tokenCount":3}],"thoughtsTokenCount":null},
      "modelVersion":"gemini-2.5-flash","responseId":"r"})");
  REQUIRE(fine.ok());
  REQUIRE(fine->content.size() == 1);
  CHECK(fine->content[0].text == "Hi");
  CHECK(fine->usage->prompt_tokens == 3);
}

TEST_CASE(
    "Gemini stream: a chunk with a field of the wrong JSON type ends the stream with "
    "bad_upstream_response",
    "[gemini][stream]") {
  const std::string first =
      "data: "
      "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]}}],"
      "\"responseId\":\"r1\",\"modelVersion\":\"g\"}\n\n";
  const std::string later =
      "data: "
      "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"!\"}]},"
      "\"finishReason\":\"STOP\"}],\"responseId\":\"r1\"}\n\n";
  const std::vector<std::pair<std::string, std::string>> wrong{
      {R"({"candidates":[{"content":{"parts":"hello"}}]})", "candidates[0].content.parts"},
      {R"({"candidates":{"content":{"parts":[{"text":"x"}]}}})", "candidates"},
      {R"({"candidates":[{"content":{"parts":[{"text":"x"},{"text":["y"]}]}}]})",
       "candidates[0].content.parts[1].text"},
      {R"({"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":[]}}]}}]})",
       "candidates[0].content.parts[0].functionCall.args"},
      {R"({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":true}]})",
       "candidates[0].finishReason"},
      {R"({"candidates":[{"content":{"parts":[{"text":"x"}]}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":"1"}})",
       "usageMetadata.candidatesTokenCount"},
  };
  for (const auto& [chunk, field] : wrong) {
    INFO(chunk);
    const auto events = decode_stream(first + "data: " + chunk + "\n\n" + later);
    // What came before stays; nothing of the wrong chunk or after it does.
    REQUIRE(events.size() == 3);
    CHECK(events[1].text == "Hi");
    check_stream_refused(events, field);
  }
  const auto root = decode_stream(first + "data: [1]\n\n" + later);
  REQUIRE(root.size() == 3);
  CHECK(root[2].error.code == "bad_upstream_response");

  // The first chunk's id and model start the answer.
  const auto id = decode_stream(
      "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}}],\"responseId\":7}\n\n" +
      later);
  REQUIRE(id.size() == 1);
  check_stream_refused(id, "responseId");
}
