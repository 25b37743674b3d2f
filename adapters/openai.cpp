#include "adapters/openai.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>

#include "adapters/json_reading.hpp"
#include "adapters/thought_signature.hpp"
#include "core/chat_request.hpp"
#include "core/json_cursor.hpp"

// ---------------------------------------------------------------------------------------------
// The Chat Completions wire codec.

namespace switchyard::adapters {

namespace {

namespace json = boost::json;

// Collects the first decoding error; the decode functions return false once it is set.
struct Reader {
  std::optional<core::GatewayError> error;

  bool fail(std::string message, std::string param) {
    if (!error) error = core::client_error(400, std::move(message), std::move(param));
    return false;
  }

  bool string_field(const json::object& o, std::string_view key, const std::string& param,
                    std::string& out) {
    const json::value* v = member(o, key);
    if (!v) return true;
    if (!v->is_string()) return fail("'" + param + "' must be a string", param);
    out = to_std(v->get_string());
    return true;
  }

  bool bool_field(const json::object& o, std::string_view key, const std::string& param,
                  std::optional<bool>& out) {
    const json::value* v = member(o, key);
    if (!v) return true;
    if (!v->is_bool()) return fail("'" + param + "' must be a boolean", param);
    out = v->get_bool();
    return true;
  }

  bool int_field(const json::object& o, std::string_view key, const std::string& param,
                 std::optional<std::int64_t>& out) {
    const json::value* v = member(o, key);
    if (!v) return true;
    if (v->is_int64()) {
      out = v->get_int64();
    } else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(
                                                        std::numeric_limits<std::int64_t>::max())) {
      out = static_cast<std::int64_t>(v->get_uint64());
    } else if (const auto n = whole_number(*v);
               n && v->is_double() && static_cast<double>(*n) == v->get_double()) {
      out = *n;
    } else {
      return fail("'" + param + "' must be an integer", param);
    }
    return true;
  }

  bool number_field(const json::object& o, std::string_view key, const std::string& param,
                    std::optional<double>& out) {
    const json::value* v = member(o, key);
    if (!v) return true;
    if (!v->is_number()) return fail("'" + param + "' must be a number", param);
    json::error_code ec;
    out = v->to_number<double>(ec);
    // Boost.JSON reads 1e400 as infinity and 0e400 as NaN, which it cannot write back.
    if (!std::isfinite(*out))
      return fail("'" + param + "' must be a number within a double's range", param);
    return true;
  }
};

// "data:<media type>;base64,<data>" inline, anything else a reference.
bool image_from_url(Reader& r, std::string_view url, const std::string& param, Image& out) {
  if (url.substr(0, 5) == "data:") {
    const std::size_t marker = url.find(";base64,");
    if (marker == std::string_view::npos) {
      return r.fail(
          "'" + param + "' must be a base64 data URL (data:<type>;base64,<data>) or an http(s) URL",
          param);
    }
    out.media_type = std::string(url.substr(5, marker - 5));
    out.data = std::string(url.substr(marker + 8));
    return true;
  }
  if (url.empty()) return r.fail("'" + param + "' must not be empty", param);
  out.url = std::string(url);
  return true;
}

std::string image_to_url(const Image& image) {
  if (!image.url.empty()) return image.url;
  return "data:" + image.media_type + ";base64," + image.data;
}

// Content that may only hold text (system, developer and tool messages): a string or text parts.
bool text_content(Reader& r, const json::value& content, const std::string& param,
                  std::vector<std::string>& out) {
  const auto on_text = [&](const json::string& text) {
    out.push_back(to_std(text));
    return true;
  };
  return read_content(
      r, content, param, on_text, [&](const json::object& part, const std::string& part_param) {
        const json::value* type = member(part, "type");
        const json::value* text = member(part, "text");
        if (!type || !type->is_string())
          return r.fail("'" + part_param + ".type' is required", part_param + ".type");
        if (type->get_string() != "text" && type->get_string() != "refusal") {
          return r.fail(
              "content part type '" + to_std(type->get_string()) + "' is not supported here",
              part_param + ".type");
        }
        if (type->get_string() == "refusal") text = member(part, "refusal");
        if (!text || !text->is_string())
          return r.fail("'" + part_param + ".text' must be a string", part_param + ".text");
        out.push_back(to_std(text->get_string()));
        return true;
      });
}

bool user_content(Reader& r, const json::value& content, const std::string& param,
                  std::vector<Part>& out) {
  const auto on_text = [&](const json::string& text) {
    out.emplace_back().text = to_std(text);
    return true;
  };
  return read_content(
      r, content, param, on_text, [&](const json::object& part, const std::string& part_param) {
        const json::value* type = member(part, "type");
        if (!type || !type->is_string())
          return r.fail("'" + part_param + ".type' is required", part_param + ".type");
        const json::string& kind = type->get_string();
        Part p;
        if (kind == "text") {
          const json::value* text = member(part, "text");
          if (!text || !text->is_string())
            return r.fail("'" + part_param + ".text' must be a string", part_param + ".text");
          p.text = to_std(text->get_string());
        } else if (kind == "image_url") {
          const json::value* image = member(part, "image_url");
          const json::value* url = nullptr;
          if (image && image->is_object())
            url = member(image->get_object(), "url");
          else if (image && image->is_string())
            url = image;
          if (!url || !url->is_string()) {
            return r.fail("'" + part_param + ".image_url.url' must be a string",
                          part_param + ".image_url.url");
          }
          p.kind = Part::Kind::image;
          if (!image_from_url(r, to_std(url->get_string()), part_param + ".image_url.url", p.image))
            return false;
        } else {
          return r.fail("content part type '" + to_std(kind) + "' is not supported by this gateway",
                        part_param + ".type");
        }
        out.push_back(std::move(p));
        return true;
      });
}

bool decode_tool_calls(Reader& r, const json::value& calls, const std::string& param,
                       std::vector<Part>& out) {
  if (!calls.is_array()) return r.fail("'" + param + "' must be an array", param);
  const json::array& list = calls.get_array();
  for (std::size_t k = 0; k < list.size(); ++k) {
    const std::string call_param = indexed(param, k);
    if (!list[k].is_object()) return r.fail("'" + call_param + "' must be an object", call_param);
    const json::object& call = list[k].get_object();
    const json::value* function = member(call, "function");
    if (!function || !function->is_object()) {
      return r.fail("'" + call_param + ".function' is required", call_param + ".function");
    }
    Part p;
    p.kind = Part::Kind::tool_call;
    if (!r.string_field(call, "id", call_param + ".id", p.id)) return false;
    const json::object& fn = function->get_object();
    if (!r.string_field(fn, "name", call_param + ".function.name", p.name)) return false;
    if (p.name.empty())
      return r.fail("'" + call_param + ".function.name' is required",
                    call_param + ".function.name");
    if (!r.string_field(fn, "arguments", call_param + ".function.arguments", p.arguments))
      return false;
    if (p.arguments.empty()) p.arguments = "{}";
    out.push_back(std::move(p));
  }
  return true;
}

bool decode_message(Reader& r, const json::value& value, std::size_t i, Request& out) {
  const std::string param = indexed("messages", i);
  if (!value.is_object()) return r.fail("'" + param + "' must be an object", param);
  const json::object& m = value.get_object();
  const json::value* role_value = member(m, "role");
  if (!role_value || !role_value->is_string()) {
    return r.fail("'" + param + ".role' is required and must be a string", param + ".role");
  }
  const json::string& role = role_value->get_string();
  const json::value* content = member(m, "content");
  const std::string content_param = param + ".content";
  Message message;

  if (role == "system" || role == "developer") {
    message.role = Message::Role::system;
    std::vector<std::string> texts;
    if (!content) return r.fail("'" + content_param + "' is required", content_param);
    if (!text_content(r, *content, content_param, texts)) return false;
    for (auto& t : texts) {
      Part p;
      p.text = std::move(t);
      message.parts.push_back(std::move(p));
    }
  } else if (role == "user") {
    message.role = Message::Role::user;
    if (!content) return r.fail("'" + content_param + "' is required", content_param);
    if (!user_content(r, *content, content_param, message.parts)) return false;
  } else if (role == "assistant") {
    message.role = Message::Role::assistant;
    if (const json::value* reasoning = member(m, "reasoning_content");
        reasoning && reasoning->is_string() && !reasoning->get_string().empty()) {
      Part p;
      p.kind = Part::Kind::thinking;
      p.text = to_std(reasoning->get_string());
      message.parts.push_back(std::move(p));
    }
    if (content) {
      std::vector<std::string> texts;
      if (!text_content(r, *content, content_param, texts)) return false;
      for (auto& t : texts) {
        if (t.empty()) continue;
        Part p;
        p.text = std::move(t);
        message.parts.push_back(std::move(p));
      }
    }
    if (const json::value* calls = member(m, "tool_calls")) {
      if (!decode_tool_calls(r, *calls, param + ".tool_calls", message.parts)) return false;
    }
  } else if (role == "tool") {
    message.role = Message::Role::tool;
    Part p;
    p.kind = Part::Kind::tool_result;
    if (!r.string_field(m, "tool_call_id", param + ".tool_call_id", p.id)) return false;
    if (p.id.empty())
      return r.fail("'" + param + ".tool_call_id' is required", param + ".tool_call_id");
    if (content) {
      std::vector<std::string> texts;
      if (!text_content(r, *content, content_param, texts)) return false;
      for (std::size_t k = 0; k < texts.size(); ++k) {
        if (k > 0) p.text.push_back('\n');
        p.text += texts[k];
      }
    }
    message.parts.push_back(std::move(p));
  } else {
    return r.fail("'" + param +
                      ".role' must be one of system, developer, user, assistant, tool (got '" +
                      to_std(role) + "')",
                  param + ".role");
  }
  out.messages.push_back(std::move(message));
  return true;
}

bool decode_tools(Reader& r, const json::value& tools, Request& out) {
  if (!tools.is_array()) return r.fail("'tools' must be an array", "tools");
  const json::array& list = tools.get_array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string param = indexed("tools", i);
    if (!list[i].is_object()) return r.fail("'" + param + "' must be an object", param);
    const json::object& t = list[i].get_object();
    const json::value* type = member(t, "type");
    const std::string kind = (type && type->is_string()) ? to_std(type->get_string()) : "function";
    Tool tool;
    if (kind == "function" || kind == "custom") {
      const json::value* def = member(t, kind);
      if (!def || !def->is_object())
        return r.fail("'" + param + "." + kind + "' is required", param + "." + kind);
      const json::object& fn = def->get_object();
      const std::string def_param = param + "." + kind;
      if (!r.string_field(fn, "name", def_param + ".name", tool.name)) return false;
      if (tool.name.empty())
        return r.fail("'" + def_param + ".name' is required", def_param + ".name");
      if (!r.string_field(fn, "description", def_param + ".description", tool.description))
        return false;
      if (kind == "custom") {
        tool.freeform = true;
      } else if (const json::value* params = member(fn, "parameters")) {
        if (!params->is_object())
          return r.fail("'" + def_param + ".parameters' must be an object",
                        def_param + ".parameters");
        tool.parameters = json::serialize(*params);
      }
    } else {
      return r.fail("tool type '" + kind + "' is not supported by this gateway", param + ".type");
    }
    out.tools.push_back(std::move(tool));
  }
  return true;
}

