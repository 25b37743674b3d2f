#include "core/request_trace.hpp"

#include <algorithm>

namespace switchyard::core {

namespace {

void add(std::vector<SpanAttribute>& a, std::string_view key, std::string_view value) {
  a.push_back({std::string(key), std::string(value)});
}
void add(std::vector<SpanAttribute>& a, std::string_view key, std::int64_t value) {
  a.push_back({std::string(key), value});
}
void add(std::vector<SpanAttribute>& a, std::string_view key, double value) {
  a.push_back({std::string(key), value});
}
void add_flag(std::vector<SpanAttribute>& a, std::string_view key, bool value) {
  a.push_back({std::string(key), value});
}

std::string span_name(std::string_view operation, std::string_view model) {
  std::string name(operation);
  if (!model.empty()) {
    name += ' ';
    name += model;
  }
  return name;
}

SpanRecord attempt_span(const RequestTrace& r, const AttemptTrace& t) {
  SpanRecord s;
  s.trace_id = r.trace_id;
  s.span_id = t.span_id;
  s.parent_span_id = r.span_id;
  s.trace_state = r.trace_state;
  s.name = span_name(r.operation, t.model);
  s.kind = SpanKind::client;
  s.start_unix_nano = t.start_unix_nano;
  s.end_unix_nano = t.end_unix_nano;
  auto& a = s.attributes;
  a.reserve(10);
  add(a, "gen_ai.operation.name", r.operation);
  add(a, "gen_ai.provider.name", genai_provider_name(t.provider_type, t.provider));
  add(a, "gen_ai.request.model", t.model);
  if (!t.server_address.empty()) {
    add(a, "server.address", t.server_address);
    if (t.server_port > 0) add(a, "server.port", std::int64_t{t.server_port});
  }
  if (t.status > 0) add(a, "http.response.status_code", std::int64_t{t.status});
  add(a, "switchyard.provider", t.provider);
  add(a, "switchyard.attempt.outcome", t.outcome);
  if (t.hedge) add_flag(a, "switchyard.hedge", true);
  if (t.outcome != "success" && t.outcome != "hedge_lost") {
    add(a, "error.type", t.outcome);
    s.status = SpanStatus::error;
  }
  return s;
}

}  // namespace

std::string_view genai_provider_name(std::string_view provider_type, std::string_view provider) {
  if (provider_type == "openai") return "openai";
  if (provider_type == "anthropic") return "anthropic";
  if (provider_type == "gemini") return "gcp.gemini";
  if (provider_type == "azure") return "azure.ai.openai";
  return provider;
}

void append_request_spans(const RequestTrace& r, std::vector<SpanRecord>& out) {
  const std::size_t attempts = std::min(r.tried_count, r.tried.size());
  out.reserve(out.size() + 1 + attempts);
  SpanRecord s;
  s.trace_id = r.trace_id;
  s.span_id = r.span_id;
  s.parent_span_id = r.parent_span_id;
  s.trace_state = r.trace_state;
  s.name = span_name(r.operation, r.request_model);
  s.kind = SpanKind::server;
  s.start_unix_nano = r.start_unix_nano;
  s.end_unix_nano = r.end_unix_nano;
  // The attempt that answered (the last successful one), for the provider and response model.
  const AttemptTrace* served = nullptr;
  for (std::size_t i = 0; i < attempts; ++i)
    if (r.tried[i].outcome == "success") served = &r.tried[i];
  const AttemptTrace* last = attempts > 0 ? &r.tried[attempts - 1] : nullptr;
  auto& a = s.attributes;
  a.reserve(24);
  add(a, "gen_ai.operation.name", r.operation);
  if (const AttemptTrace* t = served ? served : last)
    add(a, "gen_ai.provider.name", genai_provider_name(t->provider_type, t->provider));
  if (!r.request_model.empty()) add(a, "gen_ai.request.model", r.request_model);
  if (served) add(a, "gen_ai.response.model", served->model);
  if (r.has_usage) {
    add(a, "gen_ai.usage.input_tokens", r.input_tokens);
    add(a, "gen_ai.usage.output_tokens", r.output_tokens);
    if (r.cached_input_tokens > 0)
      add(a, "gen_ai.usage.cache_read.input_tokens", r.cached_input_tokens);
    if (r.cache_creation_input_tokens > 0)
      add(a, "gen_ai.usage.cache_creation.input_tokens", r.cache_creation_input_tokens);
    add(a, "switchyard.cost_usd", r.cost_usd);
  }
  add(a, "http.request.method", r.method);
  add(a, "url.path", r.path);
  add(a, "http.response.status_code", std::int64_t{r.status});
  add(a, "switchyard.request_id", r.request_id);
  add(a, "switchyard.protocol", r.protocol);
  if (!r.routed_model.empty() && r.routed_model != r.request_model)
    add(a, "switchyard.routed_model", r.routed_model);
  if (!r.fallback_from.empty()) add(a, "switchyard.fallback_from", r.fallback_from);
  add_flag(a, "switchyard.stream", r.stream);
  add(a, "switchyard.overhead_ms", r.overhead_ms);
  if (r.time_to_first_token_ms)
    add(a, "switchyard.time_to_first_token_ms", *r.time_to_first_token_ms);
  add(a, "switchyard.attempts", std::int64_t{r.attempts});
  if (!r.key_alias.empty()) add(a, "switchyard.key_alias", r.key_alias);
  if (!r.team.empty()) add(a, "switchyard.team", r.team);
  // HTTP's convention for a server span: a 5xx is the server's error, a 4xx the client's (not
  // an error of this span); a client that left is counted as an error so it can be found.
  if (r.status >= 500 || r.status == 499) {
    s.status = SpanStatus::error;
    s.status_message = r.error;
    add(a, "error.type", r.error.empty() ? std::to_string(r.status) : r.error);
  } else if (!r.error.empty()) {
    add(a, "switchyard.error", r.error);  // a refused request: the client's error, not this span's
  }
  out.push_back(std::move(s));
  for (std::size_t i = 0; i < attempts; ++i) out.push_back(attempt_span(r, r.tried[i]));
}

}  // namespace switchyard::core
