#pragma once
// The shape a translated stream must have in the client's protocol, whatever the upstream
// sent, as the encoders document it (adapters/openai.hpp, anthropic.hpp, responses.hpp) and as
// the official SDKs read it: a client parser fed a stream that breaks these rules throws or
// loses data. Each check either returns or aborts (SWITCHYARD_FUZZ_CHECK) naming the rule.
// A stream may always end with the protocol's in-band error instead of its normal end.
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/sse_decoder.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/fuzz_json.hpp"

namespace switchyard::fuzz {

struct OutEvent {
  std::string type;  // the event: line, empty when there was none
  std::string data;
  boost::json::value json;  // null for Chat's [DONE]
};

inline std::vector<OutEvent> read_events(std::string_view stream) {
  std::vector<OutEvent> events;
  core::SseDecoder decoder;
  decoder.feed(stream, [&](const core::SseEvent& e) {
    OutEvent out{std::string(e.type), std::string(e.data), {}};
    if (out.data != "[DONE]") {
      boost::json::error_code ec;
      out.json = parse_json(out.data, ec);
      SWITCHYARD_FUZZ_CHECK(!ec);  // every event's data is JSON
      SWITCHYARD_FUZZ_CHECK(out.json.is_object());
    }
    events.push_back(std::move(out));
  });
  SWITCHYARD_FUZZ_CHECK(!decoder.mid_event());  // the stream does not stop inside an event
  return events;
}

inline std::string_view string_at(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

inline const boost::json::value* at_path(const boost::json::value& v, std::string_view key) {
  return v.is_object() ? v.get_object().if_contains(key) : nullptr;
}

// OpenAI Chat: chat.completion.chunk objects of one id, tool calls introduced (id, name) before
// their argument fragments, one finish_reason, then [DONE]; or an error object, last.
inline void check_chat_stream(const std::vector<OutEvent>& events, std::string_view id) {
  bool ended = false;
  bool finished = false;
  std::map<std::int64_t, bool> calls;  // tool call index -> seen
  for (const OutEvent& e : events) {
    SWITCHYARD_FUZZ_CHECK(!ended);  // nothing after [DONE] or an error
    if (e.data == "[DONE]") {
      ended = true;
      continue;
    }
    const auto& o = e.json.get_object();
    if (o.contains("error")) {
      SWITCHYARD_FUZZ_CHECK(o.at("error").is_object());
      ended = true;
      continue;
    }
    SWITCHYARD_FUZZ_CHECK(string_at(o, "object") == "chat.completion.chunk");
    SWITCHYARD_FUZZ_CHECK(string_at(o, "id") == id);
    const boost::json::value* choices = o.if_contains("choices");
    SWITCHYARD_FUZZ_CHECK(choices && choices->is_array());
    for (const auto& choice : choices->get_array()) {
      const boost::json::value* finish = at_path(choice, "finish_reason");
      if (finish && !finish->is_null()) {
        SWITCHYARD_FUZZ_CHECK(!finished);  // one finish_reason per answer
        finished = true;
      }
      const boost::json::value* delta = at_path(choice, "delta");
      const boost::json::value* tool_calls = delta ? at_path(*delta, "tool_calls") : nullptr;
      if (!tool_calls) continue;
      SWITCHYARD_FUZZ_CHECK(tool_calls->is_array());
      for (const auto& call : tool_calls->get_array()) {
        const boost::json::value* index = at_path(call, "index");
        SWITCHYARD_FUZZ_CHECK(index && index->is_int64());
        const bool first = !calls[index->get_int64()];
        calls[index->get_int64()] = true;
        // The SDKs take a call's id and name from its first fragment. (An empty id is passed
        // on when the upstream sent none: a Messages tool_use block without one.)
        const boost::json::value* call_id = at_path(call, "id");
        SWITCHYARD_FUZZ_CHECK(first == (call_id != nullptr));
        if (first) SWITCHYARD_FUZZ_CHECK(call_id->is_string());
      }
    }
  }
  SWITCHYARD_FUZZ_CHECK(ended);
}

// Anthropic Messages: message_start first; content blocks one at a time, numbered from 0,
// each start, deltas, stop; message_delta, then message_stop last; or an error event, last.
// Every frame's event: line names its type.
inline void check_messages_stream(const std::vector<OutEvent>& events) {
  bool started = false, ended = false, open = false, delta_seen = false;
  std::int64_t next_index = 0;
  for (const OutEvent& e : events) {
    SWITCHYARD_FUZZ_CHECK(!ended);
    const auto& o = e.json.get_object();
    const std::string_view type = string_at(o, "type");
    SWITCHYARD_FUZZ_CHECK(!type.empty() && e.type == type);
    if (type == "error") {
      ended = true;
      continue;
    }
    if (type == "ping") continue;
    if (!started) {
      SWITCHYARD_FUZZ_CHECK(type == "message_start");
      started = true;
      continue;
    }
    SWITCHYARD_FUZZ_CHECK(type != "message_start");
    SWITCHYARD_FUZZ_CHECK(!delta_seen || type == "message_stop");
    const boost::json::value* index = o.if_contains("index");
    if (type == "content_block_start") {
      SWITCHYARD_FUZZ_CHECK(!open && index && index->is_int64() &&
                            index->get_int64() == next_index);
      open = true;
    } else if (type == "content_block_delta") {
      SWITCHYARD_FUZZ_CHECK(open && index && index->is_int64() && index->get_int64() == next_index);
    } else if (type == "content_block_stop") {
      SWITCHYARD_FUZZ_CHECK(open && index && index->is_int64() && index->get_int64() == next_index);
      open = false;
      ++next_index;
    } else if (type == "message_delta") {
      SWITCHYARD_FUZZ_CHECK(!open);
      delta_seen = true;
    } else if (type == "message_stop") {
      SWITCHYARD_FUZZ_CHECK(delta_seen);
      ended = true;
    } else {
      SWITCHYARD_FUZZ_CHECK(false && "unknown Messages event type");
    }
  }
  SWITCHYARD_FUZZ_CHECK(ended);
}

// OpenAI Responses: every event's event: line names its type and sequence_number counts from
// 0; response.created, then response.in_progress; output items one at a time, numbered from
// 0, events about an item naming it; response.completed, .incomplete or .failed last.
inline void check_responses_stream(const std::vector<OutEvent>& events) {
  bool ended = false;
  std::int64_t sequence = 0;
  std::int64_t items = 0;  // output items done
  std::string open_item;   // id of the item added and not done yet
  for (const OutEvent& e : events) {
    SWITCHYARD_FUZZ_CHECK(!ended);
    const auto& o = e.json.get_object();
    const std::string_view type = string_at(o, "type");
    SWITCHYARD_FUZZ_CHECK(!type.empty() && e.type == type);
    const boost::json::value* number = o.if_contains("sequence_number");
    SWITCHYARD_FUZZ_CHECK(number && number->is_int64() && number->get_int64() == sequence);
    if (sequence == 0) SWITCHYARD_FUZZ_CHECK(type == "response.created");
    if (sequence == 1) SWITCHYARD_FUZZ_CHECK(type == "response.in_progress");
    ++sequence;
    if (type == "response.completed" || type == "response.incomplete" ||
        type == "response.failed") {
      ended = true;
      continue;
    }
    const boost::json::value* index = o.if_contains("output_index");
    if (type == "response.output_item.added") {
      SWITCHYARD_FUZZ_CHECK(open_item.empty());
      SWITCHYARD_FUZZ_CHECK(index && index->is_int64() && index->get_int64() == items);
      const boost::json::value* id = at_path(o.at("item"), "id");
      SWITCHYARD_FUZZ_CHECK(id && id->is_string() && !id->get_string().empty());
      open_item = std::string(id->get_string());
    } else if (type == "response.output_item.done") {
      SWITCHYARD_FUZZ_CHECK(!open_item.empty());
      SWITCHYARD_FUZZ_CHECK(index && index->is_int64() && index->get_int64() == items);
      const boost::json::value* id = at_path(o.at("item"), "id");
      SWITCHYARD_FUZZ_CHECK(id && id->is_string() && id->get_string() == open_item);
      open_item.clear();
      ++items;
    } else if (o.contains("item_id")) {
      SWITCHYARD_FUZZ_CHECK(string_at(o, "item_id") == open_item && !open_item.empty());
      SWITCHYARD_FUZZ_CHECK(index && index->is_int64() && index->get_int64() == items);
    }
  }
  SWITCHYARD_FUZZ_CHECK(ended);
}

}  // namespace switchyard::fuzz
