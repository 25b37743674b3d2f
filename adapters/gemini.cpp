#include "adapters/gemini.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <random>
#include <unordered_map>
#include <utility>

#include "adapters/gemini_schema.hpp"
#include "adapters/json_reading.hpp"
#include "adapters/thought_signature.hpp"

namespace switchyard::adapters {

namespace json = boost::json;

namespace {

constexpr std::size_t kQuotedBodyLimit = 500;

// Gemini has no tool-call ids; clients need one per call, unique across the conversation
// because they key results by it.
std::string generate_call_id() { return random_id("call_"); }

// ---- request encoding -------------------------------------------------------------------------

// A union of objects at the top (one shape or another) as the one object Gemini requires
// there: every branch's properties, required where every branch requires them.
json::object single_object(json::object schema) {
  const json::value* any_of = schema.if_contains("anyOf");
  if (!any_of) return schema;
  json::object properties;
  std::optional<json::array> required;
  for (const json::value& branch : any_of->get_array()) {
    const json::object& b = branch.get_object();
    if (string_or_empty(b, "type") != "object") return schema;
    if (const json::value* p = member(b, "properties")) {
      for (const auto& kv : p->get_object()) {
        if (!properties.contains(kv.key())) properties[kv.key()] = kv.value();
      }
    }
    json::array mine;
    if (const json::value* r = member(b, "required")) mine = r->get_array();
    if (!required) {
      required = std::move(mine);
    } else {
      json::array common;
      for (const json::value& name : *required) {
        if (std::find(mine.begin(), mine.end(), name) != mine.end()) common.push_back(name);
      }
      required = std::move(common);
    }
  }
  json::object out{{"type", "object"}};
  if (const json::value* d = member(schema, "description")) out["description"] = *d;
  if (!properties.empty()) out["properties"] = std::move(properties);
  if (required && !required->empty()) out["required"] = std::move(*required);
  return out;
}

// Parameters for a function declaration, or nothing: Gemini rejects an object schema whose
// properties are empty, which is how other protocols say "no parameters".
std::optional<json::value> declaration_parameters(const Tool& tool) {
  if (tool.freeform) {
    return json::value(
        json::object{{"type", "object"},
                     {"properties", json::object{{"input", json::object{{"type", "string"}}}}},
                     {"required", json::array{"input"}}});
  }
  auto parsed = parse_json(tool.parameters);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  json::object& source = parsed->get_object();
  // Parameters are an object even when the schema does not say so ({} for "none").
  if (!source.contains("type") && !source.contains("anyOf") && !source.contains("oneOf") &&
      !source.contains("allOf") && !source.contains("$ref"))
    source["type"] = "object";
  json::object schema = single_object(gemini_schema(*parsed));
  const json::value* properties = member(schema, "properties");
  const bool has_properties =
      properties && properties->is_object() && !properties->get_object().empty();
  if (!has_properties && string_or_empty(schema, "type") == "object") return std::nullopt;
  return json::value(std::move(schema));
}

// Gemini guesses nothing from a URL; the extension is the best hint there is.
std::string guess_mime_type(std::string_view url) {
  std::string_view path = url.substr(0, url.find_first_of("?#"));
  const auto ends_with = [&](std::string_view suffix) {
    if (path.size() < suffix.size()) return false;
    for (std::size_t i = 0; i < suffix.size(); ++i) {
      char c = path[path.size() - suffix.size() + i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != suffix[i]) return false;
    }
    return true;
  };
  if (ends_with(".png")) return "image/png";
  if (ends_with(".gif")) return "image/gif";
  if (ends_with(".webp")) return "image/webp";
  if (ends_with(".heic")) return "image/heic";
  if (ends_with(".pdf")) return "application/pdf";
  return "image/jpeg";
}

json::object image_part(const Image& image) {
  if (!image.data.empty()) {
    return json::object{
        {"inlineData",
         json::object{{"mimeType", image.media_type.empty() ? "image/png" : image.media_type},
                      {"data", image.data}}}};
  }
  return json::object{
      {"fileData", json::object{{"mimeType", guess_mime_type(image.url)}, {"fileUri", image.url}}}};
}

json::object arguments_object(std::string_view arguments) {
  auto parsed = parse_json(arguments);
  if (parsed && parsed->is_object()) return std::move(parsed->get_object());
  return {};
}

bool is_function_response(const json::value& part) {
  const json::object* o = part.if_object();
  return o && o->contains("functionResponse");
}

// Appends parts to the last content when it has the same role (Gemini wants turns to
// alternate), keeping function responses ahead of anything else in a user turn.
void append_content(json::array& contents, std::string_view role, json::array parts) {
  if (parts.empty()) return;
  json::object* last = contents.empty() ? nullptr : contents.back().if_object();
  if (!last || (*last)["role"].as_string() != role) {
    contents.push_back(json::object{{"role", role}, {"parts", std::move(parts)}});
    return;
  }
  json::array& existing = (*last)["parts"].as_array();
  for (json::value& part : parts) {
    if (is_function_response(part)) {
      auto after = std::find_if_not(existing.begin(), existing.end(), is_function_response);
      existing.insert(after, std::move(part));
    } else {
      existing.push_back(std::move(part));
    }
  }
}

// Gemini 3 rejects a model step whose first function call has no thought signature. History
// it did not write (another model's turns, a client that lost the id) gets the value Google
// documents for skipping the check; parallel calls after the first need none.
void sign_unsigned_steps(json::array& contents) {
  for (json::value& content : contents) {
    json::object& c = content.as_object();
    if (c["role"].as_string() != "model") continue;
    for (json::value& part : c["parts"].as_array()) {
      json::object& p = part.as_object();
      if (!p.contains("functionCall")) continue;
      if (!p.contains("thoughtSignature")) p["thoughtSignature"] = kSkipThoughtSignature;
      break;
    }
  }
}

json::array encode_contents(const std::vector<Message>& messages) {
  // Gemini matches responses to calls by name, so each result needs its call's name.
  std::unordered_map<std::string, std::string> call_names;
  for (const Message& message : messages) {
    for (const Part& part : message.parts) {
      if (part.kind == Part::Kind::tool_call) call_names[part.id] = part.name;
    }
  }

  json::array contents;
  for (const Message& message : messages) {
    json::array parts;
    json::array trailing;  // a tool result's images, after every function response of the run
    std::string_view role = "user";
    switch (message.role) {
      case Message::Role::system:
        continue;
      case Message::Role::user:
        for (const Part& part : message.parts) {
          if (part.kind == Part::Kind::text && !part.text.empty())
            parts.push_back(json::object{{"text", part.text}});
          if (part.kind == Part::Kind::image) parts.push_back(image_part(part.image));
        }
        break;
      case Message::Role::assistant:
        role = "model";
        for (const Part& part : message.parts) {
          if (part.kind == Part::Kind::text && !part.text.empty()) {
            parts.push_back(json::object{{"text", part.text}});
          } else if (part.kind == Part::Kind::tool_call) {
            json::object p{
                {"functionCall",
                 json::object{{"name", part.name}, {"args", arguments_object(part.arguments)}}}};
            // Gemini 3 wants its own thought signature back on the call it came with; clients
            // bring it back inside the call's id.
            std::string signature = part.signature;
            if (signature.empty()) signature = split_thought_signature(part.id).signature;
            if (!signature.empty()) p["thoughtSignature"] = signature;
            parts.push_back(std::move(p));
          }
        }
        break;
      case Message::Role::tool:
        for (const Part& part : message.parts) {
          if (part.kind != Part::Kind::tool_result) continue;
          auto name = call_names.find(part.id);
          json::object response;
          response[part.is_error ? "error" : "result"] = part.text;
          parts.push_back(json::object{
              {"functionResponse",
               json::object{{"name", name != call_names.end() ? name->second : part.name},
                            {"response", std::move(response)}}}});
          for (const Image& image : part.images) trailing.push_back(image_part(image));
        }
        break;
    }
    append_content(contents, role, std::move(parts));
    append_content(contents, role, std::move(trailing));
  }
  sign_unsigned_steps(contents);
  return contents;
}

// ---- responses --------------------------------------------------------------------------------

FinishReason finish_from_gemini(std::string_view reason, bool saw_call) {
  if (reason == "MAX_TOKENS") return FinishReason::length;
  if (reason == "SAFETY" || reason == "RECITATION" || reason == "BLOCKLIST" ||
      reason == "PROHIBITED_CONTENT" || reason == "SPII" || reason == "IMAGE_SAFETY") {
    return FinishReason::content_filter;
  }
  // Gemini says STOP after a function call; clients only run tools on tool_calls.
  return saw_call ? FinishReason::tool_calls : FinishReason::stop;
}

core::Usage usage_from_gemini(UpstreamReader& r, const json::object& usage, const JsonPath& at) {
  core::Usage u;
  u.prompt_tokens =
      r.count(usage, "promptTokenCount", at) + r.count(usage, "toolUsePromptTokenCount", at);
  u.reasoning_tokens = r.count(usage, "thoughtsTokenCount", at);
  u.completion_tokens = r.count(usage, "candidatesTokenCount", at) + u.reasoning_tokens;
  u.cached_prompt_tokens = r.count(usage, "cachedContentTokenCount", at);
  return u;
}

bool has_counts(const json::object& usage) {
  return usage.contains("promptTokenCount") || usage.contains("candidatesTokenCount") ||
         usage.contains("totalTokenCount");
}

// A part of a candidate in canonical form; nullopt for parts with nothing to say (the empty
// text that carries a closing thought signature, executable code, ...).
std::optional<Part> decode_part(UpstreamReader& r, const json::object& p, const JsonPath& at) {
  Part part;
  if (const json::object* call = r.object(p, "functionCall", at)) {
    const json::object& c = *call;
    const JsonPath call_at = at.member("functionCall");
    part.kind = Part::Kind::tool_call;
    part.name = r.string_or_empty(c, "name", call_at);
    std::string id = r.string_or_empty(c, "id", call_at);
    if (id.empty()) id = generate_call_id();
    const json::object* args = r.object(c, "args", call_at);
    part.arguments = args ? json::serialize(*args) : "{}";
    part.signature = r.string_or_empty(p, "thoughtSignature", at);
    // The client keeps the signature for us in the id it echoes back.
    part.id = id_with_thought_signature(id, part.signature);
    return part;
  }
  const json::string* text = r.string(p, "text", at);
  if (!text || text->empty()) return std::nullopt;
  part.text = std::string(*text);
  if (r.boolean(p, "thought", at).value_or(false)) part.kind = Part::Kind::thinking;
  return part;
}

// The first candidate of an answer or a stream chunk: each of its parts in canonical form
// goes to `on_part(Part&)` (which may move from it), its finishReason (empty when none; valid
// while `root` is) to `finish_reason`. False when there is no candidate.
template <class OnPart>
bool read_first_candidate(UpstreamReader& r, const json::object& root,
                          std::string_view& finish_reason, OnPart&& on_part) {
  const JsonPath at;
  const json::array* candidates = r.array(root, "candidates", at);
  if (!candidates || candidates->empty()) return false;
  const JsonPath candidates_at = at.member("candidates");
  const JsonPath candidate_at = candidates_at.element(0);
  const json::object* candidate = r.element_object(candidates->front(), candidate_at);
  if (!candidate) return false;
  if (const json::object* content = r.object(*candidate, "content", candidate_at)) {
    const JsonPath content_at = candidate_at.member("content");
    if (const json::array* parts = r.array(*content, "parts", content_at)) {
      const JsonPath parts_at = content_at.member("parts");
      for (std::size_t i = 0; i < parts->size() && r.ok(); ++i) {
        const JsonPath part_at = parts_at.element(i);
        const json::object* p = r.element_object((*parts)[i], part_at);
        if (!p) break;
        if (std::optional<Part> part = decode_part(r, *p, part_at)) on_part(*part);
      }
    }
  }
  if (const json::string* reason = r.string(*candidate, "finishReason", candidate_at))
    finish_reason = *reason;
  return true;
}

// The prompt itself was blocked: promptFeedback.blockReason, and no candidates at all.
bool prompt_blocked(UpstreamReader& r, const json::object& root) {
  const JsonPath at;
  const json::object* feedback = r.object(root, "promptFeedback", at);
  return feedback && r.string(*feedback, "blockReason", at.member("promptFeedback"));
}

const json::object* top_level_error(const json::value& root) {
  const json::value* body = &root;
  // Non-SSE streaming wraps everything, errors included, in an array.
  if (root.is_array() && !root.get_array().empty()) body = &root.get_array()[0];
  const json::object* o = body->if_object();
  if (!o) return nullptr;
  const json::value* error = member(*o, "error");
  return error ? error->if_object() : nullptr;
}

core::GatewayError gemini_error(int status, std::string message, std::string code) {
  core::GatewayError e = core::client_error(status, std::move(message), {}, std::move(code));
  e.source = core::ErrorSource::upstream;
  return e;
}

core::GatewayError error_from_object(int status, const json::object& error) {
  if (status <= 0) {
    // Checked before narrowing: a code of 2^32 + 400 is no 400.
    const std::int64_t code = int_or_zero(error, "code");
    status = code >= 400 && code <= 599 ? static_cast<int>(code) : 500;
  }
  if (status < 400 || status > 599) status = 500;
  std::string message = string_or_empty(error, "message");
  if (message.empty()) message = "Gemini returned HTTP " + std::to_string(status);
  return gemini_error(status, std::move(message), string_or_empty(error, "status"));
}

// ---- stream decoding --------------------------------------------------------------------------

class GeminiStreamDecoder final : public StreamDecoder {
 public:
  void on_event(const core::SseEvent& event, std::vector<StreamEvent>& out) override {
    if (failed_) return;
    const EventDocument doc(event.data);
    const json::value* parsed = doc.value();
    if (!parsed) return;
    if (const json::object* error = top_level_error(*parsed)) {
      StreamEvent e;
      e.kind = StreamEvent::Kind::error;
      // Mid-stream there is no HTTP status of its own; the error's code says what it was.
      e.error = error_from_object(0, *error);
      out.push_back(std::move(e));
      failed_ = true;
      return;
    }
    const std::size_t mark = out.size();
    const json::object* root = parsed->if_object();
    if (!root) {
      fail("a chunk must be a JSON object, not " + std::string(json_kind_name(*parsed)), mark, out);
      return;
    }
    UpstreamReader r;
    const JsonPath at;
    if (!started_) {
      started_ = true;
      StreamEvent start;
      start.kind = StreamEvent::Kind::start;
      start.id = r.string_or_empty(*root, "responseId", at);
      start.model = r.string_or_empty(*root, "modelVersion", at);
      out.push_back(std::move(start));
    }
    std::string_view reason;
    if (read_first_candidate(r, *root, reason, [&](Part& part) { on_part(part, out); })) {
      if (!reason.empty() && !finished_) {
        finished_ = true;
        StreamEvent finish;
        finish.kind = StreamEvent::Kind::finish;
        finish.finish = finish_from_gemini(reason, next_tool_index_ > 0);
        out.push_back(std::move(finish));
      }
    } else if (prompt_blocked(r, *root) && !finished_) {
      finished_ = true;
      StreamEvent finish;
      finish.kind = StreamEvent::Kind::finish;
      finish.finish = FinishReason::content_filter;
      out.push_back(std::move(finish));
    }
    if (const json::object* usage = r.object(*root, "usageMetadata", at);
        usage && has_counts(*usage)) {
      StreamEvent e;
      e.kind = StreamEvent::Kind::usage;
      e.usage = usage_from_gemini(r, *usage, at.member("usageMetadata"));
      out.push_back(std::move(e));
    }
    // What this chunk emitted before a wrong field is taken back: the error takes its place.
    if (!r.ok()) fail(r.error(), mark, out);
  }

