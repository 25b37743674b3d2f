#pragma once
// Google Gemini native API (generateContent, streamGenerateContent?alt=sse): the provider
// side of the codec. Tool calls are matched by name and order on Gemini's side; the codec
// keeps OpenAI-style ids on the client's side.
#include <memory>
#include <string>
#include <string_view>

#include "adapters/codec.hpp"

namespace switchyard::adapters {

// The body of a generateContent request (the model goes in the URL).
std::string encode_gemini_request(const Request& request);
// The path below the provider's base path: /models/{model}:generateContent, or
// /models/{model}:streamGenerateContent?alt=sse when streaming.
std::string gemini_request_path(std::string_view upstream_model, bool stream);

Decoded<Response> decode_gemini_response(std::string_view body);
core::GatewayError decode_gemini_error(int status, std::string_view body);

// data: {candidates..., usageMetadata...} events. Gemini sends no end event: a body that ends
// before a candidate with a finishReason (or a blocked prompt's feedback) ends with
// upstream_stream_truncated.
std::unique_ptr<StreamDecoder> make_gemini_stream_decoder();

}  // namespace switchyard::adapters