bool decode_tool_choice(Reader& r, const json::value& choice, ToolChoice& out) {
  if (choice.is_string()) {
    const json::string& s = choice.get_string();
    if (s == "auto")
      out.mode = ToolChoice::Mode::automatic;
    else if (s == "none")
      out.mode = ToolChoice::Mode::none;
    else if (s == "required")
      out.mode = ToolChoice::Mode::required;
    else
      return r.fail("'tool_choice' must be \"auto\", \"none\", \"required\" or a named function",
                    "tool_choice");
    return true;
  }
  if (choice.is_object()) {
    const json::object& o = choice.get_object();
    const json::value* type = member(o, "type");
    const std::string kind = (type && type->is_string()) ? to_std(type->get_string()) : "";
    if (kind == "function" || kind == "custom") {
      const json::value* fn = member(o, kind);
      const json::value* name =
          (fn && fn->is_object()) ? member(fn->get_object(), "name") : nullptr;
      if (name && name->is_string() && !name->get_string().empty()) {
        out.mode = ToolChoice::Mode::named;
        out.name = to_std(name->get_string());
        return true;
      }
      return r.fail("'tool_choice." + kind + ".name' is required", "tool_choice." + kind + ".name");
    }
  }
  return r.fail(
      "'tool_choice' must be \"auto\", \"none\", \"required\" or "
      "{\"type\":\"function\",\"function\":{\"name\":...}}",
      "tool_choice");
}

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::length:
      return "length";
    case FinishReason::tool_calls:
      return "tool_calls";
    case FinishReason::content_filter:
      return "content_filter";
    case FinishReason::none:
    case FinishReason::stop:
      break;
  }
  return "stop";
}

FinishReason finish_reason_from(std::string_view s) {
  if (s == "length") return FinishReason::length;
  if (s == "tool_calls" || s == "function_call") return FinishReason::tool_calls;
  if (s == "content_filter") return FinishReason::content_filter;
  return FinishReason::stop;
}

// A provider's usage object. Counts of another type are refused (see UpstreamReader); null
// details count as absent.
core::Usage usage_from_json(UpstreamReader& r, const json::object& u, const JsonPath& at) {
  core::Usage usage;
  usage.prompt_tokens = r.count(u, "prompt_tokens", at);
  usage.completion_tokens = r.count(u, "completion_tokens", at);
  if (const json::object* d = r.object(u, "prompt_tokens_details", at)) {
    const JsonPath details = at.member("prompt_tokens_details");
    usage.cached_prompt_tokens = r.count(*d, "cached_tokens", details);
    usage.cache_creation_tokens = r.count(*d, "cache_write_tokens", details);
  }
  if (const json::object* d = r.object(u, "completion_tokens_details", at)) {
    usage.reasoning_tokens =
        r.count(*d, "reasoning_tokens", at.member("completion_tokens_details"));
  }
  return usage;
}