  // Gemini's stream has no end event: a candidate with a finishReason (or a blocked prompt)
  // is its last word, and a body that ends before one was cut.
  void on_end(std::vector<StreamEvent>& out) override {
    if (failed_ || finished_) return;
    failed_ = true;
    push_stream_error(out, truncated_upstream_stream());
  }

 private:
  void on_part(Part& part, std::vector<StreamEvent>& out) {
    StreamEvent e;
    switch (part.kind) {
      case Part::Kind::tool_call:
        e.kind = StreamEvent::Kind::tool_call_start;
        e.index = next_tool_index_++;
        e.id = std::move(part.id);
        e.name = std::move(part.name);
        e.text = std::move(part.arguments);  // Gemini sends a call whole
        e.signature = std::move(part.signature);
        break;
      case Part::Kind::thinking:
        e.kind = StreamEvent::Kind::thinking;
        e.text = std::move(part.text);
        break;
      default:
        e.kind = StreamEvent::Kind::text;
        e.text = std::move(part.text);
        break;
    }
    out.push_back(std::move(e));
  }

  // Ends the stream with an unreadable-answer error in place of what this chunk emitted from
  // `mark` on; nothing after it is read.
  void fail(const std::string& why, std::size_t mark, std::vector<StreamEvent>& out) {
    out.resize(mark);
    failed_ = true;
    push_stream_error(out, unreadable_upstream_stream(why));
  }

