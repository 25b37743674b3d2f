#include "proxy/runtime.hpp"

#include <boost/json.hpp>
#include <stdexcept>

namespace switchyard::proxy {

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
  for (const auto& model : cfg.models) {
    ModelRoute route;
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
  runtime->models_json =
      boost::json::serialize(boost::json::object{{"object", "list"}, {"data", std::move(data)}});
  return runtime;
}

}  // namespace switchyard::proxy
