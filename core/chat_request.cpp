#include "core/chat_request.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <memory>

#include "core/attribution.hpp"
#include "core/padded_copy.hpp"

namespace switchyard::core {

namespace {

namespace od = simdjson::ondemand;

// Nesting deeper than this is refused: validation recurses, and no real chat request
// (tool schemas included) comes close.
constexpr int kMaxDepth = 256;

constexpr std::string_view kInvalidJsonMessage =
    "We could not parse the JSON body of your request. The API expects a JSON payload, but what "
    "was sent was not valid JSON.";

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

RequestError invalid_json() { return {std::string(kInvalidJsonMessage), {}, "invalid_json"}; }

std::string_view describe(od::json_type t) {
  switch (t) {
    case od::json_type::object:
      return "an object";
    case od::json_type::array:
      return "an array";
    case od::json_type::string:
      return "a string";
    case od::json_type::number:
      return "a number";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "an unknown value";
}

RequestError invalid_type(std::string param, std::string_view expected, std::string_view got) {
  std::string message = "Invalid type for '";
  message.append(param).append("': expected ").append(expected);
  message.append(", but got ").append(got).append(" instead.");
  return {std::move(message), std::move(param), "invalid_type"};
}

// Calls `visit(key, value)` for each member of `object`, in order, until one fails.
template <class Visit>
simdjson::error_code for_each_member(od::object& object, Visit&& visit) {
  for (auto field_result : object) {
    od::field field;
    if (auto e = std::move(field_result).get(field)) return e;
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    if (auto e = visit(key, field.value())) return e;
  }
  return simdjson::SUCCESS;
}

simdjson::error_code validate_value(od::value& v, int depth);

simdjson::error_code validate_object(od::object& object, int depth) {
  return for_each_member(object, [depth](std::string_view, od::value& value) {
    return validate_value(value, depth + 1);
  });
}

// On-demand parsing only looks at what it is asked for; a value nobody reads would be skipped
// by bracket counting alone. Reading every value once is what makes the whole body validated.
simdjson::error_code validate_value(od::value& v, int depth) {
  if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (auto e = v.get_object().get(object)) return e;
      return validate_object(object, depth);
    }
    case od::json_type::array: {
      od::array array;
      if (auto e = v.get_array().get(array)) return e;
      for (auto element_result : array) {
        od::value element;
        if (auto e = element_result.get(element)) return e;
        if (auto e = validate_value(element, depth + 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      return v.get_string().get(s);
    }
    case od::json_type::number: {
      // get_double accepts every integer, even ones too large for 64 bits.
      double d;
      return v.get_double().get(d);
    }
    case od::json_type::boolean: {
      bool b;
      return v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = v.is_null().get(is_null)) return e;
      return is_null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

// raw_json_token() runs up to the next token, trailing whitespace included.
Span token_span(const char* base, std::string_view token) {
  std::size_t length = token.size();
  while (length > 0 && is_json_space(token[length - 1])) --length;
  return {static_cast<std::size_t>(token.data() - base), length};
}

// Reads the fields of the root object. simdjson failures come back as error codes (the body is
// not JSON); a well-formed body with a wrong field is recorded in `semantic` and parsing goes
// on, so that a malformed body is reported as such even when a type error comes first.
class RootReader {
 public:
  RootReader(const char* base, ChatRequest& request, BodyShape shape)
      : base_(base), request_(request), shape_(shape) {}

  simdjson::error_code read(od::object& root) {
    if (auto e = for_each_member(root, [this](std::string_view key, od::value& value) {
          return read_root_member(key, value);
        }))
      return e;
    request_.max_tokens = max_completion_tokens_ ? max_completion_tokens_ : max_tokens_;
    const std::string_view end_user = user_.empty() ? safety_identifier_ : user_;
    if (end_user.size() <= kMaxEndUserBytes) request_.end_user.assign(end_user);
    return simdjson::SUCCESS;
  }

  simdjson::error_code read_root_member(std::string_view key, od::value& value) {
    if (key == "model") return read_model(value);
    if (key == "stream") return read_stream(value);
    if (key == "stream_options") return read_stream_options(value);
    if (key == "max_completion_tokens")
      return read_optional_int(value, "max_completion_tokens", max_completion_tokens_);
    if (key == "max_tokens") return read_optional_int(value, "max_tokens", max_tokens_);
    if (key == conversation_key())
      return conversation_is_input() ? read_input(value) : read_messages(value);
    if (key == "user" && is_openai()) return read_string_or_skip(value, 1, user_);
    if (key == "safety_identifier" && is_openai())
      return read_string_or_skip(value, 1, safety_identifier_);
    if (key == "metadata") return read_metadata(value);
    return validate_value(value, 1);
  }

  // The first problem a well-formed body has, in the order a client would fix them.
  std::optional<RequestError> problem() const {
    if (semantic_) return semantic_;
    if (!has_model_) {
      return RequestError{"Missing required parameter: 'model'.", "model",
                          "missing_required_parameter"};
    }
    if (!has_messages_) {
      const std::string key(conversation_key());
      return RequestError{"Missing required parameter: '" + key + "'.", key,
                          "missing_required_parameter"};
    }
    return std::nullopt;
  }

 private:
  void note(RequestError error) {
    if (!semantic_) semantic_ = std::move(error);
  }

  // Records a type error for `param` and consumes the value so the rest still gets validated.
  simdjson::error_code wrong_type(od::value& v, od::json_type got, std::string param,
                                  std::string_view expected) {
    note(invalid_type(std::move(param), expected, describe(got)));
    return validate_value(v, 1);
  }

  simdjson::error_code read_model(od::value& v) {
    if (has_model_) {
      // Servers disagree on which of two members counts (most take the last, some the first,
      // some refuse): the gateway would route, check the key's models and price one model
      // while the provider might serve the other.
      note(RequestError{"The request has more than one 'model' member; send one.", "model",
                        "duplicate_parameter"});
      return validate_value(v, 1);
    }
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type != od::json_type::string) return wrong_type(v, type, "model", "a string");
    const std::string_view token = v.raw_json_token();
    std::string_view model;
    if (auto e = v.get_string().get(model)) return e;
    request_.model.assign(model);
    request_.model_value = token_span(base_, token);
    has_model_ = true;
    return simdjson::SUCCESS;
  }

  simdjson::error_code read_stream(od::value& v) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type == od::json_type::null) {
      request_.stream = false;
      return validate_value(v, 1);
    }
    if (type != od::json_type::boolean) return wrong_type(v, type, "stream", "a boolean");
    return v.get_bool().get(request_.stream);
  }

  simdjson::error_code read_stream_options(od::value& v) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    // A later duplicate key replaces what an earlier one recorded.
    request_.include_usage = false;
    request_.include_usage_value.reset();
    request_.stream_options_open.reset();
    request_.stream_options_null.reset();
    if (type == od::json_type::null) {
      request_.stream_options_null = token_span(base_, v.raw_json_token());
      return validate_value(v, 1);
    }
    if (type != od::json_type::object) {
      return wrong_type(v, type, "stream_options", "an object");
    }
    const std::string_view open = v.raw_json_token();  // starts at the '{'
    request_.stream_options_open = static_cast<std::size_t>(open.data() - base_) + 1;
    od::object object;
    if (auto e = v.get_object().get(object)) return e;
    return for_each_member(object, [this](std::string_view key, od::value& value) {
      return read_stream_option(key, value);
    });
  }

  simdjson::error_code read_stream_option(std::string_view key, od::value& value) {
    if (key != "include_usage") return validate_value(value, 2);
    od::json_type usage_type;
    if (auto e = value.type().get(usage_type)) return e;
    if (usage_type == od::json_type::boolean) {
      request_.include_usage_value = token_span(base_, value.raw_json_token());
      return value.get_bool().get(request_.include_usage);
    }
    if (usage_type == od::json_type::null) {
      request_.include_usage_value = token_span(base_, value.raw_json_token());
      request_.include_usage = false;
      return validate_value(value, 2);
    }
    return wrong_type(value, usage_type, "stream_options.include_usage", "a boolean");
  }

  simdjson::error_code read_optional_int(od::value& v, std::string_view param,
                                         std::optional<std::int64_t>& out) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type == od::json_type::null) {
      out.reset();
      return validate_value(v, 1);
    }
    if (type != od::json_type::number) {
      return wrong_type(v, type, std::string(param), "an integer");
    }
    std::int64_t n = 0;
    const auto e = v.get_int64().get(n);
    if (e == simdjson::SUCCESS) {
      out = n;
      return e;
    }
    if (e != simdjson::INCORRECT_TYPE && e != simdjson::NUMBER_OUT_OF_RANGE) return e;
    // A fraction or an integer beyond 64 bits: still a valid number, just the wrong one.
    double d;
    if (auto e2 = v.get_double().get(d)) return e2;
    note(invalid_type(std::string(param), "an integer", "a non-integer number"));
    return simdjson::SUCCESS;
  }

