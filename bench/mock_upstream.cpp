#include "bench/mock_upstream.hpp"
#include "bench/json_text.hpp"

#include <simdjson.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace switchyard::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;

constexpr auto kTok = net::as_tuple(net::use_awaitable);
// Generous: gateway tests forward large multimodal bodies through the mock.
constexpr std::uint64_t kBodyLimit = 64ull << 20;
// While a reply is paced out the peer watcher reads ahead (a pipelined request, say); past this
// it stops reading so a misbehaving client cannot grow the buffer without bound.
constexpr std::size_t kWatchReadAheadLimit = 64 << 10;

struct Stats {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> streams_started{0};
  std::atomic<std::uint64_t> streams_completed{0};
  std::atomic<std::uint64_t> streams_aborted{0};
  std::atomic<std::int64_t> active_streams{0};
  std::atomic<std::uint64_t> next_completion_id{0};
};

struct RecordedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercased names, arrival order
  std::string body;
};

// ---------------------------------------------------------------------------------------------

std::string openai_error_json(std::string_view message, std::string_view type,
                              std::string_view code) {
  std::string out = R"({"error":{"message":)";
  append_json_string(out, message);
  out += R"(,"type":)";
  append_json_string(out, type);
  out += R"(,"param":null,"code":)";
  if (code.empty()) {
    out += "null";
  } else {
    append_json_string(out, code);
  }
  out += "}}";
  return out;
}

// The error shape a real provider would send for this status, so a gateway's status mapping and
// retry classification are exercised with realistic bodies.
std::string fault_error_json(int status) {
  std::string_view type = "invalid_request_error";
  std::string_view code = "invalid_request";
  if (status == 401) {
    type = "authentication_error";
    code = "invalid_api_key";
  } else if (status == 403) {
    type = "permission_error";
    code = "permission_denied";
  } else if (status == 404) {
    type = "not_found_error";
    code = "model_not_found";
  } else if (status == 429) {
    type = "rate_limit_error";
    code = "rate_limit_exceeded";
  } else if (status >= 500) {
    type = "server_error";
    code = "server_error";
  }
  return openai_error_json("mock fault", type, code);
}

// ---------------------------------------------------------------------------------------------
// What one chat-completion request asks of the mock.

enum class Fault { kNone, kStatus, kReset, kStall, kCut };

struct Plan {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  int ttft_ms = 0;
  int chunk_delay_ms = 0;
  int chunks = 0;
  std::optional<std::string> text;
  std::int64_t prompt_tokens = 11;
  std::optional<std::int64_t> completion_tokens;  // defaults to the number of content chunks
  std::int64_t cached_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  Fault fault = Fault::kNone;
  int status = 500;
  std::optional<std::string> body;
  int cut_after = 0;

  std::int64_t completion() const { return completion_tokens.value_or(chunks); }
};

struct PlanResult {
  std::optional<Plan> plan;
  std::string error;  // set when plan is empty
};

int clamp_int(std::int64_t v, std::int64_t lo, std::int64_t hi) {
  return static_cast<int>(std::min(std::max(v, lo), hi));
}

// Reads one integer member; returns false (and sets error) on a type mismatch.
bool read_int(simdjson::ondemand::value& value, std::int64_t& out, std::string_view name,
              std::string& error) {
  if (value.get_int64().get(out) != simdjson::SUCCESS) {
    error = "mock." + std::string(name) + " must be an integer";
    return false;
  }
  return true;
}

bool read_usage(simdjson::ondemand::value& value, Plan& plan, std::string& error) {
  simdjson::ondemand::object usage;
  if (value.get_object().get(usage) != simdjson::SUCCESS) {
    error = "mock.usage must be an object";
    return false;
  }
  for (auto member : usage) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      error = "malformed mock.usage";
      return false;
    }
    std::int64_t n = 0;
    if (key == "prompt_tokens" || key == "completion_tokens" || key == "cached_tokens" ||
        key == "reasoning_tokens") {
      if (!read_int(field.value(), n, key, error)) return false;
    }
    if (key == "prompt_tokens") plan.prompt_tokens = n;
    if (key == "completion_tokens") plan.completion_tokens = n;
    if (key == "cached_tokens") plan.cached_tokens = n;
    if (key == "reasoning_tokens") plan.reasoning_tokens = n;
  }
  return true;
}

