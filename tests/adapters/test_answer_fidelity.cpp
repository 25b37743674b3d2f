// What a translated answer tells its client, pair by pair (client Chat / Responses / Messages
// x upstream Chat / Messages / Gemini, streamed and whole): the usage fields each protocol's
// clients read at each point of a stream, the model the answer names, its time, and tool
// calls whose argument fragments a provider interleaves. Driven through the relays and
// translate_response the gateway uses.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "adapters/anthropic.hpp"
#include "adapters/exchange.hpp"
#include "core/sse_decoder.hpp"
#include "tests/adapters/canonical_builders.hpp"

using namespace switchyard;
using adapters::Protocol;
using adapters::test::name_of;
namespace json = boost::json;

namespace {

constexpr std::string_view kConfiguredModel = "configured-upstream-model";
constexpr std::int64_t kRequestTime = 1767225600;

std::shared_ptr<adapters::Request> client_request() {
  auto request = std::make_shared<adapters::Request>();
  request->model = "client-alias";
  request->stream = true;
  request->include_usage = true;
  adapters::Message m;
  adapters::Part p;
  p.text = std::string(400, 'x');  // about 100 tokens by the gateway's estimate
  m.parts.push_back(p);
  request->messages.push_back(m);
  return request;
}

adapters::StreamContext context_for(Protocol client, Protocol upstream) {
  adapters::StreamContext c;
  c.client = client;
  c.upstream = upstream;
  c.client_wants_usage = true;
  c.id = "answer-id";
  c.model = std::string(kConfiguredModel);
  c.created = kRequestTime;
  c.request = client_request();
  return c;
}

struct Event {
  std::string name;
  json::value data;
};

std::vector<Event> events_of(std::string_view sse) {
  std::vector<Event> events;
  core::SseDecoder decoder;
  decoder.feed(sse, [&](const core::SseEvent& e) {
    if (e.data == "[DONE]") return;
    Event ev;
    ev.name = std::string(e.type);
    INFO(e.data);
    ev.data = json::parse(e.data);
    events.push_back(std::move(ev));
  });
  return events;
}

// The client's events for an upstream stream given as its SSE events, one read each.
std::vector<Event> relay(Protocol client, Protocol upstream,
                         const std::vector<std::string>& upstream_events) {
  auto r = adapters::make_stream_relay(context_for(client, upstream));
  std::string out;
  for (const std::string& e : upstream_events) out += r->on_data(e);
  out += r->on_end();
  return events_of(out);
}

const Event& first_named(const std::vector<Event>& events, std::string_view name) {
  for (const Event& e : events) {
    if (e.name == name) return e;
  }
  FAIL("no " << name << " event");
  return events.front();
}

// --- Upstream streams, each with cached prompt tokens and (where the protocol has them)
// reasoning tokens, so every usage field has a value to carry.

std::string chat_chunk(std::string_view body) {
  return "data: "
         "{\"id\":\"chatcmpl-up\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
         "\"model\":\"gpt-4o-2024-08-06\"," +
         std::string(body) + "}\n\n";
}

// prompt 120 (100 cached), completion 30 (12 reasoning)
std::vector<std::string> chat_stream() {
  return {
      chat_chunk(
          R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null)"),
      chat_chunk(
          R"("choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"usage":null)"),
      chat_chunk(R"("choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null)"),
      chat_chunk(
          R"("choices":[],"usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100},"completion_tokens_details":{"reasoning_tokens":12}})"),
      "data: [DONE]\n\n",
  };
}

// input 20 + cache reads 100 + cache writes 5 = prompt 125; output 30
std::vector<std::string> messages_stream() {
  return {
      "event: message_start\ndata: "
      R"({"type":"message_start","message":{"id":"msg_up","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"output_tokens":1}}})"
      "\n\n",
      "event: content_block_start\ndata: "
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
      "\n\n",
      "event: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})"
      "\n\n",
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
      "event: message_delta\ndata: "
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":30}})"
      "\n\n",
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
  };
}

