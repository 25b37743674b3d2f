#pragma once
// Every metric family is registered once here, at start-up, and every label combination the
// hot path can need is resolved then too: a request only touches pre-resolved handles, and
// only its own worker's shard of them (see sharded.hpp), so recording takes no lock.
// Labels are bounded: configured model and provider names, status classes and fixed reasons.
// prometheus-cpp supplies the data model and the text exposition.
#include <prometheus/metric_family.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
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

// One metric family: a name, a type and its labelled series.
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
  std::size_t shards_;
  std::vector<Series> series_;
};

// Per (model group, target): where its requests went and how its attempts ended.
struct TargetMetrics {
  std::array<ShardedValue*, kStatusClasses> requests{};
  std::array<ShardedValue*, static_cast<std::size_t>(AttemptOutcome::kCount)> attempts{};
  ShardedValue* cooldowns = nullptr;  // circuit-breaker cooldowns started
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

struct ProviderMetrics {
  ShardedHistogram* upstream_duration = nullptr;
  ShardedValue* keys_benched = nullptr;    // times a key of the pool was benched (401/403/429)
  ShardedValue* keys_available = nullptr;  // gauge: keys not benched, refreshed at scrape time
  std::array<ShardedValue*, static_cast<std::size_t>(UpstreamError::kCount)> errors{};

  void count_error(std::size_t shard, UpstreamError e) const {
    errors[static_cast<std::size_t>(e)]->add(shard, 1);
  }
};

class Metrics {
 public:
  // `shards`: one per worker thread; each thread records only into its own shard.
  Metrics(const core::Config& config, std::size_t shards);

  // Handles for a configured model; requests naming no configured model use unrouted().
  const ModelMetrics& model(std::string_view name) const;
  const ModelMetrics& unrouted() const { return unrouted_; }
  const ProviderMetrics& provider(std::string_view name) const;

  ShardedValue& in_flight() const { return *in_flight_; }
  ShardedHistogram& gateway_overhead() const { return *overhead_; }
  ShardedValue& access_log_dropped() const { return *access_log_dropped_; }
  ShardedValue& client_disconnects() const { return *client_disconnects_; }

  // Rule-based routing: requests a router sent to each of its rules' models.
  ShardedValue* router_decision(std::string_view router, std::string_view model) const;

  // Called at each scrape before the values are read, to refresh the gauges that mirror
  // routing state (target availability, keys available). Set once, before serving.
  void set_refresh(std::function<void()> refresh) { refresh_ = std::move(refresh); }

  // The Prometheus text exposition of everything registered.
  std::string serialize() const;

 private:
  Family& add_family(std::string name, std::string help, prometheus::MetricType type);

  std::size_t shards_;
  std::vector<std::unique_ptr<Family>> families_;
  std::unordered_map<std::string, ModelMetrics> models_;
  std::unordered_map<std::string, ProviderMetrics> providers_;
  ModelMetrics unrouted_;
  ShardedValue* in_flight_ = nullptr;
  ShardedHistogram* overhead_ = nullptr;
  ShardedValue* access_log_dropped_ = nullptr;
  ShardedValue* client_disconnects_ = nullptr;
  std::map<std::pair<std::string, std::string>, ShardedValue*, std::less<>> router_decisions_;
  std::function<void()> refresh_;
};

}  // namespace switchyard::metrics
