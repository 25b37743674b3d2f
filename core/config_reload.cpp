#include "core/config_reload.hpp"

namespace switchyard::core {

std::vector<std::string> restart_only_changes(const Config& running, const Config& loaded) {
  std::vector<std::string> changed;
  auto differs = [&changed](const char* name, const auto& a, const auto& b) {
    if (!(a == b)) changed.emplace_back(name);
  };
  const ServerConfig& a = running.server;
  const ServerConfig& b = loaded.server;
  if (a.listen_host != b.listen_host || a.listen_port != b.listen_port)
    changed.emplace_back("server.listen");
  differs("server.workers", a.workers, b.workers);
  differs("server.access_log", a.access_log, b.access_log);
  // The exporter and its queues are made at start-up: tracing switched on needs a restart,
  // as a new queue size does. The rest of the section reloads, and removing it stops tracing.
  if (!running.tracing.enabled && loaded.tracing.enabled) changed.emplace_back("tracing");
  if (running.tracing.enabled && loaded.tracing.enabled)
    differs("tracing.queue_spans", running.tracing.queue_spans, loaded.tracing.queue_spans);
  // The state's connections and replica id are made once, at start-up.
  const StateConfig& rs = running.state;
  const StateConfig& ls = loaded.state;
  differs("state.store", static_cast<int>(rs.store), static_cast<int>(ls.store));
  if (rs.postgres_url != ls.postgres_url) changed.emplace_back("state.postgres.url");
  differs("state.postgres.pool", rs.postgres_pool, ls.postgres_pool);
  if (rs.redis_url != ls.redis_url) changed.emplace_back("state.redis.url");
  differs("state.redis.timeout_ms", rs.redis_timeout, ls.redis_timeout);
  differs("state.on_redis_down", static_cast<int>(rs.on_redis_down),
          static_cast<int>(ls.on_redis_down));
  differs("state.replica_id", rs.replica_id, ls.replica_id);
  const GovernanceConfig& g = running.governance;
  const GovernanceConfig& h = loaded.governance;
  if (g.enabled != h.enabled) {
    // The store is opened, or not, at start-up: adding or removing the section is a restart.
    changed.emplace_back("governance");
    return changed;
  }
  if (!g.enabled) return changed;
  // The master key's hash and the client-authentication switch are set when the store opens.
  if (g.master_key != h.master_key) changed.emplace_back("governance.master_key");
  differs("governance.database", g.database, h.database);
  differs("governance.ledger.commit_interval_ms", g.commit_interval, h.commit_interval);
  differs("governance.ledger.queue_rows", g.ledger_queue_rows, h.ledger_queue_rows);
  differs("governance.metrics.max_teams", g.metrics_max_teams, h.metrics_max_teams);
  differs("governance.metrics.key_aliases", g.metrics_max_key_aliases, h.metrics_max_key_aliases);
  return changed;
}

}  // namespace switchyard::core
