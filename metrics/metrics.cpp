#include "metrics/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace switchyard::metrics {
namespace {

constexpr std::array<std::string_view, kStatusClasses> kStatusClassNames = {"2xx", "3xx", "4xx",
                                                                            "5xx"};

// Whole-request latencies of LLM calls span milliseconds to minutes.
std::vector<double> latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}
// The gateway's own share is microseconds; buckets resolve down to 10 µs.
std::vector<double> overhead_buckets() {
  return {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05};
}

}  // namespace

std::size_t status_class_index(int status) {
  if (status < 300) return 0;
  if (status < 400) return 1;
  if (status < 500) return 2;
  return 3;
}

std::string_view upstream_error_name(UpstreamError e) {
  switch (e) {
    case UpstreamError::connect:
      return "connect";
    case UpstreamError::tls:
      return "tls";
    case UpstreamError::timeout:
      return "timeout";
    case UpstreamError::reset:
      return "reset";
    case UpstreamError::status_4xx:
      return "status_4xx";
    case UpstreamError::status_5xx:
      return "status_5xx";
    case UpstreamError::protocol:
      return "protocol";
    case UpstreamError::oversized:
      return "oversized";
    case UpstreamError::truncated:
      return "truncated";
    case UpstreamError::kCount:
      break;
  }
  return "unknown";
}

void ModelMetrics::record_usage(std::size_t shard, const core::Usage& usage, double cost) const {
  prompt_tokens->add(shard, static_cast<double>(usage.prompt_tokens));
  completion_tokens->add(shard, static_cast<double>(usage.completion_tokens));
  cached_prompt_tokens->add(shard, static_cast<double>(usage.cached_prompt_tokens));
  reasoning_tokens->add(shard, static_cast<double>(usage.reasoning_tokens));
  cost_usd->add(shard, cost);
}

Family::Family(std::string name, std::string help, prometheus::MetricType type, std::size_t shards)
    : name_(std::move(name)), help_(std::move(help)), type_(type), shards_(shards) {}

ShardedValue& Family::value(Labels labels) {
  series_.push_back(Series{std::move(labels), std::make_unique<ShardedValue>(shards_), nullptr});
  return *series_.back().value;
}

ShardedHistogram& Family::histogram(Labels labels, std::vector<double> upper_bounds) {
  series_.push_back(Series{std::move(labels), nullptr,
                           std::make_unique<ShardedHistogram>(std::move(upper_bounds), shards_)});
  return *series_.back().histogram;
}

prometheus::MetricFamily Family::collect() const {
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = help_;
  family.type = type_;
  family.metric.reserve(series_.size());
  for (const auto& s : series_) {
    prometheus::ClientMetric m;
    m.label = s.labels;
    if (s.histogram) {
      m.histogram = s.histogram->collect();
    } else if (type_ == prometheus::MetricType::Counter) {
      m.counter.value = s.value->value();
    } else {
      m.gauge.value = s.value->value();
    }
    family.metric.push_back(std::move(m));
  }
  return family;
}

Family& Metrics::add_family(std::string name, std::string help, prometheus::MetricType type) {
  families_.push_back(std::make_unique<Family>(std::move(name), std::move(help), type, shards_));
  return *families_.back();
}

