#include "adapters/openai_compatible.hpp"

namespace switchyard::adapters {

void add_bearer_auth(std::string_view api_key, HeaderList& headers) {
  if (!api_key.empty()) headers.emplace_back("Authorization", "Bearer " + std::string(api_key));
}

}  // namespace switchyard::adapters
