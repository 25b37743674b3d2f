#include "bench/mock_plan.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace switchyard::bench {
namespace {

namespace od = simdjson::ondemand;
namespace dom = simdjson::dom;

od::parser& ondemand_parser() {
  thread_local od::parser parser;
  return parser;
}

int clamp_int(std::int64_t v, std::int64_t lo, std::int64_t hi) {
  return static_cast<int>(std::min(std::max(v, lo), hi));
}

// Reads one integer member; returns false (and sets error) on a type mismatch.
bool read_int(od::value& value, std::int64_t& out, std::string_view name, std::string& error) {
  if (value.get_int64().get(out) != simdjson::SUCCESS) {
    error = "mock." + std::string(name) + " must be an integer";
    return false;
  }
  return true;
}

bool read_string_array(od::value& value, std::vector<std::string>& out, std::string_view name,
                       std::string& error) {
  od::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) {
    error = "mock." + std::string(name) + " must be an array of strings";
    return false;
  }
  out.clear();
  for (auto item : array) {
    std::string_view s;
    if (item.get_string().get(s) != simdjson::SUCCESS) {
      error = "mock." + std::string(name) + " must be an array of strings";
      return false;
    }
    out.emplace_back(s);
  }
  return true;
}

bool read_usage(od::value& value, Plan& plan, std::string& error) {
  od::object usage;
  if (value.get_object().get(usage) != simdjson::SUCCESS) {
    error = "mock.usage must be an object";
    return false;
  }
  for (auto member : usage) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      error = "malformed mock.usage";
      return false;
    }
    std::int64_t n = 0;
    if (key == "prompt_tokens" || key == "completion_tokens" || key == "cached_tokens" ||
        key == "cache_creation_tokens" || key == "reasoning_tokens") {
      if (!read_int(field.value(), n, key, error)) return false;
    }
    if (key == "prompt_tokens") {
      plan.prompt_tokens = n;
      plan.prompt_tokens_set = true;
    }
    if (key == "completion_tokens") plan.completion_tokens = n;
    if (key == "cached_tokens") plan.cached_tokens = n;
    if (key == "cache_creation_tokens") plan.cache_creation_tokens = n;
    if (key == "reasoning_tokens") plan.reasoning_tokens = n;
  }
  return true;
}

// Minified JSON text of raw JSON `raw` (which simdjson has already validated structurally).
std::string minified(std::string_view raw) {
  std::string out(raw.size(), '\0');
  std::size_t n = 0;
  if (simdjson::minify(raw.data(), raw.size(), out.data(), n) != simdjson::SUCCESS) {
    return std::string(raw);
  }
  out.resize(n);
  return out;
}

bool read_tool_call(od::value& value, Plan& plan, std::string& error) {
  od::object call;
  if (value.get_object().get(call) != simdjson::SUCCESS) {
    error = "mock.tool_call must be an object";
    return false;
  }
  ToolCall tool{{}, "{}"};
  for (auto member : call) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      error = "malformed mock.tool_call";
      return false;
    }
    auto& v = field.value();
    std::string_view s;
    if (key == "name") {
      if (v.get_string().get(s) != simdjson::SUCCESS) {
        error = "mock.tool_call.name must be a string";
        return false;
      }
      tool.name.assign(s);
    } else if (key == "arguments") {
      // An object is the arguments; a string is taken as already-serialised arguments.
      od::json_type type;
      od::object args;
      if (v.type().get(type) != simdjson::SUCCESS) type = od::json_type::null;
      if (type == od::json_type::object && v.get_object().get(args) == simdjson::SUCCESS &&
          args.raw_json().get(s) == simdjson::SUCCESS) {
        tool.arguments = minified(s);
      } else if (type == od::json_type::string && v.get_string().get(s) == simdjson::SUCCESS) {
        tool.arguments.assign(s);
      } else {
        error = "mock.tool_call.arguments must be an object or a string";
        return false;
      }
    }
  }
  if (tool.name.empty()) {
    error = "mock.tool_call.name is required";
    return false;
  }
  plan.tool_call = std::move(tool);
  return true;
}