Metrics::Metrics(const core::Config& config, std::size_t shards) : shards_(shards) {
  using prometheus::MetricType;
  auto& requests =
      add_family("switchyard_requests_total",
                 "Requests answered, by model, provider and status class", MetricType::Counter);
  auto& duration =
      add_family("switchyard_request_duration_seconds",
                 "Time from the request's arrival to its last byte sent", MetricType::Histogram);
  auto& ttft = add_family("switchyard_time_to_first_token_seconds",
                          "Time from a streaming request's arrival to its first event sent",
                          MetricType::Histogram);
  auto& tokens = add_family("switchyard_tokens_total",
                            "Tokens counted from upstream usage, by kind (prompt includes "
                            "cached_prompt, completion includes reasoning)",
                            MetricType::Counter);
  auto& cost = add_family("switchyard_cost_usd_total",
                          "Spend in US dollars computed from usage and the price table",
                          MetricType::Counter);
  auto& upstream_duration =
      add_family("switchyard_upstream_duration_seconds",
                 "Time spent waiting on the upstream provider", MetricType::Histogram);
  auto& upstream_errors =
      add_family("switchyard_upstream_errors_total",
                 "Failed upstream exchanges by provider and reason", MetricType::Counter);
  auto& overhead = add_family("switchyard_gateway_overhead_seconds",
                              "Request time spent in the gateway itself (total minus upstream)",
                              MetricType::Histogram);
  auto& in_flight = add_family("switchyard_requests_in_flight", "Requests being handled right now",
                               MetricType::Gauge);
  auto& dropped =
      add_family("switchyard_access_log_dropped_total",
                 "Access-log lines dropped because the log queue was full", MetricType::Counter);
  auto& disconnects = add_family("switchyard_client_disconnects_total",
                                 "Requests whose client went away before the answer was complete",
                                 MetricType::Counter);
  auto& build_info =
      add_family("switchyard_build_info", "Always 1; the version label says which build is running",
                 MetricType::Gauge);
  build_info.value({{"version", SWITCHYARD_VERSION}}).add(0, 1);

  auto make_model = [&](const std::string& model, const std::string& provider) {
    ModelMetrics m;
    for (std::size_t i = 0; i < kStatusClasses; ++i) {
      m.requests[i] = &requests.value({{"model", model},
                                       {"provider", provider},
                                       {"status", std::string(kStatusClassNames[i])}});
    }
    m.duration = &duration.histogram({{"model", model}}, latency_buckets());
    m.time_to_first_token = &ttft.histogram({{"model", model}}, latency_buckets());
    m.prompt_tokens = &tokens.value({{"kind", "prompt"}, {"model", model}});
    m.completion_tokens = &tokens.value({{"kind", "completion"}, {"model", model}});
    m.cached_prompt_tokens = &tokens.value({{"kind", "cached_prompt"}, {"model", model}});
    m.reasoning_tokens = &tokens.value({{"kind", "reasoning"}, {"model", model}});
    m.cost_usd = &cost.value({{"model", model}});
    return m;
  };
  for (const auto& model : config.models)
    models_.emplace(model.name, make_model(model.name, model.primary().provider));
  // One bucket for requests that never reached a configured model (bad JSON, unknown model),
  // so clients cannot mint label values.
  unrouted_ = make_model("(unrouted)", "(none)");

  for (const auto& p : config.providers) {
    ProviderMetrics pm;
    pm.upstream_duration = &upstream_duration.histogram({{"provider", p.name}}, latency_buckets());
    for (std::size_t i = 0; i < pm.errors.size(); ++i) {
      pm.errors[i] = &upstream_errors.value(
          {{"provider", p.name},
           {"reason", std::string(upstream_error_name(static_cast<UpstreamError>(i)))}});
    }
    providers_.emplace(p.name, pm);
  }
  overhead_ = &overhead.histogram({}, overhead_buckets());
  in_flight_ = &in_flight.value({});
  access_log_dropped_ = &dropped.value({});
  client_disconnects_ = &disconnects.value({});
}

const ModelMetrics& Metrics::model(std::string_view name) const {
  auto it = models_.find(std::string(name));
  return it == models_.end() ? unrouted_ : it->second;
}

const ProviderMetrics& Metrics::provider(std::string_view name) const {
  return providers_.at(std::string(name));
}

std::string Metrics::serialize() const {
  std::vector<prometheus::MetricFamily> families;
  families.reserve(families_.size());
  for (const auto& f : families_) families.push_back(f->collect());
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace switchyard::metrics