bool read_mock(simdjson::ondemand::value& value, Plan& plan, std::string& error) {
  simdjson::ondemand::object mock;
  if (value.get_object().get(mock) != simdjson::SUCCESS) {
    error = "mock must be an object";
    return false;
  }
  for (auto member : mock) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      error = "malformed mock object";
      return false;
    }
    auto& v = field.value();
    std::int64_t n = 0;
    std::string_view s;
    if (key == "ttft_ms" || key == "chunk_delay_ms") {
      if (!read_int(v, n, key, error)) return false;
      (key == "ttft_ms" ? plan.ttft_ms : plan.chunk_delay_ms) = clamp_int(n, 0, 3'600'000);
    } else if (key == "chunks") {
      if (!read_int(v, n, key, error)) return false;
      plan.chunks = clamp_int(n, 0, 1'000'000);
    } else if (key == "cut_after") {
      if (!read_int(v, n, key, error)) return false;
      plan.cut_after = clamp_int(n, 0, 1'000'000);
    } else if (key == "status") {
      if (!read_int(v, n, key, error)) return false;
      if (n < 100 || n > 999) {
        error = "mock.status must be an HTTP status code";
        return false;
      }
      plan.status = static_cast<int>(n);
    } else if (key == "text") {
      if (v.get_string().get(s) != simdjson::SUCCESS) {
        error = "mock.text must be a string";
        return false;
      }
      plan.text.emplace(s);
    } else if (key == "usage") {
      if (!read_usage(v, plan, error)) return false;
    } else if (key == "fault") {
      if (v.get_string().get(s) != simdjson::SUCCESS) {
        error = "mock.fault must be a string";
        return false;
      }
      if (s == "status") {
        plan.fault = Fault::kStatus;
      } else if (s == "reset") {
        plan.fault = Fault::kReset;
      } else if (s == "stall") {
        plan.fault = Fault::kStall;
      } else if (s == "cut") {
        plan.fault = Fault::kCut;
      } else if (!s.empty() && s != "none") {
        error = "unknown mock.fault: " + std::string(s);
        return false;
      }
    } else if (key == "body") {
      // A string is sent verbatim; an object or array is sent as the JSON it is.
      simdjson::ondemand::json_type type;
      if (v.type().get(type) != simdjson::SUCCESS) {
        error = "malformed mock.body";
        return false;
      }
      simdjson::error_code ec = simdjson::INCORRECT_TYPE;
      if (type == simdjson::ondemand::json_type::string) {
        ec = v.get_string().get(s);
      } else if (type == simdjson::ondemand::json_type::object) {
        simdjson::ondemand::object o;
        ec = v.get_object().get(o);
        if (ec == simdjson::SUCCESS) ec = o.raw_json().get(s);
      } else if (type == simdjson::ondemand::json_type::array) {
        simdjson::ondemand::array a;
        ec = v.get_array().get(a);
        if (ec == simdjson::SUCCESS) ec = a.raw_json().get(s);
      }
      if (ec != simdjson::SUCCESS) {
        error = "mock.body must be a string, an object or an array";
        return false;
      }
      plan.body.emplace(s);
    }
  }
  return true;
}

