#include "proxy/tracing.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iostream>

#include "adapters/upstream_endpoint.hpp"
#include "core/otlp_json.hpp"
#include "proxy/route_table.hpp"

namespace switchyard::proxy {

namespace {

constexpr std::size_t kTraceparentSize = 55;
constexpr std::size_t kMaxAnswerBytes = 64 << 10;  // a collector's answer is a few bytes
constexpr std::chrono::milliseconds kPoll{100};    // how often queues are looked at for a batch

std::string_view operation_name(adapters::Operation operation) {
  switch (operation) {
    case adapters::Operation::generate:
      return "chat";
    case adapters::Operation::embeddings:
      return "embeddings";
    case adapters::Operation::count_tokens:
      return "count_tokens";
  }
  return "chat";
}

std::string_view protocol_name(adapters::Protocol protocol) {
  switch (protocol) {
    case adapters::Protocol::openai_chat:
      return "openai_chat";
    case adapters::Protocol::openai_responses:
      return "openai_responses";
    case adapters::Protocol::anthropic_messages:
      return "anthropic_messages";
    case adapters::Protocol::gemini:
      return "gemini";
  }
  return "openai_chat";
}

std::int64_t unix_nanos(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

void write_span_traceparent(std::string& out, const core::TraceContext& context) {
  out.resize(kTraceparentSize);
  core::write_traceparent(out.data(), context);
}

}  // namespace

void start_request_trace(const core::TracingConfig& tracing, std::string_view traceparent,
                         std::string_view tracestate, RequestContext& ctx, core::Rng& rng) {
  // A traceparent that is not one is dropped, as the specification asks (a new trace starts).
  if (!traceparent.empty()) {
    if (const auto parent = core::parse_traceparent(traceparent)) {
      ctx.trace_parent = *parent;
      if (!tracestate.empty() && core::usable_tracestate(tracestate)) ctx.trace_state = tracestate;
    }
  }
  if (!tracing.enabled) return;
  core::TraceContext own;
  bool sampled = false;
  if (ctx.trace_parent) {
    // Parent-based: the client's decision holds for its whole trace.
    own.trace_id = ctx.trace_parent->trace_id;
    own.flags = ctx.trace_parent->flags;
    sampled = ctx.trace_parent->sampled();
  } else {
    const std::uint64_t high = rng.next_u64();
    own.trace_id = core::make_trace_id(high, rng.next_u64());
    sampled = core::sample_trace(own.trace_id, tracing.sample_ratio);
    own.flags = sampled ? 0x01 : 0x00;
  }
  if (!sampled) return;
  own.span_id = core::make_span_id(rng.next_u64());
  ctx.span = own;
}

void forward_trace_context(const RequestContext& ctx, adapters::ForwardedHeaders& forwarded) {
  if (!ctx.span && !ctx.trace_parent) return;
  // A traced request's traceparent is written per attempt (begin_attempt_span).
  if (!ctx.span) write_span_traceparent(forwarded.traceparent, *ctx.trace_parent);
  forwarded.tracestate = ctx.trace_state;
}

AttemptSpan begin_attempt_span(const RequestContext& ctx, adapters::ForwardedHeaders& forwarded,
                               core::Rng& rng, bool hedge) {
  if (!ctx.span) return {};
  AttemptSpan span;
  span.id = core::make_span_id(rng.next_u64());
  span.start = Clock::now();
  span.hedge = hedge;
  core::TraceContext sent = *ctx.span;
  sent.span_id = span.id;
  write_span_traceparent(forwarded.traceparent, sent);
  return span;
}

TraceExporter::TraceExporter(const RouteTables& tables, std::size_t producers,
                             std::size_t queue_requests, const metrics::TracingMetrics& metrics)
    : tables_(tables), metrics_(metrics) {
  for (std::size_t i = 0; i < producers; ++i)
    rings_.push_back(std::make_unique<Ring>(queue_requests));
  thread_ = std::thread([this] { run(); });
}

TraceExporter::~TraceExporter() { close(); }

void TraceExporter::record(std::size_t producer, const RequestContext& ctx, int status,
                           std::int64_t overhead_us, double ttft_ms) {
  const std::size_t attempts = std::min(ctx.tried_count, core::RequestTrace::kMaxAttempts);
  // One reading of both clocks turns the request's steady times into Unix times.
  const auto wall_now = std::chrono::system_clock::now();
  const auto steady_now = Clock::now();
  auto unix_of = [&](Clock::time_point t) {
    return unix_nanos(
        wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(steady_now - t));
  };
  const bool queued = rings_[producer]->try_fill([&](core::RequestTrace& t) {
    // Every field is set: the slot holds the request this ring carried a lap ago.
    const core::TraceContext& span = *ctx.span;
    t.trace_id = span.trace_id;
    t.span_id = span.span_id;
    t.parent_span_id.reset();
    if (ctx.trace_parent) t.parent_span_id = ctx.trace_parent->span_id;
    t.trace_state = ctx.trace_state;
    t.start_unix_nano = unix_of(ctx.start);
    t.end_unix_nano = unix_of(ctx.finished.value_or(steady_now));
    t.operation = operation_name(ctx.operation);
    t.protocol = protocol_name(ctx.protocol);
    t.method = ctx.method;
    t.path = ctx.path;
    t.status = status;
    t.request_id = ctx.request_id;
    t.request_model = ctx.model;
    t.routed_model.clear();
    if (ctx.route) t.routed_model = ctx.route->model->name;
    t.fallback_from = ctx.fallback_from;
    t.stream = ctx.stream;
    t.has_usage = ctx.usage.has_value();
    const core::Usage usage = ctx.usage.value_or(core::Usage{});
    t.input_tokens = usage.prompt_tokens;
    t.output_tokens = usage.completion_tokens;
    t.cached_input_tokens = usage.cached_prompt_tokens;
    t.cache_creation_input_tokens = usage.cache_creation_tokens;
    t.cost_usd = ctx.cost_usd;
    t.overhead_ms = static_cast<double>(overhead_us) / 1000.0;
    t.time_to_first_token_ms.reset();
    if (ttft_ms >= 0) t.time_to_first_token_ms = ttft_ms;
    t.attempts = ctx.attempts;
    t.error = ctx.error;
    t.key_alias.clear();
    t.team.clear();
    if (ctx.key) {
      t.key_alias = ctx.key->record.alias;
      t.team = ctx.key->record.team_id;
    }
    t.tried_count = attempts;
    for (std::size_t i = 0; i < attempts; ++i) {
      const RequestContext::AttemptRecord& a = ctx.tried[i];
      core::AttemptTrace& out = t.tried[i];
      out.span_id = a.span.id;
      out.start_unix_nano = unix_of(a.span.start);
      out.end_unix_nano = unix_of(a.end);
      out.provider = a.target->provider->name;
      out.provider_type = a.target->provider->type;
      out.model = a.target->config->upstream_model;
      out.server_address = a.target->endpoint.host;
      const std::string& port = a.target->endpoint.port;
      out.server_port = 0;
      std::from_chars(port.data(), port.data() + port.size(), out.server_port);
      out.outcome = metrics::attempt_outcome_name(a.outcome);
      out.status = a.status;
      out.hedge = a.span.hedge;
    }
  });
  if (!queued) metrics_.dropped_queue_full->add(producer, static_cast<double>(1 + attempts));
}

void TraceExporter::refresh_metrics() const {
  metrics_.exported->set(static_cast<double>(spans_exported_.load(std::memory_order_relaxed)));
  metrics_.dropped_export_failed->set(
      static_cast<double>(spans_failed_.load(std::memory_order_relaxed)));
  metrics_.exports_success->set(static_cast<double>(exports_ok_.load(std::memory_order_relaxed)));
  metrics_.exports_failure->set(
      static_cast<double>(exports_failed_.load(std::memory_order_relaxed)));
}

void TraceExporter::run() {
  auto last_export = Clock::now();
  for (;;) {
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kPoll, [this] { return stopping_; });
      stopping = stopping_;
    }
    const std::shared_ptr<const RouteTable> table = tables_.current();
    const core::TracingConfig& config = table->config.tracing;
    // A batch goes out when the interval has passed or a queue holds a batch already.
    std::size_t fullest = 0;
    for (const auto& ring : rings_) fullest = std::max(fullest, ring->size());
    const auto now = Clock::now();
    if (stopping || fullest >= config.batch_spans || now - last_export >= config.export_interval) {
      last_export = now;
      export_round(config);
    }
    if (stopping) return;
  }
}

