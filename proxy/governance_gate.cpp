#include "proxy/governance_gate.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "core/decimal_text.hpp"
#include "core/rate_limit.hpp"
#include "proxy/governance.hpp"
#include "proxy/key_secrets.hpp"

namespace switchyard::proxy {
namespace {

core::WallTime wall_now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

std::string usd(core::Micros m) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.2f", core::micros_to_usd(m));
  return buf;
}

std::string period_words(const core::BudgetPeriod& p) {
  switch (p.kind) {
    case core::BudgetPeriod::Kind::daily:
      return "per day";
    case core::BudgetPeriod::Kind::weekly:
      return "per week";
    case core::BudgetPeriod::Kind::monthly:
      return "per month";
    case core::BudgetPeriod::Kind::duration:
      break;
  }
  return "per " + core::format_budget_period(p);
}

std::string seconds_text(std::chrono::nanoseconds d) {
  const auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
  return std::to_string(std::max<std::int64_t>(s, 1));
}

core::GatewayError auth_error(std::string message, std::string code) {
  core::GatewayError e = core::client_error(401, std::move(message), "", std::move(code));
  e.type = "invalid_request_error";  // OpenAI's type for key errors, with the code saying which
  return e;
}

// The worst case of the request at the group's dearest target: the budget must hold whichever
// target serves it. Unpriced when no target of the group has a known price.
struct PricedEstimate {
  core::Estimate estimate;
  bool priced = false;
};

PricedEstimate estimate_for(const ModelRoute& group, std::int64_t input_tokens,
                            std::int64_t max_output_tokens) {
  PricedEstimate out;
  out.estimate.tokens = input_tokens + max_output_tokens;
  core::Usage worst;
  worst.prompt_tokens = input_tokens;
  worst.completion_tokens = max_output_tokens;
  double cost = 0;
  for (const TargetRoute& t : group.targets) {
    out.priced = out.priced || t.config->price_known;
    cost = std::max(cost, core::cost_usd(worst, t.config->price));
  }
  out.estimate.cost = core::usd_to_micros_ceil(cost);
  return out;
}

std::string_view level_words(core::Refusal::Level level) {
  switch (level) {
    case core::Refusal::Level::team:
      return "this key's team";
    case core::Refusal::Level::key_and_model:
      return "this key, for this model,";
    case core::Refusal::Level::key:
      break;
  }
  return "this key";
}

core::GatewayError refusal_error(const core::Refusal& r, const core::KeyEntry& key) {
  using Kind = core::Refusal::Kind;
  if (r.kind == Kind::budget) {
    const core::BudgetSpec& spec =
        r.level == core::Refusal::Level::team ? *key.team->record.budget : *key.record.budget;
    std::string message = "Budget exceeded: the budget of " + std::string(level_words(r.level)) +
                          " is " + usd(r.budget.limit) + " " + period_words(spec.period) + "; " +
                          usd(r.budget.spent) + " is spent";
    if (r.budget.reserved > 0)
      message += " and " + usd(r.budget.reserved) + " is held by requests in flight";
    message += ". It resets at " + core::format_rfc3339(r.budget.reset) + ".";
    core::GatewayError e = core::client_error(429, std::move(message), "", "budget_exceeded");
    e.type = "budget_exceeded";
    e.retry_after = seconds_text(r.budget.reset - wall_now());
    return e;
  }
  std::string what;
  switch (r.kind) {
    case Kind::rate_requests:
      what = std::to_string(r.limit) + " requests per minute";
      break;
    case Kind::rate_tokens:
      what = std::to_string(r.limit) + " tokens per minute";
      break;
    case Kind::parallel:
      what = std::to_string(r.limit) + " requests at a time";
      break;
    case Kind::budget:
      break;
  }
  std::string message =
      "Rate limit reached for " + std::string(level_words(r.level)) + ": " + what + ".";
  core::GatewayError e = core::client_error(429, "", "", "rate_limit_exceeded");
  if (r.kind != Kind::parallel) {
    e.retry_after = seconds_text(r.retry_after);
    message += " Try again in " + e.retry_after + " s.";
  } else {
    e.retry_after = "1";
    message += " Wait for one of them to finish.";
  }
  e.message = std::move(message);
  return e;
}

// x-ratelimit-* on every answer to a limited key (and Anthropic's names for Messages clients),
// as the limits stand once this request is counted. Written into a stack buffer and copied
// once: it is on every limited request's path.
class HeaderWriter {
 public:
  void text(std::string_view s) {
    std::memcpy(end_, s.data(), s.size());
    end_ += s.size();
  }
  void number(std::int64_t v) { end_ = core::write_decimal(end_, v); }
  void reset_duration(std::chrono::nanoseconds d) { end_ = core::write_reset_duration(end_, d); }
  void rfc3339(core::WallTime t) { end_ = core::write_rfc3339(end_, t); }
  // Into `out`, whose room is kept (the session hands each request the last one's).
  void assign_to(std::string& out) const {
    out.assign(buf_, static_cast<std::size_t>(end_ - buf_));
  }

