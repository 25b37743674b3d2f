#pragma once
// How both stores keep a record's lists, model limits and budget in columns: lists and model
// limits as JSON text (one row per record keeps a load one query per table), a budget as four
// columns that are all NULL without one. Shared by sqlite_store and postgres_store so the two
// read and write the same shapes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/governance.hpp"

namespace switchyard::proxy {

// Throws StoreError("<store>: the store holds an unreadable <what>").
[[noreturn]] void corrupt_record(std::string_view store, std::string_view what);

std::string strings_to_json(const std::vector<std::string>& items);
// `store` names the database in the error a malformed value throws.
std::vector<std::string> strings_from_json(std::string_view text, std::string_view store);

std::string model_limits_to_json(const std::vector<core::ModelLimits>& all);
std::vector<core::ModelLimits> model_limits_from_json(std::string_view text,
                                                      std::string_view store);

struct BudgetColumns {
  std::optional<std::int64_t> max, soft, anchor_s;
  std::optional<std::string> period;
};
BudgetColumns budget_columns(const std::optional<core::BudgetSpec>& budget);
// The budget the four columns hold: none when `max` is NULL.
std::optional<core::BudgetSpec> budget_from_columns(const BudgetColumns& columns,
                                                    std::string_view store);

inline core::WallTime wall_time_of_seconds(std::int64_t seconds) {
  return core::WallTime(std::chrono::seconds(seconds));
}
inline std::int64_t seconds_of(core::WallTime t) { return t.time_since_epoch().count(); }

}  // namespace switchyard::proxy
