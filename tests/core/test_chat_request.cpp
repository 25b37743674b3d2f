#include <simdjson.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/chat_request.hpp"

using switchyard::core::append_json_string;
using switchyard::core::BodyShape;
using switchyard::core::ChatRequest;
using switchyard::core::parse_chat_request;
using switchyard::core::RequestError;
using switchyard::core::Span;
using switchyard::core::splice_chat_request;

namespace {

constexpr std::size_t kPadding = simdjson::SIMDJSON_PADDING;

// A body with the readable padding the parser is promised, like the proxy's read buffer.
class Body {
 public:
  explicit Body(std::string_view json) : storage_(json), size_(json.size()) {
    storage_.append(kPadding, '\0');
  }
  std::string_view view() const { return {storage_.data(), size_}; }

 private:
  std::string storage_;
  std::size_t size_;
};

ChatRequest parse_ok(std::string_view json, BodyShape shape = BodyShape::openai_chat) {
  const Body body(json);
  auto result = parse_chat_request(body.view(), kPadding, shape);
  INFO("body: " << json);
  if (!result.ok()) FAIL("unexpected error: " << result.error().message);
  return result.value();
}

RequestError parse_error(std::string_view json) {
  const Body body(json);
  auto result = parse_chat_request(body.view(), kPadding);
  INFO("body: " << json);
  REQUIRE_FALSE(result.ok());
  return result.error();
}

std::string_view at(std::string_view body, Span span) {
  return body.substr(span.offset, span.length);
}

boost::json::value json(std::string_view text) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  INFO("json: " << text);
  REQUIRE_FALSE(ec);
  return value;
}

// What the spliced body must mean: the original document with the model replaced and, when
// forced, stream_options.include_usage set.
boost::json::value expected_after_splice(std::string_view body, std::string_view model,
                                         bool force) {
  auto value = json(body);
  auto& root = value.as_object();
  root["model"] = model;
  if (force) {
    auto* options = root.if_contains("stream_options");
    if (!options || !options->is_object()) root["stream_options"] = boost::json::object();
    root["stream_options"].as_object()["include_usage"] = true;
  }
  return value;
}

std::string splice(std::string_view body, std::string_view model, bool force) {
  const ChatRequest request = parse_ok(body);
  return splice_chat_request(body, request, model, force);
}

constexpr std::string_view kMinimal =
    R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";

}  // namespace

TEST_CASE("parse_chat_request extracts the fields the gateway routes on", "[chat_request]") {
  const std::string_view body =
      R"({"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},)"
      R"({"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true,)"
      R"("stream_options":{"include_usage":true},"max_completion_tokens":100,"max_tokens":50,)"
      R"("temperature":0.2,"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]})";
  const ChatRequest r = parse_ok(body);
  CHECK(r.model == "gpt-4o");
  CHECK(r.stream);
  CHECK(r.include_usage);
  REQUIRE(r.max_tokens);
  CHECK(*r.max_tokens == 100);
  CHECK(r.message_count == 2);
  CHECK(at(body, r.model_value) == "\"gpt-4o\"");
  REQUIRE(r.include_usage_value);
  CHECK(at(body, *r.include_usage_value) == "true");
  REQUIRE(r.stream_options_open);
  CHECK(body.substr(*r.stream_options_open - 1, 2) == "{\"");
  CHECK_FALSE(r.stream_options_null);
  CHECK(r.root_close == body.size() - 1);
}

TEST_CASE("defaults when optional fields are absent or null", "[chat_request]") {
  const ChatRequest minimal = parse_ok(kMinimal);
  CHECK_FALSE(minimal.stream);
  CHECK_FALSE(minimal.include_usage);
  CHECK_FALSE(minimal.max_tokens);
  CHECK_FALSE(minimal.include_usage_value);
  CHECK_FALSE(minimal.stream_options_open);
  CHECK(minimal.message_count == 1);

  const ChatRequest nulls =
      parse_ok(R"({"model":"m","messages":[{}],"stream":null,"stream_options":null,)"
               R"("max_completion_tokens":null,"max_tokens":null})");
  CHECK_FALSE(nulls.stream);
  CHECK_FALSE(nulls.max_tokens);
  CHECK_FALSE(nulls.stream_options_open);
  REQUIRE(nulls.stream_options_null);
}

