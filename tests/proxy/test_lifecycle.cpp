// The binary's life: config checking, TLS to upstreams, request ids, and the graceful drain.
#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>

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

TEST_CASE("the --check flag validates a config: errors name file and line and exit 1") {
  char tmpl[] = "/tmp/switchyard-check-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
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
  auto gw = ChildProcess::start(
      {SWITCHYARD_BIN, "--config", SWITCHYARD_SOURCE_DIR "/deploy/switchyard.yaml", "--listen",
       "127.0.0.1:0"},
      {{"OPENAI_API_KEY", ""}});
  const auto port = port_from_listening_line(gw.wait_for_line("listening on", 20s));
  StreamingResponse stream(port, "POST", "/v1/chat/completions",
                           chat_body("mock-gpt", R"(,"stream":true)"));
  REQUIRE(stream.status() == 200);
  CHECK(sse_data(stream.read_all()).back() == "[DONE]");
  const std::string series =
      R"(switchyard_requests_total{model="mock-gpt",provider="mock",status="2xx"})";
  CHECK(metric_value(wait_for_metric(port, series, 1), series) == 1);
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
