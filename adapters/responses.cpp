#include "adapters/responses.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>

#include "adapters/json_reading.hpp"

namespace switchyard::adapters {

namespace {

namespace json = boost::json;

core::GatewayError bad_request(std::string message, std::string param) {
  return core::client_error(400, std::move(message), std::move(param));
}

struct Reader {
  std::optional<core::GatewayError> error;

  bool fail(std::string message, std::string param) {
    if (!error) error = bad_request(std::move(message), std::move(param));
    return false;
  }

  bool string_field(const json::object& o, std::string_view key, std::string& out) {
    const json::value* v = member(o, key);
    if (!v) return true;
    if (!v->is_string())
      return fail("'" + std::string(key) + "' must be a string", std::string(key));
    out = to_std(v->get_string());
    return true;
  }

  bool bool_field(const json::object& o, std::string_view key, std::optional<bool>& out) {
    const json::value* v = member(o, key);
    if (!v) return true;
    if (!v->is_bool())
      return fail("'" + std::string(key) + "' must be a boolean", std::string(key));
    out = v->get_bool();
    return true;
  }

  bool int_field(const json::object& o, std::string_view key, std::optional<std::int64_t>& out) {
    const json::value* v = member(o, key);
    if (!v) return true;
    json::error_code ec;
    const auto n = v->is_number() ? v->to_number<std::int64_t>(ec) : 0;
    if (!v->is_number() || ec)
      return fail("'" + std::string(key) + "' must be an integer", std::string(key));
    out = n;
    return true;
  }

  bool number_field(const json::object& o, std::string_view key, std::optional<double>& out) {
    const json::value* v = member(o, key);
    if (!v) return true;
    if (!v->is_number())
      return fail("'" + std::string(key) + "' must be a number", std::string(key));
    json::error_code ec;
    out = v->to_number<double>(ec);
    // Boost.JSON reads 1e400 as infinity and 0e400 as NaN, which it cannot write back.
    if (!std::isfinite(*out))
      return fail("'" + std::string(key) + "' must be a number within a double's range",
                  std::string(key));
    return true;
  }
};

bool image_from_url(Reader& r, std::string_view url, const std::string& param, Image& out) {
  if (url.substr(0, 5) == "data:") {
    const std::size_t marker = url.find(";base64,");
    if (marker == std::string_view::npos) {
      return r.fail("'" + param + "' must be a base64 data URL or an http(s) URL", param);
    }
    out.media_type = std::string(url.substr(5, marker - 5));
    out.data = std::string(url.substr(marker + 8));
    return true;
  }
  if (url.empty()) return r.fail("'" + param + "' must not be empty", param);
  out.url = std::string(url);
  return true;
}

// Message content: a string, or input_text / output_text / input_image parts.
bool decode_content(Reader& r, const json::value& content, const std::string& param,
                    std::vector<Part>& out) {
  const auto on_text = [&](const json::string& text) {
    out.emplace_back().text = to_std(text);
    return true;
  };
  return read_content(
      r, content, param, on_text, [&](const json::object& part, const std::string& part_param) {
        const std::string type = string_or_empty(part, "type");
        Part p;
        if (type == "input_text" || type == "output_text" || type == "text") {
          p.text = string_or_empty(part, "text");
        } else if (type == "refusal") {
          p.text = string_or_empty(part, "refusal");
        } else if (type == "input_image") {
          const json::value* url = member(part, "image_url");
          if (!url || !url->is_string()) {
            return r.fail(
                "'" + part_param +
                    ".image_url' must be a URL (file_id images are not supported by this gateway)",
                part_param + ".image_url");
          }
          p.kind = Part::Kind::image;
          if (!image_from_url(r, to_std(url->get_string()), part_param + ".image_url", p.image))
            return false;
        } else {
          return r.fail("content part type '" + type + "' is not supported by this gateway",
                        part_param + ".type");
        }
        if (p.kind == Part::Kind::text && p.text.empty()) return true;
        out.push_back(std::move(p));
        return true;
      });
}

// A function_call_output's output: a string, or input_text / input_image parts.
bool decode_output(Reader& r, const json::value* output, const std::string& param, Part& result) {
  if (!output) return true;
  std::vector<Part> parts;
  if (!decode_content(r, *output, param, parts)) return false;
  for (Part& p : parts) {
    if (p.kind == Part::Kind::image) {
      result.images.push_back(std::move(p.image));
    } else {
      if (!result.text.empty()) result.text.push_back('\n');
      result.text += p.text;
    }
  }
  return true;
}

std::string effort_of(std::string effort) {
  // Canonical efforts are low / medium / high; Responses also has the ends of the scale.
  if (effort == "minimal") return "low";
  if (effort == "xhigh") return "high";
  if (effort == "none") return {};
  return effort;
}

class InputDecoder {
 public:
  InputDecoder(Reader& r, Request& out) : r_(r), out_(out) {}

