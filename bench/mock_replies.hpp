#pragma once

// The bytes of the mock's answers in each provider's shape: JSON bodies, SSE events and error
// bodies. Pure text building over a Plan; mock_upstream.cpp decides when each event is sent.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/mock_plan.hpp"

namespace switchyard::bench {

// One planned answer. A stream is: the head events (sent at once, before the ttft pause), the
// piece events (content or tool-argument fragments, paced by chunk_delay_ms), then the tail
// events. Every event is complete, blank line included, and each is written on its own.
class Reply {
 public:
  virtual ~Reply() = default;
  // Event k of the head or tail into `out` (cleared first); false when there is no event k.
  virtual bool head_event(int k, std::string& out) const = 0;
  virtual int piece_count() const = 0;
  virtual void piece_event(int i, std::string& out) const = 0;
  virtual bool tail_event(int k, std::string& out) const = 0;
  // The in-band error the "stream_error" fault sends after `pieces_sent` pieces.
  virtual void error_event(int pieces_sent, std::string& out) const = 0;
  // The whole answer as one JSON body (non-streaming requests).
  virtual std::string json_body() const = 0;
};

// Chat (OpenAI and Azure), Anthropic Messages, Responses or Gemini. `plan` must outlive the reply.
std::unique_ptr<Reply> make_reply(Protocol protocol, const Plan& plan, std::uint64_t id);

// OpenAI's error object; an empty code is null.
std::string openai_error_json(std::string_view message, std::string_view type,
                              std::string_view code);
// The error body a real provider of this protocol sends with this status.
std::string error_body(Protocol protocol, int status, std::string_view message);
// The body of a "status" fault (message "mock fault"); OpenAI shapes as the mock always sent.
std::string fault_body(Protocol protocol, int status);

// What each provider answers (with 400) to a prompt longer than the model's context window.
std::string_view context_length_body(Protocol protocol);

std::string embeddings_json(const Plan& plan, const std::vector<std::string>& inputs,
                            int dimensions);
std::string count_tokens_json(std::size_t text_chars);

}  // namespace switchyard::bench
