#include "bench/load_generator.hpp"

#include <netinet/in.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <stdexcept>
#include <thread>

#include "bench/json_text.hpp"

namespace switchyard::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr auto kTok = net::as_tuple(net::use_awaitable);

// Per-connection buffers. Small on purpose: 10,000 streaming connections must fit, and chat
// responses and SSE events are a few hundred bytes. Bigger responses just take more reads.
constexpr std::size_t kReadBufferInitial = std::size_t{8} * 1024;
constexpr std::size_t kReadBufferLimit = std::size_t{1024} * 1024;
constexpr std::size_t kBodyScratch = std::size_t{4} * 1024;
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// A connection idle longer than this is checked for a server-side close before reuse, so a
// keep-alive timeout on the server is not reported as a failed request.
constexpr auto kIdleCheckAfter = std::chrono::milliseconds(1);
// After a refused connection: a closed loop would otherwise spin on connect errors.
constexpr auto kConnectBackoff = std::chrono::milliseconds(100);

constexpr std::string_view kDefaultContent =
    "Benchmark request from switchyard-load: please reply with one short, friendly greeting.";

constexpr std::string_view kUsage =
    "usage: switchyard-load --target URL [--mode closed|open|sequential] [--connections N]\n"
    "                       [--rate R] [--duration S] [--warmup S] [--requests N]\n"
    "                       [--body-file F | --body-bytes N] [--model NAME] [--stream]\n"
    "                       [--mock-json JSON] [--header \"Name: value\"]...\n"
    "                       [--protocol openai|anthropic] [--compare-target URL]\n"
    "                       [--threads T] [--timeout S]\n"
    "                       [--output FILE] [--quiet]\n"
    "URL: http://127.0.0.1:PORT/PATH or http://localhost:PORT/PATH. See bench/README.md.\n";

// ---------------------------------------------------------------------------------------------
// Small text helpers.

void append_fixed(std::string& out, double value, int decimals) {
  if (!std::isfinite(value)) value = 0;  // JSON has no NaN or infinity
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  out.append(buf, static_cast<std::size_t>(std::max(0, n)));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool parse_uint(std::string_view text, std::uint64_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool parse_double(std::string_view text, double& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty() &&
         std::isfinite(out);
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// What the generator sends as the Anthropic key: the mock records it without checking it,
// and the gateway authenticates upstream with its own configured key.
constexpr std::string_view kAnthropicVersion = "2023-06-01";
constexpr std::string_view kAnthropicKey = "bench-key";

std::string generated_body(const LoadOptions& options, std::string_view content) {
  std::string body;
  body.reserve(content.size() + 128 + (options.mock_json ? options.mock_json->size() : 0));
  body += R"({"model":)";
  append_json_string(body, options.model);
  if (options.protocol == ClientProtocol::kAnthropic) {
    // Messages requires max_tokens; 256 is what a short chat turn would ask for.
    body += R"(,"max_tokens":256,"stream":)";
    body += options.stream ? "true" : "false";
    body += R"(,"messages":[{"role":"user","content":)";
    append_json_string(body, content);
    body += "}]";
  } else {
    body += R"(,"messages":[{"role":"user","content":)";
    append_json_string(body, content);
    body += R"(}],"max_tokens":16)";
    if (options.stream) body += R"(,"stream":true)";
  }
  if (options.mock_json) {
    body += R"(,"mock":)";
    body += *options.mock_json;
  }
  body.push_back('}');
  return body;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Arguments.

std::string_view mode_name(LoadMode mode) {
  switch (mode) {
    case LoadMode::kClosed:
      return "closed";
    case LoadMode::kOpen:
      return "open";
    case LoadMode::kSequential:
      return "sequential";
  }
  return "closed";
}

std::string_view protocol_name(ClientProtocol protocol) {
  return protocol == ClientProtocol::kAnthropic ? "anthropic" : "openai";
}

std::string_view load_usage() { return kUsage; }

std::optional<TargetUrl> parse_target_url(std::string_view url, std::string& error) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() >= 8 && iequals(url.substr(0, 8), "https://")) {
    error = "only http:// targets are supported, got '" + std::string(url) + "'";
    return std::nullopt;
  }
  if (url.size() < kScheme.size() || !iequals(url.substr(0, kScheme.size()), kScheme)) {
    error = "target must start with http://, got '" + std::string(url) + "'";
    return std::nullopt;
  }
  TargetUrl target;
  target.text = std::string(url);
  std::string_view rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) target.path = std::string(rest.substr(slash));
  const auto colon = authority.rfind(':');
  const std::string_view host = authority.substr(0, colon);
  if (colon != std::string_view::npos) {
    std::uint64_t port = 0;
    if (!parse_uint(authority.substr(colon + 1), port) || port == 0 || port > 65535) {
      error = "bad port in target '" + std::string(url) + "'";
      return std::nullopt;
    }
    target.port = static_cast<std::uint16_t>(port);
  }
  if (host != "127.0.0.1" && !iequals(host, "localhost")) {
    error = "refusing target host '" + std::string(host) +
            "': switchyard-load only loads 127.0.0.1 or localhost";
    return std::nullopt;
  }
  target.host = std::string(host);
  for (const char c : target.path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "target path must not contain spaces or control characters";
      return std::nullopt;
    }
  }
  return target;
}

