#pragma once
// Price files in LiteLLM's format (model_prices_and_context_window.json), which many teams
// already maintain: per-token costs, long-context tiers and context limits, keyed by model id.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "core/usage.hpp"

namespace switchyard::core {

struct PriceFileEntry {
  Price price;  // per million tokens, converted from LiteLLM's per-token costs
  // False when the entry has neither an input nor an output token cost (image models and
  // the like): such an entry does not price a chat model.
  bool priced = false;
  std::int64_t context_window_tokens = 0;  // max_input_tokens; 0 when the file does not say
  std::int64_t max_output_tokens = 0;      // max_output_tokens; 0 when the file does not say
};

using PriceFile = std::map<std::string, PriceFileEntry, std::less<>>;

// Parses the text of a LiteLLM price file named `file_name` (used in messages). Fields the
// gateway does not use are ignored, as is the `sample_spec` entry; a field it uses with the
// wrong type, or text that is not a JSON object of objects, is an error naming the entry.
Result<PriceFile, std::vector<ConfigError>> parse_litellm_price_file(std::string_view text,
                                                                     std::string_view file_name);

// The entry for a model: its upstream id as written, then with the LiteLLM prefix of its
// provider type ("anthropic/", "gemini/", "azure/", "openai/"), then its gateway name the
// same two ways. nullptr when none is listed.
const PriceFileEntry* find_price_file_entry(const PriceFile& file, std::string_view provider_type,
                                            std::string_view upstream_model, std::string_view name);

}  // namespace switchyard::core
