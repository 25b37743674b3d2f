#pragma once

// What one model request asks of the mock upstream: the plan (flag defaults, then the body's
// "mock" object, then a "#mock {...}" line in the conversation, then the instance plan) and the
// few facts about the conversation that scripted answers depend on. Pure functions over the request
// body, kept apart from the sockets in mock_upstream.cpp.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/mock_upstream.hpp"

namespace switchyard::bench {

// Which provider API a request came in on; decides the request's shape, the answer's shape and
// the error shape.
enum class Protocol {
  kOpenAiChat,
  kAzureChat,
  kAnthropic,
  kAnthropicCountTokens,
  kResponses,
  kGemini,
  kEmbeddings,
};
inline constexpr int kProtocolCount = 7;

// The key used in /mock/stats and /mock/last-request.
std::string_view protocol_name(Protocol protocol);

enum class Fault { kNone, kStatus, kReset, kStall, kCut, kStreamError, kContextLength };

struct ToolCall {
  std::string name;
  std::string arguments;  // minified JSON object text
};

struct Plan {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  int ttft_ms = 0;
  int chunk_delay_ms = 0;
  int chunks = 0;
  std::optional<std::string> text;
  // Usage in OpenAI's convention: prompt tokens include cached reads and cache writes,
  // completion tokens include reasoning. Each protocol renders it its own way.
  std::int64_t prompt_tokens = 11;
  bool prompt_tokens_set = false;
  std::optional<std::int64_t> completion_tokens;  // defaults to the number of content chunks
  std::int64_t cached_tokens = 0;
  std::int64_t cache_creation_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  Fault fault = Fault::kNone;
  int status = 500;
  std::optional<std::string> body;
  // The status fault's retry-after header: unset sends "1" with a 429 and nothing otherwise,
  // empty sends none, anything else is sent as it is (seconds or an HTTP date).
  std::optional<std::string> retry_after;
  int cut_after = 0;
  std::optional<ToolCall> tool_call;  // answer with this call instead of text
  // The fault applies only to the first `fail_first` requests of the instance's sequence.
  std::optional<std::int64_t> fail_first;
  // Every slow_every-th request of the sequence waits slow_ttft_ms instead of ttft_ms.
  std::int64_t slow_every = 0;
  int slow_ttft_ms = 0;
  // Credentials answered with 401, as a provider answers a key that was revoked.
  std::vector<std::string> revoked_keys;

  std::int64_t completion() const { return completion_tokens.value_or(chunks); }
};

struct PlanResult {
  std::optional<Plan> plan;
  std::string error;  // set when plan is empty
};

// Reads the top-level members the mock acts on ("model", "stream", "stream_options", "mock").
// `body` gets simdjson's padding appended to its capacity (not its size). An empty
// `model_override` means the body must name the model.
PlanResult parse_plan(std::string& body, const MockUpstreamOptions& defaults,
                      std::string_view model_override);

// Whether the raw body could hold a "#mock " line at all: a cheap scan that keeps the common
// case (no such line) from walking the conversation.
bool mentions_mock_line(std::string_view body);

// What the answer depends on beyond the top-level members.
struct Conversation {
  std::optional<std::string> mock_line;    // JSON text after the first "#mock " in user text
  std::optional<std::string> tool_result;  // text of the last turn's tool result
  std::vector<std::string> tools;          // names of the declared function tools, in order
  std::size_t text_chars = 0;              // count_tokens: the text in system and messages
  std::vector<std::string> inputs;         // embeddings: one text per input
  int dimensions = 8;                      // embeddings: the request's "dimensions", if any
};

// Walks the body (already padded by parse_plan) in `protocol`'s shape. False, with `error`
// set, when the body is not what the protocol expects.
bool read_conversation(Protocol protocol, std::string& body, Conversation& out, std::string& error);

// Applies the "#mock" line, then `instance_plan` (a checked plan object, or empty), then the
// tool script: a tool result in the last turn is answered with its text when a tool call is
// planned (or the script is automatic); otherwise an automatic script calls a known shell tool
// the request declares.
bool apply_conversation(const Conversation& conversation, bool tool_script_auto,
                        std::string_view instance_plan, Plan& plan, std::string& error);

// Applies a plan object (the JSON text of a "mock" object) on top of `plan`. False, with `error`
// set, when it is not a JSON object or a field is malformed; `plan` may then be half applied.
bool apply_plan_object(std::string_view json, Plan& plan, std::string& error);

// A plan object checked once, for the instance: minified, empty for `{}`.
struct CheckedPlan {
  std::string json;
  bool sets_tool_call = false;  // then even a plain chat request's conversation must be read
};
// Whether `json` is a JSON object whose plan fields are well formed; error set when not.
std::optional<CheckedPlan> check_plan_object(std::string_view json, std::string& error);

// The per-instance sequence rules, after every plan layer: request `sequence` (1-based, counted
// since the instance plan was set) loses the fault past fail_first, and waits slow_ttft_ms when
// it is a multiple of slow_every.
void apply_sequence(Plan& plan, std::uint64_t sequence);

// Splits `text` into `pieces` runs of whole words (a word keeps its trailing whitespace), as
// evenly as the word count allows; the pieces concatenate back to `text` exactly. With fewer
// words than pieces some pieces are empty.
std::vector<std::string_view> split_words(std::string_view text, int pieces);

// Splits `text` into min(pieces, size) runs of about equal length (at least one), never
// inside a UTF-8 sequence: tool-call argument fragments.
std::vector<std::string_view> split_even(std::string_view text, int pieces);

}  // namespace switchyard::bench
