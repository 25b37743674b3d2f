#pragma once
// Azure OpenAI: OpenAI's chat protocol behind a deployment URL. The deployment is the model's
// upstream_model; the key goes in an `api-key` header; every call names an api-version.
#include <string>
#include <string_view>

namespace switchyard::adapters {

// "/openai/deployments/{deployment}/{operation}?api-version={version}", the deployment
// percent-encoded.
std::string azure_path(std::string_view deployment, std::string_view operation,
                       std::string_view api_version);

}  // namespace switchyard::adapters
