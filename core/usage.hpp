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
  std::int64_t cache_creation_tokens = 0;  // prompt tokens written to it (Anthropic), any lifetime
  std::int64_t reasoning_tokens = 0;
  // The part of cache_creation_tokens written to the 1-hour cache, which costs more than the
  // 5-minute one (Anthropic's usage.cache_creation.ephemeral_1h_input_tokens).
  std::int64_t cache_creation_1h_tokens = 0;
};

// USD per million tokens. A price left at 0 falls back as its comment says, so an entry that
// knows only input and output prices cache reads and writes as plain input.
struct TokenRates {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
  double cached_input_per_mtok = 0;    // cache reads; 0: the input price
  double cache_write_per_mtok = 0;     // 5-minute cache writes; 0: the input price
  double cache_write_1h_per_mtok = 0;  // 1-hour cache writes; 0: the 5-minute write price
};

// Some models bill a whole request at higher rates once its prompt is long (Gemini 2.5 Pro,
// Claude Sonnet 4's 1M-context tier: "prompts > 200k tokens").
struct LongContextTier {
  // The tier applies when the prompt, counted with its cache reads and writes, is greater than
  // this (200000 means 200,001 tokens and more).
  std::int64_t above_prompt_tokens = 0;
  TokenRates rates;
};

// The base rates, and the tier that replaces them for long prompts when the model has one.
struct Price : TokenRates {
  std::optional<LongContextTier> long_context{};

  // The rates a request with this many prompt tokens (inclusive count) is billed at.
  const TokenRates& rates_for(std::int64_t prompt_tokens) const;
};

// Cost in USD: uncached prompt at input price, cache reads at the cached price, cache writes
// at the 5-minute or 1-hour write price, completion (reasoning included) at output price; all
// at the long-context tier's rates when the prompt is past its threshold.
double cost_usd(const Usage& usage, const Price& price);

// Reads the "usage" object of an OpenAI chat completion body or of one stream chunk's JSON.
// Returns nullopt when there is no usage object (absent or null) or the JSON is not an object.
// `json` need not be padded: it is copied into a padded thread-local buffer when necessary.
std::optional<Usage> extract_openai_usage(std::string_view json);

// True when a chat.completion.chunk is the extra usage-only chunk ("choices": [] and a usage
// object), the one include_usage adds before [DONE].
bool is_openai_usage_only_chunk(std::string_view json);

}  // namespace switchyard::core
