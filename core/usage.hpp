#pragma once
// Token usage and its cost.
#include <cstdint>
#include <optional>
#include <string_view>

namespace switchyard::core {

// Counts in OpenAI's inclusive convention: prompt_tokens includes cached_prompt_tokens and
// cache_creation_tokens, completion_tokens includes reasoning_tokens.
// Token counts come from upstreams: one past this (a billion million) is not a count, and
// reading it as one would overflow the sums made of it (prompt = input + cache reads + writes).
constexpr std::int64_t kMaxTokenCount = 1'000'000'000'000'000;
constexpr std::int64_t token_count(std::int64_t n) {
  return n < 0 ? 0 : n > kMaxTokenCount ? kMaxTokenCount : n;
}

struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_prompt_tokens = 0;   // prompt tokens read from the provider's cache
  std::int64_t cache_creation_tokens = 0;  // prompt tokens written to it (Anthropic)
  std::int64_t reasoning_tokens = 0;
};

// USD per million tokens.
struct Price {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
  double cached_input_per_mtok = 0;  // when 0 and input is set, cached input costs input price
};

// Cost in USD: uncached prompt at input price, cached prompt at cached price, completion
// (reasoning included) at output price.
double cost_usd(const Usage& usage, const Price& price);

// Reads the "usage" object of an OpenAI chat completion body or of one stream chunk's JSON.
// Returns nullopt when there is no usage object (absent or null) or the JSON is not an object.
// `json` need not be padded: it is copied into a padded thread-local buffer when necessary.
std::optional<Usage> extract_openai_usage(std::string_view json);

// True when a chat.completion.chunk is the extra usage-only chunk ("choices": [] and a usage
// object), the one include_usage adds before [DONE].
bool is_openai_usage_only_chunk(std::string_view json);

}  // namespace switchyard::core