// prompt 125 (100 cached), completion 18 + 12 thoughts = 30; usage already on the first chunk
std::vector<std::string> gemini_stream(bool with_model = true) {
  const std::string model = with_model ? R"(,"modelVersion":"gemini-2.5-pro-002")" : "";
  return {
      R"(data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]}}],"usageMetadata":{"promptTokenCount":125,"cachedContentTokenCount":100,"candidatesTokenCount":1,"totalTokenCount":126})" +
          model + ",\"responseId\":\"g-up\"}\n\n",
      R"(data: {"candidates":[{"content":{"role":"model","parts":[{"text":"lo"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":125,"cachedContentTokenCount":100,"candidatesTokenCount":18,"thoughtsTokenCount":12,"totalTokenCount":155})" +
          model + ",\"responseId\":\"g-up\"}\n\n",
  };
}

std::vector<std::string> stream_of(Protocol upstream) {
  switch (upstream) {
    case Protocol::anthropic_messages:
      return messages_stream();
    case Protocol::gemini:
      return gemini_stream();
    default:
      return chat_stream();
  }
}

// What each upstream above counts, in the canonical (OpenAI, inclusive) convention.
core::Usage expected_usage(Protocol upstream) {
  switch (upstream) {
    case Protocol::anthropic_messages:
      return {125, 30, 100, 5, 0};
    case Protocol::gemini:
      return {125, 30, 100, 0, 12};
    default:
      return {120, 30, 100, 0, 12};
  }
}

std::string_view reported_model(Protocol upstream) {
  switch (upstream) {
    case Protocol::anthropic_messages:
      return "claude-sonnet-4-5-20250929";
    case Protocol::gemini:
      return "gemini-2.5-pro-002";
    default:
      return "gpt-4o-2024-08-06";
  }
}

struct Pair {
  Protocol client;
  Protocol upstream;
};
const std::vector<Pair> kTranslatedPairs{
    {Protocol::openai_chat, Protocol::anthropic_messages},
    {Protocol::openai_chat, Protocol::gemini},
    {Protocol::openai_responses, Protocol::openai_chat},
    {Protocol::openai_responses, Protocol::anthropic_messages},
    {Protocol::openai_responses, Protocol::gemini},
    {Protocol::anthropic_messages, Protocol::openai_chat},
    {Protocol::anthropic_messages, Protocol::gemini},
};

std::int64_t at_int(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* cur = &v;
  for (std::string_view key : path) cur = &cur->at(key);
  return cur->as_int64();
}

// The final usage a client of `client` reads, checked against `u` field by field: Chat's usage
// with prompt_tokens_details.cached_tokens and completion_tokens_details.reasoning_tokens;
// Responses' with input_tokens_details.cached_tokens and output_tokens_details.reasoning_tokens;
// Messages' input_tokens (without cache), cache_read_input_tokens,
// cache_creation_input_tokens and output_tokens.
void check_usage(Protocol client, const json::value& usage, const core::Usage& u) {
  INFO(json::serialize(usage));
  if (client == Protocol::openai_chat) {
    CHECK(at_int(usage, {"prompt_tokens"}) == u.prompt_tokens);
    CHECK(at_int(usage, {"completion_tokens"}) == u.completion_tokens);
    CHECK(at_int(usage, {"total_tokens"}) == u.prompt_tokens + u.completion_tokens);
    CHECK(at_int(usage, {"prompt_tokens_details", "cached_tokens"}) == u.cached_prompt_tokens);
    CHECK(at_int(usage, {"completion_tokens_details", "reasoning_tokens"}) == u.reasoning_tokens);
  } else if (client == Protocol::openai_responses) {
    CHECK(at_int(usage, {"input_tokens"}) == u.prompt_tokens);
    CHECK(at_int(usage, {"output_tokens"}) == u.completion_tokens);
    CHECK(at_int(usage, {"total_tokens"}) == u.prompt_tokens + u.completion_tokens);
    CHECK(at_int(usage, {"input_tokens_details", "cached_tokens"}) == u.cached_prompt_tokens);
    CHECK(at_int(usage, {"output_tokens_details", "reasoning_tokens"}) == u.reasoning_tokens);
  } else {
    CHECK(at_int(usage, {"input_tokens"}) ==
          u.prompt_tokens - u.cached_prompt_tokens - u.cache_creation_tokens);
    CHECK(at_int(usage, {"cache_read_input_tokens"}) == u.cached_prompt_tokens);
    CHECK(at_int(usage, {"cache_creation_input_tokens"}) == u.cache_creation_tokens);
    CHECK(at_int(usage, {"output_tokens"}) == u.completion_tokens);
  }
}

