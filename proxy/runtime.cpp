#include "proxy/runtime.hpp"

#include <chrono>
#include <iostream>

#include "proxy/governance.hpp"
#include "proxy/process_metrics.hpp"
#include "proxy/tracing.hpp"

namespace switchyard::proxy {

Runtime::Runtime() = default;
Runtime::~Runtime() = default;

std::unique_ptr<Runtime> make_runtime(core::Config config, std::string config_hash,
                                      std::size_t workers) {
  auto runtime = std::make_unique<Runtime>();
  runtime->metrics = std::make_unique<metrics::Metrics>(config, workers);
  runtime->access_log = std::make_unique<AccessLog>(config.server.access_log, workers,
                                                    runtime->metrics->access_log_dropped());
  // Opens the store (keys, teams, the ledger); a StoreError reaches main, which says why.
  if (config.governance.enabled)
    runtime->governance =
        std::make_unique<Governance>(config.governance, config.state, workers, *runtime->metrics);
  runtime->metrics->record_config(
      config_hash,
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  const bool tracing = config.tracing.enabled;
  const std::size_t trace_queue = config.tracing.queue_spans;
  if (tracing)
    std::cerr << "switchyard: tracing: spans go to " << config.tracing.endpoint << " (sample_ratio "
              << config.tracing.sample_ratio << ")\n";
  runtime->tables = std::make_unique<RouteTables>(
      make_route_table(std::move(config), std::move(config_hash), *runtime->metrics, nullptr));
  if (tracing)
    runtime->tracer = std::make_unique<TraceExporter>(*runtime->tables, workers, trace_queue,
                                                      *runtime->metrics->tracing());
  // Gauges that mirror the routing state, read at each scrape, from the newest table.
  runtime->metrics->add_refresh([rt = runtime.get()] {
    const core::SteadyTime now = std::chrono::steady_clock::now();
    const std::shared_ptr<const RouteTable> table = rt->tables->current();
    for (const auto& [name, route] : table->routes) {
      for (std::size_t i = 0; i < route.targets.size(); ++i) {
        const bool up = route.states[i].availability(now, 0) == core::TargetAvailability::available;
        route.model_metrics->targets[i].available->set(up ? 1 : 0);
      }
    }
    for (const auto& [name, pool] : table->key_pools) {
      rt->metrics->provider(name).keys_available->set(
          static_cast<double>(pool->size() - pool->benched_count(now)));
    }
    if (rt->governance) rt->governance->refresh_metrics();
    if (rt->tracer) rt->tracer->refresh_metrics();
  });
  add_process_metrics(*runtime->metrics);  // process_resident_memory_bytes and the rest
  return runtime;
}

}  // namespace switchyard::proxy
