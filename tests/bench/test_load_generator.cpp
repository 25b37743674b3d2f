// The load generator as the scenario runner uses it: the real switchyard-load binary against
// the real mock upstream over loopback, plus the pure pieces (SSE scanning at every split
// point, generated bodies, percentiles, URL checks) in-process.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "bench/load_generator.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"

namespace {

namespace json = boost::json;
namespace sb = switchyard::bench;
using namespace std::chrono_literals;
using switchyard::testing::ChildProcess;
using switchyard::testing::http_request;

struct Mock {
  ChildProcess process;
  std::uint16_t port;

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions";
  }
  std::string anthropic_url() const {
    return "http://127.0.0.1:" + std::to_string(port) + "/v1/messages";
  }
};

Mock start_mock() {
  auto process = ChildProcess::start({SWITCHYARD_MOCK_UPSTREAM_BIN});
  const std::string line = process.wait_for_line("listening on", 10s);
  const auto port = switchyard::testing::port_from_listening_line(line);
  return Mock{std::move(process), port};
}

json::object get_json(std::uint16_t port, const char* target) {
  auto res = http_request(port, "GET", target, {}, {}, 5s);
  REQUIRE(res.status == 200);
  return json::parse(res.body).as_object();
}

std::int64_t mock_requests(std::uint16_t port) {
  return get_json(port, "/mock/stats").at("requests").as_int64();
}

struct LoadRun {
  int exit_code = -1;
  json::object report;  // empty unless the run wrote one
  std::string output;   // what the process printed
};

// Runs switchyard-load to completion with the given flags, its report going to a fresh file.
LoadRun run_load(std::vector<std::string> flags, std::chrono::milliseconds limit = 20s) {
  static int counter = 0;
  const auto report_path = std::filesystem::temp_directory_path() /
                           ("switchyard-load-test-" + std::to_string(::getpid()) + "-" +
                            std::to_string(++counter) + ".json");
  std::filesystem::remove(report_path);
  std::vector<std::string> argv{SWITCHYARD_LOAD_BIN};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {"--output", report_path.string()});
  auto process = ChildProcess::start(argv);
  const auto code = process.wait_exit(limit);
  REQUIRE(code.has_value());
  LoadRun run;
  run.exit_code = *code;
  run.output = process.output();
  std::ifstream in(report_path);
  if (in) {
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    run.report = json::parse(text).as_object();
  }
  std::filesystem::remove(report_path);
  return run;
}

double num(const json::value& v) {
  return v.is_double() ? v.as_double() : static_cast<double>(v.as_int64());
}

// Every summary has the same keys, in order, and its order statistics are ordered.
void check_summary(const json::value& value, std::int64_t count) {
  const auto& s = value.as_object();
  std::vector<std::string> keys;
  for (const auto& kv : s) keys.emplace_back(kv.key());
  CHECK(keys ==
        std::vector<std::string>{"count", "min", "p50", "p90", "p99", "p999", "max", "mean"});
  CHECK(s.at("count").as_int64() == count);
  if (count == 0) return;
  CHECK(num(s.at("min")) <= num(s.at("p50")));
  CHECK(num(s.at("p50")) <= num(s.at("p90")));
  CHECK(num(s.at("p90")) <= num(s.at("p99")));
  CHECK(num(s.at("p99")) <= num(s.at("p999")));
  CHECK(num(s.at("p999")) <= num(s.at("max")));
  CHECK(num(s.at("min")) <= num(s.at("mean")));
  CHECK(num(s.at("mean")) <= num(s.at("max")));
}