  bool item(const json::value& value, std::size_t i) {
    const std::string param = indexed("input", i);
    if (!value.is_object()) return r_.fail("'" + param + "' must be an object", param);
    const json::object& o = value.get_object();
    std::string type = string_or_empty(o, "type");
    if (type.empty() && member(o, "role")) type = "message";  // the "easy" input message form

    if (type == "message") return message(o, param);
    if (type == "function_call" || type == "custom_tool_call") {
      Part p;
      p.kind = Part::Kind::tool_call;
      p.id = string_or_empty(o, "call_id");
      p.name = string_or_empty(o, "name");
      if (p.id.empty()) return r_.fail("'" + param + ".call_id' is required", param + ".call_id");
      if (p.name.empty()) return r_.fail("'" + param + ".name' is required", param + ".name");
      if (type == "function_call") {
        p.arguments = string_or_empty(o, "arguments");
        if (p.arguments.empty()) p.arguments = "{}";
      } else {
        json::object args;
        args["input"] = string_or_empty(o, "input");
        p.arguments = json::serialize(args);
      }
      names_[p.id] = p.name;
      // A turn's calls (and the text before them) are one assistant message elsewhere.
      if (out_.messages.empty() || out_.messages.back().role != Message::Role::assistant) {
        Message m;
        m.role = Message::Role::assistant;
        out_.messages.push_back(std::move(m));
      }
      out_.messages.back().parts.push_back(std::move(p));
      return true;
    }
    if (type == "function_call_output" || type == "custom_tool_call_output") {
      Part p;
      p.kind = Part::Kind::tool_result;
      p.id = string_or_empty(o, "call_id");
      if (p.id.empty()) return r_.fail("'" + param + ".call_id' is required", param + ".call_id");
      if (auto it = names_.find(p.id); it != names_.end()) p.name = it->second;
      if (!decode_output(r_, member(o, "output"), param + ".output", p)) return false;
      Message m;
      m.role = Message::Role::tool;
      m.parts.push_back(std::move(p));
      out_.messages.push_back(std::move(m));
      return true;
    }
    // reasoning (encrypted, meaningless to other providers), hosted tool calls, and anything
    // newer than this gateway.
    return true;
  }

 private:
  bool message(const json::object& item, const std::string& param) {
    const std::string role = string_or_empty(item, "role");
    Message m;
    if (role == "user")
      m.role = Message::Role::user;
    else if (role == "assistant")
      m.role = Message::Role::assistant;
    else if (role == "system" || role == "developer")
      m.role = Message::Role::system;
    else
      return r_.fail("'" + param + ".role' must be one of user, assistant, system, developer",
                     param + ".role");
    const json::value* content = member(item, "content");
    if (!content) return r_.fail("'" + param + ".content' is required", param + ".content");
    if (!decode_content(r_, *content, param + ".content", m.parts)) return false;
    if (m.role != Message::Role::user) {
      for (const Part& p : m.parts) {
        if (p.kind != Part::Kind::text) {
          return r_.fail("'" + param + ".content' of a " + role + " message may hold only text",
                         param + ".content");
        }
      }
    }
    if (m.role == Message::Role::assistant && m.parts.empty()) return true;
    // Consecutive assistant texts are one turn, as long as no call has been made in it yet.
    if (m.role == Message::Role::assistant && !out_.messages.empty() &&
        out_.messages.back().role == Message::Role::assistant) {
      auto& previous = out_.messages.back().parts;
      const bool has_call = std::any_of(previous.begin(), previous.end(), [](const Part& p) {
        return p.kind == Part::Kind::tool_call;
      });
      if (!has_call) {
        for (Part& p : m.parts) previous.push_back(std::move(p));
        return true;
      }
    }
    out_.messages.push_back(std::move(m));
    return true;
  }

