#pragma once
// The canonical form of a model exchange: every protocol (OpenAI Chat, OpenAI Responses,
// Anthropic Messages, Gemini) translates its requests, responses and stream events to and
// from these types, so N protocols need N codecs rather than N x N translators. Used only
// when the client's protocol differs from the provider's; otherwise bytes pass through.
//
// Conventions: tool-call arguments are JSON text (OpenAI's "arguments" string; Anthropic's
// and Gemini's input objects are serialised into it); usage follows core::Usage (OpenAI's
// inclusive counts); finish reasons use OpenAI's names.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/gateway_error.hpp"
#include "core/usage.hpp"

namespace switchyard::adapters {

enum class Protocol { openai_chat, openai_responses, anthropic_messages, gemini };

struct Image {
  std::string url;         // http(s) URL, when the image is referenced
  std::string media_type;  // with data: the image is inline
  std::string data;        // base64
};

struct Part {
  enum class Kind { text, image, tool_call, tool_result, thinking, redacted_thinking };
  Kind kind = Kind::text;
  std::string text;           // text; thinking text; a tool result's text
  Image image;                // image
  std::string id;             // tool_call: its id; tool_result: the id of the call it answers
  std::string name;           // tool_call: the tool's name (also kept on tool_result when known)
  std::string arguments;      // tool_call: arguments as JSON text ("{}" when there were none)
  bool is_error = false;      // tool_result
  std::vector<Image> images;  // tool_result: images returned by the tool
  // thinking: its signature; redacted_thinking: the opaque data; tool_call: Gemini's thought
  // signature (clients carry it inside the id: thought_signature.hpp)
  std::string signature;
};

struct Message {
  enum class Role { system, user, assistant, tool };
  Role role = Role::user;
  std::vector<Part> parts;  // a tool message holds exactly one tool_result part
};

struct Tool {
  std::string name;
  std::string description;
  std::string parameters;  // JSON Schema as JSON text
  // A Responses "custom" tool (free text in, e.g. Codex's apply_patch): other protocols see
  // a function with one string parameter, "input".
  bool freeform = false;
};

struct ToolChoice {
  enum class Mode { unset, automatic, none, required, named };
  Mode mode = Mode::unset;
  std::string name;  // named
};

struct Request {
  std::string model;
  std::vector<Message> messages;  // system messages stay in order; encoders hoist them
  std::vector<Tool> tools;
  ToolChoice tool_choice;
  std::optional<bool> parallel_tool_calls;
  std::optional<std::int64_t> max_tokens;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<std::int64_t> top_k;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;                   // the client asked for usage in the stream
  std::string user;                             // end-user id for abuse tracking
  std::string reasoning_effort;                 // "low" | "medium" | "high"; empty when unset
  std::optional<std::int64_t> thinking_budget;  // Anthropic/Gemini thinking budget in tokens
};

enum class FinishReason { none, stop, length, tool_calls, content_filter };

struct Response {
  std::string id;
  std::string model;
  std::int64_t created = 0;   // unix seconds
  std::vector<Part> content;  // text, tool_call and thinking parts, in order
  FinishReason finish = FinishReason::stop;
  std::string stop_sequence;
  std::optional<core::Usage> usage;
};

// One step of a streamed answer. Decoders turn a provider's SSE events into these; encoders
// turn them into the client's SSE events.
struct StreamEvent {
  enum class Kind {
    start,               // id, model: the answer begins
    text,                // text: a piece of the answer's text
    thinking,            // text: a piece of reasoning
    thinking_signature,  // text: the signature closing a thinking block
    tool_call_start,     // index, id, name (and text: arguments already known, may be empty)
    tool_call_delta,     // index, text: a fragment of the arguments' JSON text
    finish,              // finish, stop_sequence: the model stopped
    usage,               // usage: counts so far (later ones replace earlier ones)
    error,               // error: the provider failed mid-stream
  };
  Kind kind = Kind::text;
  std::string text;
  int index = 0;  // tool calls count from 0 in the order they start
  std::string id;
  std::string name;
  std::string model;
  FinishReason finish = FinishReason::none;
  std::string stop_sequence;
  core::Usage usage;
  core::GatewayError error;
  std::string signature;  // tool_call_start: Gemini's thought signature (also inside id)
};

}  // namespace switchyard::adapters
