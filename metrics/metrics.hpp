#pragma once
// Every metric family is registered once here, at start-up, and every label combination the
// hot path can need is resolved then too: a request only touches pre-resolved handles, and
// only its own worker's shard of them (see sharded.hpp), so recording takes no lock.
// Labels are bounded: configured model and provider names, status classes and fixed reasons.
// prometheus-cpp supplies the data model and the text exposition.
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.hpp"
#include "core/usage.hpp"
#include "metrics/sharded.hpp"

namespace switchyard::metrics {

// Status classes used as the "status" label: 2xx, 3xx, 4xx, 5xx.
constexpr std::size_t kStatusClasses = 4;
std::size_t status_class_index(int status);

enum class UpstreamError : std::size_t {
  connect,     // DNS or TCP connect failed
  tls,         // handshake or certificate verification failed
  timeout,     // connect, first byte or idle timeout
  reset,       // the connection broke while reading or writing
  status_4xx,  // the upstream answered 4xx
  status_5xx,  // the upstream answered 5xx
  protocol,    // unparseable HTTP, a status or encoding no client can get, wrong JSON types
  oversized,   // a stream line or event, or an answer to read whole, over its limit
  truncated,   // a stream that ended before its final event
  kCount
};
std::string_view upstream_error_name(UpstreamError e);

// How one attempt on one target ended ("outcome" label of switchyard_upstream_attempts_total).
enum class AttemptOutcome : std::size_t {
  success,
  connect,
  tls,
  timeout,
  first_token_timeout,
  reset,
  status_4xx,
  status_5xx,
  protocol,
  oversized,
  truncated,
  stream_error,
  hedge_lost,  // cancelled because the other attempt of a hedge produced a token first
  kCount
};
std::string_view attempt_outcome_name(AttemptOutcome o);

using Labels = std::vector<prometheus::ClientMetric::Label>;

// Governance (issue 12): why a request was refused before it reached a provider.
enum class AuthFailure : std::size_t {
  missing_api_key,
  invalid_api_key,
  key_blocked,
  key_expired,
  team_blocked,
  model_not_allowed,  // 403: the key may not use the model
  model_not_priced,   // 400: a key with a budget asked for a model without a price
  kCount
};
std::string_view auth_failure_name(AuthFailure f);

// A budget or rate-limit refusal: what refused ("reason"), at which level ("level"). The
// indexes follow core::Refusal::Kind and core::Refusal::Level.
constexpr std::size_t kRefusalReasons =
    4;  // budget, requests_per_minute, tokens_per_minute, parallel
constexpr std::size_t kRefusalLevels = 3;  // key, team, key_model

// One metric family: a name, a type and its labelled series. Asking again for labels it has
// returns the same series (a reload binds the models it keeps to their old counters).
class Family {
 public:
  Family(std::string name, std::string help, prometheus::MetricType type, std::size_t shards);
  ShardedValue& value(Labels labels);
  ShardedHistogram& histogram(Labels labels, std::vector<double> upper_bounds);
  prometheus::MetricFamily collect() const;

 private:
  struct Series {
    Labels labels;
    std::unique_ptr<ShardedValue> value;
    std::unique_ptr<ShardedHistogram> histogram;
  };
  std::string name_;
  std::string help_;
  prometheus::MetricType type_;
  // The series with these labels, if any; `key` gets their lookup key.
  Series* find(const Labels& labels, std::string& key);

  std::size_t shards_;
  std::vector<Series> series_;
  std::unordered_map<std::string, std::size_t> index_;  // labels -> position in series_
};

// Per (model group, target): where its requests went and how its attempts ended.
struct TargetMetrics {
  std::array<ShardedValue*, kStatusClasses> requests{};
  std::array<ShardedValue*, static_cast<std::size_t>(AttemptOutcome::kCount)> attempts{};
  ShardedValue* cooldowns = nullptr;  // circuit-breaker cooldowns started
  // Spend on this target: switchyard_cost_usd_total has only the model, and a dashboard's
  // "cost by provider" needs the provider that served too.
  ShardedValue* cost_usd = nullptr;
  ShardedValue* available = nullptr;  // gauge, 1/0, refreshed at scrape time

