#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/admin_cli.hpp"

using switchyard::core::AdminCommand;
using switchyard::core::error_message_of;
using switchyard::core::parse_admin_command;
using switchyard::core::parse_http_url;
using switchyard::core::pretty_json;

namespace {

AdminCommand parse_ok(std::vector<std::string_view> args) {
  auto parsed = parse_admin_command(args);
  if (!parsed.ok()) FAIL("unexpected error: " << parsed.error());
  return parsed.value();
}

std::string parse_error(std::vector<std::string_view> args) {
  auto parsed = parse_admin_command(args);
  REQUIRE_FALSE(parsed.ok());
  return parsed.error();
}

boost::json::value body_of(const AdminCommand& c) { return boost::json::parse(c.call.body); }

}  // namespace

TEST_CASE("keys create maps its options onto the admin API's key members", "[admin_cli]") {
  const AdminCommand c = parse_ok({"keys",
                                   "create",
                                   "--alias",
                                   "ci-bot",
                                   "--team=search",
                                   "--user",
                                   "alice",
                                   "--models",
                                   "gpt-*,claude-*",
                                   "--tags",
                                   "ci",
                                   "--budget",
                                   "5",
                                   "--soft-budget",
                                   "4.5",
                                   "--period",
                                   "daily",
                                   "--rpm",
                                   "100",
                                   "--parallel",
                                   "4",
                                   "--expires",
                                   "30d",
                                   "--metadata",
                                   R"({"env":"ci"})"});
  CHECK(c.call.method == "POST");
  CHECK(c.call.target == "/admin/keys");
  CHECK(c.url == "http://127.0.0.1:4000");  // the default config's listen port
  CHECK(body_of(c) == boost::json::parse(R"({"alias":"ci-bot","team":"search","user":"alice",
      "models":["gpt-*","claude-*"],"tags":["ci"],
      "budget":{"max_usd":5.0,"soft_usd":4.5,"period":"daily"},
      "limits":{"rpm":100,"parallel":4},"expires_in":"30d","metadata":{"env":"ci"}})"));
}

TEST_CASE("a bare keys create is an empty body; a time is expires_at", "[admin_cli]") {
  CHECK(parse_ok({"keys", "create"}).call.body == "{}");
  CHECK(body_of(parse_ok({"keys", "create", "--expires", "2027-01-01T00:00:00Z"})) ==
        boost::json::parse(R"({"expires_at":"2027-01-01T00:00:00Z"})"));
}

TEST_CASE("the commands on one key or team name it in the path", "[admin_cli]") {
  const auto call = [](std::vector<std::string_view> args) {
    const AdminCommand c = parse_ok(std::move(args));
    CHECK(c.call.body.empty());
    return c.call.method + " " + c.call.target;
  };
  CHECK(call({"keys", "list"}) == "GET /admin/keys");
  CHECK(call({"keys", "show", "key_1"}) == "GET /admin/keys/key_1");
  CHECK(call({"keys", "block", "key_1"}) == "POST /admin/keys/key_1/block");
  CHECK(call({"keys", "unblock", "key_1"}) == "POST /admin/keys/key_1/unblock");
  CHECK(call({"keys", "rotate", "key_1"}) == "POST /admin/keys/key_1/rotate");
  CHECK(call({"keys", "delete", "key 1/x"}) == "DELETE /admin/keys/key%201%2Fx");
  CHECK(call({"teams", "list"}) == "GET /admin/teams");
  CHECK(call({"teams", "delete", "team_1"}) == "DELETE /admin/teams/team_1");
}

