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
#include "metrics/metrics.hpp"
#include "proxy/access_log.hpp"

namespace switchyard::proxy {

// One target of a model group, bound at start-up to what an attempt on it needs.
struct TargetRoute {
  const core::TargetConfig* config = nullptr;
  const core::ProviderConfig* provider = nullptr;
  const adapters::ProviderKind* kind = nullptr;
  adapters::UpstreamEndpoint endpoint;  // unused for the in-process mock
  const metrics::ProviderMetrics* provider_metrics = nullptr;
  std::size_t index = 0;  // in its group's targets
};

// A model clients can name, with its targets and the groups it falls back to.
struct ModelRoute {
  const core::ModelConfig* model = nullptr;
  std::vector<TargetRoute> targets;
  std::vector<const ModelRoute*> fallbacks;
  std::vector<const ModelRoute*> context_window_fallbacks;
  const metrics::ModelMetrics* model_metrics = nullptr;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Runtime {
  core::Config config;
  std::unordered_map<std::string, ModelRoute, StringHash, std::equal_to<>> routes;
  std::unique_ptr<metrics::Metrics> metrics;
  std::unique_ptr<AccessLog> access_log;
  std::string models_json;  // the /v1/models answer, built once

  const ModelRoute* find_route(std::string_view model) const {
    auto it = routes.find(model);
    return it == routes.end() ? nullptr : &it->second;
  }
};

// Builds the runtime from a validated config. Throws std::runtime_error when a provider's
// base_url cannot be used (the config validator should already have refused it).
std::unique_ptr<Runtime> make_runtime(core::Config config, std::size_t workers);

}  // namespace switchyard::proxy
