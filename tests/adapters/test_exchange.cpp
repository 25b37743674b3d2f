// Recorded provider streams carried to clients of every other protocol, through the same
// relays the gateway uses, checked event by event against golden files
// (tests/fixtures/exchange/<client>_from_<upstream>.sse). Generated ids are normalised before
// comparing; everything else must match. Each pair is also fed split at every byte, which
// must not change a single output byte, and checked for the client protocol's own rules.
//
// To regenerate the golden files after an intended change: SWITCHYARD_UPDATE_GOLDEN=1
// adapters_test_exchange rewrites each file whose events differ and fails naming it; review
// the diff, then run again without the variable (which compares, as every normal run does).
#include <algorithm>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "adapters/exchange.hpp"
#include "core/sse_decoder.hpp"
#include "tests/adapters/canonical_builders.hpp"

using namespace switchyard;
using adapters::Protocol;
using adapters::test::name_of;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Recording {
  Protocol upstream;
  const char* file;  // under tests/fixtures
};

const std::vector<Recording> kRecordings{
    {Protocol::openai_chat, "sse/openai_tool_call.txt"},
    {Protocol::anthropic_messages, "adapters/anthropic/tool_use_stream.sse"},
    {Protocol::gemini, "adapters/gemini/stream_tool_call_then_stop.sse"},
};

adapters::StreamContext context_for(Protocol client, Protocol upstream) {
  adapters::StreamContext c;
  c.client = client;
  c.upstream = upstream;
  c.client_wants_usage = true;
  c.id = std::string(client == Protocol::anthropic_messages ? "msg_"
                     : client == Protocol::openai_responses ? "resp_"
                                                            : "chatcmpl-") +
         "golden";
  c.model = "golden-model";
  c.created = 1760000000;
  auto request = std::make_shared<adapters::Request>();
  request->model = "golden-model";
  request->stream = true;
  request->tools.push_back({"get_weather", "Current weather", R"({"type":"object"})", false});
  c.request = request;
  return c;
}

// Feeds `upstream` to a fresh relay cut at the given offsets; returns all client bytes.
std::string relay(Protocol client, Protocol upstream, std::string_view bytes,
                  const std::vector<std::size_t>& cuts) {
  auto r = adapters::make_stream_relay(context_for(client, upstream));
  std::string out;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    const std::string piece(bytes.substr(from, cut - from));
    out += r->on_data(piece);
    from = cut;
  }
  const std::string rest(bytes.substr(from));
  out += r->on_data(rest);
  out += r->on_end();
  return out;
}

struct Event {
  std::string name;
  boost::json::value data;  // "[DONE]" is kept as a string
};

// Ids the codecs generate at random are replaced, so golden files stay stable.
void normalise(boost::json::value& v) {
  if (auto* o = v.if_object()) {
    for (auto& kv : *o) {
      const std::string_view key = kv.key();
      if ((key == "id" || key == "call_id" || key == "item_id" || key == "tool_use_id") &&
          kv.value().is_string()) {
        const std::string_view s = kv.value().get_string();
        if (s != "msg_golden" && s != "resp_golden" && s != "chatcmpl-golden")
          kv.value() = "<generated id>";
      } else {
        normalise(kv.value());
      }
    }
  } else if (auto* a = v.if_array()) {
    for (auto& e : *a) normalise(e);
  }
}

std::vector<Event> events_of(std::string_view sse) {
  std::vector<Event> events;
  core::SseDecoder decoder;
  decoder.feed(sse, [&](const core::SseEvent& e) {
    Event ev;
    ev.name = std::string(e.type);
    if (e.data == "[DONE]") {
      ev.data = "[DONE]";
    } else {
      boost::system::error_code ec;
      ev.data = boost::json::parse(e.data, ec);
      INFO(e.data);
      REQUIRE_FALSE(ec);
      normalise(ev.data);
    }
    events.push_back(std::move(ev));
  });
  return events;
}

bool same_events(const std::vector<Event>& a, const std::vector<Event>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Event& x, const Event& y) {
    return x.name == y.name && x.data == y.data;
  });
}

