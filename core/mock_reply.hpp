#pragma once
// What the in-process mock provider answers: an OpenAI chat completion, whole or as SSE
// events. Pure text generation; proxy/pipeline.cpp (serve_mock) paces it with timers.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/usage.hpp"

namespace switchyard::core {

class MockReply {
 public:
  // `prompt_bytes` stands in for a tokenizer: about four bytes a token.
  MockReply(const MockSettings& settings, std::string_view model, std::string_view id,
            std::int64_t created, std::size_t prompt_bytes);

  // The reply split into tokens (words keeping their following space); joined they are the
  // configured reply.
  const std::vector<std::string>& tokens() const { return tokens_; }
  const Usage& usage() const { return usage_; }

  std::string completion_json() const;  // a whole chat.completion
  // SSE events, each ending in a blank line.
  std::string role_event() const;
  std::string token_event(std::size_t i) const;
  std::string finish_event() const;
  std::string usage_event() const;
  static std::string_view done_event() { return "data: [DONE]\n\n"; }

 private:
  std::string chunk_prefix() const;
  std::string usage_json() const;

  std::string model_;
  std::string id_;
  std::int64_t created_;
  std::vector<std::string> tokens_;
  Usage usage_;
};

}  // namespace switchyard::core
