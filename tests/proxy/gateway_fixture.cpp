#include "tests/proxy/gateway_fixture.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace switchyard::testing {

GatewayFixture::GatewayFixture(GatewayOptions options) {
  dir = make_temp_dir("switchyard-test");
  access_log_path = dir + "/access.log";

  std::vector<std::string> mock_argv{SWITCHYARD_MOCK_UPSTREAM_BIN, "--listen", "127.0.0.1:0"};
  std::string scheme = "http";
  std::string ca_line;
  if (options.upstream_tls) {
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -days 1 -keyout " +
        dir + "/key.pem -out " + dir + "/cert.pem 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl could not make a cert");
    mock_argv.insert(mock_argv.end(),
                     {"--tls-cert", dir + "/cert.pem", "--tls-key", dir + "/key.pem"});
    scheme = "https";
    if (options.trust_upstream_cert) ca_line = "    ca_file: " + dir + "/cert.pem\n";
  }
  mock_argv.insert(mock_argv.end(), options.mock_args.begin(), options.mock_args.end());
  mock_.emplace(ChildProcess::start(mock_argv));
  mock_port = port_from_listening_line(mock_->wait_for_line("listening on", 20s));

  if (options.prepare) options.prepare(dir);
  for (std::size_t at = options.top_level.find("@DIR@"); at != std::string::npos;
       at = options.top_level.find("@DIR@", at))
    options.top_level.replace(at, 5, dir);
  std::ostringstream config;
  config << "listen: 127.0.0.1:0\n"
         << "workers: " << options.workers << "\n"
         << "access_log: " << access_log_path << "\n"
         << options.top_level << "\n"
         << options.routing << "\n"
         << "providers:\n"
         << "  - name: upstream\n"
         << "    type: openai_compatible\n"
         << "    base_url: " << scheme << "://127.0.0.1:" << mock_port << "/v1\n"
         << "    api_key: ${UPSTREAM_KEY}\n"
         << ca_line << options.upstream_extra
         << "\n"
         // One provider of every other type in front of the same mock, for translation tests.
         << "  - {name: up-openai, type: openai, base_url: \"" << scheme
         << "://127.0.0.1:" << mock_port << "/v1\", api_key: \"${UPSTREAM_KEY}\""
         << (ca_line.empty() ? "" : ", ca_file: " + dir + "/cert.pem") << "}\n"
         << "  - {name: up-azure, type: azure, base_url: \"" << scheme
         << "://127.0.0.1:" << mock_port << "\", api_key: \"${UPSTREAM_KEY}\""
         << (ca_line.empty() ? "" : ", ca_file: " + dir + "/cert.pem") << "}\n"
         << "  - {name: up-anthropic, type: anthropic, base_url: \"" << scheme
         << "://127.0.0.1:" << mock_port << "\", api_key: \"${UPSTREAM_KEY}\""
         << (ca_line.empty() ? "" : ", ca_file: " + dir + "/cert.pem") << "}\n"
         << "  - {name: up-gemini, type: gemini, base_url: \"" << scheme
         << "://127.0.0.1:" << mock_port << "/v1beta\", api_key: \"${UPSTREAM_KEY}\""
         << (ca_line.empty() ? "" : ", ca_file: " + dir + "/cert.pem") << "}\n"
         << "  - name: local-mock\n"
         << "    type: mock\n"
         << "    mock: {ttft_ms: 10, tokens_per_second: 1000, reply: \"Hello from the in-process "
            "mock.\"}\n"
         << options.extra_providers << "models:\n"
         << "  - name: gpt-test\n"
         << "    provider: upstream\n"
         << "    model: upstream-model-id\n"
         << "    price: {input_per_mtok: 2, output_per_mtok: 8, cached_input_per_mtok: 1}\n"
         << "  - {name: openai-test, provider: up-openai, model: openai-upstream}\n"
         << "  - {name: azure-test, provider: up-azure, model: azure-deployment}\n"
         << "  - {name: claude-test, provider: up-anthropic, model: claude-upstream}\n"
         << "  - {name: gemini-test, provider: up-gemini, model: gemini-upstream}\n"
         << "  - {name: openai-reasoner, provider: up-openai, model: o3, reasoning: true}\n"
         << "  - {name: claude-reasoner, provider: up-anthropic, model: claude-sonnet-4-5}\n"
         << "  - name: mock-test\n"
         << "    provider: local-mock\n"
         << "    price: {input_per_mtok: 1, output_per_mtok: 1}\n"
         << options.extra_models;
  const std::string config_path = dir + "/switchyard.yaml";
  std::ofstream(config_path) << config.str();

  gateway_.emplace(ChildProcess::start({SWITCHYARD_BIN, "--config", config_path},
                                       {{"UPSTREAM_KEY", kUpstreamKey}}));
  port = port_from_listening_line(gateway_->wait_for_line("listening on", 20s));
}

