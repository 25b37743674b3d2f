#include "adapters/anthropic.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>

#include "adapters/json_reading.hpp"
#include "core/chat_request.hpp"
#include "core/json_cursor.hpp"
#include "core/utf8.hpp"

namespace switchyard::adapters {

using namespace std::string_view_literals;

namespace json = boost::json;

namespace {

// How much of a non-Anthropic error body becomes the message: enough for a short reason or an
// HTML page's title.
constexpr std::size_t kQuotedBodyLimit = 500;
// Anthropic refuses smaller thinking budgets.
constexpr std::int64_t kMinThinkingBudget = 1024;

// ---- reading JSON ---------------------------------------------------------------------------

std::optional<std::int64_t> as_int(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (d >= -9.0e18 && d <= 9.0e18 && static_cast<double>(static_cast<std::int64_t>(d)) == d) {
      return static_cast<std::int64_t>(d);
    }
  }
  return std::nullopt;
}

// Boost.JSON 1.81 reads a literal beyond a double's range as infinity (1e400) or, for a zero
// with a huge exponent (0e400), NaN, and would write either back as a token JSON lacks.
std::optional<double> as_number(const json::value& v) {
  if (v.is_double()) {
    if (!std::isfinite(v.get_double())) return std::nullopt;
    return v.get_double();
  }
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

// A tool call's arguments as the object Anthropic wants: anything else (invalid JSON, an empty
// string, an array) becomes {} rather than a 400 for the whole conversation.
json::object arguments_object(std::string_view arguments) {
  auto parsed = parse_json(arguments);
  if (parsed && parsed->is_object()) return std::move(parsed->get_object());
  return {};
}

// ---- small shared pieces ----------------------------------------------------------------------

// Anthropic accepts tool ids matching ^[a-zA-Z0-9_-]+$ only; other protocols' ids (Gemini's,
// some OpenAI-compatible servers') may hold dots or colons. The mapping is a pure function of
// the id, so a call and the result that answers it still match.
std::string sanitize_tool_id(std::string_view id) {
  if (id.empty()) return "toolu_unknown";
  std::string out(id);
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

std::string message_id(std::string_view id) {
  if (id.empty()) return random_id("msg_");
  if (id.starts_with("msg_")) return std::string(id);
  return "msg_" + std::string(id);
}

FinishReason finish_from_stop_reason(std::string_view stop_reason) {
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") {
    return FinishReason::length;
  }
  if (stop_reason == "tool_use") return FinishReason::tool_calls;
  if (stop_reason == "refusal") return FinishReason::content_filter;
  return FinishReason::stop;  // end_turn, stop_sequence, pause_turn and anything new
}

std::string_view stop_reason_from_finish(FinishReason finish, std::string_view stop_sequence) {
  switch (finish) {
    case FinishReason::length:
      return "max_tokens";
    case FinishReason::tool_calls:
      return "tool_use";
    case FinishReason::content_filter:
      return "refusal";
    case FinishReason::stop:
    case FinishReason::none:
      break;
  }
  return stop_sequence.empty() ? "end_turn" : "stop_sequence";
}

// Anthropic's input_tokens excludes cache reads and writes; canonical prompt_tokens includes them.
// `cache_creation_1h` is the part of the writes that went to the 1-hour cache.
core::Usage usage_from_anthropic(std::int64_t input, std::int64_t cache_creation,
                                 std::int64_t cache_creation_1h, std::int64_t cache_read,
                                 std::int64_t output) {
  core::Usage u;
  u.prompt_tokens = input + cache_creation + cache_read;
  u.cached_prompt_tokens = cache_read;
  u.cache_creation_tokens = cache_creation;
  u.cache_creation_1h_tokens = std::min(cache_creation_1h, cache_creation);
  u.completion_tokens = output;
  return u;
}

// The writes by cache lifetime (`cache_creation: {ephemeral_5m_input_tokens,
// ephemeral_1h_input_tokens}`), when the usage object has them: sets `one_hour`, and raises
// `total` (from cache_creation_input_tokens) to their sum if it was less.
void read_cache_creation(UpstreamReader& r, const json::object& usage, const JsonPath& at,
                         std::int64_t& total, std::int64_t& one_hour) {
  const json::object* breakdown = r.object(usage, "cache_creation", at);
  if (!breakdown) return;
  const JsonPath breakdown_at = at.member("cache_creation");
  const std::int64_t five_minutes = r.count(*breakdown, "ephemeral_5m_input_tokens", breakdown_at);
  one_hour = r.count(*breakdown, "ephemeral_1h_input_tokens", breakdown_at);
  total = std::max(total, core::token_count(five_minutes + one_hour));
}

// A provider's usage object at `at`, its counts' types checked by `r`.
core::Usage usage_from_anthropic(UpstreamReader& r, const json::object& usage, const JsonPath& at) {
  std::int64_t cache_creation = r.count(usage, "cache_creation_input_tokens", at);
  std::int64_t cache_creation_1h = 0;
  read_cache_creation(r, usage, at, cache_creation, cache_creation_1h);
  return usage_from_anthropic(r.count(usage, "input_tokens", at), cache_creation, cache_creation_1h,
                              r.count(usage, "cache_read_input_tokens", at),
                              r.count(usage, "output_tokens", at));
}

// For pass-through, where the gateway only counts: a count of the wrong type counts as absent.
core::Usage usage_from_anthropic(const json::object& usage) {
  UpstreamReader lenient;
  return usage_from_anthropic(lenient, usage, JsonPath());
}

std::int64_t anthropic_input_tokens(const core::Usage& u) {
  return std::max<std::int64_t>(0,
                                u.prompt_tokens - u.cached_prompt_tokens - u.cache_creation_tokens);
}

// The members of a streamed usage object after input_tokens: cache writes, cache reads and
// output, the same in message_start and message_delta.
void append_usage_after_input(const core::Usage& u, std::string& out) {
  using namespace std::string_view_literals;
  out += ",\"cache_creation_input_tokens\":"sv;
  core::append_json_int(out, u.cache_creation_tokens);
  out += ",\"cache_read_input_tokens\":"sv;
  core::append_json_int(out, u.cached_prompt_tokens);
  out += ",\"output_tokens\":"sv;
  core::append_json_int(out, u.completion_tokens);
}

json::object usage_to_anthropic(const core::Usage& u) {
  json::object out;
  out["input_tokens"] = anthropic_input_tokens(u);
  out["cache_creation_input_tokens"] = u.cache_creation_tokens;
  out["cache_read_input_tokens"] = u.cached_prompt_tokens;
  out["output_tokens"] = u.completion_tokens;
  return out;
}

// Overwrites the fields an Anthropic usage object carries (message_delta's usage is cumulative:
// a present field replaces, an absent one keeps the earlier value). `r` checks the counts'
// types; the object sits at `at`.
core::Usage merge_anthropic_usage(UpstreamReader& r, const core::Usage& before,
                                  const json::object& usage, const JsonPath& at) {
  std::int64_t input = anthropic_input_tokens(before);
  std::int64_t cache_creation = before.cache_creation_tokens;
  std::int64_t cache_creation_1h = before.cache_creation_1h_tokens;
  std::int64_t cache_read = before.cached_prompt_tokens;
  std::int64_t output = before.completion_tokens;
  const auto take = [&](std::string_view key, std::int64_t& field) {
    if (auto n = r.integer(usage, key, at)) field = core::token_count(*n);
  };
  take("input_tokens", input);
  take("cache_creation_input_tokens", cache_creation);
  take("cache_read_input_tokens", cache_read);
  take("output_tokens", output);
  read_cache_creation(r, usage, at, cache_creation, cache_creation_1h);
  core::Usage merged =
      usage_from_anthropic(input, cache_creation, cache_creation_1h, cache_read, output);
  merged.reasoning_tokens = before.reasoning_tokens;
  return merged;
}

// For pass-through, where the gateway only counts: a count of the wrong type counts as absent.
core::Usage merge_anthropic_usage(const core::Usage& before, const json::object& usage) {
  UpstreamReader lenient;
  return merge_anthropic_usage(lenient, before, usage, JsonPath());
}

core::GatewayError upstream_error(int status, std::string message, std::string code) {
  // client_error picks the OpenAI-style type for the status; the rest says where it came from.
  core::GatewayError e = core::client_error(status, std::move(message), {}, std::move(code));
  e.source = core::ErrorSource::upstream;
  return e;
}

// The first `limit` bytes, not cutting a UTF-8 sequence in half.
std::string_view truncate_utf8(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// ---- request decoding -------------------------------------------------------------------------

core::Failure<core::GatewayError> bad_request(std::string message, std::string param = {}) {
  return core::fail(core::client_error(400, std::move(message), std::move(param)));
}

std::string path(std::string_view base, std::size_t index) {
  return std::string(base) + "." + std::to_string(index);
}

// A failure while reading one part of the request: message and param.
struct DecodeError {
  std::string message;
  std::string param;
};

std::optional<DecodeError> decode_image(const json::object& block, const std::string& where,
                                        Image& image) {
  const json::value* source = member(block, "source");
  if (!source || !source->is_object())
    return DecodeError{"image block needs a source object", where};
  const json::object& src = source->get_object();
  const std::string type = string_or_empty(src, "type");
  if (type == "base64") {
    image.media_type = string_or_empty(src, "media_type");
    image.data = string_or_empty(src, "data");
    if (image.data.empty())
      return DecodeError{"base64 image source needs data", where + ".source.data"};
    return std::nullopt;
  }
  if (type == "url") {
    image.url = string_or_empty(src, "url");
    if (image.url.empty())
      return DecodeError{"url image source needs a url", where + ".source.url"};
    return std::nullopt;
  }
  return DecodeError{"unsupported image source type '" + type + "'", where + ".source.type"};
}

// A tool_result's content: a string, or blocks whose text is joined and whose images are kept.
// Any other block (Claude Code's tool_reference, say) contributes its text if it has one, so
// the result still exists and still answers its call.
std::optional<DecodeError> decode_tool_result(const json::object& block, const std::string& where,
                                              Part& part) {
  part.kind = Part::Kind::tool_result;
  const json::value* id = member(block, "tool_use_id");
  if (!id || !id->is_string())
    return DecodeError{"tool_result needs a tool_use_id", where + ".tool_use_id"};
  part.id = std::string(id->get_string());
  if (const json::value* e = member(block, "is_error"); e && e->is_bool())
    part.is_error = e->get_bool();
  const json::value* content = member(block, "content");
  if (!content || content->is_null()) return std::nullopt;
  if (content->is_string()) {
    part.text = std::string(content->get_string());
    return std::nullopt;
  }
  if (!content->is_array())
    return DecodeError{"tool_result content must be a string or an array", where + ".content"};
  const json::array& blocks = content->get_array();
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (!blocks[i].is_object()) continue;
    const json::object& inner = blocks[i].get_object();
    if (string_or_empty(inner, "type") == "image") {
      Image image;
      if (auto error = decode_image(inner, path(where + ".content", i), image)) return error;
      part.images.push_back(std::move(image));
      continue;
    }
    const json::value* text = member(inner, "text");
    if (!text || !text->is_string()) continue;
    if (!part.text.empty()) part.text.push_back('\n');
    part.text.append(text->get_string());
  }
  return std::nullopt;
}

// One message of the request. A user turn's tool_result blocks become tool messages placed
// before the rest of the turn, which is how every other protocol orders them.
std::optional<DecodeError> decode_message(const json::object& message, const std::string& where,
                                          std::unordered_map<std::string, std::string>& call_names,
                                          std::vector<Message>& out) {
  const std::string role = string_or_empty(message, "role");
  Message turn;
  if (role == "user") {
    turn.role = Message::Role::user;
  } else if (role == "assistant") {
    turn.role = Message::Role::assistant;
  } else if (role == "system") {
    turn.role = Message::Role::system;
  } else {
    return DecodeError{"role must be 'user' or 'assistant'", where + ".role"};
  }
  const json::value* content = member(message, "content");
  if (!content) return DecodeError{"message needs content", where + ".content"};
  if (content->is_string()) {
    Part part;
    part.text = std::string(content->get_string());
    turn.parts.push_back(std::move(part));
    out.push_back(std::move(turn));
    return std::nullopt;
  }
  if (!content->is_array())
    return DecodeError{"content must be a string or an array of blocks", where + ".content"};

  const json::array& blocks = content->get_array();
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string at = path(where + ".content", i);
    if (!blocks[i].is_object()) return DecodeError{"content block must be an object", at};
    const json::object& block = blocks[i].get_object();
    const std::string type = string_or_empty(block, "type");
    Part part;
    if (type == "text") {
      const json::value* text = member(block, "text");
      if (!text || !text->is_string())
        return DecodeError{"text block needs a text string", at + ".text"};
      part.text = std::string(text->get_string());
    } else if (type == "image") {
      part.kind = Part::Kind::image;
      if (auto error = decode_image(block, at, part.image)) return error;
    } else if (type == "tool_use") {
      part.kind = Part::Kind::tool_call;
      part.id = string_or_empty(block, "id");
      part.name = string_or_empty(block, "name");
      if (part.id.empty()) return DecodeError{"tool_use block needs an id", at + ".id"};
      if (part.name.empty()) return DecodeError{"tool_use block needs a name", at + ".name"};
      const json::value* input = member(block, "input");
      part.arguments = input && !input->is_null() ? json::serialize(*input) : "{}";
      call_names[part.id] = part.name;
    } else if (type == "tool_result") {
      if (auto error = decode_tool_result(block, at, part)) return error;
      if (auto it = call_names.find(part.id); it != call_names.end()) part.name = it->second;
      Message tool;
      tool.role = Message::Role::tool;
      tool.parts.push_back(std::move(part));
      out.push_back(std::move(tool));
      continue;
    } else if (type == "thinking") {
      part.kind = Part::Kind::thinking;
      part.text = string_or_empty(block, "thinking");
      part.signature = string_or_empty(block, "signature");
    } else if (type == "redacted_thinking") {
      part.kind = Part::Kind::redacted_thinking;
      part.signature = string_or_empty(block, "data");
    } else {
      // Server-tool blocks, documents and future types have no canonical form.
      continue;
    }
    turn.parts.push_back(std::move(part));
  }
  if (!turn.parts.empty() || blocks.empty()) out.push_back(std::move(turn));
  return std::nullopt;
}

std::optional<DecodeError> decode_tools(const json::value& value, Request& request) {
  if (!value.is_array()) return DecodeError{"tools must be an array", "tools"};
  const json::array& tools = value.get_array();
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const std::string at = path("tools", i);
    if (!tools[i].is_object()) return DecodeError{"tool must be an object", at};
    const json::object& tool = tools[i].get_object();
    // Server tools (web_search_20250305, bash_..., ...) run at Anthropic; nobody else has them.
    const std::string type = string_or_empty(tool, "type");
    if (!type.empty() && type != "custom") continue;
    Tool t;
    t.name = string_or_empty(tool, "name");
    if (t.name.empty()) return DecodeError{"tool needs a name", at + ".name"};
    t.description = string_or_empty(tool, "description");
    if (const json::value* schema = member(tool, "input_schema"); schema && schema->is_object()) {
      t.parameters = json::serialize(*schema);
    }
    request.tools.push_back(std::move(t));
  }
  return std::nullopt;
}