 private:
  // Two kinds of six fields, each a name under 48 bytes and a value under 32 (a reset
  // duration's bound): 12 * 80 bytes is a bound.
  char buf_[12 * 80];
  char* end_ = buf_;
};

// Each kind's field names, whole, so that a field is two copies and a value.
struct RateHeaderNames {
  std::string_view limit, remaining, reset, anthropic_limit, anthropic_remaining, anthropic_reset;
};
constexpr RateHeaderNames kRequestNames{"\r\nx-ratelimit-limit-requests: ",
                                        "\r\nx-ratelimit-remaining-requests: ",
                                        "\r\nx-ratelimit-reset-requests: ",
                                        "\r\nanthropic-ratelimit-requests-limit: ",
                                        "\r\nanthropic-ratelimit-requests-remaining: ",
                                        "\r\nanthropic-ratelimit-requests-reset: "};
constexpr RateHeaderNames kTokenNames{"\r\nx-ratelimit-limit-tokens: ",
                                      "\r\nx-ratelimit-remaining-tokens: ",
                                      "\r\nx-ratelimit-reset-tokens: ",
                                      "\r\nanthropic-ratelimit-tokens-limit: ",
                                      "\r\nanthropic-ratelimit-tokens-remaining: ",
                                      "\r\nanthropic-ratelimit-tokens-reset: "};

// Into `out` (cleared): the fields, each preceded by CRLF, or nothing for a key without limits.
void write_rate_limit_headers(const core::RateViews& views, adapters::Protocol protocol,
                              std::string& out_text) {
  out_text.clear();
  if (!views.requests && !views.tokens) return;
  const bool anthropic = protocol == adapters::Protocol::anthropic_messages;
  const core::WallTime wall = anthropic ? wall_now() : core::WallTime{};
  HeaderWriter out;
  auto add = [&](const std::optional<core::RateView>& v, const RateHeaderNames& names) {
    if (!v) return;
    out.text(names.limit);
    out.number(v->limit);
    out.text(names.remaining);
    out.number(v->remaining);
    out.text(names.reset);
    out.reset_duration(v->reset);
    if (!anthropic) return;
    out.text(names.anthropic_limit);
    out.number(v->limit);
    out.text(names.anthropic_remaining);
    out.number(v->remaining);
    out.text(names.anthropic_reset);
    out.rfc3339(wall + std::chrono::ceil<std::chrono::seconds>(v->reset));
  };
  add(views.requests, kRequestNames);
  add(views.tokens, kTokenNames);
  out.assign_to(out_text);
}

// Once per period: the settle that took a budget past its soft limit.
void soft_budget_crossed(Worker& worker, const core::KeyEntry& key) {
  if (const metrics::GovernanceMetrics* g = worker.runtime.metrics->governance())
    g->soft_budget_crossings->add(worker.index, 1);
  std::fprintf(stderr, "switchyard: key %s%s%s (team %s) passed a soft budget\n",
               key.record.id.c_str(), key.record.alias.empty() ? "" : " alias ",
               key.record.alias.c_str(),
               key.record.team_id.empty() ? "none" : key.record.team_id.c_str());
}

// Counts a refusal before admission on the worker's shard.
void count(Worker& worker, metrics::AuthFailure reason) {
  if (const metrics::GovernanceMetrics* g = worker.runtime.metrics->governance())
    g->count(worker.index, reason);
}

void count(Worker& worker, const core::Refusal& r) {
  if (const metrics::GovernanceMetrics* g = worker.runtime.metrics->governance())
    g->refusals[static_cast<std::size_t>(r.kind)][static_cast<std::size_t>(r.level)]->add(
        worker.index, 1);
}

// The request's requests, tokens and spend under its team's series (and its key alias's).
void count_account(Worker& worker, const RequestContext& ctx, int status) {
  const metrics::GovernanceMetrics* g = worker.runtime.metrics->governance();
  if (!g || !ctx.key) return;
  const core::Usage* usage = ctx.usage ? &*ctx.usage : nullptr;
  const std::uint32_t team = ctx.key->team
                                 ? ctx.key->team->state->series.load(std::memory_order_relaxed)
                                 : metrics::AccountSeriesSet::kNone;
  g->teams.at(team).record(worker.index, status, usage, ctx.cost_usd);
  if (g->key_aliases.size() > 0)
    g->key_aliases.at(ctx.key->state->series.load(std::memory_order_relaxed))
        .record(worker.index, status, usage, ctx.cost_usd);
}

// The headers that say who calls, in one pass over the request's headers (four lookups by
// name cost more); the first of each, as Beast's lookup by name would give.
struct CallerHeaders {
  std::string_view authorization, x_api_key, api_key, tags;
};

CallerHeaders caller_headers(const Request& request) {
  CallerHeaders h;
  auto first = [](std::string_view& slot, std::string_view value) {
    if (slot.empty()) slot = value;
  };
  for (const auto& field : request) {
    if (field.name() == http::field::authorization) {
      first(h.authorization, field.value());
      continue;
    }
    const std::string_view name = field.name_string();
    if (name.size() == 7 && boost::beast::iequals(name, "api-key"))
      first(h.api_key, field.value());
    else if (name.size() == 9 && boost::beast::iequals(name, "x-api-key"))
      first(h.x_api_key, field.value());
    else if (name.size() == 17 && boost::beast::iequals(name, "x-switchyard-tags"))
      first(h.tags, field.value());
  }
  return h;
}

}  // namespace

