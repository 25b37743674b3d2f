// Gemini 3's thought signatures through clients of other protocols: a Chat, Messages or
// Responses client gets the signature inside the tool-call id, echoes it back with its history,
// and the next Gemini request carries it on the call it came with. History Gemini never signed
// gets Google's skip value, or Gemini 3 refuses the request.
#include <algorithm>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cctype>
#include <string>
#include <vector>

#include "adapters/anthropic.hpp"
#include "adapters/gemini.hpp"
#include "adapters/openai.hpp"
#include "adapters/responses.hpp"
#include "adapters/thought_signature.hpp"
#include "core/sse_decoder.hpp"
#include "tests/adapters/canonical_builders.hpp"

namespace json = boost::json;
using namespace switchyard;
using namespace switchyard::adapters;

namespace {

std::vector<StreamEvent> decode_gemini_stream(std::string_view sse) {
  auto decoder = make_gemini_stream_decoder();
  std::vector<StreamEvent> events;
  core::SseDecoder sse_decoder;
  sse_decoder.feed(sse, [&](const core::SseEvent& e) { decoder->on_event(e, events); });
  decoder->on_end(events);
  return events;
}

std::string encode_stream(StreamEncoder& encoder, const std::vector<StreamEvent>& events) {
  std::string out;
  for (const StreamEvent& e : events) encoder.encode(e, out);
  encoder.finish(out);
  return out;
}

std::vector<json::value> sse_data(std::string_view sse) {
  std::vector<json::value> out;
  core::SseDecoder decoder;
  decoder.feed(sse, [&](const core::SseEvent& e) {
    if (e.data != "[DONE]") out.push_back(json::parse(e.data));
  });
  return out;
}

// The parts of the model turns of a Gemini request body.
std::vector<json::array> model_turns(const std::string& gemini_body) {
  std::vector<json::array> out;
  const json::value body = json::parse(gemini_body);
  for (const json::value& c : body.at("contents").as_array()) {
    if (c.at("role") == "model") out.push_back(c.at("parts").as_array());
  }
  return out;
}

std::string signature_of(const json::value& part) {
  const json::value* s = part.as_object().if_contains("thoughtSignature");
  return s ? std::string(s->as_string()) : std::string();
}

// Anthropic's tool_use id pattern, ^[a-zA-Z0-9_-]+$ (no std::regex: GCC 12 warns inside it
// at -O1, which the sanitizer build treats as an error).
bool is_anthropic_id(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '_' || c == '-';
  });
}

}  // namespace

TEST_CASE("Thought signature: ids carry it and give it back", "[gemini][signature]") {
  // Gemini's signatures are base64 ('+', '/', '='); ids must hold none of those.
  const std::string signature = "CiQBjz1rX0ilumvPg6k0sMMUtISoQCLJv2bPJ7Vv9r+Xw0o=";
  const std::string id = id_with_thought_signature("call_abc", signature);
  CHECK(is_anthropic_id(id));
  CHECK(split_thought_signature(id).id == "call_abc");
  CHECK(split_thought_signature(id).signature == signature);
  CHECK(id_without_thought_signature(id) == "call_abc");
  CHECK(id_with_thought_signature("call_abc", "") == "call_abc");
  for (std::string_view plain : {"call_abc", "toolu_01A", "call__thought__", "x__thought__!!"}) {
    CHECK(split_thought_signature(plain).id == plain);
    CHECK(split_thought_signature(plain).signature.empty());
  }
  for (std::size_t n = 1; n < 9; ++n) {  // every length modulo 3
    const std::string text = std::string("\x00\x7f+/=ab-", n);
    CHECK(split_thought_signature(id_with_thought_signature("c", text)).signature == text);
  }
  CHECK(split_thought_signature(id_with_thought_signature("c", "\xc3\xa9\xe2\x82\xac")).signature ==
        "\xc3\xa9\xe2\x82\xac");
  SECTION("an id whose signature decodes to bytes that are not UTF-8 is kept whole") {
    // A client can forge the part after the marker; copied into a Gemini request, such bytes
    // would make it invalid JSON.
    for (std::string_view bytes : {"\xff", "ok\xc3", "\xed\xa0\x80"}) {
      const std::string forged = id_with_thought_signature("call_1", bytes);
      CHECK(split_thought_signature(forged).id == forged);
      CHECK(split_thought_signature(forged).signature.empty());
    }
  }
}

