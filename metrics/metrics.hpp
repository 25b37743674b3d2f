#pragma once
// Every Prometheus family is registered once here, at start-up, and every label combination
// the hot path can need is resolved then too: requests only touch pre-resolved handles.
// Labels are bounded: configured model and provider names, status classes and fixed reasons.
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "core/config.hpp"
#include "core/usage.hpp"

namespace switchyard::metrics {

// Status classes used as the "status" label: 2xx, 3xx, 4xx, 5xx.
constexpr std::size_t kStatusClasses = 4;
std::size_t status_class_index(int status);

enum class UpstreamError : std::size_t {
  connect,      // DNS or TCP connect failed
  tls,          // handshake or certificate verification failed
  timeout,      // connect, first byte or idle timeout
  reset,        // the connection broke while reading or writing
  status_4xx,   // the upstream answered 4xx
  status_5xx,   // the upstream answered 5xx
  protocol,     // unparseable HTTP from the upstream
  kCount
};
std::string_view upstream_error_name(UpstreamError e);

struct ModelMetrics {
  std::array<prometheus::Counter*, kStatusClasses> requests{};
  prometheus::Histogram* duration = nullptr;
  prometheus::Histogram* time_to_first_token = nullptr;
  prometheus::Counter* prompt_tokens = nullptr;
  prometheus::Counter* completion_tokens = nullptr;
  prometheus::Counter* cached_prompt_tokens = nullptr;
  prometheus::Counter* reasoning_tokens = nullptr;
  prometheus::Counter* cost_usd = nullptr;

  void record_usage(const core::Usage& usage, double cost) const;
};

struct ProviderMetrics {
  prometheus::Histogram* upstream_duration = nullptr;
  std::array<prometheus::Counter*, static_cast<std::size_t>(UpstreamError::kCount)> errors{};

  void count_error(UpstreamError e) const { errors[static_cast<std::size_t>(e)]->Increment(); }
};

class Metrics {
 public:
  explicit Metrics(const core::Config& config);

  // Handles for a configured model; requests naming no configured model use unrouted().
  const ModelMetrics& model(std::string_view name) const;
  const ModelMetrics& unrouted() const { return unrouted_; }
  const ProviderMetrics& provider(std::string_view name) const;

  prometheus::Gauge& in_flight() const { return *in_flight_; }
  prometheus::Histogram& gateway_overhead() const { return *overhead_; }
  prometheus::Counter& access_log_dropped() const { return *access_log_dropped_; }
  prometheus::Counter& client_disconnects() const { return *client_disconnects_; }

  // The Prometheus text exposition of everything registered.
  std::string serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unordered_map<std::string, ModelMetrics> models_;
  std::unordered_map<std::string, ProviderMetrics> providers_;
  ModelMetrics unrouted_;
  prometheus::Gauge* in_flight_ = nullptr;
  prometheus::Histogram* overhead_ = nullptr;
  prometheus::Counter* access_log_dropped_ = nullptr;
  prometheus::Counter* client_disconnects_ = nullptr;
};

}  // namespace switchyard::metrics