// A golden file's events, or none when it does not exist yet.
std::vector<Event> stored_events(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return events_of(
      std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
}

// The client protocol's own rules, whatever the content.
void check_protocol_rules(Protocol client, const std::vector<Event>& events) {
  REQUIRE(!events.empty());
  if (client == Protocol::anthropic_messages) {
    CHECK(events.front().name == "message_start");
    CHECK(events.back().name == "message_stop");
    int open = -1;
    int next_index = 0;
    std::map<int, std::string> json_by_block;
    for (const Event& e : events) {
      INFO(e.name << " " << boost::json::serialize(e.data));
      CHECK(!e.name.empty());  // the SDK drops frames without an event: line
      CHECK(e.data.at("type").as_string() == e.name);
      if (e.name == "content_block_start") {
        CHECK(open == -1);
        CHECK(e.data.at("index").as_int64() == next_index);
        open = next_index++;
      } else if (e.name == "content_block_delta") {
        CHECK(e.data.at("index").as_int64() == open);
        const auto& d = e.data.at("delta");
        if (d.at("type").as_string() == "input_json_delta")
          json_by_block[open] += d.at("partial_json").as_string();
      } else if (e.name == "content_block_stop") {
        CHECK(e.data.at("index").as_int64() == open);
        open = -1;
      }
    }
    CHECK(open == -1);
    for (const auto& [block, json] : json_by_block) {
      boost::system::error_code ec;
      boost::json::parse(json.empty() ? "{}" : json, ec);
      CHECK_FALSE(ec);  // the fragments of a tool's input concatenate to valid JSON
    }
  } else if (client == Protocol::openai_responses) {
    CHECK(events.front().name == "response.created");
    CHECK(events.back().name == "response.completed");
    std::int64_t last = -1;
    for (const Event& e : events) {
      CHECK(e.data.at("type").as_string() == e.name);
      CHECK(e.data.at("sequence_number").as_int64() > last);
      last = e.data.at("sequence_number").as_int64();
    }
    const auto& usage = events.back().data.at("response").at("usage");
    CHECK(usage.at("input_tokens").is_int64());
    CHECK(usage.at("output_tokens").is_int64());
    CHECK(usage.at("total_tokens").is_int64());
  } else {
    CHECK(events.back().data == boost::json::value("[DONE]"));
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
      CHECK(events[i].name.empty());
      CHECK(events[i].data.at("id").as_string() == "chatcmpl-golden");
    }
  }
}

}  // namespace

TEST_CASE(
    "recorded provider streams reach every other protocol's client event by event as the golden "
    "files say") {
  const bool update = std::getenv("SWITCHYARD_UPDATE_GOLDEN") != nullptr;
  for (const Recording& rec : kRecordings) {
    const std::string upstream_bytes = read_file(std::string(SWITCHYARD_FIXTURES) + "/" + rec.file);
    for (Protocol client :
         {Protocol::openai_chat, Protocol::anthropic_messages, Protocol::openai_responses}) {
      if (client == rec.upstream) continue;
      const std::string golden_path = std::string(SWITCHYARD_FIXTURES) + "/exchange/" +
                                      name_of(client) + "_from_" + name_of(rec.upstream) + ".sse";
      INFO(golden_path);
      const std::string out = relay(client, rec.upstream, upstream_bytes, {});
      const auto got = events_of(out);
      if (update && !same_events(got, stored_events(golden_path))) {
        // Only a file that no longer matches is rewritten, and the run fails: update mode
        // never passes by comparing a new file with itself.
        std::ofstream(golden_path, std::ios::binary) << out;
        FAIL_CHECK("rewrote " << golden_path
                              << ": review the diff, then run without SWITCHYARD_UPDATE_GOLDEN");
      }
      const auto want = events_of(read_file(golden_path));
      check_protocol_rules(client, got);
      REQUIRE(got.size() == want.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("event " << i << ": " << want[i].name << " " << boost::json::serialize(want[i].data));
        CHECK(got[i].name == want[i].name);
        CHECK(got[i].data == want[i].data);
      }
    }
  }
}