  Reader& r_;
  Request& out_;
  std::map<std::string, std::string> names_;  // call_id -> tool name (Gemini answers by name)
};

bool decode_tools(Reader& r, const json::value& tools, Request& out) {
  if (!tools.is_array()) return r.fail("'tools' must be an array", "tools");
  const json::array& list = tools.get_array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string param = indexed("tools", i);
    if (!list[i].is_object()) return r.fail("'" + param + "' must be an object", param);
    const json::object* t = &list[i].get_object();
    const std::string type = string_or_empty(*t, "type");
    if (type != "function" && type != "custom") continue;  // hosted tools only the provider runs
    // Accept the Chat form ({"type":"function","function":{...}}) too: some clients mix them up.
    if (const json::value* nested = member(*t, "function");
        type == "function" && nested && nested->is_object()) {
      t = &nested->get_object();
    }
    Tool tool;
    tool.name = string_or_empty(*t, "name");
    if (tool.name.empty()) return r.fail("'" + param + ".name' is required", param + ".name");
    tool.description = string_or_empty(*t, "description");
    if (type == "custom") {
      tool.freeform = true;
    } else if (const json::value* params = member(*t, "parameters")) {
      if (!params->is_object())
        return r.fail("'" + param + ".parameters' must be an object", param + ".parameters");
      tool.parameters = json::serialize(*params);
    }
    out.tools.push_back(std::move(tool));
  }
  return true;
}

void decode_tool_choice(const json::value& choice, ToolChoice& out) {
  if (choice.is_string()) {
    const json::string& s = choice.get_string();
    if (s == "auto")
      out.mode = ToolChoice::Mode::automatic;
    else if (s == "none")
      out.mode = ToolChoice::Mode::none;
    else if (s == "required")
      out.mode = ToolChoice::Mode::required;
    return;
  }
  if (!choice.is_object()) return;
  const json::object& o = choice.get_object();
  const std::string type = string_or_empty(o, "type");
  const std::string name = string_or_empty(o, "name");
  if ((type == "function" || type == "custom") && !name.empty()) {
    out.mode = ToolChoice::Mode::named;
    out.name = name;
  }
  // allowed_tools and hosted-tool choices have no canonical form: the provider decides.
}

// --- Encoding ---

bool is_freeform(const Request& request, std::string_view name) {
  return std::any_of(request.tools.begin(), request.tools.end(),
                     [&](const Tool& t) { return t.freeform && t.name == name; });
}

// A freeform call travelled as {"input": "..."}; the client wants the raw text back.
std::string freeform_input(std::string_view arguments) {
  json::error_code ec;
  const json::value parsed = json::parse(arguments, ec);
  if (!ec && parsed.is_object()) {
    if (const json::value* input = member(parsed.get_object(), "input");
        input && input->is_string()) {
      return to_std(input->get_string());
    }
  }
  return std::string(arguments);
}

json::object usage_json(const core::Usage& usage) {
  json::object input_details;
  input_details["cached_tokens"] = usage.cached_prompt_tokens;
  json::object output_details;
  output_details["reasoning_tokens"] = usage.reasoning_tokens;
  json::object u;
  u["input_tokens"] = usage.prompt_tokens;
  u["input_tokens_details"] = std::move(input_details);
  u["output_tokens"] = usage.completion_tokens;
  u["output_tokens_details"] = std::move(output_details);
  u["total_tokens"] = usage.prompt_tokens + usage.completion_tokens;
  return u;
}

json::value tool_choice_json(const ToolChoice& choice, const Request& request) {
  switch (choice.mode) {
    case ToolChoice::Mode::none:
      return "none";
    case ToolChoice::Mode::required:
      return "required";
    case ToolChoice::Mode::named: {
      json::object o;
      o["type"] = is_freeform(request, choice.name) ? "custom" : "function";
      o["name"] = choice.name;
      return o;
    }
    case ToolChoice::Mode::unset:
    case ToolChoice::Mode::automatic:
      break;
  }
  return "auto";
}

json::array tools_json(const Request& request) {
  json::array tools;
  for (const Tool& tool : request.tools) {
    json::object t;
    t["type"] = tool.freeform ? "custom" : "function";
    t["name"] = tool.name;
    t["description"] = tool.description;
    if (!tool.freeform) {
      json::error_code ec;
      json::value parameters =
          tool.parameters.empty() ? json::value(nullptr) : json::parse(tool.parameters, ec);
      t["parameters"] = ec ? json::value(nullptr) : std::move(parameters);
      t["strict"] = false;
    }
    tools.emplace_back(std::move(t));
  }
  return tools;
}

std::string response_id(std::string_view id) {
  if (id.substr(0, 5) == "resp_") return std::string(id);
  if (id.empty()) return random_id("resp_");
  return "resp_" + std::string(id);
}

// The response object shared by every event that carries one and by the non-streamed answer.
json::object response_object(const std::string& id, const std::string& model, std::int64_t created,
                             std::string_view status, json::array output,
                             const std::optional<core::Usage>& usage, const Request& request,
                             FinishReason finish) {
  json::object r;
  r["id"] = id;
  r["object"] = "response";
  r["created_at"] = created;
  r["status"] = status;
  r["error"] = nullptr;
  if (status == "incomplete") {
    json::object details;
    details["reason"] =
        finish == FinishReason::content_filter ? "content_filter" : "max_output_tokens";
    r["incomplete_details"] = std::move(details);
  } else {
    r["incomplete_details"] = nullptr;
  }
  r["instructions"] = nullptr;
  r["max_output_tokens"] =
      request.max_tokens ? json::value(*request.max_tokens) : json::value(nullptr);
  r["model"] = model;
  r["output"] = std::move(output);
  r["parallel_tool_calls"] = request.parallel_tool_calls.value_or(true);
  r["previous_response_id"] = nullptr;
  json::object reasoning;
  reasoning["effort"] = request.reasoning_effort.empty() ? json::value(nullptr)
                                                         : json::value(request.reasoning_effort);
  reasoning["summary"] = nullptr;
  r["reasoning"] = std::move(reasoning);
  r["store"] = false;
  r["temperature"] = request.temperature ? json::value(*request.temperature) : json::value(nullptr);
  json::object format;
  format["type"] = "text";
  json::object text;
  text["format"] = std::move(format);
  r["text"] = std::move(text);
  r["tool_choice"] = tool_choice_json(request.tool_choice, request);
  r["tools"] = tools_json(request);
  r["top_p"] = request.top_p ? json::value(*request.top_p) : json::value(nullptr);
  r["truncation"] = "disabled";
  r["usage"] = usage ? json::value(usage_json(*usage)) : json::value(nullptr);
  r["user"] = request.user.empty() ? json::value(nullptr) : json::value(request.user);
  r["metadata"] = json::object();
  return r;
}

std::string_view status_for(FinishReason finish) {
  return (finish == FinishReason::length || finish == FinishReason::content_filter) ? "incomplete"
                                                                                    : "completed";
}

json::object output_text_part(std::string_view text) {
  json::object part;
  part["type"] = "output_text";
  part["text"] = text;
  part["annotations"] = json::array();
  return part;
}

json::object message_item(const std::string& id, std::string_view status, json::array content) {
  json::object item;
  item["id"] = id;
  item["type"] = "message";
  item["status"] = status;
  item["role"] = "assistant";
  item["content"] = std::move(content);
  return item;
}

json::object reasoning_item(const std::string& id, std::string_view text) {
  json::array summary;
  if (!text.empty()) {
    json::object part;
    part["type"] = "summary_text";
    part["text"] = text;
    summary.emplace_back(std::move(part));
  }
  json::object item;
  item["id"] = id;
  item["type"] = "reasoning";
  item["summary"] = std::move(summary);
  return item;
}

json::object call_item(const std::string& id, const std::string& call_id, const std::string& name,
                       bool freeform, std::string_view arguments, std::string_view status) {
  json::object item;
  item["id"] = id;
  item["call_id"] = call_id;
  item["name"] = name;
  if (freeform) {
    item["type"] = "custom_tool_call";
    item["input"] =
        status == "completed" ? json::value(freeform_input(arguments)) : json::value("");
  } else {
    item["type"] = "function_call";
    item["arguments"] = arguments;
  }
  item["status"] = status;
  return item;
}

std::string failure_code(const core::GatewayError& error) {
  auto says = [&](std::string_view needle) {
    return error.code.find(needle) != std::string::npos ||
           error.message.find(needle) != std::string::npos ||
           error.type.find(needle) != std::string::npos;
  };
  if (says("context_length_exceeded") || says("context length") || says("context window") ||
      says("prompt is too long") || says("maximum context")) {
    return "context_length_exceeded";
  }
  if (says("insufficient_quota")) return "insufficient_quota";
  if (error.status == 429) return "rate_limit_exceeded";
  return "server_error";
}

class ResponsesStreamEncoder final : public StreamEncoder {
 public:
  ResponsesStreamEncoder(const std::string& id, std::string model, std::int64_t created,
                         const Request& request)
      : id_(response_id(id)), model_(std::move(model)), created_(created), request_(request) {}

