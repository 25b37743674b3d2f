// The admin API through the real gateway: teams and keys made, changed, blocked, rotated and
// deleted with the master key, each change in force at once; every invalid field a 400 naming
// it, unknown ids 404, duplicates 409; admin and reporting roles; the spend report in JSON and
// CSV agreeing with the requests made; the audit log; secrets shown exactly once.
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <thread>

#include "tests/proxy/gateway_fixture.hpp"
#include "tests/proxy/governance_support.hpp"

using namespace switchyard::testing;

namespace {

constexpr const char* kMaster = "master-key-for-the-admin-api-tests";

GatewayOptions with_admin() { return governance_options(kMaster, 20); }

struct Admin {
  std::uint16_t port;
  std::string credential = kMaster;
  HttpResponse call(std::string_view method, std::string_view path, std::string_view body = {}) {
    return http_request(port, method, path, body, bearer(credential));
  }
  // The ledger is written behind the answers: polls the spend report (bounded by a deadline)
  // until it counts `requests`, and returns the last report read.
  boost::json::object wait_spend(std::int64_t requests, std::string_view query = "") {
    const auto until = std::chrono::steady_clock::now() + 10s;
    boost::json::object report;
    while (true) {
      report = parse_object(call("GET", "/admin/spend" + std::string(query)).body);
      if (report.at("total").at("requests") == requests ||
          std::chrono::steady_clock::now() >= until)
        return report;
      std::this_thread::sleep_for(20ms);
    }
  }
};

// The secret in the answer that created or rotated a key.
std::string secret_of(const HttpResponse& r) {
  return std::string(parse_object(r.body).at("secret").as_string());
}

struct Door {
  std::string path;
  std::string body;
};

int chat(std::uint16_t port, std::string_view secret, std::string_view model = "gpt-test") {
  return http_request(port, "POST", "/v1/chat/completions", chat_body(model), bearer(secret))
      .status;
}

}  // namespace

TEST_CASE(
    "admin API: a team and a key made, changed, blocked, rotated and deleted, each in "
    "force at once") {
  GatewayFixture gw(with_admin());
  Admin admin{gw.port};

  auto team = admin.call("POST", "/admin/teams", R"({"name":"search","models":["gpt-*"]})");
  REQUIRE(team.status == 201);
  const std::string team_id(parse_object(team.body).at("id").as_string());

  auto created =
      admin.call("POST", "/admin/keys",
                 R"({"alias":"ci-bot","team":"search","budget":{"max_usd":5,"period":"daily"},)"
                 R"("limits":{"rpm":100},"tags":["ci"]})");
  REQUIRE(created.status == 201);
  const auto key = parse_object(created.body);
  const std::string id(key.at("id").as_string());
  const std::string secret(key.at("secret").as_string());
  CHECK(secret.starts_with("sk-sy-"));
  CHECK(key.at("team").as_string() == team_id);

  CHECK(chat(gw.port, secret) == 200);
  CHECK(chat(gw.port, secret, "claude-test") == 403);  // the team allows gpt-* only

  // Listed and read without the secret.
  const auto listed = admin.call("GET", "/admin/keys");
  CHECK(listed.status == 200);
  CHECK(listed.body.find(secret) == std::string::npos);
  const auto read = admin.call("GET", "/admin/keys/" + id);
  CHECK(read.status == 200);
  CHECK(read.body.find(secret) == std::string::npos);
  CHECK(read.body.find("ci-bot") != std::string::npos);

  // Narrowed, blocked, unblocked.
  REQUIRE(admin.call("PATCH", "/admin/keys/" + id, R"({"models":["gpt-4o-mini"]})").status == 200);
  CHECK(chat(gw.port, secret) == 403);
  REQUIRE(admin.call("PATCH", "/admin/keys/" + id, R"({"models":null})").status == 200);
  CHECK(chat(gw.port, secret) == 200);
  REQUIRE(admin.call("POST", "/admin/keys/" + id + "/block").status == 200);
  CHECK(chat(gw.port, secret) == 401);
  REQUIRE(admin.call("POST", "/admin/keys/" + id + "/unblock").status == 200);
  CHECK(chat(gw.port, secret) == 200);

  // Rotated: the old secret stops at once, the new one works, the id stays.
  auto rotated = admin.call("POST", "/admin/keys/" + id + "/rotate");
  REQUIRE(rotated.status == 200);
  const auto rotated_key = parse_object(rotated.body);
  const std::string new_secret(rotated_key.at("secret").as_string());
  CHECK(rotated_key.at("id").as_string() == id);
  CHECK(new_secret != secret);
  CHECK(chat(gw.port, secret) == 401);
  CHECK(chat(gw.port, new_secret) == 200);

  // A team with keys is not deleted; a deleted key stops working.
  CHECK(admin.call("DELETE", "/admin/teams/" + team_id).status == 409);
  CHECK(admin.call("DELETE", "/admin/keys/" + id).status == 200);
  CHECK(chat(gw.port, new_secret) == 401);
  CHECK(admin.call("GET", "/admin/keys/" + id).status == 404);
  CHECK(admin.call("DELETE", "/admin/teams/" + team_id).status == 200);
}