GatewayFixture::~GatewayFixture() {
  gateway_.reset();
  mock_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

boost::json::object GatewayFixture::mock_stats() {
  return parse_object(http_request(mock_port, "GET", "/mock/stats").body);
}

boost::json::object GatewayFixture::last_upstream_request() {
  return parse_object(http_request(mock_port, "GET", "/mock/last-request").body);
}

std::int64_t GatewayFixture::wait_mock_stat(std::string_view field, std::int64_t value,
                                            std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::int64_t seen = -1;
  while (std::chrono::steady_clock::now() < until) {
    seen = mock_stats().at(field).as_int64();
    if (seen == value) return seen;
    std::this_thread::sleep_for(10ms);  // poll interval while waiting for the condition
  }
  return seen;
}

std::string GatewayFixture::wait_access_log_line(std::string_view needle,
                                                 std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream in(access_log_path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(needle) != std::string::npos) return line;
    }
    std::this_thread::sleep_for(10ms);  // poll interval while waiting for the condition
  }
  throw std::runtime_error("no access log line containing " + std::string(needle));
}

std::string GatewayFixture::wait_access_log_lines(std::size_t count,
                                                  std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream in(access_log_path);
    std::ostringstream text;
    text << in.rdbuf();
    const std::string log = text.str();
    if (static_cast<std::size_t>(std::count(log.begin(), log.end(), '\n')) >= count) return log;
    std::this_thread::sleep_for(10ms);  // poll interval while waiting for the condition
  }
  throw std::runtime_error("the access log has fewer than " + std::to_string(count) + " lines");
}

std::string GatewayFixture::metrics() { return http_request(port, "GET", "/metrics").body; }

std::string chat_body(std::string_view model, std::string_view extra) {
  std::string body = R"({"model":")";
  body += model;
  body += R"(","messages":[{"role":"user","content":"Say hello"}])";
  body += extra;
  body += "}";
  return body;
}

boost::json::object parse_object(std::string_view json) {
  boost::system::error_code ec;
  auto value = boost::json::parse(json, ec);
  if (ec || !value.is_object()) throw std::runtime_error("not a JSON object: " + std::string(json));
  return value.as_object();
}

std::vector<std::string> sse_data(std::string_view body) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find("\n\n", pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view event = body.substr(pos, end - pos);
    std::size_t line_start = 0;
    while (line_start < event.size()) {
      std::size_t line_end = event.find('\n', line_start);
      if (line_end == std::string_view::npos) line_end = event.size();
      std::string_view line = event.substr(line_start, line_end - line_start);
      if (line.starts_with("data: ")) out.emplace_back(line.substr(6));
      line_start = line_end + 1;
    }
    pos = end + 2;
  }
  return out;
}

std::string wait_for_metric(std::uint16_t port, std::string_view series, double value,
                            std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::string text;
  while (true) {
    text = http_request(port, "GET", "/metrics").body;
    if (text.find(series) != std::string::npos && metric_value(text, series) == value) return text;
    if (std::chrono::steady_clock::now() >= until) return text;
    std::this_thread::sleep_for(10ms);  // poll interval while waiting for the condition
  }
}

double metric_value(std::string_view exposition, std::string_view series) {
  std::size_t pos = 0;
  while ((pos = exposition.find(series, pos)) != std::string_view::npos) {
    const bool line_start = pos == 0 || exposition[pos - 1] == '\n';
    const std::size_t after = pos + series.size();
    if (line_start && after < exposition.size() && exposition[after] == ' ') {
      const std::size_t end = exposition.find('\n', after);
      return std::stod(std::string(exposition.substr(after + 1, end - after - 1)));
    }
    pos = after;
  }
  throw std::runtime_error("no series " + std::string(series) + " in metrics");
}

}  // namespace switchyard::testing
