#pragma once
// What a request is routed by: the config, its model groups bound to their providers, the
// routers and the /v1/models answer. Made at start-up and again at each reload (SIGHUP,
// POST /admin/reload), then only read. A request reads the table it started with until it
// ends, however long its stream runs; the next request reads the newest.
//
// Publishing: the reloader builds the new table off the request path, then RouteTables
// swaps it in under a mutex and bumps a version number. A worker compares the version (one
// atomic load) when a request starts and fetches the new table only after a reload, so the
// lock is taken once per worker per reload. Each worker counts, in its own plain counters,
// the requests reading each table it holds, and drops an old table when its last request
// ends: no reference count shared between workers on the request path.
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "adapters/exchange.hpp"
#include "adapters/upstream_endpoint.hpp"
#include "core/config.hpp"
#include "core/retry.hpp"
#include "core/router_rules.hpp"
#include "core/routing.hpp"
#include "core/target_health.hpp"
#include "metrics/metrics.hpp"

namespace boost::asio::ssl {
class context;
}

namespace switchyard::proxy {

// One target of a model group, bound to what an attempt on it needs.
struct TargetRoute {
  const core::TargetConfig* config = nullptr;
  const core::ProviderConfig* provider = nullptr;
  const adapters::ProviderKind* kind = nullptr;
  adapters::UpstreamEndpoint endpoint;  // unused for the in-process mock
  const metrics::ProviderMetrics* provider_metrics = nullptr;
  core::KeyPool* keys = nullptr;  // the provider's key pool (shared by its targets)
  std::size_t index = 0;          // in its group's targets
};

// A model clients can name, with its targets and the groups it falls back to.
struct ModelRoute {
  const core::ModelConfig* model = nullptr;
  std::vector<TargetRoute> targets;
  std::vector<const ModelRoute*> fallbacks;
  std::vector<const ModelRoute*> context_window_fallbacks;
  const metrics::ModelMetrics* model_metrics = nullptr;
  std::shared_ptr<const metrics::ModelMetrics> metrics_handles;  // what model_metrics points at
  // Shared by every worker: atomics only (core/target_health.hpp), parallel to `targets`.
  std::unique_ptr<core::TargetState[]> states;
  std::unique_ptr<core::HedgeGate> hedge;

  std::span<core::TargetState> target_states() const { return {states.get(), targets.size()}; }
};

// A rule-based router with its rules' models resolved.
struct RouterRoute {
  const core::RouterConfig* router = nullptr;
  std::vector<const ModelRoute*> models;  // parallel to the rules
  std::vector<metrics::ShardedValue*> decisions;
  // The lowercased header names its rules look at, read from each request once.
  std::vector<std::string> header_names;
  bool reads_request = false;  // a rule looks at tools or images: the request is decoded
  bool reads_metadata = false;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct RouteTable {
  core::Config config;
  std::string config_hash;  // of the file's text: the first 16 hex digits of its SHA-256
  std::unordered_map<std::string, ModelRoute, StringHash, std::equal_to<>> routes;
  std::unordered_map<std::string, RouterRoute, StringHash, std::equal_to<>> routers;
  // By provider. Kept from the previous table for a provider whose keys did not change, so a
  // benched key stays benched across a reload.
  std::unordered_map<std::string, std::shared_ptr<core::KeyPool>> key_pools;
  // Kept from the previous table while routing.retry_budget is unchanged, so the retries in
  // flight still count.
  std::shared_ptr<core::RetryBudgetState> retry_budget;
  std::string models_json;  // the /v1/models answer
  // The listener's TLS (config `tls:`), read from its files when this table was built;
  // null for plain HTTP. A connection accepted under this table handshakes with it.
  std::shared_ptr<boost::asio::ssl::context> tls;

  const ModelRoute* find_route(std::string_view model) const {
    auto it = routes.find(model);
    return it == routes.end() ? nullptr : &it->second;
  }
  const RouterRoute* find_router(std::string_view name) const {
    auto it = routers.find(name);
    return it == routers.end() ? nullptr : &it->second;
  }
};

// Builds the table of a validated config, registering the series of its models and
// providers. With `previous` (a reload), each target that the previous table had too (same
// model, provider and upstream model) starts from its state there (cooldown, Retry-After,
// rpm/tpm windows: core::TargetState::carry_over). Throws std::runtime_error when a
// provider's base_url cannot be used (the config validator should already have refused it),
// or when the listener's TLS certificate or key cannot be used (the message names the file).
std::shared_ptr<const RouteTable> make_route_table(core::Config config, std::string config_hash,
                                                   metrics::Metrics& metrics,
                                                   const RouteTable* previous);

// The newest table, for every worker.
class RouteTables {
 public:
  explicit RouteTables(std::shared_ptr<const RouteTable> first) : current_(std::move(first)) {}

  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // Takes the lock: once per worker per reload, and for readers off the request path.
  std::shared_ptr<const RouteTable> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void publish(std::shared_ptr<const RouteTable> table) {
    std::lock_guard lock(mutex_);
    current_ = std::move(table);
    version_.fetch_add(1, std::memory_order_release);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const RouteTable> current_;
  std::atomic<std::uint64_t> version_{1};
};

class RouteTablePin;

// One worker's tables: the newest it has fetched, and older ones that requests still read.
// Used by its own thread only.
class WorkerRouteTables {
 public:
  explicit WorkerRouteTables(const RouteTables& source);

  // The newest table, for a read that ends before the next suspension; anything that holds
  // on to it across one takes a pin.
  const RouteTable& latest() {
    if (source_.version() != version_) fetch();
    return *held_.back().table;
  }
  RouteTablePin pin();
  std::size_t held() const { return held_.size(); }  // tables some request still reads

 private:
  friend class RouteTablePin;
  struct Held {
    std::shared_ptr<const RouteTable> table;
    std::size_t pins = 0;
  };
  void fetch();
  void release(const RouteTable* table);

  const RouteTables& source_;
  std::uint64_t version_ = 0;
  std::vector<Held> held_;  // the newest last
};

// Keeps one table alive on one worker while it is read (a request, a health-check round).
class RouteTablePin {
 public:
  RouteTablePin() = default;
  RouteTablePin(WorkerRouteTables& owner, const RouteTable& table)
      : owner_(&owner), table_(&table) {}
  RouteTablePin(RouteTablePin&& other) noexcept
      : owner_(std::exchange(other.owner_, nullptr)),
        table_(std::exchange(other.table_, nullptr)) {}
  RouteTablePin& operator=(RouteTablePin&& other) noexcept {
    if (this != &other) {
      reset();
      owner_ = std::exchange(other.owner_, nullptr);
      table_ = std::exchange(other.table_, nullptr);
    }
    return *this;
  }
  RouteTablePin(const RouteTablePin&) = delete;
  RouteTablePin& operator=(const RouteTablePin&) = delete;
  ~RouteTablePin() { reset(); }

  const RouteTable& get() const { return *table_; }
  // Moves on to the worker's newest table when a reload published one (between requests).
  void refresh() {
    if (&owner_->latest() != table_) *this = owner_->pin();
  }
  void reset() {
    if (owner_) owner_->release(table_);
    owner_ = nullptr;
    table_ = nullptr;
  }

 private:
  WorkerRouteTables* owner_ = nullptr;
  const RouteTable* table_ = nullptr;
};

}  // namespace switchyard::proxy