TEST_CASE("where a provider's stream is cut into reads never changes what a client receives") {
  for (const Recording& rec : kRecordings) {
    const std::string upstream_bytes = read_file(std::string(SWITCHYARD_FIXTURES) + "/" + rec.file);
    for (Protocol client :
         {Protocol::openai_chat, Protocol::anthropic_messages, Protocol::openai_responses}) {
      if (client == rec.upstream) continue;
      INFO(name_of(client) << " from " << name_of(rec.upstream));
      const auto whole = events_of(relay(client, rec.upstream, upstream_bytes, {}));
      for (std::size_t cut = 1; cut < upstream_bytes.size(); cut += 3) {
        INFO("cut at " << cut);
        const auto split = events_of(relay(client, rec.upstream, upstream_bytes, {cut}));
        REQUIRE(split.size() == whole.size());
        for (std::size_t i = 0; i < whole.size(); ++i) CHECK(split[i].data == whole[i].data);
      }
    }
  }
}

TEST_CASE(
    "a pass-through Anthropic stream is forwarded byte for byte and its usage is read beside it") {
  const std::string bytes =
      read_file(std::string(SWITCHYARD_FIXTURES) + "/adapters/anthropic/tool_use_stream.sse");
  auto r = adapters::make_stream_relay(
      context_for(Protocol::anthropic_messages, Protocol::anthropic_messages));
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 7)
    out += r->on_data(std::string(bytes.substr(i, 7)));
  out += r->on_end();
  CHECK(out == bytes);
  REQUIRE(r->usage());
  CHECK(r->usage()->prompt_tokens == 377);
  CHECK(r->usage()->completion_tokens == 65);
}

TEST_CASE("Reasoning settings reach only models that accept them, in the target's terms",
          "[exchange][reasoning]") {
  adapters::Request from_openai;
  from_openai.reasoning_effort = "high";
  adapters::Request copy = from_openai;
  adapters::fit_reasoning(copy, true);
  CHECK(copy.reasoning_effort == "high");
  CHECK(copy.thinking_budget == 16384);

  // A model that does not accept them (gpt-4o, an unlisted model) gets none: OpenAI would
  // refuse the request, and Claude Code asks for thinking on every turn.
  copy = from_openai;
  adapters::fit_reasoning(copy, false);
  CHECK(copy.reasoning_effort.empty());
  CHECK_FALSE(copy.thinking_budget);

  for (const auto& [effort, budget] : std::vector<std::pair<std::string, std::int64_t>>{
           {"low", 1024}, {"medium", 4096}, {"high", 16384}, {"xhigh", 24576}}) {
    adapters::Request r;
    r.reasoning_effort = effort;
    adapters::fit_reasoning(r, true);
    CHECK(r.thinking_budget == budget);
  }
  adapters::Request minimal;
  minimal.reasoning_effort = "minimal";
  adapters::fit_reasoning(minimal, true);
  CHECK_FALSE(minimal.thinking_budget);

  // From Claude Code's thinking budget to an OpenAI effort.
  for (const auto& [budget, effort] : std::vector<std::pair<std::int64_t, std::string>>{
           {1024, "low"}, {2048, "low"}, {4096, "medium"}, {8192, "medium"}, {31999, "high"}}) {
    adapters::Request r;
    r.thinking_budget = budget;
    adapters::fit_reasoning(r, true);
    CHECK(r.reasoning_effort == effort);
    CHECK(r.thinking_budget == budget);
  }
}

TEST_CASE(
    "An Anthropic request with thinking reaches an OpenAI reasoning model as reasoning_effort",
    "[exchange][reasoning]") {
  auto decoded =
      adapters::decode_request(Protocol::anthropic_messages, R"({"model":"m","max_tokens":64000,
      "thinking":{"type":"enabled","budget_tokens":31999},"messages":[{"role":"user","content":"hi"}]})");
  REQUIRE(decoded.ok());
  adapters::Request request = decoded.value();
  core::ProviderConfig provider;
  provider.type = "openai";
  adapters::fit_reasoning(request, true);
  auto body =
      boost::json::parse(adapters::encode_request(Protocol::openai_chat, request, "o3", provider));
  CHECK(body.at("reasoning_effort") == "high");
  request = decoded.value();
  adapters::fit_reasoning(request, false);
  body = boost::json::parse(
      adapters::encode_request(Protocol::openai_chat, request, "gpt-4o", provider));
  CHECK_FALSE(body.as_object().contains("reasoning_effort"));
}