ArgsResult parse_load_args(const std::vector<std::string>& args) {
  ArgsResult result;
  LoadOptions options;
  bool saw_connections = false;
  bool saw_rate = false;
  bool saw_duration = false;
  bool saw_model = false;
  bool saw_target = false;
  std::optional<std::string> compare_text;

  auto fail = [&result](std::string message) {
    result.error = std::move(message);
    return result;
  };

  static constexpr std::string_view kValueFlags[] = {
      "--target",         "--mode",      "--connections", "--rate",    "--duration",  "--warmup",
      "--requests",       "--body-file", "--body-bytes",  "--model",   "--mock-json", "--header",
      "--compare-target", "--output",    "--threads",     "--timeout", "--protocol"};

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (flag == "--help" || flag == "-h") {
      result.help = true;
      return result;
    }
    if (flag == "--stream") {
      options.stream = true;
      continue;
    }
    if (flag == "--quiet") {
      options.quiet = true;
      continue;
    }
    if (std::find(std::begin(kValueFlags), std::end(kValueFlags), flag) == std::end(kValueFlags)) {
      return fail("unknown flag: " + std::string(flag));
    }
    if (i + 1 >= args.size()) return fail(std::string(flag) + " wants a value");
    const std::string_view value = args[++i];
    std::uint64_t count = 0;
    double seconds = 0;

    if (flag == "--target" || flag == "--compare-target") {
      std::string error;
      auto url = parse_target_url(value, error);
      if (!url) return fail(std::string(flag) + ": " + error);
      if (flag == "--target") {
        options.target = std::move(*url);
        saw_target = true;
      } else {
        options.compare_target = std::move(*url);
      }
    } else if (flag == "--mode") {
      if (value == "closed") {
        options.mode = LoadMode::kClosed;
      } else if (value == "open") {
        options.mode = LoadMode::kOpen;
      } else if (value == "sequential") {
        options.mode = LoadMode::kSequential;
      } else {
        return fail("--mode wants closed, open or sequential, got '" + std::string(value) + "'");
      }
    } else if (flag == "--protocol") {
      if (value == "openai") {
        options.protocol = ClientProtocol::kOpenAi;
      } else if (value == "anthropic") {
        options.protocol = ClientProtocol::kAnthropic;
      } else {
        return fail("--protocol wants openai or anthropic, got '" + std::string(value) + "'");
      }
    } else if (flag == "--connections") {
      if (!parse_uint(value, count) || count < 1 || count > 1'000'000) {
        return fail("--connections wants an integer in [1, 1000000]");
      }
      options.connections = static_cast<int>(count);
      saw_connections = true;
    } else if (flag == "--rate") {
      if (!parse_double(value, seconds) || seconds <= 0 || seconds > 10'000'000) {
        return fail("--rate wants requests per second > 0");
      }
      options.rate = seconds;
      saw_rate = true;
    } else if (flag == "--duration") {
      if (!parse_double(value, seconds) || seconds <= 0 || seconds > 86'400) {
        return fail("--duration wants seconds > 0");
      }
      options.duration_s = seconds;
      saw_duration = true;
    } else if (flag == "--warmup") {
      if (!parse_double(value, seconds) || seconds < 0 || seconds > 86'400) {
        return fail("--warmup wants seconds >= 0");
      }
      options.warmup_s = seconds;
    } else if (flag == "--requests") {
      if (!parse_uint(value, count) || count < 1 ||
          count > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return fail("--requests wants an integer >= 1");
      }
      options.requests = count;
    } else if (flag == "--body-file") {
      std::ifstream probe{std::string(value), std::ios::binary};
      if (!probe) return fail("--body-file: cannot read '" + std::string(value) + "'");
      options.body_file = std::string(value);
    } else if (flag == "--body-bytes") {
      if (!parse_uint(value, count) || count > (1ull << 32)) {
        return fail("--body-bytes wants a byte count");
      }
      options.body_bytes = static_cast<std::size_t>(count);
    } else if (flag == "--model") {
      options.model = std::string(value);
      saw_model = true;
    } else if (flag == "--mock-json") {
      // Checked here so a typo fails the run up front, then inserted as given.
      simdjson::dom::parser json_parser;
      simdjson::dom::element element;
      if (json_parser.parse(simdjson::padded_string(value)).get(element) != simdjson::SUCCESS ||
          element.type() != simdjson::dom::element_type::OBJECT) {
        return fail("--mock-json wants a JSON object");
      }
      std::string_view trimmed = value;
      while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front())))
        trimmed.remove_prefix(1);
      while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back())))
        trimmed.remove_suffix(1);
      options.mock_json = std::string(trimmed);
    } else if (flag == "--header") {
      const auto colon = value.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        return fail("--header wants \"Name: value\", got '" + std::string(value) + "'");
      }
      const std::string_view name = value.substr(0, colon);
      std::string_view header_value = value.substr(colon + 1);
      while (!header_value.empty() &&
             (header_value.front() == ' ' || header_value.front() == '\t')) {
        header_value.remove_prefix(1);
      }
      if (!std::all_of(name.begin(), name.end(), is_token_char)) {
        return fail("--header: bad header name '" + std::string(name) + "'");
      }
      if (header_value.find_first_of("\r\n") != std::string_view::npos) {
        return fail("--header: value must not contain CR or LF");
      }
      // The generator frames every request itself.
      if (iequals(name, "content-length") || iequals(name, "transfer-encoding")) {
        return fail("--header: " + std::string(name) + " is set by switchyard-load");
      }
      options.headers.emplace_back(std::string(name), std::string(header_value));
    } else if (flag == "--output") {
      options.output_file = std::string(value);
    } else if (flag == "--threads") {
      if (!parse_uint(value, count) || count < 1 || count > 256) {
        return fail("--threads wants an integer in [1, 256]");
      }
      options.threads = static_cast<int>(count);
    } else if (flag == "--timeout") {
      if (!parse_double(value, seconds) || seconds <= 0 || seconds > 86'400) {
        return fail("--timeout wants seconds > 0");
      }
      options.timeout_s = seconds;
    }
  }

  if (!saw_target) return fail("--target is required");
  if (options.mode == LoadMode::kOpen) {
    if (!saw_rate) return fail("--mode open needs --rate");
    if (options.requests) return fail("--requests applies to closed and sequential modes");
    if (!saw_connections) options.connections = 4096;
  } else if (saw_rate) {
    return fail("--rate applies to --mode open only");
  }
  if (options.compare_target && options.mode != LoadMode::kSequential) {
    return fail("--compare-target applies to --mode sequential only");
  }
  if (options.requests && saw_duration) return fail("give --requests or --duration, not both");
  if (options.body_file && options.body_bytes)
    return fail("give --body-file or --body-bytes, not both");
  if (options.body_file && (saw_model || options.mock_json)) {
    return fail("--model and --mock-json shape generated bodies; they do not apply to --body-file");
  }
  if (options.body_bytes) {
    const std::size_t smallest = generated_body(options, {}).size();
    if (*options.body_bytes < smallest) {
      return fail("--body-bytes must be at least " + std::to_string(smallest) +
                  " for this model and mock object");
    }
  }
  result.options = std::move(options);
  return result;
}

