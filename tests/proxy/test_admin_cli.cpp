// `switchyard keys|teams|spend ...`: the real binary as a command against a running gateway's
// admin API, its printed answer, and the secret it printed calling a model.
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/proxy/gateway_fixture.hpp"
#include "tests/proxy/governance_support.hpp"
#include "tests/support/child_process.hpp"

using namespace switchyard::testing;

namespace {

constexpr const char* kMaster = "master-key-for-the-admin-cli-tests";

GatewayOptions with_admin() { return governance_options(kMaster, 20); }

struct Run {
  int exit_code;
  std::string output;  // stdout and stderr
};

Run run_cli(std::vector<std::string> args,
            std::map<std::string, std::string> env = {{"SWITCHYARD_MASTER_KEY", kMaster}}) {
  args.insert(args.begin(), SWITCHYARD_BIN);
  ChildProcess child = ChildProcess::start(std::move(args), env);
  const std::optional<int> code = child.wait_exit(10s);
  REQUIRE(code);
  return {*code, child.output()};
}

std::string url_of(const GatewayFixture& gw) {
  return "http://127.0.0.1:" + std::to_string(gw.port);
}

}  // namespace

TEST_CASE("switchyard keys create makes a key whose printed secret calls models") {
  GatewayFixture gw(with_admin());
  const std::string url = url_of(gw);
  const Run team = run_cli({"teams", "create", "--url", url, "--name", "search", "--models",
                            "gpt-*", "--budget", "5", "--period", "daily"});
  REQUIRE(team.exit_code == 0);
  CHECK(parse_object(team.output).at("name") == "search");

  const Run created = run_cli({"keys", "create", "--url", url, "--alias", "cli-bot", "--team",
                               "search", "--rpm", "100", "--tags", "cli"});
  INFO(created.output);
  REQUIRE(created.exit_code == 0);
  const auto key = parse_object(created.output);
  const std::string secret(key.at("secret").as_string());
  CHECK(key.at("alias") == "cli-bot");
  CHECK(key.at("limits").at("rpm") == 100);

  const auto chat = [&](std::string_view model) {
    return http_request(gw.port, "POST", "/v1/chat/completions", chat_body(model),
                        {{"authorization", "Bearer " + secret}})
        .status;
  };
  CHECK(chat("gpt-test") == 200);
  CHECK(chat("claude-test") == 403);  // the team's models

  const std::string id(key.at("id").as_string());
  REQUIRE(run_cli({"keys", "block", id, "--url", url}).exit_code == 0);
  CHECK(chat("gpt-test") == 401);
  const Run listed = run_cli({"keys", "list", "--url", url});
  CHECK(listed.exit_code == 0);
  CHECK(listed.output.find(secret) == std::string::npos);
  CHECK(listed.output.find("cli-bot") != std::string::npos);
}

TEST_CASE("switchyard keys: an error answer's message and exit status 1; the key from a file") {
  GatewayFixture gw(with_admin());
  const std::string url = url_of(gw);
  const Run missing = run_cli({"keys", "show", "key_nope", "--url", url});
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find("switchyard: 404: ") != std::string::npos);

  const Run invalid = run_cli({"keys", "create", "--url", url, "--budget", "-1"});
  CHECK(invalid.exit_code == 1);
  CHECK(invalid.output.find("budget.max_usd") != std::string::npos);

  const std::string file = gw.dir + "/admin.key";
  std::ofstream(file) << kMaster << "\n";
  const Run from_file =
      run_cli({"spend", "--url", url, "--admin-key-file", file, "--group-by", "user"}, {});
  CHECK(from_file.exit_code == 0);
  CHECK(parse_object(from_file.output).at("group_by") == "user");

  const Run no_key = run_cli({"keys", "list", "--url", url}, {{"SWITCHYARD_MASTER_KEY", ""}});
  CHECK(no_key.exit_code == 2);
  CHECK(no_key.output.find("SWITCHYARD_MASTER_KEY") != std::string::npos);
}
