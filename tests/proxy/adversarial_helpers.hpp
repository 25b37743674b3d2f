#pragma once
// Shared pieces of the adversarial suite (test_adversarial.cpp): a gateway in front of a
// HostileUpstream, streams run alongside an attack to prove it leaves them alone, raw socket
// clients that misbehave on purpose, and readers for each protocol's answers and errors.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/proxy/gateway_fixture.hpp"
#include "tests/support/hostile_upstream.hpp"

namespace switchyard::testing {

inline constexpr std::size_t kMiB = 1024 * 1024;

// The hostile upstream first (its port goes into the config), then a gateway with one
// provider of each wire protocol in front of it:
//   hostile-chat   -> hostile-openai     (openai_compatible: OpenAI Chat)
//   hostile-resp   -> hostile-native     (openai: native Responses)
//   hostile-claude -> hostile-anthropic  (anthropic: Messages)
//   hostile-gemini -> hostile-google     (gemini)
// `provider_extra` is spliced into each of those provider entries (flow style, e.g.
// ", idle_timeout_ms: 2000").
GatewayOptions with_hostile_providers(GatewayOptions options, std::uint16_t hostile_port,
                                      std::string_view provider_extra);
struct HostileGateway {
  explicit HostileGateway(GatewayOptions options = {}, std::string_view provider_extra = {})
      : gw(with_hostile_providers(std::move(options), upstream.port(), provider_extra)) {}
  HostileUpstream upstream;  // declared first: it must listen before the gateway starts
  GatewayFixture gw;
};

// ---------------------------------------------------------------------------------------------
// Front doors and the answers a client sees.

enum class Door { chat, messages, responses };
std::string_view door_name(Door door);
std::string_view door_path(Door door);
// A minimal request for `door` whose single user turn is `text` (tests plant a marker in it).
std::string door_body(Door door, std::string_view model, std::string_view text, bool stream,
                      std::string_view extra = {});
HttpHeaders door_headers(Door door);

struct SseEvent {
  std::string name;  // "" for data-only events
  std::string data;  // data lines joined with '\n'
};
std::vector<SseEvent> parse_sse(std::string_view body);

struct Answer {
  int status = 0;
  std::string content_type;
  std::string retry_after;
  std::string body;
  std::vector<SseEvent> events;  // when the answer was an event stream
  std::string failure;           // the client could not read an answer (message), else ""
};
// Sends one request through `door`, reading a stream to its end. Never throws: a client-side
// failure is reported in `failure`.
Answer call(std::uint16_t port, Door door, std::string_view model, std::string_view text,
            bool stream, std::string_view extra = {},
            std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The error a non-stream answer carries in `door`'s shape: OpenAI {"error":{message,type,param,
// code}} or Anthropic {"type":"error","error":{type,message}}. Empty `shape_problem` when the
// body has the shape.
struct ErrorBody {
  std::string type;
  std::string code;  // OpenAI shape only
  std::string message;
  std::string shape_problem;
};
ErrorBody read_error_body(Door door, std::string_view body);

// The in-band error a stream ended with, in `door`'s terms: Chat `data: {"error":...}`,
// Messages `event: error`, Responses `event: response.failed`. nullopt when the stream's last
// event is no error.
std::optional<ErrorBody> stream_error(Door door, const std::vector<SseEvent>& events);
// Whether a stream claims a normal finish: [DONE] or finish_reason "stop" (Chat),
// message_stop or end_turn (Messages), response.completed (Responses).
bool stream_claims_normal_finish(Door door, const std::vector<SseEvent>& events);
// The text a stream or JSON answer carries (deltas concatenated), in `door`'s shape.
std::string answer_text(Door door, const Answer& answer);

// ---------------------------------------------------------------------------------------------
// Upstream answers in each provider protocol, for scripts.

std::string chat_completion_json(std::string_view text, std::string_view model = "chat-up");
std::vector<std::string> chat_stream_events(std::string_view text, bool finished);
std::string anthropic_message_json(std::string_view text);
std::vector<std::string> anthropic_stream_events(std::string_view text, bool finished);
std::string gemini_json(std::string_view text);
std::vector<std::string> gemini_stream_events(std::string_view text, bool finished);
std::vector<std::string> responses_stream_events(std::string_view text, bool finished);
std::string json_string(std::string_view s);

// ---------------------------------------------------------------------------------------------
// Streams through the normal mock, back to back, while an attack runs: each must arrive
// whole and unchanged (status, event count, text, ids). Catch2 assertions belong to the main
// thread, so the runner only records what it saw; check with finish().
class BackgroundStreams {
 public:
  // Returns once the first stream's first bytes have arrived (the attack starts after).
  explicit BackgroundStreams(std::uint16_t port);
  ~BackgroundStreams();
  // Labels the faults seen from now on (the case being run).
  void set_label(std::string label);
  struct Result {
    int completed = 0;
    std::vector<std::string> faults;
  };
  // Lets the stream in flight finish, stops, and returns what was seen.
  Result finish();

 private:
  void run();
  bool check_one(std::string& fault);

  std::uint16_t port_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string label_ = "before the first case";
  Result result_;
  bool first_bytes_ = false;
  std::condition_variable first_bytes_seen_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// A raw TCP client on 127.0.0.1 for bytes no HTTP library would send.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port);
  RawClient(RawClient&& other) noexcept;
  RawClient& operator=(RawClient&&) = delete;
  ~RawClient();

  // False once the peer has closed or reset (a write error).
  bool send(std::string_view bytes);
  // Reads whatever arrives within `wait`; false once the peer has closed or reset.
  bool read_for(std::chrono::milliseconds wait);
  // Reads until the peer closes or the deadline passes; true when it closed.
  bool read_until_closed(std::chrono::milliseconds deadline);
  // Reads until `received()` holds one whole response (head and Content-Length body).
  bool read_response(std::chrono::milliseconds deadline);
  bool peer_closed() const { return closed_; }
  const std::string& received() const { return received_; }
  void clear_received() { received_.clear(); }

 private:
  int fd_ = -1;
  bool closed_ = false;
  std::string received_;
};

// Sends `prefix`, then `unit` repeated up to `total` bytes (generated as it goes), then
// `suffix`, while watching for an answer; stops sending once one arrives and reads it until
// the gateway closes or `deadline` passes.
struct FloodResult {
  std::string answer;
  std::size_t sent = 0;         // bytes of prefix+filler+suffix written
  bool answered_early = false;  // an answer arrived before everything was sent
  bool closed = false;          // the gateway closed the connection
};
FloodResult flood(std::uint16_t port, std::string_view prefix, std::string_view unit,
                  std::size_t total, std::string_view suffix, std::chrono::milliseconds deadline);

// The status of a raw HTTP answer (0 when there is none), how many response heads it holds,
// a header's value (case-insensitive, first head), and the body after the first head.
int raw_status(std::string_view answer);
int raw_response_count(std::string_view answer);
std::string raw_header(std::string_view answer, std::string_view name);
std::string raw_body(std::string_view answer);

// ---------------------------------------------------------------------------------------------
// A sample of the gateway's metrics that may not exist yet (a new reason label): nullopt
// when absent instead of throwing.
std::optional<double> optional_metric(std::string_view exposition, std::string_view series);
// Polls /metrics until `series` reads at least `value`; returns the last value seen.
double wait_metric_at_least(std::uint16_t port, std::string_view series, double value,
                            std::chrono::milliseconds deadline = std::chrono::seconds(5));
// GET /health/live answered 200.
bool gateway_live(std::uint16_t port);

}  // namespace switchyard::testing
