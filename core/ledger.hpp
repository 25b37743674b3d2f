#pragma once
// The spend ledger's shapes (issue 12): one row per request, and the spend report's grouping
// and rows. Pure: the store (proxy/) writes rows and runs the report's query; the CSV and JSON
// forms of a report are made here so every store answers alike.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/budget.hpp"

namespace switchyard::core {

struct LedgerRow {
  std::string request_id;
  std::int64_t time_ms = 0;  // unix milliseconds when the request arrived: its budget period
  std::string key_id;        // empty without client authentication
  std::string team_id;
  std::string user;               // OpenAI's `user`, Anthropic's metadata.user_id
  std::vector<std::string> tags;  // x-switchyard-tags and the protocol's metadata
  std::string model;              // the model that served (after rules and fallbacks)
  std::string provider;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cached_tokens = 0;
  std::int64_t cache_write_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  Micros cost = 0;
  std::int64_t latency_ms = 0;
  std::optional<std::int64_t> ttft_ms;
  int status = 0;
  std::string error;  // the access log's error reason, empty on success
};

enum class SpendGroup { key, team, model, provider, tag, user, day };
std::optional<SpendGroup> parse_spend_group(std::string_view name);
std::string_view spend_group_name(SpendGroup g);

struct SpendQuery {
  SpendGroup group = SpendGroup::key;
  std::int64_t from_ms = 0;        // inclusive
  std::int64_t to_ms = INT64_MAX;  // exclusive
};

struct SpendRow {
  std::string group;  // the key id, team id, model, ..., or the day as YYYY-MM-DD
  std::int64_t requests = 0;
  std::int64_t errors = 0;  // status >= 400, or an error reason
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cached_tokens = 0;
  std::int64_t cache_write_tokens = 0;
  std::int64_t reasoning_tokens = 0;
  Micros cost = 0;
};

// The report in both forms, with a totals line (the CSV's last row is "total").
std::string spend_report_json(const SpendQuery& q, const std::vector<SpendRow>& rows);
std::string spend_report_csv(const SpendQuery& q, const std::vector<SpendRow>& rows);

// Ledger rows as text for the on-disk spool (rows kept while a shared store is unreachable):
// one JSON array per line, every field in LedgerRow's order. The reader refuses anything else
// as a whole (a file cut short by a crash), so a spool file is replayed entirely or not at all.
std::string ledger_rows_to_text(std::span<const LedgerRow> rows);
std::optional<std::vector<LedgerRow>> ledger_rows_from_text(std::string_view text);

// "2026-12-01T00:00:00Z", "2026-12-01" (midnight UTC) or unix seconds: the report's from/to.
std::optional<std::int64_t> parse_report_time_ms(std::string_view text);

}  // namespace switchyard::core