json::object usage_to_json(const core::Usage& usage) {
  json::object prompt_details;
  prompt_details["cached_tokens"] = usage.cached_prompt_tokens;
  if (usage.cache_creation_tokens > 0)
    prompt_details["cache_write_tokens"] = usage.cache_creation_tokens;
  json::object completion_details;
  completion_details["reasoning_tokens"] = usage.reasoning_tokens;
  json::object u;
  u["prompt_tokens"] = usage.prompt_tokens;
  u["completion_tokens"] = usage.completion_tokens;
  u["total_tokens"] = usage.prompt_tokens + usage.completion_tokens;
  u["prompt_tokens_details"] = std::move(prompt_details);
  u["completion_tokens_details"] = std::move(completion_details);
  return u;
}

// A code may be a string or (some compatible servers) a number.
std::string scalar_text(const json::value* v) {
  if (!v) return {};
  if (v->is_string()) return to_std(v->get_string());
  if (v->is_number()) return json::serialize(*v);
  return {};
}

// Cuts at ~500 bytes without splitting a UTF-8 sequence.
std::string truncated(std::string_view text) {
  constexpr std::size_t kLimit = 500;
  if (text.size() <= kLimit) return std::string(text);
  std::size_t end = kLimit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end)) + "...";
}

core::GatewayError error_from_object(int status, const json::object& error) {
  core::GatewayError e;
  e.status = status;
  e.source = core::ErrorSource::upstream;
  e.message = scalar_text(member(error, "message"));
  e.type = scalar_text(member(error, "type"));
  e.code = scalar_text(member(error, "code"));
  e.param = scalar_text(member(error, "param"));
  if (e.type.empty()) e.type = std::string(core::openai_error_type(status));
  return e;
}

// Mid-stream errors carry no HTTP status; the code or type tells what kind of failure it was.
int status_for_stream_error(const core::GatewayError& e) {
  if (e.code == "rate_limit_exceeded" || e.code == "insufficient_quota" || e.code == "429")
    return 429;
  return core::status_for_openai_error_type(e.type);
}

}  // namespace

Decoded<Request> decode_chat_request(std::string_view body) {
  const ScratchDocument doc(body);
  if (!doc.value())
    return core::fail(
        core::client_error(400, "request body is not valid JSON: " + doc.error().message()));
  const json::value& root = *doc.value();
  if (!root.is_object())
    return core::fail(core::client_error(400, "request body must be a JSON object"));
  const json::object& o = root.get_object();
  Reader r;
  Request out;

  if (!r.string_field(o, "model", "model", out.model)) return core::fail(*r.error);
  if (out.model.empty())
    return core::fail(core::client_error(400, "you must provide a model parameter", "model"));

  const json::value* messages = member(o, "messages");
  if (!messages || !messages->is_array() || messages->get_array().empty()) {
    return core::fail(core::client_error(400, "'messages' must be a non-empty array", "messages"));
  }
  const json::array& list = messages->get_array();
  out.messages.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!decode_message(r, list[i], i, out)) return core::fail(*r.error);
  }

  if (const json::value* tools = member(o, "tools"); tools && !decode_tools(r, *tools, out))
    return core::fail(*r.error);
  if (const json::value* choice = member(o, "tool_choice");
      choice && !decode_tool_choice(r, *choice, out.tool_choice)) {
    return core::fail(*r.error);
  }
  std::optional<std::int64_t> n;
  if (!r.int_field(o, "n", "n", n)) return core::fail(*r.error);
  if (n && *n != 1)
    return core::fail(core::client_error(400, "only n=1 is supported by this gateway", "n"));

  std::optional<std::int64_t> max_completion_tokens;
  std::optional<bool> stream;
  std::string safety_identifier;
  if (!r.bool_field(o, "parallel_tool_calls", "parallel_tool_calls", out.parallel_tool_calls) ||
      !r.int_field(o, "max_completion_tokens", "max_completion_tokens", max_completion_tokens) ||
      !r.int_field(o, "max_tokens", "max_tokens", out.max_tokens) ||
      !r.number_field(o, "temperature", "temperature", out.temperature) ||
      !r.number_field(o, "top_p", "top_p", out.top_p) ||
      !r.bool_field(o, "stream", "stream", stream) ||
      !r.string_field(o, "user", "user", out.user) ||
      !r.string_field(o, "safety_identifier", "safety_identifier", safety_identifier) ||
      !r.string_field(o, "reasoning_effort", "reasoning_effort", out.reasoning_effort)) {
    return core::fail(*r.error);
  }
  if (max_completion_tokens) out.max_tokens = max_completion_tokens;
  if (out.user.empty()) out.user = std::move(safety_identifier);
  out.stream = stream.value_or(false);

  if (const json::value* stop = member(o, "stop")) {
    if (stop->is_string()) {
      out.stop.push_back(to_std(stop->get_string()));
    } else if (stop->is_array()) {
      for (const json::value& s : stop->get_array()) {
        if (!s.is_string())
          return core::fail(
              core::client_error(400, "'stop' must be a string or an array of strings", "stop"));
        out.stop.push_back(to_std(s.get_string()));
      }
    } else {
      return core::fail(
          core::client_error(400, "'stop' must be a string or an array of strings", "stop"));
    }
  }
  if (const json::value* options = member(o, "stream_options")) {
    if (!options->is_object())
      return core::fail(
          core::client_error(400, "'stream_options' must be an object", "stream_options"));
    std::optional<bool> include_usage;
    if (!r.bool_field(options->get_object(), "include_usage", "stream_options.include_usage",
                      include_usage)) {
      return core::fail(*r.error);
    }
    out.include_usage = include_usage.value_or(false);
  }
  return out;
}

namespace {

// A tool call as OpenAI writes it in an assistant message, in requests and responses alike.
json::object tool_call_json(const Part& p) {
  json::object fn;
  fn["name"] = p.name;
  fn["arguments"] = p.arguments.empty() ? std::string("{}") : p.arguments;
  json::object call;
  call["id"] = p.id;
  call["type"] = "function";
  call["function"] = std::move(fn);
  return call;
}

}  // namespace

