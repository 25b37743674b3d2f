#pragma once
// Rule-based routers: a virtual model that names a real one per request, by the first rule
// whose conditions all hold.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "core/routing_config.hpp"

namespace switchyard::core {

// (name, value) pairs; header names lowercased by the caller.
using NamedValues = std::span<const std::pair<std::string_view, std::string_view>>;

// What the rules may look at, gathered once from the parsed request.
struct RuleFacts {
  std::int64_t input_tokens = 0;  // estimated
  bool tools = false;
  bool images = false;
  std::string_view protocol;  // "openai_chat", "openai_responses" or "anthropic_messages"
  NamedValues headers;
  NamedValues metadata;
};

bool rule_matches(const RuleCondition& when, const RuleFacts& facts);

// The model of the first rule that matches, or nullptr when none does.
const std::string* match_rule(const RouterConfig& router, const RuleFacts& facts);

}  // namespace switchyard::core
