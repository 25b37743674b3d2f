#pragma once
// What lives as long as the process and every worker shares: the metric handles, the access
// log, governance, the trace exporter, and the route tables (the config and what it binds, replaced
// by a reload: route_table.hpp).
#include <memory>

#include "core/config.hpp"
#include "metrics/metrics.hpp"
#include "proxy/access_log.hpp"
#include "proxy/route_table.hpp"

namespace switchyard::proxy {

class Governance;
class Reloader;
class TraceExporter;

struct Runtime {
  Runtime();
  ~Runtime();  // out of line: Governance is incomplete here
  std::unique_ptr<metrics::Metrics> metrics;
  std::unique_ptr<AccessLog> access_log;
  std::unique_ptr<RouteTables> tables;
  // Keys, budgets, limits and the ledger, when the config has a governance section.
  std::unique_ptr<Governance> governance;
  // Exports request spans to the collector, when the config had a tracing section at start-up.
  std::unique_ptr<TraceExporter> tracer;
  // How POST /admin/reload reloads; set by main before the gateway starts.
  Reloader* reloader = nullptr;
};

// Builds the runtime from a validated config (`config_hash`: core/config_hash, of the file's
// text). Throws std::runtime_error when a provider's base_url cannot be used (the config
// validator should already have refused it).
std::unique_ptr<Runtime> make_runtime(core::Config config, std::string config_hash,
                                      std::size_t workers);

}  // namespace switchyard::proxy
