#include "metrics/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <cmath>
#include <limits>

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

std::string_view attempt_outcome_name(AttemptOutcome o) {
  switch (o) {
    case AttemptOutcome::success:
      return "success";
    case AttemptOutcome::connect:
      return "connect";
    case AttemptOutcome::tls:
      return "tls";
    case AttemptOutcome::timeout:
      return "timeout";
    case AttemptOutcome::first_token_timeout:
      return "first_token_timeout";
    case AttemptOutcome::reset:
      return "reset";
    case AttemptOutcome::status_4xx:
      return "status_4xx";
    case AttemptOutcome::status_5xx:
      return "status_5xx";
    case AttemptOutcome::protocol:
      return "protocol";
    case AttemptOutcome::oversized:
      return "oversized";
    case AttemptOutcome::truncated:
      return "truncated";
    case AttemptOutcome::stream_error:
      return "stream_error";
    case AttemptOutcome::hedge_lost:
      return "hedge_lost";
    case AttemptOutcome::kCount:
      break;
  }
  return "unknown";
}

std::string_view auth_failure_name(AuthFailure f) {
  switch (f) {
    case AuthFailure::missing_api_key:
      return "missing_api_key";
    case AuthFailure::invalid_api_key:
      return "invalid_api_key";
    case AuthFailure::key_blocked:
      return "key_blocked";
    case AuthFailure::key_expired:
      return "key_expired";
    case AuthFailure::team_blocked:
      return "team_blocked";
    case AuthFailure::model_not_allowed:
      return "model_not_allowed";
    case AuthFailure::model_not_priced:
      return "model_not_priced";
    case AuthFailure::kCount:
      break;
  }
  return "unknown";
}