std::int64_t kind(const json::object& report, const char* name) {
  return report.at("error_kinds").at(name).as_int64();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Against the mock upstream.

TEST_CASE("closed mode with --requests sends exactly that many requests") {
  auto mock = start_mock();
  auto run = run_load({"--target", mock.url(), "--requests", "300", "--connections", "8",
                       "--warmup", "0", "--quiet"});
  REQUIRE(run.exit_code == 0);
  const auto& r = run.report;
  CHECK(r.at("mode") == "closed");
  CHECK(r.at("target").as_string() == mock.url());
  CHECK(r.at("connections") == 8);
  CHECK(r.at("requests") == 300);
  CHECK(r.at("ok") == 300);
  CHECK(r.at("errors") == 0);
  CHECK(num(r.at("throughput_rps")) > 0);
  CHECK(num(r.at("duration_s")) > 0);
  check_summary(r.at("latency_us"), 300);
  CHECK(num(r.at("latency_us").at("min")) > 0);
  CHECK(!r.contains("ttft_us"));
  CHECK(!r.contains("compare"));
  // Every error kind is always present, so a runner can read any of them.
  CHECK(r.at("error_kinds").as_object().size() == 9);
  CHECK(mock_requests(mock.port) == 300);
}

TEST_CASE("open mode sends on its schedule and reports latencies") {
  auto mock = start_mock();
  auto run = run_load({"--target", mock.url(), "--mode", "open", "--rate", "200", "--duration", "1",
                       "--warmup", "0"});
  REQUIRE(run.exit_code == 0);
  const auto& r = run.report;
  CHECK(r.at("mode") == "open");
  CHECK(num(r.at("rate")) == 200.0);
  CHECK(r.at("connections") == 4096);
  const auto requests = r.at("requests").as_int64();
  CHECK(requests >= 190);
  CHECK(requests <= 210);
  CHECK(r.at("ok") == requests);
  CHECK(num(r.at("duration_s")) == Approx(1.0).margin(0.01));
  check_summary(r.at("latency_us"), requests);
  CHECK(mock_requests(mock.port) == requests);
  // The human summary line goes to stderr without --quiet.
  CHECK(run.output.find("switchyard-load: open") != std::string::npos);
}

TEST_CASE("streaming mode measures time to first event and the gaps between events") {
  auto mock = start_mock();
  auto run = run_load({"--target", mock.url(), "--stream", "--mock-json",
                       R"({"chunks":5,"chunk_delay_ms":20})", "--requests", "12", "--connections",
                       "4", "--warmup", "0", "--quiet"});
  REQUIRE(run.exit_code == 0);
  const auto& r = run.report;
  CHECK(r.at("stream") == true);
  CHECK(r.at("ok") == 12);
  CHECK(r.at("errors") == 0);
  // role, five contents, finish (and [DONE]).
  const double events = num(r.at("events_per_stream"));
  CHECK(events >= 7.0);
  CHECK(events <= 8.0);
  check_summary(r.at("ttft_us"), 12);
  CHECK(num(r.at("ttft_us").at("min")) > 0);
  // Four of each stream's gaps are the mock's 20 ms pacing; the others are near zero.
  CHECK(num(r.at("gap_us").at("p50")) >= 15000.0);
  CHECK(num(r.at("latency_us").at("p50")) >= 60000.0);
  // Time to first event is the role chunk, sent before any pacing.
  CHECK(num(r.at("ttft_us").at("p50")) < num(r.at("latency_us").at("p50")));
}

TEST_CASE("anthropic streams are timed from the first text delta, gaps between text deltas") {
  auto mock = start_mock();
  auto run = run_load({"--target", mock.anthropic_url(), "--protocol", "anthropic", "--stream",
                       "--mock-json", R"({"chunks":5,"chunk_delay_ms":20})", "--requests", "12",
                       "--connections", "4", "--warmup", "0", "--quiet"});
  REQUIRE(run.exit_code == 0);
  const auto& r = run.report;
  CHECK(r.at("protocol") == "anthropic");
  CHECK(r.at("stream") == true);
  CHECK(r.at("ok") == 12);
  CHECK(r.at("errors") == 0);
  // message_start, content_block_start, ping, five deltas, content_block_stop, message_delta,
  // message_stop: every event is counted, only the text deltas are timed.
  CHECK(num(r.at("events_per_stream")) == 11.0);
  check_summary(r.at("ttft_us"), 12);
  // Four gaps per stream: between the five text deltas, none for the events around them.
  check_summary(r.at("gap_us"), 12 * 4);
  CHECK(num(r.at("ttft_us").at("p50")) <= num(r.at("latency_us").at("p50")));
  // The mock counts a stream once its last write completes, which can land just after the
  // client has read message_stop: poll for it (bounded) rather than read it once.
  auto stats = get_json(mock.port, "/mock/stats");
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (stats.at("streams_completed") != 12 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval while waiting
    stats = get_json(mock.port, "/mock/stats");
  }
  CHECK(stats.at("protocols").at("anthropic_messages") == 12);
  CHECK(stats.at("streams_completed") == 12);
}

TEST_CASE("anthropic requests carry the version header, a key and max_tokens") {
  auto mock = start_mock();
  // Without anthropic-version or max_tokens the mock answers 400, so 5 ok proves both.
  auto run = run_load({"--target", mock.anthropic_url(), "--protocol", "anthropic", "--model",
                       "claude-bench", "--requests", "5", "--connections", "1", "--warmup", "0",
                       "--quiet"});
  REQUIRE(run.exit_code == 0);
  CHECK(run.report.at("ok") == 5);
  CHECK(!run.report.contains("ttft_us"));
  const auto last = get_json(mock.port, "/mock/last-request");
  CHECK(last.at("protocol") == "anthropic_messages");
  CHECK(last.at("headers").at("anthropic-version") == "2023-06-01");
  CHECK(!last.at("headers").at("x-api-key").as_string().empty());
  const auto body = json::parse(last.at("body").as_string()).as_object();
  CHECK(body.at("model") == "claude-bench");
  CHECK(body.at("max_tokens") == 256);
  CHECK(body.at("stream") == false);
  CHECK(body.at("messages").at(0).at("role") == "user");
  CHECK(body.at("messages").at(0).at("content").is_string());
}

TEST_CASE("anthropic streams cut short or carrying an error event are counted as such") {
  auto mock = start_mock();
  auto cut = run_load({"--target", mock.anthropic_url(), "--protocol", "anthropic", "--stream",
                       "--mock-json", R"({"fault":"cut","cut_after":2})", "--requests", "4",
                       "--connections", "2", "--warmup", "0", "--quiet"});
  REQUIRE(cut.exit_code == 0);
  CHECK(kind(cut.report, "incomplete_stream") == 4);
  CHECK(cut.report.at("ok") == 0);
  auto error = run_load({"--target", mock.anthropic_url(), "--protocol", "anthropic", "--stream",
                         "--mock-json", R"({"fault":"stream_error","cut_after":2,"status":529})",
                         "--requests", "4", "--connections", "2", "--warmup", "0", "--quiet"});
  REQUIRE(error.exit_code == 0);
  CHECK(kind(error.report, "stream_error") == 4);
  CHECK(error.report.at("ok") == 0);
}

TEST_CASE("an OpenAI stream read as Anthropic never ends: the protocols are not mixed up") {
  // The chat stream has no message_stop and no text_delta, so an Anthropic reader must call it
  // incomplete rather than time its chunks as tokens.
  auto mock = start_mock();
  auto run = run_load({"--target", mock.url(), "--protocol", "anthropic", "--stream", "--requests",
                       "3", "--connections", "1", "--warmup", "0", "--quiet"});
  REQUIRE(run.exit_code == 0);
  CHECK(kind(run.report, "incomplete_stream") == 3);
  check_summary(run.report.at("ttft_us"), 0);
}

TEST_CASE("upstream 5xx replies are counted as status_5xx errors and the run still succeeds") {
  auto mock = start_mock();
  auto run = run_load({"--target", mock.url(), "--mock-json", R"({"fault":"status","status":500})",
                       "--requests", "10", "--connections", "2", "--warmup", "0", "--quiet"});
  REQUIRE(run.exit_code == 0);
  const auto& r = run.report;
  CHECK(r.at("requests") == 10);
  CHECK(r.at("ok") == 0);
  CHECK(r.at("errors") == 10);
  CHECK(kind(r, "status_5xx") == 10);
  CHECK(kind(r, "status_4xx") == 0);
  check_summary(r.at("latency_us"), 0);  // errors are kept out of latency
}

TEST_CASE("a stream cut short counts as incomplete_stream") {
  auto mock = start_mock();
  auto run = run_load({"--target", mock.url(), "--stream", "--mock-json",
                       R"({"fault":"cut","cut_after":2})", "--requests", "4", "--connections", "2",
                       "--warmup", "0", "--quiet"});
  REQUIRE(run.exit_code == 0);
  CHECK(kind(run.report, "incomplete_stream") == 4);
  CHECK(run.report.at("ok") == 0);
}

TEST_CASE("a --body-bytes body reaches the mock as valid JSON of exactly that size") {
  auto mock = start_mock();
  auto run = run_load({"--target", mock.url(), "--body-bytes", "1048576", "--requests", "2",
                       "--connections", "1", "--warmup", "0", "--quiet"});
  REQUIRE(run.exit_code == 0);
  CHECK(run.report.at("ok") == 2);
  const auto last = get_json(mock.port, "/mock/last-request");
  const auto& body = last.at("body").as_string();
  CHECK(body.size() == 1048576);
  const auto parsed = json::parse(body).as_object();
  CHECK(parsed.at("model") == "bench");
  CHECK(last.at("headers").at("content-length") == "1048576");
}

TEST_CASE("sequential mode alternates two targets and reports paired differences") {
  auto a = start_mock();
  auto b = start_mock();
  auto run = run_load({"--mode", "sequential", "--target", a.url(), "--compare-target", b.url(),
                       "--requests", "20", "--warmup", "0", "--quiet"});
  REQUIRE(run.exit_code == 0);
  const auto& r = run.report;
  CHECK(r.at("mode") == "sequential");
  CHECK(r.at("compare_target").as_string() == b.url());
  CHECK(r.at("requests") == 20);
  CHECK(r.at("ok") == 20);
  check_summary(r.at("latency_us"), 10);
  const auto& compare = r.at("compare").as_object();
  CHECK(compare.at("requests") == 10);
  check_summary(compare.at("latency_us"), 10);
  check_summary(compare.at("paired_diff_us"), 10);
  CHECK(mock_requests(a.port) == 10);
  CHECK(mock_requests(b.port) == 10);
}

TEST_CASE("bad arguments exit 2 without sending anything") {
  auto mock = start_mock();
  const std::vector<std::vector<std::string>> bad = {
      {"--mode", "sideways", "--target", mock.url()},
      {"--requests", "5"},                                             // no target
      {"--target", "http://example.com:80/v1/chat/completions"},       // not loopback
      {"--target", "https://127.0.0.1:443/v1/chat/completions"},       // not http
      {"--target", mock.url(), "--mode", "open"},                      // open needs a rate
      {"--target", mock.url(), "--requests", "5", "--duration", "1"},  // one or the other
      {"--target", mock.url(), "--mock-json", "[1,2]"},                // not an object
      {"--target", mock.url(), "--body-bytes", "10"},                  // smaller than any body
      {"--target", mock.url(), "--connections", "0"},
      {"--target", mock.url(), "--frobnicate"},
      {"--target", mock.url(), "--protocol", "gemini"},
  };
  for (const auto& flags : bad) {
    INFO(flags.front() << " " << flags.back());
    auto run = run_load(flags, 10s);
    CHECK(run.exit_code == 2);
    CHECK(run.report.empty());
  }
  CHECK(mock_requests(mock.port) == 0);
}

TEST_CASE("an unreachable target exits 1") {
  // A bound socket that does not listen: connecting to its port is refused, and nobody else
  // can take the port while the test holds it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const std::string url =
      "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/v1/chat/completions";
  auto run = run_load({"--target", url, "--requests", "3", "--warmup", "0"}, 10s);
  ::close(fd);
  CHECK(run.exit_code == 1);
  CHECK(run.report.empty());
  CHECK(run.output.find("unreachable") != std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The pure pieces.

TEST_CASE("SSE scanner finds the same events at every split point and line ending") {
  const std::string lf =
      "data: {\"a\":1}\n\n: keep-alive comment\n\ndata: {\"b\":2}\ndata: more\n\n"
      "event: message\ndata: {\"c\":3}\n\ndata: [DONE]\n\n";
  std::string crlf;
  std::string cr;
  for (const char c : lf) {
    crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    cr += c == '\n' ? '\r' : c;
  }
  for (const auto& body : {lf, crlf, cr}) {
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
      for (std::size_t cut2 = cut; cut2 <= body.size(); cut2 += 7) {
        sb::SseScanner scanner;
        scanner.feed(std::string_view(body).substr(0, cut));
        scanner.feed(std::string_view(body).substr(cut, cut2 - cut));
        scanner.feed(std::string_view(body).substr(cut2));
        INFO("cut at " << cut << " and " << cut2);
        REQUIRE(scanner.events() == 4);
        REQUIRE(scanner.done());
        REQUIRE(!scanner.saw_error());
      }
    }
  }
}

TEST_CASE("SSE scanner: a stream must end with DONE and an error event is flagged") {
  sb::SseScanner scanner;
  scanner.feed("data: {\"x\":1}\n\ndata: [DONE]\n");  // [DONE] not yet terminated
  CHECK(scanner.events() == 1);
  CHECK(!scanner.done());
  scanner.feed("\n");
  CHECK(scanner.done());

  scanner.reset();
  scanner.feed("data: {\"x\":1}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n");
  CHECK(scanner.events() == 2);
  CHECK(scanner.saw_error());
  CHECK(!scanner.done());

  scanner.reset();
  scanner.feed("data: [DONE] and more\n\n");
  CHECK(!scanner.done());
}

TEST_CASE("SSE scanner, Anthropic: text deltas are timed and message_stop ends the stream") {
  const std::string lf =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\","
      "\"content\":[],\"stop_reason\":null}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: ping\ndata: {\"type\": \"ping\"}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"text_delta\",\"text\":\"say \\\"message_stop\\\"\"}}\n\n"
      ": keep-alive comment\n\n"
      "event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, "
      "\"delta\": {\"type\": \"text_delta\", \"text\": \"world\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
      "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
      "\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  std::string crlf;
  for (const char c : lf) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  for (const auto& body : {lf, crlf}) {
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
      sb::SseScanner scanner(sb::ClientProtocol::kAnthropic);
      scanner.feed(std::string_view(body).substr(0, cut));
      // The quoted "message_stop" inside the text is escaped: it must not end the stream.
      if (cut < body.find("event: message_stop")) REQUIRE(!scanner.done());
      scanner.feed(std::string_view(body).substr(cut));
      INFO("cut at " << cut);
      REQUIRE(scanner.events() == 9);
      REQUIRE(scanner.timed_events() == 2);  // the two text deltas, not the tool's JSON
      REQUIRE(scanner.done());
      REQUIRE(!scanner.saw_error());
    }
  }

  // [DONE] means nothing to an Anthropic reader; an error event is flagged and not timed.
  sb::SseScanner scanner(sb::ClientProtocol::kAnthropic);
  scanner.feed("data: [DONE]\n\n");
  CHECK(!scanner.done());
  CHECK(scanner.timed_events() == 0);
  scanner.reset();
  scanner.feed(
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
      "\"message\":\"Overloaded\"}}\n\n");
  CHECK(scanner.events() == 1);
  CHECK(scanner.saw_error());
  CHECK(scanner.timed_events() == 0);
  CHECK(!scanner.done());

  // OpenAI, as before: every event is timed.
  sb::SseScanner openai;
  openai.feed("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\ndata: [DONE]\n\n");
  CHECK(openai.events() == 2);
  CHECK(openai.timed_events() == 2);
  CHECK(openai.done());
}

TEST_CASE("generated Anthropic bodies are valid Messages requests and --body-bytes is exact") {
  auto parsed = sb::parse_load_args({"--target", "http://127.0.0.1:9/v1/messages", "--protocol",
                                     "anthropic", "--stream", "--mock-json", R"({"chunks":3})"});
  REQUIRE(parsed.options);
  auto options = *parsed.options;
  CHECK(options.protocol == sb::ClientProtocol::kAnthropic);
  const auto body = json::parse(sb::make_request_body(options)).as_object();
  CHECK(body.at("model") == "bench");
  CHECK(body.at("max_tokens") == 256);
  CHECK(body.at("stream") == true);
  CHECK(body.at("messages").at(0).at("role") == "user");
  CHECK(body.at("mock") == json::parse(R"({"chunks":3})"));
  options.stream = false;
  CHECK(json::parse(sb::make_request_body(options)).at("stream") == false);
  for (const std::size_t size : {std::size_t{200}, std::size_t{1} << 16}) {
    options.body_bytes = size;
    const auto padded = sb::make_request_body(options);
    CHECK(padded.size() == size);
    CHECK(json::parse(padded).at("max_tokens") == 256);
  }
  // The default stays OpenAI.
  parsed = sb::parse_load_args({"--target", "http://127.0.0.1:9/v1/chat/completions"});
  REQUIRE(parsed.options);
  CHECK(parsed.options->protocol == sb::ClientProtocol::kOpenAi);
}

TEST_CASE("generated bodies are valid chat requests and --body-bytes is exact") {
  auto parsed =
      sb::parse_load_args({"--target", "http://127.0.0.1:9/v1/chat/completions", "--stream",
                           "--model", "m\"x", "--mock-json", R"({ "chunks" : 3 })"});
  REQUIRE(parsed.options);
  auto options = *parsed.options;
  const auto small = json::parse(sb::make_request_body(options)).as_object();
  CHECK(small.at("model") == "m\"x");
  CHECK(small.at("stream") == true);
  CHECK(small.at("mock") == json::parse(R"({"chunks":3})"));
  CHECK(small.at("messages").at(0).at("role") == "user");

  sb::LoadOptions plain;
  const auto default_body = sb::make_request_body(plain);
  CHECK(default_body.size() >= 120);
  CHECK(default_body.size() <= 200);
  CHECK(!json::parse(default_body).as_object().contains("stream"));

  for (const std::size_t size : {std::size_t{200}, std::size_t{4096}, std::size_t{1} << 20}) {
    options.body_bytes = size;
    const auto body = sb::make_request_body(options);
    CHECK(body.size() == size);
    CHECK(json::parse(body).at("mock") == json::parse(R"({"chunks":3})"));
  }
}

TEST_CASE("percentiles are exact nearest-rank order statistics") {
  std::vector<std::int64_t> samples;
  for (int i = 1000; i >= 1; --i) samples.push_back(i * 1000);
  const auto s = sb::summarize(samples);
  CHECK(s.count == 1000);
  CHECK(s.min == 1000);
  CHECK(s.p50 == 500'000);
  CHECK(s.p90 == 900'000);
  CHECK(s.p99 == 990'000);
  CHECK(s.p999 == 999'000);
  CHECK(s.max == 1'000'000);
  CHECK(s.mean == Approx(500'500.0));

  std::vector<std::int64_t> one{-7};
  const auto single = sb::summarize(one);
  CHECK(single.p50 == -7);
  CHECK(single.p999 == -7);
  std::vector<std::int64_t> none;
  CHECK(sb::summarize(none).count == 0);
}

TEST_CASE("targets must be plain http on the loopback") {
  std::string error;
  auto url = sb::parse_target_url("http://localhost:4000/v1/chat/completions", error);
  REQUIRE(url);
  CHECK(url->port == 4000);
  CHECK(url->path == "/v1/chat/completions");
  url = sb::parse_target_url("http://127.0.0.1", error);
  REQUIRE(url);
  CHECK(url->port == 80);
  CHECK(url->path == "/");
  for (const char* bad :
       {"http://10.0.0.1:80/", "http://127.0.0.2:80/", "ftp://127.0.0.1/", "https://localhost:443/",
        "http://127.0.0.1:0/", "http://127.0.0.1:99999/", "http://localhost.example.com/",
        "127.0.0.1:80"}) {
    INFO(bad);
    CHECK(!sb::parse_target_url(bad, error));
    CHECK(!error.empty());
  }
}