std::optional<DecodeError> decode_tool_choice(const json::value& value, Request& request) {
  if (!value.is_object()) return DecodeError{"tool_choice must be an object", "tool_choice"};
  const json::object& choice = value.get_object();
  const std::string type = string_or_empty(choice, "type");
  if (type == "auto") {
    request.tool_choice.mode = ToolChoice::Mode::automatic;
  } else if (type == "any") {
    request.tool_choice.mode = ToolChoice::Mode::required;
  } else if (type == "none") {
    request.tool_choice.mode = ToolChoice::Mode::none;
  } else if (type == "tool") {
    request.tool_choice.mode = ToolChoice::Mode::named;
    request.tool_choice.name = string_or_empty(choice, "name");
    if (request.tool_choice.name.empty())
      return DecodeError{"tool_choice of type 'tool' needs a name", "tool_choice.name"};
  } else {
    return DecodeError{"tool_choice.type must be auto, any, tool or none", "tool_choice.type"};
  }
  if (const json::value* d = member(choice, "disable_parallel_tool_use");
      d && d->is_bool() && d->get_bool()) {
    request.parallel_tool_calls = false;
  }
  return std::nullopt;
}

std::optional<DecodeError> decode_system(const json::value& value, Request& request) {
  Message system;
  system.role = Message::Role::system;
  if (value.is_string()) {
    Part part;
    part.text = std::string(value.get_string());
    system.parts.push_back(std::move(part));
  } else if (value.is_array()) {
    const json::array& blocks = value.get_array();
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      const json::object* block = blocks[i].if_object();
      const json::value* text = block ? member(*block, "text") : nullptr;
      if (!text || !text->is_string())
        return DecodeError{"system blocks must be text blocks", path("system", i)};
      Part part;
      part.text = std::string(text->get_string());
      system.parts.push_back(std::move(part));
    }
  } else if (!value.is_null()) {
    return DecodeError{"system must be a string or an array of text blocks", "system"};
  }
  if (!system.parts.empty()) request.messages.push_back(std::move(system));
  return std::nullopt;
}

