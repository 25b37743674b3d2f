#include "core/ledger.hpp"

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <utility>

namespace switchyard::core {
namespace {

constexpr std::array<std::pair<SpendGroup, std::string_view>, 7> kGroups{{
    {SpendGroup::key, "key"},
    {SpendGroup::team, "team"},
    {SpendGroup::model, "model"},
    {SpendGroup::provider, "provider"},
    {SpendGroup::tag, "tag"},
    {SpendGroup::user, "user"},
    {SpendGroup::day, "day"},
}};

SpendRow totals_of(const std::vector<SpendRow>& rows) {
  SpendRow t;
  t.group = "total";
  for (const SpendRow& r : rows) {
    t.requests += r.requests;
    t.errors += r.errors;
    t.input_tokens += r.input_tokens;
    t.output_tokens += r.output_tokens;
    t.cached_tokens += r.cached_tokens;
    t.cache_write_tokens += r.cache_write_tokens;
    t.reasoning_tokens += r.reasoning_tokens;
    t.cost += r.cost;
  }
  return t;
}

// Exact decimal USD from micros ("12.345678"), so the CSV's and the JSON's totals agree to the
// last digit with the ledger's sum.
std::string usd_text(Micros m) {
  const bool negative = m < 0;
  const std::uint64_t v =
      negative ? 0 - static_cast<std::uint64_t>(m) : static_cast<std::uint64_t>(m);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%llu.%06llu", negative ? "-" : "",
                static_cast<unsigned long long>(v / 1'000'000),
                static_cast<unsigned long long>(v % 1'000'000));
  return buf;
}

boost::json::object row_json(const SpendRow& r) {
  return {{"requests", r.requests},
          {"errors", r.errors},
          {"input_tokens", r.input_tokens},
          {"output_tokens", r.output_tokens},
          {"cached_tokens", r.cached_tokens},
          {"cache_write_tokens", r.cache_write_tokens},
          {"reasoning_tokens", r.reasoning_tokens},
          {"cost_usd", usd_text(r.cost)}};
}

std::string time_text(std::int64_t ms) {
  using namespace std::chrono;
  const sys_seconds t{seconds{ms / 1000}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(hms.hours().count()),
                static_cast<long long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  return buf;
}

// RFC 4180 quoting, and a leading apostrophe for text a spreadsheet would run as a formula
// (a tag or user name is client-supplied).
std::string csv_field(std::string_view s) {
  std::string out;
  const bool formula = !s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
                                      s[0] == '\t' || s[0] == '\r');
  const bool quote = formula || s.find_first_of(",\"\r\n") != std::string_view::npos;
  if (quote) out += '"';
  if (formula) out += '\'';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  if (quote) out += '"';
  return out;
}

template <class Int>
std::optional<Int> digits(std::string_view s) {
  Int v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<SpendGroup> parse_spend_group(std::string_view name) {
  for (const auto& [g, n] : kGroups)
    if (n == name) return g;
  return std::nullopt;
}

std::string_view spend_group_name(SpendGroup g) {
  for (const auto& [group, n] : kGroups)
    if (group == g) return n;
  return "key";
}

std::string spend_report_json(const SpendQuery& q, const std::vector<SpendRow>& rows) {
  boost::json::array groups;
  for (const SpendRow& r : rows) {
    boost::json::object o = row_json(r);
    o.emplace(spend_group_name(q.group), r.group);
    groups.push_back(std::move(o));
  }
  boost::json::object out{{"group_by", spend_group_name(q.group)},
                          {"from", time_text(q.from_ms)},
                          {"rows", std::move(groups)},
                          {"total", row_json(totals_of(rows))}};
  if (q.to_ms != INT64_MAX) out["to"] = time_text(q.to_ms);
  return boost::json::serialize(out);
}

std::string spend_report_csv(const SpendQuery& q, const std::vector<SpendRow>& rows) {
  std::string out(spend_group_name(q.group));
  out +=
      ",requests,errors,input_tokens,output_tokens,cached_tokens,cache_write_tokens,"
      "reasoning_tokens,cost_usd\r\n";
  auto line = [&](const SpendRow& r) {
    out += csv_field(r.group);
    for (std::int64_t v : {r.requests, r.errors, r.input_tokens, r.output_tokens, r.cached_tokens,
                           r.cache_write_tokens, r.reasoning_tokens}) {
      out += ',';
      out += std::to_string(v);
    }
    out += ',';
    out += usd_text(r.cost);
    out += "\r\n";
  };
  for (const SpendRow& r : rows) line(r);
  line(totals_of(rows));
  return out;
}

std::optional<std::int64_t> parse_report_time_ms(std::string_view text) {
  using namespace std::chrono;
  if (auto secs = digits<std::int64_t>(text)) {
    if (*secs < 0 || *secs > 253'402'300'799) return std::nullopt;  // up to 9999-12-31
    return *secs * 1000;
  }
  // YYYY-MM-DD, optionally followed by THH:MM:SSZ.
  if (text.size() != 10 && text.size() != 20) return std::nullopt;
  if (text[4] != '-' || text[7] != '-') return std::nullopt;
  const auto y = digits<int>(text.substr(0, 4));
  const auto mo = digits<unsigned>(text.substr(5, 2));
  const auto d = digits<unsigned>(text.substr(8, 2));
  if (!y || !mo || !d) return std::nullopt;
  const year_month_day ymd{year{*y}, month{*mo}, day{*d}};
  if (!ymd.ok()) return std::nullopt;
  std::int64_t seconds_of_day = 0;
  if (text.size() == 20) {
    if (text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != 'Z')
      return std::nullopt;
    const auto h = digits<int>(text.substr(11, 2));
    const auto mi = digits<int>(text.substr(14, 2));
    const auto s = digits<int>(text.substr(17, 2));
    if (!h || !mi || !s || *h > 23 || *mi > 59 || *s > 59) return std::nullopt;
    seconds_of_day = *h * 3600 + *mi * 60 + *s;
  }
  const auto day_seconds = duration_cast<seconds>(sys_days{ymd}.time_since_epoch()).count();
  return (day_seconds + seconds_of_day) * 1000;
}

std::string ledger_rows_to_text(std::span<const LedgerRow> rows) {
  std::string out;
  for (const LedgerRow& r : rows) {
    boost::json::array tags;
    for (const auto& t : r.tags) tags.emplace_back(t);
    const boost::json::array line{r.request_id,
                                  r.time_ms,
                                  r.key_id,
                                  r.team_id,
                                  r.user,
                                  std::move(tags),
                                  r.model,
                                  r.provider,
                                  r.input_tokens,
                                  r.output_tokens,
                                  r.cached_tokens,
                                  r.cache_write_tokens,
                                  r.reasoning_tokens,
                                  r.cost,
                                  r.latency_ms,
                                  r.ttft_ms ? boost::json::value(*r.ttft_ms) : boost::json::value(),
                                  r.status,
                                  r.error};
    out += boost::json::serialize(line);
    out += '\n';
  }
  return out;
}

std::optional<std::vector<LedgerRow>> ledger_rows_from_text(std::string_view text) {
  std::vector<LedgerRow> rows;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    if (end == std::string_view::npos) return std::nullopt;  // the last line was cut short
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(text.substr(0, end), ec);
    text.remove_prefix(end + 1);
    const boost::json::array* a = v.if_array();
    if (ec || !a || a->size() != 18) return std::nullopt;
    const auto& f = *a;
    auto str = [&](std::size_t i, std::string& out) {
      if (!f[i].is_string()) return false;
      out = f[i].get_string();
      return true;
    };
    auto num = [&](std::size_t i, std::int64_t& out) {
      if (!f[i].is_int64()) return false;
      out = f[i].get_int64();
      return true;
    };
    LedgerRow& r = rows.emplace_back();
    std::int64_t status = 0;
    bool ok = str(0, r.request_id) && num(1, r.time_ms) && str(2, r.key_id) && str(3, r.team_id) &&
              str(4, r.user) && f[5].is_array() && str(6, r.model) && str(7, r.provider) &&
              num(8, r.input_tokens) && num(9, r.output_tokens) && num(10, r.cached_tokens) &&
              num(11, r.cache_write_tokens) && num(12, r.reasoning_tokens) && num(13, r.cost) &&
              num(14, r.latency_ms) && (f[15].is_null() || f[15].is_int64()) && num(16, status) &&
              str(17, r.error);
    if (!ok) return std::nullopt;
    for (const auto& t : f[5].get_array()) {
      if (!t.is_string()) return std::nullopt;
      r.tags.emplace_back(t.get_string());
    }
    if (f[15].is_int64()) r.ttft_ms = f[15].get_int64();
    r.status = static_cast<int>(status);
  }
  return rows;
}

}  // namespace switchyard::core