bool read_mock_object(od::object& mock, Plan& plan, std::string& error) {
  for (auto member : mock) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      error = "malformed mock object";
      return false;
    }
    auto& v = field.value();
    std::int64_t n = 0;
    std::string_view s;
    if (key == "ttft_ms" || key == "chunk_delay_ms") {
      if (!read_int(v, n, key, error)) return false;
      (key == "ttft_ms" ? plan.ttft_ms : plan.chunk_delay_ms) = clamp_int(n, 0, 3'600'000);
    } else if (key == "chunks") {
      if (!read_int(v, n, key, error)) return false;
      plan.chunks = clamp_int(n, 0, 1'000'000);
    } else if (key == "fail_first" || key == "slow_every") {
      if (!read_int(v, n, key, error)) return false;
      if (n < 0) {
        error = "mock." + std::string(key) + " must not be negative";
        return false;
      }
      if (key == "fail_first") {
        plan.fail_first = n;
      } else {
        plan.slow_every = n;
      }
    } else if (key == "slow_ttft_ms") {
      if (!read_int(v, n, key, error)) return false;
      plan.slow_ttft_ms = clamp_int(n, 0, 3'600'000);
    } else if (key == "revoked_keys") {
      if (!read_string_array(v, plan.revoked_keys, key, error)) return false;
    } else if (key == "cut_after") {
      if (!read_int(v, n, key, error)) return false;
      plan.cut_after = clamp_int(n, 0, 1'000'000);
    } else if (key == "status") {
      if (!read_int(v, n, key, error)) return false;
      if (n < 100 || n > 999) {
        error = "mock.status must be an HTTP status code";
        return false;
      }
      plan.status = static_cast<int>(n);
    } else if (key == "retry_after") {
      // A whole number of seconds, or the header's text as it is (an HTTP date, say).
      od::json_type type;
      if (v.type().get(type) != simdjson::SUCCESS) type = od::json_type::null;
      if (type == od::json_type::string && v.get_string().get(s) == simdjson::SUCCESS &&
          std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7F; })) {
        plan.retry_after.emplace(s);
      } else if (type == od::json_type::number && v.get_int64().get(n) == simdjson::SUCCESS &&
                 n >= 0) {
        plan.retry_after = std::to_string(n);
      } else {
        error = "mock.retry_after must be printable text or a whole number of seconds";
        return false;
      }
    } else if (key == "text") {
      if (v.get_string().get(s) != simdjson::SUCCESS) {
        error = "mock.text must be a string";
        return false;
      }
      plan.text.emplace(s);
    } else if (key == "usage") {
      if (!read_usage(v, plan, error)) return false;
    } else if (key == "tool_call") {
      if (!read_tool_call(v, plan, error)) return false;
    } else if (key == "fault") {
      if (v.get_string().get(s) != simdjson::SUCCESS) {
        error = "mock.fault must be a string";
        return false;
      }
      if (s == "status") {
        plan.fault = Fault::kStatus;
      } else if (s == "reset") {
        plan.fault = Fault::kReset;
      } else if (s == "stall") {
        plan.fault = Fault::kStall;
      } else if (s == "cut") {
        plan.fault = Fault::kCut;
      } else if (s == "stream_error") {
        plan.fault = Fault::kStreamError;
      } else if (s == "context_length") {
        plan.fault = Fault::kContextLength;
      } else if (s.empty() || s == "none") {
        plan.fault = Fault::kNone;
      } else {
        error = "unknown mock.fault: " + std::string(s);
        return false;
      }
    } else if (key == "body") {
      // A string is sent verbatim; an object or array is sent as the JSON it is.
      od::json_type type;
      if (v.type().get(type) != simdjson::SUCCESS) {
        error = "malformed mock.body";
        return false;
      }
      simdjson::error_code ec = simdjson::INCORRECT_TYPE;
      if (type == od::json_type::string) {
        ec = v.get_string().get(s);
      } else if (type == od::json_type::object) {
        od::object o;
        ec = v.get_object().get(o);
        if (ec == simdjson::SUCCESS) ec = o.raw_json().get(s);
      } else if (type == od::json_type::array) {
        od::array a;
        ec = v.get_array().get(a);
        if (ec == simdjson::SUCCESS) ec = a.raw_json().get(s);
      }
      if (ec != simdjson::SUCCESS) {
        error = "mock.body must be a string, an object or an array";
        return false;
      }
      plan.body.emplace(s);
    }
  }
  return true;
}