std::string encode_chat_request(const Request& request, std::string_view upstream_model) {
  // The DOM only lives until it is serialised: its nodes come from an arena on the stack rather
  // than one heap allocation each (callgrind). Values built elsewhere are copied in.
  unsigned char arena_bytes[4096];
  json::monotonic_resource arena(arena_bytes, sizeof arena_bytes);
  const json::storage_ptr sp(&arena);
  json::array messages(sp);
  // Images a tool returned: tool messages hold only text, so they follow the run of tool
  // messages in a user message (inserting it earlier would separate tool results from their
  // assistant turn, which OpenAI rejects).
  json::array pending_images(sp);
  auto flush_images = [&] {
    if (pending_images.empty()) return;
    json::object m(sp);
    m["role"] = "user";
    m["content"] = std::move(pending_images);
    messages.emplace_back(std::move(m));
    pending_images = json::array(sp);
  };
  auto image_part = [](const Image& image) {
    json::object url;
    url["url"] = image_to_url(image);
    json::object part;
    part["type"] = "image_url";
    part["image_url"] = std::move(url);
    return part;
  };
  auto emit_tool_result = [&](const Part& p) {
    json::object m(sp);
    m["role"] = "tool";
    m["tool_call_id"] = id_without_thought_signature(p.id);
    m["content"] = p.is_error ? "Error: " + p.text : p.text;
    messages.emplace_back(std::move(m));
    if (!p.images.empty()) {
      json::object label;
      label["type"] = "text";
      label["text"] = "Images returned by tool call " + p.id + ":";
      pending_images.emplace_back(std::move(label));
      for (const Image& image : p.images) pending_images.emplace_back(image_part(image));
    }
  };
  // A single text becomes a plain string, the form every OpenAI-compatible server accepts.
  auto content_of = [&](const std::vector<const Part*>& parts) -> json::value {
    if (parts.size() == 1 && parts[0]->kind == Part::Kind::text)
      return json::value(parts[0]->text, sp);
    json::array out(sp);
    for (const Part* p : parts) {
      if (p->kind == Part::Kind::image) {
        out.emplace_back(image_part(p->image));
      } else {
        json::object text;
        text["type"] = "text";
        text["text"] = p->text;
        out.emplace_back(std::move(text));
      }
    }
    return out;
  };

  for (const Message& message : request.messages) {
    if (message.role != Message::Role::tool) flush_images();
    switch (message.role) {
      case Message::Role::system:
      case Message::Role::user: {
        std::vector<const Part*> parts;
        for (const Part& p : message.parts) {
          if (p.kind == Part::Kind::tool_result)
            emit_tool_result(p);
          else if (p.kind == Part::Kind::text || p.kind == Part::Kind::image)
            parts.push_back(&p);
        }
        flush_images();
        const bool only_results = parts.empty() && !message.parts.empty();
        if (only_results) break;
        json::object m(sp);
        m["role"] = message.role == Message::Role::system ? "system" : "user";
        m["content"] = parts.empty() ? json::value("") : content_of(parts);
        messages.emplace_back(std::move(m));
        break;
      }
      case Message::Role::assistant: {
        std::string text;
        json::array calls(sp);
        for (const Part& p : message.parts) {
          if (p.kind == Part::Kind::text) {
            text += p.text;
          } else if (p.kind == Part::Kind::tool_call) {
            // A Gemini thought signature means nothing to OpenAI, which caps ids at 40 chars.
            json::object call = tool_call_json(p);
            call["id"] = id_without_thought_signature(p.id);
            calls.emplace_back(std::move(call));
          }
        }
        json::object m(sp);
        m["role"] = "assistant";
        if (!text.empty())
          m["content"] = text;
        else
          m["content"] = calls.empty() ? json::value("") : json::value(nullptr);
        if (!calls.empty()) m["tool_calls"] = std::move(calls);
        messages.emplace_back(std::move(m));
        break;
      }
      case Message::Role::tool:
        for (const Part& p : message.parts) {
          if (p.kind == Part::Kind::tool_result) emit_tool_result(p);
        }
        break;
    }
  }
  flush_images();

  json::object body(16, sp);
  body["model"] = upstream_model;
  body["messages"] = std::move(messages);
  if (!request.tools.empty()) {
    json::array tools;
    for (const Tool& tool : request.tools) {
      json::object fn;
      fn["name"] = tool.name;
      if (!tool.description.empty()) fn["description"] = tool.description;
      json::value parameters;
      if (tool.freeform) {
        parameters = json::parse(
            R"({"type":"object","properties":{"input":{"type":"string"}},"required":["input"]})");
      } else {
        json::error_code ec;
        if (!tool.parameters.empty()) parameters = json::parse(tool.parameters, ec);
        if (ec || !parameters.is_object())
          parameters = json::parse(R"({"type":"object","properties":{}})");
      }
      fn["parameters"] = std::move(parameters);
      json::object t;
      t["type"] = "function";
      t["function"] = std::move(fn);
      tools.emplace_back(std::move(t));
    }
    body["tools"] = std::move(tools);
    // OpenAI rejects tool_choice and parallel_tool_calls in a request without tools.
    switch (request.tool_choice.mode) {
      case ToolChoice::Mode::unset:
        break;
      case ToolChoice::Mode::automatic:
        body["tool_choice"] = "auto";
        break;
      case ToolChoice::Mode::none:
        body["tool_choice"] = "none";
        break;
      case ToolChoice::Mode::required:
        body["tool_choice"] = "required";
        break;
      case ToolChoice::Mode::named: {
        json::object fn;
        fn["name"] = request.tool_choice.name;
        json::object choice;
        choice["type"] = "function";
        choice["function"] = std::move(fn);
        body["tool_choice"] = std::move(choice);
        break;
      }
    }
    if (request.parallel_tool_calls) body["parallel_tool_calls"] = *request.parallel_tool_calls;
  }
  if (request.max_tokens) body["max_tokens"] = *request.max_tokens;
  if (request.temperature) body["temperature"] = *request.temperature;
  if (request.top_p) body["top_p"] = *request.top_p;
  if (!request.stop.empty()) {
    json::array stop;
    for (const std::string& s : request.stop) stop.emplace_back(json::string_view(s));
    body["stop"] = std::move(stop);
  }
  if (!request.user.empty()) body["user"] = request.user;
  if (!request.reasoning_effort.empty()) body["reasoning_effort"] = request.reasoning_effort;
  if (request.stream) {
    body["stream"] = true;
    json::object options;
    options["include_usage"] = true;
    body["stream_options"] = std::move(options);
  }
  return json::serialize(body);
}