std::optional<DecodeError> decode_sampling(const json::object& body, Request& request) {
  if (const json::value* v = member(body, "max_tokens"); v && !v->is_null()) {
    request.max_tokens = as_int(*v);
    if (!request.max_tokens || *request.max_tokens < 0)
      return DecodeError{"max_tokens must be a non-negative integer", "max_tokens"};
  }
  if (const json::value* v = member(body, "temperature"); v && !v->is_null()) {
    request.temperature = as_number(*v);
    if (!request.temperature)
      return DecodeError{"temperature must be a number (within a double's range)", "temperature"};
  }
  if (const json::value* v = member(body, "top_p"); v && !v->is_null()) {
    request.top_p = as_number(*v);
    if (!request.top_p)
      return DecodeError{"top_p must be a number (within a double's range)", "top_p"};
  }
  if (const json::value* v = member(body, "top_k"); v && !v->is_null()) {
    request.top_k = as_int(*v);
    if (!request.top_k) return DecodeError{"top_k must be an integer", "top_k"};
  }
  if (const json::value* v = member(body, "stop_sequences"); v && !v->is_null()) {
    if (!v->is_array())
      return DecodeError{"stop_sequences must be an array of strings", "stop_sequences"};
    for (const json::value& s : v->get_array()) {
      if (!s.is_string())
        return DecodeError{"stop_sequences must be an array of strings", "stop_sequences"};
      request.stop.emplace_back(s.get_string());
    }
  }
  if (const json::value* v = member(body, "stream"); v && !v->is_null()) {
    if (!v->is_bool()) return DecodeError{"stream must be a boolean", "stream"};
    request.stream = v->get_bool();
  }
  if (const json::value* v = member(body, "metadata"); v && v->is_object()) {
    request.user = string_or_empty(v->get_object(), "user_id");
  }
  if (const json::value* v = member(body, "thinking"); v && v->is_object()) {
    const json::object& thinking = v->get_object();
    const std::string type = string_or_empty(thinking, "type");
    if (type == "enabled") {
      const json::value* budget = member(thinking, "budget_tokens");
      request.thinking_budget = budget ? as_int(*budget) : std::nullopt;
      if (!request.thinking_budget)
        return DecodeError{"thinking.budget_tokens must be an integer", "thinking.budget_tokens"};
    } else if (type == "adaptive") {
      // The model decides how much to think; "medium" is the neutral effort elsewhere.
      request.reasoning_effort = "medium";
    }
  }
  return std::nullopt;
}

// ---- request encoding -------------------------------------------------------------------------

json::object image_block(const Image& image) {
  json::object source;
  if (!image.data.empty()) {
    source["type"] = "base64";
    source["media_type"] = image.media_type.empty() ? "image/png" : image.media_type;
    source["data"] = image.data;
  } else {
    source["type"] = "url";
    source["url"] = image.url;
  }
  json::object block;
  block["type"] = "image";
  block["source"] = std::move(source);
  return block;
}

json::object tool_result_block(const Part& part) {
  json::object block;
  block["type"] = "tool_result";
  block["tool_use_id"] = sanitize_tool_id(part.id);
  if (part.images.empty()) {
    if (!part.text.empty()) block["content"] = part.text;
  } else {
    json::array content;
    if (!part.text.empty()) content.push_back(json::object{{"type", "text"}, {"text", part.text}});
    for (const Image& image : part.images) content.push_back(image_block(image));
    block["content"] = std::move(content);
  }
  if (part.is_error) block["is_error"] = true;
  return block;
}

