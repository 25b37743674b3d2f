#pragma once
// What every worker reads and nobody writes after start-up: the config, the route table,
// the metric handles and the access log.
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "adapters/exchange.hpp"
#include "adapters/upstream_endpoint.hpp"
#include "core/config.hpp"
#include "core/retry.hpp"
#include "core/router_rules.hpp"
#include "core/routing.hpp"
#include "core/target_health.hpp"
#include "metrics/metrics.hpp"
#include "proxy/access_log.hpp"

namespace switchyard::proxy {

class Governance;

// One target of a model group, bound at start-up to what an attempt on it needs.
struct TargetRoute {
  const core::TargetConfig* config = nullptr;
  const core::ProviderConfig* provider = nullptr;
  const adapters::ProviderKind* kind = nullptr;
  adapters::UpstreamEndpoint endpoint;  // unused for the in-process mock
  const metrics::ProviderMetrics* provider_metrics = nullptr;
  core::KeyPool* keys = nullptr;  // the provider's key pool (shared by its targets)
  std::size_t index = 0;          // in its group's targets
};

// A model clients can name, with its targets and the groups it falls back to.
struct ModelRoute {
  const core::ModelConfig* model = nullptr;
  std::vector<TargetRoute> targets;
  std::vector<const ModelRoute*> fallbacks;
  std::vector<const ModelRoute*> context_window_fallbacks;
  const metrics::ModelMetrics* model_metrics = nullptr;
  // Shared by every worker: atomics only (core/target_health.hpp), parallel to `targets`.
  std::unique_ptr<core::TargetState[]> states;
  std::unique_ptr<core::HedgeGate> hedge;

  std::span<core::TargetState> target_states() const { return {states.get(), targets.size()}; }
};

// A rule-based router with its rules' models resolved.
struct RouterRoute {
  const core::RouterConfig* router = nullptr;
  std::vector<const ModelRoute*> models;  // parallel to the rules
  std::vector<metrics::ShardedValue*> decisions;
  // The lowercased header names its rules look at, read from each request once.
  std::vector<std::string> header_names;
  bool reads_request = false;  // a rule looks at tools or images: the request is decoded
  bool reads_metadata = false;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Runtime {
  Runtime();
  ~Runtime();  // out of line: Governance is incomplete here
  core::Config config;
  std::unordered_map<std::string, ModelRoute, StringHash, std::equal_to<>> routes;
  std::unique_ptr<metrics::Metrics> metrics;
  std::unique_ptr<AccessLog> access_log;
  std::unordered_map<std::string, RouterRoute, StringHash, std::equal_to<>> routers;
  std::unordered_map<std::string, std::unique_ptr<core::KeyPool>> key_pools;  // by provider
  std::unique_ptr<core::RetryBudgetState> retry_budget;
  std::string models_json;  // the /v1/models answer, built once
  // Keys, budgets, limits and the ledger, when the config has a governance section.
  std::unique_ptr<Governance> governance;

  const ModelRoute* find_route(std::string_view model) const {
    auto it = routes.find(model);
    return it == routes.end() ? nullptr : &it->second;
  }
  const RouterRoute* find_router(std::string_view name) const {
    auto it = routers.find(name);
    return it == routers.end() ? nullptr : &it->second;
  }
};

// Builds the runtime from a validated config. Throws std::runtime_error when a provider's
// base_url cannot be used (the config validator should already have refused it).
std::unique_ptr<Runtime> make_runtime(core::Config config, std::size_t workers);

}  // namespace switchyard::proxy