namespace {

// An answer's message content: a string, or text and refusal parts (some compatible servers).
void read_answer_content(UpstreamReader& r, const json::value& content, const JsonPath& at,
                         std::vector<Part>& out) {
  const auto push = [&](const json::string& text) {
    if (!text.empty()) out.emplace_back().text = to_std(text);
  };
  if (content.is_string()) return push(content.get_string());
  if (!content.is_array()) {
    r.refuse(at, "a string or an array of content parts", content);
    return;
  }
  const json::array& parts = content.get_array();
  for (std::size_t j = 0; j < parts.size() && r.ok(); ++j) {
    const JsonPath part_at = at.element(j);
    const json::object* part = r.element_object(parts[j], part_at);
    if (!part) return;
    const json::string* type = r.string(*part, "type", part_at);
    if (!type) {
      r.refuse(part_at.member("type"), "is required");
    } else if (*type == "text" || *type == "refusal") {
      if (const json::string* text = r.string(*part, *type == "text" ? "text" : "refusal", part_at))
        push(*text);
    } else {
      r.refuse(part_at.member("type"), "is not a content part type this gateway reads");
    }
  }
}

// An answer's tool_calls; a call without an id gets one (clients key results by it).
void read_answer_tool_calls(UpstreamReader& r, const json::array& calls, const JsonPath& at,
                            std::vector<Part>& out) {
  for (std::size_t k = 0; k < calls.size() && r.ok(); ++k) {
    const JsonPath call_at = at.element(k);
    const json::object* call = r.element_object(calls[k], call_at);
    if (!call) return;
    const JsonPath fn_at = call_at.member("function");
    const json::object* fn = r.object(*call, "function", call_at);
    if (!fn) {
      r.refuse(fn_at, "is required");
      return;
    }
    Part p;
    p.kind = Part::Kind::tool_call;
    p.id = r.string_or_empty(*call, "id", call_at);
    p.name = r.string_or_empty(*fn, "name", fn_at);
    p.arguments = r.string_or_empty(*fn, "arguments", fn_at);
    if (p.name.empty()) r.refuse(fn_at.member("name"), "is required");
    if (p.id.empty()) p.id = random_id("call_");
    if (p.arguments.empty()) p.arguments = "{}";
    out.push_back(std::move(p));
  }
}

}  // namespace

Decoded<Response> decode_chat_response(std::string_view body) {
  const ScratchDocument doc(body);
  if (!doc.value()) return core::fail(bad_upstream_answer("the chat completion is not JSON"));
  const json::value& root = *doc.value();
  if (!root.is_object()) {
    return core::fail(bad_upstream_answer("the chat completion must be a JSON object, not " +
                                          std::string(json_kind_name(root))));
  }
  const json::object& o = root.get_object();
  UpstreamReader r;
  const JsonPath at;
  Response out;
  out.id = r.string_or_empty(o, "id", at);
  out.model = r.string_or_empty(o, "model", at);
  out.created = r.integer_or_zero(o, "created", at);
  const json::array* choices = r.array(o, "choices", at);
  if (!r.ok()) return core::fail(bad_upstream_answer(r.error()));
  if (!choices || choices->empty())
    return core::fail(bad_upstream_answer("the chat completion has no choices"));
  const JsonPath choices_at = at.member("choices");
  const JsonPath choice_at = choices_at.element(0);
  const json::object* choice = r.element_object(choices->front(), choice_at);
  if (!choice) return core::fail(bad_upstream_answer(r.error()));
  if (const json::object* m = r.object(*choice, "message", choice_at)) {
    const JsonPath message_at = choice_at.member("message");
    for (const char* key : {"reasoning_content", "reasoning"}) {
      const json::string* reasoning = r.string(*m, key, message_at);
      if (reasoning && !reasoning->empty()) {
        Part p;
        p.kind = Part::Kind::thinking;
        p.text = to_std(*reasoning);
        out.content.push_back(std::move(p));
        break;
      }
    }
    if (const json::value* content = member(*m, "content")) {
      read_answer_content(r, *content, message_at.member("content"), out.content);
    } else if (const json::string* refusal = r.string(*m, "refusal", message_at)) {
      Part p;
      p.text = to_std(*refusal);
      out.content.push_back(std::move(p));
    }
    if (const json::array* calls = r.array(*m, "tool_calls", message_at)) {
      read_answer_tool_calls(r, *calls, message_at.member("tool_calls"), out.content);
    }
  }
  const json::string* finish = r.string(*choice, "finish_reason", choice_at);
  out.finish = finish ? finish_reason_from(*finish) : FinishReason::stop;
  const bool has_call = std::any_of(out.content.begin(), out.content.end(),
                                    [](const Part& p) { return p.kind == Part::Kind::tool_call; });
  if (has_call && out.finish == FinishReason::stop) out.finish = FinishReason::tool_calls;
  if (const json::object* usage = r.object(o, "usage", at))
    out.usage = usage_from_json(r, *usage, at.member("usage"));
  if (!r.ok()) return core::fail(bad_upstream_answer(r.error()));
  return out;
}

std::string encode_chat_response(const Response& response) {
  std::string text;
  std::string reasoning;
  json::array calls;
  for (const Part& p : response.content) {
    if (p.kind == Part::Kind::text) {
      text += p.text;
    } else if (p.kind == Part::Kind::thinking) {
      reasoning += p.text;
    } else if (p.kind == Part::Kind::tool_call) {
      calls.emplace_back(tool_call_json(p));
    }
  }
  json::object message;
  message["role"] = "assistant";
  if (!text.empty())
    message["content"] = text;
  else
    message["content"] = calls.empty() ? json::value("") : json::value(nullptr);
  // Not an OpenAI field, but the one OpenAI-compatible servers (DeepSeek, vLLM) use for it.
  if (!reasoning.empty()) message["reasoning_content"] = reasoning;
  if (!calls.empty()) message["tool_calls"] = std::move(calls);
  message["refusal"] = nullptr;
  json::object choice;
  choice["index"] = 0;
  choice["message"] = std::move(message);
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_reason_name(response.finish);
  json::array choices;
  choices.emplace_back(std::move(choice));
  json::object body;
  body["id"] = response.id.empty() ? random_id("chatcmpl-") : response.id;
  body["object"] = "chat.completion";
  body["created"] = response.created;
  body["model"] = response.model;
  body["choices"] = std::move(choices);
  if (response.usage) body["usage"] = usage_to_json(*response.usage);
  return json::serialize(body);
}

core::GatewayError decode_chat_error(int status, std::string_view body) {
  json::error_code ec;
  const json::value root = json::parse(body, ec);
  if (!ec && root.is_object()) {
    const json::object& o = root.get_object();
    const json::value* error = member(o, "error");
    if (error && error->is_object() && member(error->get_object(), "message")) {
      return error_from_object(status, error->get_object());
    }
    // Some compatible servers answer {"error": "text"} or {"message": "text"}.
    const json::value* text = (error && error->is_string()) ? error : member(o, "message");
    if (text && text->is_string()) {
      json::object shaped;
      shaped["message"] = text->get_string();
      return error_from_object(status, shaped);
    }
  }
  json::object shaped;
  shaped["message"] =
      body.empty() ? "upstream returned HTTP " + std::to_string(status) : truncated(body);
  return error_from_object(status, shaped);
}

// --- Streams ---

