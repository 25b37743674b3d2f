// Prices beyond the bundled table: cache-write and long-context prices on a model's price:,
// and LiteLLM price files (prices_file:), with their precedence and their errors.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/price_table.hpp"

using namespace switchyard::core;

namespace {

using Files = std::map<std::string, std::string>;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SWITCHYARD_FIXTURES) + "/prices/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Parses a config that lives at conf/switchyard.yaml; `files` are what the reader can read,
// and `asked` collects the paths it was asked for.
Result<Config, std::vector<ConfigError>> parse(std::string_view text, Files files = {},
                                               std::vector<std::string>* asked = nullptr) {
  if (!text.empty() && text.front() == '\n') text.remove_prefix(1);
  const FileReader reader = [files = std::move(files),
                             asked](const std::string& path) -> std::optional<std::string> {
    if (asked) asked->push_back(path);
    if (auto it = files.find(path); it != files.end()) return it->second;
    return std::nullopt;
  };
  return parse_config(
      text, "conf/switchyard.yaml", [](const std::string&) { return std::nullopt; }, reader);
}

std::vector<std::string> errors_of(const Result<Config, std::vector<ConfigError>>& r) {
  std::vector<std::string> out;
  if (r.ok()) return out;
  for (const auto& e : r.error()) out.push_back(e.to_string());
  return out;
}

constexpr std::string_view kProviders = R"(
providers:
  - {name: claude, type: anthropic, api_key: k}
  - {name: google, type: gemini, api_key: k}
  - {name: oai, type: openai, api_key: k}
)";

std::string config_with(std::string_view rest) {
  return std::string(kProviders.substr(1)) + std::string(rest.substr(rest.front() == '\n'));
}

}  // namespace

TEST_CASE("prices: the bundled Anthropic rows carry cache-write prices and the 1M tier",
          "[config][prices]") {
  const auto& table = bundled_prices();
  const Price& sonnet = table.at("claude-sonnet-4-5");
  CHECK(sonnet.cache_write_per_mtok == 3.75);
  CHECK(sonnet.cache_write_1h_per_mtok == 6.00);
  REQUIRE(sonnet.long_context);
  CHECK(sonnet.long_context->above_prompt_tokens == 200000);
  CHECK(sonnet.long_context->rates.input_per_mtok == 6.00);
  CHECK(sonnet.long_context->rates.output_per_mtok == 22.50);
  CHECK(sonnet.long_context->rates.cached_input_per_mtok == 0.60);
  CHECK(sonnet.long_context->rates.cache_write_per_mtok == 7.50);
  CHECK(sonnet.long_context->rates.cache_write_1h_per_mtok == 12.00);
  CHECK(table.at("claude-opus-4-1").cache_write_per_mtok == 18.75);
  CHECK(table.at("claude-haiku-4-5").cache_write_1h_per_mtok == 2.00);
  CHECK_FALSE(table.at("claude-haiku-4-5").long_context);
  const Price& pro = table.at("gemini-2.5-pro");
  REQUIRE(pro.long_context);
  CHECK(pro.long_context->rates.input_per_mtok == 2.50);
  CHECK(pro.long_context->rates.output_per_mtok == 15.00);
  CHECK(pro.long_context->rates.cached_input_per_mtok == 0.25);
  // Every row still loads: a row the reader refused would empty the table.
  CHECK(table.size() >= 22);
  CHECK(table.at("gpt-4o").input_per_mtok == 2.50);
}

TEST_CASE("prices: price: sets cache writes and a long-context tier", "[config][prices]") {
  auto r = parse(config_with(R"(
models:
  - name: own
    provider: oai
    model: my-model
    price:
      input_per_mtok: 1
      output_per_mtok: 2
      cache_write_per_mtok: 1.25
      cache_write_1h_per_mtok: 2
      long_context: {above_prompt_tokens: 1000, input_per_mtok: 4, output_per_mtok: 5}
  - name: sonnet-longer-output
    provider: claude
    model: claude-sonnet-4-5
    price: {long_context: {output_per_mtok: 30}}
  - name: sonnet-flat
    provider: claude
    model: claude-sonnet-4-5
    price: {long_context: }
)"));
  REQUIRE(errors_of(r).empty());
  const Price& own = r->find_model("own")->primary().price;
  CHECK(own.cache_write_per_mtok == 1.25);
  CHECK(own.cache_write_1h_per_mtok == 2);
  REQUIRE(own.long_context);
  CHECK(own.long_context->above_prompt_tokens == 1000);
  CHECK(own.long_context->rates.input_per_mtok == 4);
  CHECK(own.long_context->rates.output_per_mtok == 5);
  // A partial tier keeps the rest of the bundled tier.
  const Price& longer = r->find_model("sonnet-longer-output")->primary().price;
  REQUIRE(longer.long_context);
  CHECK(longer.long_context->above_prompt_tokens == 200000);
  CHECK(longer.long_context->rates.input_per_mtok == 6.00);
  CHECK(longer.long_context->rates.output_per_mtok == 30);
  CHECK(longer.input_per_mtok == 3.00);
  // An empty long_context removes the tier.
  CHECK_FALSE(r->find_model("sonnet-flat")->primary().price.long_context);
}

TEST_CASE("prices: a new tier needs its threshold, and rates must not be negative",
          "[config][prices]") {
  auto r = parse(config_with(R"(
models:
  - name: own
    provider: oai
    model: my-model
    price:
      cache_write_1h_per_mtok: -1
      long_context: {input_per_mtok: 4}
)"));
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "conf/switchyard.yaml:10: models[0].price.cache_write_1h_per_mtok: must be 0 or more",
            "conf/switchyard.yaml:11: models[0].price.long_context: missing required key "
            "'above_prompt_tokens' (the prompt size past which the tier's rates apply, e.g. "
            "200000)"});
}