TEST_CASE("max_tokens is used when max_completion_tokens is absent or null", "[chat_request]") {
  CHECK(parse_ok(R"({"model":"m","messages":[{}],"max_tokens":7})").max_tokens == 7);
  CHECK(parse_ok(R"({"model":"m","messages":[{}],"max_completion_tokens":null,"max_tokens":7})")
            .max_tokens == 7);
  CHECK(parse_ok(R"({"max_tokens":7,"model":"m","messages":[{}],"max_completion_tokens":9})")
            .max_tokens == 9);
}

TEST_CASE("include_usage false, null and absent are all read as not requested", "[chat_request]") {
  const std::string_view with_false =
      R"({"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":false}})";
  const ChatRequest f = parse_ok(with_false);
  CHECK_FALSE(f.include_usage);
  REQUIRE(f.include_usage_value);
  CHECK(at(with_false, *f.include_usage_value) == "false");

  const std::string_view with_null =
      R"({"model":"m","messages":[{}],"stream_options":{"include_usage":null}})";
  const ChatRequest n = parse_ok(with_null);
  CHECK_FALSE(n.include_usage);
  REQUIRE(n.include_usage_value);
  CHECK(at(with_null, *n.include_usage_value) == "null");

  const ChatRequest other =
      parse_ok(R"({"model":"m","messages":[{}],"stream_options":{"include_obfuscation":false}})");
  CHECK_FALSE(other.include_usage);
  CHECK_FALSE(other.include_usage_value);
  CHECK(other.stream_options_open);
}

TEST_CASE("spans are exact when tokens are separated by whitespace and newlines",
          "[chat_request]") {
  const std::string_view body =
      "\r\n  {\n\t\"model\" :\n  \"gpt-4o-mini\"  \r\n,\n \"stream\"\t:\ttrue ,"
      " \"stream_options\" : {  \"include_usage\"  :  false  } ,"
      " \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"x\" } ]\n}\n\t ";
  const ChatRequest r = parse_ok(body);
  CHECK(r.model == "gpt-4o-mini");
  CHECK(at(body, r.model_value) == "\"gpt-4o-mini\"");
  REQUIRE(r.include_usage_value);
  CHECK(at(body, *r.include_usage_value) == "false");
  REQUIRE(r.stream_options_open);
  CHECK(body[*r.stream_options_open - 1] == '{');
  CHECK(body[r.root_close] == '}');
  CHECK(body.substr(r.root_close) == "}\n\t ");
}

TEST_CASE("escaped and non-ASCII model names are unescaped, spans cover the raw token",
          "[chat_request]") {
  const std::string_view body =
      R"({"model":"caf\u00e9-\"q\"\\x-世界","messages":[{"role":"user","content":"日本語 🚀"}]})";
  const ChatRequest r = parse_ok(body);
  CHECK(r.model == "café-\"q\"\\x-世界");
  CHECK(at(body, r.model_value) == R"("caf\u00e9-\"q\"\\x-世界")");
}

TEST_CASE("keys are compared after unescaping", "[chat_request]") {
  const ChatRequest r = parse_ok(R"({"mod\u0065l":"m","messages":[{}],"str\u0065am":true})");
  CHECK(r.model == "m");
  CHECK(r.stream);
}

TEST_CASE("two model members are refused: the gateway and the provider could read different ones",
          "[chat_request]") {
  const RequestError e = parse_error(R"({"model":"a","messages":[{}],"model":"b"})");
  CHECK(e.param == "model");
  CHECK(e.code == "duplicate_parameter");
  // Another member given twice still parses (the gateway does not read it).
  CHECK(parse_ok(R"({"model":"a","messages":[{}],"temperature":1,"temperature":2})").model == "a");
}

TEST_CASE("a body without simdjson padding is still parsed, spans relative to it",
          "[chat_request]") {
  const std::string body(kMinimal);
  auto result = parse_chat_request(body, 0);
  REQUIRE(result.ok());
  CHECK(at(body, result->model_value) == "\"gpt-4o\"");
  CHECK(result->root_close == body.size() - 1);
}