// Where a client of each protocol reads the final usage of a stream: Chat's usage-only chunk
// (include_usage), Responses' response.completed, Messages' message_delta.
const json::value& final_stream_usage(Protocol client, const std::vector<Event>& events) {
  if (client == Protocol::openai_responses)
    return first_named(events, "response.completed").data.at("response").at("usage");
  if (client == Protocol::anthropic_messages)
    return first_named(events, "message_delta").data.at("usage");
  for (const Event& e : events) {
    if (e.data.as_object().contains("usage") && !e.data.at("usage").is_null())
      return e.data.at("usage");
  }
  FAIL("no usage chunk");
  return events.front().data;
}

// The model each event of a stream names (Chat: every chunk; Responses: every response
// object; Messages: message_start).
std::vector<std::string> models_named(const std::vector<Event>& events) {
  std::vector<std::string> models;
  for (const Event& e : events) {
    const json::object& o = e.data.as_object();
    const json::value* holder = &e.data;
    if (o.contains("response"))
      holder = &o.at("response");
    else if (o.contains("message"))
      holder = &o.at("message");
    if (const auto* m = holder->as_object().if_contains("model"))
      models.emplace_back(m->as_string());
  }
  return models;
}

}  // namespace

// ---- 1. usage ----------------------------------------------------------------------------

TEST_CASE(
    "a translated Messages stream's message_start carries the gateway's input-token estimate "
    "when the upstream counts later (OpenAI), and message_delta the exact input, cache and "
    "output counts") {
  const auto events = relay(Protocol::anthropic_messages, Protocol::openai_chat, chat_stream());
  const json::value& start = first_named(events, "message_start").data;
  const std::int64_t estimate = adapters::estimate_input_tokens(*client_request());
  REQUIRE(estimate >= 100);
  CHECK(at_int(start, {"message", "usage", "input_tokens"}) == estimate);
  CHECK(at_int(start, {"message", "usage", "cache_read_input_tokens"}) == 0);
  CHECK(at_int(start, {"message", "usage", "cache_creation_input_tokens"}) == 0);
  check_usage(Protocol::anthropic_messages, first_named(events, "message_delta").data.at("usage"),
              expected_usage(Protocol::openai_chat));
}

TEST_CASE(
    "a translated Messages stream's message_start carries the upstream's exact input and cache "
    "counts when its first event has them (Gemini's usageMetadata), however the bytes are "
    "split") {
  std::string whole;
  for (const std::string& e : gemini_stream()) whole += e;
  for (std::size_t step : {whole.size(), std::size_t{1}, std::size_t{7}}) {
    INFO("reads of " << step << " bytes");
    auto r =
        adapters::make_stream_relay(context_for(Protocol::anthropic_messages, Protocol::gemini));
    std::string out;
    for (std::size_t at = 0; at < whole.size(); at += step)
      out += r->on_data(whole.substr(at, step));
    out += r->on_end();
    const auto events = events_of(out);
    const json::value& usage = first_named(events, "message_start").data.at("message").at("usage");
    CHECK(at_int(usage, {"input_tokens"}) == 25);  // 125 prompt - 100 cached
    CHECK(at_int(usage, {"cache_read_input_tokens"}) == 100);
    CHECK(at_int(usage, {"cache_creation_input_tokens"}) == 0);
  }
}

TEST_CASE(
    "a translated Messages stream's message_start leaves no byte waiting: the first upstream "
    "event's text reaches the client with it") {
  auto r = adapters::make_stream_relay(context_for(Protocol::anthropic_messages, Protocol::gemini));
  const std::string first(r->on_data(gemini_stream()[0]));
  CHECK(first.find("message_start") != std::string::npos);
  CHECK(first.find("\"Hel\"") != std::string::npos);
}

