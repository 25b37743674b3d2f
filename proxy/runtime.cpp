#include "proxy/runtime.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <stdexcept>

#include "proxy/governance.hpp"
#include "proxy/process_metrics.hpp"

namespace switchyard::proxy {

Runtime::Runtime() = default;
Runtime::~Runtime() = default;

std::unique_ptr<Runtime> make_runtime(core::Config config, std::size_t workers) {
  auto runtime = std::make_unique<Runtime>();
  runtime->config = std::move(config);
  const core::Config& cfg = runtime->config;
  runtime->metrics = std::make_unique<metrics::Metrics>(cfg, workers);
  runtime->access_log = std::make_unique<AccessLog>(cfg.server.access_log, workers,
                                                    runtime->metrics->access_log_dropped());

  boost::json::array data;
  const auto created = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  runtime->retry_budget = std::make_unique<core::RetryBudgetState>(cfg.routing.retry_budget);
  for (const auto& provider : cfg.providers)
    runtime->key_pools.emplace(provider.name,
                               std::make_unique<core::KeyPool>(provider.api_keys.size()));
  for (const auto& model : cfg.models) {
    ModelRoute route;
    route.states = core::make_target_states(model.targets, model.routing.cooldown);
    route.hedge = std::make_unique<core::HedgeGate>();
    route.model = &model;
    route.model_metrics = &runtime->metrics->model(model.name);
    for (const auto& target : model.targets) {
      const core::ProviderConfig* provider = cfg.find_provider(target.provider);
      if (provider == nullptr)
        throw std::runtime_error("model '" + model.name + "' has no provider");
      TargetRoute bound;
      bound.config = &target;
      bound.provider = provider;
      bound.kind = adapters::find_provider_kind(provider->type);
      if (bound.kind == nullptr)
        throw std::runtime_error("provider '" + provider->name + "' has an unknown type");
      if (!bound.kind->in_process) {
        auto endpoint = adapters::parse_endpoint(provider->base_url);
        if (!endpoint) {
          throw std::runtime_error("provider '" + provider->name + "': " + endpoint.error());
        }
        bound.endpoint = std::move(endpoint.value());
      }
      bound.provider_metrics = &runtime->metrics->provider(provider->name);
      bound.keys = runtime->key_pools.at(provider->name).get();
      bound.index = route.targets.size();
      route.targets.push_back(std::move(bound));
    }
    runtime->routes.emplace(model.name, std::move(route));
    data.push_back(boost::json::object{{"id", model.name},
                                       {"object", "model"},
                                       {"created", created},
                                       {"owned_by", model.primary().provider}});
  }
  // Fallbacks point into the table, which no longer changes.
  for (auto& [name, route] : runtime->routes) {
    for (const auto& f : route.model->fallbacks)
      if (const ModelRoute* r = runtime->find_route(f)) route.fallbacks.push_back(r);
    for (const auto& f : route.model->context_window_fallbacks)
      if (const ModelRoute* r = runtime->find_route(f)) route.context_window_fallbacks.push_back(r);
  }
  for (const auto& router : cfg.routers) {
    RouterRoute r;
    r.router = &router;
    for (const auto& rule : router.rules) {
      r.models.push_back(runtime->find_route(rule.model));
      r.decisions.push_back(runtime->metrics->router_decision(router.name, rule.model));
      for (const auto& [name, value] : rule.when.headers)
        if (std::find(r.header_names.begin(), r.header_names.end(), name) == r.header_names.end())
          r.header_names.push_back(name);
      r.reads_request = r.reads_request || rule.when.tools || rule.when.images;
      r.reads_metadata = r.reads_metadata || !rule.when.metadata.empty();
    }
    runtime->routers.emplace(router.name, std::move(r));
    data.push_back(boost::json::object{{"id", router.name},
                                       {"object", "model"},
                                       {"created", created},
                                       {"owned_by", "switchyard"}});
  }
  // Gauges that mirror the routing state, read at each scrape.
  runtime->metrics->add_refresh([rt = runtime.get()] {
    const core::SteadyTime now = std::chrono::steady_clock::now();
    for (const auto& [name, route] : rt->routes) {
      for (std::size_t i = 0; i < route.targets.size(); ++i) {
        const bool up = route.states[i].availability(now, 0) == core::TargetAvailability::available;
        route.model_metrics->targets[i].available->set(up ? 1 : 0);
      }
    }
    for (const auto& [name, pool] : rt->key_pools) {
      rt->metrics->provider(name).keys_available->set(
          static_cast<double>(pool->size() - pool->benched_count(now)));
    }
    if (rt->governance) rt->governance->refresh_metrics();
  });
  add_process_metrics(*runtime->metrics);  // process_resident_memory_bytes and the rest
  runtime->models_json =
      boost::json::serialize(boost::json::object{{"object", "list"}, {"data", std::move(data)}});
  // Opens the store (keys, teams, the ledger); a StoreError reaches main, which says why.
  if (cfg.governance.enabled)
    runtime->governance = std::make_unique<Governance>(cfg.governance, workers, *runtime->metrics);
  return runtime;
}

}  // namespace switchyard::proxy