TEST_CASE("malformed JSON anywhere is reported as invalid_json", "[chat_request]") {
  const char* const bodies[] = {
      "",
      "   \n",
      "{",
      R"({"model":"m")",
      R"({"model":"m","messages":[{}],})",
      R"({"model" "m","messages":[{}]})",
      R"({model:"m","messages":[{}]})",
      R"({'model':'m','messages':[{}]})",
      R"({"model":"m","messages":[{}]} x)",
      R"({"model":"m","messages":[{}]}})",
      R"({"model":"m","messages":[{}]}{})",
      R"({"model":"m","messages":[{}]}[])",
      R"({"model":"m","messages":[{}],"temperature":01})",
      R"({"model":"m","messages":[{}],"temperature":-})",
      R"({"model":"m","messages":[{}],"temperature":NaN})",
      R"({"model":"m","messages":[{}],"seed":1x})",
      R"({"model":"m","messages":[{}],"logprobs":tru})",
      R"({"model":"m","messages":[{}],"user":nul})",
      R"({"model":"m","messages":[{"role":"user","content":"bad \q escape"}]})",
      R"({"model":"m","messages":[{"role":"user","content":"bad \u12 escape"}]})",
      R"({"model":"m","messages":[{"role":"user","content":[1,2}]})",
      R"({"model":"m","messages":[{}],"tools":[{"function":{"parameters":{"a":}}}]})",
      R"({"model":"m","messages":[{}],"metadata":{"k\x":"v"}})",
      "{\"model\":\"m\",\"messages\":[{\"content\":\"raw\nnewline\"}]}",
      "{\"model\":\"m\",\"messages\":[{\"content\":\"bad utf8 \xC3\x28\"}]}",
      // A type error earlier in the body does not hide that the body is not JSON.
      R"({"model":1,"messages":[],"x":tru})",
      R"({"stream":"yes","model":"m","messages":[{}],"x":[})",
  };
  for (const char* text : bodies) {
    const RequestError e = parse_error(text);
    INFO("body: " << text);
    CHECK(e.code == "invalid_json");
    CHECK(e.message.rfind("We could not parse the JSON body of your request.", 0) == 0);
    CHECK(e.param.empty());
  }
}

TEST_CASE("nesting is bounded", "[chat_request]") {
  auto nested = [](int depth) {
    return R"({"model":"m","messages":[{}],"metadata":)" + std::string(depth, '[') +
           std::string(depth, ']') + "}";
  };
  parse_ok(nested(100));
  CHECK(parse_error(nested(1000)).code == "invalid_json");
}

TEST_CASE("a root that is not an object is refused", "[chat_request]") {
  for (const char* text : {"[]", R"(["model",{"a":[1]}])", R"("model")", "42", "null", "true"}) {
    const RequestError e = parse_error(text);
    INFO("body: " << text);
    CHECK(e.code == "invalid_type");
    CHECK(e.message == "The request body must be a JSON object.");
  }
  for (const char* text : {"[1,2", "[1]]", "[tru]", R"("a\q")", "01", "nul", "true false"}) {
    INFO("body: " << text);
    CHECK(parse_error(text).code == "invalid_json");
  }
}

TEST_CASE("a missing model is reported against the model parameter", "[chat_request]") {
  const RequestError e = parse_error(R"({"messages":[{"role":"user","content":"hi"}]})");
  CHECK(e.param == "model");
  CHECK(e.code == "missing_required_parameter");
  CHECK(e.message.find("model") != std::string::npos);
}

TEST_CASE("a model that is not a string is a type error", "[chat_request]") {
  for (const char* text :
       {R"({"model":4,"messages":[{}]})", R"({"model":null,"messages":[{}]})",
        R"({"model":{"id":"m"},"messages":[{}]})", R"({"model":["m"],"messages":[{}]})"}) {
    const RequestError e = parse_error(text);
    INFO("body: " << text);
    CHECK(e.param == "model");
    CHECK(e.code == "invalid_type");
    CHECK(e.message.find("expected a string") != std::string::npos);
  }
}