std::string make_request_body(const LoadOptions& options) {
  if (options.body_file) {
    std::ifstream in(*options.body_file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read body file " + *options.body_file);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (!options.body_bytes) return generated_body(options, kDefaultContent);
  const std::size_t base = generated_body(options, {}).size();
  if (*options.body_bytes < base) {
    throw std::runtime_error("--body-bytes must be at least " + std::to_string(base));
  }
  // Padding inside the message keeps the body a valid chat request of the exact size, and 'x'
  // needs no JSON escaping, so one content byte is one body byte.
  return generated_body(options, std::string(*options.body_bytes - base, 'x'));
}

// ---------------------------------------------------------------------------------------------
// SSE scanning.

void SseScanner::reset() {
  partial_.clear();
  skip_lf_ = false;
  event_has_data_ = false;
  event_is_done_ = false;
  event_is_error_ = false;
  event_is_delta_ = false;
  event_has_text_delta_ = false;
  events_ = 0;
  timed_events_ = 0;
  done_ = false;
  saw_error_ = false;
}

void SseScanner::feed(std::string_view bytes) {
  std::size_t pos = 0;
  if (skip_lf_ && !bytes.empty()) {
    if (bytes.front() == '\n') pos = 1;
    skip_lf_ = false;
  }
  while (pos < bytes.size()) {
    const auto end = bytes.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) {
      partial_.append(bytes.substr(pos));
      return;
    }
    const std::string_view piece = bytes.substr(pos, end - pos);
    if (partial_.empty()) {
      on_line(piece);
    } else {
      partial_.append(piece);
      on_line(partial_);
      partial_.clear();
    }
    pos = end + 1;
    if (bytes[end] == '\r') {
      if (pos == bytes.size()) {
        skip_lf_ = true;  // the LF of this CRLF may open the next piece
      } else if (bytes[pos] == '\n') {
        ++pos;
      }
    }
  }
}

void SseScanner::on_line(std::string_view line) {
  if (line.empty()) {
    // A blank line dispatches the event; one without data is not an event.
    if (event_has_data_) {
      ++events_;
      done_ = event_is_done_;
      if (event_is_error_) saw_error_ = true;
      if (protocol_ == ClientProtocol::kOpenAi ||
          (event_is_delta_ && event_has_text_delta_ && !event_is_error_)) {
        ++timed_events_;
      }
    }
    event_has_data_ = false;
    event_is_done_ = false;
    event_is_error_ = false;
    event_is_delta_ = false;
    event_has_text_delta_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment
  const auto colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value =
      colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (protocol_ == ClientProtocol::kAnthropic) {
    // Substring checks, not a JSON parse: this runs for every event of thousands of streams.
    // Quotes inside text arrive escaped (\"), so text cannot fake these quoted names.
    if (field == "data") {
      event_has_data_ = true;
      if (value.find("\"error\"") != std::string_view::npos) event_is_error_ = true;
      if (value.find("\"content_block_delta\"") != std::string_view::npos) event_is_delta_ = true;
      if (value.find("\"text_delta\"") != std::string_view::npos) event_has_text_delta_ = true;
      if (value.find("\"message_stop\"") != std::string_view::npos) event_is_done_ = true;
    } else if (field == "event") {
      if (value == "error") event_is_error_ = true;
      if (value == "content_block_delta") event_is_delta_ = true;
      if (value == "message_stop") event_is_done_ = true;
    }
    return;
  }
  if (field == "data") {
    // [DONE] only when it is the event's whole data.
    event_is_done_ = !event_has_data_ && value == "[DONE]";
    event_has_data_ = true;
    if (value.find("\"error\"") != std::string_view::npos) event_is_error_ = true;
  } else if (field == "event" && value == "error") {
    event_is_error_ = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics and the report.

Summary summarize(std::vector<std::int64_t>& samples) {
  Summary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const std::uint64_t n = samples.size();
  // Integer nearest rank, so p99.9 of 1000 samples is exactly the 999th (no float rounding).
  auto at_per_mille = [&](std::uint64_t per_mille) {
    std::uint64_t rank = (n * per_mille + 999) / 1000;
    rank = std::clamp<std::uint64_t>(rank, 1, n);
    return samples[rank - 1];
  };
  s.count = n;
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = at_per_mille(500);
  s.p90 = at_per_mille(900);
  s.p99 = at_per_mille(990);
  s.p999 = at_per_mille(999);
  long double sum = 0;
  for (const auto v : samples) sum += static_cast<long double>(v);
  s.mean = static_cast<double>(sum / static_cast<long double>(n));
  return s;
}

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kConnect:
      return "connect";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kStatus4xx:
      return "status_4xx";
    case ErrorKind::kStatus5xx:
      return "status_5xx";
    case ErrorKind::kReset:
      return "reset";
    case ErrorKind::kClosed:
      return "closed";
    case ErrorKind::kIncompleteStream:
      return "incomplete_stream";
    case ErrorKind::kStreamError:
      return "stream_error";
    case ErrorKind::kBadResponse:
      return "bad_response";
    case ErrorKind::kCount:
      break;
  }
  return "unknown";
}

std::uint64_t SideResult::error_count() const {
  std::uint64_t total = 0;
  for (const auto n : errors) total += n;
  return total;
}

void SideResult::merge(SideResult&& other) {
  ok += other.ok;
  for (std::size_t i = 0; i < kErrorKindCount; ++i) errors[i] += other.errors[i];
  auto append = [](std::vector<std::int64_t>& to, std::vector<std::int64_t>& from) {
    if (to.empty()) {
      to = std::move(from);
    } else {
      to.insert(to.end(), from.begin(), from.end());
    }
  };
  append(latency_ns, other.latency_ns);
  append(ttft_ns, other.ttft_ns);
  append(gap_ns, other.gap_ns);
  events += other.events;
}

namespace {

void append_summary(std::string& out, const Summary& s) {
  auto us = [&out](std::int64_t ns) { append_fixed(out, static_cast<double>(ns) / 1000.0, 1); };
  out += R"({"count":)";
  append_int(out, s.count);
  out += R"(,"min":)";
  us(s.min);
  out += R"(,"p50":)";
  us(s.p50);
  out += R"(,"p90":)";
  us(s.p90);
  out += R"(,"p99":)";
  us(s.p99);
  out += R"(,"p999":)";
  us(s.p999);
  out += R"(,"max":)";
  us(s.max);
  out += R"(,"mean":)";
  append_fixed(out, s.mean / 1000.0, 1);
  out.push_back('}');
}

void append_error_kinds(std::string& out, const std::array<std::uint64_t, kErrorKindCount>& e) {
  out.push_back('{');
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    if (i > 0) out.push_back(',');
    append_json_string(out, error_kind_name(static_cast<ErrorKind>(i)));
    out.push_back(':');
    append_int(out, e[i]);
  }
  out.push_back('}');
}

void append_stream_stats(std::string& out, SideResult& side) {
  out += R"(,"ttft_us":)";
  append_summary(out, summarize(side.ttft_ns));
  out += R"(,"gap_us":)";
  append_summary(out, summarize(side.gap_ns));
  out += R"(,"events_per_stream":)";
  append_fixed(out, side.ok ? static_cast<double>(side.events) / static_cast<double>(side.ok) : 0.0,
               2);
}

std::string us_text(std::int64_t ns) {
  std::string out;
  append_fixed(out, static_cast<double>(ns) / 1000.0, 1);
  return out;
}

}  // namespace

std::string result_json(LoadResult& r) {
  const LoadOptions& o = r.options;
  const bool comparing = o.mode == LoadMode::kSequential && o.compare_target.has_value();
  std::array<std::uint64_t, kErrorKindCount> errors = r.target.errors;
  for (std::size_t i = 0; i < kErrorKindCount; ++i) errors[i] += r.compare.errors[i];
  const std::uint64_t ok = r.target.ok + r.compare.ok;
  const std::uint64_t error_total = r.target.error_count() + r.compare.error_count();

  std::string out;
  out.reserve(2048);
  out += R"({"mode":)";
  append_json_string(out, mode_name(o.mode));
  out += R"(,"protocol":)";
  append_json_string(out, protocol_name(o.protocol));
  out += R"(,"target":)";
  append_json_string(out, o.target.text);
  if (comparing) {
    out += R"(,"compare_target":)";
    append_json_string(out, o.compare_target->text);
  }
  out += R"(,"connections":)";
  append_int(out, o.mode == LoadMode::kSequential ? (comparing ? 2 : 1) : o.connections);
  out += R"(,"connections_opened":)";
  append_int(out, r.connections_opened);
  out += R"(,"threads":)";
  append_int(out, r.threads);
  if (o.mode == LoadMode::kOpen) {
    out += R"(,"rate":)";
    append_fixed(out, o.rate, 3);
  }
  out += R"(,"stream":)";
  out += o.stream ? "true" : "false";
  out += R"(,"duration_s":)";
  append_fixed(out, r.duration_s, 3);
  out += R"(,"requests":)";
  append_int(out, ok + error_total);
  out += R"(,"ok":)";
  append_int(out, ok);
  out += R"(,"errors":)";
  append_int(out, error_total);
  out += R"(,"error_kinds":)";
  append_error_kinds(out, errors);
  out += R"(,"throughput_rps":)";
  append_fixed(out, r.duration_s > 0 ? static_cast<double>(ok) / r.duration_s : 0.0, 1);
  out += R"(,"latency_us":)";
  append_summary(out, summarize(r.target.latency_ns));
  if (o.stream) append_stream_stats(out, r.target);
  if (comparing) {
    out += R"(,"compare":{"requests":)";
    append_int(out, r.compare.ok + r.compare.error_count());
    out += R"(,"ok":)";
    append_int(out, r.compare.ok);
    out += R"(,"errors":)";
    append_int(out, r.compare.error_count());
    out += R"(,"latency_us":)";
    append_summary(out, summarize(r.compare.latency_ns));
    if (o.stream) append_stream_stats(out, r.compare);
    out += R"(,"paired_diff_us":)";
    append_summary(out, summarize(r.paired_diff_ns));
    out.push_back('}');
  }
  out += "}\n";
  return out;
}

std::string result_summary_line(LoadResult& r) {
  const LoadOptions& o = r.options;
  const std::uint64_t ok = r.target.ok + r.compare.ok;
  const std::uint64_t errors = r.target.error_count() + r.compare.error_count();
  std::string out = "switchyard-load: ";
  out += mode_name(o.mode);
  out += ' ';
  out += o.target.text;
  out += ": ";
  append_int(out, ok);
  out += " ok, ";
  append_int(out, errors);
  out += " errors in ";
  append_fixed(out, r.duration_s, 2);
  out += " s (";
  append_fixed(out, r.duration_s > 0 ? static_cast<double>(ok) / r.duration_s : 0.0, 0);
  out += " req/s); latency us p50 ";
  const Summary lat = summarize(r.target.latency_ns);
  out += us_text(lat.p50) + " p99 " + us_text(lat.p99) + " max " + us_text(lat.max);
  if (o.stream) {
    const Summary ttft = summarize(r.target.ttft_ns);
    const Summary gap = summarize(r.target.gap_ns);
    out += "; ttft p50 " + us_text(ttft.p50) + "; gap p50 " + us_text(gap.p50) + " p99 " +
           us_text(gap.p99);
  }
  if (o.mode == LoadMode::kSequential && o.compare_target) {
    const Summary cmp = summarize(r.compare.latency_ns);
    const Summary diff = summarize(r.paired_diff_ns);
    out += "; compare p50 " + us_text(cmp.p50) + "; added p50 " + us_text(diff.p50) + " p99 " +
           us_text(diff.p99);
  }
  bool first_kind = true;
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    const auto n = r.target.errors[i] + r.compare.errors[i];
    if (n == 0) continue;
    out += first_kind ? " [" : ", ";
    first_kind = false;
    out += error_kind_name(static_cast<ErrorKind>(i));
    out += ' ';
    append_int(out, n);
  }
  if (!first_kind) out += ']';
  return out;
}