namespace {

// Where each recording's final event begins: Chat's finish_reason chunk (without it, a
// missing [DONE] is a cut stream), Messages' message_stop (even after the stop reason) and
// Gemini's chunk with its finishReason.
std::size_t final_event_offset(Protocol upstream, const std::string& bytes) {
  const char* marker = upstream == Protocol::openai_chat          ? "\"finish_reason\":\""
                       : upstream == Protocol::anthropic_messages ? "event: message_stop"
                                                                  : "\"finishReason\"";
  const std::size_t at = bytes.find(marker);
  REQUIRE(at != std::string::npos);
  const std::size_t blank = bytes.rfind("\n\n", at);
  return blank == std::string::npos ? 0 : blank + 2;
}

// One provider event whose field has the wrong type, and the field's name.
std::pair<std::string, std::string> wrongly_typed_event(Protocol upstream) {
  switch (upstream) {
    case Protocol::anthropic_messages:
      return {
          "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
          "\"delta\":{\"type\":\"text_delta\",\"text\":5}}\n\n",
          "delta.text"};
    case Protocol::gemini:
      return {"data: {\"candidates\":[{\"content\":{\"parts\":\"hello\",\"role\":\"model\"}}]}\n\n",
              "candidates[0].content.parts"};
    case Protocol::openai_chat:
    case Protocol::openai_responses:
      break;
  }
  return {
      "data: "
      "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{"
      "\"content\":5}}]}\n\n",
      "choices[0].delta.content"};
}

// The in-band error a client's stream ended with, as {message, type, code} (Anthropic's has no
// code); fails unless the stream ends with it and never ended normally.
boost::json::object final_error(Protocol client, const std::string& sse) {
  const auto events = events_of(sse);
  REQUIRE(!events.empty());
  const Event& last = events.back();
  INFO(boost::json::serialize(last.data));
  boost::json::object error;
  if (client == Protocol::anthropic_messages) {
    CHECK(events.front().name == "message_start");
    for (const Event& e : events) {
      CHECK(e.name != "message_stop");
      CHECK(e.name != "message_delta");  // it would carry end_turn
    }
    REQUIRE(last.name == "error");
    CHECK(last.data.at("type") == "error");
    error = last.data.at("error").as_object();
  } else if (client == Protocol::openai_responses) {
    CHECK(events.front().name == "response.created");
    for (const Event& e : events) CHECK(e.name != "response.completed");
    REQUIRE(last.name == "response.failed");
    CHECK(last.data.at("response").at("status") == "failed");
    error = last.data.at("response").at("error").as_object();
  } else {
    for (const Event& e : events) {
      CHECK(e.data != boost::json::value("[DONE]"));
      if (const auto* o = e.data.if_object(); o && o->contains("choices")) {
        // A stop reason the provider did send may have passed (Messages' message_delta comes
        // before message_stop); a made-up "stop" may not.
        for (const auto& choice : o->at("choices").as_array())
          CHECK(choice.at("finish_reason") != "stop");
      }
    }
    REQUIRE(last.data.is_object());
    REQUIRE(last.data.as_object().contains("error"));
    error = last.data.at("error").as_object();
  }
  return error;
}

}  // namespace