void AccountSeries::record(std::size_t shard, int status, const core::Usage* usage,
                           double cost) const {
  requests[status_class_index(status)]->add(shard, 1);
  if (usage) {
    prompt_tokens->add(shard, static_cast<double>(usage->prompt_tokens));
    completion_tokens->add(shard, static_cast<double>(usage->completion_tokens));
  }
  cost_usd->add(shard, cost);
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

Family::Series* Family::find(const Labels& labels, std::string& key) {
  for (const auto& l : labels) key.append(l.name).append(1, '\0').append(l.value).append(1, '\0');
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &series_[it->second];
}

ShardedValue& Family::value(Labels labels) {
  std::string key;
  if (Series* known = find(labels, key); known && known->value) return *known->value;
  index_.emplace(std::move(key), series_.size());
  series_.push_back(Series{std::move(labels), std::make_unique<ShardedValue>(shards_), nullptr});
  return *series_.back().value;
}

ShardedHistogram& Family::histogram(Labels labels, std::vector<double> upper_bounds) {
  std::string key;
  if (Series* known = find(labels, key); known && known->histogram) return *known->histogram;
  index_.emplace(std::move(key), series_.size());
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
      if (std::isnan(m.gauge.value)) continue;  // a gauge with nothing to say (see AccountSeries)
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
  f_.requests =
      &add_family("switchyard_requests_total",
                  "Requests answered, by model, provider and status class", MetricType::Counter);
  f_.duration =
      &add_family("switchyard_request_duration_seconds",
                  "Time from the request's arrival to its last byte sent", MetricType::Histogram);
  f_.ttft = &add_family("switchyard_time_to_first_token_seconds",
                        "Time from a streaming request's arrival to its first event sent",
                        MetricType::Histogram);
  f_.tokens = &add_family("switchyard_tokens_total",
                          "Tokens counted from upstream usage, by kind (prompt includes "
                          "cached_prompt, completion includes reasoning)",
                          MetricType::Counter);
  f_.cost = &add_family("switchyard_cost_usd_total",
                        "Spend in US dollars computed from usage and the price table",
                        MetricType::Counter);
  f_.upstream_duration =
      &add_family("switchyard_upstream_duration_seconds",
                  "Time spent waiting on the upstream provider", MetricType::Histogram);
  f_.upstream_errors =
      &add_family("switchyard_upstream_errors_total",
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
  auto& connections = add_family("switchyard_client_connections_open",
                                 "Client connections open now", MetricType::Gauge);
  auto& handshake_failures = add_family(
      "switchyard_tls_handshake_failures_total",
      "TLS handshakes with clients that failed or timed out (listener tls)", MetricType::Counter);
  auto& build_info =
      add_family("switchyard_build_info", "Always 1; the version label says which build is running",
                 MetricType::Gauge);
  build_info.value({{"version", SWITCHYARD_VERSION}}).add(0, 1);
  f_.config_info = &add_family("switchyard_config_info",
                               "Always 1; the hash label identifies the config file being served "
                               "(the first 16 hex digits of its SHA-256)",
                               MetricType::Gauge);
  config_loaded_ =
      &add_family("switchyard_config_loaded_timestamp_seconds",
                  "Unix time at which the config being served was loaded", MetricType::Gauge)
           .value({});
  auto& reloads = add_family("switchyard_config_reloads_total",
                             "Config reloads (SIGHUP, POST /admin/reload) by result: success "
                             "(applied) or failure (refused; the previous config keeps serving)",
                             MetricType::Counter);
  reload_success_ = &reloads.value({{"result", "success"}});
  reload_failure_ = &reloads.value({{"result", "failure"}});
  reload_last_ok_ = &add_family("switchyard_config_last_reload_successful",
                                "1 when the last reload was applied (or none was tried), 0 when "
                                "it was refused",
                                MetricType::Gauge)
                         .value({});
  reload_last_ok_->set(1);

  f_.attempts = &add_family("switchyard_upstream_attempts_total",
                            "Attempts sent to each target of a model, by how they ended",
                            MetricType::Counter);
  f_.retries =
      &add_family("switchyard_retries_total",
                  "Attempts after a request's first (retries and fallbacks)", MetricType::Counter);
  f_.refused =
      &add_family("switchyard_retries_refused_total",
                  "Retries and hedges the retry budget did not allow", MetricType::Counter);
  f_.fallbacks = &add_family("switchyard_fallbacks_total",
                             "Requests served by a fallback model, from the model asked for",
                             MetricType::Counter);
  f_.hedges = &add_family("switchyard_hedges_total",
                          "Hedged requests: sent, won (the hedge answered first) and lost",
                          MetricType::Counter);
  f_.cooldowns =
      &add_family("switchyard_target_cooldowns_total",
                  "Times a target's circuit breaker cooled it down", MetricType::Counter);
  f_.target_cost =
      &add_family("switchyard_target_cost_usd_total",
                  "Spend in US dollars by the target (model group and provider) that served",
                  MetricType::Counter);
  f_.available =
      &add_family("switchyard_target_available",
                  "1 while a target can take requests, 0 while it cools down", MetricType::Gauge);
  f_.benched = &add_family("switchyard_provider_keys_benched_total",
                           "Times a key of a provider's pool was benched (401, 403, 429)",
                           MetricType::Counter);
  f_.keys_available =
      &add_family("switchyard_provider_keys_available",
                  "Keys of a provider's pool not benched right now", MetricType::Gauge);
  f_.routers = &add_family("switchyard_router_decisions_total",
                           "Requests a rule-based router sent to each model", MetricType::Counter);

  // One bucket for requests that never reached a configured model (bad JSON, unknown model),
  // so clients cannot mint label values.
  unrouted_ = make_model_base("(unrouted)");
  add_config(config);

  overhead_ = &overhead.histogram({}, overhead_buckets());
  in_flight_ = &in_flight.value({});
  access_log_dropped_ = &dropped.value({});
  client_disconnects_ = &disconnects.value({});
  client_connections_ = &connections.value({});
  tls_handshake_failures_ = &handshake_failures.value({});
  // The standard process families, without the switchyard_ prefix, as every client library
  // names them, so the usual dashboards and alerts find them.
  process_.resident_memory_bytes = &add_family("process_resident_memory_bytes",
                                               "Resident memory size in bytes", MetricType::Gauge)
                                        .value({});
  process_.virtual_memory_bytes =
      &add_family("process_virtual_memory_bytes", "Virtual memory size in bytes", MetricType::Gauge)
           .value({});
  process_.cpu_seconds =
      &add_family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds",
                  MetricType::Counter)
           .value({});
  process_.open_fds =
      &add_family("process_open_fds", "Number of open file descriptors", MetricType::Gauge)
           .value({});
  process_.max_fds =
      &add_family("process_max_fds", "Maximum number of open file descriptors", MetricType::Gauge)
           .value({});
  process_.start_time_seconds =
      &add_family("process_start_time_seconds",
                  "Start time of the process since unix epoch in seconds", MetricType::Gauge)
           .value({});
  if (config.governance.enabled) add_governance(config.governance);
  if (config.tracing.enabled) add_tracing();
}

std::array<ShardedValue*, kStatusClasses> Metrics::status_counters(const std::string& model,
                                                                   const std::string& provider) {
  std::array<ShardedValue*, kStatusClasses> out{};
  for (std::size_t i = 0; i < kStatusClasses; ++i) {
    out[i] = &f_.requests->value(
        {{"model", model}, {"provider", provider}, {"status", std::string(kStatusClassNames[i])}});
  }
  return out;
}

ModelMetrics Metrics::make_model_base(const std::string& model) {
  ModelMetrics m;
  m.requests = status_counters(model, "(none)");
  m.duration = &f_.duration->histogram({{"model", model}}, latency_buckets());
  m.time_to_first_token = &f_.ttft->histogram({{"model", model}}, latency_buckets());
  m.prompt_tokens = &f_.tokens->value({{"kind", "prompt"}, {"model", model}});
  m.completion_tokens = &f_.tokens->value({{"kind", "completion"}, {"model", model}});
  m.cached_prompt_tokens = &f_.tokens->value({{"kind", "cached_prompt"}, {"model", model}});
  m.reasoning_tokens = &f_.tokens->value({{"kind", "reasoning"}, {"model", model}});
  m.cost_usd = &f_.cost->value({{"model", model}});
  return m;
}

std::shared_ptr<const ModelMetrics> Metrics::make_model(const core::ModelConfig& model) {
  auto m = std::make_shared<ModelMetrics>(make_model_base(model.name));
  for (const auto& target : model.targets) {
    // Two targets of one group on the same provider share its series.
    const TargetMetrics* same = nullptr;
    for (std::size_t i = 0; i < m->targets.size(); ++i)
      if (model.targets[i].provider == target.provider) same = &m->targets[i];
    if (same) {
      m->targets.push_back(*same);
      continue;
    }
    TargetMetrics t;
    t.requests = status_counters(model.name, target.provider);
    for (std::size_t i = 0; i < t.attempts.size(); ++i) {
      t.attempts[i] = &f_.attempts->value(
          {{"model", model.name},
           {"provider", target.provider},
           {"outcome", std::string(attempt_outcome_name(static_cast<AttemptOutcome>(i)))}});
    }
    t.cooldowns = &f_.cooldowns->value({{"model", model.name}, {"provider", target.provider}});
    t.cost_usd = &f_.target_cost->value({{"model", model.name}, {"provider", target.provider}});
    t.available = &f_.available->value({{"model", model.name}, {"provider", target.provider}});
    t.available->set(1);
    m->targets.push_back(t);
  }
  for (const auto* list : {&model.fallbacks, &model.context_window_fallbacks})
    for (const auto& to : *list)
      m->fallbacks.push_back(&f_.fallbacks->value({{"from", model.name}, {"to", to}}));
  m->retries = &f_.retries->value({{"model", model.name}});
  m->retries_refused = &f_.refused->value({{"model", model.name}});
  m->hedges_sent = &f_.hedges->value({{"model", model.name}, {"result", "sent"}});
  m->hedges_won = &f_.hedges->value({{"model", model.name}, {"result", "won"}});
  m->hedges_lost = &f_.hedges->value({{"model", model.name}, {"result", "lost"}});
  return m;
}

void Metrics::add_config(const core::Config& config) {
  std::lock_guard lock(registry_mutex_);
  for (const auto& model : config.models) models_[model.name] = make_model(model);
  for (const auto& router : config.routers)
    for (const auto& rule : router.rules) {
      auto key = std::make_pair(router.name, rule.model);
      if (!router_decisions_.contains(key))
        router_decisions_.emplace(
            key, &f_.routers->value({{"router", router.name}, {"model", rule.model}}));
    }
  for (const auto& p : config.providers) {
    if (providers_.contains(p.name)) continue;
    ProviderMetrics pm;
    pm.upstream_duration =
        &f_.upstream_duration->histogram({{"provider", p.name}}, latency_buckets());
    for (std::size_t i = 0; i < pm.errors.size(); ++i) {
      pm.errors[i] = &f_.upstream_errors->value(
          {{"provider", p.name},
           {"reason", std::string(upstream_error_name(static_cast<UpstreamError>(i)))}});
    }
    pm.keys_benched = &f_.benched->value({{"provider", p.name}});
    pm.keys_available = &f_.keys_available->value({{"provider", p.name}});
    pm.keys_available->set(static_cast<double>(p.api_keys.size()));
    providers_.emplace(p.name, pm);
  }
}

std::shared_ptr<const ModelMetrics> Metrics::model_handles(std::string_view name) const {
  std::lock_guard lock(registry_mutex_);
  auto it = models_.find(std::string(name));
  return it == models_.end() ? nullptr : it->second;
}

void Metrics::record_config(std::string_view hash, double loaded_unix_seconds) {
  std::lock_guard lock(registry_mutex_);
  if (config_info_) config_info_->set(std::numeric_limits<double>::quiet_NaN());
  config_info_ = &f_.config_info->value({{"hash", std::string(hash)}});
  config_info_->set(1);
  config_loaded_->set(loaded_unix_seconds);
}

void Metrics::count_reload(bool applied) {
  (applied ? reload_success_ : reload_failure_)->add(0, 1);
  reload_last_ok_->set(applied ? 1 : 0);
}

void Metrics::add_tracing() {
  using prometheus::MetricType;
  tracing_ = std::make_unique<TracingMetrics>();
  TracingMetrics& t = *tracing_;
  auto& dropped = add_family("switchyard_trace_spans_dropped_total",
                             "Trace spans lost: a worker's export queue was full (queue_full) or "
                             "the collector did not take their batch (export_failed)",
                             MetricType::Counter);
  t.dropped_queue_full = &dropped.value({{"reason", "queue_full"}});
  t.dropped_export_failed = &dropped.value({{"reason", "export_failed"}});
  t.exported = &add_family("switchyard_trace_spans_exported_total",
                           "Trace spans the collector accepted", MetricType::Counter)
                    .value({});
  auto& exports = add_family("switchyard_trace_exports_total",
                             "OTLP export requests to the collector by result: success (a 2xx "
                             "answer) or failure (refused, unreachable or timed out)",
                             MetricType::Counter);
  t.exports_success = &exports.value({{"result", "success"}});
  t.exports_failure = &exports.value({{"result", "failure"}});
}

void Metrics::add_governance(const core::GovernanceConfig& config) {
  using prometheus::MetricType;
  governance_ = std::make_unique<GovernanceMetrics>();
  GovernanceMetrics& g = *governance_;
  auto& auth = add_family("switchyard_auth_failures_total",
                          "Model requests refused before admission: no key, a bad, blocked or "
                          "expired key, a model the key may not use",
                          MetricType::Counter);
  for (std::size_t i = 0; i < g.auth_failures.size(); ++i)
    g.auth_failures[i] =
        &auth.value({{"reason", std::string(auth_failure_name(static_cast<AuthFailure>(i)))}});
  auto& refusals = add_family("switchyard_governance_refusals_total",
                              "Requests refused by a budget or a rate limit, by what refused and "
                              "at which level (key, team, key_model)",
                              MetricType::Counter);
  static constexpr std::array<std::string_view, kRefusalReasons> kReasons = {
      "budget", "requests_per_minute", "tokens_per_minute", "parallel"};
  static constexpr std::array<std::string_view, kRefusalLevels> kLevels = {"key", "team",
                                                                           "key_model"};
  for (std::size_t r = 0; r < kRefusalReasons; ++r)
    for (std::size_t l = 0; l < kRefusalLevels; ++l)
      g.refusals[r][l] = &refusals.value(
          {{"reason", std::string(kReasons[r])}, {"level", std::string(kLevels[l])}});
  g.soft_budget_crossings =
      &add_family("switchyard_soft_budget_crossings_total",
                  "Times a key's or team's spend passed its soft budget (once per period)",
                  MetricType::Counter)
           .value({});
  g.shared_unavailable =
      &add_family("switchyard_shared_limits_unavailable_total",
                  "Requests with a budget or limit refused because the shared state (Redis) did "
                  "not answer in time (on_redis_down: fail_closed)",
                  MetricType::Counter)
           .value({});
  g.ledger_queued =
      &add_family("switchyard_ledger_queue_rows",
                  "Ledger rows waiting for the writer's next commit", MetricType::Gauge)
           .value({});
  g.ledger_written = &add_family("switchyard_ledger_rows_written_total",
                                 "Ledger rows committed to the store", MetricType::Counter)
                          .value({});
  g.ledger_dropped = &add_family("switchyard_ledger_rows_dropped_total",
                                 "Ledger rows lost: the queue was full or the store refused a "
                                 "batch",
                                 MetricType::Counter)
                          .value({});
  g.ledger_last_commit =
      &add_family("switchyard_ledger_last_commit_timestamp_seconds",
                  "Unix time of the ledger's last commit (0 before one)", MetricType::Gauge)
           .value({});
  g.ledger_spooled =
      &add_family("switchyard_ledger_spool_rows",
                  "Ledger rows waiting on disk for the shared store (PostgreSQL) to answer again",
                  MetricType::Gauge)
           .value({});
  prepare_set(g.teams, "switchyard_team", "team", config.metrics_max_teams);
  if (config.metrics_max_key_aliases > 0)
    prepare_set(g.key_aliases, "switchyard_key", "key_alias", config.metrics_max_key_aliases);
}

void Metrics::prepare_set(AccountSeriesSet& set, std::string_view prefix, std::string label,
                          std::size_t capacity) {
  using prometheus::MetricType;
  const std::string p(prefix);
  const std::string who = label == "team" ? "team" : "key alias";
  set.label_ = std::move(label);
  set.capacity_ = capacity;
  set.with_budget_ = set.label_ == "team";
  set.series_ = std::make_unique<std::unique_ptr<AccountSeries>[]>(capacity + 2);
  set.requests_ = &add_family(
      p + "_requests_total", "Model requests by " + who + " and status class", MetricType::Counter);
  set.tokens_ =
      &add_family(p + "_tokens_total", "Tokens by " + who + " and kind (prompt, completion)",
                  MetricType::Counter);
  set.cost_ =
      &add_family(p + "_cost_usd_total", "Spend in US dollars by " + who, MetricType::Counter);
  if (set.with_budget_) {
    set.budget_[0] = &add_family("switchyard_team_budget_usd",
                                 "A team's budget for its current period", MetricType::Gauge);
    set.budget_[1] = &add_family("switchyard_team_budget_spent_usd",
                                 "What a team has spent (settled) in its budget's current period",
                                 MetricType::Gauge);
    set.budget_[2] =
        &add_family("switchyard_team_budget_remaining_usd",
                    "A team's budget minus what it spent in the current period (0 when over)",
                    MetricType::Gauge);
    set.budget_[3] =
        &add_family("switchyard_team_budget_reset_timestamp_seconds",
                    "Unix time at which a team's budget period ends", MetricType::Gauge);
  }
  register_slot(set, "(other)");
  register_slot(set, "(none)");
}

std::uint32_t Metrics::register_slot(AccountSeriesSet& set, std::string_view value) {
  std::lock_guard lock(registry_mutex_);
  const std::string v(value);
  if (auto it = set.slots_.find(v); it != set.slots_.end()) return it->second;
  const std::size_t n = set.registered_.load(std::memory_order_relaxed);
  if (n >= set.capacity_ + 2) return AccountSeriesSet::kOther;
  auto series = std::make_unique<AccountSeries>();
  for (std::size_t i = 0; i < kStatusClasses; ++i)
    series->requests[i] =
        &set.requests_->value({{set.label_, v}, {"status", std::string(kStatusClassNames[i])}});
  series->prompt_tokens = &set.tokens_->value({{"kind", "prompt"}, {set.label_, v}});
  series->completion_tokens = &set.tokens_->value({{"kind", "completion"}, {set.label_, v}});
  series->cost_usd = &set.cost_->value({{set.label_, v}});
  if (set.with_budget_) {
    ShardedValue** gauges[4] = {&series->budget_usd, &series->spent_usd, &series->remaining_usd,
                                &series->reset_seconds};
    for (std::size_t i = 0; i < 4; ++i) {
      *gauges[i] = &set.budget_[i]->value({{set.label_, v}});
      (*gauges[i])->set(std::numeric_limits<double>::quiet_NaN());
    }
  }
  set.series_[n] = std::move(series);
  set.slots_.emplace(v, static_cast<std::uint32_t>(n));
  set.registered_.store(n + 1, std::memory_order_release);
  return static_cast<std::uint32_t>(n);
}

std::uint32_t Metrics::team_slot(std::string_view name) {
  if (!governance_) return AccountSeriesSet::kOther;
  return register_slot(governance_->teams, name);
}

std::uint32_t Metrics::key_alias_slot(std::string_view alias) {
  if (!governance_ || governance_->key_aliases.capacity_ == 0) return AccountSeriesSet::kOther;
  return register_slot(governance_->key_aliases, alias.empty() ? "(none)" : alias);
}

const ModelMetrics& Metrics::model(std::string_view name) const {
  std::lock_guard lock(registry_mutex_);
  auto it = models_.find(std::string(name));
  return it == models_.end() ? unrouted_ : *it->second;
}

const ProviderMetrics& Metrics::provider(std::string_view name) const {
  std::lock_guard lock(registry_mutex_);
  return providers_.at(std::string(name));
}

ShardedValue* Metrics::router_decision(std::string_view router, std::string_view model) const {
  std::lock_guard lock(registry_mutex_);
  auto it = router_decisions_.find(std::make_pair(std::string(router), std::string(model)));
  return it == router_decisions_.end() ? nullptr : it->second;
}

std::string Metrics::serialize() const {
  for (const auto& refresh : refreshes_) refresh();
  std::lock_guard lock(registry_mutex_);
  std::vector<prometheus::MetricFamily> families;
  families.reserve(families_.size());
  for (const auto& f : families_) families.push_back(f->collect());
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace switchyard::metrics
