#pragma once
// How one request crosses from the client's protocol to a provider's and back: which
// protocol a provider type speaks, the explicit table of provider types, the upstream request
// (path, auth headers, body), and the relays that carry the answer back, passing bytes
// through when both sides speak the same protocol and translating event by event otherwise.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/canonical.hpp"
#include "adapters/openai.hpp"
#include "core/config.hpp"

namespace switchyard::adapters {

// What the client asked for, by front door.
enum class Operation { generate, count_tokens, embeddings };

// One row per provider type: the protocol its generation endpoint speaks and what else it has.
struct ProviderKind {
  std::string_view type;
  Protocol wire;
  bool native_responses;     // serves /responses itself (OpenAI)
  bool native_count_tokens;  // serves /v1/messages/count_tokens (Anthropic)
  bool embeddings;           // serves OpenAI-style /embeddings
  bool in_process = false;   // the gateway's own mock: answered without a socket
};

// The provider type's row; nullptr for an unknown type (the config refuses those).
const ProviderKind* find_provider_kind(std::string_view type);

// The protocol the upstream speaks for this client protocol: the client's own when the
// provider serves it natively (bytes pass through), else the provider's wire protocol.
Protocol upstream_protocol(Protocol client, const ProviderKind& kind);

// Client headers that travel to the provider when it speaks their protocol.
struct ForwardedHeaders {
  std::string anthropic_version;  // empty: the gateway's default
  std::string anthropic_beta;
  // W3C trace context, to every provider type, so a client's trace continues through the
  // gateway (core/trace_context.hpp); empty: not sent.
  std::string traceparent;
  std::string tracestate;
};

// The request to send: `protocol` is upstream_protocol(); `body` is already in that protocol.
// An active health check: GET of the provider's health_check_path under its base path, with
// its authentication and extra headers.
UpstreamRequest health_check_request(const core::ProviderConfig& provider, std::string_view api_key,
                                     std::string_view base_path);
// `api_key` is the key of the provider's pool this attempt uses (may be empty).
UpstreamRequest build_upstream_request(const core::ProviderConfig& provider,
                                       std::string_view api_key, std::string_view base_path,
                                       Operation operation, Protocol protocol,
                                       std::string_view upstream_model, bool stream,
                                       std::string body, std::string_view request_id,
                                       const ForwardedHeaders& forwarded);

// The HTTP/1.1 head of an upstream request: request line, Host, User-Agent, Content-Length
// (of request.body), then request.headers in order. Written directly rather than through a
// generic serializer (cheaper per request); no value is checked for CR or LF because every
// one comes from the config (which refuses them), the adapters, or a client header Beast's
// parser already accepted.
std::string format_upstream_head(const UpstreamRequest& request, std::string_view host_header,
                                 std::string_view user_agent);

// --- Requests ---
Decoded<Request> decode_request(Protocol client, std::string_view body);

// Fits a translated request's reasoning settings to the target model. A model that does not
// accept them (ModelConfig::reasoning) gets none: OpenAI refuses reasoning_effort on other
// models, and Claude Code asks for thinking on every request. A model that does gets both
// forms, so each encoder finds the one its protocol has: an effort from a thinking budget
// (up to 2,048 tokens low, up to 8,192 medium, more high) and a budget from an effort
// (low 1,024, medium 4,096, high 16,384, xhigh 24,576; minimal and none think not at all).
// No provider defines this mapping.
void fit_reasoning(Request& request, bool model_accepts_reasoning);
std::string encode_request(Protocol upstream, const Request& request,
                           std::string_view upstream_model, const core::ProviderConfig& provider);

// --- Whole answers ---
// What a translated answer says that the upstream's may not: the model the gateway sent
// upstream (route.model->upstream_model), named when the upstream's answer names none, and
// the request's time in unix seconds, for `created` / `created_at` when the upstream's
// answer has none (Anthropic and Gemini answers carry no time).
struct AnswerDefaults {
  std::string_view upstream_model;
  std::int64_t created = 0;
};
// A successful upstream body in the client's protocol, and its usage. `request` is the
// client's decoded request (translation only; it may be null when passing through). The
// answer's model is the one the upstream reported, else `defaults.upstream_model`; a
// pass-through body is returned unchanged (it already carries the upstream's model).
struct TranslatedBody {
  std::string body;
  std::optional<core::Usage> usage;
};
Decoded<TranslatedBody> translate_response(Protocol client, Protocol upstream, std::string body,
                                           const Request* request,
                                           const AnswerDefaults& defaults = {});
// Usage of a response body in its own protocol (pass-through).
std::optional<core::Usage> extract_usage(Protocol protocol, std::string_view body);

// --- Errors ---
// An upstream error body, understood whatever its protocol.
core::GatewayError decode_upstream_error(Protocol upstream, int status, std::string_view body);
// An upstream's error answer for the client: status and body. With the same protocol on both
// sides the provider's body is kept (Claude Code reads Anthropic's wording to recover; an
// OpenAI-shaped body passes as is, anything else is wrapped in the client's error shape).
std::pair<int, std::string> upstream_error_response(Protocol client, Protocol upstream, int status,
                                                    std::string_view body);
// A whole error response body in the client's protocol.
std::string encode_error_body(Protocol client, const core::GatewayError& error);
// An error after the stream started: a well-formed in-band error event of the client's protocol.
std::string encode_stream_error(Protocol client, const core::GatewayError& error);
// The status a client of this protocol gets for an error (529 stays 529 for Anthropic
// clients; OpenAI clients get 503 for it).
int error_status_for(Protocol client, int status);

// --- Streams ---
// Why a relay ended the client's stream on the upstream's account (the pipeline counts it).
enum class RelayFault {
  none,
  oversized,       // a line or event over max_event_bytes
  truncated,       // the upstream body ended before the stream's final event
  bad_event,       // an event the upstream's protocol does not allow (wrong JSON types)
  upstream_error,  // the provider reported an error inside its stream
};

// Carries one streamed answer from the upstream to the client, read by read.
class StreamRelay {
 public:
  virtual ~StreamRelay() = default;
  // Bytes of the upstream body as they arrived; returns the bytes to write to the client now
  // (valid until the next call). Never holds a complete event back; a line is forwarded once
  // it is whole. After a fault the returned bytes end with the client's in-band error, and
  // nothing more is read.
  virtual std::string_view on_data(std::string_view piece) = 0;
  // The upstream body ended normally: whatever the client's protocol needs to end the stream,
  // or its in-band error when the upstream never sent the stream's final event (truncated).
  virtual std::string_view on_end() = 0;
  // The upstream failed after the stream started: an in-band error for the client.
  virtual std::string_view on_error(const core::GatewayError& error) = 0;
  // The upstream has been silent a while: bytes that keep the client's idle watchdog waiting
  // without changing the answer (its protocol's keep-alive; a comment line when the client
  // holds part of an event). Empty when none can go now.
  virtual std::string_view keepalive() = 0;
  const std::optional<core::Usage>& usage() const { return usage_; }
  RelayFault fault() const { return fault_; }
  // An upstream event carried part of the answer (text, reasoning, a tool call, its end or an
  // error), not only the stream's opening (a role-only chunk, message_start, a ping): what
  // first_token_timeout_ms and hedging wait for.
  // Only tracked when asked (the check costs on the stream's first events, and only a held
  // head needs it): StreamContext::track_answer_start.
  bool answer_started() const { return answer_started_; }