bool admit_locally(Worker& worker, RequestContext& ctx, const core::Estimate& estimate);

bool authenticate(Worker& worker, const Request& request, RequestContext& ctx) {
  const Governance& governance = *worker.runtime.governance;
  const CallerHeaders headers = caller_headers(request);
  ctx.tags = std::string(headers.tags);
  if (!governance.authentication()) return true;
  const std::string_view credential =
      core::credential_from(headers.authorization, headers.x_api_key, headers.api_key);
  if (credential.empty()) {
    count(worker, metrics::AuthFailure::missing_api_key);
    ctx.failure = auth_error(
        "No API key was sent. Send a Switchyard key as 'Authorization: Bearer sk-sy-...', "
        "'x-api-key' or 'api-key'.",
        "missing_api_key");
    return false;
  }
  const core::AccountTable* table = governance.current(worker.accounts);
  if (const auto* known = worker.accounts.credentials.find(credential)) {
    ctx.key = *known;
    return true;
  }
  auto key = table ? table->find(sha256_of(credential)) : nullptr;
  if (!key) {
    count(worker, metrics::AuthFailure::invalid_api_key);
    ctx.failure = auth_error(
        governance.is_master_key(credential)
            ? "The master key administers the gateway and cannot call models: create a key "
              "for that (POST /admin/keys)."
            : "The API key is not valid.",
        "invalid_api_key");
    return false;
  }
  worker.accounts.credentials.remember(credential, key);
  ctx.key = std::move(key);
  return true;
}