// Content blocks of one canonical message, in Anthropic's terms.
json::array content_blocks(const Message& message) {
  json::array blocks;
  for (const Part& part : message.parts) {
    switch (part.kind) {
      case Part::Kind::text:
        // Anthropic rejects empty text blocks with a 400.
        if (!part.text.empty())
          blocks.push_back(json::object{{"type", "text"}, {"text", part.text}});
        break;
      case Part::Kind::image:
        if (message.role != Message::Role::assistant) blocks.push_back(image_block(part.image));
        break;
      case Part::Kind::tool_call: {
        json::object block;
        block["type"] = "tool_use";
        block["id"] = sanitize_tool_id(part.id);
        block["name"] = part.name;
        block["input"] = arguments_object(part.arguments);
        blocks.push_back(std::move(block));
        break;
      }
      case Part::Kind::tool_result:
        blocks.push_back(tool_result_block(part));
        break;
      case Part::Kind::thinking:
        // Without its signature Anthropic rejects a thinking block; another provider's
        // reasoning has none, so it stays behind.
        if (!part.signature.empty() && message.role == Message::Role::assistant) {
          blocks.push_back(json::object{
              {"type", "thinking"}, {"thinking", part.text}, {"signature", part.signature}});
        }
        break;
      case Part::Kind::redacted_thinking:
        if (!part.signature.empty() && message.role == Message::Role::assistant) {
          blocks.push_back(json::object{{"type", "redacted_thinking"}, {"data", part.signature}});
        }
        break;
    }
  }
  return blocks;
}

bool is_tool_result(const json::value& block) {
  const json::object* o = block.if_object();
  return o && string_or_empty(*o, "type") == "tool_result";
}

// Turns in Anthropic's order: tool messages become user turns, consecutive turns of one role
// are merged, and in a user turn every tool_result comes before anything else.
json::array encode_messages(const std::vector<Message>& messages) {
  json::array turns;
  for (const Message& message : messages) {
    if (message.role == Message::Role::system) continue;
    json::array blocks = content_blocks(message);
    if (blocks.empty()) continue;
    const std::string_view role = message.role == Message::Role::assistant ? "assistant" : "user";
    json::object* last = turns.empty() ? nullptr : turns.back().if_object();
    if (!last || (*last)["role"].as_string() != role) {
      turns.push_back(json::object{{"role", role}, {"content", std::move(blocks)}});
      continue;
    }
    json::array& content = (*last)["content"].as_array();
    for (json::value& block : blocks) {
      if (is_tool_result(block)) {
        auto after_results = std::find_if_not(content.begin(), content.end(), is_tool_result);
        content.insert(after_results, std::move(block));
      } else {
        content.push_back(std::move(block));
      }
    }
  }
  return turns;
}

json::object input_schema(const Tool& tool) {
  if (tool.freeform) {
    return json::object{{"type", "object"},
                        {"properties", json::object{{"input", json::object{{"type", "string"}}}}},
                        {"required", json::array{"input"}}};
  }
  auto parsed = parse_json(tool.parameters);
  if (!parsed || !parsed->is_object()) {
    return json::object{{"type", "object"}, {"properties", json::object{}}};
  }
  json::object schema = std::move(parsed->get_object());
  // Anthropic requires the schema's type; OpenAI clients often send {} for no parameters.
  if (!schema.contains("type")) schema["type"] = "object";
  return schema;
}

}  // namespace

Decoded<Request> decode_messages_request(std::string_view body) {
  const ScratchDocument doc(body);
  if (!doc.value() || !doc.value()->is_object())
    return bad_request("request body must be a JSON object");
  const json::object& root = doc.value()->get_object();

  Request request;
  const json::value* model = member(root, "model");
  if (!model || !model->is_string() || model->get_string().empty()) {
    return bad_request("model: field required", "model");
  }
  request.model = std::string(model->get_string());

  if (const json::value* system = member(root, "system")) {
    if (auto error = decode_system(*system, request))
      return bad_request(error->message, error->param);
  }
  const json::value* messages = member(root, "messages");
  if (!messages || !messages->is_array())
    return bad_request("messages: field required (an array)", "messages");
  std::unordered_map<std::string, std::string> call_names;
  const json::array& list = messages->get_array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = path("messages", i);
    if (!list[i].is_object()) return bad_request("message must be an object", at);
    if (auto error = decode_message(list[i].get_object(), at, call_names, request.messages)) {
      return bad_request(error->message, error->param);
    }
  }
  if (const json::value* tools = member(root, "tools"); tools && !tools->is_null()) {
    if (auto error = decode_tools(*tools, request))
      return bad_request(error->message, error->param);
  }
  if (const json::value* choice = member(root, "tool_choice"); choice && !choice->is_null()) {
    if (auto error = decode_tool_choice(*choice, request))
      return bad_request(error->message, error->param);
  }
  if (auto error = decode_sampling(root, request)) return bad_request(error->message, error->param);
  return request;
}

namespace {

// The thinking budget to send, or none when Anthropic would refuse the request over it.
std::optional<std::int64_t> fitted_thinking_budget(const Request& request) {
  if (!request.thinking_budget) return std::nullopt;
  std::int64_t budget = *request.thinking_budget;
  // A client's own limit covers thinking and answer together (as OpenAI's does): thinking
  // may take at most half of it.
  if (request.max_tokens) budget = std::min(budget, *request.max_tokens / 2);
  if (budget < kMinThinkingBudget) return std::nullopt;
  // "Thinking may not be enabled when tool_choice forces tool use."
  if (request.tool_choice.mode == ToolChoice::Mode::required ||
      request.tool_choice.mode == ToolChoice::Mode::named) {
    return std::nullopt;
  }
  // With thinking on, the assistant turn a tool result answers must start with its thinking
  // block, which clients of other protocols never send back: such a turn goes without.
  for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it) {
    if (it->role != Message::Role::assistant) continue;
    bool calls_tool = false, has_thinking = false;
    for (const Part& p : it->parts) {
      calls_tool = calls_tool || p.kind == Part::Kind::tool_call;
      has_thinking =
          has_thinking || p.kind == Part::Kind::thinking || p.kind == Part::Kind::redacted_thinking;
    }
    if (calls_tool && !has_thinking) return std::nullopt;
    break;
  }
  return budget;
}

}  // namespace