// Reads only the fields the mock acts on. `body` gets padding appended to its capacity (not its
// size) because simdjson reads a few bytes past the end.
PlanResult parse_plan(std::string& body, const MockUpstreamOptions& defaults) {
  thread_local simdjson::ondemand::parser parser;
  PlanResult result;
  Plan plan;
  plan.ttft_ms = defaults.ttft_ms;
  plan.chunk_delay_ms = defaults.chunk_delay_ms;
  plan.chunks = defaults.chunks;

  if (body.capacity() - body.size() < simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
  simdjson::padded_string_view json(body.data(), body.size(), body.capacity());
  simdjson::ondemand::document doc;
  simdjson::ondemand::object root;
  if (parser.iterate(json).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(root) != simdjson::SUCCESS) {
    result.error = "request body is not a JSON object";
    return result;
  }
  for (auto member : root) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      result.error = "request body is not valid JSON";
      return result;
    }
    auto& v = field.value();
    if (key == "model") {
      std::string_view model;
      if (v.get_string().get(model) != simdjson::SUCCESS) {
        result.error = "model must be a string";
        return result;
      }
      plan.model.assign(model);
    } else if (key == "stream") {
      if (v.get_bool().get(plan.stream) != simdjson::SUCCESS) {
        result.error = "stream must be a boolean";
        return result;
      }
    } else if (key == "stream_options") {
      simdjson::ondemand::object options;
      if (v.get_object().get(options) != simdjson::SUCCESS) {
        result.error = "stream_options must be an object";
        return result;
      }
      for (auto option : options) {
        simdjson::ondemand::field f;
        std::string_view k;
        if (std::move(option).get(f) != simdjson::SUCCESS ||
            f.unescaped_key().get(k) != simdjson::SUCCESS) {
          result.error = "malformed stream_options";
          return result;
        }
        if (k == "include_usage" && f.value().get_bool().get(plan.include_usage)) {
          result.error = "stream_options.include_usage must be a boolean";
          return result;
        }
      }
    } else if (key == "mock") {
      if (!read_mock(v, plan, result.error)) return result;
    }
  }
  if (plan.model.empty()) {
    result.error = "model is required";
    return result;
  }
  result.plan = std::move(plan);
  return result;
}

// Splits `text` into `pieces` runs of whole words (a word keeps its trailing whitespace), as
// evenly as the word count allows; the pieces concatenate back to `text` exactly. With fewer
// words than pieces some pieces are empty.
std::vector<std::string_view> split_words(std::string_view text, int pieces) {
  std::vector<std::size_t> starts{0};
  for (std::size_t i = 1; i < text.size(); ++i) {
    const bool space_before = text[i - 1] == ' ' || text[i - 1] == '\n' || text[i - 1] == '\t';
    const bool space_here = text[i] == ' ' || text[i] == '\n' || text[i] == '\t';
    if (space_before && !space_here) starts.push_back(i);
  }
  const std::size_t words = starts.size();
  starts.push_back(text.size());
  std::vector<std::string_view> out;
  out.reserve(static_cast<std::size_t>(pieces));
  const auto n = static_cast<std::size_t>(pieces);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t from = starts[i * words / n];
    const std::size_t to = starts[(i + 1) * words / n];
    out.push_back(text.substr(from, to - from));
  }
  return out;
}

