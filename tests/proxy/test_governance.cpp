// Governance through the real gateway (issue 12): virtual keys on every front door (each
// header form, and every refusal in the client's protocol), budgets refused with
// budget_exceeded, rate limits with their headers, /v1/models per key, and spend that survives
// a restart. Keys are put in the SQLite store before the gateway starts.
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>

#include "proxy/sqlite_store.hpp"
#include "tests/proxy/gateway_fixture.hpp"
#include "tests/proxy/governance_support.hpp"

using namespace switchyard;
using namespace switchyard::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kMaster = "master-key-for-the-governance-tests";
constexpr const char* kGood = "sk-sy-good0000000000000000000000000000000000000";
constexpr const char* kBlocked = "sk-sy-blocked00000000000000000000000000000000000";
constexpr const char* kExpired = "sk-sy-expired00000000000000000000000000000000000";
constexpr const char* kNarrow = "sk-sy-narrow000000000000000000000000000000000000";
constexpr const char* kBudget = "sk-sy-budget000000000000000000000000000000000000";
constexpr const char* kLimited = "sk-sy-limited00000000000000000000000000000000000";
constexpr const char* kTen = "sk-sy-fits-ten0000000000000000000000000000000000";

void put_keys(const std::string& dir) {
  auto store = proxy::open_sqlite_store(dir + "/gov.db");
  store->put_team(team_record("team_test", "test"));

  core::KeyRecord good = key_record("key_good", kGood);
  good.team_id = "team_test";
  good.alias = "good";
  good.user = "owner-of-good";  // the ledger's user when a request names none
  store->put_key(good);

  core::KeyRecord blocked = key_record("key_blocked", kBlocked);
  blocked.blocked = true;
  store->put_key(blocked);

  core::KeyRecord expired = key_record("key_expired", kExpired);
  expired.expires = now_wall() - 1h;
  store->put_key(expired);

  core::KeyRecord narrow = key_record("key_narrow", kNarrow);
  narrow.models = {"claude-*"};
  store->put_key(narrow);

  core::KeyRecord budget = key_record("key_budget", kBudget);
  core::BudgetSpec spec;
  spec.max = core::usd_to_micros(0.05);
  spec.period.kind = core::BudgetPeriod::Kind::daily;
  spec.anchor = now_wall();
  budget.budget = spec;
  store->put_key(budget);

  // Fits exactly ten requests of gpt-test with max_tokens 1000 (each reserves about $0.00802).
  core::KeyRecord ten = key_record("key_ten", kTen);
  core::BudgetSpec ten_spec = spec;
  ten_spec.max = core::usd_to_micros(0.085);
  ten.budget = ten_spec;
  store->put_key(ten);

  core::KeyRecord limited = key_record("key_limited", kLimited);
  limited.limits.rpm = 2;
  store->put_key(limited);
}

GatewayOptions governed() {
  GatewayOptions o = governance_options(kMaster, 50);
  o.prepare = put_keys;
  return o;
}

struct Door {
  std::string path;
  std::string body;  // for model gpt-test
  bool anthropic;
};

std::vector<Door> doors(std::string_view model = "gpt-test") {
  const std::string m(model);
  return {
      {"/v1/chat/completions", chat_body(m), false},
      {"/v1/responses", R"({"model":")" + m + R"(","input":"hi"})", false},
      {"/v1/messages",
       R"({"model":")" + m + R"(","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})",
       true},
  };
}

// The error's code (OpenAI shape) or type (Anthropic shape).
std::string error_kind(const HttpResponse& r, bool anthropic) {
  const auto body = parse_object(r.body);
  if (anthropic) {
    CHECK(body.at("type") == "error");
    return std::string(body.at("error").at("type").as_string());
  }
  const auto& code = body.at("error").at("code");
  return code.is_string() ? std::string(code.as_string()) : "";
}

}  // namespace