TEST_CASE("prices: a LiteLLM price file is read beside the config", "[config][prices]") {
  std::vector<std::string> asked;
  auto r = parse(config_with(R"(
prices_file: litellm.json
models:
  - name: sonnet
    provider: claude
    model: claude-sonnet-4-5-20250929
  - name: pro
    provider: google
    model: gemini-2.5-pro
  - name: gpt-4o
    provider: oai
  - name: gpt-4o-own
    provider: oai
    model: gpt-4o
    price: {input_per_mtok: 9}
  - name: gpt-4.1
    provider: oai
  - name: painter
    provider: oai
    model: dall-e-3
)"),
                 {{"conf/litellm.json", fixture("litellm_model_prices.json")}}, &asked);
  REQUIRE(errors_of(r).empty());
  CHECK(asked == std::vector<std::string>{"conf/litellm.json"});
  const auto model = [&](std::string_view name) -> const ModelConfig& {
    return *r->find_model(name);
  };

  // Per-token costs become per-million prices; the 200k fields become the tier.
  const Price& sonnet = model("sonnet").primary().price;
  CHECK(sonnet.input_per_mtok == Approx(3.0));
  CHECK(sonnet.output_per_mtok == Approx(15.0));
  CHECK(sonnet.cached_input_per_mtok == Approx(0.30));
  CHECK(sonnet.cache_write_per_mtok == Approx(3.75));
  CHECK(sonnet.cache_write_1h_per_mtok == Approx(6.0));
  REQUIRE(sonnet.long_context);
  CHECK(sonnet.long_context->above_prompt_tokens == 200000);
  CHECK(sonnet.long_context->rates.input_per_mtok == Approx(6.0));
  CHECK(sonnet.long_context->rates.output_per_mtok == Approx(22.5));
  CHECK(sonnet.long_context->rates.cached_input_per_mtok == Approx(0.60));
  CHECK(sonnet.long_context->rates.cache_write_per_mtok == Approx(7.5));
  CHECK(sonnet.long_context->rates.cache_write_1h_per_mtok == Approx(12.0));
  CHECK(model("sonnet").primary().context_window_tokens == 200000);
  CHECK(model("sonnet").primary().max_output_tokens == 64000);

  // Found with the provider type's prefix ("gemini/..."); the _priority service tier is not
  // the long-context tier.
  const Price& pro = model("pro").primary().price;
  CHECK(pro.input_per_mtok == Approx(1.25));
  REQUIRE(pro.long_context);
  CHECK(pro.long_context->rates.input_per_mtok == Approx(2.5));
  CHECK(pro.long_context->rates.cached_input_per_mtok == Approx(0.25));
  CHECK(model("pro").primary().context_window_tokens == 1048576);
  CHECK(model("pro").primary().max_output_tokens == 65535);

  // The file beats the bundled table ($2.50 there), the model's own price: beats the file.
  CHECK(model("gpt-4o").primary().price.input_per_mtok == Approx(2.0));
  CHECK(model("gpt-4o-own").primary().price.input_per_mtok == 9);
  CHECK(model("gpt-4o-own").primary().price.output_per_mtok == Approx(8.0));
  CHECK(model("gpt-4o-own").primary().context_window_tokens == 128000);
  // Not in the file: the bundled table, and no known limits.
  CHECK(model("gpt-4.1").primary().price.input_per_mtok == 2.00);
  CHECK(model("gpt-4.1").primary().context_window_tokens == 0);
  // An entry without token costs prices nothing.
  CHECK_FALSE(model("painter").primary().price_known);
  CHECK(r->notices == std::vector<std::string>{
                          "model 'painter' has no known price (not in the prices_file or the "
                          "bundled table as 'dall-e-3'): its cost is counted as 0; add price: "
                          "to the model"});
}