// Builds the bytes of one reply; every chunk of a stream shares the id and created prefix.
class ReplyWriter {
 public:
  ReplyWriter(const Plan& plan, std::uint64_t id) : plan_(plan) {
    head_ = R"({"id":"chatcmpl-mock-)";
    append_int(head_, id);
    head_ += R"(","object":")";
    head_ += plan.stream ? "chat.completion.chunk" : "chat.completion";
    head_ += R"(","created":)";
    append_int(head_, static_cast<std::int64_t>(std::time(nullptr)));
    head_ += R"(,"model":)";
    append_json_string(head_, plan.model);
    head_ += R"(,"choices":[)";
    if (plan.text && plan.chunks > 0) pieces_ = split_words(*plan.text, plan.chunks);
  }

  // Piece i of the reply as a JSON string.
  void append_piece(std::string& out, int i) const {
    if (plan_.text) {
      append_json_string(out, pieces_[static_cast<std::size_t>(i)]);
      return;
    }
    out += "\"tok";
    append_int(out, i);
    out += " \"";
  }

  std::string full_text() const {
    if (plan_.text) return plan_.chunks > 0 ? *plan_.text : std::string();
    std::string out;
    for (int i = 0; i < plan_.chunks; ++i) {
      out += "tok";
      append_int(out, i);
      out.push_back(' ');
    }
    return out;
  }

  void usage(std::string& out) const {
    out += R"({"prompt_tokens":)";
    append_int(out, plan_.prompt_tokens);
    out += R"(,"completion_tokens":)";
    append_int(out, plan_.completion());
    out += R"(,"total_tokens":)";
    append_int(out, plan_.prompt_tokens + plan_.completion());
    out += R"(,"prompt_tokens_details":{"cached_tokens":)";
    append_int(out, plan_.cached_tokens);
    out += R"(},"completion_tokens_details":{"reasoning_tokens":)";
    append_int(out, plan_.reasoning_tokens);
    out += "}}";
  }

  std::string completion_json() const {
    std::string out = head_;
    out += R"({"index":0,"message":{"role":"assistant","content":)";
    append_json_string(out, full_text());
    out += R"(,"refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":)";
    usage(out);
    out += "}";
    return out;
  }

  // The SSE events, each ending in a blank line.
  void role_event(std::string& out) const {
    open_event(out);
    out +=
        R"({"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}])";
    close_event(out);
  }
  void content_event(std::string& out, int i) const {
    open_event(out);
    out += R"({"index":0,"delta":{"content":)";
    append_piece(out, i);
    out += R"(},"logprobs":null,"finish_reason":null}])";
    close_event(out);
  }
  void finish_event(std::string& out) const {
    open_event(out);
    out += R"({"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}])";
    close_event(out);
  }
  void usage_event(std::string& out) const {
    open_event(out);
    out += R"(],"usage":)";
    usage(out);
    out += "}\n\n";
  }

 private:
  void open_event(std::string& out) const {
    out.clear();
    out += "data: ";
    out += head_;
  }
  void close_event(std::string& out) const {
    if (plan_.include_usage) out += R"(,"usage":null)";
    out += "}\n\n";
  }

  const Plan& plan_;
  std::string head_;  // `{"id":...,"choices":[`
  std::vector<std::string_view> pieces_;
};

// ---------------------------------------------------------------------------------------------

struct Shared {
  MockUpstreamOptions options;
  Stats stats;
  std::mutex last_mutex;
  std::optional<RecordedRequest> last;
  std::unique_ptr<ssl::context> tls;
};

std::string stats_json(const Stats& s) {
  std::string out = R"({"requests":)";
  append_int(out, s.requests.load());
  out += R"(,"streams_started":)";
  append_int(out, s.streams_started.load());
  out += R"(,"streams_completed":)";
  append_int(out, s.streams_completed.load());
  out += R"(,"streams_aborted":)";
  append_int(out, s.streams_aborted.load());
  out += R"(,"active_streams":)";
  append_int(out, s.active_streams.load());
  out += "}";
  return out;
}

std::string last_request_json(Shared& shared) {
  std::lock_guard lock(shared.last_mutex);
  if (!shared.last) return "null";
  const RecordedRequest& r = *shared.last;
  std::string out = R"({"method":)";
  append_json_string(out, r.method);
  out += R"(,"target":)";
  append_json_string(out, r.target);
  out += R"(,"headers":{)";
  for (std::size_t i = 0; i < r.headers.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_json_string(out, r.headers[i].first);
    out.push_back(':');
    append_json_string(out, r.headers[i].second);
  }
  out += R"(},"body":)";
  append_json_string(out, r.body);
  out += "}";
  return out;
}

