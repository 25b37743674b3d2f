#include "proxy/admin_api.hpp"

#include <boost/json.hpp>
#include <variant>

#include "core/admin_requests.hpp"
#include "proxy/governance.hpp"
#include "proxy/key_secrets.hpp"
#include "proxy/reloader.hpp"

namespace switchyard::proxy {
namespace {

namespace json = boost::json;
using Request = http::request<http::string_body>;

struct Caller {
  std::string actor;  // "master" or the admin key's id
  bool master = false;
  bool may_write = false;
};

core::WallTime wall_now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

AdminAnswer error(int status, std::string message, std::string param = {}, std::string code = {}) {
  return {status, "application/json",
          core::to_openai_error_body(
              core::client_error(status, std::move(message), std::move(param), std::move(code)))};
}

AdminAnswer bad_field(const core::AdminError& e) {
  return error(400, e.field.empty() ? e.message : "'" + e.field + "' " + e.message, e.field,
               "invalid_field");
}

std::optional<core::SpendView> spend_of(const core::BudgetCounter* b, core::WallTime now) {
  if (!b) return std::nullopt;
  return core::SpendView{b->spent(now), b->reserved(now), b->window(now).reset};
}

std::vector<std::string_view> segments_of(std::string_view path) {
  std::vector<std::string_view> out;
  path.remove_prefix(std::string_view("/admin").size());
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

std::string query_of(const Request& request) {
  const std::string_view target = request.target();
  const std::size_t q = target.find('?');
  return q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
}

class AdminApi {
 public:
  AdminApi(Governance& governance, const Request& request, Caller caller)
      : gov_(governance), request_(request), caller_(std::move(caller)) {}

  // A store that cannot be reached (a shared database that is down) is the gateway's 503;
  // what the store refuses is answered where it is called (persist).
  AdminAnswer route_guarded(const std::vector<std::string_view>& seg) {
    try {
      return route(seg);
    } catch (const StoreError& e) {
      return error(503, std::string("The store cannot be reached: ") + e.what(), "",
                   "store_unavailable");
    }
  }

 private:
  AdminAnswer route(const std::vector<std::string_view>& seg) {
    const http::verb m = request_.method();
    if (seg.empty()) return error(404, "Unknown admin path.", "", "unknown_url");
    if (seg[0] == "spend" && seg.size() == 1) return m == http::verb::get ? spend() : not_allowed();
    if (seg[0] == "audit" && seg.size() == 1) return m == http::verb::get ? audit() : not_allowed();
    const bool teams = seg[0] == "teams";
    if (!teams && seg[0] != "keys") return error(404, "Unknown admin path.", "", "unknown_url");
    if (m != http::verb::get && !caller_.may_write)
      return error(403, "A reporting key can only read.", "", "read_only_key");
    if (seg.size() == 1) {
      if (m == http::verb::get) return teams ? list_teams() : list_keys();
      if (m == http::verb::post) return teams ? create_team() : create_key();
      return not_allowed();
    }
    const std::string id(seg[1]);
    if (seg.size() == 2) {
      if (m == http::verb::get) return teams ? read_team(id) : read_key(id);
      if (m == http::verb::patch) return teams ? update_team(id) : update_key(id);
      if (m == http::verb::delete_) return teams ? delete_team(id) : delete_key(id);
      return not_allowed();
    }
    if (seg.size() == 3 && m == http::verb::post) {
      if (seg[2] == "block" || seg[2] == "unblock")
        return teams ? set_team_blocked(id, seg[2] == "block")
                     : set_key_blocked(id, seg[2] == "block");
      if (seg[2] == "rotate" && !teams) return rotate_key(id);
    }
    return error(404, "Unknown admin path.", "", "unknown_url");
  }

  AdminAnswer not_allowed() {
    return error(405, "That method is not allowed here.", "", "method_not_allowed");
  }

  void audit_change(std::string action, const std::string& target) {
    AuditEntry e;
    e.time_ms = now_ms();
    e.actor = caller_.actor;
    e.action = std::move(action);
    e.target = target;
    // The body names what changed; secrets are never in an admin body (they are generated).
    const std::string& body = request_.body();
    e.detail_json = body.size() <= 8192 && json::parse(body, ec_).is_object() ? body : "{}";
    gov_.store().append_audit(e);
  }

  // {"data":[...]} of every team or key, from a copy taken under the admin lock.
  template <class Records, class Text>
  AdminAnswer list(Records GovernanceStore::Snapshot::*member, Text&& text) {
    auto lock = gov_.admin_lock();
    const Records records = gov_.records().*member;
    lock.unlock();
    std::string out = "{\"data\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (i) out += ',';
      out += text(records[i]);
    }
    return {200, "application/json", out + "]}"};
  }

  // --- teams ---

  std::string team_text(const core::TeamRecord& t) {
    const auto table = gov_.table();
    auto entry = table ? table->team_by_id(t.id) : nullptr;
    return core::team_json(t, spend_of(entry ? entry->state->budget.get() : nullptr, wall_now()));
  }

  AdminAnswer list_teams() {
    return list(&GovernanceStore::Snapshot::teams,
                [this](const core::TeamRecord& t) { return team_text(t); });
  }

  AdminAnswer read_team(const std::string& id) {
    std::optional<core::TeamRecord> found;  // copied out, so the lock is not held for the JSON
    {
      auto lock = gov_.admin_lock();
      for (const auto& t : gov_.records().teams)
        if (t.id == id) found = t;
    }
    if (!found) return error(404, "No team with the id '" + id + "'.", "id", "not_found");
    return {200, "application/json", team_text(*found)};
  }

  bool name_taken(const GovernanceStore::Snapshot& r, const std::string& name,
                  const std::string& except_id) {
    for (const auto& t : r.teams)
      if (t.name == name && t.id != except_id) return true;
    return false;
  }

  AdminAnswer create_team() {
    const core::WallTime now = wall_now();
    auto changes = core::parse_team_body(request_.body(), /*creating=*/true, now);
    if (!changes) return bad_field(changes.error());
    auto lock = gov_.admin_lock();
    GovernanceStore::Snapshot records = gov_.records_for_change();
    if (name_taken(records, *changes.value().name, ""))
      return error(409, "A team named '" + *changes.value().name + "' exists already.", "name",
                   "duplicate_name");
    core::TeamRecord team;
    team.id = new_record_id("team_");
    team.created = now;
    core::apply(changes.value(), team, now);
    if (auto failed = persist([&] { gov_.store().put_team(team); })) return *failed;
    records.teams.push_back(team);
    gov_.publish_records(std::move(records));
    audit_change("team.create", team.id);
    lock.unlock();
    return {201, "application/json", team_text(team)};
  }

  // One change to an existing team, under the admin lock: `edit` changes the record (or
  // returns a refusal), then the store, the workers' table and the audit log follow.
  template <class Edit>
  AdminAnswer edit_team(const std::string& id, std::string_view action, Edit&& edit) {
    auto lock = gov_.admin_lock();
    GovernanceStore::Snapshot records = gov_.records_for_change();
    core::TeamRecord* team = find(records.teams, id);
    if (!team) return error(404, "No team with the id '" + id + "'.", "id", "not_found");
    if (std::optional<AdminAnswer> refused = edit(records, *team)) return *refused;
    const core::TeamRecord updated = *team;
    if (auto failed = persist([&] { gov_.store().put_team(updated); })) return *failed;
    gov_.publish_records(std::move(records));
    audit_change(std::string(action), id);
    lock.unlock();
    return {200, "application/json", team_text(updated)};
  }

  AdminAnswer update_team(const std::string& id) {
    const core::WallTime now = wall_now();
    auto changes = core::parse_team_body(request_.body(), /*creating=*/false, now);
    if (!changes) return bad_field(changes.error());
    return edit_team(id, "team.update",
                     [&](const GovernanceStore::Snapshot& records,
                         core::TeamRecord& team) -> std::optional<AdminAnswer> {
                       if (changes.value().name && name_taken(records, *changes.value().name, id))
                         return error(
                             409, "A team named '" + *changes.value().name + "' exists already.",
                             "name", "duplicate_name");
                       core::apply(changes.value(), team, now);
                       return std::nullopt;
                     });
  }

  AdminAnswer set_team_blocked(const std::string& id, bool blocked) {
    return edit_team(id, blocked ? "team.block" : "team.unblock",
                     [&](const GovernanceStore::Snapshot&, core::TeamRecord& team) {
                       team.blocked = blocked;
                       return std::optional<AdminAnswer>();
                     });
  }

  AdminAnswer delete_team(const std::string& id) {
    auto lock = gov_.admin_lock();
    GovernanceStore::Snapshot records = gov_.records_for_change();
    if (!find(records.teams, id))
      return error(404, "No team with the id '" + id + "'.", "id", "not_found");
    for (const auto& k : records.keys)
      if (k.team_id == id)
        return error(409,
                     "The team still has keys: delete them or move them to another team first.",
                     "id", "team_has_keys");
    if (auto failed = persist([&] { gov_.store().delete_team(id); })) return *failed;
    std::erase_if(records.teams, [&](const core::TeamRecord& t) { return t.id == id; });
    gov_.publish_records(std::move(records));
    audit_change("team.delete", id);
    return {200, "application/json", R"({"id":")" + id + R"(","deleted":true})"};
  }

  // --- keys ---

  std::string key_text(const core::KeyRecord& k, std::string_view secret = {}) {
    const auto table = gov_.table();
    auto entry = table ? table->key_by_id(k.id) : nullptr;
    return core::key_json(k, spend_of(entry ? entry->state->budget.get() : nullptr, wall_now()),
                          secret);
  }

  AdminAnswer list_keys() {
    return list(&GovernanceStore::Snapshot::keys,
                [this](const core::KeyRecord& k) { return key_text(k); });
  }

  AdminAnswer read_key(const std::string& id) {
    std::optional<core::KeyRecord> found;  // copied out, so the lock is not held for the JSON
    {
      auto lock = gov_.admin_lock();
      for (const auto& k : gov_.records().keys)
        if (k.id == id) found = k;
    }
    if (!found) return error(404, "No key with the id '" + id + "'.", "id", "not_found");
    return {200, "application/json", key_text(*found)};
  }

  // Resolves the body's team (an id or a name) to an id; false with `answer` set when it names
  // no team.
  bool resolve_team(const GovernanceStore::Snapshot& r, core::KeyChanges& c, AdminAnswer& answer) {
    if (!c.team || !*c.team) return true;
    const std::string& given = **c.team;
    for (const auto& t : r.teams) {
      if (t.id == given || t.name == given) {
        *c.team = t.id;
        return true;
      }
    }
    answer = error(400, "'team' names no team: '" + given + "'.", "team", "invalid_field");
    return false;
  }

  bool alias_taken(const GovernanceStore::Snapshot& r, const std::string& alias,
                   const std::string& except_id) {
    if (alias.empty()) return false;
    for (const auto& k : r.keys)
      if (k.alias == alias && k.id != except_id) return true;
    return false;
  }

  std::optional<AdminAnswer> check_key_changes(const GovernanceStore::Snapshot& r,
                                               core::KeyChanges& c, const std::string& id) {
    AdminAnswer answer;
    if (!resolve_team(r, c, answer)) return answer;
    if (c.alias && alias_taken(r, *c.alias, id))
      return error(409, "A key with the alias '" + *c.alias + "' exists already.", "alias",
                   "duplicate_alias");
    if (c.role && *c.role == core::KeyRole::admin && !caller_.master)
      return error(403, "Only the master key creates admin keys.", "role", "forbidden");
    return std::nullopt;
  }

  AdminAnswer create_key() {
    const core::WallTime now = wall_now();
    auto changes = core::parse_key_body(request_.body(), /*creating=*/true, now);
    if (!changes) return bad_field(changes.error());
    auto lock = gov_.admin_lock();
    GovernanceStore::Snapshot records = gov_.records_for_change();
    if (auto refused = check_key_changes(records, changes.value(), "")) return *refused;
    core::KeyRecord key;
    key.id = new_record_id("key_");
    key.created = now;
    const std::string secret = new_key_secret();
    key.hash = sha256_of(secret);
    key.hint = core::key_hint(secret);
    core::apply(changes.value(), key, now);
    if (auto failed = persist([&] { gov_.store().put_key(key); })) return *failed;
    records.keys.push_back(key);
    gov_.publish_records(std::move(records));
    audit_change("key.create", key.id);
    lock.unlock();
    return {201, "application/json", key_text(key, secret)};
  }

  // One change to an existing key, under the admin lock, as edit_team; only the master key
  // changes admin keys. `secret` is shown in the answer when the edit made a new one.
  template <class Edit>
  AdminAnswer edit_key(const std::string& id, std::string_view action, Edit&& edit) {
    auto lock = gov_.admin_lock();
    GovernanceStore::Snapshot records = gov_.records_for_change();
    core::KeyRecord* key = find(records.keys, id);
    if (!key) return error(404, "No key with the id '" + id + "'.", "id", "not_found");
    if (key->role == core::KeyRole::admin && !caller_.master)
      return error(403, "Only the master key changes admin keys.", "id", "forbidden");
    std::string secret;
    if (std::optional<AdminAnswer> refused = edit(records, *key, secret)) return *refused;
    const core::KeyRecord updated = *key;
    if (auto failed = persist([&] { gov_.store().put_key(updated); })) return *failed;
    gov_.publish_records(std::move(records));
    audit_change(std::string(action), id);
    lock.unlock();
    return {200, "application/json", key_text(updated, secret)};
  }

  AdminAnswer update_key(const std::string& id) {
    const core::WallTime now = wall_now();
    auto changes = core::parse_key_body(request_.body(), /*creating=*/false, now);
    if (!changes) return bad_field(changes.error());
    return edit_key(id, "key.update",
                    [&](const GovernanceStore::Snapshot& records, core::KeyRecord& key,
                        std::string&) -> std::optional<AdminAnswer> {
                      if (auto refused = check_key_changes(records, changes.value(), id))
                        return refused;
                      core::apply(changes.value(), key, now);
                      return std::nullopt;
                    });
  }

  AdminAnswer set_key_blocked(const std::string& id, bool blocked) {
    return edit_key(id, blocked ? "key.block" : "key.unblock",
                    [&](const GovernanceStore::Snapshot&, core::KeyRecord& key, std::string&) {
                      key.blocked = blocked;
                      return std::optional<AdminAnswer>();
                    });
  }

  AdminAnswer rotate_key(const std::string& id) {
    return edit_key(
        id, "key.rotate",
        [&](const GovernanceStore::Snapshot&, core::KeyRecord& key, std::string& secret) {
          secret = new_key_secret();
          key.hash = sha256_of(secret);
          key.hint = core::key_hint(secret);
          return std::optional<AdminAnswer>();
        });
  }

  AdminAnswer delete_key(const std::string& id) {
    auto lock = gov_.admin_lock();
    GovernanceStore::Snapshot records = gov_.records_for_change();
    core::KeyRecord* key = find(records.keys, id);
    if (!key) return error(404, "No key with the id '" + id + "'.", "id", "not_found");
    if (key->role == core::KeyRole::admin && !caller_.master)
      return error(403, "Only the master key deletes admin keys.", "id", "forbidden");
    if (auto failed = persist([&] { gov_.store().delete_key(id); })) return *failed;
    std::erase_if(records.keys, [&](const core::KeyRecord& k) { return k.id == id; });
    gov_.publish_records(std::move(records));
    audit_change("key.delete", id);
    return {200, "application/json", R"({"id":")" + id + R"(","deleted":true})"};
  }

  // --- reports ---

  AdminAnswer spend() {
    auto parsed = core::parse_spend_query(query_of(request_));
    if (!parsed) return bad_field(parsed.error());
    const bool csv = parsed.value().csv ||
                     request_[http::field::accept].find("text/csv") != std::string_view::npos;
    const core::SpendQuery& q = parsed.value().query;
    std::vector<core::SpendRow> rows;
    if (auto failed = persist([&] { rows = gov_.store().spend(q); })) return *failed;
    if (csv) return {200, "text/csv; charset=utf-8", core::spend_report_csv(q, rows)};
    return {200, "application/json", core::spend_report_json(q, rows)};
  }

  AdminAnswer audit() {
    std::int64_t from = 0, to = INT64_MAX;
    std::size_t limit = 1000;
    // The same from/to forms as the spend report.
    const std::string q = query_of(request_);
    for (std::string_view rest = q; !rest.empty();) {
      const std::size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      const std::size_t eq = pair.find('=');
      const std::string_view name = pair.substr(0, eq);
      const std::string value(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
      if (name == "from" || name == "to") {
        auto t = core::parse_report_time_ms(value);
        if (!t)
          return error(
              400,
              "'" + std::string(name) + "' must be a date, an RFC 3339 UTC time or unix seconds.",
              std::string(name), "invalid_field");
        (name == "from" ? from : to) = *t;
      } else if (name == "limit") {
        try {
          limit = std::min<std::size_t>(std::stoul(value), 10000);
        } catch (...) {
          return error(400, "'limit' must be a number.", "limit", "invalid_field");
        }
      } else if (!name.empty()) {
        return error(400, "Unknown parameter '" + std::string(name) + "'.", std::string(name),
                     "invalid_field");
      }
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    std::vector<AuditEntry> entries;
    if (auto failed = persist([&] { entries = gov_.store().audit(from, to, limit); }))
      return *failed;
    json::array data;
    for (const AuditEntry& e : entries) {
      json::error_code ec;
      json::value detail = json::parse(e.detail_json, ec);
      data.push_back(json::object{
          {"time",
           core::format_rfc3339_utc(core::WallTime{std::chrono::seconds{e.time_ms / 1000}})},
          {"actor", e.actor},
          {"action", e.action},
          {"target", e.target},
          {"detail", ec ? json::value(json::object{}) : std::move(detail)}});
    }
    return {200, "application/json", json::serialize(json::object{{"data", std::move(data)}})};
  }

  template <class Record>
  static Record* find(std::vector<Record>& records, const std::string& id) {
    for (Record& r : records)
      if (r.id == id) return &r;
    return nullptr;
  }

  // Runs a store call; a conflict is the client's 409, anything else the gateway's 500.
  template <class Call>
  std::optional<AdminAnswer> persist(Call&& call) {
    try {
      call();
      return std::nullopt;
    } catch (const StoreError& e) {
      if (e.conflict())
        return error(409, "That name, alias or key is taken already.", "", "duplicate");
      return error(500, std::string("The store refused the change: ") + e.what(), "",
                   "store_error");
    }
  }

  Governance& gov_;
  const Request& request_;
  Caller caller_;
  json::error_code ec_;
};

}  // namespace

bool is_admin_path(std::string_view path) {
  return path == "/admin" || path.starts_with("/admin/");
}

namespace {

// Who calls: the master key, or an admin or reporting key that may use the admin API; else the
// answer that refuses the call.
std::variant<Caller, AdminAnswer> authorize(Worker& worker, const Request& request) {
  Governance* governance = worker.runtime.governance.get();
  if (!governance || !governance->authentication())
    return error(404,
                 "The admin API is off: set governance.master_key in the config to turn it on.", "",
                 "admin_api_off");
  const std::string_view credential = core::credential_from(
      request[http::field::authorization], request["x-api-key"], request["api-key"]);
  if (!credential.empty() && governance->is_master_key(credential))
    return Caller{"master", true, true};
  const core::AccountTable* table = governance->current(worker.accounts);
  auto key = credential.empty() || !table ? nullptr : table->find(sha256_of(credential));
  const core::WallTime now = wall_now();
  if (!key || key->record.role == core::KeyRole::client || key->record.blocked ||
      (key->record.expires && now >= *key->record.expires)) {
    return error(401, "The admin API needs the master key or an admin key.", "", "invalid_api_key");
  }
  return Caller{key->record.id, false, key->record.role == core::KeyRole::admin};
}

}  // namespace

namespace {

// On the governance's admin thread (a member-less coroutine: GCC 12 mishandles the captures of
// a lambda coroutine that co_spawn moves).
net::awaitable<AdminAnswer> answer_on_admin_thread(Governance& governance, const Request& request,
                                                   Caller caller, std::string path) {
  AdminApi api(governance, request, std::move(caller));
  co_return api.route_guarded(segments_of(path));
}

}  // namespace

net::awaitable<AdminAnswer> answer_admin(Worker& worker, const Request& request,
                                         RequestContext& ctx) {
  auto caller = authorize(worker, request);
  if (auto* refused = std::get_if<AdminAnswer>(&caller)) co_return std::move(*refused);
  ctx.model = "";
  Governance& governance = *worker.runtime.governance;
  co_return co_await net::co_spawn(
      governance.admin_executor(),
      answer_on_admin_thread(governance, request, std::move(std::get<Caller>(caller)),
                             std::string(ctx.path)),
      net::use_awaitable);
}

net::awaitable<AdminAnswer> answer_reload(Worker& worker, const Request& request) {
  auto caller = authorize(worker, request);
  if (auto* refused = std::get_if<AdminAnswer>(&caller)) co_return std::move(*refused);
  if (request.method() != http::verb::post)
    co_return error(405, "Use POST for /admin/reload.", "", "method_not_allowed");
  const Caller& who = std::get<Caller>(caller);
  if (!who.may_write)
    co_return error(403, "Reloading the config needs the master key or an admin key.", "",
                    "permission_denied");
  if (worker.runtime.reloader == nullptr)
    co_return error(503, "This gateway cannot reload its config.", "", "reload_unavailable");
  // On the reloader's thread: reading and validating the file never holds up this worker.
  const ReloadResult result =
      co_await worker.runtime.reloader->reload_off_thread("POST /admin/reload", who.actor);
  json::array restart_only;
  for (const auto& name : result.restart_only) restart_only.emplace_back(name);
  if (!result.applied) {
    json::array errors;
    for (const auto& e : result.errors) errors.emplace_back(e);
    json::value body = json::parse(core::to_openai_error_body(core::client_error(
        422, "The config was refused; the running config keeps serving. See errors.", "",
        "config_invalid")));
    body.as_object()["errors"] = std::move(errors);
    co_return AdminAnswer{422, "application/json", json::serialize(body)};
  }
  co_return AdminAnswer{
      200, "application/json",
      json::serialize(json::object{{"status", "applied"},
                                   {"hash", result.hash},
                                   {"models", result.models},
                                   {"restart_required", std::move(restart_only)}})};
}

}  // namespace switchyard::proxy
