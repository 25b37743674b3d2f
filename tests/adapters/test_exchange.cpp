// Recorded provider streams carried to clients of every other protocol, through the same
// relays the gateway uses, checked event by event against golden files
// (tests/fixtures/exchange/<client>_from_<upstream>.sse). Generated ids are normalised before
// comparing; everything else must match. Each pair is also fed split at every byte, which
// must not change a single output byte, and checked for the client protocol's own rules.
//
// To regenerate the golden files after an intended change: SWITCHYARD_UPDATE_GOLDEN=1
// adapters_test_exchange, then review the diff.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "adapters/exchange.hpp"
#include "core/sse_decoder.hpp"

using namespace switchyard;
using adapters::Protocol;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const char* name_of(Protocol p) {
  switch (p) {
    case Protocol::openai_chat: return "chat";
    case Protocol::openai_responses: return "responses";
    case Protocol::anthropic_messages: return "messages";
    case Protocol::gemini: return "gemini";
  }
  return "?";
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
  c.id = std::string(client == Protocol::anthropic_messages ? "msg_" : client == Protocol::openai_responses ? "resp_" : "chatcmpl-") +
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
std::string relay(Protocol client, Protocol upstream, std::string_view bytes, const std::vector<std::size_t>& cuts) {
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
      if ((key == "id" || key == "call_id" || key == "item_id" || key == "tool_use_id") && kv.value().is_string()) {
        const std::string_view s = kv.value().get_string();
        if (s != "msg_golden" && s != "resp_golden" && s != "chatcmpl-golden") kv.value() = "<generated id>";
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
        if (d.at("type").as_string() == "input_json_delta") json_by_block[open] += d.at("partial_json").as_string();
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

TEST_CASE("recorded provider streams reach every other protocol's client event by event as the golden files say") {
  const bool update = std::getenv("SWITCHYARD_UPDATE_GOLDEN") != nullptr;
  for (const Recording& rec : kRecordings) {
    const std::string upstream_bytes = read_file(std::string(SWITCHYARD_FIXTURES) + "/" + rec.file);
    for (Protocol client : {Protocol::openai_chat, Protocol::anthropic_messages, Protocol::openai_responses}) {
      if (client == rec.upstream) continue;
      const std::string golden_path = std::string(SWITCHYARD_FIXTURES) + "/exchange/" + name_of(client) + "_from_" +
                                      name_of(rec.upstream) + ".sse";
      INFO(golden_path);
      const std::string out = relay(client, rec.upstream, upstream_bytes, {});
      if (update) std::ofstream(golden_path, std::ios::binary) << out;
      const auto got = events_of(out);
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
    for (Protocol client : {Protocol::openai_chat, Protocol::anthropic_messages, Protocol::openai_responses}) {
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

TEST_CASE("a pass-through Anthropic stream is forwarded byte for byte and its usage is read beside it") {
  const std::string bytes = read_file(std::string(SWITCHYARD_FIXTURES) + "/adapters/anthropic/tool_use_stream.sse");
  auto r = adapters::make_stream_relay(context_for(Protocol::anthropic_messages, Protocol::anthropic_messages));
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 7) out += r->on_data(std::string(bytes.substr(i, 7)));
  out += r->on_end();
  CHECK(out == bytes);
  REQUIRE(r->usage());
  CHECK(r->usage()->prompt_tokens == 377);
  CHECK(r->usage()->completion_tokens == 65);
}

TEST_CASE("Reasoning settings reach only models that accept them, in the target's terms", "[exchange][reasoning]") {
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

TEST_CASE("An Anthropic request with thinking reaches an OpenAI reasoning model as reasoning_effort", "[exchange][reasoning]") {
  auto decoded = adapters::decode_request(Protocol::anthropic_messages, R"({"model":"m","max_tokens":64000,
      "thinking":{"type":"enabled","budget_tokens":31999},"messages":[{"role":"user","content":"hi"}]})");
  REQUIRE(decoded.ok());
  adapters::Request request = decoded.value();
  core::ProviderConfig provider;
  provider.type = "openai";
  adapters::fit_reasoning(request, true);
  auto body = boost::json::parse(adapters::encode_request(Protocol::openai_chat, request, "o3", provider));
  CHECK(body.at("reasoning_effort") == "high");
  request = decoded.value();
  adapters::fit_reasoning(request, false);
  body = boost::json::parse(adapters::encode_request(Protocol::openai_chat, request, "gpt-4o", provider));
  CHECK_FALSE(body.as_object().contains("reasoning_effort"));
}