TEST_CASE("admin API: invalid fields are 400s naming them, unknown ids 404, duplicates 409") {
  GatewayFixture gw(with_admin());
  Admin admin{gw.port};
  auto field_of = [](const HttpResponse& r) {
    return std::string(parse_object(r.body).at("error").at("param").as_string());
  };
  auto bad = admin.call("POST", "/admin/keys", R"({"budget":{"max_usd":-1}})");
  CHECK(bad.status == 400);
  CHECK(field_of(bad) == "budget.max_usd");
  bad = admin.call("POST", "/admin/keys", R"({"limits":{"rpm":"ten"}})");
  CHECK(bad.status == 400);
  CHECK(field_of(bad) == "limits.rpm");
  bad = admin.call("POST", "/admin/keys", R"({"colour":"red"})");
  CHECK(bad.status == 400);
  CHECK(field_of(bad) == "colour");
  bad = admin.call("POST", "/admin/keys", R"({"team":"nobody"})");
  CHECK(bad.status == 400);
  CHECK(field_of(bad) == "team");
  bad = admin.call("POST", "/admin/teams", R"({})");
  CHECK(bad.status == 400);
  CHECK(field_of(bad) == "name");
  CHECK(admin.call("POST", "/admin/keys", "not json").status == 400);

  CHECK(admin.call("GET", "/admin/keys/key_0000000000000000").status == 404);
  CHECK(admin.call("PATCH", "/admin/teams/team_0000000000000000", "{}").status == 404);
  CHECK(admin.call("GET", "/admin/nothing").status == 404);

  REQUIRE(admin.call("POST", "/admin/teams", R"({"name":"a"})").status == 201);
  CHECK(admin.call("POST", "/admin/teams", R"({"name":"a"})").status == 409);
  REQUIRE(admin.call("POST", "/admin/keys", R"({"alias":"x"})").status == 201);
  CHECK(admin.call("POST", "/admin/keys", R"({"alias":"x"})").status == 409);
}

TEST_CASE(
    "admin API: admin keys do all but make admin keys, reporting keys only read, client "
    "keys nothing") {
  GatewayFixture gw(with_admin());
  Admin master{gw.port};
  const std::string admin_secret =
      secret_of(master.call("POST", "/admin/keys", R"({"role":"admin","alias":"ops"})"));
  const std::string reporting_secret =
      secret_of(master.call("POST", "/admin/keys", R"({"role":"reporting","alias":"finance"})"));
  const std::string client_secret = secret_of(master.call("POST", "/admin/keys", "{}"));

  Admin ops{gw.port, admin_secret};
  CHECK(ops.call("POST", "/admin/keys", R"({"alias":"made-by-ops"})").status == 201);
  CHECK(ops.call("POST", "/admin/keys", R"({"role":"admin"})").status == 403);
  CHECK(chat(gw.port, admin_secret) == 401);  // admin keys do not call models

  Admin finance{gw.port, reporting_secret};
  CHECK(finance.call("GET", "/admin/keys").status == 200);
  CHECK(finance.call("GET", "/admin/spend").status == 200);
  CHECK(finance.call("POST", "/admin/keys", "{}").status == 403);
  CHECK(finance.call("POST", "/admin/teams", R"({"name":"t"})").status == 403);

  Admin client{gw.port, client_secret};
  CHECK(client.call("GET", "/admin/keys").status == 401);
  CHECK(http_request(gw.port, "GET", "/admin/keys").status == 401);

  // The audit log names who made each change, and holds no secret.
  const auto audit = master.call("GET", "/admin/audit");
  REQUIRE(audit.status == 200);
  std::set<std::string> actors;
  const auto entries = parse_object(audit.body);
  for (const auto& e : entries.at("data").as_array())
    actors.insert(std::string(e.at("actor").as_string()));
  CHECK(actors.count("master") == 1);
  CHECK(actors.size() == 2);  // master and the ops key
  for (const std::string& s : {admin_secret, reporting_secret, client_secret, std::string(kMaster)})
    CHECK(audit.body.find(s) == std::string::npos);
}

TEST_CASE("admin API: the spend report in JSON and CSV agrees with the requests made") {
  GatewayFixture gw(with_admin());
  Admin admin{gw.port};
  auto created = parse_object(admin.call("POST", "/admin/keys", R"({"alias":"reporter"})").body);
  const std::string secret(created.at("secret").as_string());
  const std::string id(created.at("id").as_string());
  for (int i = 0; i < 4; ++i) REQUIRE(chat(gw.port, secret) == 200);

  const boost::json::object report = admin.wait_spend(4, "?group_by=key");
  REQUIRE(report.at("total").at("requests") == 4);
  REQUIRE(report.at("rows").as_array().size() == 1);
  CHECK(report.at("rows").at(0).at("key").as_string() == id);
  const std::string cost(report.at("total").at("cost_usd").as_string());

  auto csv =
      http_request(gw.port, "GET", "/admin/spend?group_by=key", {},
                   {{"authorization", std::string("Bearer ") + kMaster}, {"accept", "text/csv"}});
  REQUIRE(csv.status == 200);
  CHECK(csv.header("content-type").starts_with("text/csv"));
  CHECK(csv.body.find(id + ",4,0,") != std::string::npos);
  CHECK(csv.body.find("\r\ntotal,4,0,") != std::string::npos);
  CHECK(csv.body.find("," + cost + "\r\n") != std::string::npos);
  CHECK(admin.call("GET", "/admin/spend?group_by=colour").status == 400);
}