TEST_CASE("messages missing, empty, not an array or holding non-objects", "[chat_request]") {
  const RequestError missing = parse_error(R"({"model":"m"})");
  CHECK(missing.param == "messages");
  CHECK(missing.code == "missing_required_parameter");

  const RequestError empty = parse_error(R"({"model":"m","messages":[ ]})");
  CHECK(empty.param == "messages");
  CHECK(empty.code == "empty_array");

  for (const char* text : {R"({"model":"m","messages":"hi"})", R"({"model":"m","messages":{}})",
                           R"({"model":"m","messages":null})"}) {
    const RequestError e = parse_error(text);
    INFO("body: " << text);
    CHECK(e.param == "messages");
    CHECK(e.code == "invalid_type");
  }

  const RequestError element = parse_error(R"({"model":"m","messages":[{},"hi",{}]})");
  CHECK(element.param == "messages[1]");
  CHECK(element.code == "invalid_type");
}

TEST_CASE("stream, stream_options and token limits of the wrong type", "[chat_request]") {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {R"({"model":"m","messages":[{}],"stream":"true"})", "stream"},
      {R"({"model":"m","messages":[{}],"stream":1})", "stream"},
      {R"({"model":"m","messages":[{}],"stream_options":true})", "stream_options"},
      {R"({"model":"m","messages":[{}],"stream_options":[]})", "stream_options"},
      {R"({"model":"m","messages":[{}],"stream_options":"x"})", "stream_options"},
      {R"({"model":"m","messages":[{}],"stream_options":{"include_usage":"yes"}})",
       "stream_options.include_usage"},
      {R"({"model":"m","messages":[{}],"stream_options":{"include_usage":1}})",
       "stream_options.include_usage"},
      {R"({"model":"m","messages":[{}],"max_tokens":1.5})", "max_tokens"},
      {R"({"model":"m","messages":[{}],"max_tokens":"100"})", "max_tokens"},
      {R"({"model":"m","messages":[{}],"max_tokens":123456789012345678901234})", "max_tokens"},
      {R"({"model":"m","messages":[{}],"max_completion_tokens":true})", "max_completion_tokens"},
  };
  for (const auto& c : cases) {
    const RequestError e = parse_error(c.body);
    INFO("body: " << c.body);
    CHECK(e.param == c.param);
    CHECK(e.code == "invalid_type");
    CHECK(e.message.find(c.param) != std::string::npos);
  }
}

TEST_CASE("the end user and tags come from OpenAI's user, safety_identifier and metadata.tags",
          "[chat_request][attribution]") {
  const ChatRequest chat = parse_ok(
      R"({"model":"m","messages":[{}],"user":"alice","metadata":{"tags":"ci, nightly,,ci"}})");
  CHECK(chat.end_user == "alice");
  CHECK(chat.metadata_tags == std::vector<std::string>{"ci", "nightly"});

  const ChatRequest responses = parse_ok(
      R"({"model":"m","input":"hi","safety_identifier":"hash-1","metadata":{"tags":["a","b"]}})",
      BodyShape::openai_responses);
  CHECK(responses.end_user == "hash-1");
  CHECK(responses.metadata_tags == std::vector<std::string>{"a", "b"});
  // `user` names the end user when both are sent, whichever comes first.
  CHECK(parse_ok(R"({"safety_identifier":"s","model":"m","input":"hi","user":"u"})",
                 BodyShape::openai_responses)
            .end_user == "u");

  CHECK(parse_ok(R"({"model":"m","input":["a"],"user":"bob"})", BodyShape::embeddings).end_user ==
        "bob");
}

TEST_CASE("Anthropic's end user is metadata.user_id; its top-level user means nothing",
          "[chat_request][attribution]") {
  const ChatRequest r = parse_ok(
      R"({"model":"m","messages":[],"user":"not-this","metadata":{"user_id":"carol","tags":"x"}})",
      BodyShape::anthropic_messages);
  CHECK(r.end_user == "carol");
  CHECK(r.metadata_tags.empty());
  // And OpenAI's user_id in metadata is just metadata.
  CHECK(parse_ok(R"({"model":"m","messages":[{}],"metadata":{"user_id":"carol"}})").end_user == "");
}

TEST_CASE("a body without attribution members has none", "[chat_request][attribution]") {
  const ChatRequest r = parse_ok(kMinimal);
  CHECK(r.end_user.empty());
  CHECK(r.metadata_tags.empty());
  CHECK(parse_ok(R"({"model":"m","messages":[{}],"metadata":{}})").metadata_tags.empty());
}