namespace {

class ChatStreamDecoder final : public StreamDecoder {
 public:
  void on_event(const core::SseEvent& event, std::vector<StreamEvent>& out) override {
    if (failed_ || event.data.empty()) return;
    if (event.data == "[DONE]") {
      done_ = true;
      return;
    }
    if (on_common_chunk(event.data, out)) return;
    const EventDocument doc(event.data);
    // Keep-alive junk or a proxy's comment in data: not part of the answer.
    if (!doc.value()) return;
    if (!doc.object()) {
      fail("a chunk must be a JSON object, not " + std::string(json_kind_name(*doc.value())),
           out.size(), out);
      return;
    }
    const json::object& chunk = *doc.object();

    if (const json::value* error = member(chunk, "error")) {
      StreamEvent e;
      e.kind = StreamEvent::Kind::error;
      if (error->is_object()) {
        e.error = error_from_object(500, error->get_object());
      } else {
        json::object shaped;
        shaped["message"] = error->is_string() ? json::value(error->get_string())
                                               : json::value(json::serialize(*error));
        e.error = error_from_object(500, shaped);
      }
      e.error.status = status_for_stream_error(e.error);
      out.push_back(std::move(e));
      failed_ = true;
      return;
    }

    // The general reader: what on_common_chunk left, read with every type checked. What it
    // emits before a wrong field is taken back, so the client sees the error in its place.
    const std::size_t mark = out.size();
    UpstreamReader r;
    const JsonPath at;
    // Read on every chunk, as on_common_chunk does: a later chunk's wrong id is as wrong.
    const json::string* id = r.string(chunk, "id", at);
    const json::string* model = r.string(chunk, "model", at);
    if (!started_) {
      started_ = true;
      StreamEvent e;
      e.kind = StreamEvent::Kind::start;
      if (id) e.id = to_std(*id);
      if (model) e.model = to_std(*model);
      out.push_back(std::move(e));
    }

    if (const json::array* choices = r.array(chunk, "choices", at)) {
      const JsonPath choices_at = at.member("choices");
      for (std::size_t k = 0; k < choices->size() && r.ok(); ++k) {
        const JsonPath choice_at = choices_at.element(k);
        const json::object* choice = r.element_object((*choices)[k], choice_at);
        if (!choice || r.integer_or_zero(*choice, "index", choice_at) != 0) continue;  // n=1 only
        if (const json::object* delta = r.object(*choice, "delta", choice_at)) {
          on_delta(r, *delta, choice_at.member("delta"), out);
        }
        if (const json::string* finish = r.string(*choice, "finish_reason", choice_at);
            finish && !finished_) {
          finished_ = true;
          StreamEvent e;
          e.kind = StreamEvent::Kind::finish;
          e.finish = finish_reason_from(*finish);
          // Gemini (and others) end a streamed tool call with "stop".
          if (e.finish == FinishReason::stop && !calls_.empty())
            e.finish = FinishReason::tool_calls;
          out.push_back(std::move(e));
        }
      }
    }

    // Usage may ride on a chunk that still has choices; look on every chunk.
    if (const json::object* usage = r.object(chunk, "usage", at)) {
      StreamEvent e;
      e.kind = StreamEvent::Kind::usage;
      e.usage = usage_from_json(r, *usage, at.member("usage"));
      out.push_back(std::move(e));
    }
    if (!r.ok()) fail(r.error(), mark, out);
  }

  // [DONE] ends every OpenAI-format stream. A stream that reached a finish_reason and then
  // closed without [DONE] is taken as complete too: some OpenAI-compatible servers (vLLM,
  // Ollama) omit it, and the answer itself is whole. Anything else was cut short.
  void on_end(std::vector<StreamEvent>& out) override {
    if (failed_ || done_ || finished_) return;
    failed_ = true;
    push_stream_error(out, truncated_upstream_stream());
  }

 private:
  struct Call {
    std::int64_t upstream_index = 0;
    std::string id;
    int index = 0;
  };

  // A tool call fragment as read from a chunk, before it is matched to a call.
  struct Fragment {
    std::int64_t upstream_index = 0;
    std::string_view id;
    std::string_view name;
    std::string_view arguments;
  };

  // The chunks that make up every ordinary stream (text, reasoning and tool-call deltas, the
  // finish reason, usage), read in one pass with a JsonCursor: building a DOM per chunk and
  // looking keys up in it was most of the cost of a translated stream (callgrind). Anything
  // else (an error, an unexpected type, a number with a fraction) returns false before any
  // state changes, and the general reader below takes the chunk.
  bool on_common_chunk(std::string_view data, std::vector<StreamEvent>& out) {
    thread_local std::string scratch;
    core::JsonCursor cursor(data, scratch);
    std::string_view id, model, content, reasoning, finish;
    std::vector<Fragment> fragments;
    std::optional<core::Usage> usage;
    const bool read = cursor.for_each_member([&](std::string_view key) {
      if (core::key_is(key, "error")) return false;
      if (core::key_is(key, "id")) return cursor.read_string_or_null(id);
      if (core::key_is(key, "model")) return cursor.read_string_or_null(model);
      if (core::key_is(key, "choices"))
        return read_choices(cursor, content, reasoning, finish, fragments);
      if (core::key_is(key, "usage")) {
        // null on every chunk but the last when include_usage is on
        if (cursor.peek() == core::JsonCursor::Kind::null) return cursor.read_null();
        return read_usage(cursor, usage.emplace());
      }
      return true;
    });
    if (!read) return false;
    if (!cursor.finished()) return false;

    if (!started_) {
      started_ = true;
      StreamEvent& e = out.emplace_back();
      e.kind = StreamEvent::Kind::start;
      e.id = id;
      e.model = model;
    }
    if (!reasoning.empty()) {
      StreamEvent& e = out.emplace_back();
      e.kind = StreamEvent::Kind::thinking;
      e.text = reasoning;
    }
    if (!content.empty()) {
      StreamEvent& e = out.emplace_back();
      e.kind = StreamEvent::Kind::text;
      e.text = content;
    }
    for (const Fragment& f : fragments) {
      on_fragment(f.upstream_index, std::string(f.id), std::string(f.name),
                  std::string(f.arguments), out);
    }
    if (!finish.empty() && !finished_) {
      finished_ = true;
      StreamEvent& e = out.emplace_back();
      e.kind = StreamEvent::Kind::finish;
      e.finish = finish_reason_from(finish);
      if (e.finish == FinishReason::stop && !calls_.empty()) e.finish = FinishReason::tool_calls;
    }
    if (usage) {
      StreamEvent& e = out.emplace_back();
      e.kind = StreamEvent::Kind::usage;
      e.usage = *usage;
    }
    return true;
  }