std::uint64_t raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<std::uint64_t>(limit.rlim_cur);
}

// ---------------------------------------------------------------------------------------------
// The engine.

namespace {

// One side of the comparison: where to connect and the request bytes, serialised once and
// written as they are for every request.
struct Endpoint {
  tcp::endpoint address;
  std::string request;
};

std::string serialize_request(const TargetUrl& target, std::string_view body,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              ClientProtocol protocol) {
  auto given = [&headers](std::string_view name) {
    return std::any_of(headers.begin(), headers.end(),
                       [name](const auto& h) { return iequals(h.first, name); });
  };
  std::string out;
  out.reserve(body.size() + 256);
  out += "POST ";
  out += target.path;
  out += " HTTP/1.1\r\n";
  if (!given("host")) {
    out += "Host: " + target.host + ":" + std::to_string(target.port) + "\r\n";
  }
  if (!given("content-type")) out += "Content-Type: application/json\r\n";
  if (!given("user-agent")) out += "User-Agent: switchyard-load\r\n";
  if (protocol == ClientProtocol::kAnthropic) {
    // Messages refuses a request without a version; the key stands in for a client's own.
    if (!given("anthropic-version")) {
      out += "anthropic-version: " + std::string(kAnthropicVersion) + "\r\n";
    }
    if (!given("x-api-key")) out += "x-api-key: " + std::string(kAnthropicKey) + "\r\n";
  }
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}

tcp::endpoint resolve(const TargetUrl& target) {
  // Both allowed host names mean the IPv4 loopback; no resolver needed.
  return tcp::endpoint(net::ip::address_v4::loopback(), target.port);
}

void preflight(const Endpoint& endpoint, const std::string& url) {
  net::io_context io;
  tcp::socket socket(io);
  beast::error_code ec;
  socket.connect(endpoint.address, ec);
  if (ec) throw TargetUnreachable("cannot connect to " + url + ": " + ec.message());
}

// Shared by every worker; read-only once the threads start, except the atomics.
struct RunPlan {
  const LoadOptions* options = nullptr;
  Endpoint target;
  std::optional<Endpoint> compare;
  Clock::duration timeout{};
  bool by_count = false;  // --requests: stop after N recorded requests
  Clock::time_point t0;
  Clock::time_point measure_start;
  Clock::time_point measure_end;  // by duration only
  std::atomic<std::int64_t> tickets{0};
  std::atomic<bool> connected_once{false};
};

// A response parser that keeps the status and the body's bytes, and no header field: the
// load tool needs nothing else, and Beast's response_parser stores every field in a node of its
// own (an allocation and a tree insertion each). Storing them made the load tool's CPU per
// response grow with the server's header count, on the cores it shares with the server it
// measures: six rate-limit fields cost it ~0.5 us a response. Framing (Content-Length,
// chunked, keep-alive) is the base parser's, as before.
class LeanResponseParser : public http::basic_parser<false> {
 public:
  unsigned status() const { return status_; }
  // Where the next body bytes go; need_buffer once it is full, as with buffer_body.
  void body_room(char* data, std::size_t size) {
    out_ = data;
    room_ = size;
  }
  std::size_t room_left() const { return room_; }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    status_ = static_cast<unsigned>(code);
  }
  void on_field_impl(http::field, beast::string_view, beast::string_view,
                     beast::error_code&) override {}
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, beast::error_code& ec) override {
    if (room_ == 0) {
      ec = http::error::need_buffer;
      return 0;
    }
    const std::size_t n = std::min(room_, body.size());
    std::memcpy(out_, body.data(), n);
    out_ += n;
    room_ -= n;
    return n;
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code& ec) override {
    return on_body_impl(body, ec);
  }
  void on_finish_impl(beast::error_code&) override {}

  unsigned status_ = 0;
  char* out_ = nullptr;
  std::size_t room_ = 0;
};

