#pragma once
// Starts the mock upstream and a gateway configured in front of it, each as a real process
// on 127.0.0.1 with a kernel-picked port, in a scratch directory removed afterwards.
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "tests/support/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/temp_dir.hpp"

namespace switchyard::testing {

using namespace std::chrono_literals;

struct GatewayOptions {
  std::string top_level;  // extra top-level YAML lines
  // Most tests look at one exchange per request: no retries unless a test asks for them.
  std::string routing = "routing: {retry: {attempts: 1}}";
  std::string upstream_extra;  // extra YAML lines for the "upstream" provider (4-space indent)
  std::vector<std::string> mock_args;  // extra switchyard-mock-upstream flags
  bool upstream_tls = false;           // serve the mock over HTTPS with a fresh self-signed cert
  bool trust_upstream_cert = true;
  int workers = 2;
  // More items for the config's "providers:" and "models:" lists (each line indented two
  // spaces, e.g. "  - {name: hostile, type: anthropic, base_url: ...}\n"): providers of any
  // type in front of another server, such as a HostileUpstream.
  std::string extra_providers;
  std::string extra_models;
  // Runs in the scratch directory before the gateway starts (e.g. to put keys in a store).
  // "@DIR@" in top_level stands for that directory.
  std::function<void(const std::string& dir)> prepare;
};

class GatewayFixture {
 public:
  explicit GatewayFixture(GatewayOptions options = {});
  ~GatewayFixture();

  std::uint16_t port = 0;       // the gateway
  std::uint16_t mock_port = 0;  // the mock upstream
  std::string dir;              // scratch directory
  std::string access_log_path;
  static constexpr const char* kUpstreamKey = "sk-switchyard-test-secret-4242";

  ChildProcess& gateway() { return *gateway_; }
  ChildProcess& mock() { return *mock_; }

  boost::json::object mock_stats();
  boost::json::object last_upstream_request();
  // Polls /mock/stats until `field` reaches `value` or the deadline passes; returns the last
  // value seen. Waiting on the real event, never a fixed sleep.
  std::int64_t wait_mock_stat(std::string_view field, std::int64_t value,
                              std::chrono::milliseconds deadline = 10s);
  // Waits until the access log has a line containing `needle`, returns that line.
  std::string wait_access_log_line(std::string_view needle,
                                   std::chrono::milliseconds deadline = 10s);
  // Waits until the access log has at least `count` lines (it is written behind the answers),
  // returns the whole log; throws at the deadline.
  std::string wait_access_log_lines(std::size_t count, std::chrono::milliseconds deadline = 10s);
  std::string metrics();

 private:
  std::optional<ChildProcess> mock_;
  std::optional<ChildProcess> gateway_;
};

// A chat request body; `extra` is spliced in as more top-level members (",\"stream\":true").
std::string chat_body(std::string_view model, std::string_view extra = {});
boost::json::object parse_object(std::string_view json);
// The data payloads of an SSE body, in order.
std::vector<std::string> sse_data(std::string_view body);
// Metrics are recorded once a request's last byte is sent, so a scrape right after the
// response may come first: polls /metrics on `port` until `series` reads `value` (or the
// deadline passes) and returns the last exposition seen.
std::string wait_for_metric(std::uint16_t port, std::string_view series, double value,
                            std::chrono::milliseconds deadline = 10s);
// The value of one Prometheus sample line, e.g. metric_value(text, "switchyard_x{a=\"b\"}").
double metric_value(std::string_view exposition, std::string_view series);

}  // namespace switchyard::testing
