#include "core/router_rules.hpp"

#include <algorithm>

namespace switchyard::core {
namespace {

// Every required (name, value) is among the pairs; a name given twice matches either value.
bool has_all(const std::map<std::string, std::string>& required, NamedValues present) {
  return std::all_of(required.begin(), required.end(), [&](const auto& want) {
    return std::any_of(present.begin(), present.end(), [&](const auto& have) {
      return have.first == want.first && have.second == want.second;
    });
  });
}

}  // namespace

bool rule_matches(const RuleCondition& when, const RuleFacts& facts) {
  if (when.min_input_tokens && facts.input_tokens < *when.min_input_tokens) return false;
  if (when.max_input_tokens && facts.input_tokens > *when.max_input_tokens) return false;
  if (when.tools && *when.tools != facts.tools) return false;
  if (when.images && *when.images != facts.images) return false;
  if (!when.protocols.empty() && std::find(when.protocols.begin(), when.protocols.end(),
                                           facts.protocol) == when.protocols.end()) {
    return false;
  }
  return has_all(when.headers, facts.headers) && has_all(when.metadata, facts.metadata);
}

const std::string* match_rule(const RouterConfig& router, const RuleFacts& facts) {
  for (const RouterRule& rule : router.rules) {
    if (rule_matches(rule.when, facts)) return &rule.model;
  }
  return nullptr;
}

}  // namespace switchyard::core