TEST_CASE("teams create and spend", "[admin_cli]") {
  const AdminCommand team = parse_ok({"teams", "create", "--name", "search", "--budget", "50",
                                      "--period", "monthly", "--tpm", "1000"});
  CHECK(team.call.target == "/admin/teams");
  CHECK(body_of(team) == boost::json::parse(R"({"name":"search",
      "budget":{"max_usd":50.0,"period":"monthly"},"limits":{"tpm":1000}})"));

  CHECK(parse_ok({"spend"}).call.target == "/admin/spend");
  const AdminCommand spend =
      parse_ok({"spend", "--group-by", "user", "--from", "2026-12-01", "--to",
                "2026-12-01T12:00:00Z", "--csv", "--url", "http://gw:8080"});
  CHECK(spend.call.method == "GET");
  CHECK(spend.call.target ==
        "/admin/spend?group_by=user&from=2026-12-01&to=2026-12-01T12:00:00Z&format=csv");
  CHECK(spend.url == "http://gw:8080");
}

TEST_CASE("wrong command lines say what is wrong", "[admin_cli]") {
  CHECK(parse_error({"keys", "frobnicate"}) == "unknown command 'keys frobnicate'");
  CHECK(parse_error({"keys"}) == "unknown command 'keys'");
  CHECK(parse_error({"keys", "block"}) == "'keys block' takes an id");
  CHECK(parse_error({"keys", "list", "extra"}) == "'keys list' takes no argument, not 'extra'");
  CHECK(parse_error({"keys", "list", "--rpm", "3"}) == "'keys list' takes no option --rpm");
  CHECK(parse_error({"teams", "create", "--tags", "a"}) == "'teams create' takes no option --tags");
  CHECK(parse_error({"keys", "create", "--alias"}) == "--alias needs a value");
  CHECK(parse_error({"keys", "create", "--rpm", "ten"}) == "--rpm wants a whole number, not 'ten'");
  CHECK(
      parse_error({"keys", "create", "--budget", "5usd"}).starts_with("--budget wants an amount"));
  CHECK(parse_error({"keys", "create", "--period", "daily"}) ==
        "--soft-budget and --period need --budget USD");
  CHECK(parse_error({"keys", "create", "--metadata", "[1]"}).starts_with("--metadata wants"));
  CHECK(parse_error({"spend", "--csv=yes"}) == "--csv takes no value");
}

TEST_CASE("a key on the command line is refused: it would land in shell history and ps",
          "[admin_cli]") {
  for (std::string_view option : {"--admin-key", "--master-key=abc"}) {
    const std::string error = parse_error({"keys", "list", option, "abc"});
    CHECK(error.find("SWITCHYARD_MASTER_KEY") != std::string::npos);
  }
}

TEST_CASE("parse_http_url", "[admin_cli]") {
  auto url = parse_http_url("http://127.0.0.1:4000");
  REQUIRE(url.ok());
  CHECK(url->host == "127.0.0.1");
  CHECK(url->port == 4000);
  CHECK(url->base_path.empty());
  url = parse_http_url("http://[::1]:9/gw/");
  REQUIRE(url.ok());
  CHECK(url->host == "::1");
  CHECK(url->port == 9);
  CHECK(url->base_path == "/gw");
  CHECK(parse_http_url("http://gateway")->port == 80);
  for (std::string_view bad : {"https://gw", "gw:4000", "http://", "http://gw:", "http://gw:99999",
                               "http://gw:x", "http://[::1"}) {
    INFO(bad);
    CHECK_FALSE(parse_http_url(bad).ok());
  }
}

TEST_CASE("answers are printed indented; an error answer by its message", "[admin_cli]") {
  CHECK(pretty_json(R"({"id":"k","tags":["a"],"limits":{}})") ==
        "{\n  \"id\": \"k\",\n  \"tags\": [\n    \"a\"\n  ],\n  \"limits\": {}\n}\n");
  CHECK(pretty_json("key,requests\r\n") == "key,requests\r\n");
  CHECK(error_message_of(R"({"error":{"message":"The API key is not valid.","type":"x"}})") ==
        "The API key is not valid.");
  CHECK(error_message_of("Bad Gateway") == "Bad Gateway");
}