std::size_t TraceExporter::export_round(const core::TracingConfig& config) {
  // Every queue is emptied first, at once: a queue is full again only once its worker has
  // refilled it, however long the collector then takes.
  std::vector<core::SpanRecord> spans;
  std::vector<std::size_t> request_ends;  // where each request's spans end in `spans`
  for (auto& ring : rings_) {
    ring->drain([&](core::RequestTrace& t) {
      core::append_request_spans(t, spans);
      request_ends.push_back(spans.size());
    });
  }
  // batch_spans requests per export, so each body stays bounded.
  std::size_t begin = 0;
  for (std::size_t i = config.batch_spans; begin < spans.size(); i += config.batch_spans) {
    const std::size_t end = i <= request_ends.size() ? request_ends[i - 1] : spans.size();
    send(config, std::span<const core::SpanRecord>(spans).subspan(begin, end - begin));
    begin = end;
  }
  return request_ends.size();
}

void TraceExporter::send(const core::TracingConfig& config,
                         std::span<const core::SpanRecord> spans) {
  core::TraceResource resource;
  resource.service_name = config.service_name;
  resource.service_version = SWITCHYARD_VERSION;
  for (const auto& [key, value] : config.resource_attributes)
    resource.attributes.push_back({key, value});
  const std::string body =
      core::encode_otlp_traces(resource, "switchyard", SWITCHYARD_VERSION, spans);
  const std::string failure = post(config, body);
  if (failure.empty()) {
    spans_exported_.fetch_add(spans.size(), std::memory_order_relaxed);
    exports_ok_.fetch_add(1, std::memory_order_relaxed);
    if (failing_) std::cerr << "switchyard: tracing: exports to the collector succeed again\n";
    failing_ = false;
  } else {
    spans_failed_.fetch_add(spans.size(), std::memory_order_relaxed);
    exports_failed_.fetch_add(1, std::memory_order_relaxed);
    // Once per episode: a dead collector would otherwise write a line every interval.
    if (!failing_)
      std::cerr << "switchyard: tracing: export failed (" << failure
                << "); spans are dropped and counted in switchyard_trace_spans_dropped_total "
                   "until the collector takes them\n";
    failing_ = true;
  }
}