TEST_CASE(
    "virtual keys on every front door: each header form, and each refusal in the "
    "client's protocol") {
  GatewayFixture gw(governed());
  for (const Door& door : doors()) {
    INFO(door.path);
    // No key, a wrong key, the master key.
    auto none = http_request(gw.port, "POST", door.path, door.body);
    CHECK(none.status == 401);
    CHECK(error_kind(none, door.anthropic) ==
          (door.anthropic ? "authentication_error" : "missing_api_key"));
    auto wrong = http_request(gw.port, "POST", door.path, door.body,
                              bearer("sk-sy-wrong000000000000000000000000000000000000"));
    CHECK(wrong.status == 401);
    CHECK(error_kind(wrong, door.anthropic) ==
          (door.anthropic ? "authentication_error" : "invalid_api_key"));
    CHECK(wrong.body.find("sk-sy-wrong") == std::string::npos);
    auto master = http_request(gw.port, "POST", door.path, door.body, bearer(kMaster));
    CHECK(master.status == 401);
    CHECK(master.body.find(kMaster) == std::string::npos);

    // A good key in each header a client sends it in.
    for (const HttpHeaders& h :
         {bearer(kGood), HttpHeaders{{"x-api-key", kGood}}, HttpHeaders{{"api-key", kGood}}}) {
      auto ok = http_request(gw.port, "POST", door.path, door.body, h);
      CHECK(ok.status == 200);
    }

    auto blocked = http_request(gw.port, "POST", door.path, door.body, bearer(kBlocked));
    CHECK(blocked.status == 401);
    CHECK(blocked.body.find("blocked") != std::string::npos);
    auto expired = http_request(gw.port, "POST", door.path, door.body, bearer(kExpired));
    CHECK(expired.status == 401);
    CHECK(expired.body.find("expired") != std::string::npos);
    auto narrow = http_request(gw.port, "POST", door.path, door.body, bearer(kNarrow));
    CHECK(narrow.status == 403);
    CHECK(error_kind(narrow, door.anthropic) ==
          (door.anthropic ? "permission_error" : "model_not_allowed"));
    CHECK(narrow.body.find("gpt-test") != std::string::npos);  // names the model...
    CHECK(narrow.body.find(kNarrow) == std::string::npos);     // ...never the key
  }
  // The key that may use claude-* models uses them.
  auto claude = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("claude-test"),
                             bearer(kNarrow));
  CHECK(claude.status == 200);
}

TEST_CASE("/v1/models lists only what the key may use, and needs a key") {
  GatewayFixture gw(governed());
  CHECK(http_request(gw.port, "GET", "/v1/models").status == 401);
  auto ids = [](const HttpResponse& r) {
    std::set<std::string> out;
    const auto listing = parse_object(r.body);
    for (const auto& m : listing.at("data").as_array())
      out.insert(std::string(m.at("id").as_string()));
    return out;
  };
  const auto all = ids(http_request(gw.port, "GET", "/v1/models", {}, bearer(kGood)));
  CHECK(all.count("gpt-test") == 1);
  CHECK(all.count("claude-test") == 1);
  const auto narrow = ids(http_request(gw.port, "GET", "/v1/models", {}, bearer(kNarrow)));
  CHECK(narrow.count("gpt-test") == 0);
  CHECK(narrow.count("claude-test") == 1);
  CHECK(narrow.count("claude-reasoner") == 1);
}

TEST_CASE("a budget refuses what it cannot hold with budget_exceeded, saying where it stands") {
  GatewayFixture gw(governed());
  // gpt-test's output costs $8 per million tokens: 100000 output tokens reserve $0.80, over
  // the key's $0.05.
  for (const Door& door : doors()) {
    INFO(door.path);
    std::string body = door.body;
    const std::string limit =
        door.path == "/v1/responses" ? R"("max_output_tokens":100000,)" : R"("max_tokens":100000,)";
    if (door.anthropic)
      body.replace(body.find(R"("max_tokens":16,)"), 16, limit);
    else
      body.insert(1, limit);
    auto r = http_request(gw.port, "POST", door.path, body, bearer(kBudget));
    CHECK(r.status == 429);
    CHECK(r.body.find("Budget exceeded") != std::string::npos);
    if (!door.anthropic) CHECK(error_kind(r, false) == "budget_exceeded");
    if (door.anthropic) CHECK(error_kind(r, true) == "rate_limit_error");
    CHECK(r.body.find("$0.05 per day") != std::string::npos);
    CHECK(r.body.find("resets at") != std::string::npos);
    CHECK_FALSE(r.header("retry-after").empty());
  }
  // A request whose worst case fits is served.
  CHECK(http_request(gw.port, "POST", "/v1/chat/completions",
                     chat_body("gpt-test", R"(,"max_tokens":1000)"), bearer(kBudget))
            .status == 200);
}