  bool is_openai() const { return shape_ != BodyShape::anthropic_messages; }

  // An attribution member: read when it is a string, else only validated.
  simdjson::error_code read_string_or_skip(od::value& v, int depth, std::string_view& out) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type != od::json_type::string) return validate_value(v, depth);
    return v.get_string().get(out);
  }

  // OpenAI's metadata holds the tags; Anthropic's the end user (it takes no other member).
  simdjson::error_code read_metadata(od::value& v) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type != od::json_type::object) return validate_value(v, 1);
    request_.metadata_tags.clear();  // a later duplicate replaces an earlier one
    od::object object;
    if (auto e = v.get_object().get(object)) return e;
    return for_each_member(object, [this](std::string_view key, od::value& value) {
      if (key == "tags" && is_openai()) return read_metadata_tags(value);
      if (key == "user_id" && !is_openai()) return read_string_or_skip(value, 2, user_);
      return validate_value(value, 2);
    });
  }

  simdjson::error_code read_metadata_tags(od::value& v) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type == od::json_type::string) {
      std::string_view list;
      if (auto e = v.get_string().get(list)) return e;
      add_tag_list(request_.metadata_tags, list);
      return simdjson::SUCCESS;
    }
    if (type != od::json_type::array) return validate_value(v, 2);
    od::array array;
    if (auto e = v.get_array().get(array)) return e;
    for (auto element_result : array) {
      od::value element;
      if (auto e = element_result.get(element)) return e;
      std::string_view tag;
      if (auto e = read_string_or_skip(element, 3, tag)) return e;
      if (request_.metadata_tags.size() < kMaxTagsPerSource) add_tag(request_.metadata_tags, tag);
    }
    return simdjson::SUCCESS;
  }

  std::string_view conversation_key() const {
    return conversation_is_input() ? "input" : "messages";
  }
  bool conversation_is_input() const {
    return shape_ == BodyShape::openai_responses || shape_ == BodyShape::embeddings;
  }

  // Responses and embeddings take a string or an array as "input".
  simdjson::error_code read_input(od::value& v) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    has_messages_ = true;
    if (type != od::json_type::string && type != od::json_type::array) {
      return wrong_type(v, type, "input", "a string or an array");
    }
    return validate_value(v, 1);
  }

  simdjson::error_code read_messages(od::value& v) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    has_messages_ = true;
    if (type != od::json_type::array) return wrong_type(v, type, "messages", "an array");
    od::array array;
    if (auto e = v.get_array().get(array)) return e;
    std::size_t count = 0;
    for (auto element_result : array) {
      od::value element;
      if (auto e = element_result.get(element)) return e;
      od::json_type element_type;
      if (auto e = element.type().get(element_type)) return e;
      if (element_type != od::json_type::object) {
        note(invalid_type("messages[" + std::to_string(count) + "]", "an object",
                          describe(element_type)));
      }
      if (auto e = validate_value(element, 2)) return e;
      ++count;
    }
    request_.message_count = count;
    if (count == 0 && shape_ == BodyShape::openai_chat) {
      note(
          {"Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
           "an empty array instead.",
           "messages", "empty_array"});
    }
    return simdjson::SUCCESS;
  }

  const char* base_;
  ChatRequest& request_;
  BodyShape shape_;
  std::optional<RequestError> semantic_;
  std::optional<std::int64_t> max_completion_tokens_;
  std::optional<std::int64_t> max_tokens_;
  // Views into the parser's string buffer, alive until read() returns.
  std::string_view user_;
  std::string_view safety_identifier_;
  bool has_model_ = false;
  bool has_messages_ = false;
};