std::string encode_messages_request(const Request& request, std::string_view upstream_model,
                                    std::int64_t default_max_tokens) {
  json::object body;
  body["model"] = upstream_model;
  std::int64_t max_tokens = request.max_tokens.value_or(default_max_tokens);
  const std::optional<std::int64_t> thinking_budget = fitted_thinking_budget(request);
  // Without a client limit, thinking comes on top of the default room for the answer.
  if (thinking_budget && !request.max_tokens) max_tokens += *thinking_budget;
  body["max_tokens"] = max_tokens;

  std::string system;
  for (const Message& message : request.messages) {
    if (message.role != Message::Role::system) continue;
    for (const Part& part : message.parts) {
      if (part.kind != Part::Kind::text || part.text.empty()) continue;
      if (!system.empty()) system.append("\n\n");
      system.append(part.text);
    }
  }
  if (!system.empty()) body["system"] = system;
  body["messages"] = encode_messages(request.messages);

  if (!request.tools.empty()) {
    json::array tools;
    for (const Tool& tool : request.tools) {
      json::object t;
      t["name"] = tool.name;
      if (!tool.description.empty()) t["description"] = tool.description;
      t["input_schema"] = input_schema(tool);
      tools.push_back(std::move(t));
    }
    body["tools"] = std::move(tools);

    // Anthropic rejects tool_choice without tools, so it goes only with them.
    json::object choice;
    switch (request.tool_choice.mode) {
      case ToolChoice::Mode::automatic:
        choice["type"] = "auto";
        break;
      case ToolChoice::Mode::required:
        choice["type"] = "any";
        break;
      case ToolChoice::Mode::named:
        choice["type"] = "tool";
        choice["name"] = request.tool_choice.name;
        break;
      case ToolChoice::Mode::none:
        choice["type"] = "none";
        break;
      case ToolChoice::Mode::unset:
        if (request.parallel_tool_calls == false) choice["type"] = "auto";
        break;
    }
    if (request.parallel_tool_calls == false &&
        request.tool_choice.mode != ToolChoice::Mode::none) {
      choice["disable_parallel_tool_use"] = true;
    }
    if (!choice.empty()) body["tool_choice"] = std::move(choice);
  }

  const bool thinking = thinking_budget.has_value();
  // With thinking on, Anthropic accepts no temperature other than 1, no top_k and only a top_p
  // of at least 0.95; sending them would turn the whole request into a 400.
  if (request.temperature && !thinking)
    body["temperature"] = std::clamp(*request.temperature, 0.0, 1.0);
  if (request.top_p && (!thinking || *request.top_p >= 0.95)) body["top_p"] = *request.top_p;
  if (request.top_k && !thinking) body["top_k"] = *request.top_k;
  if (!request.stop.empty()) {
    json::array stops;
    for (const std::string& s : request.stop) stops.emplace_back(s);
    body["stop_sequences"] = std::move(stops);
  }
  if (request.stream) body["stream"] = true;
  if (!request.user.empty()) body["metadata"] = json::object{{"user_id", request.user}};
  if (thinking) {
    body["thinking"] = json::object{{"type", "enabled"}, {"budget_tokens", *thinking_budget}};
  }
  return json::serialize(body);
}

Decoded<Response> decode_messages_response(std::string_view body) {
  const ScratchDocument doc(body);
  if (!doc.value()) return core::fail(bad_upstream_answer("the Messages response is not JSON"));
  if (!doc.value()->is_object()) {
    return core::fail(bad_upstream_answer("the Messages response must be a JSON object, not " +
                                          std::string(json_kind_name(*doc.value()))));
  }
  const json::object& root = doc.value()->get_object();
  UpstreamReader r;
  const JsonPath at;
  Response response;
  response.id = r.string_or_empty(root, "id", at);
  response.model = r.string_or_empty(root, "model", at);
  // Anthropic always sends content (empty when the model said nothing): an answer without it
  // is not one, and must not reach the client as an empty success.
  if (!member(root, "content"))
    return core::fail(bad_upstream_answer("the Messages response has no 'content'"));
  if (const json::array* content = r.array(root, "content", at)) {
    const JsonPath content_at = at.member("content");
    for (std::size_t i = 0; i < content->size() && r.ok(); ++i) {
      const JsonPath block_at = content_at.element(i);
      const json::object* block = r.element_object((*content)[i], block_at);
      if (!block) break;
      const json::string* type = r.string(*block, "type", block_at);
      if (!type) {
        r.refuse(block_at.member("type"), "is required");
        break;
      }
      Part part;
      if (*type == "text") {
        part.text = r.string_or_empty(*block, "text", block_at);
      } else if (*type == "tool_use") {
        part.kind = Part::Kind::tool_call;
        part.id = r.string_or_empty(*block, "id", block_at);
        part.name = r.string_or_empty(*block, "name", block_at);
        const json::object* input = r.object(*block, "input", block_at);
        part.arguments = input ? json::serialize(*input) : "{}";
      } else if (*type == "thinking") {
        part.kind = Part::Kind::thinking;
        part.text = r.string_or_empty(*block, "thinking", block_at);
        part.signature = r.string_or_empty(*block, "signature", block_at);
      } else if (*type == "redacted_thinking") {
        part.kind = Part::Kind::redacted_thinking;
        part.signature = r.string_or_empty(*block, "data", block_at);
      } else {
        continue;  // server tools' blocks and anything new: nothing to translate
      }
      response.content.push_back(std::move(part));
    }
  }
  response.finish = finish_from_stop_reason(r.string_or_empty(root, "stop_reason", at));
  response.stop_sequence = r.string_or_empty(root, "stop_sequence", at);
  if (const json::object* usage = r.object(root, "usage", at)) {
    response.usage = usage_from_anthropic(r, *usage, at.member("usage"));
  }
  if (!r.ok()) return core::fail(bad_upstream_answer(r.error()));
  return response;
}

std::string encode_messages_response(const Response& response) {
  json::array content;
  for (const Part& part : response.content) {
    switch (part.kind) {
      case Part::Kind::text:
        if (!part.text.empty())
          content.push_back(json::object{{"type", "text"}, {"text", part.text}});
        break;
      case Part::Kind::tool_call:
        content.push_back(
            json::object{{"type", "tool_use"},
                         {"id", part.id.empty() ? random_id("toolu_") : sanitize_tool_id(part.id)},
                         {"name", part.name},
                         {"input", arguments_object(part.arguments)}});
        break;
      case Part::Kind::thinking:
        content.push_back(json::object{
            {"type", "thinking"}, {"thinking", part.text}, {"signature", part.signature}});
        break;
      case Part::Kind::redacted_thinking:
        content.push_back(json::object{{"type", "redacted_thinking"}, {"data", part.signature}});
        break;
      case Part::Kind::image:
      case Part::Kind::tool_result:
        break;
    }
  }
  json::object body;
  body["id"] = message_id(response.id);
  body["type"] = "message";
  body["role"] = "assistant";
  body["model"] = response.model;
  body["content"] = std::move(content);
  const std::string_view stop_reason =
      stop_reason_from_finish(response.finish, response.stop_sequence);
  body["stop_reason"] = stop_reason;
  body["stop_sequence"] =
      stop_reason == "stop_sequence" ? json::value(response.stop_sequence) : json::value(nullptr);
  body["usage"] = usage_to_anthropic(response.usage.value_or(core::Usage{}));
  return json::serialize(body);
}

std::string to_anthropic_error_body(const core::GatewayError& error) {
  json::object inner;
  inner["type"] = core::anthropic_error_type(error.status);
  inner["message"] = core::valid_utf8(error.message);
  return json::serialize(json::object{{"type", "error"}, {"error", std::move(inner)}});
}

