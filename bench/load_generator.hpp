#pragma once

// The load generator behind switchyard-load: closed-loop, open-loop (fixed schedule, latency
// measured from each request's intended send time) and sequential A/B runs against a gateway
// or the mock upstream over plain HTTP/1.1 on loopback. See bench/README.md for the CLI.
//
// The header stays free of Asio and Beast: the pure pieces (argument parsing, request bodies,
// the incremental SSE scanner, percentile summaries, the JSON report) are declared here so
// tests can reach them without paying for the networking headers.

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::bench {

enum class LoadMode { kClosed, kOpen, kSequential };

std::string_view mode_name(LoadMode mode);

// The API the generated requests speak and the streams are read in. The gateway translates
// between the two, so a benchmark needs clients of both kinds.
enum class ClientProtocol { kOpenAi, kAnthropic };

std::string_view protocol_name(ClientProtocol protocol);

// Where requests go: plain http to 127.0.0.1 or localhost only, since a load generator pointed
// at someone else's host by a typo is a denial of service, not a benchmark.
struct TargetUrl {
  std::string text;  // as given, for the report
  std::string host;  // as given (Host header)
  std::uint16_t port = 80;
  std::string path = "/";
};

// nullopt with `error` set when the URL is not http://127.0.0.1|localhost[:PORT][/path].
std::optional<TargetUrl> parse_target_url(std::string_view url, std::string& error);

struct LoadOptions {
  TargetUrl target;
  std::optional<TargetUrl> compare_target;
  LoadMode mode = LoadMode::kClosed;
  ClientProtocol protocol = ClientProtocol::kOpenAi;
  int connections = 64;  // closed: concurrent connections; open: the most it may open
  double rate = 0;       // open: requests per second
  double duration_s = 10;
  double warmup_s = 1;
  std::optional<std::uint64_t> requests;  // instead of duration (closed, sequential)
  std::optional<std::string> body_file;
  std::optional<std::size_t> body_bytes;
  std::string model = "bench";
  bool stream = false;
  std::optional<std::string> mock_json;  // compact JSON object text
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> output_file;
  bool quiet = false;
  int threads = 1;
  double timeout_s = 60;
};

struct ArgsResult {
  std::optional<LoadOptions> options;  // empty on error or --help
  std::string error;                   // set on a bad argument
  bool help = false;
};

// Parses argv[1..] (without the program name). Checks combinations too, so every bad command
// line is refused before anything is sent.
ArgsResult parse_load_args(const std::vector<std::string>& args);

std::string_view load_usage();

// The request body: the file's bytes, or a generated request (model, one user message,
// "stream":true with --stream, the "mock" member with --mock-json), padded inside the message
// content to exactly body_bytes when given. OpenAI: a chat request with "max_tokens":16;
// Anthropic: a Messages request with "max_tokens":256 and "stream" always present. Throws
// std::runtime_error (unreadable file, or a body_bytes smaller than the smallest valid body).
std::string make_request_body(const LoadOptions& options);

// Finds SSE events in a body delivered in arbitrary pieces (an event, a line, even a CRLF may
// be split across reads). Only what the generator needs is kept: how many events completed,
// how many of them are timed, whether the last event ended the stream, and whether any event
// carried an error.
//
// OpenAI: every event is timed (time to first event, gaps between events: what the generator
// has always measured, so earlier figures stay comparable) and `data: [DONE]` ends the stream.
// Anthropic: only events carrying text are timed (content_block_delta with a text_delta), since
// message_start, content_block_start and ping come before any token; message_stop ends it.
class SseScanner {
 public:
  explicit SseScanner(ClientProtocol protocol = ClientProtocol::kOpenAi) : protocol_(protocol) {}

  void set_protocol(ClientProtocol protocol) { protocol_ = protocol; }
  void reset();
  void feed(std::string_view bytes);

  std::uint32_t events() const { return events_; }
  std::uint32_t timed_events() const { return timed_events_; }
  // The latest event ended the stream: `data: [DONE]` (OpenAI) or message_stop (Anthropic).
  bool done() const { return done_; }
  bool saw_error() const { return saw_error_; }

 private:
  void on_line(std::string_view line);

  ClientProtocol protocol_;
  std::string partial_;   // a line not yet terminated, carried into the next feed
  bool skip_lf_ = false;  // the previous piece ended in CR: a leading LF belongs to it
  bool event_has_data_ = false;
  bool event_is_done_ = false;
  bool event_is_error_ = false;
  // Anthropic: what the `event:` line or the data's "type" said.
  bool event_is_delta_ = false;
  bool event_has_text_delta_ = false;
  std::uint32_t events_ = 0;
  std::uint32_t timed_events_ = 0;
  bool done_ = false;
  bool saw_error_ = false;
};

// Exact order statistics over every sample (nanoseconds; signed, since paired differences may
// be negative). Nearest rank: pN is the smallest sample with at least N% of samples <= it.
struct Summary {
  std::uint64_t count = 0;
  std::int64_t min = 0;
  std::int64_t p50 = 0;
  std::int64_t p90 = 0;
  std::int64_t p99 = 0;
  std::int64_t p999 = 0;
  std::int64_t max = 0;
  double mean = 0;
};

Summary summarize(std::vector<std::int64_t>& samples_ns);  // sorts samples_ns

enum class ErrorKind : std::uint8_t {
  kConnect,
  kTimeout,
  kStatus4xx,
  kStatus5xx,
  kReset,             // ECONNRESET / EPIPE
  kClosed,            // the server closed the connection before the response was complete
  kIncompleteStream,  // a 2xx stream that did not end with data: [DONE] (Anthropic: message_stop)
  kStreamError,       // an SSE event carrying an error
  kBadResponse,       // unparseable HTTP, or a status that is neither 2xx, 4xx nor 5xx
  kCount,
};
constexpr std::size_t kErrorKindCount = static_cast<std::size_t>(ErrorKind::kCount);
std::string_view error_kind_name(ErrorKind kind);

// Everything measured for one side (target or compare-target).
struct SideResult {
  std::uint64_t ok = 0;
  std::array<std::uint64_t, kErrorKindCount> errors{};
  std::vector<std::int64_t> latency_ns;
  std::vector<std::int64_t> ttft_ns;
  std::vector<std::int64_t> gap_ns;
  std::uint64_t events = 0;  // over successful streams

  std::uint64_t error_count() const;
  void merge(SideResult&& other);
};

struct LoadResult {
  LoadOptions options;
  int threads = 1;
  std::uint64_t connections_opened = 0;  // the most connections open at once, summed over threads
  double duration_s = 0;                 // the measured window actually used
  SideResult target;
  SideResult compare;  // sequential mode with a compare target
  std::vector<std::int64_t> paired_diff_ns;
};

// Thrown by run_load when the target (or compare target) refuses the very first connection.
struct TargetUnreachable : std::exception {
  explicit TargetUnreachable(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }
  std::string what_;
};

// Runs the whole measurement; blocks until done. Throws TargetUnreachable, or
// std::runtime_error for anything else that stops the run from starting.
LoadResult run_load(const LoadOptions& options);

// The report: one JSON object with stable keys (see bench/README.md). Sorts the samples.
std::string result_json(LoadResult& result);
// One line for a human, e.g. on stderr. Sorts the samples too.
std::string result_summary_line(LoadResult& result);

// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit.
std::uint64_t raise_fd_limit();

}  // namespace switchyard::bench
