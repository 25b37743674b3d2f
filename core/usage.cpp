#include "core/usage.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/padded_copy.hpp"

namespace switchyard::core {

namespace {

namespace od = simdjson::ondemand;

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// True when `json` has a "usage" key whose value is an object. A `"usage"` with both quotes
// unescaped can only be a key or a string value, and only a key is followed by ':'; so this
// rules out, without parsing, the chunks that carry "usage":null or no usage at all, which is
// every chunk of a stream but the last. (A key spelt with \u escapes is not recognised.)
bool may_have_usage_object(std::string_view json) {
  constexpr std::string_view kKey = "\"usage\"";
  for (std::size_t at = json.find(kKey); at != std::string_view::npos;
       at = json.find(kKey, at + 1)) {
    std::size_t i = at + kKey.size();
    while (i < json.size() && is_json_space(json[i])) ++i;
    if (i >= json.size() || json[i] != ':') continue;
    ++i;
    while (i < json.size() && is_json_space(json[i])) ++i;
    if (i < json.size() && json[i] == '{') return true;
  }
  return false;
}

struct ThreadParser {
  od::parser parser;
  PaddedCopy buffer;  // stream chunks arrive unpadded inside read buffers
};

ThreadParser& thread_parser() {
  thread_local ThreadParser instance;
  return instance;
}

// Declared before the documents of a function that uses the thread's parser: gives back what
// a large body grew once they are gone.
struct ThreadParserTrim {
  ThreadParser& tp;
  ~ThreadParserTrim() {
    tp.buffer.release_above(kKeepPerThreadBytes);
    if (tp.parser.capacity() > kKeepPerThreadBytes) tp.parser = od::parser{};
  }
};

// A count that is missing, null or not an integer reads as 0: usage is informative, and a
// provider's odd field must not lose the rest of the record.
std::int64_t read_count(od::value& v) {
  std::int64_t n = 0;
  if (v.get_int64().get(n)) return 0;
  return token_count(n);
}

void read_details(od::value& v, std::string_view wanted, std::int64_t& out) {
  od::object details;
  if (v.get_object().get(details)) return;
  for (auto field_result : details) {
    od::field field;
    if (std::move(field_result).get(field)) return;
    std::string_view key;
    if (field.unescaped_key().get(key)) return;
    if (key == wanted) out = read_count(field.value());
  }
}

std::optional<Usage> read_usage(od::value& v) {
  od::object object;
  if (v.get_object().get(object)) return std::nullopt;
  Usage usage;
  for (auto field_result : object) {
    od::field field;
    if (std::move(field_result).get(field)) return std::nullopt;
    std::string_view key;
    if (field.unescaped_key().get(key)) return std::nullopt;
    if (key == "prompt_tokens") {
      usage.prompt_tokens = read_count(field.value());
    } else if (key == "completion_tokens") {
      usage.completion_tokens = read_count(field.value());
    } else if (key == "prompt_tokens_details") {
      read_details(field.value(), "cached_tokens", usage.cached_prompt_tokens);
    } else if (key == "completion_tokens_details") {
      read_details(field.value(), "reasoning_tokens", usage.reasoning_tokens);
    }
  }
  return usage;
}

}  // namespace

const TokenRates& Price::rates_for(std::int64_t prompt_tokens) const {
  if (long_context && prompt_tokens > long_context->above_prompt_tokens) return long_context->rates;
  return *this;
}

double cost_usd(const Usage& usage, const Price& price) {
  // Counts are capped at kMaxTokenCount, so these sums cannot overflow.
  const std::int64_t reads = token_count(usage.cached_prompt_tokens);
  const std::int64_t writes = token_count(usage.cache_creation_tokens);
  const std::int64_t writes_1h = std::min(token_count(usage.cache_creation_1h_tokens), writes);
  const std::int64_t uncached =
      std::max<std::int64_t>(token_count(usage.prompt_tokens) - reads - writes, 0);
  const std::int64_t completion = token_count(usage.completion_tokens);
  const TokenRates& r = price.rates_for(uncached + reads + writes);
  const auto or_else = [](double price_per_mtok, double fallback) {
    return price_per_mtok == 0 ? fallback : price_per_mtok;
  };
  const double read_price = or_else(r.cached_input_per_mtok, r.input_per_mtok);
  const double write_price = or_else(r.cache_write_per_mtok, r.input_per_mtok);
  const double write_1h_price = or_else(r.cache_write_1h_per_mtok, write_price);
  const double micro_usd = static_cast<double>(uncached) * r.input_per_mtok +
                           static_cast<double>(reads) * read_price +
                           static_cast<double>(writes - writes_1h) * write_price +
                           static_cast<double>(writes_1h) * write_1h_price +
                           static_cast<double>(completion) * r.output_per_mtok;
  return micro_usd / 1e6;
}

namespace {

// Where the top-level "usage" object of a response sits, found without walking the document:
// providers put it last, and a whole non-streamed completion can be long. Takes the last
// `"usage":{` and accepts it only if what follows its closing brace closes the root and
// nothing else, which places it at depth one. (A quote inside a JSON string is escaped, so
// `"usage"` cannot come from string content.) Returns an empty view when unsure.
// The last `"usage"` in the text. string_view::rfind compares the whole needle at every
// position walking back; memrchr for the key's 'g' (a rare letter in JSON keys) jumps.
std::size_t rfind_usage_key(std::string_view json) {
  constexpr std::string_view kKey = "\"usage\"";  // 'g' at index 4
  std::size_t end = json.size();
  while (end > 0) {
    const void* hit = memrchr(json.data(), 'g', end);
    if (hit == nullptr) return std::string_view::npos;
    const auto g = static_cast<std::size_t>(static_cast<const char*>(hit) - json.data());
    if (g >= 4 && json.substr(g - 4, kKey.size()) == kKey) return g - 4;
    end = g;
  }
  return std::string_view::npos;
}

std::string_view find_top_level_usage(std::string_view json) {
  std::size_t key = rfind_usage_key(json);
  if (key == std::string_view::npos) return {};
  std::size_t i = key + 7;
  auto skip_space = [&] {
    while (i < json.size() &&
           (json[i] == ' ' || json[i] == '\n' || json[i] == '\r' || json[i] == '\t'))
      ++i;
  };
  skip_space();
  if (i >= json.size() || json[i] != ':') return {};
  ++i;
  skip_space();
  if (i >= json.size() || json[i] != '{') return {};
  const std::size_t begin = i;
  int depth = 0;
  bool in_string = false;
  std::size_t end = std::string_view::npos;
  int unmatched_closes = 0;
  for (; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (end != std::string_view::npos) return {};  // another container after usage
      ++depth;
    } else if (c == '}' || c == ']') {
      if (end == std::string_view::npos) {
        if (--depth == 0) end = i + 1;
      } else if (++unmatched_closes > 1) {
        return {};
      }
    }
  }
  if (end == std::string_view::npos || unmatched_closes != 1) return {};
  return json.substr(begin, end - begin);
}

}  // namespace