TEST_CASE("Thought signature: a Gemini answer through a Chat client and back",
          "[gemini][signature]") {
  auto decoded =
      decode_gemini_response(test::fixture("adapters/gemini/response_function_call.json"));
  REQUIRE(decoded.ok());
  const json::value answer = json::parse(encode_chat_response(decoded.value()));
  const json::value& message = answer.at("choices").at(0).at("message");
  const json::array& calls = message.at("tool_calls").as_array();
  REQUIRE(calls.size() == 2);

  // The client's next request: its history as it received it, and the tools' results.
  json::object next{{"model", "gemini-3-pro"}};
  json::array messages{json::object{{"role", "user"}, {"content", "Weather and time?"}}, message};
  messages.push_back(
      json::object{{"role", "tool"}, {"tool_call_id", calls[0].at("id")}, {"content", "15C"}});
  messages.push_back(
      json::object{{"role", "tool"}, {"tool_call_id", calls[1].at("id")}, {"content", "noon"}});
  next["messages"] = std::move(messages);
  auto request = decode_chat_request(json::serialize(next));
  REQUIRE(request.ok());
  const std::string body = encode_gemini_request(request.value());

  const std::vector<json::array> turns = model_turns(body);
  REQUIRE(turns.size() == 1);
  const json::array& parts = turns[0];
  REQUIRE(parts.size() == 3);  // the text and two parallel calls
  CHECK(signature_of(parts[0]).empty());
  CHECK(parts[1].at("functionCall").at("name") == "get_weather");
  CHECK(signature_of(parts[1]) == "CiQB");
  // Only the first of parallel calls is signed, and the second needs nothing.
  CHECK(parts[2].at("functionCall").at("name") == "get_time");
  CHECK(signature_of(parts[2]).empty());
  const json::value parsed = json::parse(body);
  const json::array& results = parsed.at("contents").at(2).at("parts").as_array();
  CHECK(results.at(0).at("functionResponse").at("name") == "get_weather");
  CHECK(results.at(1).at("functionResponse").at("name") == "get_time");
}

TEST_CASE("Thought signature: a Gemini stream through Chat, Messages and Responses clients",
          "[gemini][signature]") {
  const std::vector<StreamEvent> events =
      decode_gemini_stream(test::fixture("adapters/gemini/stream_tool_call_then_stop.sse"));
  bool saw_call = false;
  for (const StreamEvent& e : events) {
    if (e.kind != StreamEvent::Kind::tool_call_start) continue;
    saw_call = true;
    CHECK(e.signature == "AY89a18i");
    CHECK(split_thought_signature(e.id).signature == "AY89a18i");
  }
  REQUIRE(saw_call);

  std::string history_body;
  SECTION("Chat") {
    auto encoder = make_chat_stream_encoder("chatcmpl-1", "gemini-3", 0, false);
    std::string id;
    for (const json::value& chunk : sse_data(encode_stream(*encoder, events))) {
      const json::value* choices = chunk.as_object().if_contains("choices");
      if (!choices || choices->as_array().empty()) continue;
      const json::value* delta = choices->as_array()[0].as_object().if_contains("delta");
      if (!delta) continue;
      if (const json::value* calls = delta->as_object().if_contains("tool_calls")) {
        if (const json::value* v = calls->as_array()[0].as_object().if_contains("id"))
          id = std::string(v->as_string());
      }
    }
    REQUIRE_FALSE(id.empty());
    json::object call{{"id", id},
                      {"type", "function"},
                      {"function", json::object{{"name", "get_weather"},
                                                {"arguments", R"({"location":"Paris"})"}}}};
    json::object next{{"model", "gemini-3"}};
    next["messages"] = json::array{
        json::object{{"role", "user"}, {"content", "Weather?"}},
        json::object{
            {"role", "assistant"}, {"content", "Let me check."}, {"tool_calls", json::array{call}}},
        json::object{{"role", "tool"}, {"tool_call_id", id}, {"content", "15C"}}};
    auto request = decode_chat_request(json::serialize(next));
    REQUIRE(request.ok());
    history_body = encode_gemini_request(request.value());
  }
  SECTION("Messages") {
    auto encoder = make_messages_stream_encoder("msg_1", "gemini-3", 0);
    std::string id;
    for (const json::value& e : sse_data(encode_stream(*encoder, events))) {
      if (e.at("type") == "content_block_start" && e.at("content_block").at("type") == "tool_use")
        id = std::string(e.at("content_block").at("id").as_string());
    }
    REQUIRE_FALSE(id.empty());
    CHECK(is_anthropic_id(id));  // Anthropic's clients validate the id
    json::object next{{"model", "gemini-3"}, {"max_tokens", 1024}};
    next["messages"] = json::array{
        json::object{{"role", "user"}, {"content", "Weather?"}},
        json::object{
            {"role", "assistant"},
            {"content", json::array{json::object{{"type", "text"}, {"text", "Let me check."}},
                                    json::object{{"type", "tool_use"},
                                                 {"id", id},
                                                 {"name", "get_weather"},
                                                 {"input", json::object{{"location", "Paris"}}}}}}},
        json::object{
            {"role", "user"},
            {"content", json::array{json::object{
                            {"type", "tool_result"}, {"tool_use_id", id}, {"content", "15C"}}}}}};
    auto request = decode_messages_request(json::serialize(next));
    REQUIRE(request.ok());
    history_body = encode_gemini_request(request.value());
  }
  SECTION("Responses") {
    const std::string first =
        R"({"model":"gemini-3","input":"Weather?","stream":true,"tools":[{"type":"function",
            "name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}]})";
    auto first_request = decode_responses_request(first);
    REQUIRE(first_request.ok());
    auto encoder = make_responses_stream_encoder("resp_1", "gemini-3", 0, first_request.value());
    std::string call_id;
    for (const json::value& e : sse_data(encode_stream(*encoder, events))) {
      if (e.at("type") == "response.output_item.done" && e.at("item").at("type") == "function_call")
        call_id = std::string(e.at("item").at("call_id").as_string());
    }
    REQUIRE_FALSE(call_id.empty());
    json::object next{{"model", "gemini-3"}};
    next["input"] = json::array{
        json::object{{"type", "message"}, {"role", "user"}, {"content", "Weather?"}},
        json::object{{"type", "function_call"},
                     {"call_id", call_id},
                     {"name", "get_weather"},
                     {"arguments", R"({"location":"Paris"})"}},
        json::object{{"type", "function_call_output"}, {"call_id", call_id}, {"output", "15C"}}};
    auto request = decode_responses_request(json::serialize(next));
    REQUIRE(request.ok());
    history_body = encode_gemini_request(request.value());
  }

  const std::vector<json::array> turns = model_turns(history_body);
  REQUIRE(turns.size() == 1);
  bool found = false;
  for (const json::value& part : turns[0]) {
    if (!part.as_object().contains("functionCall")) continue;
    found = true;
    CHECK(signature_of(part) == "AY89a18i");
  }
  CHECK(found);
}