struct Connection {
  explicit Connection(net::io_context& io) : socket(io), buffer(kReadBufferLimit) {
    buffer.reserve(kReadBufferInitial);
    gaps.reserve(64);
  }

  tcp::socket socket;
  beast::flat_buffer buffer;
  std::array<char, kBodyScratch> scratch{};
  std::optional<LeanResponseParser> parser;
  SseScanner sse;
  std::vector<std::int64_t> gaps;  // of the request in progress
  Clock::time_point deadline = Clock::time_point::max();
  Clock::time_point idle_since{};
  bool open = false;
  bool timed_out = false;
};

struct Outcome {
  std::optional<ErrorKind> error;
  bool aborted = false;  // cut short by the end of the run: never recorded
  Clock::time_point end;
  std::int64_t ttft_ns = 0;
  bool timed = false;  // a timed event arrived, so ttft_ns is a measurement
  std::uint32_t events = 0;
};

// True when the server has closed an idle keep-alive connection (or sent something unasked),
// so it must not carry the next request. One non-blocking peek, no data consumed.
bool peer_closed(tcp::socket& socket) {
  char byte = 0;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return true;
  if (n == 0) return true;
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

bool is_http_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_version).category();
}

class Worker {
 public:
  Worker(RunPlan& plan, int index, int thread_count, std::size_t connections)
      : plan_(plan),
        index_(index),
        thread_count_(thread_count),
        max_connections_(connections),
        watchdog_(io_),
        end_timer_(io_),
        schedule_timer_(io_) {
    const LoadOptions& o = *plan_.options;
    connections_.reserve(connections);
    if (o.mode != LoadMode::kOpen) {
      for (std::size_t i = 0; i < connections; ++i) {
        connections_.push_back(std::make_unique<Connection>(io_));
      }
    }
    // Room for the expected samples up front, so recording never reallocates mid-run for the
    // usual sizes.
    std::size_t expected = 1 << 16;
    if (o.requests) {
      expected =
          static_cast<std::size_t>(*o.requests / static_cast<std::uint64_t>(thread_count) + 1);
    } else if (o.mode == LoadMode::kOpen) {
      expected = static_cast<std::size_t>(o.rate * o.duration_s / thread_count) + 16;
    }
    expected = std::min<std::size_t>(expected, std::size_t{1} << 22);
    target_.latency_ns.reserve(expected);
    if (o.stream) target_.ttft_ns.reserve(expected);
  }

