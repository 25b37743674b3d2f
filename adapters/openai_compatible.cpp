#include "adapters/openai_compatible.hpp"

namespace switchyard::adapters {

void add_bearer_auth(const core::ProviderConfig& provider, HeaderList& headers) {
  if (!provider.api_key.empty())
    headers.emplace_back("Authorization", "Bearer " + provider.api_key);
}

}  // namespace switchyard::adapters