TEST_CASE("Thought signature: history Gemini never signed gets the skip value",
          "[gemini][signature]") {
  // A conversation begun on Claude: two parallel calls, their results, then one more step.
  const std::string body = R"({"model":"gemini-3","max_tokens":1024,"messages":[
    {"role":"user","content":"Read a and b, then c."},
    {"role":"assistant","content":[
      {"type":"tool_use","id":"toolu_01","name":"read","input":{"path":"a"}},
      {"type":"tool_use","id":"toolu_02","name":"read","input":{"path":"b"}}]},
    {"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_01","content":"A"},
      {"type":"tool_result","tool_use_id":"toolu_02","content":"B"}]},
    {"role":"assistant","content":[{"type":"text","text":"Now c."},
      {"type":"tool_use","id":"toolu_03","name":"read","input":{"path":"c"}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_03","content":"C"}]},
    {"role":"assistant","content":"All read."},
    {"role":"user","content":"Thanks"}]})";
  auto request = decode_messages_request(body);
  REQUIRE(request.ok());
  const std::vector<json::array> turns = model_turns(encode_gemini_request(request.value()));
  REQUIRE(turns.size() == 3);
  CHECK(signature_of(turns[0][0]) == kSkipThoughtSignature);
  CHECK(signature_of(turns[0][1]).empty());  // a parallel call after the first
  CHECK(signature_of(turns[1][0]).empty());  // text needs none
  CHECK(signature_of(turns[1][1]) == kSkipThoughtSignature);
  CHECK(signature_of(turns[2][0]).empty());

  // A signed step keeps its own signature; only the unsigned one is given the skip value.
  Request mixed;
  mixed.messages.push_back({Message::Role::user, {test::text_part("go")}});
  mixed.messages.push_back(
      {Message::Role::assistant,
       {test::tool_call(id_with_thought_signature("call_1", "SIG1"), "f", "{}")}});
  mixed.messages.push_back(test::tool_message(id_with_thought_signature("call_1", "SIG1"), "ok"));
  mixed.messages.push_back({Message::Role::assistant, {test::tool_call("call_2", "f", "{}")}});
  mixed.messages.push_back(test::tool_message("call_2", "ok"));
  const std::vector<json::array> mixed_turns = model_turns(encode_gemini_request(mixed));
  REQUIRE(mixed_turns.size() == 2);
  CHECK(signature_of(mixed_turns[0][0]) == "SIG1");
  CHECK(signature_of(mixed_turns[1][0]) == kSkipThoughtSignature);
}

TEST_CASE("Thought signature: history moving on to an OpenAI model sends the plain ids",
          "[gemini][signature]") {
  // OpenAI refuses tool-call ids over 40 characters; a signature is for Gemini only.
  const std::string signed_id = id_with_thought_signature("call_1", std::string(300, 'S'));
  Request r;
  r.messages.push_back({Message::Role::user, {test::text_part("go")}});
  r.messages.push_back({Message::Role::assistant, {test::tool_call(signed_id, "f", "{}")}});
  r.messages.push_back(test::tool_message(signed_id, "ok"));
  const json::value body = json::parse(encode_chat_request(r, "gpt-4o"));
  const json::array& messages = body.at("messages").as_array();
  CHECK(messages.at(1).at("tool_calls").at(0).at("id") == "call_1");
  CHECK(messages.at(2).at("tool_call_id") == "call_1");
}