  void start() {
    const LoadOptions& o = *plan_.options;
    net::co_spawn(io_, watchdog(), rethrow);
    switch (o.mode) {
      case LoadMode::kClosed:
        live_loops_ = connections_.size();
        for (auto& c : connections_) net::co_spawn(io_, closed_loop(*c), rethrow);
        if (!plan_.by_count) {
          end_timer_.expires_at(plan_.measure_end);
          end_timer_.async_wait([this](beast::error_code ec) {
            if (!ec) finish();
          });
        }
        break;
      case LoadMode::kOpen:
        net::co_spawn(io_, scheduler(), rethrow);
        break;
      case LoadMode::kSequential:
        net::co_spawn(io_, sequential_loop(), rethrow);
        break;
    }
  }

  void run() {
    try {
      io_.run();
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  SideResult target_;
  SideResult compare_;
  std::vector<std::int64_t> pair_diff_;
  Clock::time_point last_completion_{};
  std::size_t max_open_ = 0;
  std::exception_ptr error_;

 private:
  static void rethrow(const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
  }

  // Ends the run on this thread: whatever is still in flight is aborted (closed mode by
  // duration), or nothing is (everything else finishes before calling this).
  void finish() {
    if (stopping_) return;
    stopping_ = true;
    watchdog_.cancel();
    end_timer_.cancel();
    schedule_timer_.cancel();
    for (auto& c : connections_) {
      beast::error_code ignored;
      c->socket.close(ignored);
    }
  }

  void close(Connection& c) {
    beast::error_code ignored;
    c.socket.close(ignored);
    if (c.open) {
      c.open = false;
      --open_now_;
    }
    c.buffer.clear();
    c.deadline = Clock::time_point::max();
  }

  // Closes connections whose request has passed its deadline; their pending operation then
  // fails and the exchange reports a timeout. One sweep per tick is far cheaper than arming a
  // timer for every read and write.
  net::awaitable<void> watchdog() {
    const auto tick = std::clamp<Clock::duration>(plan_.timeout / 4, std::chrono::milliseconds(10),
                                                  std::chrono::milliseconds(250));
    while (!stopping_) {
      watchdog_.expires_after(tick);
      co_await watchdog_.async_wait(kTok);
      const auto now = Clock::now();
      for (auto& c : connections_) {
        if (c->deadline <= now) {
          c->timed_out = true;
          c->deadline = Clock::time_point::max();
          beast::error_code ignored;
          c->socket.close(ignored);
        }
      }
    }
  }

  Outcome fail(Connection& c, ErrorKind kind) {
    Outcome o;
    o.end = Clock::now();
    o.aborted = stopping_;
    o.error = c.timed_out ? ErrorKind::kTimeout : kind;
    close(c);
    return o;
  }

  static ErrorKind io_error_kind(const beast::error_code& ec) {
    if (ec == net::error::connection_reset || ec == net::error::broken_pipe)
      return ErrorKind::kReset;
    if (is_http_error(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return ErrorKind::kBadResponse;
    }
    return ErrorKind::kClosed;
  }

  // One request on `c` (connecting first when needed) and its whole response. Latency and
  // time to first event run from `origin`: the send start, or in open mode the intended send
  // time, so a queue in front of a stalled server shows up in the numbers.
  net::awaitable<Outcome> exchange(Connection& c, const Endpoint& endpoint,
                                   Clock::time_point origin) {
    const bool stream = plan_.options->stream;
    const auto started = Clock::now();
    c.timed_out = false;
    c.deadline = started + plan_.timeout;
    if (c.open && started - c.idle_since > kIdleCheckAfter && peer_closed(c.socket)) close(c);
    if (!c.open) {
      c.deadline = started + plan_.timeout;  // close() cleared it
      auto [ec] = co_await c.socket.async_connect(endpoint.address, kTok);
      if (ec) co_return fail(c, ErrorKind::kConnect);
      beast::error_code ignored;
      c.socket.set_option(tcp::no_delay(true), ignored);
      c.open = true;
      plan_.connected_once.store(true, std::memory_order_relaxed);
      max_open_ = std::max(max_open_, ++open_now_);
    }

    {
      auto [ec, n] = co_await net::async_write(c.socket, net::buffer(endpoint.request), kTok);
      if (ec) co_return fail(c, io_error_kind(ec));
    }

    c.parser.emplace();
    auto& parser = *c.parser;
    // Streams are not parsed eagerly: an eager parse runs on into the next chunk header and,
    // finding it incomplete, makes read_some wait for more bytes, holding back events that
    // already arrived. Without streaming only the last byte's time matters, and eager parsing
    // saves a pass through read_some per response.
    parser.eager(!stream);
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);
    c.sse.set_protocol(plan_.options->protocol);
    c.sse.reset();
    c.gaps.clear();
    bool scanning = false;  // a 2xx answer to a streaming request: its body is SSE
    Outcome o;
    Clock::time_point last_event{};
    for (;;) {
      parser.body_room(c.scratch.data(), c.scratch.size());
      auto [ec, n] = co_await http::async_read_some(c.socket, c.buffer, parser, kTok);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        co_return fail(c, scanning ? ErrorKind::kIncompleteStream : io_error_kind(ec));
      }
      if (!scanning && stream && parser.is_header_done() && parser.status() / 100 == 2) {
        scanning = true;
      }
      const std::size_t got = c.scratch.size() - parser.room_left();
      if (scanning && got > 0) {
        // Timed events: every event for OpenAI, the text events for Anthropic.
        const auto before = c.sse.timed_events();
        c.sse.feed(std::string_view(c.scratch.data(), got));
        const auto after = c.sse.timed_events();
        if (after > before) {
          // Events completed by the same read arrived together: one real gap, then zeros.
          const auto now = Clock::now();
          if (before == 0) {
            o.ttft_ns = std::chrono::duration_cast<nanoseconds>(now - origin).count();
            o.timed = true;
          } else {
            c.gaps.push_back(std::chrono::duration_cast<nanoseconds>(now - last_event).count());
          }
          for (auto i = before + 1; i < after; ++i) c.gaps.push_back(0);
          last_event = now;
        }
      }
      if (parser.is_done()) break;
    }

    o.end = Clock::now();
    c.deadline = Clock::time_point::max();
    c.idle_since = o.end;
    const unsigned status = parser.status();
    const bool keep_alive = parser.keep_alive();
    c.parser.reset();
    if (!keep_alive) close(c);
    if (status / 100 == 2) {
      if (stream) {
        o.events = c.sse.events();
        if (c.sse.saw_error()) {
          o.error = ErrorKind::kStreamError;
        } else if (!c.sse.done()) {
          o.error = ErrorKind::kIncompleteStream;
        }
      }
    } else if (status / 100 == 4) {
      o.error = ErrorKind::kStatus4xx;
    } else if (status / 100 == 5) {
      o.error = ErrorKind::kStatus5xx;
    } else {
      o.error = ErrorKind::kBadResponse;
    }
    co_return o;
  }

  // Returns the latency recorded (ns), or -1 for an error.
  std::int64_t record(SideResult& side, const Outcome& o, const Connection& c,
                      Clock::time_point origin) {
    last_completion_ = std::max(last_completion_, o.end);
    if (o.error) {
      ++side.errors[static_cast<std::size_t>(*o.error)];
      return -1;
    }
    ++side.ok;
    const auto latency = std::chrono::duration_cast<nanoseconds>(o.end - origin).count();
    side.latency_ns.push_back(latency);
    if (plan_.options->stream) {
      // An Anthropic stream may end properly without any text: it has no first token.
      if (o.timed) side.ttft_ns.push_back(o.ttft_ns);
      side.gap_ns.insert(side.gap_ns.end(), c.gaps.begin(), c.gaps.end());
      side.events += o.events;
    }
    return latency;
  }

  // Closed loop: send, read the whole response, repeat. By duration a request counts when it
  // completes inside the window (exact throughput; the run aborts what is in flight at its end);
  // by count it counts when it starts after the warm-up, holding one of the N tickets.
  net::awaitable<void> closed_loop(Connection& c) {
    net::steady_timer backoff(io_);
    while (!stopping_) {
      const auto start = Clock::now();
      bool ticket = false;
      if (plan_.by_count) {
        if (start >= plan_.measure_start) {
          if (plan_.tickets.fetch_sub(1, std::memory_order_relaxed) <= 0) break;
          ticket = true;
        }
      } else if (start >= plan_.measure_end) {
        break;
      }
      const Outcome o = co_await exchange(c, plan_.target, start);
      if (o.aborted) break;
      const bool counts =
          plan_.by_count ? ticket : (o.end >= plan_.measure_start && o.end < plan_.measure_end);
      if (counts) record(target_, o, c, start);
      if (o.error == ErrorKind::kConnect && !stopping_) {
        backoff.expires_after(kConnectBackoff);
        co_await backoff.async_wait(kTok);
      }
    }
    close(c);
    if (--live_loops_ == 0) finish();
  }

  // Open loop: request k of the whole run is due at t0 + k/rate; this thread owns every
  // thread_count-th k, so the threads' schedules interleave into one even schedule.
  net::awaitable<void> scheduler() {
    const double period_ns = 1e9 / plan_.options->rate;
    for (std::uint64_t i = 0;; ++i) {
      const std::uint64_t k =
          i * static_cast<std::uint64_t>(thread_count_) + static_cast<std::uint64_t>(index_);
      const auto due =
          plan_.t0 +
          nanoseconds(static_cast<std::int64_t>(std::llround(static_cast<double>(k) * period_ns)));
      if (due >= plan_.measure_end) break;
      if (Clock::now() < due) {
        schedule_timer_.expires_at(due);
        co_await schedule_timer_.async_wait(kTok);
        if (stopping_) co_return;
      }
      dispatch(due);
    }
    scheduling_done_ = true;
    if (busy_ == 0) finish();
  }

  void dispatch(Clock::time_point due) {
    Connection* c = nullptr;
    if (!idle_.empty()) {
      // Most recently used first: it is the one most likely still open and warm.
      c = idle_.back();
      idle_.pop_back();
    } else if (connections_.size() < max_connections_) {
      connections_.push_back(std::make_unique<Connection>(io_));
      c = connections_.back().get();
    } else {
      // Every connection is busy: the request waits, and its clock is already running.
      pending_.push_back(due);
      return;
    }
    ++busy_;
    net::co_spawn(io_, drive(*c, due), rethrow);
  }

  // Runs requests on one connection until no due request is waiting, then returns it to the
  // idle pool.
  net::awaitable<void> drive(Connection& c, Clock::time_point due) {
    for (;;) {
      const Outcome o = co_await exchange(c, plan_.target, due);
      if (!o.aborted && due >= plan_.measure_start && due < plan_.measure_end) {
        record(target_, o, c, due);
      }
      if (pending_.empty() || stopping_) break;
      due = pending_.front();
      pending_.pop_front();
    }
    idle_.push_back(&c);
    --busy_;
    if (scheduling_done_ && busy_ == 0) finish();
  }

  // One request at a time: target, compare-target, target, ... each on its own keep-alive
  // connection. A pair starts on the target side so paired differences stay aligned.
  net::awaitable<void> sequential_loop() {
    const bool comparing = plan_.compare.has_value();
    Connection& target_conn = *connections_[0];
    Connection& compare_conn = comparing ? *connections_[1] : *connections_[0];
    const std::uint64_t limit =
        plan_.options->requests.value_or(std::numeric_limits<std::uint64_t>::max());
    std::uint64_t recorded = 0;
    bool measuring = false;
    std::int64_t target_latency = -1;
    net::steady_timer backoff(io_);
    bool compare_side = false;
    for (;;) {
      const auto start = Clock::now();
      if (!compare_side) {
        if (!plan_.by_count && start >= plan_.measure_end) break;
        measuring = start >= plan_.measure_start;
      }
      if (measuring && recorded >= limit) break;
      Connection& c = compare_side ? compare_conn : target_conn;
      const Endpoint& endpoint = compare_side ? *plan_.compare : plan_.target;
      const Outcome o = co_await exchange(c, endpoint, start);
      if (measuring) {
        ++recorded;
        if (compare_side) {
          const auto latency = record(compare_, o, c, start);
          if (latency >= 0 && target_latency >= 0) pair_diff_.push_back(latency - target_latency);
        } else {
          target_latency = record(target_, o, c, start);
        }
      }
      if (o.error == ErrorKind::kConnect) {
        backoff.expires_after(kConnectBackoff);
        co_await backoff.async_wait(kTok);
      }
      if (comparing) compare_side = !compare_side;
    }
    finish();
  }

  net::io_context io_{1};  // one thread per context: Asio may skip its locks
  RunPlan& plan_;
  const int index_;
  const int thread_count_;
  const std::size_t max_connections_;
  std::vector<std::unique_ptr<Connection>> connections_;
  net::steady_timer watchdog_;
  net::steady_timer end_timer_;
  net::steady_timer schedule_timer_;
  bool stopping_ = false;
  std::size_t live_loops_ = 0;
  std::size_t open_now_ = 0;
  // Open mode.
  std::vector<Connection*> idle_;
  std::deque<Clock::time_point> pending_;
  std::size_t busy_ = 0;
  bool scheduling_done_ = false;
};

}  // namespace

