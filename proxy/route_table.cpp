#include "proxy/route_table.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <stdexcept>

#include "proxy/listener_tls.hpp"

namespace switchyard::proxy {
namespace {

bool same_keys(const core::ProviderConfig& a, const core::ProviderConfig& b) {
  return a.api_keys == b.api_keys;
}

// Each target the previous group had too starts from its state there; two targets on the
// same provider and upstream model pair up in their order.
void carry_over_states(const core::ModelConfig& model, ModelRoute& route,
                       const ModelRoute& previous) {
  std::vector<bool> taken(previous.targets.size(), false);
  for (std::size_t i = 0; i < model.targets.size(); ++i) {
    const core::TargetConfig& target = model.targets[i];
    for (std::size_t j = 0; j < previous.targets.size(); ++j) {
      const core::TargetConfig& before = *previous.targets[j].config;
      if (taken[j] || before.provider != target.provider ||
          before.upstream_model != target.upstream_model)
        continue;
      taken[j] = true;
      route.states[i].carry_over(previous.states[j]);
      break;
    }
  }
}

}  // namespace

std::shared_ptr<const RouteTable> make_route_table(core::Config config, std::string config_hash,
                                                   metrics::Metrics& metrics,
                                                   const RouteTable* previous) {
  auto table = std::make_shared<RouteTable>();
  table->config = std::move(config);
  table->config_hash = std::move(config_hash);
  const core::Config& cfg = table->config;
  // First: a certificate or key that cannot be used refuses the table before anything of it
  // is registered.
  if (cfg.server.tls) table->tls = make_listener_tls_context(*cfg.server.tls);
  metrics.add_config(cfg);

  const auto& budget = cfg.routing.retry_budget;
  if (previous && previous->config.routing.retry_budget.ratio == budget.ratio &&
      previous->config.routing.retry_budget.min_concurrent == budget.min_concurrent)
    table->retry_budget = previous->retry_budget;
  else
    table->retry_budget = std::make_shared<core::RetryBudgetState>(budget);
  for (const auto& provider : cfg.providers) {
    std::shared_ptr<core::KeyPool> pool;
    if (previous) {
      const core::ProviderConfig* before = previous->config.find_provider(provider.name);
      if (before && same_keys(*before, provider)) pool = previous->key_pools.at(provider.name);
    }
    if (!pool) pool = std::make_shared<core::KeyPool>(provider.api_keys.size());
    table->key_pools.emplace(provider.name, std::move(pool));
  }

  boost::json::array data;
  const auto created = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  for (const auto& model : cfg.models) {
    ModelRoute route;
    route.states = core::make_target_states(model.targets, model.routing.cooldown);
    route.hedge = std::make_unique<core::HedgeGate>();
    route.model = &model;
    route.metrics_handles = metrics.model_handles(model.name);
    route.model_metrics = route.metrics_handles.get();
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
      bound.provider_metrics = &metrics.provider(provider->name);
      bound.keys = table->key_pools.at(provider->name).get();
      bound.index = route.targets.size();
      route.targets.push_back(std::move(bound));
    }
    if (previous)
      if (const ModelRoute* before = previous->find_route(model.name))
        carry_over_states(model, route, *before);
    table->routes.emplace(model.name, std::move(route));
    data.push_back(boost::json::object{{"id", model.name},
                                       {"object", "model"},
                                       {"created", created},
                                       {"owned_by", model.primary().provider}});
  }
  // Fallbacks point into the table, which no longer changes.
  for (auto& [name, route] : table->routes) {
    for (const auto& f : route.model->fallbacks)
      if (const ModelRoute* r = table->find_route(f)) route.fallbacks.push_back(r);
    for (const auto& f : route.model->context_window_fallbacks)
      if (const ModelRoute* r = table->find_route(f)) route.context_window_fallbacks.push_back(r);
  }
  for (const auto& router : cfg.routers) {
    RouterRoute r;
    r.router = &router;
    for (const auto& rule : router.rules) {
      r.models.push_back(table->find_route(rule.model));
      r.decisions.push_back(metrics.router_decision(router.name, rule.model));
      for (const auto& [name, value] : rule.when.headers)
        if (std::find(r.header_names.begin(), r.header_names.end(), name) == r.header_names.end())
          r.header_names.push_back(name);
      r.reads_request = r.reads_request || rule.when.tools || rule.when.images;
      r.reads_metadata = r.reads_metadata || !rule.when.metadata.empty();
    }
    table->routers.emplace(router.name, std::move(r));
    data.push_back(boost::json::object{{"id", router.name},
                                       {"object", "model"},
                                       {"created", created},
                                       {"owned_by", "switchyard"}});
  }
  table->models_json =
      boost::json::serialize(boost::json::object{{"object", "list"}, {"data", std::move(data)}});
  return table;
}

WorkerRouteTables::WorkerRouteTables(const RouteTables& source) : source_(source) { fetch(); }

void WorkerRouteTables::fetch() {
  version_ = source_.version();  // before current(): a publish in between is fetched next time
  std::shared_ptr<const RouteTable> newest = source_.current();
  if (!held_.empty() && held_.back().table == newest) return;
  // The tables no request reads any more go; the newest stays whatever its count.
  std::erase_if(held_, [](const Held& h) { return h.pins == 0; });
  held_.push_back(Held{std::move(newest), 0});
}

RouteTablePin WorkerRouteTables::pin() {
  const RouteTable& table = latest();
  ++held_.back().pins;
  return RouteTablePin(*this, table);
}

void WorkerRouteTables::release(const RouteTable* table) {
  for (std::size_t i = 0; i < held_.size(); ++i) {
    if (held_[i].table.get() != table) continue;
    --held_[i].pins;
    if (held_[i].pins == 0 && i + 1 != held_.size())
      held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
    return;
  }
}

}  // namespace switchyard::proxy