TEST_CASE(
    "a translated stream whose provider's body ends before its final event ends with the client's "
    "in-band error") {
  for (const Recording& rec : kRecordings) {
    const std::string bytes = read_file(std::string(SWITCHYARD_FIXTURES) + "/" + rec.file);
    const std::string cut = bytes.substr(0, final_event_offset(rec.upstream, bytes));
    for (Protocol client :
         {Protocol::openai_chat, Protocol::anthropic_messages, Protocol::openai_responses}) {
      if (client == rec.upstream) continue;
      INFO(name_of(client) << " from " << name_of(rec.upstream));
      // However the reads fell.
      for (const std::vector<std::size_t>& cuts :
           {std::vector<std::size_t>{}, std::vector<std::size_t>{cut.size() / 2}}) {
        const boost::json::object error =
            final_error(client, relay(client, rec.upstream, cut, cuts));
        CHECK(error.at("message") ==
              "The upstream provider's stream ended before its final event.");
        if (client == Protocol::openai_chat) {
          CHECK(error.at("code") == "upstream_stream_truncated");
          CHECK(error.at("type") == "server_error");
        } else if (client == Protocol::anthropic_messages) {
          CHECK(error.at("type") == "api_error");
        }
      }
    }
  }

  // A Chat provider's stream that reached its finish_reason and then ended without [DONE] is
  // whole: vLLM and Ollama may close it so.
  {
    const std::string bytes =
        read_file(std::string(SWITCHYARD_FIXTURES) + "/sse/openai_tool_call.txt");
    const std::string no_done = bytes.substr(0, bytes.find("data: [DONE]"));
    REQUIRE(no_done.size() < bytes.size());
    for (Protocol client : {Protocol::anthropic_messages, Protocol::openai_responses}) {
      INFO(name_of(client));
      const auto whole = events_of(relay(client, Protocol::openai_chat, bytes, {}));
      const auto got = events_of(relay(client, Protocol::openai_chat, no_done, {}));
      check_protocol_rules(client, got);
      REQUIRE(got.size() == whole.size());
      for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].data == whole[i].data);
    }
  }

  // A provider's own error event inside the stream still reaches the client as that error.
  {
    const std::string bytes =
        read_file(std::string(SWITCHYARD_FIXTURES) + "/adapters/anthropic/tool_use_stream.sse");
    const std::string failed = bytes.substr(0, bytes.find("event: ping")) +
                               "event: error\ndata: "
                               "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                               "\"message\":\"Overloaded\"}}\n\n";
    for (Protocol client : {Protocol::openai_chat, Protocol::openai_responses}) {
      INFO(name_of(client));
      const boost::json::object error =
          final_error(client, relay(client, Protocol::anthropic_messages, failed, {}));
      CHECK(error.at("message") == "Overloaded");
    }
  }
}

TEST_CASE(
    "a provider's stream event with a field of the wrong JSON type ends the client's stream with "
    "bad_upstream_response") {
  for (const Recording& rec : kRecordings) {
    const std::string bytes = read_file(std::string(SWITCHYARD_FIXTURES) + "/" + rec.file);
    const auto [event, field] = wrongly_typed_event(rec.upstream);
    // After the first event, so the client's stream has begun.
    const std::size_t first_end = bytes.find("\n\n") + 2;
    const std::string broken = bytes.substr(0, first_end) + event + bytes.substr(first_end);
    for (Protocol client :
         {Protocol::openai_chat, Protocol::anthropic_messages, Protocol::openai_responses}) {
      if (client == rec.upstream) continue;
      INFO(name_of(client) << " from " << name_of(rec.upstream));
      const boost::json::object error =
          final_error(client, relay(client, rec.upstream, broken, {}));
      const std::string message(error.at("message").as_string());
      CHECK(message.starts_with("The upstream provider's stream could not be read: "));
      CHECK(message.find("'" + field + "'") != std::string::npos);
      if (client == Protocol::openai_chat) {
        CHECK(error.at("code") == "bad_upstream_response");
        CHECK(error.at("type") == "server_error");
      } else if (client == Protocol::anthropic_messages) {
        CHECK(error.at("type") == "api_error");
      }
    }
  }
}

