// The spend report's two forms: the same rows and totals in JSON and CSV, exact to the micro-
// dollar; CSV quoting that a spreadsheet cannot turn into a formula; the report's time bounds.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <sstream>

#include "core/ledger.hpp"

using namespace switchyard::core;

namespace {

std::vector<SpendRow> sample_rows() {
  SpendRow a;
  a.group = "key_a";
  a.requests = 3;
  a.errors = 1;
  a.input_tokens = 100;
  a.output_tokens = 50;
  a.cached_tokens = 10;
  a.cost = 1'234'567;  // $1.234567
  SpendRow b;
  b.group = "needs, \"quoting\"";
  b.requests = 1;
  b.output_tokens = 7;
  b.reasoning_tokens = 3;
  b.cost = 1;
  return {a, b};
}

std::vector<std::string> csv_lines(const std::string& csv) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < csv.size()) {
    const std::size_t end = csv.find("\r\n", at);
    REQUIRE(end != std::string::npos);  // every line ends with CRLF
    lines.push_back(csv.substr(at, end - at));
    at = end + 2;
  }
  return lines;
}

}  // namespace

TEST_CASE("spend groups by name") {
  for (std::string_view name : {"key", "team", "model", "provider", "tag", "user", "day"}) {
    const auto g = parse_spend_group(name);
    REQUIRE(g);
    CHECK(spend_group_name(*g) == name);
  }
  CHECK_FALSE(parse_spend_group("org"));
  CHECK_FALSE(parse_spend_group("Key"));
}

TEST_CASE("the JSON report and the CSV report carry the same rows and exact totals") {
  const SpendQuery q{SpendGroup::key, 1'764'547'200'000, 1'764'633'600'000};
  const auto rows = sample_rows();

  const boost::json::value json = boost::json::parse(spend_report_json(q, rows));
  CHECK(json.at("group_by") == "key");
  CHECK(json.at("from") == "2025-12-01T00:00:00Z");
  CHECK(json.at("to") == "2025-12-02T00:00:00Z");
  REQUIRE(json.at("rows").as_array().size() == 2);
  CHECK(json.at("rows").at(0).at("key") == "key_a");
  CHECK(json.at("rows").at(0).at("cost_usd") == "1.234567");
  CHECK(json.at("total").at("requests") == 4);
  CHECK(json.at("total").at("errors") == 1);
  CHECK(json.at("total").at("output_tokens") == 57);
  CHECK(json.at("total").at("cost_usd") == "1.234568");

  const auto lines = csv_lines(spend_report_csv(q, rows));
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] ==
        "key,requests,errors,input_tokens,output_tokens,cached_tokens,cache_write_tokens,"
        "reasoning_tokens,cost_usd");
  CHECK(lines[1] == "key_a,3,1,100,50,10,0,0,1.234567");
  CHECK(lines[2] == "\"needs, \"\"quoting\"\"\",1,0,0,7,0,0,3,0.000001");
  CHECK(lines[3] == "total,4,1,100,57,10,0,3,1.234568");
}

TEST_CASE("CSV fields a spreadsheet would run as a formula are defused") {
  SpendRow r;
  r.group = "=HYPERLINK(\"http://x\")";
  const auto lines = csv_lines(spend_report_csv({SpendGroup::tag}, {r}));
  REQUIRE(lines.size() == 3);
  CHECK(lines[1].starts_with("\"'=HYPERLINK(\"\"http://x\"\")\","));
  for (std::string_view lead : {"+1", "-1", "@cmd"}) {
    r.group = std::string(lead);
    CHECK(csv_lines(spend_report_csv({SpendGroup::user}, {r}))[1].starts_with("\"'"));
  }
}

TEST_CASE("an empty report still has its header and a zero total") {
  const auto lines = csv_lines(spend_report_csv({SpendGroup::day}, {}));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].starts_with("day,"));
  CHECK(lines[1] == "total,0,0,0,0,0,0,0,0.000000");
  const auto json = boost::json::parse(spend_report_json({SpendGroup::day}, {}));
  CHECK(json.at("rows").as_array().empty());
  CHECK_FALSE(json.as_object().contains("to"));
}

TEST_CASE("report bounds: a date, a UTC time or unix seconds") {
  CHECK(parse_report_time_ms("2026-12-01") == 1'796'083'200'000);
  CHECK(parse_report_time_ms("2026-12-01T19:30:05Z") == 1'796'083'200'000 + 70'205'000);
  CHECK(parse_report_time_ms("1796083200") == 1'796'083'200'000);
  CHECK(parse_report_time_ms("2024-02-29") == 1'709'164'800'000);
  for (std::string_view bad :
       {"", "2026-13-01", "2025-02-29", "2026-12-01T24:00:00Z", "2026-12-01 19:30:05",
        "2026-12-01T19:30:05", "-5", "12x", "2026/12/01"}) {
    INFO(bad);
    CHECK_FALSE(parse_report_time_ms(bad));
  }
}