void record_request(Shared& shared, const Request& req) {
  RecordedRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // Repeated headers fold into one comma-separated value, as HTTP allows.
    auto it = std::find_if(r.headers.begin(), r.headers.end(),
                           [&](const auto& h) { return h.first == name; });
    if (it == r.headers.end()) {
      r.headers.emplace_back(std::move(name), std::string(field.value()));
    } else {
      it->second += ", ";
      it->second += field.value();
    }
  }
  r.body = req.body();
  std::lock_guard lock(shared.last_mutex);
  shared.last = std::move(r);
}

// Not HTTP at all (as opposed to the peer just leaving): worth a 400 before closing.
bool is_malformed_http(const beast::error_code& ec) {
  static const auto& http_errors = http::make_error_code(http::error::bad_target).category();
  return ec.category() == http_errors && ec != http::error::end_of_stream &&
         ec != http::error::partial_message;
}

// One client connection over a plain socket or a TLS stream. Lives in the frame of the
// coroutine that serves it (serve_connection), so member coroutines may refer to it freely.
template <class Stream>
class Connection {
 public:
  Connection(Shared& shared, Stream stream)
      : shared_(shared),
        stream_(std::move(stream)),
        pacer_(stream_.get_executor()),
        watch_done_(stream_.get_executor()) {}

