#pragma once
// OpenTelemetry tracing (issue 13), when the config has a tracing section: which requests are
// traced, the span id each upstream attempt gets (and sends on in its traceparent), and the
// exporter that sends finished requests' spans to the collector over OTLP/HTTP JSON.
//
// The request path only fills a slot of its worker's queue (no lock, no allocation once the
// slot's strings have their room); a full queue drops the request's spans and counts them.
// The exporter thread makes the spans (core/request_trace), encodes them (core/otlp_json) and
// POSTs them in batches, each within export_timeout_ms; a batch the collector did not take
// is dropped and counted, never retried into a backlog, so a slow or dead collector costs
// spans, not requests' time.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/exchange.hpp"
#include "core/config.hpp"
#include "core/request_trace.hpp"
#include "core/routing.hpp"
#include "metrics/metrics.hpp"
#include "proxy/net.hpp"
#include "proxy/request_context.hpp"
#include "proxy/spsc_ring.hpp"

namespace switchyard::proxy {

// Reads the client's trace context (a valid traceparent, a usable tracestate) into ctx and,
// when `tracing` is on, decides whether this request is traced: a client's traceparent decides
// by its sampled flag, a request without one by sample_ratio. A traced request gets ctx.span
// (its trace id, its own span id).
void start_request_trace(const core::TracingConfig& tracing, std::string_view traceparent,
                         std::string_view tracestate, RequestContext& ctx, core::Rng& rng);

// The traceparent and tracestate the provider gets: the client's, unchanged, when the request
// is not traced; a traced request's traceparent is each attempt's (begin_attempt_span).
void forward_trace_context(const RequestContext& ctx, adapters::ForwardedHeaders& forwarded);

// Starts an attempt's span: for a traced request a new span id, written into the traceparent
// the attempt sends, so the provider's spans hang under the attempt. Called before the
// attempt's upstream request is built.
AttemptSpan begin_attempt_span(const RequestContext& ctx, adapters::ForwardedHeaders& forwarded,
                               core::Rng& rng, bool hedge = false);

class TraceExporter {
 public:
  // `producers`: one queue each (the workers), of `queue_requests` requests.
  TraceExporter(const RouteTables& tables, std::size_t producers, std::size_t queue_requests,
                const metrics::TracingMetrics& metrics);
  ~TraceExporter();
  TraceExporter(const TraceExporter&) = delete;
  TraceExporter& operator=(const TraceExporter&) = delete;

  // A finished traced request (ctx.span set), from the thread that owns queue `producer`.
  void record(std::size_t producer, const RequestContext& ctx, int status, std::int64_t overhead_us,
              double ttft_ms);
  // Exports what is queued (one more round, within the export timeout) and stops.
  void close();
  // Copies the exporter's counts into the metrics (at each scrape).
  void refresh_metrics() const;

 private:
  using Ring = SpscRing<core::RequestTrace>;
  void run();
  // Drains every queue into spans and sends them; returns the requests taken.
  std::size_t export_round(const core::TracingConfig& config);
  void send(const core::TracingConfig& config, std::span<const core::SpanRecord> spans);
  // One POST on the exporter's own io_context; an empty string means the collector took it.
  std::string post(const core::TracingConfig& config, const std::string& body);
  net::awaitable<std::string> post_on_connection(const core::TracingConfig& config,
                                                 const std::string& body);

  const RouteTables& tables_;
  const metrics::TracingMetrics& metrics_;
  std::vector<std::unique_ptr<Ring>> rings_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;

  // The exporter thread's own.
  net::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;  // kept alive between exports
  std::string connected_to_;                 // the endpoint stream_ is connected to
  bool failing_ = false;                     // the last export failed (logged once per episode)
  std::atomic<std::uint64_t> spans_exported_{0};
  std::atomic<std::uint64_t> spans_failed_{0};
  std::atomic<std::uint64_t> exports_ok_{0};
  std::atomic<std::uint64_t> exports_failed_{0};
  std::thread thread_;  // last: it starts once the rest is built
};

}  // namespace switchyard::proxy