void pad(std::string& body) {
  if (body.capacity() - body.size() < simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
}

// ---------------------------------------------------------------------------------------------
// The conversation, read with simdjson's DOM: only on the paths that need it, never for a plain
// chat request.

std::string_view string_or_empty(dom::element e) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return {};
  return s;
}

std::string_view member_string(dom::element e, std::string_view key) {
  dom::element v;
  if (e.at_key(key).get(v) != simdjson::SUCCESS) return {};
  return string_or_empty(v);
}

// The text of a content value in any protocol: a string, or the "text" of each part.
std::string content_text(dom::element content) {
  std::string_view s;
  if (content.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  std::string out;
  dom::array parts;
  if (content.get_array().get(parts) != simdjson::SUCCESS) return out;
  for (dom::element part : parts) out += member_string(part, "text");
  return out;
}

// The JSON after the first line of `text` that starts with "#mock ".
std::optional<std::string> mock_line_in(std::string_view text) {
  static constexpr std::string_view kMarker = "#mock ";
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.substr(0, kMarker.size()) == kMarker) {
      line.remove_prefix(kMarker.size());
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      return std::string(line);
    }
    pos = end + 1;
  }
  return std::nullopt;
}

void scan_user_text(Conversation& out, const std::string& text) {
  if (!out.mock_line) out.mock_line = mock_line_in(text);
}

// The characters of the text under `e`: string "text", "content" and "system" members (and
// `e` itself when it is a string), wherever they sit; roles, ids and types do not count.
std::size_t text_chars_in(dom::element e) {
  std::size_t n = 0;
  if (e.is_string()) return string_or_empty(e).size();
  if (e.is_array()) {
    for (dom::element v : dom::array(e)) n += text_chars_in(v);
  } else if (e.is_object()) {
    for (auto field : dom::object(e)) {
      const bool text_key = field.key == "text" || field.key == "content" || field.key == "system";
      if (field.value.is_string()) {
        if (text_key) n += string_or_empty(field.value).size();
      } else {
        n += text_chars_in(field.value);
      }
    }
  }
  return n;
}

void read_chat(dom::element root, Conversation& out) {
  dom::array messages;
  if (root["messages"].get_array().get(messages) == simdjson::SUCCESS) {
    dom::element last;
    bool any = false;
    for (dom::element message : messages) {
      dom::element content;
      const bool has_content = message["content"].get(content) == simdjson::SUCCESS;
      if (member_string(message, "role") == "user" && has_content) {
        scan_user_text(out, content_text(content));
      }
      last = message;
      any = true;
    }
    dom::element content;
    if (any && member_string(last, "role") == "tool" &&
        last["content"].get(content) == simdjson::SUCCESS) {
      out.tool_result = content_text(content);
    }
  }
  dom::array tools;
  if (root["tools"].get_array().get(tools) == simdjson::SUCCESS) {
    for (dom::element tool : tools) {
      dom::element function;
      if (tool["function"].get(function) != simdjson::SUCCESS) continue;
      const std::string_view name = member_string(function, "name");
      if (!name.empty()) out.tools.emplace_back(name);
    }
  }
}

