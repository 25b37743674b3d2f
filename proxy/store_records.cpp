#include "proxy/store_records.hpp"

#include <boost/json.hpp>

#include "proxy/store.hpp"

namespace switchyard::proxy {
namespace {

namespace json = boost::json;

json::value parse_json(std::string_view text, std::string_view store, std::string_view what) {
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec) corrupt_record(store, what);
  return value;
}

std::int64_t integer_member(const json::object& object, std::string_view name,
                            std::string_view store) {
  const json::value* member = object.if_contains(name);
  if (!member || !member->is_int64()) corrupt_record(store, "model limit");
  return member->get_int64();
}

}  // namespace

void corrupt_record(std::string_view store, std::string_view what) {
  std::string message(store);
  throw StoreError(message.append(": the store holds an unreadable ").append(what), false);
}

std::string strings_to_json(const std::vector<std::string>& items) {
  if (items.empty()) return "[]";  // most ledger rows: no JSON serializer for them
  json::array array;
  for (const auto& item : items) array.emplace_back(item);
  return json::serialize(array);
}

std::vector<std::string> strings_from_json(std::string_view text, std::string_view store) {
  const json::value value = parse_json(text, store, "list");
  if (!value.is_array()) corrupt_record(store, "list");
  std::vector<std::string> items;
  for (const auto& item : value.get_array()) {
    if (!item.is_string()) corrupt_record(store, "list");
    items.emplace_back(item.get_string());
  }
  return items;
}

std::string model_limits_to_json(const std::vector<core::ModelLimits>& all) {
  json::array array;
  for (const auto& entry : all)
    array.push_back(json::object{{"model", entry.model},
                                 {"rpm", entry.limits.rpm},
                                 {"tpm", entry.limits.tpm},
                                 {"parallel", entry.limits.parallel}});
  return json::serialize(array);
}

std::vector<core::ModelLimits> model_limits_from_json(std::string_view text,
                                                      std::string_view store) {
  const json::value value = parse_json(text, store, "model limit");
  if (!value.is_array()) corrupt_record(store, "model limit");
  std::vector<core::ModelLimits> all;
  for (const auto& item : value.get_array()) {
    const json::object* object = item.if_object();
    const json::value* model = object ? object->if_contains("model") : nullptr;
    if (!model || !model->is_string()) corrupt_record(store, "model limit");
    all.push_back({std::string(model->get_string()),
                   {integer_member(*object, "rpm", store), integer_member(*object, "tpm", store),
                    integer_member(*object, "parallel", store)}});
  }
  return all;
}

BudgetColumns budget_columns(const std::optional<core::BudgetSpec>& budget) {
  if (!budget) return {};
  return {budget->max, budget->soft, budget->anchor.time_since_epoch().count(),
          core::format_budget_period(budget->period)};
}

std::optional<core::BudgetSpec> budget_from_columns(const BudgetColumns& columns,
                                                    std::string_view store) {
  if (!columns.max) return std::nullopt;
  if (!columns.period || !columns.anchor_s) corrupt_record(store, "budget");
  auto period = core::parse_budget_period(*columns.period);
  if (!period) corrupt_record(store, "budget period");
  return core::BudgetSpec{*columns.max, columns.soft, period.value(),
                          wall_time_of_seconds(*columns.anchor_s)};
}

}  // namespace switchyard::proxy