std::optional<Usage> extract_openai_usage(std::string_view json) {
  ThreadParser& tp = thread_parser();
  const ThreadParserTrim trim{tp};
  // The fast path first: it finds the object near the end without scanning the whole body.
  if (const std::string_view usage = find_top_level_usage(json); !usage.empty()) {
    od::document usage_doc;
    const char* padded_usage = tp.buffer.assign(usage);
    od::value value;
    if (!tp.parser.iterate(padded_usage, usage.size(), tp.buffer.capacity()).get(usage_doc) &&
        !usage_doc.get_value().get(value)) {
      if (auto result = read_usage(value)) return result;
    }
  }
  if (!may_have_usage_object(json)) return std::nullopt;
  od::document doc;
  const char* padded = tp.buffer.assign(json);
  if (tp.parser.iterate(padded, json.size(), tp.buffer.capacity()).get(doc)) return std::nullopt;
  od::object root;
  if (doc.get_object().get(root)) return std::nullopt;
  for (auto field_result : root) {
    od::field field;
    if (std::move(field_result).get(field)) return std::nullopt;
    std::string_view key;
    if (field.unescaped_key().get(key)) return std::nullopt;
    if (key == "usage") return read_usage(field.value());
  }
  return std::nullopt;
}

bool is_openai_usage_only_chunk(std::string_view json) {
  if (!may_have_usage_object(json)) return false;
  ThreadParser& tp = thread_parser();
  const ThreadParserTrim trim{tp};
  od::document doc;
  const char* padded = tp.buffer.assign(json);
  if (tp.parser.iterate(padded, json.size(), tp.buffer.capacity()).get(doc)) return false;
  od::object root;
  if (doc.get_object().get(root)) return false;
  bool empty_choices = false;
  bool usage_object = false;
  for (auto field_result : root) {
    od::field field;
    if (std::move(field_result).get(field)) return false;
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    od::value& value = field.value();
    if (key == "choices") {
      od::array choices;
      bool empty = false;
      empty_choices = !value.get_array().get(choices) && !choices.is_empty().get(empty) && empty;
    } else if (key == "usage") {
      od::json_type type;
      usage_object = !value.type().get(type) && type == od::json_type::object;
    }
  }
  return empty_choices && usage_object;
}

}  // namespace switchyard::core