std::string TraceExporter::post(const core::TracingConfig& config, const std::string& body) {
  std::string failure;
  net::co_spawn(ioc_, post_on_connection(config, body),
                [&failure](const std::exception_ptr& error, std::string result) {
                  failure = error ? "unexpected error" : std::move(result);
                });
  ioc_.restart();
  ioc_.run();
  if (!failure.empty()) stream_.reset();  // a connection that failed is not reused
  return failure;
}

net::awaitable<std::string> TraceExporter::post_on_connection(const core::TracingConfig& config,
                                                              const std::string& body) {
  auto endpoint = adapters::parse_endpoint(config.endpoint);
  if (!endpoint) co_return "the endpoint cannot be used: " + endpoint.error();
  const adapters::UpstreamEndpoint& to = endpoint.value();
  const std::string_view path =
      std::string_view(config.endpoint)
          .substr(config.endpoint.find('/', config.endpoint.find("//") + 2));
  constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
  if (stream_ && connected_to_ != to.pool_key) stream_.reset();
  if (!stream_) {
    tcp::resolver resolver(ioc_);
    auto [rec, results] = co_await resolver.async_resolve(to.host, to.port, kAsTuple);
    if (rec) co_return "cannot resolve " + to.host + ": " + rec.message();
    stream_.emplace(ioc_);
    stream_->expires_after(config.export_timeout);
    auto [cec, ep] = co_await stream_->async_connect(results, kAsTuple);
    if (cec) co_return "cannot connect to " + to.host_header + ": " + cec.message();
    stream_->socket().set_option(tcp::no_delay(true));
    connected_to_ = to.pool_key;
  }
  http::request<http::string_body> request{http::verb::post, path, 11};
  request.set(http::field::host, to.host_header);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::user_agent, "switchyard/" SWITCHYARD_VERSION);
  for (const auto& [name, value] : config.headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  stream_->expires_after(config.export_timeout);
  auto [wec, wn] = co_await http::async_write(*stream_, request, kAsTuple);
  if (wec) co_return "cannot send to " + to.host_header + ": " + wec.message();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  auto [rec, rn] = co_await http::async_read(*stream_, buffer, parser, kAsTuple);
  if (rec) co_return "no answer from " + to.host_header + ": " + rec.message();
  stream_->expires_never();
  const auto& answer = parser.get();
  if (!answer.keep_alive()) stream_.reset();
  const unsigned status = answer.result_int();
  if (status < 200 || status > 299)
    co_return "the collector at " + to.host_header + " answered " + std::to_string(status);
  co_return std::string();
}

void TraceExporter::close() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

}  // namespace switchyard::proxy
