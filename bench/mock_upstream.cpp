#include "bench/mock_upstream.hpp"

#include <simdjson.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
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
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench/json_text.hpp"
#include "bench/mock_plan.hpp"
#include "bench/mock_replies.hpp"

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
  std::atomic<std::uint64_t> aborted{0};  // model requests, streamed or not, the client left
  std::atomic<std::int64_t> active_streams{0};
  std::atomic<std::uint64_t> next_completion_id{0};
  std::array<std::atomic<std::uint64_t>, kProtocolCount> by_protocol{};
  std::mutex keys_mutex;
  std::map<std::string, std::uint64_t, std::less<>> keys;  // requests per credential value

  // active_streams is a gauge of what is open now, not a count, so it stays.
  void reset() {
    for (auto* counter :
         {&requests, &streams_started, &streams_completed, &streams_aborted, &aborted}) {
      counter->store(0, std::memory_order_relaxed);
    }
    for (auto& counter : by_protocol) counter.store(0, std::memory_order_relaxed);
    std::lock_guard lock(keys_mutex);
    keys.clear();
  }
};

// The instance plan and the count of model requests since it was set, which fail_first and
// slow_every go by: a new plan starts a new count.
struct InstancePlan {
  explicit InstancePlan(CheckedPlan p) : plan(std::move(p)) {}
  const CheckedPlan plan;
  mutable std::atomic<std::uint64_t> requests{0};
};

std::shared_ptr<const InstancePlan> make_instance_plan(std::string_view json) {
  std::string error;
  std::optional<CheckedPlan> checked = check_plan_object(json.empty() ? "{}" : json, error);
  if (!checked) throw std::invalid_argument("mock upstream: bad instance plan: " + error);
  return std::make_shared<const InstancePlan>(std::move(*checked));
}

struct RecordedRequest {
  std::string_view protocol;
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercased names, arrival order
  std::string body;
};

// ---------------------------------------------------------------------------------------------

struct Shared {
  MockUpstreamOptions options;
  Stats stats;
  // Read once per model request and swapped by PUT /mock/plan from any thread.
  std::atomic<std::shared_ptr<const InstancePlan>> instance_plan;
  std::mutex last_mutex;
  std::optional<RecordedRequest> last;
  std::unique_ptr<ssl::context> tls;
};

std::string stats_json(Stats& s) {
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
  out += R"(,"aborted":)";
  append_int(out, s.aborted.load());
  out += R"(,"protocols":{)";
  for (int i = 0; i < kProtocolCount; ++i) {
    if (i > 0) out.push_back(',');
    append_json_string(out, protocol_name(static_cast<Protocol>(i)));
    out.push_back(':');
    append_int(out, s.by_protocol[static_cast<std::size_t>(i)].load());
  }
  out += R"(},"keys":{)";
  std::lock_guard lock(s.keys_mutex);
  bool first = true;
  for (const auto& [key, count] : s.keys) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, key);
    out.push_back(':');
    append_int(out, count);
  }
  out += "}}";
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
  const std::string_view target = r.target;
  const auto question = target.find('?');
  out += R"(,"path":)";
  append_json_string(out, target.substr(0, question));
  out += R"(,"query":)";
  append_json_string(out, question == std::string_view::npos ? "" : target.substr(question + 1));
  out += R"(,"protocol":)";
  append_json_string(out, r.protocol);
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

