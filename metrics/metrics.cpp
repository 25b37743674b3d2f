#include "metrics/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace switchyard::metrics {
namespace {

constexpr std::array<std::string_view, kStatusClasses> kStatusClassNames = {"2xx", "3xx", "4xx",
                                                                            "5xx"};

// Whole-request latencies of LLM calls span milliseconds to minutes.
prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}
// The gateway's own share is microseconds; buckets resolve down to 10 µs.
prometheus::Histogram::BucketBoundaries overhead_buckets() {
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
    case UpstreamError::connect: return "connect";
    case UpstreamError::tls: return "tls";
    case UpstreamError::timeout: return "timeout";
    case UpstreamError::reset: return "reset";
    case UpstreamError::status_4xx: return "status_4xx";
    case UpstreamError::status_5xx: return "status_5xx";
    case UpstreamError::protocol: return "protocol";
    case UpstreamError::kCount: break;
  }
  return "unknown";
}

void ModelMetrics::record_usage(const core::Usage& usage, double cost) const {
  prompt_tokens->Increment(static_cast<double>(usage.prompt_tokens));
  completion_tokens->Increment(static_cast<double>(usage.completion_tokens));
  cached_prompt_tokens->Increment(static_cast<double>(usage.cached_prompt_tokens));
  reasoning_tokens->Increment(static_cast<double>(usage.reasoning_tokens));
  cost_usd->Increment(cost);
}

Metrics::Metrics(const core::Config& config) : registry_(std::make_shared<prometheus::Registry>()) {
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  using prometheus::BuildHistogram;
  auto& requests = BuildCounter()
                       .Name("switchyard_requests_total")
                       .Help("Requests answered, by model, provider and status class")
                       .Register(*registry_);
  auto& duration = BuildHistogram()
                       .Name("switchyard_request_duration_seconds")
                       .Help("Time from the request's arrival to its last byte sent")
                       .Register(*registry_);
  auto& ttft = BuildHistogram()
                   .Name("switchyard_time_to_first_token_seconds")
                   .Help("Time from a streaming request's arrival to its first event sent")
                   .Register(*registry_);
  auto& tokens = BuildCounter()
                     .Name("switchyard_tokens_total")
                     .Help("Tokens counted from upstream usage, by kind (prompt includes "
                           "cached_prompt, completion includes reasoning)")
                     .Register(*registry_);
  auto& cost = BuildCounter()
                   .Name("switchyard_cost_usd_total")
                   .Help("Spend in US dollars computed from usage and the price table")
                   .Register(*registry_);
  auto& upstream_duration = BuildHistogram()
                                .Name("switchyard_upstream_duration_seconds")
                                .Help("Time spent waiting on the upstream provider")
                                .Register(*registry_);
  auto& upstream_errors = BuildCounter()
                              .Name("switchyard_upstream_errors_total")
                              .Help("Failed upstream exchanges by provider and reason")
                              .Register(*registry_);
  auto& overhead = BuildHistogram()
                       .Name("switchyard_gateway_overhead_seconds")
                       .Help("Request time spent in the gateway itself (total minus upstream)")
                       .Register(*registry_);
  auto& in_flight = BuildGauge()
                        .Name("switchyard_requests_in_flight")
                        .Help("Requests being handled right now")
                        .Register(*registry_);
  auto& dropped = BuildCounter()
                      .Name("switchyard_access_log_dropped_total")
                      .Help("Access-log lines dropped because the log queue was full")
                      .Register(*registry_);
  auto& disconnects = BuildCounter()
                          .Name("switchyard_client_disconnects_total")
                          .Help("Requests whose client went away before the answer was complete")
                          .Register(*registry_);
  auto& build_info = BuildGauge()
                         .Name("switchyard_build_info")
                         .Help("Always 1; the version label says which build is running")
                         .Register(*registry_);
  build_info.Add({{"version", SWITCHYARD_VERSION}}).Set(1);

  auto make_model = [&](const std::string& model, const std::string& provider) {
    ModelMetrics m;
    for (std::size_t i = 0; i < kStatusClasses; ++i) {
      m.requests[i] = &requests.Add({{"model", model},
                                     {"provider", provider},
                                     {"status", std::string(kStatusClassNames[i])}});
    }
    m.duration = &duration.Add({{"model", model}}, latency_buckets());
    m.time_to_first_token = &ttft.Add({{"model", model}}, latency_buckets());
    m.prompt_tokens = &tokens.Add({{"model", model}, {"kind", "prompt"}});
    m.completion_tokens = &tokens.Add({{"model", model}, {"kind", "completion"}});
    m.cached_prompt_tokens = &tokens.Add({{"model", model}, {"kind", "cached_prompt"}});
    m.reasoning_tokens = &tokens.Add({{"model", model}, {"kind", "reasoning"}});
    m.cost_usd = &cost.Add({{"model", model}});
    return m;
  };
  for (const auto& model : config.models) models_.emplace(model.name, make_model(model.name, model.provider));
  // One bucket for requests that never reached a configured model (bad JSON, unknown model),
  // so clients cannot mint label values.
  unrouted_ = make_model("(unrouted)", "(none)");

  for (const auto& p : config.providers) {
    ProviderMetrics pm;
    pm.upstream_duration = &upstream_duration.Add({{"provider", p.name}}, latency_buckets());
    for (std::size_t i = 0; i < pm.errors.size(); ++i) {
      pm.errors[i] = &upstream_errors.Add(
          {{"provider", p.name},
           {"reason", std::string(upstream_error_name(static_cast<UpstreamError>(i)))}});
    }
    providers_.emplace(p.name, pm);
  }
  overhead_ = &overhead.Add({}, overhead_buckets());
  in_flight_ = &in_flight.Add({});
  access_log_dropped_ = &dropped.Add({});
  client_disconnects_ = &disconnects.Add({});
}

const ModelMetrics& Metrics::model(std::string_view name) const {
  auto it = models_.find(std::string(name));
  return it == models_.end() ? unrouted_ : it->second;
}

const ProviderMetrics& Metrics::provider(std::string_view name) const {
  return providers_.at(std::string(name));
}

std::string Metrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace switchyard::metrics