TEST_CASE("attribution members of the wrong type are ignored, not refused",
          "[chat_request][attribution]") {
  const ChatRequest r =
      parse_ok(R"({"model":"m","messages":[{}],"user":42,"safety_identifier":{"a":1},)"
               R"("metadata":{"tags":[1,"kept",null,["x"],"with,comma"]}})");
  CHECK(r.end_user.empty());
  CHECK(r.metadata_tags == std::vector<std::string>{"kept"});
  CHECK(parse_ok(R"({"model":"m","messages":[{}],"metadata":"tags"})").metadata_tags.empty());
  CHECK(parse_ok(R"({"model":"m","messages":[{}],"metadata":{"tags":7}})").metadata_tags.empty());
  CHECK(parse_ok(R"({"model":"m","messages":[],"metadata":{"user_id":["x"]}})",
                 BodyShape::anthropic_messages)
            .end_user.empty());
  // Still validated: malformed JSON inside them is malformed JSON.
  CHECK(parse_error(R"({"model":"m","messages":[{}],"metadata":{"tags":[1,]}})").code ==
        "invalid_json");
}

TEST_CASE("attribution strings are unescaped", "[chat_request][attribution]") {
  const ChatRequest r = parse_ok(
      R"({"model":"m","messages":[{}],"user":"al\u0069ce \"A\"","metadata":{"tags":"caf\u00e9"}})");
  CHECK(r.end_user == "alice \"A\"");
  CHECK(r.metadata_tags == std::vector<std::string>{"caf\xc3\xa9"});
}

TEST_CASE("what is kept of the end user and the tags is bounded", "[chat_request][attribution]") {
  const std::string longest(256, 'u');
  CHECK(parse_ok(R"({"model":"m","messages":[{}],"user":")" + longest + R"("})").end_user ==
        longest);
  // Too long to be an id: dropped rather than cut (two users must not become one).
  CHECK(parse_ok(R"({"model":"m","messages":[{}],"user":")" + longest + R"(u"})").end_user.empty());

  std::string list;
  std::string array;
  for (int i = 0; i < 40; ++i) {
    const std::string tag = std::to_string(i);
    list.append("t").append(tag).append(",");
    array.append("\"t").append(tag).append("\",");
  }
  array.pop_back();
  CHECK(parse_ok(R"({"model":"m","messages":[{}],"metadata":{"tags":")" + list + R"("}})")
            .metadata_tags.size() == 32);
  const ChatRequest from_array =
      parse_ok(R"({"model":"m","messages":[{}],"metadata":{"tags":[)" + array + "]}}");
  REQUIRE(from_array.metadata_tags.size() == 32);
  CHECK(from_array.metadata_tags.back() == "t31");

  const std::string tag64(64, 'g');
  CHECK(parse_ok(R"({"model":"m","messages":[{}],"metadata":{"tags":")" + tag64 + "," + tag64 +
                 R"(g,ok"}})")
            .metadata_tags == std::vector<std::string>{tag64, "ok"});
}

