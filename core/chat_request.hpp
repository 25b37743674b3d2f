#pragma once
// A model request's envelope as the gateway sees it, whatever its front door (BodyShape): parsed
// once with simdjson on-demand for the fields it needs; everything else stays raw bytes and is
// forwarded as it came.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace switchyard::core {

struct RequestError {
  std::string message;  // shown to the client
  std::string param;    // offending field, may be empty
  std::string code;     // e.g. "invalid_json", "missing_required_parameter"; may be empty
};

// A byte range inside the original body.
struct Span {
  std::size_t offset = 0;
  std::size_t length = 0;
};

struct ChatRequest {
  std::string model;
  bool stream = false;
  bool include_usage = false;              // client set stream_options.include_usage to true
  std::optional<std::int64_t> max_tokens;  // max_completion_tokens, else max_tokens
  std::size_t message_count = 0;
  // Attribution for the ledger, empty when the body names none (see core/attribution.hpp for
  // the bounds): OpenAI's `user`, else its `safety_identifier`; Anthropic's metadata.user_id.
  std::string end_user;
  // OpenAI's metadata.tags: a comma-separated string, or an array of strings.
  std::vector<std::string> metadata_tags;

  // Where to splice. model_value covers the model string token including its quotes.
  Span model_value;
  // The include_usage value token inside stream_options, when present.
  std::optional<Span> include_usage_value;
  // Offset just after the '{' of stream_options, when that object is present.
  std::optional<std::size_t> stream_options_open;
  // The null token of "stream_options": null, so forcing usage can replace it instead of
  // adding a second stream_options key (strict parsers reject duplicate keys).
  std::optional<Span> stream_options_null;
  // Offset of the root object's closing '}'.
  std::size_t root_close = 0;
};

// Which front door the body came through: they share the envelope the gateway reads (model,
// stream) but name the conversation differently.
enum class BodyShape {
  openai_chat,         // "messages": a non-empty array
  anthropic_messages,  // "messages": an array (may be empty for count_tokens)
  openai_responses,    // "input": a string or an array
  embeddings,          // "input": a string or an array
};

// `body` must have at least `padding` readable bytes past its size (SIMDJSON_PADDING); the
// caller reserves them so no copy is needed. Validates the whole document: malformed JSON,
// a non-object root, a missing or non-string model, a missing conversation (see BodyShape),
// and wrong types for stream / stream_options are errors. The attribution members are only
// read: one of the wrong type is ignored (the provider judges the body).
Result<ChatRequest, RequestError> parse_chat_request(std::string_view body, std::size_t padding,
                                                     BodyShape shape = BodyShape::openai_chat);

// Builds the upstream body by splicing bytes: the model replaced by `upstream_model` (JSON
// escaped), and, when `force_include_usage`, stream_options.include_usage set to true
// (inserted, replaced or added as a new stream_options member as needed). Everything else is
// byte-identical to `body`.
std::string splice_chat_request(std::string_view body, const ChatRequest& request,
                                std::string_view upstream_model, bool force_include_usage);

// Appends `s` as a JSON string literal (with quotes) to `out`.
void append_json_string(std::string& out, std::string_view s);

// Appends `n` as a JSON number, without the temporary string std::to_string makes.
void append_json_int(std::string& out, std::int64_t n);

}  // namespace switchyard::core