  // "choices": [{"index": 0, "delta": {...}, "finish_reason": ...}]; only choice 0 is kept.
  static bool read_choices(core::JsonCursor& cursor, std::string_view& content,
                           std::string_view& reasoning, std::string_view& finish,
                           std::vector<Fragment>& fragments) {
    if (!cursor.begin_array()) return false;
    while (cursor.next_element()) {
      std::int64_t index = 0;
      std::string_view choice_finish, choice_content, reasoning_content, reasoning_alt;
      std::vector<Fragment> choice_fragments;
      const bool read = cursor.for_each_member([&](std::string_view key) {
        if (core::key_is(key, "index")) return cursor.read_int(index);
        if (core::key_is(key, "finish_reason")) return cursor.read_string_or_null(choice_finish);
        if (core::key_is(key, "delta") && cursor.peek() != core::JsonCursor::Kind::null) {
          return cursor.for_each_member([&](std::string_view field) {
            if (core::key_is(field, "content")) return cursor.read_string_or_null(choice_content);
            if (core::key_is(field, "reasoning_content"))
              return cursor.read_string_or_null(reasoning_content);
            if (core::key_is(field, "reasoning")) return cursor.read_string_or_null(reasoning_alt);
            if (core::key_is(field, "tool_calls") &&
                cursor.peek() != core::JsonCursor::Kind::null) {
              return read_tool_call_fragments(cursor, choice_fragments);
            }
            return true;
          });
        }
        return true;
      });
      if (!read) return false;
      if (index != 0) continue;  // n=1 only
      finish = choice_finish;
      content = choice_content;
      reasoning = reasoning_content.empty() ? reasoning_alt : reasoning_content;
      fragments = std::move(choice_fragments);
    }
    return !cursor.failed();
  }

  // "tool_calls": [{"index": 0, "id": ..., "function": {"name": ..., "arguments": ...}}]
  static bool read_tool_call_fragments(core::JsonCursor& cursor, std::vector<Fragment>& fragments) {
    if (!cursor.begin_array()) return false;
    std::int64_t position = 0;
    while (cursor.next_element()) {
      Fragment f;
      f.upstream_index = position++;
      const bool read = cursor.for_each_member([&](std::string_view key) {
        if (core::key_is(key, "index")) return cursor.read_int(f.upstream_index);
        if (core::key_is(key, "id")) return cursor.read_string_or_null(f.id);
        if (core::key_is(key, "function") && cursor.peek() != core::JsonCursor::Kind::null) {
          return cursor.for_each_member([&](std::string_view field) {
            if (core::key_is(field, "name")) return cursor.read_string_or_null(f.name);
            if (core::key_is(field, "arguments")) return cursor.read_string_or_null(f.arguments);
            return true;
          });
        }
        return true;
      });
      if (!read) return false;
      fragments.push_back(f);
    }
    return !cursor.failed();
  }

  // The usage object, read as usage_from_json reads it; null details count as absent, and
  // anything of another type is left to the general reader.
  static bool read_usage(core::JsonCursor& cursor, core::Usage& usage) {
    const bool read = cursor.for_each_member([&](std::string_view key) {
      if (core::key_is(key, "prompt_tokens")) return cursor.read_int(usage.prompt_tokens);
      if (core::key_is(key, "completion_tokens")) return cursor.read_int(usage.completion_tokens);
      if (cursor.peek() == core::JsonCursor::Kind::null) return true;
      if (core::key_is(key, "prompt_tokens_details")) {
        return cursor.for_each_member([&](std::string_view field) {
          if (core::key_is(field, "cached_tokens"))
            return cursor.read_int(usage.cached_prompt_tokens);
          if (core::key_is(field, "cache_write_tokens"))
            return cursor.read_int(usage.cache_creation_tokens);
          return true;
        });
      }
      if (core::key_is(key, "completion_tokens_details")) {
        return cursor.for_each_member([&](std::string_view field) {
          if (core::key_is(field, "reasoning_tokens"))
            return cursor.read_int(usage.reasoning_tokens);
          return true;
        });
      }
      return true;
    });
    // As the general reader does (UpstreamReader::count): counts stay within what sums of
    // them can hold.
    for (std::int64_t* n :
         {&usage.prompt_tokens, &usage.completion_tokens, &usage.cached_prompt_tokens,
          &usage.cache_creation_tokens, &usage.reasoning_tokens}) {
      *n = core::token_count(*n);
    }
    return read;
  }

  void on_delta(UpstreamReader& r, const json::object& delta, const JsonPath& at,
                std::vector<StreamEvent>& out) {
    for (const char* key : {"reasoning_content", "reasoning"}) {
      const json::string* reasoning = r.string(delta, key, at);
      if (reasoning && !reasoning->empty()) {
        StreamEvent e;
        e.kind = StreamEvent::Kind::thinking;
        e.text = to_std(*reasoning);
        out.push_back(std::move(e));
        break;
      }
    }
    if (const json::string* content = r.string(delta, "content", at);
        content && !content->empty()) {
      StreamEvent e;
      e.kind = StreamEvent::Kind::text;
      e.text = to_std(*content);
      out.push_back(std::move(e));
    }
    const json::array* calls = r.array(delta, "tool_calls", at);
    if (!calls) return;
    const JsonPath calls_at = at.member("tool_calls");
    for (std::size_t k = 0; k < calls->size() && r.ok(); ++k) {
      const JsonPath fragment_at = calls_at.element(k);
      const json::object* fragment = r.element_object((*calls)[k], fragment_at);
      if (!fragment) return;
      const std::int64_t upstream_index =
          r.integer(*fragment, "index", fragment_at).value_or(static_cast<std::int64_t>(k));
      std::string id = r.string_or_empty(*fragment, "id", fragment_at);
      std::string name;
      std::string arguments;
      if (const json::object* fn = r.object(*fragment, "function", fragment_at)) {
        const JsonPath fn_at = fragment_at.member("function");
        name = r.string_or_empty(*fn, "name", fn_at);
        arguments = r.string_or_empty(*fn, "arguments", fn_at);
      }
      if (!r.ok()) return;
      on_fragment(upstream_index, id, std::move(name), std::move(arguments), out);
    }
  }

  // Ends the stream with an unreadable-answer error in place of what this chunk emitted from
  // `mark` on; nothing after it is read.
  void fail(const std::string& why, std::size_t mark, std::vector<StreamEvent>& out) {
    out.resize(mark);
    failed_ = true;
    push_stream_error(out, unreadable_upstream_stream(why));
  }

  // Matches a tool call fragment to its call: a new call starts, or arguments continue one.
  void on_fragment(std::int64_t upstream_index, const std::string& id, std::string name,
                   std::string arguments, std::vector<StreamEvent>& out) {
    {
      Call* call = nullptr;
      for (auto it = calls_.rbegin(); it != calls_.rend(); ++it) {
        if (it->upstream_index == upstream_index) {
          call = &*it;
          break;
        }
      }
      // A known index with a different id is a new call: some compatible servers number every
      // call 0.
      const bool is_new = call == nullptr || (!id.empty() && id != call->id);
      if (is_new) {
        Call fresh;
        fresh.upstream_index = upstream_index;
        fresh.id = id.empty() ? random_id("call_") : id;
        fresh.index = static_cast<int>(calls_.size());
        calls_.push_back(fresh);
        StreamEvent& e = out.emplace_back();
        e.kind = StreamEvent::Kind::tool_call_start;
        e.index = fresh.index;
        e.id = fresh.id;
        e.name = std::move(name);
        e.text = std::move(arguments);  // Gemini sends the whole call in this one fragment
      } else if (!arguments.empty()) {
        StreamEvent& e = out.emplace_back();
        e.kind = StreamEvent::Kind::tool_call_delta;
        e.index = call->index;
        e.text = std::move(arguments);
      }
    }
  }

