#include "adapters/openai.hpp"

namespace switchyard::adapters {

UpstreamRequest build_openai_chat_request(const core::ProviderConfig& provider,
                                          std::string_view base_path,
                                          std::string_view client_body,
                                          const core::ChatRequest& request,
                                          std::string_view upstream_model,
                                          std::string_view request_id) {
  UpstreamRequest out;
  out.path.reserve(base_path.size() + 20);
  out.path.append(base_path).append("/chat/completions");
  out.body = core::splice_chat_request(client_body, request, upstream_model,
                                       /*force_include_usage=*/request.stream);
  out.headers.reserve(5 + provider.headers.size());
  out.headers.emplace_back("Content-Type", "application/json");
  // Compressed streams would be buffered by the decompressor; ask for raw bytes.
  out.headers.emplace_back("Accept-Encoding", "identity");
  out.headers.emplace_back("Accept", request.stream ? "text/event-stream" : "application/json");
  if (!provider.api_key.empty()) out.headers.emplace_back("Authorization", "Bearer " + provider.api_key);
  out.headers.emplace_back("X-Request-Id", std::string(request_id));
  for (const auto& [name, value] : provider.headers) out.headers.emplace_back(name, value);
  return out;
}

}  // namespace switchyard::adapters