void read_anthropic(dom::element root, Conversation& out) {
  dom::array messages;
  if (root["messages"].get_array().get(messages) == simdjson::SUCCESS) {
    dom::element last;
    bool any = false;
    for (dom::element message : messages) {
      dom::element content;
      if (member_string(message, "role") == "user" &&
          message["content"].get(content) == simdjson::SUCCESS) {
        // content_text reads only "text" members, so tool_result blocks add nothing here.
        scan_user_text(out, content_text(content));
      }
      last = message;
      any = true;
    }
    dom::array blocks;
    if (any && member_string(last, "role") == "user" &&
        last["content"].get_array().get(blocks) == simdjson::SUCCESS) {
      for (dom::element block : blocks) {
        dom::element content;
        if (member_string(block, "type") != "tool_result") continue;
        out.tool_result =
            block["content"].get(content) == simdjson::SUCCESS ? content_text(content) : "";
        break;
      }
    }
  }
  dom::array tools;
  if (root["tools"].get_array().get(tools) == simdjson::SUCCESS) {
    for (dom::element tool : tools) {
      // Server tools (web_search_...) carry a type; client tools have none or "custom".
      const std::string_view type = member_string(tool, "type");
      const std::string_view name = member_string(tool, "name");
      if ((type.empty() || type == "custom") && !name.empty()) out.tools.emplace_back(name);
    }
  }
  for (std::string_view key : {"system", "messages"}) {
    dom::element e;
    if (root[key].get(e) == simdjson::SUCCESS) out.text_chars += text_chars_in(e);
  }
}

void read_responses(dom::element root, Conversation& out) {
  dom::element input;
  if (root["input"].get(input) == simdjson::SUCCESS) {
    std::string_view s;
    dom::array items;
    if (input.get_string().get(s) == simdjson::SUCCESS) {
      scan_user_text(out, std::string(s));
    } else if (input.get_array().get(items) == simdjson::SUCCESS) {
      dom::element last;
      bool any = false;
      for (dom::element item : items) {
        const std::string_view type = member_string(item, "type");
        dom::element content;
        if ((type == "message" || type.empty()) && member_string(item, "role") == "user" &&
            item["content"].get(content) == simdjson::SUCCESS) {
          scan_user_text(out, content_text(content));
        }
        last = item;
        any = true;
      }
      const std::string_view last_type = any ? member_string(last, "type") : "";
      dom::element output;
      if ((last_type == "function_call_output" || last_type == "custom_tool_call_output") &&
          last["output"].get(output) == simdjson::SUCCESS) {
        out.tool_result = content_text(output);
      }
    }
  }
  dom::array tools;
  if (root["tools"].get_array().get(tools) == simdjson::SUCCESS) {
    for (dom::element tool : tools) {
      const std::string_view name = member_string(tool, "name");
      if (member_string(tool, "type") == "function" && !name.empty()) out.tools.emplace_back(name);
    }
  }
}

// A functionResponse's "response" object as text: its usual result member when it is a string,
// else the whole object as JSON.
std::string function_response_text(dom::element response) {
  for (std::string_view key : {"result", "output", "content", "text"}) {
    dom::element v;
    std::string_view s;
    if (response[key].get(v) == simdjson::SUCCESS && v.get_string().get(s) == simdjson::SUCCESS) {
      return std::string(s);
    }
  }
  return simdjson::minify(response);
}