  void encode(const StreamEvent& event, std::string& out) override {
    if (closed_) return;
    // The upstream's own model id, unless response.created has already named the configured one.
    if (event.kind == StreamEvent::Kind::start && !event.model.empty() && !started_)
      model_ = event.model;
    ensure_started(out);
    switch (event.kind) {
      case StreamEvent::Kind::start:
        break;
      case StreamEvent::Kind::text:
        if (event.text.empty()) break;
        if (open_.kind != Open::Kind::message) open_message(out);
        open_.text += event.text;
        {
          json::object e = item_event("response.output_text.delta");
          e["content_index"] = 0;
          e["delta"] = event.text;
          write(std::move(e), out);
        }
        break;
      case StreamEvent::Kind::thinking:
        if (event.text.empty()) break;
        if (open_.kind != Open::Kind::reasoning) open_reasoning(out);
        open_.text += event.text;
        {
          json::object e = item_event("response.reasoning_summary_text.delta");
          e["summary_index"] = 0;
          e["delta"] = event.text;
          write(std::move(e), out);
        }
        break;
      case StreamEvent::Kind::thinking_signature:
        break;
      case StreamEvent::Kind::tool_call_start:
        open_call(event, out);
        break;
      case StreamEvent::Kind::tool_call_delta:
        // Items are written one at a time; the relay orders interleaved calls so that no
        // fragment comes for a closed one (ToolCallOrder in exchange.cpp).
        if (open_.kind != Open::Kind::call || open_.call_index != event.index || event.text.empty())
          break;
        append_arguments(event.text, out);
        break;
      case StreamEvent::Kind::finish:
        finish_ = event.finish;
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
    ensure_started(out);
    close_open(out);
    json::object e;
    e["type"] = "response.completed";
    e["response"] = response_object(id_, model_, created_, status_for(finish_), output_, usage_,
                                    request_, finish_);
    write(std::move(e), out);
    closed_ = true;
  }

  void fail(const core::GatewayError& error, std::string& out) override {
    if (closed_) return;
    ensure_started(out);
    json::object err;
    err["code"] = failure_code(error);
    err["message"] = error.message.empty() ? std::string("The model failed to generate a response.")
                                           : error.message;
    json::object response =
        response_object(id_, model_, created_, "failed", output_, usage_, request_, finish_);
    response["error"] = std::move(err);
    json::object e;
    e["type"] = "response.failed";
    e["response"] = std::move(response);
    write(std::move(e), out);
    closed_ = true;
  }

 private:
  struct Open {
    enum class Kind { none, message, reasoning, call };
    Kind kind = Kind::none;
    std::string id;
    std::size_t output_index = 0;
    std::string text;  // message text, reasoning text or call arguments so far
    int call_index = 0;
    std::string call_id;
    std::string name;
    bool freeform = false;
  };

  void write(json::object event, std::string& out) {
    const std::string type = to_std(event["type"].get_string());
    event["sequence_number"] = sequence_++;
    out.append("event: ")
        .append(type)
        .append("\ndata: ")
        .append(json::serialize(event))
        .append("\n\n");
  }

  json::object item_event(std::string_view type) const {
    json::object e;
    e["type"] = type;
    e["item_id"] = open_.id;
    e["output_index"] = open_.output_index;
    return e;
  }

  void ensure_started(std::string& out) {
    if (started_) return;
    started_ = true;
    for (const char* type : {"response.created", "response.in_progress"}) {
      json::object e;
      e["type"] = type;
      e["response"] = response_object(id_, model_, created_, "in_progress", json::array(),
                                      std::nullopt, request_, FinishReason::none);
      write(std::move(e), out);
    }
  }

  void added(json::object item, std::string& out) {
    json::object e;
    e["type"] = "response.output_item.added";
    e["output_index"] = open_.output_index;
    e["item"] = std::move(item);
    write(std::move(e), out);
  }

  void done(json::object item, std::string& out) {
    output_.emplace_back(item);
    json::object e;
    e["type"] = "response.output_item.done";
    e["output_index"] = open_.output_index;
    e["item"] = std::move(item);
    write(std::move(e), out);
  }

  void begin(Open::Kind kind, std::string id) {
    open_ = Open{};
    open_.kind = kind;
    open_.id = std::move(id);
    open_.output_index = output_.size();
  }

  void open_message(std::string& out) {
    close_open(out);
    begin(Open::Kind::message, random_id("msg_"));
    added(message_item(open_.id, "in_progress", json::array()), out);
    json::object e = item_event("response.content_part.added");
    e["content_index"] = 0;
    e["part"] = output_text_part("");
    write(std::move(e), out);
  }

  void open_reasoning(std::string& out) {
    close_open(out);
    begin(Open::Kind::reasoning, random_id("rs_"));
    added(reasoning_item(open_.id, ""), out);
    json::object e = item_event("response.reasoning_summary_part.added");
    e["summary_index"] = 0;
    json::object part;
    part["type"] = "summary_text";
    part["text"] = "";
    e["part"] = std::move(part);
    write(std::move(e), out);
  }

  void open_call(const StreamEvent& event, std::string& out) {
    close_open(out);
    begin(Open::Kind::call, random_id("fc_"));
    open_.call_index = event.index;
    open_.call_id = event.id.empty() ? random_id("call_") : event.id;
    open_.name = event.name;
    open_.freeform = is_freeform(request_, event.name);
    added(call_item(open_.id, open_.call_id, open_.name, open_.freeform, "", "in_progress"), out);
    if (!event.text.empty()) append_arguments(event.text, out);
  }

  void append_arguments(const std::string& fragment, std::string& out) {
    open_.text += fragment;
    // A freeform call's fragments are pieces of {"input": ...}, not of the input itself.
    if (open_.freeform) return;
    json::object e = item_event("response.function_call_arguments.delta");
    e["delta"] = fragment;
    write(std::move(e), out);
  }

  void close_open(std::string& out) {
    switch (open_.kind) {
      case Open::Kind::none:
        return;
      case Open::Kind::message: {
        json::object text_done = item_event("response.output_text.done");
        text_done["content_index"] = 0;
        text_done["text"] = open_.text;
        write(std::move(text_done), out);
        json::object part_done = item_event("response.content_part.done");
        part_done["content_index"] = 0;
        part_done["part"] = output_text_part(open_.text);
        write(std::move(part_done), out);
        json::array content;
        content.emplace_back(output_text_part(open_.text));
        done(message_item(open_.id, "completed", std::move(content)), out);
        break;
      }
      case Open::Kind::reasoning: {
        json::object text_done = item_event("response.reasoning_summary_text.done");
        text_done["summary_index"] = 0;
        text_done["text"] = open_.text;
        write(std::move(text_done), out);
        json::object part_done = item_event("response.reasoning_summary_part.done");
        part_done["summary_index"] = 0;
        json::object part;
        part["type"] = "summary_text";
        part["text"] = open_.text;
        part_done["part"] = std::move(part);
        write(std::move(part_done), out);
        done(reasoning_item(open_.id, open_.text), out);
        break;
      }
      case Open::Kind::call: {
        if (open_.text.empty()) open_.text = "{}";
        if (open_.freeform) {
          json::object input_done = item_event("response.custom_tool_call_input.done");
          input_done["input"] = freeform_input(open_.text);
          write(std::move(input_done), out);
        } else {
          json::object args_done = item_event("response.function_call_arguments.done");
          args_done["name"] = open_.name;
          args_done["arguments"] = open_.text;
          write(std::move(args_done), out);
        }
        done(
            call_item(open_.id, open_.call_id, open_.name, open_.freeform, open_.text, "completed"),
            out);
        break;
      }
    }
    open_ = Open{};
  }

  std::string id_;
  std::string model_;
  std::int64_t created_;
  Request request_;
  std::int64_t sequence_ = 0;
  bool started_ = false;
  bool closed_ = false;
  Open open_;
  json::array output_;
  FinishReason finish_ = FinishReason::stop;
  std::optional<core::Usage> usage_;
};

// A token count of a Responses answer, held within core's range; anything that is not a whole
// number reads as 0.
std::int64_t count_or_zero(const json::object& o, std::string_view key) {
  return core::token_count(int_or_zero(o, key));
}

}  // namespace

Decoded<Request> decode_responses_request(std::string_view body) {
  const ScratchDocument doc(body);
  if (!doc.value())
    return core::fail(bad_request("request body is not valid JSON: " + doc.error().message(), ""));
  const json::value& root = *doc.value();
  if (!root.is_object()) return core::fail(bad_request("request body must be a JSON object", ""));
  const json::object& o = root.get_object();
  Reader r;
  Request out;

  if (!r.string_field(o, "model", out.model)) return core::fail(*r.error);
  if (out.model.empty())
    return core::fail(bad_request("you must provide a model parameter", "model"));
  if (member(o, "previous_response_id")) {
    // The gateway keeps no conversation state; continuing a stored response would silently
    // lose its history.
    return core::fail(
        bad_request("previous_response_id is not supported by this gateway; send the full input "
                    "(store: false)",
                    "previous_response_id"));
  }

  std::string instructions;
  if (!r.string_field(o, "instructions", instructions)) return core::fail(*r.error);
  if (!instructions.empty()) {
    Message system;
    system.role = Message::Role::system;
    Part p;
    p.text = std::move(instructions);
    system.parts.push_back(std::move(p));
    out.messages.push_back(std::move(system));
  }

  const json::value* input = member(o, "input");
  if (!input) return core::fail(bad_request("'input' is required", "input"));
  if (input->is_string()) {
    Message user;
    Part p;
    p.text = to_std(input->get_string());
    user.parts.push_back(std::move(p));
    out.messages.push_back(std::move(user));
  } else if (input->is_array()) {
    InputDecoder decoder(r, out);
    const json::array& items = input->get_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!decoder.item(items[i], i)) return core::fail(*r.error);
    }
  } else {
    return core::fail(bad_request("'input' must be a string or an array of input items", "input"));
  }

  if (const json::value* tools = member(o, "tools"); tools && !decode_tools(r, *tools, out))
    return core::fail(*r.error);
  if (const json::value* choice = member(o, "tool_choice"))
    decode_tool_choice(*choice, out.tool_choice);

  std::optional<bool> stream;
  std::string safety_identifier;
  if (!r.bool_field(o, "parallel_tool_calls", out.parallel_tool_calls) ||
      !r.int_field(o, "max_output_tokens", out.max_tokens) ||
      !r.number_field(o, "temperature", out.temperature) ||
      !r.number_field(o, "top_p", out.top_p) || !r.bool_field(o, "stream", stream) ||
      !r.string_field(o, "user", out.user) ||
      !r.string_field(o, "safety_identifier", safety_identifier)) {
    return core::fail(*r.error);
  }
  if (out.user.empty()) out.user = std::move(safety_identifier);
  out.stream = stream.value_or(false);
  out.include_usage = out.stream;  // response.completed always carries usage
  if (const json::value* reasoning = member(o, "reasoning"); reasoning && reasoning->is_object()) {
    out.reasoning_effort = effort_of(string_or_empty(reasoning->get_object(), "effort"));
  }
  return out;
}

