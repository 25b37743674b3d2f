#pragma once
// OpenAI Chat Completions: the wire codec (client requests in, provider requests out,
// responses and streams both ways) and the upstream request's shape. When the
// client already speaks this protocol the body passes through with only the model and
// stream_options.include_usage spliced in.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapters/codec.hpp"
#include "core/config.hpp"

namespace switchyard::adapters {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct UpstreamRequest {
  std::string_view method = "POST";
  std::string path;    // request target, e.g. "/v1/chat/completions"
  HeaderList headers;  // besides Host and Content-Length, which the transport sets
  std::string body;
};

// --- The Chat Completions wire codec ---

// A client's chat request, to canonical form. Errors name the offending field (param).
Decoded<Request> decode_chat_request(std::string_view body);
// A canonical request as a chat body for an OpenAI-format provider. A stream always asks for
// usage (stream_options.include_usage) so the gateway can count tokens.
std::string encode_chat_request(const Request& request, std::string_view upstream_model);

Decoded<Response> decode_chat_response(std::string_view body);
std::string encode_chat_response(const Response& response);

// An upstream's error body (any shape) as a GatewayError keeping the status and message.
core::GatewayError decode_chat_error(int status, std::string_view body);

// chat.completion.chunk events to canonical events; [DONE] produces nothing. A stream that ends
// with neither [DONE] nor a finish_reason ends with upstream_stream_truncated.
std::unique_ptr<StreamDecoder> make_chat_stream_decoder();
// Canonical events to chat.completion.chunk events: one id, created and model for the whole
// stream (the start event's model, the upstream's, else `model`), role on the first delta, tool
// call id and name only on a call's first fragment, the usage chunk (choices: []) only when
// include_usage, then data: [DONE]. Errors are data: {"error":{...}}.
std::unique_ptr<StreamEncoder> make_chat_stream_encoder(std::string id, std::string model,
                                                        std::int64_t created, bool include_usage);

}  // namespace switchyard::adapters