  net::awaitable<void> serve() {
    if constexpr (!std::is_same_v<Stream, tcp::socket>) {
      auto [ec] = co_await stream_.async_handshake(ssl::stream_base::server, kTok);
      if (ec) co_return;
    }
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kBodyLimit);
      parser.header_limit(64 * 1024);
      auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kTok);
      if (!ec && parser.content_length()) {
        // Room for simdjson's padding up front, so parse_plan never has to copy the body
        // (string_body's own reserve of content-length does not shrink it).
        parser.get().body().reserve(*parser.content_length() + simdjson::SIMDJSON_PADDING);
      }
      if (!ec && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        std::tie(ec, n) = co_await net::async_write(stream_, net::buffer(kContinue), kTok);
      }
      if (!ec && !parser.is_done()) {
        std::tie(ec, n) = co_await http::async_read(stream_, buffer_, parser, kTok);
      }
      if (ec) {
        if (is_malformed_http(ec)) {
          Request none;
          co_await write_text(none, 400,
                              openai_error_json(ec.message(), "invalid_request_error", ""), false);
        }
        break;
      }
      Request& req = parser.get();
      if (!co_await handle(req)) break;
    }
    close();
  }

 private:
  // Returns whether the connection may carry another request.
  net::awaitable<bool> handle(Request& req) {
    std::string_view path = req.target();
    path = path.substr(0, path.find('?'));
    const bool keep_alive = req.keep_alive();
    if (path == "/v1/chat/completions" || path == "/chat/completions") {
      if (req.method() != http::verb::post) {
        co_return co_await write_text(
            req, 405, openai_error_json("use POST", "invalid_request_error", ""), keep_alive);
      }
      co_return co_await chat_completion(req);
    }
    if (path == "/mock/stats" && req.method() == http::verb::get) {
      co_return co_await write_text(req, 200, stats_json(shared_.stats), keep_alive);
    }
    if (path == "/mock/last-request" && req.method() == http::verb::get) {
      co_return co_await write_text(req, 200, last_request_json(shared_), keep_alive);
    }
    co_return co_await write_text(req, 404,
                                  openai_error_json("no route for " + std::string(req.target()),
                                                    "invalid_request_error", "unknown_url"),
                                  keep_alive);
  }

  net::awaitable<bool> chat_completion(Request& req) {
    shared_.stats.requests.fetch_add(1, std::memory_order_relaxed);
    record_request(shared_, req);
    const bool keep_alive = req.keep_alive();
    PlanResult parsed = parse_plan(req.body(), shared_.options);
    if (!parsed.plan) {
      co_return co_await write_text(
          req, 400, openai_error_json(parsed.error, "invalid_request_error", ""), keep_alive);
    }
    const Plan& plan = *parsed.plan;
    switch (plan.fault) {
      case Fault::kReset: {
        // Linger 0 makes close() send RST instead of FIN: the "connection reset by peer" a
        // crashed or overloaded provider produces.
        beast::error_code ignored;
        lowest().set_option(net::socket_base::linger(true, 0), ignored);
        lowest().close(ignored);
        co_return false;
      }
      case Fault::kStall: {
        // Answer nothing, hold the connection until the peer gives up.
        start_watch();
        co_await watch_ended();
        co_return false;
      }
      case Fault::kStatus: {
        std::string body = plan.body ? *plan.body : fault_error_json(plan.status);
        co_return co_await write_text(req, plan.status, std::move(body), keep_alive);
      }
      case Fault::kNone:
      case Fault::kCut:
        break;
    }
    const ReplyWriter reply(plan, shared_.stats.next_completion_id.fetch_add(1) + 1);
    if (plan.stream) co_return co_await stream_reply(req, plan, reply);
    co_return co_await json_reply(req, plan, reply);
  }

  net::awaitable<bool> json_reply(const Request& req, const Plan& plan, const ReplyWriter& reply) {
    if (plan.ttft_ms > 0) {
      start_watch();
      const bool peer_here = co_await pause(plan.ttft_ms);
      co_await stop_watch();
      if (!peer_here) co_return false;
    }
    std::string body = reply.completion_json();
    if (plan.fault != Fault::kCut)
      co_return co_await write_text(req, 200, std::move(body), req.keep_alive());

    // A cut non-streaming reply promises the full length and delivers half of it.
    http::response<http::string_body> res{http::status::ok, 11};
    set_common_fields(res, req, "application/json");
    const std::size_t full = body.size();
    body.resize(full / 2);
    res.body() = std::move(body);
    res.content_length(full);
    co_await http::async_write(stream_, res, kTok);
    co_return false;
  }

  enum class StreamEnd { kCompleted, kPeerGone, kCut };

  net::awaitable<bool> stream_reply(const Request& req, const Plan& plan,
                                    const ReplyWriter& reply) {
    Stats& stats = shared_.stats;
    stats.streams_started.fetch_add(1, std::memory_order_relaxed);
    stats.active_streams.fetch_add(1, std::memory_order_relaxed);

    http::response<http::empty_body> res{http::status::ok, 11};
    set_common_fields(res, req, "text/event-stream");
    res.set(http::field::cache_control, "no-cache");
    res.keep_alive(req.keep_alive());
    res.chunked(true);

    start_watch();
    const StreamEnd end = co_await stream_events(res, plan, reply);
    co_await stop_watch();
    if (end == StreamEnd::kCut) close();

    // A deliberate cut is the mock finishing what it was told to do, so it counts as
    // completed; "aborted" is reserved for peers that leave, which is what gateway tests probe.
    (end == StreamEnd::kPeerGone ? stats.streams_aborted : stats.streams_completed)
        .fetch_add(1, std::memory_order_relaxed);
    stats.active_streams.fetch_sub(1, std::memory_order_relaxed);
    co_return end == StreamEnd::kCompleted&& req.keep_alive();
  }

  net::awaitable<StreamEnd> stream_events(http::response<http::empty_body>& res, const Plan& plan,
                                          const ReplyWriter& reply) {
    http::response_serializer<http::empty_body> serializer{res};
    if (auto [ec, n] = co_await http::async_write_header(stream_, serializer, kTok); ec) {
      co_return StreamEnd::kPeerGone;
    }
    std::string event;
    event.reserve(512);
    reply.role_event(event);
    if (!co_await send_event(event)) co_return StreamEnd::kPeerGone;
    if (plan.ttft_ms > 0 && !co_await pause(plan.ttft_ms)) co_return StreamEnd::kPeerGone;
    for (int i = 0; i < plan.chunks; ++i) {
      if (plan.fault == Fault::kCut && i == plan.cut_after) co_return StreamEnd::kCut;
      if (i > 0 && plan.chunk_delay_ms > 0 && !co_await pause(plan.chunk_delay_ms)) {
        co_return StreamEnd::kPeerGone;
      }
      reply.content_event(event, i);
      if (!co_await send_event(event)) co_return StreamEnd::kPeerGone;
    }
    if (plan.fault == Fault::kCut) co_return StreamEnd::kCut;
    reply.finish_event(event);
    if (!co_await send_event(event)) co_return StreamEnd::kPeerGone;
    if (plan.include_usage) {
      reply.usage_event(event);
      if (!co_await send_event(event)) co_return StreamEnd::kPeerGone;
    }
    static constexpr std::string_view kDone = "data: [DONE]\n\n";
    if (!co_await send_event(kDone)) co_return StreamEnd::kPeerGone;
    auto [ec, n] = co_await net::async_write(stream_, http::make_chunk_last(), kTok);
    co_return ec ? StreamEnd::kPeerGone : StreamEnd::kCompleted;
  }

  // Each event is its own write so it leaves as soon as it exists (no_delay is set on accept).
  net::awaitable<bool> send_event(std::string_view event) {
    if (peer_gone_) co_return false;
    auto [ec, n] = co_await net::async_write(stream_, http::make_chunk(net::buffer(event)), kTok);
    co_return !ec;
  }

  // Waits, unless the peer watcher sees the client leave first. Returns whether it is still there.
  net::awaitable<bool> pause(int ms) {
    if (peer_gone_) co_return false;
    pacer_.expires_after(std::chrono::milliseconds(ms));
    co_await pacer_.async_wait(kTok);
    co_return !peer_gone_;
  }

  // The peer watcher: a read kept pending while a reply is paced out, so a client that goes away
  // is seen at once (EOF or reset), not at the next write. Bytes it reads (a pipelined request)
  // stay in buffer_ for the next parse.
  net::awaitable<void> watch_peer() {
    while (buffer_.size() < kWatchReadAheadLimit) {
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(4096), kTok);
      buffer_.commit(n);
      if (ec) {
        if (ec != net::error::operation_aborted) {
          peer_gone_ = true;
          pacer_.cancel();
        }
        co_return;
      }
    }
  }

  void start_watch() {
    watching_ = true;
    watch_done_.expires_at(net::steady_timer::time_point::max());
    net::co_spawn(stream_.get_executor(), watch_peer(), [this](const std::exception_ptr&) {
      watching_ = false;
      watch_done_.cancel();
    });
  }

  // Must be awaited before the reply ends: the watcher refers to this connection's members.
  net::awaitable<void> stop_watch() {
    if (watching_) {
      beast::error_code ignored;
      lowest().cancel(ignored);
    }
    co_await watch_ended();
  }

  net::awaitable<void> watch_ended() {
    while (watching_) co_await watch_done_.async_wait(kTok);
  }

  template <class Body>
  void set_common_fields(http::response<Body>& res, const Request& req,
                         std::string_view content_type) {
    res.set(http::field::content_type, content_type);
    if (auto it = req.find("x-request-id"); it != req.end()) {
      res.set("x-mock-saw-request-id", it->value());
    }
  }

  net::awaitable<bool> write_text(const Request& req, int status, std::string body,
                                  bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    set_common_fields(res, req, "application/json");
    if (status == 429) res.set(http::field::retry_after, "1");
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    auto [ec, n] = co_await http::async_write(stream_, res, kTok);
    co_return !ec && keep_alive;
  }

  tcp::socket& lowest() { return beast::get_lowest_layer(stream_); }

  // No TLS close_notify exchange: every reply is self-delimiting, and waiting for the peer's
  // close_notify could hold the connection forever.
  void close() {
    beast::error_code ignored;
    lowest().shutdown(tcp::socket::shutdown_send, ignored);
    lowest().close(ignored);
  }

  Shared& shared_;
  Stream stream_;
  beast::flat_buffer buffer_;
  net::steady_timer pacer_;       // ttft and inter-chunk delays; cancelled when the peer leaves
  net::steady_timer watch_done_;  // cancelled when the watcher coroutine has finished
  bool watching_ = false;
  bool peer_gone_ = false;
};