// Tells a body that is not JSON from one that is JSON but not an object. Scalar documents
// cannot be read as an ondemand::value, hence the per-type getters.
simdjson::error_code validate_root(od::document& doc, od::json_type type) {
  switch (type) {
    case od::json_type::array: {
      od::array array;
      if (auto e = doc.get_array().get(array)) return e;
      for (auto element_result : array) {
        od::value element;
        if (auto e = element_result.get(element)) return e;
        if (auto e = validate_value(element, 1)) return e;
      }
      return doc.current_location().error() == simdjson::OUT_OF_BOUNDS ? simdjson::SUCCESS
                                                                       : simdjson::TRAILING_CONTENT;
    }
    case od::json_type::string: {
      std::string_view s;
      return doc.get_string().get(s);
    }
    case od::json_type::number: {
      double d;
      return doc.get_double().get(d);
    }
    case od::json_type::boolean: {
      bool b;
      return doc.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = doc.is_null().get(is_null)) return e;
      return is_null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
    }
    case od::json_type::object:
      break;
  }
  return simdjson::SUCCESS;
}

// Length of `s` once written by append_json_string.
std::size_t json_string_length(std::string_view s) {
  std::size_t n = 2;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
      n += 2;
    } else if (u < 0x20) {
      n += 6;
    } else {
      n += 1;
    }
  }
  return n;
}

