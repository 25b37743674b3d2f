// Fuzzes the config loader, core::parse_config (YAML, ${VAR} substitution, validation), with
// a fixed environment. A config is written by an operator, not an attacker, but a typo must
// never crash the gateway at start-up: every input is either a Config or a list of errors
// that each say what is wrong. The input is the YAML text.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace switchyard::core;

namespace {

// Names the seeds use, and values that would go wrong if substituted twice or unescaped.
std::optional<std::string> fixed_env(const std::string& name) {
  static const std::map<std::string, std::string> env = {
      {"OPENAI_API_KEY", "sk-test"},
      {"ANTHROPIC_API_KEY", "sk-ant-test"},
      {"GEMINI_API_KEY", "g-test"},
      {"EMPTY", ""},
      {"PORT", "4100"},
      {"NESTED", "${OPENAI_API_KEY}"},
      {"YAML", "key: [value, {x: 1}]\n- item"},
  };
  if (auto it = env.find(name); it != env.end()) return it->second;
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto result = parse_config(text, "fuzz.yaml", fixed_env);
  if (!result.ok()) {
    SWITCHYARD_FUZZ_CHECK(!result.error().empty());
    for (const ConfigError& e : result.error()) {
      SWITCHYARD_FUZZ_CHECK(!e.message.empty());
      SWITCHYARD_FUZZ_CHECK(e.line >= 0);
      (void)e.to_string();
    }
    return 0;
  }
  const Config& config = result.value();
  // What the gateway looks up at start-up must be there: every target's provider, every
  // fallback and every router rule's model exist.
  for (const ModelConfig& model : config.models) {
    SWITCHYARD_FUZZ_CHECK(!model.targets.empty());
    for (const TargetConfig& target : model.targets)
      SWITCHYARD_FUZZ_CHECK(config.find_provider(target.provider) != nullptr);
    SWITCHYARD_FUZZ_CHECK(config.find_model(model.name) != nullptr);
    for (const auto* list : {&model.fallbacks, &model.context_window_fallbacks})
      for (const std::string& name : *list)
        SWITCHYARD_FUZZ_CHECK(config.find_model(name) != nullptr);
  }
  for (const RouterConfig& router : config.routers)
    for (const RouterRule& rule : router.rules)
      SWITCHYARD_FUZZ_CHECK(config.find_model(rule.model) != nullptr);
  return 0;
}