TEST_CASE("append_json_string escapes what JSON requires", "[chat_request]") {
  std::string out = "x";
  append_json_string(out, "a\"b\\c\nd\re\tf\bg\fh\x01i\x1Fj/é世");
  CHECK(out == "x\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0001i\\u001fj/é世\"");

  std::string all;
  for (int c = 0; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  std::string encoded;
  append_json_string(encoded, all);
  CHECK(json(encoded).as_string() == all);

  std::string empty;
  append_json_string(empty, "");
  CHECK(empty == "\"\"");
}

TEST_CASE("splicing replaces only the model token when usage is not forced", "[chat_request]") {
  const std::string_view body =
      R"({"model": "gpt-4o" ,"messages":[{"role":"user","content":"hi"}],"stream":true})";
  const std::string out = splice(body, "gpt-4o-2024-08-06", false);
  CHECK(
      out ==
      R"({"model": "gpt-4o-2024-08-06" ,"messages":[{"role":"user","content":"hi"}],"stream":true})");
}

TEST_CASE("splicing adds stream_options when the body has none", "[chat_request]") {
  const std::string_view body = R"({"model":"a","messages":[{}],"stream":true})";
  CHECK(splice(body, "b", true) ==
        R"({"model":"b","messages":[{}],"stream":true,"stream_options":{"include_usage":true}})");

  const std::string_view spaced = "{ \"model\":\"a\", \"messages\":[{}] \n}\n";
  const std::string out = splice(spaced, "b", true);
  CHECK(out ==
        "{ \"model\":\"b\", \"messages\":[{}] \n,\"stream_options\":{\"include_usage\":true}}\n");
  CHECK(json(out) == expected_after_splice(spaced, "b", true));
}

TEST_CASE("splicing sets include_usage inside an existing stream_options", "[chat_request]") {
  SECTION("empty object") {
    const std::string_view body = R"({"model":"a","stream_options":{ },"messages":[{}]})";
    CHECK(splice(body, "a", true) ==
          R"({"model":"a","stream_options":{"include_usage":true },"messages":[{}]})");
  }
  SECTION("object with other members") {
    const std::string_view body =
        R"({"model":"a","stream_options":{"include_obfuscation":false},"messages":[{}]})";
    CHECK(
        splice(body, "a", true) ==
        R"({"model":"a","stream_options":{"include_usage":true,"include_obfuscation":false},"messages":[{}]})");
  }
  SECTION("include_usage false is replaced") {
    const std::string_view body =
        R"({"messages":[{}],"stream_options":{"include_usage" : false},"model":"a"})";
    CHECK(splice(body, "z", true) ==
          R"({"messages":[{}],"stream_options":{"include_usage" : true},"model":"z"})");
  }
  SECTION("include_usage null is replaced") {
    const std::string_view body =
        R"({"model":"a","messages":[{}],"stream_options":{"include_usage":null}})";
    CHECK(splice(body, "a", true) ==
          R"({"model":"a","messages":[{}],"stream_options":{"include_usage":true}})");
  }
  SECTION("include_usage true stays true") {
    const std::string_view body =
        R"({"model":"a","messages":[{}],"stream_options":{"include_usage":true}})";
    CHECK(splice(body, "a", true) == body);
  }
  SECTION("stream_options null becomes an object, no duplicate key") {
    const std::string_view body = R"({"model":"a","stream_options":null,"messages":[{}]})";
    CHECK(splice(body, "a", true) ==
          R"({"model":"a","stream_options":{"include_usage":true},"messages":[{}]})");
  }
}

TEST_CASE("without forcing, stream_options is left exactly as sent", "[chat_request]") {
  const std::string_view body =
      R"({"model":"a","messages":[{}],"stream_options":{"include_usage":false}})";
  CHECK(splice(body, "b", false) ==
        R"({"model":"b","messages":[{}],"stream_options":{"include_usage":false}})");
}

TEST_CASE("spliced bodies parse back to the expected documents", "[chat_request]") {
  const char* const bodies[] = {
      R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})",
      R"({"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o"})",
      R"({"model":"m","messages":[{}],"stream":true,"stream_options":{}})",
      R"({"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":false}})",
      R"({"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":true}})",
      R"({"model":"m","messages":[{}],"stream_options":{"include_obfuscation":false}})",
      R"({"model":"m","messages":[{}],"stream_options":null})",
      "\n{\n  \"model\" : \"m\" ,\n  \"messages\" : [ { \"role\" : \"user\" , \"content\" : "
      "\"h\\u00e9\\n\" } ] ,\n  \"stream_options\" : {\n    \"include_obfuscation\" : true\n  }"
      "\n}\n",
      R"({"model":"m","messages":[{"role":"user","content":"日本語 🚀 \"quoted\" {not json}"}],)"
      R"("metadata":{"model":"not this one","stream_options":"nor this"}})",
  };
  const char* const models[] = {"gpt-4o-2024-08-06", "a\"b\\c\nd\te\x01", "café/世界 🚀", ""};
  for (const char* body : bodies) {
    for (const char* model : models) {
      for (const bool force : {false, true}) {
        INFO("body: " << body << " model: " << model << " force: " << force);
        const std::string out = splice(body, model, force);
        CHECK(json(out) == expected_after_splice(body, model, force));
        // The spliced body is itself a valid request that reads back the new values.
        const ChatRequest again = parse_ok(out);
        CHECK(again.model == model);
        if (force) CHECK(again.include_usage);
      }
    }
  }
}
