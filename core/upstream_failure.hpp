#pragma once
// The one shape of an attempt that did not produce an answer, whatever went wrong: the
// attempt returns it, the request loop decides from it whether to retry, fall back or answer
// the client, and one function (proxy's on_error) turns the last one into the client's error.
#include <string>
#include <string_view>

#include "core/gateway_error.hpp"
#include "core/routing_config.hpp"

namespace switchyard::core {

enum class FailureKind {
  connect,              // DNS, TCP connect refused or unreachable
  tls,                  // TLS handshake or certificate verification
  timeout,              // no connection, head or body bytes in time
  first_token_timeout,  // the answer's first token did not come within first_token_timeout
  reset,                // the connection broke while writing or reading
  status,               // the upstream answered with an error status (4xx, 5xx)
  protocol,             // unreadable HTTP, a status or encoding no client can get, bad JSON
  oversized,            // an answer or an event over its limit
  truncated,            // a stream that ended before its final event
  stream_error,         // the provider's own error inside a stream already under way
};
std::string_view failure_kind_name(FailureKind kind);

struct UpstreamFailure {
  FailureKind kind = FailureKind::connect;
  int status = 0;           // the upstream's HTTP status when kind is status, else 0
  std::string body;         // the upstream's error body (bounded) when kind is status
  std::string retry_after;  // the upstream's Retry-After, as sent (seconds or an HTTP date)
  // What went wrong, in words for the client and the log: names the provider, never a key.
  std::string message;
  std::string code;  // the client error's code (e.g. upstream_response_too_large), may be empty
  // A status failure whose body says the prompt is longer than the model's context window
  // (each provider words it differently: is_context_length_error).
  bool context_length = false;
  // Part of the answer already reached the client: nothing can be retried any more.
  bool after_first_byte = false;
};

// Whether this failure may be retried under `on` (on another target when there is one). A
// failure after the first byte never is; a context-length error only goes to the
// context-window fallbacks.
bool is_retryable(const UpstreamFailure& failure, const RetryOn& on);

// The gateway's own error for a failure that is not the provider's error answer (kind other
// than status): 504 for timeouts, 502 unreachable for broken connections, 502 with the
// failure's code (default bad_upstream_response) for answers it could not use.
GatewayError gateway_error_for(const UpstreamFailure& failure);

// True when an upstream error answer says the prompt does not fit the model's context window:
// OpenAI's `context_length_exceeded` code, Anthropic's "prompt is too long", Gemini's "input
// token count ... exceeds the maximum", and the wordings of compatible servers (vLLM, Ollama).
bool is_context_length_error(int status, std::string_view body);

}  // namespace switchyard::core
