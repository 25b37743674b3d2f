#include "proxy/health_check.hpp"

#include <iostream>

#include "adapters/exchange.hpp"
#include "proxy/worker.hpp"

namespace switchyard::proxy {
namespace {

// The checker wakes this often to notice a drain; checks themselves follow their interval.
constexpr Clock::duration kStep = std::chrono::milliseconds(250);

struct ProviderCheck {
  const core::ProviderConfig* provider = nullptr;
  adapters::UpstreamEndpoint endpoint;
  Clock::time_point next;
  bool failing = false;  // the last check failed (logged once per change)
};

// One check: true when the provider answered 2xx in time.
net::awaitable<bool> check_once(Worker& worker, const ProviderCheck& check) {
  const core::ProviderConfig& provider = *check.provider;
  AcquireResult acquired = co_await worker.pool.acquire(check.endpoint, provider);
  if (!acquired.connection) co_return false;
  const std::string_view key =
      provider.api_keys.empty() ? std::string_view() : std::string_view(provider.api_keys[0]);
  const adapters::UpstreamRequest request =
      adapters::health_check_request(provider, key, check.endpoint.base_path);
  const std::string head = adapters::format_upstream_head(request, check.endpoint.host_header,
                                                          "switchyard/" SWITCHYARD_VERSION);
  UpstreamConnection& conn = *acquired.connection;
  UpstreamResponseHead response;
  beast::error_code ec = co_await conn.write(head, request.body, provider.connect_timeout);
  if (!ec) ec = co_await conn.read_head(response, provider.first_byte_timeout);
  if (ec) co_return false;
  // The body is read and dropped (bounded), so the connection can be reused.
  std::string body;
  while (!ec && !conn.body_done() && body.size() < (1u << 20)) {
    ec = co_await conn.read_body(body, provider.idle_timeout);
  }
  const bool ok = response.status >= 200 && response.status < 300;
  if (!ec && conn.body_done()) worker.pool.release(std::move(acquired.connection));
  co_return ok;
}

// A failed check counts against every target on the provider, in every model group.
void record_failed_check(const RouteTable& table, const core::ProviderConfig& provider,
                         std::size_t shard) {
  const core::SteadyTime now = std::chrono::steady_clock::now();
  for (const auto& [name, route] : table.routes) {
    for (const TargetRoute& target : route.targets) {
      if (target.provider != &provider) continue;
      if (route.states[target.index].record_failure(now, std::nullopt))
        route.model_metrics->targets[target.index].cooldowns->add(shard, 1);
    }
  }
}

// The checks a table's providers ask for. A provider the previous checks had keeps its next
// time and its failing state, so a reload neither checks everything at once nor logs a
// failing provider's state again.
std::vector<ProviderCheck> checks_for(const RouteTable& table,
                                      const std::vector<ProviderCheck>& previous) {
  std::vector<ProviderCheck> checks;
  for (const auto& p : table.config.providers) {
    if (p.health_check_interval.count() == 0 || p.type == "mock") continue;
    auto endpoint = adapters::parse_endpoint(p.base_url);
    if (!endpoint) continue;
    ProviderCheck check{&p, std::move(endpoint.value()), Clock::now() + p.health_check_interval};
    for (const ProviderCheck& before : previous) {
      if (before.provider->name != p.name) continue;
      check.next = std::min(check.next, before.next);
      check.failing = before.failing;
    }
    checks.push_back(std::move(check));
  }
  return checks;
}

}  // namespace

net::awaitable<void> run_health_checks(Worker& worker) {
  // A round reads the table it pinned; the next round moves on to a reloaded one.
  RouteTablePin table = worker.tables.pin();
  std::vector<ProviderCheck> checks = checks_for(table.get(), {});
  net::steady_timer timer(worker.ioc);
  while (!worker.draining) {
    timer.expires_after(kStep);
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) break;
    if (&worker.tables.latest() != &table.get()) {
      RouteTablePin newer = worker.tables.pin();
      checks = checks_for(newer.get(), checks);
      table = std::move(newer);
    }
    for (ProviderCheck& check : checks) {
      if (worker.draining || Clock::now() < check.next) continue;
      const bool ok = co_await check_once(worker, check);
      check.next = Clock::now() + check.provider->health_check_interval;
      if (!ok) record_failed_check(table.get(), *check.provider, worker.index);
      if (ok == check.failing) {
        // Only changes are logged, never the key.
        std::cerr << "switchyard: health check of provider '" << check.provider->name << "' "
                  << (ok ? "passes again" : "failed") << "\n";
        check.failing = !ok;
      }
    }
  }
}

}  // namespace switchyard::proxy