TEST_CASE("prices: an absolute prices_file path is used as written", "[config][prices]") {
  std::vector<std::string> asked;
  auto r = parse(
      config_with(R"(
prices_file: /etc/switchyard/prices.json
models:
  - {name: gpt-4o, provider: oai}
)"),
      {{"/etc/switchyard/prices.json", R"({"gpt-4o": {"input_cost_per_token": 1e-06}})"}}, &asked);
  REQUIRE(errors_of(r).empty());
  CHECK(asked == std::vector<std::string>{"/etc/switchyard/prices.json"});
  CHECK(r->find_model("gpt-4o")->primary().price.input_per_mtok == Approx(1.0));
}

TEST_CASE("prices: a prices_file that cannot be read stops the config", "[config][prices]") {
  auto r = parse(config_with(R"(
prices_file: missing.json
models:
  - {name: gpt-4o, provider: oai}
)"));
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "conf/switchyard.yaml:5: prices_file: cannot read 'conf/missing.json'"});
}

TEST_CASE("prices: a prices_file that is not JSON names the file and the line",
          "[config][prices]") {
  auto r =
      parse(config_with(R"(
prices_file: p.json
models:
  - {name: gpt-4o, provider: oai}
)"),
            {{"conf/p.json", "{\n  \"gpt-4o\": {\n    \"input_cost_per_token\": 1e-06,\n}\n"}});
  const auto errors = errors_of(r);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::StartsWith("conf/p.json:4: not a LiteLLM price file: invalid JSON"));
}

TEST_CASE("prices: wrong types in a prices_file name the entry and the field", "[config][prices]") {
  const std::string file = R"({
  "sample_spec": {"max_input_tokens": "ignored, as LiteLLM documents"},
  "gpt-4o": {
    "input_cost_per_token": "2.5e-06",
    "max_input_tokens": 1.5
  },
  "o3": ["not", "an", "object"],
  "o4-mini": {"litellm_provider": 7, "output_cost_per_token": -1}
})";
  auto r = parse(config_with(R"(
prices_file: p.json
models:
  - {name: gpt-4o, provider: oai}
)"),
                 {{"conf/p.json", file}});
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "conf/p.json:3: entry 'gpt-4o': 'input_cost_per_token' must be a number (USD per "
            "token), got a string",
            "conf/p.json:3: entry 'gpt-4o': 'max_input_tokens' must be a whole number of tokens, "
            "got 1.5E0",
            "conf/p.json:7: entry 'o3': expected an object of prices and limits, got an array",
            "conf/p.json:8: entry 'o4-mini': 'litellm_provider' must be a string, got a number",
            "conf/p.json:8: entry 'o4-mini': 'output_cost_per_token' must be 0 or more"});
  auto not_an_object = parse(config_with(R"(
prices_file: p.json
models:
  - {name: gpt-4o, provider: oai}
)"),
                             {{"conf/p.json", "[1, 2]"}});
  CHECK(errors_of(not_an_object) ==
        std::vector<std::string>{"conf/p.json: not a LiteLLM price file: expected a JSON object "
                                 "of models, got an array"});
}

TEST_CASE("prices: entries are matched by upstream id, prefixed id, then name",
          "[config][prices]") {
  auto parsed = parse_litellm_price_file(R"({
    "claude-x": {"input_cost_per_token": 1e-06},
    "anthropic/claude-x": {"input_cost_per_token": 2e-06},
    "anthropic/claude-y": {"input_cost_per_token": 3e-06},
    "alias": {"input_cost_per_token": 4e-06}
  })",
                                         "p.json");
  REQUIRE(parsed);
  const PriceFile& file = parsed.value();
  const auto input_of = [&](std::string_view type, std::string_view upstream,
                            std::string_view name) {
    const PriceFileEntry* e = find_price_file_entry(file, type, upstream, name);
    return e ? e->price.input_per_mtok : -1.0;
  };
  CHECK(input_of("anthropic", "claude-x", "alias") == Approx(1.0));  // exact upstream id
  CHECK(input_of("anthropic", "claude-y", "alias") == Approx(3.0));  // with the prefix
  CHECK(input_of("anthropic", "claude-z", "alias") == Approx(4.0));  // the gateway name
  CHECK(input_of("openai", "claude-y", "nothing") == -1.0);          // another type's prefix
  CHECK(input_of("openai_compatible", "claude-z", "nothing") == -1.0);
}