bool admit_request(Worker& worker, RequestContext& ctx, const ModelRoute& group,
                   std::int64_t input_tokens, std::int64_t max_output_tokens) {
  if (!ctx.key) return true;
  const core::KeyEntry& key = *ctx.key;
  const core::WallTime now = wall_now();
  const core::TeamRecord* team = key.team ? &key.team->record : nullptr;
  switch (core::check_model_access(key.record, team, ctx.model, now)) {
    case core::AccessDenial::none:
      break;
    case core::AccessDenial::blocked:
      count(worker, metrics::AuthFailure::key_blocked);
      ctx.failure = auth_error("This API key is blocked.", "key_blocked");
      return false;
    case core::AccessDenial::expired:
      count(worker, metrics::AuthFailure::key_expired);
      ctx.failure = auth_error("This API key has expired.", "key_expired");
      return false;
    case core::AccessDenial::team_blocked:
      count(worker, metrics::AuthFailure::team_blocked);
      ctx.failure = auth_error("This API key's team is blocked.", "team_blocked");
      return false;
    case core::AccessDenial::wrong_role:
      count(worker, metrics::AuthFailure::invalid_api_key);
      ctx.failure = auth_error("This is an " + std::string(core::key_role_name(key.record.role)) +
                                   " key: it administers the gateway and cannot call models.",
                               "invalid_api_key");
      return false;
    case core::AccessDenial::model_not_allowed:
      count(worker, metrics::AuthFailure::model_not_allowed);
      ctx.failure =
          core::client_error(403, "The model '" + ctx.model + "' is not allowed for this key.",
                             "model", "model_not_allowed");
      return false;
  }
  const core::GovernanceConfig& config = worker.runtime.governance->config();
  const std::int64_t max_output =
      max_output_tokens > 0 ? max_output_tokens : config.default_max_output_tokens;
  const PricedEstimate priced = estimate_for(group, input_tokens, max_output);
  const bool budgeted = key.record.budget || (key.team && key.team->record.budget);
  if (budgeted && !priced.priced && !config.free_unpriced_models) {
    count(worker, metrics::AuthFailure::model_not_priced);
    ctx.failure = core::client_error(
        400,
        "The model '" + ctx.model +
            "' has no known price, so a key with a budget cannot use it (add a price to the "
            "model, or set governance.unpriced_models: free).",
        "model", "model_not_priced");
    return false;
  }
  if (worker.runtime.governance->shared_limits() != nullptr) {
    // Redis decides, in admit_shared; a key with no budget or limit has nothing to check.
    auto pending = std::make_shared<SharedAdmission>();
    core::shared_checks(key, ctx.model, priced.estimate, now, pending->checks);
    if (pending->checks.empty()) return true;
    pending->key = ctx.key;
    pending->estimate = priced.estimate;
    ctx.reserved_tokens = priced.estimate.tokens;
    ctx.shared = std::move(pending);
    return true;
  }
  return admit_locally(worker, ctx, priced.estimate);
}

net::awaitable<bool> admit_shared(Worker& worker, RequestContext& ctx) {
  SharedLimits& shared = *worker.runtime.governance->shared_limits();
  core::Refusal refusal;
  const SharedLimits::Verdict verdict =
      co_await shared.admit(worker.index, worker.ioc.get_executor(), ctx.shared, refusal);
  switch (verdict) {
    case SharedLimits::Verdict::admitted:
      write_rate_limit_headers(ctx.shared->rates, ctx.protocol, ctx.rate_limit_headers);
      co_return true;
    case SharedLimits::Verdict::refused:
      write_rate_limit_headers(ctx.shared->rates, ctx.protocol, ctx.rate_limit_headers);
      ctx.shared.reset();
      count(worker, refusal);
      ctx.failure = refusal_error(refusal, *ctx.key);
      co_return false;
    case SharedLimits::Verdict::unavailable:
      break;
  }
  const core::Estimate estimate = ctx.shared->estimate;
  ctx.shared.reset();
  if (shared.fail_open()) co_return admit_locally(worker, ctx, estimate);
  if (const metrics::GovernanceMetrics* g = worker.runtime.metrics->governance())
    g->shared_unavailable->add(worker.index, 1);
  core::GatewayError e = core::client_error(
      503,
      "Budgets and rate limits cannot be checked now: the gateway's shared state (Redis) does "
      "not answer. Try again shortly.",
      "", "limits_unavailable");
  e.type = "service_unavailable";
  e.retry_after = "1";
  ctx.failure = std::move(e);
  co_return false;
}