  bool started_ = false;
  bool finished_ = false;  // a finishReason (or a blocked prompt) was seen
  bool failed_ = false;    // an error was emitted: the stream is over
  int next_tool_index_ = 0;
};

}  // namespace

std::string encode_gemini_request(const Request& request) {
  json::object body;

  json::array system_parts;
  for (const Message& message : request.messages) {
    if (message.role != Message::Role::system) continue;
    for (const Part& part : message.parts) {
      if (part.kind == Part::Kind::text && !part.text.empty())
        system_parts.push_back(json::object{{"text", part.text}});
    }
  }
  if (!system_parts.empty())
    body["systemInstruction"] = json::object{{"parts", std::move(system_parts)}};
  body["contents"] = encode_contents(request.messages);

  if (!request.tools.empty()) {
    json::array declarations;
    for (const Tool& tool : request.tools) {
      json::object d;
      d["name"] = tool.name;
      if (!tool.description.empty()) d["description"] = tool.description;
      if (auto parameters = declaration_parameters(tool)) d["parameters"] = std::move(*parameters);
      declarations.push_back(std::move(d));
    }
    body["tools"] = json::array{json::object{{"functionDeclarations", std::move(declarations)}}};

    json::object config;
    switch (request.tool_choice.mode) {
      case ToolChoice::Mode::automatic:
        config["mode"] = "AUTO";
        break;
      case ToolChoice::Mode::none:
        config["mode"] = "NONE";
        break;
      case ToolChoice::Mode::required:
        config["mode"] = "ANY";
        break;
      case ToolChoice::Mode::named:
        config["mode"] = "ANY";
        config["allowedFunctionNames"] = json::array{json::value(request.tool_choice.name)};
        break;
      case ToolChoice::Mode::unset:
        break;
    }
    if (!config.empty())
      body["toolConfig"] = json::object{{"functionCallingConfig", std::move(config)}};
  }

  json::object generation;
  if (request.max_tokens) generation["maxOutputTokens"] = *request.max_tokens;
  if (request.temperature) generation["temperature"] = *request.temperature;
  if (request.top_p) generation["topP"] = *request.top_p;
  if (request.top_k) generation["topK"] = *request.top_k;
  if (!request.stop.empty()) {
    json::array stops;
    for (const std::string& s : request.stop) stops.emplace_back(s);
    generation["stopSequences"] = std::move(stops);
  }
  if (request.thinking_budget) {
    generation["thinkingConfig"] = json::object{{"thinkingBudget", *request.thinking_budget}};
  }
  if (!generation.empty()) body["generationConfig"] = std::move(generation);
  return json::serialize(body);
}

std::string gemini_request_path(std::string_view upstream_model, bool stream) {
  // Gemini's own model names carry a "models/" prefix; the path has it already.
  if (upstream_model.starts_with("models/")) upstream_model.remove_prefix(7);
  std::string path = "/models/";
  path.append(upstream_model);
  path.append(stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
  return path;
}

Decoded<Response> decode_gemini_response(std::string_view body) {
  auto parsed = parse_json(body);
  if (!parsed) return core::fail(bad_upstream_answer("the Gemini response is not JSON"));
  if (!parsed->is_object()) {
    return core::fail(bad_upstream_answer("the Gemini response must be a JSON object, not " +
                                          std::string(json_kind_name(*parsed))));
  }
  const json::object& root = parsed->get_object();
  UpstreamReader r;
  const JsonPath at;
  Response response;
  response.id = r.string_or_empty(root, "responseId", at);
  response.model = r.string_or_empty(root, "modelVersion", at);
  bool saw_call = false;
  std::string_view reason;
  if (read_first_candidate(r, root, reason, [&](Part& part) {
        saw_call = saw_call || part.kind == Part::Kind::tool_call;
        response.content.push_back(std::move(part));
      })) {
    response.finish = finish_from_gemini(reason, saw_call);
  } else if (prompt_blocked(r, root)) {
    response.finish = FinishReason::content_filter;
  } else if (r.ok()) {
    // Neither a candidate nor a blocked prompt: nothing was answered, and an empty success
    // would hide that.
    return core::fail(
        bad_upstream_answer("the Gemini response has no candidate and no blocked prompt"));
  }
  if (const json::object* usage = r.object(root, "usageMetadata", at)) {
    response.usage = usage_from_gemini(r, *usage, at.member("usageMetadata"));
  }
  if (!r.ok()) return core::fail(bad_upstream_answer(r.error()));
  return response;
}

core::GatewayError decode_gemini_error(int status, std::string_view body) {
  if (auto parsed = parse_json(body)) {
    if (const json::object* error = top_level_error(*parsed))
      return error_from_object(status, *error);
  }
  std::string message = "Gemini returned HTTP " + std::to_string(status);
  if (!body.empty()) {
    std::size_t end = std::min(body.size(), kQuotedBodyLimit);
    while (end > 0 && end < body.size() && (static_cast<unsigned char>(body[end]) & 0xC0) == 0x80)
      --end;
    message.append(": ").append(body.substr(0, end));
  }
  return gemini_error(status, std::move(message), {});
}

std::unique_ptr<StreamDecoder> make_gemini_stream_decoder() {
  return std::make_unique<GeminiStreamDecoder>();
}

}  // namespace switchyard::adapters