void report_exception(const std::exception_ptr& e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "mock upstream: connection failed: %s\n", x.what());
  }
}

template <class Stream>
net::awaitable<void> serve_connection(Shared& shared, Stream stream) {
  Connection<Stream> connection(shared, std::move(stream));
  co_await connection.serve();
}

net::awaitable<void> accept_loop(Shared& shared, tcp::acceptor& acceptor) {
  auto executor = co_await net::this_coro::executor;
  net::steady_timer backoff(executor);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTok);
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: back off briefly instead of spinning on the error.
      backoff.expires_after(std::chrono::milliseconds(10));
      co_await backoff.async_wait(kTok);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (shared.tls) {
      net::co_spawn(
          executor,
          serve_connection(shared, ssl::stream<tcp::socket>(std::move(socket), *shared.tls)),
          report_exception);
    } else {
      net::co_spawn(executor, serve_connection(shared, std::move(socket)), report_exception);
    }
  }
}

void open_acceptor(tcp::acceptor& acceptor, const tcp::endpoint& endpoint) {
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) {
    // Every thread binds its own acceptor to the same port; the kernel spreads connections.
    int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec.assign(errno, boost::system::system_category());
    }
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("mock upstream: cannot listen on " + endpoint.address().to_string() +
                             ":" + std::to_string(endpoint.port()) + ": " + ec.message());
  }
}

}  // namespace