TEST_CASE(
    "every translated stream pair ends with the full usage where its client reads it: Chat's "
    "usage chunk with cached and reasoning details, Responses' response.completed with "
    "input/output details, Messages' message_delta with input and cache counts") {
  for (const Pair& p : kTranslatedPairs) {
    INFO(name_of(p.client) << " client, " << name_of(p.upstream) << " upstream");
    const auto events = relay(p.client, p.upstream, stream_of(p.upstream));
    check_usage(p.client, final_stream_usage(p.client, events), expected_usage(p.upstream));
  }
}

namespace {

std::string json_answer(Protocol upstream, bool with_model) {
  switch (upstream) {
    case Protocol::anthropic_messages:
      return std::string(R"({"id":"msg_up","type":"message","role":"assistant",)") +
             (with_model ? R"("model":"claude-sonnet-4-5-20250929",)" : "") +
             R"("content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"output_tokens":30}})";
    case Protocol::gemini:
      return std::string(
                 R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Hello"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":125,"cachedContentTokenCount":100,"candidatesTokenCount":18,"thoughtsTokenCount":12,"totalTokenCount":155})") +
             (with_model ? R"(,"modelVersion":"gemini-2.5-pro-002")" : "") + "}";
    default:
      return std::string(
                 R"({"id":"chatcmpl-up","object":"chat.completion","created":1700000000,)") +
             (with_model ? R"("model":"gpt-4o-2024-08-06",)" : "") +
             R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100},"completion_tokens_details":{"reasoning_tokens":12}}})";
  }
}

json::value translated_json(const Pair& p, bool with_model) {
  const auto request = client_request();
  auto translated = adapters::translate_response(
      p.client, p.upstream, json_answer(p.upstream, with_model), request.get(),
      {.upstream_model = kConfiguredModel, .created = kRequestTime});
  REQUIRE(translated);
  return json::parse(translated.value().body);
}

}  // namespace

TEST_CASE(
    "every translated whole-answer pair carries the full usage its client reads (Chat details, "
    "Responses details, Messages input and cache counts)") {
  for (const Pair& p : kTranslatedPairs) {
    INFO(name_of(p.client) << " client, " << name_of(p.upstream) << " upstream");
    check_usage(p.client, translated_json(p, true).at("usage"), expected_usage(p.upstream));
  }
}

// ---- 2. model and time -----------------------------------------------------------------

TEST_CASE(
    "every translated stream names the model the upstream reported, in every event that names "
    "one") {
  for (const Pair& p : kTranslatedPairs) {
    INFO(name_of(p.client) << " client, " << name_of(p.upstream) << " upstream");
    const auto models = models_named(relay(p.client, p.upstream, stream_of(p.upstream)));
    REQUIRE(!models.empty());
    for (const std::string& m : models) CHECK(m == reported_model(p.upstream));
  }
}

TEST_CASE(
    "a translated stream whose upstream reports no model names the model configured for the "
    "upstream, not the client's alias") {
  for (Protocol client :
       {Protocol::openai_chat, Protocol::openai_responses, Protocol::anthropic_messages}) {
    INFO(name_of(client) << " client");
    const auto models = models_named(relay(client, Protocol::gemini, gemini_stream(false)));
    REQUIRE(!models.empty());
    for (const std::string& m : models) CHECK(m == kConfiguredModel);
  }
}

TEST_CASE(
    "a translated whole answer names the upstream's reported model, else the configured "
    "upstream model, and carries a real created time") {
  for (const Pair& p : kTranslatedPairs) {
    INFO(name_of(p.client) << " client, " << name_of(p.upstream) << " upstream");
    const json::value reported = translated_json(p, true);
    CHECK(reported.at("model").as_string() == reported_model(p.upstream));
    const json::value unnamed = translated_json(p, false);
    CHECK(unnamed.at("model").as_string() == kConfiguredModel);
    if (p.client == Protocol::anthropic_messages) continue;  // Messages answers carry no time
    const std::int64_t created =
        at_int(reported, {p.client == Protocol::openai_responses ? "created_at" : "created"});
    // An OpenAI upstream's own time is kept; the others have none, so the request's is used.
    CHECK(created == (p.upstream == Protocol::openai_chat ? 1700000000 : kRequestTime));
  }
}