TEST_CASE("requests per minute: refused past the limit with retry-after and the rate headers") {
  GatewayFixture gw(governed());
  auto first = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
                            bearer(kLimited));
  REQUIRE(first.status == 200);
  CHECK(first.header("x-ratelimit-limit-requests") == "2");
  CHECK(first.header("x-ratelimit-remaining-requests") == "1");
  CHECK_FALSE(first.header("x-ratelimit-reset-requests").empty());
  const Door messages = doors()[2];
  auto second = http_request(gw.port, "POST", messages.path, messages.body, bearer(kLimited));
  REQUIRE(second.status == 200);
  CHECK(second.header("anthropic-ratelimit-requests-limit") == "2");
  CHECK(second.header("anthropic-ratelimit-requests-remaining") == "0");
  CHECK(second.header("anthropic-ratelimit-requests-reset").ends_with("Z"));
  auto third = http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
                            bearer(kLimited));
  CHECK(third.status == 429);
  CHECK(third.body.find("rate_limit_exceeded") != std::string::npos);
  CHECK(third.body.find("2 requests per minute") != std::string::npos);
  const int retry = std::stoi(third.header("retry-after"));
  CHECK(retry >= 1);
  CHECK(retry <= 60);
  CHECK(third.header("x-ratelimit-remaining-requests") == "0");
  // A key without limits carries no rate headers.
  auto good =
      http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"), bearer(kGood));
  CHECK(good.header("x-ratelimit-limit-requests").empty());
}

TEST_CASE("every request is a ledger row with its key, team, model and cost") {
  std::string db;
  {
    GatewayFixture gw(governed());
    db = gw.dir + "/gov.db";
    for (int i = 0; i < 3; ++i) {
      REQUIRE(http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"),
                           bearer(kGood))
                  .status == 200);
    }
    CHECK(http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test")).status ==
          401);
    // Rows are committed by the writer thread: wait for them, not for a fixed time.
    auto store = proxy::open_sqlite_store(db);
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (store->ledger_row_count() < 4 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(20ms);  // polling the store, bounded by the deadline
    REQUIRE(store->ledger_row_count() == 4);
    const auto by_key = store->spend({core::SpendGroup::key});
    std::int64_t good_requests = 0, anonymous = 0;
    for (const auto& row : by_key) {
      if (row.group == "key_good") good_requests = row.requests;
      if (row.group.empty()) anonymous = row.requests;
    }
    CHECK(good_requests == 3);
    CHECK(anonymous == 1);
    // The access log names the key and its team, never the secret.
    const std::string log = gw.wait_access_log_lines(4);
    CHECK(log.find(R"("key_id":"key_good","key_alias":"good","team":"team_test")") !=
          std::string::npos);
    CHECK(log.find(kGood) == std::string::npos);
    const auto by_team = store->spend({core::SpendGroup::team});
    bool team_seen = false;
    for (const auto& row : by_team)
      if (row.group == "team_test") team_seen = row.requests == 3 && row.cost > 0;
    CHECK(team_seen);
  }
}

// The ledger is written behind the answers: polls the spend report (bounded by a deadline)
// until it counts `requests`, and returns the last report read.
boost::json::object wait_spend(std::uint16_t port, std::int64_t requests, std::string_view query) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (true) {
    auto report = parse_object(
        http_request(port, "GET", "/admin/spend" + std::string(query), {}, bearer(kMaster)).body);
    if (report.at("total").at("requests") == requests || std::chrono::steady_clock::now() >= until)
      return report;
    std::this_thread::sleep_for(20ms);  // polling the ledger, bounded by the deadline
  }
}

// Each row of a spend report by its group, to its request count.
std::map<std::string, std::int64_t> requests_by(const boost::json::object& report,
                                                std::string_view group) {
  std::map<std::string, std::int64_t> out;
  for (const auto& row : report.at("rows").as_array())
    out[std::string(row.at(group).as_string())] = row.at("requests").as_int64();
  return out;
}

TEST_CASE(
    "the ledger's user and tags come from the body: OpenAI's user and metadata.tags, "
    "Anthropic's metadata.user_id, else the key's user") {
  GatewayFixture gw(governed());
  HttpHeaders tagged = bearer(kGood);
  tagged.emplace_back("x-switchyard-tags", "from-header, ci");
  REQUIRE(http_request(gw.port, "POST", "/v1/chat/completions",
                       chat_body("gpt-test", R"(,"user":"alice","metadata":{"tags":"ci,nightly"})"),
                       tagged)
              .status == 200);
  REQUIRE(http_request(gw.port, "POST", "/v1/messages",
                       R"({"model":"gpt-test","max_tokens":16,"metadata":{"user_id":"carol"},)"
                       R"("messages":[{"role":"user","content":"hi"}]})",
                       bearer(kGood))
              .status == 200);
  REQUIRE(
      http_request(gw.port, "POST", "/v1/chat/completions", chat_body("gpt-test"), bearer(kGood))
          .status == 200);

  const auto by_user = requests_by(wait_spend(gw.port, 3, "?group_by=user"), "user");
  CHECK(by_user ==
        std::map<std::string, std::int64_t>{{"alice", 1}, {"carol", 1}, {"owner-of-good", 1}});
  // The header's and the metadata's tags, each counted once per request.
  const auto by_tag = requests_by(wait_spend(gw.port, 3, "?group_by=tag"), "tag");
  CHECK(by_tag ==
        std::map<std::string, std::int64_t>{{"ci", 1}, {"from-header", 1}, {"nightly", 1}});
}

