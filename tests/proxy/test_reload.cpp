// Config reload (SIGHUP, POST /admin/reload): new requests see the new config, requests and
// streams in flight finish on the one they started with, a bad config is refused and the
// running one keeps serving, restart-only settings are named.
#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/proxy/gateway_fixture.hpp"
#include "tests/proxy/governance_support.hpp"

using namespace switchyard::testing;

namespace {

std::string config_path(const GatewayFixture& gw) { return gw.dir + "/switchyard.yaml"; }

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// As an operator's tooling does: the new file is written beside the old and renamed over it.
void write_config(const GatewayFixture& gw, const std::string& text) {
  const std::string temporary = config_path(gw) + ".new";
  std::ofstream(temporary) << text;
  std::filesystem::rename(temporary, config_path(gw));
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string upstream_model_of_last_request(GatewayFixture& gw) {
  const auto sent = parse_object(gw.last_upstream_request().at("body").as_string());
  return std::string(sent.at("model").as_string());
}

constexpr const char* kAddedModel =
    "  - {name: added-by-reload, provider: upstream, model: added-upstream-id}\n";

}  // namespace

TEST_CASE("SIGHUP during 50 streams: every stream completes, new requests see the new config") {
  GatewayFixture gw;
  const std::string before = read_text(config_path(gw));
  HttpConnection keep_alive(gw.port);
  REQUIRE(keep_alive.request("POST", "/v1/chat/completions", chat_body("gpt-test")).status == 200);
  CHECK(upstream_model_of_last_request(gw) == "upstream-model-id");

  constexpr int kStreams = 50;
  constexpr int kChunks = 12;
  std::vector<StreamingResponse> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.emplace_back(
        gw.port, "POST", "/v1/chat/completions",
        chat_body("gpt-test", R"(,"stream":true,"mock":{"chunks":12,"chunk_delay_ms":200})"));
    REQUIRE(streams.back().status() == 200);
  }
  // Every stream is under way at the gateway: its upstream request has arrived.
  REQUIRE(gw.wait_mock_stat("requests", kStreams + 1) == kStreams + 1);

  // The new config: gpt-test goes to another upstream model at another price, and a model is
  // added.
  std::string after =
      replaced(before, "    model: upstream-model-id\n", "    model: reloaded-upstream-id\n");
  after = replaced(after, "price: {input_per_mtok: 2, output_per_mtok: 8",
                   "price: {input_per_mtok: 2000, output_per_mtok: 8000");
  write_config(gw, after + kAddedModel);
  gw.gateway().mark_output();
  gw.gateway().send_signal(SIGHUP);
  gw.gateway().wait_for_output("config reloaded", 10s);

  // New requests, on a new connection and on the keep-alive one, use the new config.
  auto added = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("added-by-reload"));
  CHECK(added.status == 200);
  CHECK(upstream_model_of_last_request(gw) == "added-upstream-id");
  REQUIRE(keep_alive.request("POST", "/v1/chat/completions", chat_body("gpt-test")).status == 200);
  CHECK(upstream_model_of_last_request(gw) == "reloaded-upstream-id");
  CHECK(http_request(gw.port, "GET", "/v1/models").body.find("added-by-reload") !=
        std::string::npos);

  // Every stream that started before the reload runs to its end, whole.
  for (auto& stream : streams) {
    const auto events = sse_data(stream.read_all());
    REQUIRE(events.size() >= kChunks + 1);
    CHECK(events.back() == "[DONE]");
    int content = 0;
    for (const auto& e : events)
      if (e.find("\"content\"") != std::string::npos) ++content;
    CHECK(content >= kChunks);
  }
  CHECK(gw.wait_mock_stat("requests", kStreams + 3) == kStreams + 3);

  const std::string text =
      wait_for_metric(gw.port, R"(switchyard_config_reloads_total{result="success"})", 1);
  CHECK(metric_value(text, R"(switchyard_config_reloads_total{result="failure"})") == 0);
  CHECK(metric_value(text, "switchyard_config_last_reload_successful") == 1);
  CHECK(text.find("switchyard_config_info{hash=") != std::string::npos);
  // Only the new config's hash is exported.
  std::size_t hashes = 0;
  for (auto at = text.find("\nswitchyard_config_info{"); at != std::string::npos;
       at = text.find("\nswitchyard_config_info{", at + 1))
    ++hashes;
  CHECK(hashes == 1);
  // The new model has its series; the streams' requests counted under gpt-test.
  CHECK(text.find(R"(switchyard_requests_total{model="added-by-reload",provider="upstream",)") !=
        std::string::npos);
  CHECK(metric_value(
            text,
            R"(switchyard_requests_total{model="gpt-test",provider="upstream",status="2xx"})") ==
        kStreams + 2);
}

