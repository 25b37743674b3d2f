#pragma once
// OpenAI chat completions upstreams (api.openai.com and every OpenAI-compatible server).
// The client already speaks this protocol, so the body passes through with only the model and
// stream_options.include_usage spliced in; this file decides the path and the headers.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/chat_request.hpp"
#include "core/config.hpp"

namespace switchyard::adapters {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct UpstreamRequest {
  std::string path;     // request target, e.g. "/v1/chat/completions"
  HeaderList headers;   // besides Host and Content-Length, which the transport sets
  std::string body;
};

// Builds the upstream request. Streams always ask for usage so the gateway can count tokens;
// the caller removes the extra usage chunk when the client did not ask for it.
UpstreamRequest build_openai_chat_request(const core::ProviderConfig& provider,
                                          std::string_view base_path,
                                          std::string_view client_body,
                                          const core::ChatRequest& request,
                                          std::string_view upstream_model,
                                          std::string_view request_id);

}  // namespace switchyard::adapters
