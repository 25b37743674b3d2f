#include "core/upstream_failure.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace switchyard::core {
namespace {

bool contains_lowercase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool equal = true;
    for (std::size_t j = 0; j < needle.size() && equal; ++j) {
      equal = std::tolower(static_cast<unsigned char>(haystack[i + j])) == needle[j];
    }
    if (equal) return true;
  }
  return false;
}

}  // namespace

std::string_view failure_kind_name(FailureKind kind) {
  switch (kind) {
    case FailureKind::connect:
      return "connect";
    case FailureKind::tls:
      return "tls";
    case FailureKind::timeout:
      return "timeout";
    case FailureKind::first_token_timeout:
      return "first_token_timeout";
    case FailureKind::reset:
      return "reset";
    case FailureKind::status:
      return "status";
    case FailureKind::protocol:
      return "protocol";
    case FailureKind::oversized:
      return "oversized";
    case FailureKind::truncated:
      return "truncated";
    case FailureKind::stream_error:
      return "stream_error";
  }
  return "unknown";
}

bool is_retryable(const UpstreamFailure& failure, const RetryOn& on) {
  if (failure.after_first_byte || failure.context_length) return false;
  switch (failure.kind) {
    case FailureKind::connect:
    case FailureKind::tls:
    case FailureKind::reset:
      return on.connect;
    case FailureKind::timeout:
    case FailureKind::first_token_timeout:
      return on.timeout;
    case FailureKind::status:
      return std::find(on.statuses.begin(), on.statuses.end(), failure.status) != on.statuses.end();
    // The upstream answered something unusable: another target may well answer properly.
    case FailureKind::protocol:
    case FailureKind::oversized:
    case FailureKind::truncated:
    case FailureKind::stream_error:
      return on.connect;
  }
  return false;
}

GatewayError gateway_error_for(const UpstreamFailure& failure) {
  switch (failure.kind) {
    case FailureKind::timeout:
    case FailureKind::first_token_timeout:
      return upstream_timeout(failure.message);
    case FailureKind::connect:
    case FailureKind::tls:
    case FailureKind::reset:
      return upstream_unreachable(failure.message);
    default:
      break;
  }
  return bad_upstream_response(failure.message,
                               failure.code.empty() ? "bad_upstream_response" : failure.code);
}

bool is_context_length_error(int status, std::string_view body) {
  // Providers say it with 400 (OpenAI, Anthropic, Gemini, vLLM), 413 (some proxies) or 422.
  if (status != 400 && status != 413 && status != 422) return false;
  static constexpr std::array<std::string_view, 7> kWordings{
      "context_length_exceeded",               // OpenAI's code, also Azure and OpenRouter
      "maximum context length",                // OpenAI's and vLLM's message
      "prompt is too long",                    // Anthropic
      "exceeds the maximum number of tokens",  // Gemini
      "context window",                        // "exceeds the context window" (several)
      "context length",                        // Ollama, llama.cpp: "exceeds context length"
      "model_context_window_exceeded",         // Anthropic's stop reason, quoted in errors
  };
  return std::any_of(kWordings.begin(), kWordings.end(),
                     [&](std::string_view w) { return contains_lowercase(body, w); });
}

}  // namespace switchyard::core
