#include "proxy/reloader.hpp"

#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <sstream>
#include <unordered_set>

#include "core/config_reload.hpp"
#include "proxy/governance.hpp"

namespace switchyard::proxy {
namespace {

// Gauges of targets and providers the new table no longer has would keep their last value
// for good: they go quiet instead (NaN is not exported).
void quiet_removed_gauges(const RouteTable& before, const RouteTable& after,
                          metrics::Metrics& metrics) {
  std::unordered_set<const metrics::ShardedValue*> kept;
  for (const auto& [name, route] : after.routes)
    for (const auto& t : route.model_metrics->targets) kept.insert(t.available);
  for (const auto& [name, route] : before.routes)
    for (const auto& t : route.model_metrics->targets)
      if (!kept.contains(t.available)) t.available->set(std::numeric_limits<double>::quiet_NaN());
  for (const auto& [name, pool] : before.key_pools)
    if (!after.key_pools.contains(name))
      metrics.provider(name).keys_available->set(std::numeric_limits<double>::quiet_NaN());
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out.append(out.empty() ? "" : ", ").append(n);
  return out;
}

}  // namespace

Reloader::Reloader(Runtime& runtime, std::string path, core::Config running,
                   std::optional<ListenAddress> listen)
    : runtime_(runtime),
      path_(std::move(path)),
      running_(std::move(running)),
      listen_(std::move(listen)) {}

Reloader::~Reloader() {
  thread_.stop();
  thread_.join();
}

ReloadResult Reloader::reload(std::string_view cause, std::string_view actor) {
  std::lock_guard lock(mutex_);
  ReloadResult result = reload_locked(cause);
  audit(result, actor);
  return result;
}

void Reloader::audit(const ReloadResult& result, std::string_view actor) {
  if (!runtime_.governance) return;
  boost::json::array restart_only;
  for (const auto& name : result.restart_only) restart_only.emplace_back(name);
  AuditEntry e;
  e.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  e.actor = std::string(actor);
  e.action = "config.reload";
  e.target = result.hash;
  e.detail_json =
      boost::json::serialize(boost::json::object{{"applied", result.applied},
                                                 {"errors", result.errors.size()},
                                                 {"restart_only", std::move(restart_only)}});
  try {
    runtime_.governance->store().append_audit(e);
  } catch (const StoreError& error) {
    std::cerr << "switchyard: the reload could not be written to the audit log: " << error.what()
              << "\n";
  }
}

ReloadResult Reloader::reload_locked(std::string_view cause) {
  ReloadResult result;
  std::ostringstream log;  // written at once, so lines of two threads do not interleave
  log << "switchyard: reloading " << path_ << " (" << cause << ")\n";
  auto loaded = load_config_file(path_);
  if (!loaded) {
    const ConfigLoadFailure& failure = loaded.error();
    result.errors =
        failure.unreadable ? std::vector<std::string>{failure.summary(path_)} : failure.errors;
    for (const auto& e : failure.errors) log << e << "\n";
    log << "switchyard: reload refused: " << failure.summary(path_)
        << "; the running config keeps serving\n";
    runtime_.metrics->count_reload(false);
    std::cerr << log.str() << std::flush;
    return result;
  }
  core::Config& config = loaded.value().config;
  if (listen_) {
    config.server.listen_host = listen_->host;
    config.server.listen_port = listen_->port;
  }
  for (const auto& notice : config.notices) log << "switchyard: " << notice << "\n";
  result.restart_only = core::restart_only_changes(running_, config);
  if (!result.restart_only.empty()) {
    log << "switchyard: reload: " << joined(result.restart_only)
        << (result.restart_only.size() == 1 ? " keeps its running value"
                                            : " keep their running values")
        << " until a restart\n";
  }
  const std::shared_ptr<const RouteTable> before = runtime_.tables->current();
  std::shared_ptr<const RouteTable> after;
  try {
    after =
        make_route_table(std::move(config), loaded.value().hash, *runtime_.metrics, before.get());
  } catch (const std::exception& e) {
    result.errors = {e.what()};
    log << "switchyard: reload refused: " << e.what() << "; the running config keeps serving\n";
    runtime_.metrics->count_reload(false);
    std::cerr << log.str() << std::flush;
    return result;
  }
  runtime_.tables->publish(after);
  quiet_removed_gauges(*before, *after, *runtime_.metrics);
  runtime_.metrics->record_config(
      after->config_hash,
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  runtime_.metrics->count_reload(true);
  result.applied = true;
  result.hash = after->config_hash;
  result.models = after->routes.size() + after->routers.size();
  log << "switchyard: config reloaded (hash " << result.hash << ", " << after->routes.size()
      << " models, " << after->routers.size() << " routers): new requests use it\n";
  std::cerr << log.str() << std::flush;
  return result;
}

net::awaitable<ReloadResult> Reloader::reload_on_own_thread(std::string cause, std::string actor) {
  co_return reload(cause, actor);
}

net::awaitable<ReloadResult> Reloader::reload_off_thread(std::string cause, std::string actor) {
  // A member coroutine rather than a capturing lambda: GCC 12 destroys the captures of a
  // lambda coroutine that co_spawn moved twice.
  co_return co_await net::co_spawn(thread_.get_executor(),
                                   reload_on_own_thread(std::move(cause), std::move(actor)),
                                   net::use_awaitable);
}

}  // namespace switchyard::proxy
