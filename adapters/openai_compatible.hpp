#pragma once
// OpenAI-compatible servers (vLLM, Ollama, OpenRouter, Groq, Together, DeepSeek, Mistral...):
// OpenAI's protocol and paths under the configured base URL, a bearer key when one is set
// (local servers often need none), and the provider's extra headers (OpenRouter's
// HTTP-Referer and X-Title, say), which every provider type sends.
#include "adapters/openai.hpp"

namespace switchyard::adapters {

// Adds "Authorization: Bearer <key>" when there is a key.
void add_bearer_auth(std::string_view api_key, HeaderList& headers);

}  // namespace switchyard::adapters
