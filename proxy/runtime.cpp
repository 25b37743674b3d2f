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
    const core::ProviderConfig* provider = cfg.find_provider(model.primary().provider);
    if (provider == nullptr) throw std::runtime_error("model '" + model.name + "' has no provider");
    Route route;
    route.model = &model;
    route.target = &model.primary();
    route.provider = provider;
    if (provider->type != "mock") {
      auto endpoint = adapters::parse_endpoint(provider->base_url);
      if (!endpoint) {
        throw std::runtime_error("provider '" + provider->name + "': " + endpoint.error());
      }
      route.endpoint = std::move(endpoint.value());
    }
    route.model_metrics = &runtime->metrics->model(model.name);
    route.provider_metrics = &runtime->metrics->provider(provider->name);
    runtime->routes.emplace(model.name, std::move(route));
    data.push_back(boost::json::object{{"id", model.name},
                                       {"object", "model"},
                                       {"created", created},
                                       {"owned_by", provider->name}});
  }
  runtime->models_json =
      boost::json::serialize(boost::json::object{{"object", "list"}, {"data", std::move(data)}});
  return runtime;
}

}  // namespace switchyard::proxy