TEST_CASE("admin API: keys, teams and spend survive a restart") {
  std::string secret;
  std::string id;
  GatewayOptions first = with_admin();
  // Keep the database outside the fixture's directory, which the fixture removes.
  const std::string db_dir = make_temp_dir("switchyard-admin-restart");
  const std::string db = db_dir + "/gov.db";
  first.top_level = std::string("governance:\n  master_key: ") + kMaster + "\n  database: " + db +
                    "\n  ledger: {commit_interval_ms: 20}\n";
  {
    GatewayFixture gw(first);
    Admin admin{gw.port};
    // gpt-test's output costs $8 per million tokens; 1000 output tokens reserve $0.008: a
    // budget of $0.012 holds one such request at a time.
    auto created = parse_object(
        admin.call("POST", "/admin/keys", R"({"budget":{"max_usd":0.012,"period":"daily"}})").body);
    secret = std::string(created.at("secret").as_string());
    id = std::string(created.at("id").as_string());
    REQUIRE(http_request(gw.port, "POST", "/v1/chat/completions",
                         chat_body("gpt-test", R"(,"max_tokens":1000)"), bearer(secret))
                .status == 200);
    // The ledger row before stopping (a clean stop also commits it).
    REQUIRE(admin.wait_spend(1).at("total").at("requests") == 1);
  }
  GatewayFixture again(first);
  Admin admin{again.port};
  // The budget's spend came back from the ledger.
  const auto read = parse_object(admin.call("GET", "/admin/keys/" + id).body);
  CHECK(read.at("spend").at("spent_usd") != "0.000000");
  CHECK(http_request(again.port, "POST", "/v1/chat/completions",
                     chat_body("gpt-test", R"(,"max_tokens":1000)"), bearer(secret))
            .status == 200);
  CHECK(admin.wait_spend(2).at("total").at("requests") == 2);
  std::filesystem::remove_all(db_dir);
}

TEST_CASE(
    "no secret anywhere: access log, metrics, admin answers and error bodies, after a run "
    "that used and refused every kind of key") {
  GatewayFixture gw(with_admin());
  Admin master{gw.port};
  std::vector<std::string> secrets{kMaster, GatewayFixture::kUpstreamKey};
  REQUIRE(master.call("POST", "/admin/teams", R"({"name":"t","models":["gpt-*"]})").status == 201);
  secrets.push_back(secret_of(master.call("POST", "/admin/keys", R"({"team":"t","alias":"a"})")));
  secrets.push_back(secret_of(master.call("POST", "/admin/keys", R"({"role":"admin"})")));
  secrets.push_back(secret_of(master.call("POST", "/admin/keys", R"({"role":"reporting"})")));
  const auto rotated = parse_object(master.call("POST", "/admin/keys", R"({"alias":"r"})").body);
  secrets.push_back(std::string(rotated.at("secret").as_string()));
  const std::string rotated_id(rotated.at("id").as_string());
  secrets.push_back(secret_of(master.call("POST", "/admin/keys/" + rotated_id + "/rotate")));

  std::string seen;  // everything a client, an operator or a log reader gets to see
  auto keep = [&](const HttpResponse& r) {
    seen += r.body;
    for (const auto& [name, value] : r.headers) seen += name + ": " + value + "\n";
  };
  for (const std::string& s : secrets) {
    for (const Door& d :
         {Door{"/v1/chat/completions", chat_body("gpt-test")},
          Door{"/v1/chat/completions", chat_body("claude-test")},
          Door{"/v1/messages", R"({"model":"gpt-test","max_tokens":8,)"
                               R"("messages":[{"role":"user","content":"hi"}]})"}}) {
      keep(http_request(gw.port, "POST", d.path, d.body, bearer(s)));
      keep(http_request(gw.port, "POST", d.path, d.body, {{"x-api-key", s}}));
    }
    keep(http_request(gw.port, "GET", "/admin/keys", {}, bearer(s)));
    keep(http_request(gw.port, "POST", "/admin/keys",
                      R"({"alias":"x-)" + std::to_string(seen.size()) + R"("})", bearer(s)));
  }
  for (const char* path : {"/admin/keys", "/admin/teams", "/admin/audit", "/admin/spend",
                           "/admin/spend?format=csv", "/v1/models"})
    keep(master.call("GET", path));
  keep(http_request(gw.port, "GET", "/metrics"));
  seen += gw.wait_access_log_lines(10);
  for (const std::string& s : secrets) {
    INFO("a secret ending in " << s.substr(s.size() - 4));
    CHECK(seen.find(s) == std::string::npos);
  }
}
