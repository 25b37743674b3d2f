#pragma once
// Anthropic Messages: the wire codec, for the front door and for Anthropic providers (their
// upstream request, with x-api-key and the forwarded anthropic-version and anthropic-beta,
// is built in exchange.cpp).
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/codec.hpp"

namespace switchyard::adapters {

inline constexpr std::string_view kAnthropicVersion = "2023-06-01";

Decoded<Request> decode_messages_request(std::string_view body);
// max_tokens is required by Anthropic: `default_max_tokens` fills it when the request had none.
std::string encode_messages_request(const Request& request, std::string_view upstream_model,
                                    std::int64_t default_max_tokens);

Decoded<Response> decode_messages_response(std::string_view body);
std::string encode_messages_response(const Response& response);

// {"type":"error","error":{"type":...,"message":...}}, the type chosen by status
// (429 rate_limit_error, 529 overloaded_error, ...).
std::string to_anthropic_error_body(const core::GatewayError& error);
core::GatewayError decode_messages_error(int status, std::string_view body);

// A stream that ends without message_stop ends with upstream_stream_truncated.
std::unique_ptr<StreamDecoder> make_messages_stream_decoder();
// message_start first, contiguous block indices, start/delta/stop per block, message_delta
// with the stop reason and cumulative usage (input and cache tokens included), message_stop
// last; every frame has its event: line. Errors are event: error. message_start names the
// model of the start event (the upstream's), else `model`, and carries the input tokens the
// upstream has counted by then, else `estimated_input_tokens` (estimate_input_tokens).
std::unique_ptr<StreamEncoder> make_messages_stream_encoder(std::string id, std::string model,
                                                            std::int64_t estimated_input_tokens);

// Usage of a Messages response body, for pass-through.
std::optional<core::Usage> extract_messages_usage(std::string_view json);
// Follows a pass-through Messages stream for its usage: input and cache counts from
// message_start, cumulative output tokens from message_delta.
class MessagesUsageTracker {
 public:
  void on_event(const core::SseEvent& event);
  const std::optional<core::Usage>& usage() const { return usage_; }

 private:
  std::optional<core::Usage> usage_;
};

// A rough input-token count (count_tokens when the provider has no such endpoint, and the
// input_tokens of a translated stream's message_start before the upstream has counted):
// about four characters of text per token.
std::int64_t estimate_input_tokens(const Request& request);

}  // namespace switchyard::adapters