 protected:
  std::optional<core::Usage> usage_;
  RelayFault fault_ = RelayFault::none;
  bool answer_started_ = false;
  bool track_answer_start_ = false;

  friend std::unique_ptr<StreamRelay> make_stream_relay(const struct StreamContext& context);
};

struct StreamContext {
  Protocol client = Protocol::openai_chat;
  Protocol upstream = Protocol::openai_chat;
  bool client_wants_usage = false;  // OpenAI chat clients: stream_options.include_usage
  std::string id;                   // for translated streams: the answer's id
  // For translated streams: the model sent upstream (route.model->upstream_model). The
  // client's stream names the model the upstream reports in its first event that carries one
  // (OpenAI's chunk model, Anthropic's message.model, Gemini's modelVersion); a frame that
  // must name it before then names this one. No byte waits for the upstream's.
  std::string model;
  std::int64_t created = 0;                // the request's time, unix seconds
  std::shared_ptr<const Request> request;  // the decoded client request, when translating
  std::size_t max_event_bytes = 4u << 20;  // ServerConfig::max_upstream_event_bytes
  // ServerConfig::max_upstream_body_bytes: what a translated stream may keep of the answer
  // (a Responses client's final event repeats the whole answer, so its encoder keeps it).
  std::size_t max_kept_bytes = 32u << 20;
  // Tell when the answer itself begins (StreamRelay::answer_started): for a held head.
  bool track_answer_start = false;
};

// The in-band errors a relay ends a stream with on the upstream's account.
core::GatewayError event_too_large_error(std::size_t max_event_bytes);
core::GatewayError answer_too_large_error(std::size_t max_bytes);
core::GatewayError stream_truncated_error();
std::unique_ptr<StreamRelay> make_stream_relay(const StreamContext& context);

}  // namespace switchyard::adapters
