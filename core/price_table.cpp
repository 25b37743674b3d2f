#include "core/price_table.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

namespace switchyard::core {

namespace {

namespace json = boost::json;

constexpr std::string_view kSampleSpec = "sample_spec";  // LiteLLM's description of the fields

// Strings here are built by append: GCC 12 misreads chains of operator+ on them (-Wrestrict).
std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 60;
  std::string out = "'";
  out.append(s.substr(0, kMax)).append(s.size() > kMax ? "...'" : "'");
  return out;
}

int line_at(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 +
         static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n'));
}

// The line of an entry's key, for messages: the first `"key"` followed by ':'. Top-level keys
// are model ids, which the values of other entries do not repeat as keys. 0 when not found.
int line_of_entry(std::string_view text, std::string_view key) {
  std::string needle = "\"";
  needle.append(key).append("\"");
  for (std::size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + 1)) {
    std::size_t i = at + needle.size();
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
      ++i;
    if (i < text.size() && text[i] == ':') return line_at(text, at);
  }
  return 0;
}

std::string_view kind_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "true or false";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

class EntryReader {
 public:
  EntryReader(std::string_view file, std::string_view text, std::string_view entry,
              std::vector<ConfigError>& errors)
      : file_(file), text_(text), entry_(entry), errors_(errors) {}

  void error(std::string_view message) {
    std::string text = "entry ";
    text.append(quote(entry_)).append(": ").append(message);
    errors_.push_back({std::string(file_), line_of_entry(text_, entry_), std::move(text)});
  }

  // A cost in USD per token, as USD per million tokens.
  std::optional<double> cost(const json::value& v, std::string_view key) {
    if (!v.is_number()) {
      error(quote(key) + " must be a number (USD per token), got " + std::string(kind_of(v)));
      return std::nullopt;
    }
    const double per_token = v.to_number<double>();
    if (!std::isfinite(per_token) || per_token < 0) {
      error(quote(key) + " must be 0 or more");
      return std::nullopt;
    }
    return per_token * 1e6;
  }

  std::int64_t token_limit(const json::value& v, std::string_view key) {
    const bool whole = v.is_int64() || v.is_uint64() ||
                       (v.is_double() && std::isfinite(v.get_double()) &&
                        v.get_double() == std::floor(v.get_double()));
    const double n = v.is_number() ? v.to_number<double>() : -1;
    if (!whole || n < 0 || n > static_cast<double>(kMaxTokenCount)) {
      error(quote(key) + " must be a whole number of tokens, got " +
            (v.is_number() ? json::serialize(v) : std::string(kind_of(v))));
      return 0;
    }
    return static_cast<std::int64_t>(n);
  }

  void expect_string(const json::value& v, std::string_view key) {
    if (!v.is_string()) error(quote(key) + " must be a string, got " + std::string(kind_of(v)));
  }

 private:
  std::string_view file_;
  std::string_view text_;
  std::string_view entry_;
  std::vector<ConfigError>& errors_;
};

// LiteLLM's per-token cost fields and the rate each one sets.
struct CostField {
  std::string_view key;
  double TokenRates::*rate;
};
constexpr std::array<CostField, 5> kCostFields{{
    {"input_cost_per_token", &TokenRates::input_per_mtok},
    {"output_cost_per_token", &TokenRates::output_per_mtok},
    {"cache_read_input_token_cost", &TokenRates::cached_input_per_mtok},
    {"cache_creation_input_token_cost", &TokenRates::cache_write_per_mtok},
    {"cache_creation_input_token_cost_above_1hr", &TokenRates::cache_write_1h_per_mtok},
}};

// "<cost field>_above_<N>k_tokens": the field's rate for prompts over N thousand tokens. Other
// suffixes (service tiers such as _priority or _flex) are not this shape and are not read.
std::optional<std::int64_t> tier_threshold(std::string_view key, std::string_view field) {
  constexpr std::string_view kAbove = "_above_";
  constexpr std::string_view kTail = "k_tokens";
  if (!key.starts_with(field) || !key.substr(field.size()).starts_with(kAbove)) return std::nullopt;
  const std::string_view rest = key.substr(field.size() + kAbove.size());
  if (!rest.ends_with(kTail)) return std::nullopt;
  const std::string_view digits = rest.substr(0, rest.size() - kTail.size());
  std::int64_t thousands = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), thousands);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      thousands <= 0 || thousands > kMaxTokenCount / 1000)
    return std::nullopt;
  return thousands * 1000;
}