  void count_attempt(std::size_t shard, AttemptOutcome o) const {
    attempts[static_cast<std::size_t>(o)]->add(shard, 1);
  }
};

struct ModelMetrics {
  // Requests answered before any target was chosen (provider "(none)").
  std::array<ShardedValue*, kStatusClasses> requests{};
  std::vector<TargetMetrics> targets;  // in the order of the model's targets
  // The fallbacks that served, in the order of the model's fallbacks then its
  // context_window_fallbacks.
  std::vector<ShardedValue*> fallbacks;
  ShardedValue* retries = nullptr;          // attempts after the first
  ShardedValue* retries_refused = nullptr;  // retries the retry budget refused
  ShardedValue* hedges_sent = nullptr;
  ShardedValue* hedges_won = nullptr;   // the hedge produced the first token
  ShardedValue* hedges_lost = nullptr;  // the first attempt won after all
  ShardedHistogram* duration = nullptr;
  ShardedHistogram* time_to_first_token = nullptr;
  ShardedValue* prompt_tokens = nullptr;
  ShardedValue* completion_tokens = nullptr;
  ShardedValue* cached_prompt_tokens = nullptr;
  ShardedValue* reasoning_tokens = nullptr;
  ShardedValue* cost_usd = nullptr;

  void record_usage(std::size_t shard, const core::Usage& usage, double cost) const;
};

// The standard process_* gauges of every Prometheus client (resident and virtual memory, CPU,
// file descriptors, start time). prometheus-cpp's core has no process collector, so they are
// plain gauges here, set by proxy/process_metrics.cpp from /proc at each scrape (file reads
// belong in proxy/).
struct ProcessMetrics {
  ShardedValue* resident_memory_bytes = nullptr;
  ShardedValue* virtual_memory_bytes = nullptr;
  ShardedValue* cpu_seconds = nullptr;  // a counter: user plus system time
  ShardedValue* open_fds = nullptr;
  ShardedValue* max_fds = nullptr;
  ShardedValue* start_time_seconds = nullptr;
};

struct ProviderMetrics {
  ShardedHistogram* upstream_duration = nullptr;
  ShardedValue* keys_benched = nullptr;    // times a key of the pool was benched (401/403/429)
  ShardedValue* keys_available = nullptr;  // gauge: keys not benched, refreshed at scrape time
  std::array<ShardedValue*, static_cast<std::size_t>(UpstreamError::kCount)> errors{};

  void count_error(std::size_t shard, UpstreamError e) const {
    errors[static_cast<std::size_t>(e)]->add(shard, 1);
  }
};

// The requests, tokens and spend of one team (label "team") or one key alias (label
// "key_alias"). A team's series also has its budget gauges, set at each scrape; they are NaN,
// and so not exported, while the team has no budget.
struct AccountSeries {
  std::array<ShardedValue*, kStatusClasses> requests{};
  ShardedValue* prompt_tokens = nullptr;
  ShardedValue* completion_tokens = nullptr;
  ShardedValue* cost_usd = nullptr;
  ShardedValue* budget_usd = nullptr;
  ShardedValue* spent_usd = nullptr;
  ShardedValue* remaining_usd = nullptr;
  ShardedValue* reset_seconds = nullptr;  // the budget's next reset, as a Unix time

  void record(std::size_t shard, int status, const core::Usage* usage, double cost) const;
};

// Label values that come from the admin API rather than the config (team names, key
// aliases), bounded: the first `capacity` distinct values get a series of their own, for the
// process's life; the rest share "(other)". Accounts without a value (a key with no team, no
// alias) count under "(none)". A renamed team starts a new series under its new name.
class AccountSeriesSet {
 public:
  static constexpr std::uint32_t kOther = 0;
  static constexpr std::uint32_t kNone = 1;

  // Handles of a slot, from any thread; an unassigned or unknown slot is "(other)".
  const AccountSeries& at(std::uint32_t slot) const {
    if (slot >= registered_.load(std::memory_order_acquire)) slot = kOther;
    return *series_[slot];
  }
  std::size_t size() const { return registered_.load(std::memory_order_acquire); }

