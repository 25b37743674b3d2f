#pragma once
// Everything one request accumulates on its way through the phases; on_log reads it once.
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/canonical.hpp"
#include "adapters/exchange.hpp"
#include "core/account_table.hpp"
#include "core/gateway_error.hpp"
#include "core/trace_context.hpp"
#include "core/upstream_failure.hpp"
#include "core/usage.hpp"
#include "proxy/net.hpp"
#include "proxy/runtime.hpp"

namespace switchyard::proxy {

struct SharedAdmission;  // proxy/shared_limits.hpp

// An upstream attempt's trace span (proxy/tracing.hpp): its id (zero when the request is not
// traced) and when it started.
struct AttemptSpan {
  core::SpanId id{};
  Clock::time_point start{};
  bool hedge = false;  // the second attempt of a hedged race
};

struct RequestContext {
  // The route table the request started with (the session pins it until the request ends).
  const RouteTable* table = nullptr;
  std::string request_id;
  // The client's W3C traceparent, when it sent a valid one (model requests), and its
  // tracestate when usable.
  std::optional<core::TraceContext> trace_parent;
  std::string trace_state;
  // This request's own span when it is traced (tracing on, and sampled): the client's trace
  // id or a new one, and its span id (proxy/tracing.hpp).
  std::optional<core::TraceContext> span;
  std::string path;
  std::string method;  // empty when the request line could not be read
  // A request to a model endpoint (a front door, any method): only those count in the
  // request metrics.
  bool model_traffic = false;
  Clock::time_point start = Clock::now();
  Clock::duration upstream_time{};               // time spent waiting on the upstream
  std::optional<Clock::time_point> first_token;  // first body event sent to the client
  std::optional<Clock::time_point> finished;

  // The client's protocol: errors are answered in its shape.
  adapters::Protocol protocol = adapters::Protocol::openai_chat;
  adapters::Operation operation = adapters::Operation::generate;
  std::string model;                       // as the client sent it
  const ModelRoute* route = nullptr;       // the model group that served (or was tried last)
  const TargetRoute* target = nullptr;     // its target of the last attempt
  int attempts = 0;                        // upstream attempts made
  std::string fallback_from;               // the model the client asked for, when a fallback served
  std::optional<std::size_t> router_rule;  // the router rule that chose the model
  // Each attempt's target and how it ended, for the access log (the first kMaxLoggedAttempts).
  struct AttemptRecord {
    const ModelRoute* group = nullptr;
    const TargetRoute* target = nullptr;
    metrics::AttemptOutcome outcome = metrics::AttemptOutcome::success;
    // For its trace span.
    AttemptSpan span;
    Clock::time_point end{};
    int status = 0;  // the provider's HTTP status, 0 when none came
  };
  static constexpr std::size_t kMaxLoggedAttempts = 8;
  std::array<AttemptRecord, kMaxLoggedAttempts> tried{};
  std::size_t tried_count = 0;
  void record_attempt(const ModelRoute* group, const TargetRoute* target,
                      metrics::AttemptOutcome outcome, const AttemptSpan& span = {},
                      int status = 0) {
    if (tried_count < tried.size())
      tried[tried_count++] = {
          group,
          target,
          outcome,
          span,
          span.start == Clock::time_point{} ? Clock::time_point{} : Clock::now(),
          status};
  }
  bool stream = false;
  int status = 0;
  std::optional<core::Usage> usage;
  double cost_usd = 0;
  std::size_t bytes_in = 0;
  std::size_t bytes_out = 0;
  std::string error;  // short reason code when the request failed
  // Set by a phase that fails before anything was written; the session turns it into the
  // response (on_error). Kept here rather than written at each failure site: each error
  // value named inside a coroutine would take room in its frame for the whole request.
  std::optional<core::GatewayError> failure;
  // The last attempt's failure when every attempt failed: the session writes it (the
  // upstream's own error body, translated from `upstream_protocol`, for a status failure).
  std::optional<core::UpstreamFailure> upstream_failure;
  adapters::Protocol upstream_protocol = adapters::Protocol::openai_chat;
  bool client_gone = false;

  // Governance (issue 12): the key the request came with and what it reserved (settled when
  // it ends), the x-ratelimit-* fields its answer carries, and its x-switchyard-tags.
  std::shared_ptr<const core::KeyEntry> key;
  core::Admission admission;
  // With budgets and limits shared through Redis: what this request checks there, set by
  // admit_request and charged by admit_shared; settled by finish_request.
  std::shared_ptr<SharedAdmission> shared;
  std::int64_t reserved_tokens = 0;
  std::string rate_limit_headers;  // each field preceded by CRLF, ready for the head
  std::string tags;
  // From the body (core::ChatRequest): the end user it names and its metadata's tags.
  std::string end_user;
  std::vector<std::string> metadata_tags;

  std::int64_t overhead_us(Clock::time_point now) const {
    auto own = (now - start) - upstream_time;
    if (own.count() < 0) own = Clock::duration::zero();
    return std::chrono::duration_cast<std::chrono::microseconds>(own).count();
  }
};

// Measures a span of upstream waiting into ctx.upstream_time.
class UpstreamTimer {
 public:
  explicit UpstreamTimer(RequestContext& ctx) : ctx_(ctx), begin_(Clock::now()) {}
  ~UpstreamTimer() { ctx_.upstream_time += Clock::now() - begin_; }
  UpstreamTimer(const UpstreamTimer&) = delete;
  UpstreamTimer& operator=(const UpstreamTimer&) = delete;

 private:
  RequestContext& ctx_;
  Clock::time_point begin_;
};

}  // namespace switchyard::proxy