  bool started_ = false;
  bool finished_ = false;  // a finish_reason was seen
  bool done_ = false;      // [DONE] was seen
  bool failed_ = false;    // an error was emitted: the stream is over
  std::vector<Call> calls_;
};

class ChatStreamEncoder final : public StreamEncoder {
 public:
  ChatStreamEncoder(std::string id, std::string model, std::int64_t created, bool include_usage)
      : id_(std::move(id)),
        model_(std::move(model)),
        created_(created),
        include_usage_(include_usage) {}

  void encode(const StreamEvent& event, std::string& out) override {
    if (closed_) return;
    switch (event.kind) {
      case StreamEvent::Kind::start:
        // The upstream's own model id, unless a chunk has already named the configured one
        // (every chunk of a stream names the same model).
        if (!event.model.empty() && !role_sent_ && prefix_.empty()) model_ = event.model;
        if (!role_sent_) {
          json::object delta;
          delta["content"] = "";
          emit_delta(std::move(delta), out);
        }
        break;
      case StreamEvent::Kind::text:
        emit_text("content", event.text, out);
        break;
      case StreamEvent::Kind::thinking:
        emit_text("reasoning_content", event.text, out);
        break;
      case StreamEvent::Kind::thinking_signature:
        break;  // meaningless outside the provider that signed it
      case StreamEvent::Kind::tool_call_start: {
        had_tool_call_ = true;
        json::object fn;
        fn["name"] = event.name;
        fn["arguments"] = event.text;
        json::object call;
        call["index"] = event.index;
        call["id"] = event.id;
        call["type"] = "function";
        call["function"] = std::move(fn);
        emit_tool_call(std::move(call), out);
        break;
      }
      case StreamEvent::Kind::tool_call_delta: {
        if (event.text.empty()) break;
        if (role_sent_) {
          const std::string lead = "\"tool_calls\":[{\"index\":" + std::to_string(event.index) +
                                   ",\"function\":{\"arguments\":";
          write_delta(lead, event.text, "}}]}", out);
          break;
        }
        json::object fn;
        fn["arguments"] = event.text;
        json::object call;
        call["index"] = event.index;
        call["function"] = std::move(fn);
        emit_tool_call(std::move(call), out);
        break;
      }
      case StreamEvent::Kind::finish:
        if (!finished_) emit_finish(event.finish, out);
        break;
      case StreamEvent::Kind::usage:
        usage_ = event.usage;
        break;
      case StreamEvent::Kind::error:
        fail(event.error, out);
        break;
    }
  }

  void finish(std::string& out) override {
    if (closed_) return;
    if (!finished_) emit_finish(FinishReason::stop, out);
    if (include_usage_ && usage_) {
      json::object chunk = header();
      chunk["choices"] = json::array();
      chunk["usage"] = usage_to_json(*usage_);
      write(chunk, out);
    }
    out.append("data: [DONE]\n\n");
    closed_ = true;
  }

  void fail(const core::GatewayError& error, std::string& out) override {
    if (closed_) return;
    out.append("data: ").append(core::to_openai_error_body(error)).append("\n\n");
    closed_ = true;
  }

 private:
  json::object header() const {
    json::object chunk;
    chunk["id"] = id_;
    chunk["object"] = "chat.completion.chunk";
    chunk["created"] = created_;
    chunk["model"] = model_;
    return chunk;
  }

  // A piece of text or reasoning as the delta member `key`. The first chunk also carries the
  // role, so it goes through the general writer.
  void emit_text(std::string_view key, const std::string& text, std::string& out) {
    if (text.empty()) return;
    if (role_sent_) {
      const std::string lead = "\"" + std::string(key) + "\":";
      write_delta(lead, text, "}", out);
      return;
    }
    json::object delta;
    delta[key] = text;
    emit_delta(std::move(delta), out);
  }

  // The frequent chunks (a piece of text, reasoning or arguments) are written directly:
  // building each as a DOM and serialising it cost more than the rest of relaying it
  // (callgrind). `lead` opens the delta's member, `value` is its string, `close` ends the delta.
  void write_delta(std::string_view lead, std::string_view value, std::string_view close,
                   std::string& out) {
    if (prefix_.empty()) {
      prefix_ = "data: {\"id\":";
      core::append_json_string(prefix_, id_);
      prefix_ += ",\"object\":\"chat.completion.chunk\",\"created\":" + std::to_string(created_) +
                 ",\"model\":";
      core::append_json_string(prefix_, model_);
      prefix_ += ",\"choices\":[{\"index\":0,\"delta\":{";
    }
    out += prefix_;
    out += lead;
    core::append_json_string(out, value);
    out += close;
    out += ",\"logprobs\":null,\"finish_reason\":null}]}\n\n";
  }

  static void write(const json::object& chunk, std::string& out) {
    out.append("data: ").append(json::serialize(chunk)).append("\n\n");
  }

  void emit_delta(json::object delta, std::string& out, const char* finish = nullptr) {
    if (!role_sent_) {
      delta["role"] = "assistant";
      role_sent_ = true;
    }
    json::object choice;
    choice["index"] = 0;
    choice["delta"] = std::move(delta);
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = finish ? json::value(finish) : json::value(nullptr);
    json::array choices;
    choices.emplace_back(std::move(choice));
    json::object chunk = header();
    chunk["choices"] = std::move(choices);
    write(chunk, out);
  }

  void emit_tool_call(json::object call, std::string& out) {
    json::array calls;
    calls.emplace_back(std::move(call));
    json::object delta;
    delta["tool_calls"] = std::move(calls);
    emit_delta(std::move(delta), out);
  }

  void emit_finish(FinishReason reason, std::string& out) {
    if (reason == FinishReason::stop && had_tool_call_) reason = FinishReason::tool_calls;
    emit_delta(json::object(), out, finish_reason_name(reason));
    finished_ = true;
  }

  std::string id_;
  std::string model_;
  std::int64_t created_;
  std::string prefix_;  // every chunk's opening, up to the delta's members
  bool include_usage_;
  bool role_sent_ = false;
  bool had_tool_call_ = false;
  bool finished_ = false;
  bool closed_ = false;
  std::optional<core::Usage> usage_;
};

}  // namespace

std::unique_ptr<StreamDecoder> make_chat_stream_decoder() {
  return std::make_unique<ChatStreamDecoder>();
}

std::unique_ptr<StreamEncoder> make_chat_stream_encoder(std::string id, std::string model,
                                                        std::int64_t created, bool include_usage) {
  return std::make_unique<ChatStreamEncoder>(std::move(id), std::move(model), created,
                                             include_usage);
}

}  // namespace switchyard::adapters