core::GatewayError decode_messages_error(int status, std::string_view body) {
  if (auto parsed = parse_json(body); parsed && parsed->is_object()) {
    const json::value* error = member(parsed->get_object(), "error");
    if (error && error->is_object()) {
      std::string message = string_or_empty(error->get_object(), "message");
      std::string type = string_or_empty(error->get_object(), "type");
      if (!message.empty() || !type.empty()) {
        if (type.empty()) type = std::string(core::anthropic_error_type(status));
        return upstream_error(status, std::move(message), std::move(type));
      }
    }
  }
  std::string message = body.empty() ? "Upstream returned HTTP " + std::to_string(status)
                                     : core::valid_utf8(truncate_utf8(body, kQuotedBodyLimit));
  return upstream_error(status, std::move(message),
                        std::string(core::anthropic_error_type(status)));
}

// ---- stream decoding --------------------------------------------------------------------------

namespace {

class MessagesStreamDecoder final : public StreamDecoder {
 public:
  void on_event(const core::SseEvent& event, std::vector<StreamEvent>& out) override {
    if (failed_) return;
    if (event.type == "content_block_delta" && on_common_delta(event.data, out)) return;
    const EventDocument doc(event.data);
    if (!doc.value()) return;
    if (!doc.object()) {
      fail("an event must be a JSON object, not " + std::string(json_kind_name(*doc.value())),
           out.size(), out);
      return;
    }
    const json::object& data = *doc.object();
    // The general reader: every type checked. What it emits before a wrong field is taken
    // back, so the client sees the error in its place.
    const std::size_t mark = out.size();
    UpstreamReader r;
    const JsonPath at;
    const json::string* type_member = r.string(data, "type", at);
    const std::string_view type =
        type_member && !type_member->empty() ? std::string_view(*type_member) : event.type;

    if (type == "message_start") {
      on_message_start(r, data, out);
    } else if (type == "content_block_start") {
      on_block_start(r, data, out);
    } else if (type == "content_block_delta") {
      on_block_delta(r, data, out);
    } else if (type == "message_delta") {
      on_message_delta(r, data, out);
    } else if (type == "message_stop") {
      stopped_ = true;
    } else if (type == "error") {
      // The provider's own failure is reported as it is, however its fields are typed.
      on_error(data, out);
      failed_ = true;
      return;
    }
    // ping, content_block_stop and unknown events carry nothing to translate.
    if (!r.ok()) fail(r.error(), mark, out);
  }

  // message_stop is the last event of every Messages stream: without it the answer was cut.
  void on_end(std::vector<StreamEvent>& out) override {
    if (failed_ || stopped_) return;
    failed_ = true;
    push_stream_error(out, truncated_upstream_stream());
  }

 private:
  void on_message_start(UpstreamReader& r, const json::object& data,
                        std::vector<StreamEvent>& out) {
    const JsonPath at;
    const json::object* message = r.object(data, "message", at);
    if (!message) return;
    const json::object& m = *message;
    const JsonPath message_at = at.member("message");
    StreamEvent start;
    start.kind = StreamEvent::Kind::start;
    start.id = r.string_or_empty(m, "id", message_at);
    start.model = r.string_or_empty(m, "model", message_at);
    out.push_back(std::move(start));
    if (const json::object* usage = r.object(m, "usage", message_at)) {
      usage_ = merge_anthropic_usage(r, usage_, *usage, message_at.member("usage"));
      emit_usage(out);
    }
  }

  void on_block_start(UpstreamReader& r, const json::object& data, std::vector<StreamEvent>& out) {
    const JsonPath at;
    const std::optional<std::int64_t> index = r.integer(data, "index", at);
    const json::object* block = r.object(data, "content_block", at);
    if (!index || !block) return;
    const json::object& b = *block;
    const JsonPath block_at = at.member("content_block");
    const json::string* type = r.string(b, "type", block_at);
    if (!type) {
      r.refuse(block_at.member("type"), "is required");
      return;
    }
    if (*type == "text") {
      push_text(StreamEvent::Kind::text, r.string_or_empty(b, "text", block_at), out);
    } else if (*type == "thinking") {
      push_text(StreamEvent::Kind::thinking, r.string_or_empty(b, "thinking", block_at), out);
      push_text(StreamEvent::Kind::thinking_signature, r.string_or_empty(b, "signature", block_at),
                out);
    } else if (*type == "tool_use") {
      const int tool_index = next_tool_index_++;
      tool_blocks_[*index] = tool_index;
      StreamEvent start;
      start.kind = StreamEvent::Kind::tool_call_start;
      start.index = tool_index;
      start.id = r.string_or_empty(b, "id", block_at);
      start.name = r.string_or_empty(b, "name", block_at);
      // Anthropic sends input:{} and then the arguments as deltas; a non-empty object here is
      // the whole input already.
      if (const json::object* input = r.object(b, "input", block_at); input && !input->empty()) {
        start.text = json::serialize(*input);
      }
      out.push_back(std::move(start));
    }
  }

  // Deltas are almost every event of a stream: read them in one pass with a JsonCursor, several
  // times cheaper than a DOM per event (callgrind). Anything unexpected returns false with
  // nothing changed, and the general reader takes the event.
  bool on_common_delta(std::string_view data, std::vector<StreamEvent>& out) {
    thread_local std::string scratch;
    core::JsonCursor cursor(data, scratch);
    std::int64_t index = 0;
    bool has_index = false, has_delta = false;
    std::string_view event_type = "content_block_delta", type, text, thinking, signature,
                     partial_json;
    const bool read = cursor.for_each_member([&](std::string_view key) {
      if (core::key_is(key, "index")) {
        has_index = true;
        return cursor.read_int(index);
      }
      // The general reader goes by this type rather than the event's name: read it as it would.
      if (core::key_is(key, "type"))
        return cursor.read_string(event_type) && core::key_is(event_type, "content_block_delta");
      if (!core::key_is(key, "delta")) return true;
      has_delta = true;
      return cursor.for_each_member([&](std::string_view field) {
        if (core::key_is(field, "type")) return cursor.read_string(type);
        if (core::key_is(field, "text")) return cursor.read_string(text);
        if (core::key_is(field, "thinking")) return cursor.read_string(thinking);
        if (core::key_is(field, "signature")) return cursor.read_string(signature);
        if (core::key_is(field, "partial_json")) return cursor.read_string(partial_json);
        return true;
      });
    });
    if (!read) return false;
    if (!cursor.finished() || !has_index || !has_delta) return false;
    if (type == "text_delta") {
      push_text(StreamEvent::Kind::text, text, out);
    } else if (type == "thinking_delta") {
      push_text(StreamEvent::Kind::thinking, thinking, out);
    } else if (type == "signature_delta") {
      push_text(StreamEvent::Kind::thinking_signature, signature, out);
    } else if (type == "input_json_delta") {
      auto tool = tool_blocks_.find(index);
      if (tool == tool_blocks_.end() || partial_json.empty()) return true;
      StreamEvent& e = out.emplace_back();
      e.kind = StreamEvent::Kind::tool_call_delta;
      e.index = tool->second;
      e.text = partial_json;
    } else {
      return false;
    }
    return true;
  }