PriceFileEntry read_entry(EntryReader& r, const json::object& o) {
  PriceFileEntry entry;
  // Tier rates by threshold; a field the tier does not list keeps its base rate, as LiteLLM
  // prices it.
  std::map<std::int64_t, std::vector<std::pair<double TokenRates::*, double>>> tiers;
  for (const auto& field : o) {
    const std::string_view key = field.key();
    const json::value& v = field.value();
    if (key == "max_input_tokens") {
      entry.context_window_tokens = r.token_limit(v, key);
    } else if (key == "max_output_tokens") {
      entry.max_output_tokens = r.token_limit(v, key);
    } else if (key == "litellm_provider" || key == "mode") {
      r.expect_string(v, key);
    } else {
      for (const CostField& cost_field : kCostFields) {
        if (key == cost_field.key) {
          if (auto rate = r.cost(v, key)) {
            entry.price.*cost_field.rate = *rate;
            if (cost_field.rate == &TokenRates::input_per_mtok ||
                cost_field.rate == &TokenRates::output_per_mtok)
              entry.priced = true;
          }
        } else if (auto threshold = tier_threshold(key, cost_field.key)) {
          if (auto rate = r.cost(v, key)) tiers[*threshold].emplace_back(cost_field.rate, *rate);
        }
      }
    }
  }
  // One tier is modelled: the lowest, which is the one every listed model has.
  if (!tiers.empty() && entry.priced) {
    LongContextTier tier;
    tier.above_prompt_tokens = tiers.begin()->first;
    tier.rates = entry.price;
    for (const auto& [rate, value] : tiers.begin()->second) tier.rates.*rate = value;
    entry.price.long_context = tier;
  }
  return entry;
}

std::string_view litellm_prefix(std::string_view provider_type) {
  if (provider_type == "anthropic") return "anthropic/";
  if (provider_type == "gemini") return "gemini/";
  if (provider_type == "azure") return "azure/";
  if (provider_type == "openai") return "openai/";
  return {};
}

}  // namespace

Result<PriceFile, std::vector<ConfigError>> parse_litellm_price_file(std::string_view text,
                                                                     std::string_view file_name) {
  std::vector<ConfigError> errors;
  json::stream_parser parser;
  boost::system::error_code ec;
  const std::size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    errors.push_back({std::string(file_name), line_at(text, consumed),
                      "not a LiteLLM price file: invalid JSON (" + ec.message() + ")"});
    return fail(std::move(errors));
  }
  const json::value root = parser.release();
  if (!root.is_object()) {
    errors.push_back({std::string(file_name), 0,
                      "not a LiteLLM price file: expected a JSON object of models, got " +
                          std::string(kind_of(root))});
    return fail(std::move(errors));
  }
  PriceFile file;
  for (const auto& model : root.get_object()) {
    const std::string_view id = model.key();
    if (id == kSampleSpec) continue;
    EntryReader r(file_name, text, id, errors);
    if (!model.value().is_object()) {
      r.error("expected an object of prices and limits, got " +
              std::string(kind_of(model.value())));
      continue;
    }
    file.insert_or_assign(std::string(id), read_entry(r, model.value().get_object()));
  }
  if (!errors.empty()) return fail(std::move(errors));
  return file;
}

const PriceFileEntry* find_price_file_entry(const PriceFile& file, std::string_view provider_type,
                                            std::string_view upstream_model,
                                            std::string_view name) {
  const std::string_view prefix = litellm_prefix(provider_type);
  for (const std::string_view id : {upstream_model, name}) {
    if (auto it = file.find(id); it != file.end()) return &it->second;
    if (prefix.empty()) continue;
    if (auto it = file.find(std::string(prefix) + std::string(id)); it != file.end())
      return &it->second;
  }
  return nullptr;
}

}  // namespace switchyard::core