struct MockUpstream::Impl {
  struct Worker {
    net::io_context ioc{1};
    tcp::acceptor acceptor{ioc};  // declared after ioc: must be destroyed before it
    std::thread thread;
  };

  Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;
  std::uint16_t port = 0;
  bool started = false;
};

MockUpstream::MockUpstream(MockUpstreamOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->shared.options = std::move(options);
}

MockUpstream::~MockUpstream() { stop(); }

void MockUpstream::start() {
  if (impl_->started) throw std::logic_error("MockUpstream::start called twice");
  const MockUpstreamOptions& options = impl_->shared.options;
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    throw std::runtime_error("mock upstream: TLS needs both a certificate and a key");
  }
  if (!options.tls_cert_file.empty()) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    beast::error_code ec;
    ctx->use_certificate_chain_file(options.tls_cert_file, ec);
    if (!ec) ctx->use_private_key_file(options.tls_key_file, ssl::context::pem, ec);
    if (ec)
      throw std::runtime_error("mock upstream: cannot load TLS certificate/key: " + ec.message());
    impl_->shared.tls = std::move(ctx);
  }

  beast::error_code ec;
  const std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  const auto address = net::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("mock upstream: bad listen address: " + options.host);

  // The first acceptor may take port 0; the rest join whichever port the kernel handed it.
  const int threads = std::max(1, options.threads);
  std::uint16_t port = options.port;
  for (int i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Impl::Worker>();
    open_acceptor(worker->acceptor, tcp::endpoint(address, port));
    port = worker->acceptor.local_endpoint().port();
    impl_->workers.push_back(std::move(worker));
  }
  impl_->port = port;
  for (auto& worker : impl_->workers) {
    net::co_spawn(worker->ioc, accept_loop(impl_->shared, worker->acceptor), report_exception);
    worker->thread = std::thread([w = worker.get()] { w->ioc.run(); });
  }
  impl_->started = true;
}

std::uint16_t MockUpstream::port() const { return impl_->port; }

bool MockUpstream::tls() const { return impl_->shared.tls != nullptr; }

void MockUpstream::stop() {
  for (auto& worker : impl_->workers) worker->ioc.stop();
  for (auto& worker : impl_->workers) {
    if (worker->thread.joinable()) worker->thread.join();
  }
  // Destroying each io_context destroys the connection coroutines still suspended in it.
  impl_->workers.clear();
}

}  // namespace switchyard::bench