TEST_CASE("a config with errors is refused with file:line, and the running config keeps serving") {
  GatewayFixture gw;
  const std::string before = read_text(config_path(gw));
  const std::string first_hash = [&] {
    const std::string text = gw.metrics();
    const auto at = text.find("switchyard_config_info{hash=\"");
    REQUIRE(at != std::string::npos);
    return text.substr(at + 29, 16);
  }();
  // An unknown provider on a new model, and a bad number: each error with its line.
  write_config(gw, before + "  - {name: broken, provider: no-such-provider}\n" +
                       "  - {name: broken-2, provider: upstream, weight: -3}\n");
  gw.gateway().mark_output();
  gw.gateway().send_signal(SIGHUP);
  const std::string refused = gw.gateway().wait_for_output("reload refused", 10s);
  CHECK(refused.find("the running config keeps serving") != std::string::npos);
  const std::string log = gw.gateway().output();
  CHECK(log.find("switchyard.yaml:") != std::string::npos);
  CHECK(log.find("no-such-provider") != std::string::npos);

  // The old config serves on, unchanged.
  CHECK(http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test")).status == 200);
  CHECK(http_request(gw.port, "POST", "/v1/chat/completions", chat_body("broken")).status == 404);
  const std::string text =
      wait_for_metric(gw.port, R"(switchyard_config_reloads_total{result="failure"})", 1);
  CHECK(metric_value(text, "switchyard_config_last_reload_successful") == 0);
  CHECK(text.find("switchyard_config_info{hash=\"" + first_hash + "\"} 1") != std::string::npos);

  // A file that cannot be read is refused the same way.
  std::filesystem::remove(config_path(gw));
  gw.gateway().send_signal(SIGHUP);
  CHECK(gw.gateway().wait_for_output("reload refused", 10s).find("cannot read config file") !=
        std::string::npos);
  CHECK(http_request(gw.port, "GET", "/health/ready").status == 200);

  // Fixed, it applies.
  write_config(gw, before);
  gw.gateway().send_signal(SIGHUP);
  gw.gateway().wait_for_output("config reloaded", 10s);
  CHECK(metric_value(gw.metrics(), "switchyard_config_last_reload_successful") == 1);
}

TEST_CASE("a reload names the settings that wait for a restart and applies the rest") {
  GatewayFixture gw;
  const std::string before = read_text(config_path(gw));
  std::string after = replaced(before, "workers: 2\n", "workers: 3\n");
  after = replaced(after, "listen: 127.0.0.1:0\n", "listen: 127.0.0.1:1\n");
  write_config(gw, after + kAddedModel);
  gw.gateway().mark_output();
  gw.gateway().send_signal(SIGHUP);
  const std::string line = gw.gateway().wait_for_output("until a restart", 10s);
  CHECK(line.find("server.listen") != std::string::npos);
  CHECK(line.find("server.workers") != std::string::npos);
  gw.gateway().wait_for_output("config reloaded", 10s);
  // Still on its port; the new model is served.
  CHECK(
      http_request(gw.port, "POST", "/v1/chat/completions", chat_body("added-by-reload")).status ==
      200);
}

TEST_CASE("POST /admin/reload: the master key reloads, a client key may not, errors come back") {
  constexpr const char* kMaster = "sk-master-reload-test-0001";
  GatewayFixture gw(governance_options(kMaster, 20));
  const std::string before = read_text(config_path(gw));

  // Without a key, or with a wrong one: refused before anything is read.
  CHECK(http_request(gw.port, "POST", "/admin/reload").status == 401);
  CHECK(http_request(gw.port, "POST", "/admin/reload", {}, bearer("sk-wrong")).status == 401);
  CHECK(http_request(gw.port, "GET", "/admin/reload", {}, bearer(kMaster)).status == 405);
  const auto created =
      http_request(gw.port, "POST", "/admin/keys", R"({"alias":"client"})", bearer(kMaster));
  REQUIRE(created.status == 201);
  const std::string client(parse_object(created.body).at("secret").as_string());
  CHECK(http_request(gw.port, "POST", "/admin/reload", {}, bearer(client)).status == 401);

  write_config(gw, before + kAddedModel);
  auto applied = http_request(gw.port, "POST", "/admin/reload", {}, bearer(kMaster));
  REQUIRE(applied.status == 200);
  const auto answer = parse_object(applied.body);
  CHECK(answer.at("status") == "applied");
  CHECK(answer.at("hash").as_string().size() == 16);
  CHECK(answer.at("restart_required").as_array().empty());
  // In force for the next request.
  CHECK(http_request(gw.port, "POST", "/v1/chat/completions", chat_body("added-by-reload"),
                     bearer(client))
            .status == 200);

  write_config(gw, before + "  - {name: broken, provider: no-such-provider}\n");
  auto refused = http_request(gw.port, "POST", "/admin/reload", {}, bearer(kMaster));
  CHECK(refused.status == 422);
  const auto error = parse_object(refused.body);
  CHECK(error.at("error").at("code") == "config_invalid");
  bool names_line = false;
  for (const auto& e : error.at("errors").as_array())
    names_line =
        names_line || std::string(e.as_string()).find("switchyard.yaml:") != std::string::npos;
  CHECK(names_line);
  // The config of the first reload serves on.
  CHECK(http_request(gw.port, "POST", "/v1/chat/completions", chat_body("added-by-reload"),
                     bearer(client))
            .status == 200);

  // Both reloads are in the audit log, by the master key.
  auto audit = http_request(gw.port, "GET", "/admin/audit", {}, bearer(kMaster));
  REQUIRE(audit.status == 200);
  int reloads = 0;
  const auto entries = parse_object(audit.body);
  for (const auto& e : entries.at("data").as_array())
    if (e.at("action") == "config.reload" && e.at("actor") == "master") ++reloads;
  CHECK(reloads == 2);
}