TEST_CASE(
    "a provider's JSON answer with a field of the wrong JSON type is a 502 bad_upstream_response "
    "for every client") {
  const std::vector<std::tuple<Protocol, std::string, std::string>> answers{
      {Protocol::openai_chat, R"({"id":"c","object":"chat.completion","model":"m","choices":{}})",
       "choices"},
      {Protocol::openai_chat,
       R"({"id":"c","choices":[{"index":0,"message":"x","finish_reason":"stop"}]})",
       "choices[0].message"},
      {Protocol::openai_chat,
       R"({"id":"c","choices":[{"message":{"role":"assistant","content":5}}]})",
       "choices[0].message.content"},
      {Protocol::openai_chat,
       R"({"id":"c","choices":[{"message":{"content":"Hi"}}],"usage":{"prompt_tokens":"3"}})",
       "usage.prompt_tokens"},
      {Protocol::anthropic_messages,
       R"({"id":"msg_1","type":"message","role":"assistant","content":"not an array"})", "content"},
      {Protocol::anthropic_messages, R"({"id":"msg_1","type":"message","content":[{"text":"Hi"}]})",
       "content[0].type"},
      {Protocol::gemini,
       R"({"candidates":[{"content":{"parts":"hello","role":"model"},"finishReason":"STOP"}]})",
       "candidates[0].content.parts"},
      {Protocol::gemini, R"({"candidates":{"content":{"parts":[{"text":"hello"}]}}})",
       "candidates"},
  };
  for (const auto& [upstream, body, field] : answers) {
    for (Protocol client :
         {Protocol::openai_chat, Protocol::anthropic_messages, Protocol::openai_responses}) {
      if (client == upstream) continue;
      INFO(name_of(client) << " from " << name_of(upstream) << ": " << body);
      const auto request = context_for(client, upstream).request;
      const auto translated = adapters::translate_response(client, upstream, body, request.get());
      REQUIRE_FALSE(translated.ok());
      CHECK(translated.error().status == 502);
      CHECK(translated.error().code == "bad_upstream_response");
      CHECK(translated.error().type == "server_error");
      CHECK(translated.error().source == core::ErrorSource::upstream);
      CHECK(translated.error().message.find("'" + field + "'") != std::string::npos);
    }
  }
}

TEST_CASE(
    "the upstream request head is the request line, Host, User-Agent, Content-Length and "
    "the adapter's headers in order") {
  core::ProviderConfig provider;
  provider.name = "claude";
  provider.type = "anthropic";
  provider.api_key = "sk-ant-secret";
  provider.headers = {{"X-Team", "search"}};
  const adapters::UpstreamRequest request = adapters::build_upstream_request(
      provider, provider.api_key, "/base", adapters::Operation::generate,
      adapters::Protocol::anthropic_messages, "claude-x", /*stream=*/true,
      R"({"model":"claude-x"})", "req-7", {});
  const std::string head =
      adapters::format_upstream_head(request, "api.example.test:8443", "switchyard/test");
  CHECK(head ==
        "POST /base/v1/messages HTTP/1.1\r\n"
        "Host: api.example.test:8443\r\n"
        "User-Agent: switchyard/test\r\n"
        "Content-Length: 20\r\n"
        "Content-Type: application/json\r\n"
        "Accept-Encoding: identity\r\n"
        "Accept: text/event-stream\r\n"
        "x-api-key: sk-ant-secret\r\n"
        "anthropic-version: 2023-06-01\r\n"
        "X-Request-Id: req-7\r\n"
        "X-Team: search\r\n"
        "\r\n");
  // An empty body still says its length; the head ends with exactly one blank line.
  adapters::UpstreamRequest empty;
  empty.path = "/v1/models";
  const std::string bare = adapters::format_upstream_head(empty, "h", "ua");
  CHECK(bare ==
        "POST /v1/models HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE(
    "a number beyond a double's range is refused by name, never written on as NaN or "
    "Infinity") {
  // Boost.JSON reads 1e400 as infinity and 0e400 (a zero) as NaN; written back, either is a
  // token JSON does not have, and the provider would get a body it cannot parse.
  for (const std::string literal : {"1e400", "-1e400", "0e400"}) {
    const std::string chat = R"({"model":"m","messages":[{"role":"user","content":"hi"}],)"
                             R"("temperature":)" +
                             literal + "}";
    const std::string responses = R"({"model":"m","input":"hi","top_p":)" + literal + "}";
    const std::string messages =
        R"({"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}],)"
        R"("temperature":)" +
        literal + "}";
    const std::tuple<Protocol, std::string, std::string> cases[] = {
        {Protocol::openai_chat, chat, "temperature"},
        {Protocol::openai_responses, responses, "top_p"},
        {Protocol::anthropic_messages, messages, "temperature"},
    };
    for (const auto& [protocol, body, field] : cases) {
      INFO(name_of(protocol) << " " << literal);
      auto decoded = adapters::decode_request(protocol, body);
      REQUIRE_FALSE(decoded);
      CHECK(decoded.error().message.find(field) != std::string::npos);
      CHECK(decoded.error().status == 400);
    }
  }
}