 private:
  friend class Metrics;
  std::string label_;  // "team" or "key_alias"
  bool with_budget_ = false;
  std::size_t capacity_ = 0;  // named slots, besides (other) and (none)
  std::unique_ptr<std::unique_ptr<AccountSeries>[]> series_;  // capacity + 2, filled in order
  std::atomic<std::size_t> registered_{0};
  std::unordered_map<std::string, std::uint32_t> slots_;  // under the metrics' registry mutex
  Family* requests_ = nullptr;
  Family* tokens_ = nullptr;
  Family* cost_ = nullptr;
  std::array<Family*, 4> budget_{};  // budget, spent, remaining, reset (teams only)
};

// Trace export (when the config has a tracing section at start-up). Spans dropped because a
// worker's queue was full are counted by that worker; the exporter's own counts are copied in
// at each scrape.
struct TracingMetrics {
  ShardedValue* dropped_queue_full = nullptr;
  ShardedValue* dropped_export_failed = nullptr;
  ShardedValue* exported = nullptr;
  ShardedValue* exports_success = nullptr;
  ShardedValue* exports_failure = nullptr;
};

struct GovernanceMetrics {
  std::array<ShardedValue*, static_cast<std::size_t>(AuthFailure::kCount)> auth_failures{};
  std::array<std::array<ShardedValue*, kRefusalLevels>, kRefusalReasons> refusals{};
  ShardedValue* soft_budget_crossings = nullptr;
  // Requests refused because Redis (state.redis) did not answer, under fail_closed.
  ShardedValue* shared_unavailable = nullptr;
  // The ledger writer's, set at each scrape.
  ShardedValue* ledger_queued = nullptr;
  ShardedValue* ledger_written = nullptr;
  ShardedValue* ledger_dropped = nullptr;
  ShardedValue* ledger_last_commit = nullptr;  // Unix time of the last commit; 0 before one
  ShardedValue* ledger_spooled = nullptr;      // rows in the on-disk spool (a shared store)
  AccountSeriesSet teams;
  AccountSeriesSet key_aliases;  // empty unless governance.metrics.key_aliases > 0

  void count(std::size_t shard, AuthFailure f) const {
    auth_failures[static_cast<std::size_t>(f)]->add(shard, 1);
  }
};

class Metrics {
 public:
  // `shards`: one per worker thread; each thread records only into its own shard. The
  // config's models, providers and routers get their series (add_config).
  Metrics(const core::Config& config, std::size_t shards);

  // Registers the series of a config's models, providers and routers that are not there yet,
  // and binds each of its models to a fresh ModelMetrics (its targets as this config lists
  // them; series it shares with earlier configs keep counting where they were). At start-up
  // and on a reload, never on the request path. Series of models and providers a reload
  // removed stay, so counters never go back.
  void add_config(const core::Config& config);
  // The handles add_config bound last for a model; null for an unknown name.
  std::shared_ptr<const ModelMetrics> model_handles(std::string_view name) const;
  // The same, by reference, for tests: valid until the next add_config. Requests naming no
  // configured model use unrouted().
  const ModelMetrics& model(std::string_view name) const;
  const ModelMetrics& unrouted() const { return unrouted_; }
  const ProviderMetrics& provider(std::string_view name) const;

  // The config being served (switchyard_config_info{hash}, the load time) and reload results.
  void record_config(std::string_view hash, double loaded_unix_seconds);
  void count_reload(bool applied);

  ShardedValue& in_flight() const { return *in_flight_; }
  ShardedHistogram& gateway_overhead() const { return *overhead_; }
  ShardedValue& access_log_dropped() const { return *access_log_dropped_; }
  ShardedValue& client_disconnects() const { return *client_disconnects_; }
  // Gauge of client connections open now: each worker adds 1 when it accepts one and
  // subtracts 1 when it closes, in its own shard, so the sum is the process's count.
  ShardedValue& client_connections() const { return *client_connections_; }
  // TLS handshakes with clients that did not complete (listener `tls:`): a timeout, plain
  // HTTP on the TLS port, no common protocol version or ALPN, a client refusing the cert.
  ShardedValue& tls_handshake_failures() const { return *tls_handshake_failures_; }
  const ProcessMetrics& process() const { return process_; }

