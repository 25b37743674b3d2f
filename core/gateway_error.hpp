#pragma once
// One error type for everything the gateway answers with an error, whatever its source; one
// function (adapters::encode_error_body) turns it into a body in the client's protocol.
#include <string>
#include <string_view>

namespace switchyard::core {

enum class ErrorSource { client, upstream, gateway };

struct GatewayError {
  int status = 500;
  std::string type;     // OpenAI "type": invalid_request_error, server_error, ...
  std::string message;  // never contains a key or a prompt
  std::string param;    // may be empty -> null
  std::string code;     // may be empty -> null
  ErrorSource source = ErrorSource::gateway;
  std::string retry_after;  // seconds, for the answer's Retry-After; empty: the status's rule
};

// The error `type` each protocol documents for an HTTP status, and the status a type stands
// for (one table; every codec asks it). A status neither protocol names is
// invalid_request_error below 500 and a server error (OpenAI server_error, Anthropic
// api_error) from 500 up; an unknown type stands for 500.
std::string_view openai_error_type(int status);
std::string_view anthropic_error_type(int status);
int status_for_openai_error_type(std::string_view type);
int status_for_anthropic_error_type(std::string_view type);

// The Retry-After an error answer carries: the provider's own value when it sent one, else
// "1" on a transient status (429, 503, 529) so the client's SDK backs off even when nobody
// said for how long, else none. The one place this rule lives.
std::string_view retry_after_for(int client_status, std::string_view upstream_retry_after = {});

GatewayError client_error(int status, std::string message, std::string param = {},
                          std::string code = {});
GatewayError upstream_unreachable(std::string message);  // 502
GatewayError upstream_timeout(std::string message);      // 504
// 502: the upstream answered, but not with something the gateway can pass on (a status or
// encoding no client can be given, wrong JSON types, an event or body over its limit, a
// stream without its end). `code` says which.
GatewayError bad_upstream_response(std::string message, std::string code = "bad_upstream_response");

// {"error":{"message","type","param","code"}}
std::string to_openai_error_body(const GatewayError& e);

// Keeps an upstream error body when it already has OpenAI's shape; otherwise wraps its text
// (truncated) as the message of an OpenAI-shaped error with the upstream's status.
std::string openai_error_body_from_upstream(int status, std::string_view upstream_body);

}  // namespace switchyard::core