TEST_CASE(
    "100 streams at once against a budget that fits 10: 10 are served, 90 refused, and "
    "the settled spend stays within the budget") {
  GatewayOptions options = governed();
  options.mock_args = {"--chunks", "20", "--chunk-delay-ms", "100"};  // each stream about 2 s
  GatewayFixture gw(options);
  const std::string body = chat_body("gpt-test", R"(,"stream":true,"max_tokens":1000)");
  std::vector<StreamingResponse> served;
  int refused = 0;
  for (int i = 0; i < 100; ++i) {
    StreamingResponse r(gw.port, "POST", "/v1/chat/completions", body, bearer(kTen));
    if (r.status() == 200) {
      served.push_back(std::move(r));
    } else {
      CHECK(r.status() == 429);
      CHECK(r.read_all().find("budget_exceeded") != std::string::npos);
      ++refused;
    }
  }
  // All ten were still streaming while the others came: the reservations held them out.
  CHECK(served.size() == 10);
  CHECK(refused == 90);
  for (auto& s : served) CHECK(sse_data(s.read_all()).back() == "[DONE]");

  // Settled to what the streams really cost: well within the budget, nothing left reserved.
  auto store = proxy::open_sqlite_store(gw.dir + "/gov.db");
  const auto until = std::chrono::steady_clock::now() + 10s;
  std::vector<core::SpendRow> rows;
  while (std::chrono::steady_clock::now() < until) {
    rows = store->spend({core::SpendGroup::key});
    std::int64_t requests = 0;
    for (const auto& r : rows)
      if (r.group == "key_ten") requests = r.requests;
    if (requests == 100) break;
    std::this_thread::sleep_for(20ms);  // polling the ledger, bounded by the deadline
  }
  core::Micros spent = -1;
  for (const auto& r : rows)
    if (r.group == "key_ten") {
      CHECK(r.requests == 100);
      CHECK(r.errors == 90);
      spent = r.cost;
    }
  CHECK(spent > 0);
  CHECK(spent <= core::usd_to_micros(0.085));
}

TEST_CASE(
    "kill -9 under load loses at most the last commit interval of ledger rows, and the "
    "database stays sound") {
  constexpr auto kInterval = 200ms;
  GatewayOptions options = governed();
  options.top_level = std::string("governance:\n  master_key: ") + kMaster +
                      "\n  database: @DIR@/gov.db\n  ledger: {commit_interval_ms: 200}\n";
  GatewayFixture gw(options);
  std::vector<std::chrono::steady_clock::time_point> answered;
  HttpConnection connection(gw.port);
  const auto stop_at = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < stop_at) {
    REQUIRE(connection.request("POST", "/v1/chat/completions", chat_body("gpt-test"), bearer(kGood))
                .status == 200);
    answered.push_back(std::chrono::steady_clock::now());
  }
  const auto killed_at = std::chrono::steady_clock::now();
  gw.gateway().send_signal(SIGKILL);
  REQUIRE(gw.gateway().wait_exit(10s) == std::optional<int>(128 + SIGKILL));

  // Rows answered within the last commit interval (and the commit's own time: one interval
  // more) may be lost; every earlier one is in the file.
  const auto at_risk = static_cast<std::size_t>(std::count_if(
      answered.begin(), answered.end(), [&](auto t) { return t > killed_at - 2 * kInterval; }));
  const std::string db = gw.dir + "/gov.db";
  const auto rows = static_cast<std::size_t>(proxy::open_sqlite_store(db)->ledger_row_count());
  INFO("answered " << answered.size() << ", in the file " << rows << ", at risk " << at_risk);
  CHECK(rows <= answered.size());
  CHECK(rows + at_risk >= answered.size());
  CHECK(answered.size() > at_risk);  // the run was long enough to commit something

  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  sqlite3_stmt* check = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &check, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(check) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(check, 0))) == "ok");
  sqlite3_finalize(check);
  sqlite3_close(raw);
}