void read_gemini(dom::element root, Conversation& out) {
  dom::array contents;
  if (root["contents"].get_array().get(contents) == simdjson::SUCCESS) {
    dom::element last;
    bool any = false;
    for (dom::element content : contents) {
      const std::string_view role = member_string(content, "role");
      dom::element parts;
      if ((role.empty() || role == "user") && content["parts"].get(parts) == simdjson::SUCCESS) {
        scan_user_text(out, content_text(parts));
      }
      last = content;
      any = true;
    }
    dom::array parts;
    if (any && last["parts"].get_array().get(parts) == simdjson::SUCCESS) {
      for (dom::element part : parts) {
        dom::element call;
        if (part["functionResponse"].get(call) != simdjson::SUCCESS &&
            part["function_response"].get(call) != simdjson::SUCCESS) {
          continue;
        }
        dom::element response;
        out.tool_result = call["response"].get(response) == simdjson::SUCCESS
                              ? function_response_text(response)
                              : std::string();
        break;
      }
    }
  }
  dom::array tools;
  if (root["tools"].get_array().get(tools) == simdjson::SUCCESS) {
    for (dom::element tool : tools) {
      dom::array declarations;
      if (tool["functionDeclarations"].get_array().get(declarations) != simdjson::SUCCESS &&
          tool["function_declarations"].get_array().get(declarations) != simdjson::SUCCESS) {
        continue;
      }
      for (dom::element declaration : declarations) {
        const std::string_view name = member_string(declaration, "name");
        if (!name.empty()) out.tools.emplace_back(name);
      }
    }
  }
}

bool read_embeddings(dom::element root, Conversation& out, std::string& error) {
  dom::element input;
  if (root["input"].get(input) != simdjson::SUCCESS) {
    error = "input is required";
    return false;
  }
  std::string_view s;
  dom::array items;
  if (input.get_string().get(s) == simdjson::SUCCESS) {
    out.inputs.emplace_back(s);
  } else if (input.get_array().get(items) == simdjson::SUCCESS) {
    // Strings or token arrays, each one input; a flat array of numbers is one token input.
    const bool tokens = items.size() > 0 && items.at(0).is_number();
    if (tokens) {
      out.inputs.push_back(simdjson::minify(input));
    } else {
      for (dom::element item : items) {
        if (item.get_string().get(s) == simdjson::SUCCESS) {
          out.inputs.emplace_back(s);
        } else if (item.is_array()) {
          out.inputs.push_back(simdjson::minify(item));
        } else {
          error = "input must be a string, an array of strings or token arrays";
          return false;
        }
      }
    }
  }
  if (out.inputs.empty()) {
    error = "input must be a non-empty string or array";
    return false;
  }
  std::int64_t dims = 0;
  if (root["dimensions"].get_int64().get(dims) == simdjson::SUCCESS) {
    out.dimensions = clamp_int(dims, 1, 4096);
  }
  return true;
}

// The first `limit` code points of `text`.
std::string_view prefix_chars(std::string_view text, std::size_t limit) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars++ == limit) return text.substr(0, i);
  }
  return text;
}

struct ScriptedTool {
  std::string_view name;
  std::string_view arguments;
};

// Shell tools of real CLI clients, each called so that it prints a marker a test can look for.
// Codex's "local_shell" is a tool type, not a function, so it has no entry.
constexpr std::array<ScriptedTool, 3> kScriptedTools{{
    {"Bash", R"({"command":"echo switchyard-tool-ok","description":"print a marker"})"},
    {"shell", R"({"command":["bash","-lc","echo switchyard-tool-ok"]})"},
    {"exec_command", R"({"cmd":"echo switchyard-tool-ok"})"},
}};

}  // namespace

std::string_view protocol_name(Protocol protocol) {
  switch (protocol) {
    case Protocol::kOpenAiChat:
      return "openai_chat";
    case Protocol::kAzureChat:
      return "azure_chat";
    case Protocol::kAnthropic:
      return "anthropic_messages";
    case Protocol::kAnthropicCountTokens:
      return "anthropic_count_tokens";
    case Protocol::kResponses:
      return "openai_responses";
    case Protocol::kGemini:
      return "gemini";
    case Protocol::kEmbeddings:
      return "embeddings";
  }
  return "unknown";
}