std::size_t skip_space_forward(std::string_view body, std::size_t i) {
  while (i < body.size() && is_json_space(body[i])) ++i;
  return i;
}

}  // namespace

Result<ChatRequest, RequestError> parse_chat_request(std::string_view body, std::size_t padding,
                                                     BodyShape shape) {
  thread_local od::parser parser;
  thread_local PaddedCopy fallback;
  // Both run after `doc` is gone (declared before it); the request keeps no view into them.
  const ParserTrim<od::parser> trim_parser(parser);
  struct FallbackTrim {
    PaddedCopy& copy;
    ~FallbackTrim() { copy.release_above(kKeepPerThreadBytes); }
  } trim_fallback{fallback};

  const char* base = body.data();
  std::size_t capacity = body.size() + padding;
  if (padding < simdjson::SIMDJSON_PADDING) {
    base = fallback.assign(body);
    capacity = fallback.capacity();
  }

  ChatRequest request;
  od::document doc;
  if (parser.iterate(base, body.size(), capacity).get(doc)) return fail(invalid_json());

  od::json_type root_type;
  if (doc.type().get(root_type)) return fail(invalid_json());
  if (root_type != od::json_type::object) {
    if (validate_root(doc, root_type)) return fail(invalid_json());
    return fail(RequestError{"The request body must be a JSON object.", {}, "invalid_type"});
  }

  od::object root;
  if (doc.get_object().get(root)) return fail(invalid_json());
  RootReader reader(base, request, shape);
  if (reader.read(root)) return fail(invalid_json());
  // Anything after the root object (a second value, a stray bracket) leaves a token unread.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return fail(invalid_json());

  std::size_t close = body.size();
  while (close > 0 && is_json_space(base[close - 1])) --close;
  if (close == 0 || base[close - 1] != '}') return fail(invalid_json());
  request.root_close = close - 1;

  if (auto problem = reader.problem()) return fail(std::move(*problem));
  return request;
}