void record_request(Shared& shared, const Request& req, Protocol protocol) {
  RecordedRequest r;
  r.protocol = protocol_name(protocol);
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

// Which API a model request came in on, and what its path says about the request.
struct Route {
  explicit Route(Protocol p, std::string_view m = {}, bool s = false, bool a = false)
      : protocol(p), model(m), stream(s), azure(a) {}

  Protocol protocol;
  std::string_view model;  // Azure's deployment or Gemini's model; empty when the body names it
  bool stream;             // Gemini: streamGenerateContent
  bool azure;              // Azure's auth and api-version rules apply
};

std::optional<Route> route_for(std::string_view path) {
  if (path == "/v1/messages") return Route{Protocol::kAnthropic};
  if (path == "/v1/messages/count_tokens") return Route{Protocol::kAnthropicCountTokens};
  if (path == "/v1/responses" || path == "/responses") return Route{Protocol::kResponses};
  if (path == "/v1/embeddings" || path == "/embeddings") return Route{Protocol::kEmbeddings};
  static constexpr std::string_view kAzure = "/openai/deployments/";
  if (path.substr(0, kAzure.size()) == kAzure) {
    const std::string_view rest = path.substr(kAzure.size());
    const auto slash = rest.find('/');
    if (slash == 0 || slash == std::string_view::npos) return std::nullopt;
    const std::string_view deployment = rest.substr(0, slash);
    const std::string_view operation = rest.substr(slash);
    if (operation == "/chat/completions") {
      return Route{Protocol::kAzureChat, deployment, false, true};
    }
    if (operation == "/embeddings") return Route{Protocol::kEmbeddings, deployment, false, true};
    return std::nullopt;
  }
  for (std::string_view prefix : {"/v1beta/models/", "/v1/models/"}) {
    if (path.substr(0, prefix.size()) != prefix) continue;
    const std::string_view rest = path.substr(prefix.size());
    const auto colon = rest.rfind(':');
    if (colon == 0 || colon == std::string_view::npos) return std::nullopt;
    const std::string_view method = rest.substr(colon + 1);
    if (method == "generateContent") return Route{Protocol::kGemini, rest.substr(0, colon), false};
    if (method == "streamGenerateContent") {
      return Route{Protocol::kGemini, rest.substr(0, colon), true};
    }
    return std::nullopt;
  }
  return std::nullopt;
}

// The raw value of query parameter `name` in `target`, if present.
std::optional<std::string_view> query_param(std::string_view target, std::string_view name) {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// Every credential value a request carries, each once: a bearer token, x-api-key (Anthropic),
// api-key (Azure), x-goog-api-key or ?key= (Gemini).
struct Credentials {
  std::array<std::string_view, 5> values;
  std::size_t count = 0;

  void add(std::string_view value) {
    if (value.empty() || std::find(begin(), end(), value) != end()) return;
    values[count++] = value;
  }
  const std::string_view* begin() const { return values.data(); }
  const std::string_view* end() const { return values.data() + count; }
};

Credentials credentials_of(const Request& req) {
  Credentials out;
  const std::string_view authorization = req[http::field::authorization];
  static constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() > kBearer.size() &&
      beast::iequals(authorization.substr(0, kBearer.size()), kBearer)) {
    out.add(authorization.substr(kBearer.size()));
  }
  out.add(req["x-api-key"]);
  out.add(req["api-key"]);
  out.add(req["x-goog-api-key"]);
  if (const auto key = query_param(req.target(), "key")) out.add(*key);
  return out;
}

void count_credentials(Stats& stats, const Credentials& credentials) {
  if (credentials.count == 0) return;
  std::lock_guard lock(stats.keys_mutex);
  for (std::string_view value : credentials) {
    auto it = stats.keys.find(value);
    if (it == stats.keys.end()) it = stats.keys.emplace(std::string(value), 0).first;
    ++it->second;
  }
}

struct Refusal {
  int status;
  std::string message;
};

// The headers and query parameters each provider insists on, checked as the provider does
// before it reads the body.
std::optional<Refusal> check_request_head(const Request& req, const Route& route) {
  if (route.azure) {
    if (req["api-key"].empty()) {
      return Refusal{401,
                     "Access denied due to missing subscription key. Make sure to include the "
                     "api-key header when making requests to an API."};
    }
    const auto version = query_param(req.target(), "api-version");
    if (!version || version->empty()) {
      return Refusal{400, "Missing required query parameter: api-version"};
    }
  }
  if (route.protocol == Protocol::kAnthropic || route.protocol == Protocol::kAnthropicCountTokens) {
    if (req["anthropic-version"].empty()) {
      return Refusal{400, "anthropic-version: header is required"};
    }
  }
  if (route.protocol == Protocol::kGemini) {
    const auto key = query_param(req.target(), "key");
    if (req["x-goog-api-key"].empty() && (!key || key->empty())) {
      return Refusal{403,
                     "Method doesn't allow unregistered callers (callers without established "
                     "identity). Please use API Key or other form of API consumer identity to "
                     "call this API."};
    }
    // Without alt=sse Gemini streams one JSON array, which the mock does not imitate.
    if (route.stream &&
        query_param(req.target(), "alt") != std::optional<std::string_view>("sse")) {
      return Refusal{400, "the mock serves streamGenerateContent only with alt=sse"};
    }
  }
  return std::nullopt;
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
    // OpenAI chat first: it is what the benchmarks drive.
    if (path == "/v1/chat/completions" || path == "/chat/completions") {
      co_return co_await model_request(req, Route{Protocol::kOpenAiChat});
    }
    if (path == "/mock/stats" && req.method() == http::verb::get) {
      co_return co_await write_text(req, 200, stats_json(shared_.stats), keep_alive);
    }
    if (path == "/mock/last-request" && req.method() == http::verb::get) {
      co_return co_await write_text(req, 200, last_request_json(shared_), keep_alive);
    }
    if (path == "/mock/reset-stats" && req.method() == http::verb::post) {
      shared_.stats.reset();
      co_return co_await write_text(req, 204, {}, keep_alive);
    }
    if (path == "/mock/plan") co_return co_await plan_request(req);
    if (const std::optional<Route> route = route_for(path)) {
      co_return co_await model_request(req, *route);
    }
    co_return co_await write_text(req, 404,
                                  openai_error_json("no route for " + std::string(req.target()),
                                                    "invalid_request_error", "unknown_url"),
                                  keep_alive);
  }

  // GET reads the instance plan back; PUT replaces it.
  net::awaitable<bool> plan_request(Request& req) {
    const bool keep_alive = req.keep_alive();
    if (req.method() == http::verb::get) {
      // Built before the co_await: GCC 12 destroys a conditional's temporary twice inside one.
      std::string json = shared_.instance_plan.load()->plan.json;
      if (json.empty()) json = "{}";
      co_return co_await write_text(req, 200, std::move(json), keep_alive);
    }
    if (req.method() != http::verb::put) {
      co_return co_await write_text(
          req, 405, openai_error_json("use GET or PUT", "invalid_request_error", ""), keep_alive);
    }
    std::string error;
    std::optional<CheckedPlan> checked = check_plan_object(req.body(), error);
    if (!checked) {
      co_return co_await write_text(req, 400, openai_error_json(error, "invalid_request_error", ""),
                                    keep_alive);
    }
    shared_.instance_plan.store(std::make_shared<const InstancePlan>(std::move(*checked)));
    co_return co_await write_text(req, 204, {}, keep_alive);
  }

  net::awaitable<bool> model_request(Request& req, const Route& route) {
    const Protocol protocol = route.protocol;
    const bool keep_alive = req.keep_alive();
    if (req.method() != http::verb::post) {
      co_return co_await write_text(req, 405, error_body(protocol, 405, "use POST"), keep_alive);
    }
    Stats& stats = shared_.stats;
    stats.requests.fetch_add(1, std::memory_order_relaxed);
    stats.by_protocol[static_cast<std::size_t>(protocol)].fetch_add(1, std::memory_order_relaxed);
    const std::shared_ptr<const InstancePlan> instance = shared_.instance_plan.load();
    const std::uint64_t sequence = instance->requests.fetch_add(1, std::memory_order_relaxed) + 1;
    const Credentials credentials = credentials_of(req);
    count_credentials(stats, credentials);
    record_request(shared_, req, protocol);
    if (std::optional<Refusal> refusal = check_request_head(req, route)) {
      co_return co_await write_text(req, refusal->status,
                                    error_body(protocol, refusal->status, refusal->message),
                                    keep_alive);
    }
    PlanResult parsed = parse_plan(req.body(), shared_.options, route.model);
    if (!parsed.plan) {
      co_return co_await write_text(req, 400, error_body(protocol, 400, parsed.error), keep_alive);
    }
    Plan& plan = *parsed.plan;
    if (protocol == Protocol::kGemini) plan.stream = route.stream;  // the method decides

    // The conversation is read only when something depends on it, so a plain chat request
    // costs no more than it did before the other protocols existed.
    Conversation conversation;
    const bool chat = protocol == Protocol::kOpenAiChat || protocol == Protocol::kAzureChat;
    const std::string_view instance_json = instance->plan.json;
    std::string error;
    if (!chat || plan.tool_call || shared_.options.tool_script_auto ||
        instance->plan.sets_tool_call || mentions_mock_line(req.body())) {
      if (!read_conversation(protocol, req.body(), conversation, error) ||
          !apply_conversation(conversation, shared_.options.tool_script_auto, instance_json, plan,
                              error)) {
        co_return co_await write_text(req, 400, error_body(protocol, 400, error), keep_alive);
      }
    } else if (!instance_json.empty() && !apply_plan_object(instance_json, plan, error)) {
      co_return co_await write_text(req, 400, error_body(protocol, 400, error), keep_alive);
    }
    apply_sequence(plan, sequence);
    for (std::string_view credential : credentials) {
      if (std::find(plan.revoked_keys.begin(), plan.revoked_keys.end(), credential) !=
          plan.revoked_keys.end()) {
        co_return co_await write_text(req, 401, fault_body(protocol, 401), keep_alive);
      }
    }

    const bool streams = plan.stream && protocol != Protocol::kEmbeddings &&
                         protocol != Protocol::kAnthropicCountTokens;
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
        if (peer_gone_) stats.aborted.fetch_add(1, std::memory_order_relaxed);
        co_return false;
      }
      case Fault::kContextLength:
        co_return co_await write_text(req, 400, std::string(context_length_body(protocol)),
                                      keep_alive);
      case Fault::kStreamError:
        if (streams) break;
        // An in-band error needs a stream; without one it is the status fault.
        [[fallthrough]];
      case Fault::kStatus: {
        std::string body = plan.body ? *plan.body : fault_body(protocol, plan.status);
        co_return co_await write_text(req, plan.status, std::move(body), keep_alive,
                                      plan.retry_after);
      }
      case Fault::kNone:
      case Fault::kCut:
        break;
    }
    const std::uint64_t id = stats.next_completion_id.fetch_add(1) + 1;
    if (protocol == Protocol::kAnthropicCountTokens) {
      co_return co_await json_reply(req, plan, count_tokens_json(conversation.text_chars));
    }
    if (protocol == Protocol::kEmbeddings) {
      std::string body = embeddings_json(plan, conversation.inputs, conversation.dimensions);
      co_return co_await json_reply(req, plan, std::move(body));
    }
    const std::unique_ptr<Reply> reply = make_reply(protocol, plan, id);
    if (streams) co_return co_await stream_reply(req, plan, *reply);
    co_return co_await json_reply(req, plan, reply->json_body());
  }

  net::awaitable<bool> json_reply(const Request& req, const Plan& plan, std::string body) {
    Stats& stats = shared_.stats;
    if (plan.ttft_ms > 0) {
      start_watch();
      const bool peer_here = co_await pause(plan.ttft_ms);
      co_await stop_watch();
      if (!peer_here) {
        stats.aborted.fetch_add(1, std::memory_order_relaxed);
        co_return false;
      }
    }
    if (plan.fault != Fault::kCut) {
      bool written = false;
      const bool again =
          co_await write_text(req, 200, std::move(body), req.keep_alive(), {}, &written);
      if (!written) stats.aborted.fetch_add(1, std::memory_order_relaxed);
      co_return again;
    }

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

  net::awaitable<bool> stream_reply(const Request& req, const Plan& plan, const Reply& reply) {
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
    if (end == StreamEnd::kPeerGone) stats.aborted.fetch_add(1, std::memory_order_relaxed);
    stats.active_streams.fetch_sub(1, std::memory_order_relaxed);
    co_return end == StreamEnd::kCompleted&& req.keep_alive();
  }

  net::awaitable<StreamEnd> stream_events(http::response<http::empty_body>& res, const Plan& plan,
                                          const Reply& reply) {
    http::response_serializer<http::empty_body> serializer{res};
    if (auto [ec, n] = co_await http::async_write_header(stream_, serializer, kTok); ec) {
      co_return StreamEnd::kPeerGone;
    }
    std::string event;
    event.reserve(512);
    for (int k = 0; reply.head_event(k, event); ++k) {
      if (!co_await send_event(event)) co_return StreamEnd::kPeerGone;
    }
    if (plan.ttft_ms > 0 && !co_await pause(plan.ttft_ms)) co_return StreamEnd::kPeerGone;
    const bool interrupted = plan.fault == Fault::kCut || plan.fault == Fault::kStreamError;
    const int pieces = reply.piece_count();
    int sent = 0;
    for (; sent < pieces; ++sent) {
      if (interrupted && sent == plan.cut_after) break;
      if (sent > 0 && plan.chunk_delay_ms > 0 && !co_await pause(plan.chunk_delay_ms)) {
        co_return StreamEnd::kPeerGone;
      }
      reply.piece_event(sent, event);
      if (!co_await send_event(event)) co_return StreamEnd::kPeerGone;
    }
    if (plan.fault == Fault::kCut) co_return StreamEnd::kCut;
    if (plan.fault == Fault::kStreamError) {
      // The protocol's in-band error, then a proper end of body: a provider failing mid-answer.
      reply.error_event(sent, event);
    } else {
      for (int k = 0; reply.tail_event(k, event); ++k) {
        if (!co_await send_event(event)) co_return StreamEnd::kPeerGone;
      }
      event.clear();
    }
    if (!event.empty() && !co_await send_event(event)) co_return StreamEnd::kPeerGone;
    co_return co_await finish_body();
  }

  net::awaitable<StreamEnd> finish_body() {
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

  // Without `retry_after`, a 429 says "1"; an empty one sends none. `written`, when given, says
  // whether the whole response went out.
  net::awaitable<bool> write_text(const Request& req, int status, std::string body, bool keep_alive,
                                  const std::optional<std::string>& retry_after = std::nullopt,
                                  bool* written = nullptr) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    set_common_fields(res, req, "application/json");
    const std::string_view retry = retry_after     ? std::string_view(*retry_after)
                                   : status == 429 ? std::string_view("1")
                                                   : std::string_view();
    if (!retry.empty()) res.set(http::field::retry_after, retry);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    auto [ec, n] = co_await http::async_write(stream_, res, kTok);
    if (written) *written = !ec;
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
  impl_->shared.instance_plan.store(make_instance_plan(options.instance_plan));
  impl_->shared.options = std::move(options);
}

void MockUpstream::set_instance_plan(std::string_view json) {
  impl_->shared.instance_plan.store(make_instance_plan(json));
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