  void on_block_delta(UpstreamReader& r, const json::object& data, std::vector<StreamEvent>& out) {
    const JsonPath at;
    const std::optional<std::int64_t> index = r.integer(data, "index", at);
    const json::object* delta = r.object(data, "delta", at);
    if (!index || !delta) return;
    const json::object& d = *delta;
    const JsonPath delta_at = at.member("delta");
    const json::string* type = r.string(d, "type", delta_at);
    if (!type) {
      r.refuse(delta_at.member("type"), "is required");
      return;
    }
    if (*type == "text_delta") {
      push_text(StreamEvent::Kind::text, r.string_or_empty(d, "text", delta_at), out);
    } else if (*type == "thinking_delta") {
      push_text(StreamEvent::Kind::thinking, r.string_or_empty(d, "thinking", delta_at), out);
    } else if (*type == "signature_delta") {
      push_text(StreamEvent::Kind::thinking_signature, r.string_or_empty(d, "signature", delta_at),
                out);
    } else if (*type == "input_json_delta") {
      std::string fragment = r.string_or_empty(d, "partial_json", delta_at);
      auto tool = tool_blocks_.find(*index);
      if (tool == tool_blocks_.end() || fragment.empty()) return;
      StreamEvent e;
      e.kind = StreamEvent::Kind::tool_call_delta;
      e.index = tool->second;
      e.text = std::move(fragment);
      out.push_back(std::move(e));
    }
  }

  void on_message_delta(UpstreamReader& r, const json::object& data,
                        std::vector<StreamEvent>& out) {
    const JsonPath at;
    if (const json::object* delta = r.object(data, "delta", at)) {
      const JsonPath delta_at = at.member("delta");
      const json::string* stop_reason = r.string(*delta, "stop_reason", delta_at);
      std::string stop_sequence = r.string_or_empty(*delta, "stop_sequence", delta_at);
      if (stop_reason) {
        StreamEvent finish;
        finish.kind = StreamEvent::Kind::finish;
        finish.finish = finish_from_stop_reason(*stop_reason);
        finish.stop_sequence = std::move(stop_sequence);
        out.push_back(std::move(finish));
      }
    }
    if (const json::object* usage = r.object(data, "usage", at)) {
      usage_ = merge_anthropic_usage(r, usage_, *usage, at.member("usage"));
      emit_usage(out);
    }
  }

  // Ends the stream with an unreadable-answer error in place of what this event emitted from
  // `mark` on; nothing after it is read.
  void fail(const std::string& why, std::size_t mark, std::vector<StreamEvent>& out) {
    out.resize(mark);
    failed_ = true;
    push_stream_error(out, unreadable_upstream_stream(why));
  }

  void on_error(const json::object& data, std::vector<StreamEvent>& out) {
    std::string type = "api_error";
    std::string message = "upstream stream failed";
    if (const json::value* error = member(data, "error"); error && error->is_object()) {
      if (auto t = string_or_empty(error->get_object(), "type"); !t.empty()) type = std::move(t);
      if (auto m = string_or_empty(error->get_object(), "message"); !m.empty())
        message = std::move(m);
    }
    StreamEvent e;
    e.kind = StreamEvent::Kind::error;
    e.error = upstream_error(core::status_for_anthropic_error_type(type), std::move(message), type);
    out.push_back(std::move(e));
  }

  static void push_text(StreamEvent::Kind kind, std::string_view text,
                        std::vector<StreamEvent>& out) {
    if (text.empty()) return;
    StreamEvent& e = out.emplace_back();
    e.kind = kind;
    e.text = text;
  }

  void emit_usage(std::vector<StreamEvent>& out) const {
    StreamEvent e;
    e.kind = StreamEvent::Kind::usage;
    e.usage = usage_;
    out.push_back(std::move(e));
  }

  core::Usage usage_;
  int next_tool_index_ = 0;
  std::unordered_map<std::int64_t, int> tool_blocks_;  // content block index -> tool index
  bool stopped_ = false;                               // message_stop was seen
  bool failed_ = false;                                // an error was emitted: the stream is over
};

// ---- stream encoding --------------------------------------------------------------------------

class MessagesStreamEncoder final : public StreamEncoder {
 public:
  MessagesStreamEncoder(std::string id, std::string model, std::int64_t estimated_input_tokens)
      : id_(std::move(id)),
        model_(std::move(model)),
        estimated_input_tokens_(estimated_input_tokens) {}

  void encode(const StreamEvent& event, std::string& out) override {
    if (done_) return;
    switch (event.kind) {
      case StreamEvent::Kind::start:
        if (id_.empty()) id_ = event.id;
        if (!event.model.empty() && !started_) model_ = event.model;  // the upstream's own id
        ensure_started(out);
        break;
      case StreamEvent::Kind::text:
        if (event.text.empty()) break;
        open_block(Open::text, out);
        delta("text_delta", "text", event.text, out);
        break;
      case StreamEvent::Kind::thinking:
        if (event.text.empty()) break;
        open_block(Open::thinking, out);
        delta("thinking_delta", "thinking", event.text, out);
        break;
      case StreamEvent::Kind::thinking_signature:
        if (event.text.empty()) break;
        open_block(Open::thinking, out);
        delta("signature_delta", "signature", event.text, out);
        break;
      case StreamEvent::Kind::tool_call_start:
        open_tool(event, out);
        break;
      case StreamEvent::Kind::tool_call_delta:
        if (event.text.empty()) break;
        if (open_ == Open::tool && open_tool_ == event.index) {
          delta("input_json_delta", "partial_json", event.text, out);
        } else if (!opened_tools_.contains(event.index)) {
          pending_arguments_[event.index].append(event.text);
        }
        // A fragment for a tool whose block is already closed cannot be placed any more
        // (Anthropic blocks cannot be reopened): the relay orders interleaved calls so that
        // none comes (ToolCallOrder in exchange.cpp).
        break;
      case StreamEvent::Kind::finish:
        finish_ = event.finish;
        stop_sequence_ = event.stop_sequence;
        break;
      case StreamEvent::Kind::usage:
        usage_ = event.usage;
        usage_seen_ = true;
        break;
      case StreamEvent::Kind::error:
        fail(event.error, out);
        break;
    }
  }

  void finish(std::string& out) override {
    if (done_) return;
    ensure_started(out);
    close_block(out);
    const std::string_view stop_reason = stop_reason_from_finish(
        finish_ == FinishReason::none ? FinishReason::stop : finish_, stop_sequence_);
    out += "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"sv;
    core::append_json_string(out, stop_reason);
    out += ",\"stop_sequence\":"sv;
    if (stop_reason == "stop_sequence") {
      core::append_json_string(out, stop_sequence_);
    } else {
      out += "null"sv;
    }
    out += "},\"usage\":{\"input_tokens\":"sv;
    core::append_json_int(out, anthropic_input_tokens(usage_));
    append_usage_after_input(usage_, out);
    out += "}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"sv;
    done_ = true;
  }

