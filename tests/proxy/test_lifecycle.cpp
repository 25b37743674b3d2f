// The binary's life: config checking, TLS to upstreams, request ids, and the graceful drain.
#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "tests/proxy/gateway_fixture.hpp"

using namespace switchyard::testing;

TEST_CASE("SIGTERM lets a running stream finish, then the gateway exits 0") {
  GatewayFixture gw;
  StreamingResponse stream(
      gw.port, "POST", "/v1/chat/completions",
      chat_body("gpt-test", R"(,"stream":true,"mock":{"chunks":8,"chunk_delay_ms":150})"));
  REQUIRE(stream.status() == 200);
  REQUIRE(stream.next_piece(10s));
  gw.gateway().send_signal(SIGTERM);
  gw.gateway().wait_for_output("draining", 10s);
  // New connections are refused once draining has begun, while the stream goes on.
  CHECK_THROWS(http_request(gw.port, "GET", "/health/live", {}, {}, 2s));
  auto events = sse_data(stream.read_all());
  CHECK(events.size() >= 8);
  CHECK(events.back() == "[DONE]");
  auto code = gw.gateway().wait_exit(20s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

TEST_CASE("SIGTERM with nothing in flight exits at once, closing idle keep-alive connections") {
  GatewayFixture gw;
  HttpConnection idle(gw.port);
  REQUIRE(idle.request("GET", "/health/live").status == 200);
  gw.gateway().send_signal(SIGTERM);
  auto code = gw.gateway().wait_exit(10s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
}

TEST_CASE("every response carries a request id: the client's when usable, else a generated one") {
  GatewayFixture gw;
  auto res = http_request(gw.port, "GET", "/health/live");
  CHECK(res.header("x-request-id").starts_with("sy-"));
  auto res2 = http_request(gw.port, "GET", "/health/live");
  CHECK(res2.header("x-request-id") != res.header("x-request-id"));
  auto mine = http_request(gw.port, "GET", "/health/live", {}, {{"x-request-id", "trace-abc"}});
  CHECK(mine.header("x-request-id") == "trace-abc");
  CHECK(!mine.header("x-switchyard-overhead-us").empty());
}

TEST_CASE("TLS upstreams are verified: a trusted certificate works, an unknown one gives 502") {
  SECTION("trusted through the provider's ca_file") {
    GatewayFixture gw({.upstream_tls = true});
    auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"));
    CHECK(res.status == 200);
    StreamingResponse stream(gw.port, "POST", "/v1/chat/completions",
                             chat_body("gpt-test", R"(,"stream":true)"));
    CHECK(sse_data(stream.read_all()).back() == "[DONE]");
  }
  SECTION("self-signed and not trusted") {
    GatewayFixture gw({.upstream_tls = true, .trust_upstream_cert = false});
    auto res = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"));
    CHECK(res.status == 502);
    CHECK(metric_value(gw.metrics(),
                       R"(switchyard_upstream_errors_total{provider="upstream",reason="tls"})") ==
          1);
  }
}

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The names of the environment variables a config refers to (${NAME} and ${NAME:-default}),
// outside YAML comments.
std::set<std::string> variables_in(std::string_view config) {
  std::set<std::string> names;
  std::size_t line_start = 0;
  while (line_start < config.size()) {
    std::size_t line_end = config.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = config.size();
    std::string_view line = config.substr(line_start, line_end - line_start);
    for (std::size_t hash = line.find('#'); hash != std::string_view::npos;
         hash = line.find('#', hash + 1)) {
      if (hash == 0 || line[hash - 1] == ' ' || line[hash - 1] == '\t') {
        line = line.substr(0, hash);
        break;
      }
    }
    for (std::size_t at = line.find("${"); at != std::string_view::npos;
         at = line.find("${", at + 2)) {
      const std::size_t end = line.find_first_of(":}", at + 2);
      if (end != std::string_view::npos) names.emplace(line.substr(at + 2, end - at - 2));
    }
    line_start = line_end + 1;
  }
  return names;
}

}  // namespace

TEST_CASE("the --check flag validates a config: errors name file and line and exit 1") {
  const std::string dir = make_temp_dir("switchyard-check");
  std::ofstream(dir + "/bad.yaml")
      << "listen: 127.0.0.1:4000\nproviders:\n  - name: p\n    type: openai_compatible\n"
         "    base_url: http://127.0.0.1:1/v1\nmodels:\n  - name: m\n    provider: q\n";
  auto bad = ChildProcess::start({SWITCHYARD_BIN, "--config", dir + "/bad.yaml", "--check"});
  CHECK(bad.wait_exit(10s) == std::optional<int>(1));
  CHECK(bad.output().find("bad.yaml:8:") != std::string::npos);

  auto good = ChildProcess::start(
      {SWITCHYARD_BIN, "--config", SWITCHYARD_SOURCE_DIR "/deploy/switchyard.yaml", "--check"});
  CHECK(good.wait_exit(10s) == std::optional<int>(0));

  auto version = ChildProcess::start({SWITCHYARD_BIN, "--version"});
  CHECK(version.wait_exit(10s) == std::optional<int>(0));
  CHECK(version.output().starts_with("switchyard "));
  std::filesystem::remove_all(dir);
}

TEST_CASE("the default config serves the mock model with no API key in the environment") {
  // Every variable the default config reads is emptied (which its ${VAR:-} treats as unset),
  // so a machine with a provider key set runs this test as one without.
  const auto variables = variables_in(read_text(SWITCHYARD_SOURCE_DIR "/deploy/switchyard.yaml"));
  REQUIRE_FALSE(variables.empty());
  std::map<std::string, std::string> env;
  for (const std::string& name : variables) env[name] = "";
  // In a directory of its own: the config's ledger (`database: switchyard.db`) is relative.
  const std::string dir = make_temp_dir("switchyard-default");
  auto gw = ChildProcess::start(
      {SWITCHYARD_BIN, "--config", SWITCHYARD_SOURCE_DIR "/deploy/switchyard.yaml", "--listen",
       "127.0.0.1:0"},
      env, dir);
  const auto port = port_from_listening_line(gw.wait_for_line("listening on", 20s));
  // Each keyed provider said it is off for want of its key; without a master key, client
  // authentication is off, and the gateway said that too.
  CHECK(gw.output().find("client authentication is off") != std::string::npos);
  for (const std::string& name : variables) {
    // The gateway's own (the master key, the state store and its URLs), not a provider's.
    if (name.starts_with("SWITCHYARD_")) continue;
    INFO(name << " in: " << gw.output());
    CHECK(gw.output().find("disabled: api_key is empty (set " + name + ")") != std::string::npos);
  }
  StreamingResponse stream(port, "POST", "/v1/chat/completions",
                           chat_body("mock-gpt", R"(,"stream":true)"));
  REQUIRE(stream.status() == 200);
  CHECK(sse_data(stream.read_all()).back() == "[DONE]");
  const std::string series =
      R"(switchyard_requests_total{model="mock-gpt",provider="mock",status="2xx"})";
  CHECK(metric_value(wait_for_metric(port, series, 1), series) == 1);
  // The ledger, where the config says: the state store's variables unset mean SQLite.
  CHECK(std::filesystem::exists(dir + "/switchyard.db"));
  gw.send_signal(SIGTERM);
  CHECK(gw.wait_exit(20s) == std::optional<int>(0));
  std::filesystem::remove_all(dir);
}

TEST_CASE("--help names the protocols the gateway speaks and every flag the README gives") {
  auto help = ChildProcess::start({SWITCHYARD_BIN, "--help"});
  REQUIRE(help.wait_exit(10s) == std::optional<int>(0));
  const std::string text = help.output();
  for (const char* said : {"OpenAI Chat Completions", "OpenAI Responses", "Anthropic Messages",
                           "--config FILE", "--listen HOST:PORT", "--check", "--version"}) {
    INFO(said);
    CHECK(text.find(said) != std::string::npos);
  }
  CHECK(text.find("one OpenAI-compatible endpoint") == std::string::npos);
}

TEST_CASE("the README's quick start names every model of the default config") {
  std::ifstream config_file(SWITCHYARD_SOURCE_DIR "/deploy/switchyard.yaml");
  std::ifstream readme_file(SWITCHYARD_SOURCE_DIR "/README.md");
  REQUIRE(config_file);
  REQUIRE(readme_file);
  const std::string readme((std::istreambuf_iterator<char>(readme_file)), {});
  const std::string quick_start = readme.substr(0, readme.find("\n## Endpoints"));
  std::string line;
  int models = 0;
  bool in_models = false;  // the "- name:" items after "models:" (providers come before it)
  while (std::getline(config_file, line)) {
    if (line.starts_with("models:")) in_models = true;
    const std::string prefix = "  - name: ";
    if (!in_models || !line.starts_with(prefix)) continue;
    const std::string name = line.substr(prefix.size());
    INFO(name);
    ++models;
    CHECK(quick_start.find("`" + name + "`") != std::string::npos);
  }
  CHECK(models > 4);
}