// This process's own counters decide (no Redis, or Redis down under fail_open).
bool admit_locally(Worker& worker, RequestContext& ctx, const core::Estimate& estimate) {
  const core::KeyEntry& key = *ctx.key;
  const core::WallTime now = wall_now();
  const core::SteadyTime steady = std::chrono::steady_clock::now();
  if (auto refused = core::admit(ctx.key, ctx.model, estimate, now, steady, ctx.admission)) {
    count(worker, *refused);
    ctx.failure = refusal_error(*refused, key);
    write_rate_limit_headers(core::rate_views(key, ctx.model, steady), ctx.protocol,
                             ctx.rate_limit_headers);
    return false;
  }
  ctx.reserved_tokens = estimate.tokens;
  // From the limiters just charged: the same views, without finding the levels again.
  write_rate_limit_headers(core::rate_views(ctx.admission, steady), ctx.protocol,
                           ctx.rate_limit_headers);
  return true;
}

void finish_request(Worker& worker, RequestContext& ctx, int status, double total_s) {
  Governance& governance = *worker.runtime.governance;
  const auto wall = std::chrono::system_clock::now();  // one clock read for both below
  const core::WallTime now = std::chrono::time_point_cast<std::chrono::seconds>(wall);
  const core::Micros cost = core::usd_to_micros(ctx.cost_usd);
  std::int64_t tokens = 0;
  if (ctx.usage) tokens = ctx.usage->prompt_tokens + ctx.usage->completion_tokens;
  if (ctx.admission.open &&
      core::settle(ctx.admission, cost, tokens, now, std::chrono::steady_clock::now()))
    soft_budget_crossed(worker, *ctx.key);
  if (ctx.shared && ctx.shared->admitted) {
    // Not awaited: the answer is out, and the settle rides the worker's Redis connection.
    std::function<void()> crossed = [&worker, key = ctx.key] { soft_budget_crossed(worker, *key); };
    governance.shared_limits()->settle(worker.ioc.get_executor(), std::move(ctx.shared), cost,
                                       tokens, std::move(crossed));
  }

  count_account(worker, ctx, status);

  // The row is written straight into its queue slot; the strings the request no longer needs
  // are moved into it (the access log line is written before this), the key's own fields are
  // copied on the writer thread.
  const std::int64_t latency_ms = static_cast<std::int64_t>(total_s * 1000);
  const std::int64_t arrived_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count() -
      latency_ms;
  governance.ledger().push(worker.index, [&](QueuedLedgerRow& queued) {
    core::LedgerRow& row = queued.row;
    queued.request_id_size = std::min(ctx.request_id.size(), queued.request_id.size());
    std::memcpy(queued.request_id.data(), ctx.request_id.data(), queued.request_id_size);
    row.time_ms = arrived_ms;
    queued.key = std::move(ctx.key);
    queued.header_tags = std::move(ctx.tags);
    queued.end_user = std::move(ctx.end_user);
    queued.metadata_tags = std::move(ctx.metadata_tags);
    row.model = ctx.route ? ctx.route->model->name : ctx.model;
    row.provider = ctx.target ? ctx.target->provider->name : std::string();
    // Every field is set: the slot holds what the writer left of the row before (moved from);
    // the key's fields are the writer's to fill.
    const core::Usage none{};
    const core::Usage& usage = ctx.usage ? *ctx.usage : none;
    row.input_tokens = usage.prompt_tokens;
    row.output_tokens = usage.completion_tokens;
    row.cached_tokens = usage.cached_prompt_tokens;
    row.cache_write_tokens = usage.cache_creation_tokens;
    row.reasoning_tokens = usage.reasoning_tokens;
    row.cost = cost;
    row.latency_ms = latency_ms;
    row.ttft_ms.reset();
    if (ctx.first_token)
      row.ttft_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(*ctx.first_token - ctx.start)
              .count();
    row.status = status;
    row.error = std::move(ctx.error);
  });
}

}  // namespace switchyard::proxy