PlanResult parse_plan(std::string& body, const MockUpstreamOptions& defaults,
                      std::string_view model_override) {
  od::parser& parser = ondemand_parser();
  PlanResult result;
  Plan plan;
  plan.ttft_ms = defaults.ttft_ms;
  plan.chunk_delay_ms = defaults.chunk_delay_ms;
  plan.chunks = defaults.chunks;

  pad(body);
  simdjson::padded_string_view json(body.data(), body.size(), body.capacity());
  od::document doc;
  od::object root;
  if (parser.iterate(json).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(root) != simdjson::SUCCESS) {
    result.error = "request body is not a JSON object";
    return result;
  }
  for (auto member : root) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      result.error = "request body is not valid JSON";
      return result;
    }
    auto& v = field.value();
    if (key == "model") {
      std::string_view model;
      if (v.get_string().get(model) != simdjson::SUCCESS) {
        result.error = "model must be a string";
        return result;
      }
      plan.model.assign(model);
    } else if (key == "stream") {
      if (v.get_bool().get(plan.stream) != simdjson::SUCCESS) {
        result.error = "stream must be a boolean";
        return result;
      }
    } else if (key == "stream_options") {
      od::object options;
      if (v.get_object().get(options) != simdjson::SUCCESS) {
        result.error = "stream_options must be an object";
        return result;
      }
      for (auto option : options) {
        od::field f;
        std::string_view k;
        if (std::move(option).get(f) != simdjson::SUCCESS ||
            f.unescaped_key().get(k) != simdjson::SUCCESS) {
          result.error = "malformed stream_options";
          return result;
        }
        if (k == "include_usage" && f.value().get_bool().get(plan.include_usage)) {
          result.error = "stream_options.include_usage must be a boolean";
          return result;
        }
      }
    } else if (key == "mock") {
      od::object mock;
      if (v.get_object().get(mock) != simdjson::SUCCESS) {
        result.error = "mock must be an object";
        return result;
      }
      if (!read_mock_object(mock, plan, result.error)) return result;
    }
  }
  if (!model_override.empty()) plan.model.assign(model_override);
  if (plan.model.empty()) {
    result.error = "model is required";
    return result;
  }
  result.plan = std::move(plan);
  return result;
}

bool mentions_mock_line(std::string_view body) {
  // memchr runs at memory speed, and '#' is rare in real request bodies.
  const char* p = body.data();
  const char* const end = p + body.size();
  while (p < end) {
    const void* hit = std::memchr(p, '#', static_cast<std::size_t>(end - p));
    if (hit == nullptr) return false;
    p = static_cast<const char*>(hit);
    if (end - p >= 6 && std::memcmp(p, "#mock ", 6) == 0) return true;
    ++p;
  }
  return false;
}

bool read_conversation(Protocol protocol, std::string& body, Conversation& out,
                       std::string& error) {
  thread_local dom::parser parser;
  pad(body);
  dom::element root;
  if (parser.parse(body.data(), body.size(), false).get(root) != simdjson::SUCCESS ||
      !root.is_object()) {
    error = "request body is not a JSON object";
    return false;
  }
  switch (protocol) {
    case Protocol::kOpenAiChat:
    case Protocol::kAzureChat:
      read_chat(root, out);
      return true;
    case Protocol::kAnthropic:
      // Required by the real API, so a translating gateway that forgets it fails here too.
      if (!root["max_tokens"].is_int64() && !root["max_tokens"].is_uint64()) {
        error = "max_tokens: Field required";
        return false;
      }
      read_anthropic(root, out);
      return true;
    case Protocol::kAnthropicCountTokens:
      read_anthropic(root, out);
      return true;
    case Protocol::kResponses:
      read_responses(root, out);
      return true;
    case Protocol::kGemini:
      read_gemini(root, out);
      return true;
    case Protocol::kEmbeddings:
      return read_embeddings(root, out, error);
  }
  return true;
}

bool apply_plan_object(std::string_view json, Plan& plan, std::string& error) {
  simdjson::padded_string text(json);
  od::document doc;
  od::object mock;
  if (ondemand_parser().iterate(text).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(mock) != simdjson::SUCCESS) {
    error = "a plan must be a JSON object";
    return false;
  }
  return read_mock_object(mock, plan, error);
}