void append_json_int(std::string& out, std::int64_t n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Most strings need no escaping (a streamed token, an id): one reservation, one copy.
  std::size_t clean = 0;
  while (clean < s.size()) {
    const auto u = static_cast<unsigned char>(s[clean]);
    if (u < 0x20 || u == '"' || u == '\\') break;
    ++clean;
  }
  if (clean == s.size()) {
    const std::size_t at = out.size();
    out.resize(at + s.size() + 2);
    char* p = out.data() + at;
    *p = '"';
    std::memcpy(p + 1, s.data(), s.size());
    p[s.size() + 1] = '"';
    return;
  }
  out.push_back('"');
  std::size_t run = 0;  // start of the pending stretch that needs no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u != '"' && u != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (u) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default: {
        const char escaped[] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 0xF]};
        out.append(escaped, sizeof escaped);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

std::string splice_chat_request(std::string_view body, const ChatRequest& request,
                                std::string_view upstream_model, bool force_include_usage) {
  // At most two edits: the model token and one stream_options change.
  enum class Insert { model, literal };
  struct Edit {
    std::size_t offset;
    std::size_t erase;
    Insert kind;
    std::string_view text;  // for literal edits
    std::string_view comma_after;
    std::string_view comma_before;
  };
  std::array<Edit, 2> edits{};
  std::size_t edit_count = 0;
  edits[edit_count++] = {
      request.model_value.offset, request.model_value.length, Insert::model, {}, {}, {}};

  if (force_include_usage) {
    if (request.include_usage_value) {
      edits[edit_count++] = {request.include_usage_value->offset,
                             request.include_usage_value->length,
                             Insert::literal,
                             "true",
                             {},
                             {}};
    } else if (request.stream_options_open) {
      const std::size_t open = *request.stream_options_open;
      const std::size_t next = skip_space_forward(body, open);
      const bool empty = next < body.size() && body[next] == '}';
      edits[edit_count++] = {open, 0, Insert::literal, "\"include_usage\":true", empty ? "" : ",",
                             {}};
    } else if (request.stream_options_null) {
      edits[edit_count++] = {request.stream_options_null->offset,
                             request.stream_options_null->length,
                             Insert::literal,
                             "{\"include_usage\":true}",
                             {},
                             {}};
    } else {
      std::size_t before = std::min(request.root_close, body.size());
      while (before > 0 && is_json_space(body[before - 1])) --before;
      const bool empty_root = before > 0 && body[before - 1] == '{';
      edits[edit_count++] = {request.root_close,
                             0,
                             Insert::literal,
                             "\"stream_options\":{\"include_usage\":true}",
                             {},
                             empty_root ? "" : ","};
    }
  }
  std::sort(edits.begin(), edits.begin() + static_cast<std::ptrdiff_t>(edit_count),
            [](const Edit& a, const Edit& b) { return a.offset < b.offset; });

  std::size_t size = body.size();
  for (std::size_t i = 0; i < edit_count; ++i) {
    const Edit& edit = edits[i];
    size -= edit.erase;
    size += edit.kind == Insert::model
                ? json_string_length(upstream_model)
                : edit.text.size() + edit.comma_after.size() + edit.comma_before.size();
  }

  std::string out;
  out.reserve(size);
  std::size_t copied = 0;
  for (std::size_t i = 0; i < edit_count; ++i) {
    const Edit& edit = edits[i];
    out.append(body.substr(copied, edit.offset - copied));
    out.append(edit.comma_before);
    if (edit.kind == Insert::model) {
      append_json_string(out, upstream_model);
    } else {
      out.append(edit.text);
    }
    out.append(edit.comma_after);
    copied = edit.offset + edit.erase;
  }
  out.append(body.substr(copied));
  return out;
}

}  // namespace switchyard::core
