#pragma once
// What the config says about routing: model groups and their targets, the strategies, retry,
// cooldown and hedging policies, the retry budget, per-request overrides and rule-based
// routers. Plain data; core/routing.hpp holds the logic that acts on it.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/usage.hpp"

namespace switchyard::core {

// How a model group picks among its available targets of the lowest tier with one.
enum class Strategy {
  weighted,    // random by weight
  least_busy,  // fewest requests in flight
  latency,     // lowest moving average of time to first token (power of two choices)
  cost,        // cheapest by the price table for the request's estimated tokens
  ordered,     // the first available target in list order
};

// Which failures of an attempt are worth another attempt (elsewhere when possible).
struct RetryOn {
  bool connect = true;  // the connection could not be made (refused, reset before an answer)
  bool timeout = true;  // no answer (or no first token) in time
  std::vector<int> statuses{429, 500, 502, 503, 504, 529};
};

struct RetryPolicy {
  int attempts = 2;  // attempts per model group, the first included: 1 means no retry
  // Exponential backoff with full jitter: before retry n (1-based) the wait is uniform in
  // [0, min(max_backoff, backoff * 2^(n-1))].
  std::chrono::milliseconds backoff{100};
  std::chrono::milliseconds max_backoff{4000};
  // A Retry-After (or retry-after-ms) longer than this is not waited for: the request moves
  // to another target or a fallback instead.
  std::chrono::seconds max_retry_after{30};
  // No new attempt starts once this much time has passed since the request arrived.
  std::chrono::milliseconds total_timeout{120000};
  RetryOn on;
};

// Circuit breaking per (model, target): `failures` counted failures within `window` cool the
// target down for `duration` (a longer Retry-After extends it); then one request probes it.
struct CooldownPolicy {
  int failures = 3;
  std::chrono::seconds window{30};
  std::chrono::seconds duration{60};
};

// A second attempt on another target when the first token is late; the first token wins.
struct HedgePolicy {
  std::chrono::milliseconds after{0};  // fixed delay; 0 with after_percentile 0: no hedging
  int after_percentile = 0;   // or: the model's recent time-to-first-token percentile (1..99)
  double max_fraction = 0.1;  // at most this share of requests is hedged
  bool enabled() const { return after.count() > 0 || after_percentile > 0; }
};

// Retries and hedges together stay under `ratio` of the requests in flight, with a floor of
// `min_concurrent` so a quiet gateway still retries (Envoy's retry budget).
struct RetryBudget {
  double ratio = 0.2;
  int min_concurrent = 3;
};

// Which x-switchyard-* request headers a client may use to change its own routing.
struct OverridePolicy {
  bool timeout = true;    // x-switchyard-timeout-ms: lower the first-token timeout
  bool retries = true;    // x-switchyard-retries: fewer (or no) retries
  bool fallbacks = true;  // x-switchyard-fallbacks: off disables fallbacks
  bool target = true;     // x-switchyard-target: pin one target (provider[/model]), for debugging
};

// Everything a model group's attempts follow; `routing:` gives the defaults, a model
// overrides any part.
struct RoutingPolicy {
  Strategy strategy = Strategy::weighted;
  RetryPolicy retry;
  CooldownPolicy cooldown;
  // No first token (first body byte of the answer) within this: the attempt has failed, is
  // cancelled upstream, and the request moves on. 0: only the provider's timeouts apply.
  std::chrono::milliseconds first_token_timeout{0};
  HedgePolicy hedge;
};

// One provider behind a model group.
struct TargetConfig {
  std::string provider;        // a ProviderConfig name
  std::string upstream_model;  // what the provider is asked for; defaults to the model's name
  double weight = 1;           // > 0
  int tier = 1;                // higher tiers only when every lower one is unavailable
  std::int64_t rpm = 0;        // most requests per minute sent to it by this process; 0: no limit
  std::int64_t tpm = 0;        // most tokens per minute (estimated input + output); 0: no limit
  // From the target's price: in the config, else the prices_file, else the bundled table,
  // else zero. Fields a partial price leaves out come from the next source that has the model.
  Price price;
  bool price_known = false;  // false when no source had a price
  // Accepts reasoning settings (reasoning_effort, thinking budgets): from the config's
  // `reasoning:`, else the bundled table. Translation drops them for other models, which
  // would refuse the whole request over them.
  bool reasoning = false;
  // Limits from the prices_file entry, for routing to weigh; 0 when unknown.
  std::int64_t context_window_tokens = 0;  // the most prompt tokens the model accepts
  std::int64_t max_output_tokens = 0;      // the most tokens it writes in one answer
};

// Conditions of a router rule; every condition given must hold (an empty one always does).
struct RuleCondition {
  std::optional<std::int64_t> min_input_tokens;  // estimated input tokens >= this
  std::optional<std::int64_t> max_input_tokens;  // estimated input tokens <= this
  std::optional<bool> tools;                     // the request declares tools (or not)
  std::optional<bool> images;                    // the request carries images (or not)
  // Client protocols: "openai_chat", "openai_responses", "anthropic_messages"; empty: any.
  std::vector<std::string> protocols;
  std::map<std::string, std::string> headers;   // lowercased header name -> exact value
  std::map<std::string, std::string> metadata;  // the request's metadata tags -> exact value
};

struct RouterRule {
  RuleCondition when;
  std::string model;  // a model group's name (not a router)
};

// A virtual model that picks a real one per request: the first rule that matches.
struct RouterConfig {
  std::string name;
  std::vector<RouterRule> rules;
};

// `routing:` — the defaults every model group starts from, and what is global.
struct RoutingDefaults {
  RoutingPolicy policy;
  RetryBudget retry_budget;
  OverridePolicy overrides;
};

}  // namespace switchyard::core
