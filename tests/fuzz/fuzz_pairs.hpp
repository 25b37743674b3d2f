#pragma once
// The client/upstream protocol pairs the gateway can meet (upstream_protocol() of each front
// door with each provider type), for the fuzzers of answers and streams, and the decoded
// client request a translator is given, with the kinds of tool that change how answers are
// written (a freeform tool's calls come back as custom_tool_call items).
#include <memory>
#include <string_view>

#include "adapters/exchange.hpp"

namespace switchyard::fuzz {

struct Pair {
  adapters::Protocol client;
  adapters::Protocol upstream;
};

using adapters::Protocol;
inline constexpr Pair kPairs[] = {
    {Protocol::openai_chat, Protocol::openai_chat},
    {Protocol::openai_chat, Protocol::anthropic_messages},
    {Protocol::openai_chat, Protocol::gemini},
    {Protocol::openai_responses, Protocol::openai_responses},
    {Protocol::openai_responses, Protocol::openai_chat},
    {Protocol::openai_responses, Protocol::anthropic_messages},
    {Protocol::openai_responses, Protocol::gemini},
    {Protocol::anthropic_messages, Protocol::openai_chat},
    {Protocol::anthropic_messages, Protocol::anthropic_messages},
    {Protocol::anthropic_messages, Protocol::gemini},
};
inline constexpr std::size_t kPairCount = sizeof kPairs / sizeof kPairs[0];

// A Responses request as Codex sends it, trimmed to what answers depend on.
inline constexpr std::string_view kClientRequest = R"({
  "model": "client-model", "stream": true, "instructions": "Be brief.",
  "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
  "tools": [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}},
    {"type": "function", "name": "shell", "parameters": {"type": "object"}},
    {"type": "custom", "name": "apply_patch", "description": "Edit files with a patch"}
  ],
  "tool_choice": "auto", "parallel_tool_calls": false, "reasoning": {"effort": "medium"},
  "max_output_tokens": 4096, "temperature": 0.5
})";

inline std::shared_ptr<const adapters::Request> client_request() {
  static const std::shared_ptr<const adapters::Request> request = [] {
    auto decoded = adapters::decode_request(Protocol::openai_responses, kClientRequest);
    if (!decoded) std::abort();  // the harness itself is wrong
    return std::make_shared<const adapters::Request>(std::move(decoded.value()));
  }();
  return request;
}

}  // namespace switchyard::fuzz