std::string encode_responses_response(const Response& response, const Request& request) {
  json::array output;
  std::string text;
  auto flush_text = [&] {
    if (text.empty()) return;
    json::array content;
    content.emplace_back(output_text_part(text));
    output.emplace_back(message_item(random_id("msg_"), "completed", std::move(content)));
    text.clear();
  };
  for (const Part& p : response.content) {
    switch (p.kind) {
      case Part::Kind::text:
        text += p.text;
        break;
      case Part::Kind::thinking:
        flush_text();
        output.emplace_back(reasoning_item(random_id("rs_"), p.text));
        break;
      case Part::Kind::tool_call:
        flush_text();
        output.emplace_back(call_item(random_id("fc_"), p.id.empty() ? random_id("call_") : p.id,
                                      p.name, is_freeform(request, p.name),
                                      p.arguments.empty() ? "{}" : p.arguments, "completed"));
        break;
      default:
        break;
    }
  }
  flush_text();
  const json::object body = response_object(
      response_id(response.id), response.model, response.created, status_for(response.finish),
      std::move(output), response.usage, request, response.finish);
  return json::serialize(body);
}

std::unique_ptr<StreamEncoder> make_responses_stream_encoder(const std::string& id,
                                                             std::string model,
                                                             std::int64_t created,
                                                             const Request& request) {
  return std::make_unique<ResponsesStreamEncoder>(id, std::move(model), created, request);
}

std::optional<core::Usage> extract_responses_usage(std::string_view text) {
  json::error_code ec;
  const json::value root = json::parse(text, ec);
  if (ec || !root.is_object()) return std::nullopt;
  const json::object* o = &root.get_object();
  if (const json::value* response = member(*o, "response"); response && response->is_object()) {
    o = &response->get_object();
  }
  const json::value* usage = member(*o, "usage");
  if (!usage || !usage->is_object()) return std::nullopt;
  const json::object& u = usage->get_object();
  core::Usage out;
  out.prompt_tokens = count_or_zero(u, "input_tokens");
  out.completion_tokens = count_or_zero(u, "output_tokens");
  if (const json::value* d = member(u, "input_tokens_details"); d && d->is_object()) {
    out.cached_prompt_tokens = count_or_zero(d->get_object(), "cached_tokens");
    out.cache_creation_tokens = count_or_zero(d->get_object(), "cache_write_tokens");
  }
  if (const json::value* d = member(u, "output_tokens_details"); d && d->is_object()) {
    out.reasoning_tokens = count_or_zero(d->get_object(), "reasoning_tokens");
  }
  return out;
}

}  // namespace switchyard::adapters