LoadResult run_load(const LoadOptions& options) {
  LoadResult result;
  result.options = options;
  RunPlan plan;
  plan.options = &result.options;
  const std::string body = make_request_body(options);
  plan.target =
      Endpoint{resolve(options.target),
               serialize_request(options.target, body, options.headers, options.protocol)};
  if (options.mode == LoadMode::kSequential && options.compare_target) {
    plan.compare = Endpoint{
        resolve(*options.compare_target),
        serialize_request(*options.compare_target, body, options.headers, options.protocol)};
  }
  preflight(plan.target, options.target.text);
  if (plan.compare) preflight(*plan.compare, options.compare_target->text);

  plan.timeout =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout_s));
  plan.by_count = options.requests.has_value();
  plan.tickets = static_cast<std::int64_t>(options.requests.value_or(0));

  int threads =
      options.mode == LoadMode::kSequential ? 1 : std::min(options.threads, options.connections);
  threads = std::max(threads, 1);
  result.threads = threads;
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < threads; ++i) {
    std::size_t share = 1;
    if (options.mode == LoadMode::kSequential) {
      share = plan.compare ? 2 : 1;
    } else {
      share = static_cast<std::size_t>(options.connections / threads) +
              (i < options.connections % threads ? 1 : 0);
    }
    workers.push_back(std::make_unique<Worker>(plan, i, threads, share));
  }

  plan.t0 = Clock::now();
  plan.measure_start = plan.t0 + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(options.warmup_s));
  plan.measure_end =
      plan.by_count ? Clock::time_point::max()
                    : plan.measure_start + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(options.duration_s));
  for (auto& w : workers) w->start();
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < workers.size(); ++i)
    pool.emplace_back([w = workers[i].get()] { w->run(); });
  workers[0]->run();
  for (auto& t : pool) t.join();

  Clock::time_point last{};
  for (auto& w : workers) {
    if (w->error_) std::rethrow_exception(w->error_);
    result.target.merge(std::move(w->target_));
    result.compare.merge(std::move(w->compare_));
    result.paired_diff_ns.insert(result.paired_diff_ns.end(), w->pair_diff_.begin(),
                                 w->pair_diff_.end());
    result.connections_opened += w->max_open_;
    last = std::max(last, w->last_completion_);
  }
  if (!plan.connected_once.load()) {
    throw TargetUnreachable("no connection to " + options.target.text + " succeeded");
  }
  // Closed and open runs by duration measure their fixed window; runs by count and sequential
  // runs (whose last pair may finish after the window) measure up to their last completion.
  const bool fixed_window = !plan.by_count && options.mode != LoadMode::kSequential;
  const auto window_end = fixed_window ? plan.measure_end : last;
  result.duration_s = window_end > plan.measure_start
                          ? std::chrono::duration<double>(window_end - plan.measure_start).count()
                          : 0.0;
  return result;
}

}  // namespace switchyard::bench