  // Rule-based routing: requests a router sent to each of its rules' models.
  ShardedValue* router_decision(std::string_view router, std::string_view model) const;

  // Governance's handles; null when the config has no governance section.
  const GovernanceMetrics* governance() const { return governance_.get(); }
  // Trace export's handles; null when tracing was off at start-up.
  const TracingMetrics* tracing() const { return tracing_.get(); }
  // The slot of a team name or a key alias, registering its series when there is room
  // ("(other)" when not). Off the request path: at start-up and on admin changes.
  std::uint32_t team_slot(std::string_view name);
  std::uint32_t key_alias_slot(std::string_view alias);

  // Called at each scrape before the values are read, to refresh the gauges that mirror
  // state (target availability, keys available, budgets, the ledger). Added before serving.
  void add_refresh(std::function<void()> refresh) { refreshes_.push_back(std::move(refresh)); }

  // The Prometheus text exposition of everything registered.
  std::string serialize() const;

 private:
  Family& add_family(std::string name, std::string help, prometheus::MetricType type);
  void add_governance(const core::GovernanceConfig& config);
  void add_tracing();
  void prepare_set(AccountSeriesSet& set, std::string_view prefix, std::string label,
                   std::size_t capacity);
  std::uint32_t register_slot(AccountSeriesSet& set, std::string_view value);

  std::array<ShardedValue*, kStatusClasses> status_counters(const std::string& model,
                                                            const std::string& provider);
  ModelMetrics make_model_base(const std::string& model);  // its series without targets
  std::shared_ptr<const ModelMetrics> make_model(const core::ModelConfig& model);

  std::size_t shards_;
  std::vector<std::unique_ptr<Family>> families_;
  // The families whose series follow the config (added to by add_config).
  struct ConfigFamilies {
    Family* requests = nullptr;
    Family* duration = nullptr;
    Family* ttft = nullptr;
    Family* tokens = nullptr;
    Family* cost = nullptr;
    Family* upstream_duration = nullptr;
    Family* upstream_errors = nullptr;
    Family* attempts = nullptr;
    Family* retries = nullptr;
    Family* refused = nullptr;
    Family* fallbacks = nullptr;
    Family* hedges = nullptr;
    Family* cooldowns = nullptr;
    Family* target_cost = nullptr;
    Family* available = nullptr;
    Family* benched = nullptr;
    Family* keys_available = nullptr;
    Family* routers = nullptr;
    Family* config_info = nullptr;
  } f_;
  std::unordered_map<std::string, std::shared_ptr<const ModelMetrics>> models_;
  std::unordered_map<std::string, ProviderMetrics> providers_;
  ModelMetrics unrouted_;
  ShardedValue* in_flight_ = nullptr;
  ShardedHistogram* overhead_ = nullptr;
  ShardedValue* access_log_dropped_ = nullptr;
  ShardedValue* client_disconnects_ = nullptr;
  ShardedValue* client_connections_ = nullptr;
  ShardedValue* tls_handshake_failures_ = nullptr;
  ProcessMetrics process_;
  ShardedValue* config_info_ = nullptr;  // the served config's hash series
  ShardedValue* config_loaded_ = nullptr;
  ShardedValue* reload_success_ = nullptr;
  ShardedValue* reload_failure_ = nullptr;
  ShardedValue* reload_last_ok_ = nullptr;
  std::map<std::pair<std::string, std::string>, ShardedValue*, std::less<>> router_decisions_;
  std::unique_ptr<GovernanceMetrics> governance_;
  std::unique_ptr<TracingMetrics> tracing_;
  // Series are added while serving (new teams): registering and collecting take this lock;
  // the request path never does, it holds handles.
  mutable std::mutex registry_mutex_;
  std::vector<std::function<void()>> refreshes_;
};

}  // namespace switchyard::metrics