std::optional<CheckedPlan> check_plan_object(std::string_view json, std::string& error) {
  // The DOM parser validates the whole text, which on demand parsing does not.
  dom::parser parser;
  dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    error = "a plan must be a JSON object";
    return std::nullopt;
  }
  CheckedPlan checked;
  if (dom::object(root).size() > 0) checked.json = simdjson::minify(root);
  Plan probe;
  if (!checked.json.empty() && !apply_plan_object(checked.json, probe, error)) return std::nullopt;
  checked.sets_tool_call = probe.tool_call.has_value();
  return checked;
}

void apply_sequence(Plan& plan, std::uint64_t sequence) {
  if (plan.fail_first && sequence > static_cast<std::uint64_t>(*plan.fail_first)) {
    plan.fault = Fault::kNone;
  }
  if (plan.slow_every > 0 && sequence % static_cast<std::uint64_t>(plan.slow_every) == 0) {
    plan.ttft_ms = plan.slow_ttft_ms;
  }
}

bool apply_conversation(const Conversation& conversation, bool tool_script_auto,
                        std::string_view instance_plan, Plan& plan, std::string& error) {
  if (conversation.mock_line) {
    simdjson::padded_string line(*conversation.mock_line);
    od::document doc;
    od::object mock;
    if (ondemand_parser().iterate(line).get(doc) != simdjson::SUCCESS ||
        doc.get_object().get(mock) != simdjson::SUCCESS) {
      error = "the #mock line must be followed by a JSON object on the same line";
      return false;
    }
    if (!read_mock_object(mock, plan, error)) return false;
  }
  if (!instance_plan.empty() && !apply_plan_object(instance_plan, plan, error)) return false;
  const bool scripted = plan.tool_call.has_value() || tool_script_auto;
  if (scripted && conversation.tool_result) {
    plan.tool_call.reset();
    plan.text = "Tool result: " + std::string(prefix_chars(*conversation.tool_result, 200));
  } else if (!plan.tool_call && tool_script_auto) {
    for (const ScriptedTool& tool : kScriptedTools) {
      if (std::find(conversation.tools.begin(), conversation.tools.end(), tool.name) !=
          conversation.tools.end()) {
        plan.tool_call = ToolCall{std::string(tool.name), std::string(tool.arguments)};
        break;
      }
    }
  }
  return true;
}

std::vector<std::string_view> split_words(std::string_view text, int pieces) {
  std::vector<std::size_t> starts{0};
  for (std::size_t i = 1; i < text.size(); ++i) {
    const bool space_before = text[i - 1] == ' ' || text[i - 1] == '\n' || text[i - 1] == '\t';
    const bool space_here = text[i] == ' ' || text[i] == '\n' || text[i] == '\t';
    if (space_before && !space_here) starts.push_back(i);
  }
  const std::size_t words = starts.size();
  starts.push_back(text.size());
  std::vector<std::string_view> out;
  out.reserve(static_cast<std::size_t>(pieces));
  const auto n = static_cast<std::size_t>(pieces);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t from = starts[i * words / n];
    const std::size_t to = starts[(i + 1) * words / n];
    out.push_back(text.substr(from, to - from));
  }
  return out;
}

std::vector<std::string_view> split_even(std::string_view text, int pieces) {
  const std::size_t n = std::max<std::size_t>(
      1, std::min(static_cast<std::size_t>(std::max(pieces, 1)), text.size()));
  std::vector<std::string_view> out;
  out.reserve(n);
  std::size_t from = 0;
  for (std::size_t i = 1; i <= n; ++i) {
    std::size_t to = i == n ? text.size() : i * text.size() / n;
    while (to < text.size() && (static_cast<unsigned char>(text[to]) & 0xC0) == 0x80) ++to;
    to = std::max(to, from);
    out.push_back(text.substr(from, to - from));
    from = to;
  }
  return out;
}

}  // namespace switchyard::bench