TEST_CASE("a pass-through whole answer is returned byte for byte, its model untouched") {
  for (Protocol p : {Protocol::openai_chat, Protocol::anthropic_messages}) {
    const std::string body = json_answer(p, true);
    auto same = adapters::translate_response(
        p, p, body, nullptr, {.upstream_model = kConfiguredModel, .created = kRequestTime});
    REQUIRE(same);
    CHECK(same.value().body == body);
  }
}

TEST_CASE("translated streams to Chat and Responses clients carry the request's time") {
  const auto chat = relay(Protocol::openai_chat, Protocol::gemini, gemini_stream());
  for (const Event& e : chat) CHECK(at_int(e.data, {"created"}) == kRequestTime);
  const auto responses =
      relay(Protocol::openai_responses, Protocol::anthropic_messages, messages_stream());
  CHECK(at_int(first_named(responses, "response.completed").data, {"response", "created_at"}) ==
        kRequestTime);
}

// ---- 3. interleaved tool calls ---------------------------------------------------------

namespace {

std::string tool_chunk(std::string_view calls) {
  return chat_chunk(R"("choices":[{"index":0,"delta":{"tool_calls":[)" + std::string(calls) +
                    R"(]},"finish_reason":null}],"usage":null)");
}

std::string call_start_chunk(int index, std::string_view id, std::string_view name) {
  return tool_chunk("{\"index\":" + std::to_string(index) + ",\"id\":\"" + std::string(id) +
                    "\",\"type\":\"function\",\"function\":{\"name\":\"" + std::string(name) +
                    "\",\"arguments\":\"\"}}");
}

std::string call_delta_chunk(int index, std::string_view escaped_fragment) {
  return tool_chunk("{\"index\":" + std::to_string(index) + ",\"function\":{\"arguments\":\"" +
                    std::string(escaped_fragment) + "\"}}");
}

std::vector<std::string> with_ending(std::vector<std::string> chunks) {
  chunks.push_back(chat_chunk(
      R"("choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null)"));
  chunks.push_back(chat_chunk(
      R"("choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15})"));
  chunks.push_back("data: [DONE]\n\n");
  return chunks;
}

// Parallel calls whose fragments alternate: 0 starts, 1 starts, 0, 1, 0, 1.
std::vector<std::string> interleaved_calls() {
  return with_ending({
      call_start_chunk(0, "call_a", "get_weather"),
      call_start_chunk(1, "call_b", "get_time"),
      call_delta_chunk(0, R"({\"city\":)"),
      call_delta_chunk(1, R"({\"tz\":)"),
      call_delta_chunk(0, R"(\"Paris\"})"),
      call_delta_chunk(1, R"(\"UTC\"})"),
  });
}

// Each tool_use block's name and its input as the client assembles it, checking on the way
// that blocks come one at a time (start, deltas, stop), as Anthropic's SDKs require.
std::map<std::string, std::string> messages_tool_inputs(const std::vector<Event>& events) {
  std::map<std::string, std::string> inputs;
  std::map<std::int64_t, std::string> name_of_block;
  std::int64_t open = -1;
  std::int64_t next = 0;
  for (const Event& e : events) {
    INFO(e.name << " " << json::serialize(e.data));
    if (e.name == "content_block_start") {
      REQUIRE(open == -1);
      REQUIRE(at_int(e.data, {"index"}) == next);
      open = next++;
      const json::value& block = e.data.at("content_block");
      if (block.at("type") == "tool_use") name_of_block[open] = block.at("name").as_string();
    } else if (e.name == "content_block_delta") {
      REQUIRE(at_int(e.data, {"index"}) == open);
      const json::value& d = e.data.at("delta");
      if (d.at("type") == "input_json_delta")
        inputs[name_of_block.at(open)] += d.at("partial_json").as_string();
    } else if (e.name == "content_block_stop") {
      REQUIRE(at_int(e.data, {"index"}) == open);
      open = -1;
    }
  }
  CHECK(open == -1);
  return inputs;
}

std::map<std::string, std::string> responses_tool_arguments(const std::vector<Event>& events) {
  std::map<std::string, std::string> arguments;
  for (const Event& e : events) {
    if (e.name != "response.output_item.done") continue;
    const json::value& item = e.data.at("item");
    if (item.at("type") == "function_call")
      arguments[std::string(item.at("name").as_string())] = item.at("arguments").as_string();
  }
  return arguments;
}

}  // namespace

TEST_CASE(
    "interleaved parallel tool calls from an OpenAI-format stream reach a Messages client as "
    "sequential blocks, each with its complete arguments") {
  const auto events =
      relay(Protocol::anthropic_messages, Protocol::openai_chat, interleaved_calls());
  const auto inputs = messages_tool_inputs(events);
  REQUIRE(inputs.size() == 2);
  CHECK(json::parse(inputs.at("get_weather")) == json::parse(R"({"city":"Paris"})"));
  CHECK(json::parse(inputs.at("get_time")) == json::parse(R"({"tz":"UTC"})"));
  CHECK(at_int(first_named(events, "message_delta").data, {"usage", "output_tokens"}) == 5);
}

TEST_CASE(
    "interleaved parallel tool calls reach a Responses client as function_call items, each with "
    "its complete arguments") {
  const auto events = relay(Protocol::openai_responses, Protocol::openai_chat, interleaved_calls());
  const auto arguments = responses_tool_arguments(events);
  REQUIRE(arguments.size() == 2);
  CHECK(json::parse(arguments.at("get_weather")) == json::parse(R"({"city":"Paris"})"));
  CHECK(json::parse(arguments.at("get_time")) == json::parse(R"({"tz":"UTC"})"));
  // The final response lists both calls too.
  const auto& output = first_named(events, "response.completed").data.at("response").at("output");
  CHECK(output.as_array().size() == 2);
}

TEST_CASE(
    "three calls interleaved, with a later call's fragments arriving before an earlier one "
    "completes, keep every fragment in order") {
  const auto chunks = with_ending({
      call_start_chunk(0, "call_a", "a"),
      call_delta_chunk(0, R"({\"x\":)"),
      call_start_chunk(1, "call_b", "b"),
      call_start_chunk(2, "call_c", "c"),
      call_delta_chunk(2, R"({\"z\":[3,)"),
      call_delta_chunk(1, R"({\"s\":\"}{\\\"\"})"),  // braces and an escaped quote in a string
      call_delta_chunk(0, "1}"),
      call_delta_chunk(2, "4]}"),
  });
  for (Protocol client : {Protocol::anthropic_messages, Protocol::openai_responses}) {
    INFO(name_of(client) << " client");
    const auto events = relay(client, Protocol::openai_chat, chunks);
    const auto args = client == Protocol::anthropic_messages ? messages_tool_inputs(events)
                                                             : responses_tool_arguments(events);
    REQUIRE(args.size() == 3);
    CHECK(json::parse(args.at("a")) == json::parse(R"({"x":1})"));
    CHECK(json::parse(args.at("b")) == json::parse(R"({"s":"}{\""})"));
    CHECK(json::parse(args.at("c")) == json::parse(R"({"z":[3,4]})"));
  }
}

TEST_CASE(
    "text that arrives while a call's arguments are incomplete waits behind the call, so no "
    "fragment of it is dropped") {
  std::vector<std::string> chunks = {
      call_start_chunk(0, "call_a", "get_weather"),
      call_delta_chunk(0, R"({\"city\":)"),
      chat_chunk(
          R"("choices":[{"index":0,"delta":{"content":"Checking."},"finish_reason":null}],"usage":null)"),
      call_delta_chunk(0, R"(\"Paris\"})"),
      call_start_chunk(1, "call_b", "get_time"),
      call_delta_chunk(1, R"({\"tz\":\"UTC\"})"),
  };
  chunks = with_ending(chunks);
  for (Protocol client : {Protocol::anthropic_messages, Protocol::openai_responses}) {
    INFO(name_of(client) << " client");
    const auto events = relay(client, Protocol::openai_chat, chunks);
    const auto args = client == Protocol::anthropic_messages ? messages_tool_inputs(events)
                                                             : responses_tool_arguments(events);
    REQUIRE(args.size() == 2);
    CHECK(json::parse(args.at("get_weather")) == json::parse(R"({"city":"Paris"})"));
    CHECK(json::parse(args.at("get_time")) == json::parse(R"({"tz":"UTC"})"));
    std::string text;
    for (const Event& e : events) {
      if (e.name == "content_block_delta" && e.data.at("delta").at("type") == "text_delta")
        text += e.data.at("delta").at("text").as_string();
      if (e.name == "response.output_text.delta") text += e.data.at("delta").as_string();
    }
    CHECK(text == "Checking.");
  }
}

TEST_CASE(
    "tool call fragments in the usual order (each call whole before the next) reach the client "
    "as they arrive, for the first call and the later ones") {
  const std::vector<std::string> chunks = with_ending({
      call_start_chunk(0, "call_a", "get_weather"),
      call_delta_chunk(0, R"({\"city\":)"),
      call_delta_chunk(0, R"(\"Paris\"})"),
      call_start_chunk(1, "call_b", "get_time"),
      call_delta_chunk(1, R"({\"tz\":)"),
      call_delta_chunk(1, R"(\"UTC\"})"),
  });
  for (Protocol client : {Protocol::anthropic_messages, Protocol::openai_responses}) {
    INFO(name_of(client) << " client");
    auto r = adapters::make_stream_relay(context_for(client, Protocol::openai_chat));
    std::vector<std::string> written;
    for (const std::string& c : chunks) written.emplace_back(r->on_data(c));
    CHECK(written[1].find(R"({\"city\":)") != std::string::npos);
    CHECK(written[2].find(R"(\"Paris\"})") != std::string::npos);
    CHECK(written[4].find(R"({\"tz\":)") != std::string::npos);
    CHECK(written[5].find(R"(\"UTC\"})") != std::string::npos);
  }
}

TEST_CASE(
    "with interleaved calls, the first call's fragments still flow as they arrive; the later "
    "call follows once the first one's arguments are whole") {
  auto r =
      adapters::make_stream_relay(context_for(Protocol::anthropic_messages, Protocol::openai_chat));
  const auto chunks = interleaved_calls();
  std::vector<std::string> written;
  for (const std::string& c : chunks) written.emplace_back(r->on_data(c));
  CHECK(written[2].find(R"({\"city\":)") != std::string::npos);  // call 0, live
  CHECK(written[3].find("get_time") == std::string::npos);       // call 1 held
  // Call 0 completes: it closes, and call 1 opens with what it had so far.
  CHECK(written[4].find(R"(\"Paris\"})") != std::string::npos);
  CHECK(written[4].find("get_time") != std::string::npos);
  CHECK(written[4].find(R"({\"tz\":)") != std::string::npos);
  CHECK(written[5].find(R"(\"UTC\"})") != std::string::npos);  // call 1, live now
}

TEST_CASE("held tool call fragments are bounded by max_upstream_body_bytes") {
  auto c = context_for(Protocol::anthropic_messages, Protocol::openai_chat);
  c.max_kept_bytes = 64;
  auto r = adapters::make_stream_relay(c);
  std::string out;
  out += r->on_data(call_start_chunk(0, "call_a", "a"));
  out += r->on_data(call_delta_chunk(0, R"({\"x\":)"));
  out += r->on_data(call_start_chunk(1, "call_b", "b"));
  for (int i = 0; i < 10 && r->fault() == adapters::RelayFault::none; ++i)
    out += r->on_data(call_delta_chunk(1, "[1,2,3,4,5,6,7,8,9,"));
  CHECK(r->fault() == adapters::RelayFault::oversized);
  CHECK(events_of(out).back().name == "error");
}