  void fail(const core::GatewayError& error, std::string& out) override {
    if (done_) return;
    frame("error",
          json::object{{"type", "error"},
                       {"error", json::object{{"type", core::anthropic_error_type(error.status)},
                                              {"message", core::valid_utf8(error.message)}}}},
          out);
    done_ = true;
  }

 private:
  enum class Open { none, text, thinking, tool };

  static void frame(std::string_view type, const json::object& data, std::string& out) {
    out.append("event: ")
        .append(type)
        .append("\ndata: ")
        .append(json::serialize(data))
        .append("\n\n");
  }

  // The frames of a translated stream are written directly rather than built as a DOM and
  // serialised: that cost more than decoding the upstream's events (callgrind). The member
  // order is the one Anthropic sends.
  void ensure_started(std::string& out) {
    if (started_) return;
    started_ = true;
    out += "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"sv;
    core::append_json_string(out, message_id(id_));
    out += ",\"type\":\"message\",\"role\":\"assistant\",\"model\":"sv;
    core::append_json_string(out, model_);
    // Some clients read the input tokens only here: the upstream's count when it has already
    // given one (Gemini does on its first chunk), else the gateway's estimate of the request.
    out +=
        ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":"sv;
    core::append_json_int(out,
                          usage_seen_ ? anthropic_input_tokens(usage_) : estimated_input_tokens_);
    append_usage_after_input(usage_, out);
    out += "}}}\n\n"sv;
  }

  void close_block(std::string& out) {
    if (open_ == Open::none) return;
    out += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"sv;
    core::append_json_int(out, block_index_);
    out += "}\n\n"sv;
    open_ = Open::none;
    ++block_index_;
  }

  // `block` is the content_block's JSON text.
  void start_block(Open kind, std::string_view block, std::string& out) {
    ensure_started(out);
    close_block(out);
    out += "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"sv;
    core::append_json_int(out, block_index_);
    out += ",\"content_block\":"sv;
    out += block;
    out += "}\n\n"sv;
    open_ = kind;
  }

  void open_block(Open kind, std::string& out) {
    if (open_ == kind) return;
    if (kind == Open::text) {
      start_block(kind, R"({"type":"text","text":""})", out);
    } else {
      start_block(kind, R"({"type":"thinking","thinking":"","signature":""})", out);
    }
  }

  void open_tool(const StreamEvent& event, std::string& out) {
    if (opened_tools_.contains(event.index)) return;
    opened_tools_.insert(event.index);
    std::string block = R"({"type":"tool_use","id":)";
    core::append_json_string(block,
                             event.id.empty() ? random_id("toolu_") : sanitize_tool_id(event.id));
    block += R"(,"name":)"sv;
    core::append_json_string(block, event.name);
    block += R"(,"input":{}})"sv;
    start_block(Open::tool, block, out);
    open_tool_ = event.index;
    // Providers that send a call in one piece put all its arguments on the start.
    std::string arguments = event.text;
    if (auto pending = pending_arguments_.find(event.index); pending != pending_arguments_.end()) {
      arguments.append(pending->second);
      pending_arguments_.erase(pending);
    }
    if (!arguments.empty()) delta("input_json_delta", "partial_json", arguments, out);
  }

  // The most frequent frame of a stream, written directly: building it as a DOM and
  // serialising it cost more than the rest of relaying the event (callgrind). Everything
  // before the value is the same for every delta of a block, so it is built once per block.
  void delta(std::string_view type, std::string_view field, std::string_view value,
             std::string& out) {
    if (delta_head_index_ != block_index_ || delta_head_type_ != type) {
      delta_head_ =
          "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"sv;
      core::append_json_int(delta_head_, block_index_);
      delta_head_ += ",\"delta\":{\"type\":\""sv;
      delta_head_ += type;
      delta_head_ += "\",\""sv;
      delta_head_ += field;
      delta_head_ += "\":"sv;
      delta_head_index_ = block_index_;
      delta_head_type_ = type;
    }
    out += delta_head_;
    core::append_json_string(out, value);
    out += "}}\n\n"sv;
  }

  std::string id_;
  std::string model_;
  std::int64_t estimated_input_tokens_;
  std::string delta_head_;            // a content_block_delta frame up to its value
  int delta_head_index_ = -1;         // the block delta_head_ was built for
  std::string_view delta_head_type_;  // and its delta type (a literal)
  bool started_ = false;
  bool done_ = false;
  Open open_ = Open::none;
  int block_index_ = 0;  // the open block's index, or the next block's when none is open
  int open_tool_ = -1;
  std::set<int> opened_tools_;
  std::map<int, std::string> pending_arguments_;
  FinishReason finish_ = FinishReason::none;
  std::string stop_sequence_;
  core::Usage usage_;
  bool usage_seen_ = false;  // usage_ holds the upstream's counts
};

}  // namespace

std::unique_ptr<StreamDecoder> make_messages_stream_decoder() {
  return std::make_unique<MessagesStreamDecoder>();
}

std::unique_ptr<StreamEncoder> make_messages_stream_encoder(std::string id, std::string model,
                                                            std::int64_t estimated_input_tokens) {
  return std::make_unique<MessagesStreamEncoder>(std::move(id), std::move(model),
                                                 estimated_input_tokens);
}

// ---- usage for pass-through -------------------------------------------------------------------

std::optional<core::Usage> extract_messages_usage(std::string_view body) {
  auto parsed = parse_json(body);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  const json::object* root = &parsed->get_object();
  // A message_start event nests the message; a response body is the message.
  if (const json::value* message = member(*root, "message"); message && message->is_object()) {
    root = &message->get_object();
  }
  const json::value* usage = member(*root, "usage");
  if (!usage || !usage->is_object()) return std::nullopt;
  return usage_from_anthropic(usage->get_object());
}

void MessagesUsageTracker::on_event(const core::SseEvent& event) {
  if (event.type != "message_start" && event.type != "message_delta") {
    // Frames without an event: line still say what they are in their JSON.
    if (!event.type.empty()) return;
  }
  const EventDocument doc(event.data);
  if (!doc.object()) return;
  const json::object& data = *doc.object();
  const std::string type = string_or_empty(data, "type");
  const json::value* usage = nullptr;
  if (type == "message_start") {
    const json::value* message = member(data, "message");
    usage = message && message->is_object() ? member(message->get_object(), "usage") : nullptr;
  } else if (type == "message_delta") {
    usage = member(data, "usage");
  }
  if (!usage || !usage->is_object()) return;
  usage_ = merge_anthropic_usage(usage_.value_or(core::Usage{}), usage->get_object());
}

std::int64_t estimate_input_tokens(const Request& request) {
  std::size_t chars = 0;
  for (const Message& message : request.messages) {
    for (const Part& part : message.parts) {
      chars += part.text.size() + part.name.size() + part.arguments.size();
    }
  }
  for (const Tool& tool : request.tools) {
    chars += tool.name.size() + tool.description.size() + tool.parameters.size();
  }
  return std::max<std::int64_t>(1, static_cast<std::int64_t>((chars + 3) / 4));
}

}  // namespace switchyard::adapters
