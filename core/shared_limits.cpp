#include "core/shared_limits.hpp"

#include <algorithm>
#include <charconv>

namespace switchyard::core {
namespace {

// ARGV: [1] the worker connection's field, [2] "1" when settling gives the charge back unused,
// then five values a check from [3]: kind, limit, amount, period start (budget) or the actual
// amount (settle), expiry in ms. Numbers stay below 2^53, so Lua's doubles hold them exactly;
// a stored number is written with %.0f, never in exponent form.
// Every redis.call costs a few microseconds of Redis's one thread, which all replicas share: the
// scripts make only the calls their checks need (the clock for rate limits, the epoch for a
// missing budget, a budget hash's expiry once, when it is made).
constexpr std::string_view kAdmitScript = R"lua(
local field = ARGV[1]
local now = nil
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  return now
end
local live = {}
local function held(key)
  local all = redis.call('HGETALL', key)
  local sum = 0
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, 1, 2) == 'w:' then
      local alive = live[f]
      if alive == nil then
        alive = redis.call('EXISTS', 'sy:live:' .. string.sub(f, 3)) == 1
        live[f] = alive
      end
      if alive then sum = sum + tonumber(all[i + 1]) else redis.call('HDEL', key, f) end
    end
  end
  return sum
end
-- This connection's field is alive from its first use; the heartbeat keeps it so after.
redis.call('SET', 'sy:live:' .. string.sub(field, 3), 1, 'PX', 3000)
local tats = {}
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 5
  local kind, limit, amount = ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local key = KEYS[i]
  if kind == 'b' then
    local spent = redis.call('HGET', key, 'spent')
    if not spent then
      local epoch = tonumber(redis.call('GET', 'sy:epoch') or '-1')
      if epoch < 0 or tonumber(ARGV[base + 4]) < epoch then return {'seed', tostring(i)} end
      spent = '0'
      redis.call('HSET', key, 'spent', 0)
      redis.call('PEXPIRE', key, ARGV[base + 5])
    end
    local h = held(key)
    if tonumber(spent) + h + amount > limit then
      return {'refuse', tostring(i), spent, string.format('%.0f', h)}
    end
  elseif kind == 'r' or kind == 't' then
    local interval = 60000000 / limit
    local now = clock()
    local tat = tonumber(redis.call('GET', key) or '0')
    local new_tat = math.max(tat, now) + math.min(amount, limit) * interval
    if new_tat - now > 60000000.5 then
      return {'refuse', tostring(i), string.format('%.0f', new_tat - now - 60000000),
              string.format('%.0f', math.max(tat - now, 0))}
    end
    tats[i] = new_tat
  else
    if held(key) + 1 > limit then return {'refuse', tostring(i)} end
  end
end
local out = {'ok'}
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 5
  local kind, key = ARGV[base + 1], KEYS[i]
  if kind == 'b' then
    -- The hash got its expiry (the period's end and a day) when it was made.
    redis.call('HINCRBY', key, field, ARGV[base + 3])
  elseif kind == 'p' then
    -- Renewed by every admission: a key busy for longer than a day never loses its count.
    redis.call('HINCRBY', key, field, 1)
    redis.call('PEXPIRE', key, ARGV[base + 5])
  else
    redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', ARGV[base + 5])
    out[#out + 1] = string.format('%.0f', tats[i] - now)
  end
end
return out
)lua";

// Settles (or gives back) what the admit script charged. A field or budget hash that is gone
// (its replica lapsed, or Redis lost its data) is never made again here: the spend of a lost
// hash is in the ledger, which seeds it. Answers each budget's spend after, -1 when lost.
constexpr std::string_view kSettleScript = R"lua(
local field, release = ARGV[1], ARGV[2] == '1'
local out = {}
-- %d, not the number itself: Lua writes minus zero as "-0", which HINCRBY refuses (a free
-- model's reservation is zero), and an error here would stop the script before it frees the
-- checks after this one. A field that lapsed meanwhile is made by HINCRBY and deleted at once
-- (as is a hash Redis lost: an empty hash does not exist).
local function give_back(key, amount)
  if redis.call('HINCRBY', key, field, string.format('%d', -amount)) <= 0 then
    redis.call('HDEL', key, field)
  end
end
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 5
  local kind, limit, amount = ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local actual, key = tonumber(ARGV[base + 4]), KEYS[i]
  if kind == 'b' then
    give_back(key, amount)
    if redis.call('HEXISTS', key, 'spent') == 1 then
      out[#out + 1] = redis.call('HINCRBY', key, 'spent', ARGV[base + 4])
    else
      out[#out + 1] = -1
    end
  elseif kind == 'p' then
    give_back(key, 1)
  elseif kind == 't' or release then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local tat = tonumber(redis.call('GET', key) or '0')
    local new_tat = tat + (actual - math.min(amount, limit)) * (60000000 / limit)
    if new_tat < now then new_tat = now end
    redis.call('SET', key, string.format('%.0f', new_tat), 'PX', ARGV[base + 5])
  end
end
return out
)lua";

// KEYS[1] a budget hash, ARGV[1] the ledger's spend in its period, ARGV[2] its expiry.
constexpr std::string_view kSeedScript = R"lua(
if redis.call('HEXISTS', KEYS[1], 'spent') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'spent', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua";

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kRateTtlMs = 120'000;     // a minute's window and as much again
constexpr std::int64_t kParallelTtlMs = kDayMs;  // renewed by every admission

std::int64_t ms_until(WallTime from, WallTime to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

void add_budget(const BudgetSpec& spec, const BudgetCounter* counter, std::string_view account,
                Refusal::Level level, const Estimate& estimate, WallTime now,
                std::vector<SharedCheck>& out) {
  const PeriodWindow w =
      counter ? counter->window(now) : period_window(spec.period, now, spec.anchor);
  SharedCheck& c = out.emplace_back();
  c.kind = SharedCheck::Kind::budget;
  c.level = level;
  c.period_start_ms = unix_ms(w.start);
  c.key = shared_budget_key(account, c.period_start_ms);
  c.limit = spec.max;
  c.amount = estimate.cost;
  c.ttl_ms = std::max<std::int64_t>(ms_until(now, w.reset), 0) + kDayMs;
  c.reset = w.reset;
}

void add_limits(const Limits& limits, std::string_view account, Refusal::Level level,
                const Estimate& estimate, std::vector<SharedCheck>& out) {
  auto add = [&](std::string_view prefix, std::int64_t limit, std::int64_t amount, bool tokens) {
    SharedCheck& c = out.emplace_back();
    c.kind = SharedCheck::Kind::rate;
    c.tokens = tokens;
    c.level = level;
    c.key.append(prefix).append(account);
    c.limit = limit;
    c.amount = amount;
    c.ttl_ms = kRateTtlMs;
  };
  if (limits.rpm > 0) add("sy:r:", limits.rpm, 1, false);
  if (limits.tpm > 0) add("sy:t:", limits.tpm, std::max<std::int64_t>(estimate.tokens, 1), true);
}

void add_parallel(const Limits& limits, std::string_view account, Refusal::Level level,
                  std::vector<SharedCheck>& out) {
  if (limits.parallel <= 0) return;
  SharedCheck& c = out.emplace_back();
  c.kind = SharedCheck::Kind::parallel;
  c.level = level;
  c.key.append("sy:p:").append(account);
  c.limit = limits.parallel;
  c.amount = 1;
  c.ttl_ms = kParallelTtlMs;
}

std::optional<std::int64_t> number(const std::string& text) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// A rate check's view for the x-ratelimit-* headers, from its backlog (the limiter's
// theoretical arrival time minus Redis's now): what fits in the rest of the minute.
void add_rate_view(const SharedCheck& c, std::int64_t backlog_us, RateViews& views) {
  constexpr std::int64_t kMinuteUs = 60'000'000;
  backlog_us = std::clamp<std::int64_t>(backlog_us, 0, kMinuteUs);
  // The script's own test: a charge of n fits while backlog + n * (minute / limit) stays
  // within the minute (and half a microsecond, for its doubles).
  const auto fits = static_cast<std::int64_t>(
      (static_cast<long double>(kMinuteUs - backlog_us) + 0.5L) * c.limit / kMinuteUs);
  const RateView v{c.limit, std::clamp<std::int64_t>(fits, 0, c.limit),
                   std::chrono::microseconds(backlog_us)};
  std::optional<RateView>& slot = c.tokens ? views.tokens : views.requests;
  if (!slot || v.remaining < slot->remaining) slot = v;
}

char kind_letter(const SharedCheck& c) {
  if (c.kind == SharedCheck::Kind::rate) return c.tokens ? 't' : 'r';
  return static_cast<char>(c.kind);
}

void common_arguments(const std::vector<SharedCheck>& checks, std::string_view field, bool release,
                      std::vector<std::string>& keys, std::vector<std::string>& argv) {
  keys.clear();
  argv.clear();
  argv.emplace_back(field);
  argv.emplace_back(release ? "1" : "0");
  for (const SharedCheck& c : checks) keys.push_back(c.key);
}

}  // namespace

std::string_view shared_admit_script() { return kAdmitScript; }
std::string_view shared_settle_script() { return kSettleScript; }
std::string_view shared_seed_script() { return kSeedScript; }

std::int64_t unix_ms(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string shared_budget_key(std::string_view account, std::int64_t period_start_ms) {
  std::string key = "sy:b:";
  return key.append(account).append(":").append(std::to_string(period_start_ms));
}

std::string shared_field(std::string_view replica, std::size_t worker, std::uint64_t generation) {
  std::string field = "w:";
  return field.append(replica)
      .append(":")
      .append(std::to_string(worker))
      .append(":")
      .append(std::to_string(generation));
}

std::string shared_liveness_key(std::string_view field) {
  std::string key = "sy:live:";
  return key.append(field.substr(2));
}

void shared_checks(const KeyEntry& key, std::string_view model, const Estimate& estimate,
                   WallTime now, std::vector<SharedCheck>& out) {
  out.clear();
  using L = Refusal::Level;
  const KeyRecord& k = key.record;
  if (k.budget) add_budget(*k.budget, key.state->budget.get(), k.id, L::key, estimate, now, out);
  const TeamEntry* team = key.team.get();
  if (team && team->record.budget)
    add_budget(*team->record.budget, team->state->budget.get(), team->record.id, L::team, estimate,
               now, out);
  // The key-and-model level: the first of the key's model limits that matches, as core's.
  const ModelLimits* per_model = nullptr;
  for (const ModelLimits& m : k.model_limits) {
    if (glob_match(m.model, model)) {
      per_model = &m;
      break;
    }
  }
  std::string model_account;
  if (per_model) model_account.append(k.id).append("|").append(per_model->model);
  add_limits(k.limits, k.id, L::key, estimate, out);
  if (team) add_limits(team->record.limits, team->record.id, L::team, estimate, out);
  if (per_model) add_limits(per_model->limits, model_account, L::key_and_model, estimate, out);
  add_parallel(k.limits, k.id, L::key, out);
  if (team) add_parallel(team->record.limits, team->record.id, L::team, out);
  if (per_model) add_parallel(per_model->limits, model_account, L::key_and_model, out);
}

void shared_admit_arguments(const std::vector<SharedCheck>& checks, std::string_view field,
                            std::vector<std::string>& keys, std::vector<std::string>& argv) {
  common_arguments(checks, field, false, keys, argv);
  for (const SharedCheck& c : checks) {
    argv.emplace_back(1, kind_letter(c));
    argv.push_back(std::to_string(c.limit));
    argv.push_back(std::to_string(c.amount));
    argv.push_back(std::to_string(c.period_start_ms));
    argv.push_back(std::to_string(c.ttl_ms));
  }
}

void shared_settle_arguments(const std::vector<SharedCheck>& checks, std::string_view field,
                             Micros actual_cost, std::int64_t actual_tokens, bool give_back,
                             std::vector<std::string>& keys, std::vector<std::string>& argv) {
  common_arguments(checks, field, give_back, keys, argv);
  for (const SharedCheck& c : checks) {
    argv.emplace_back(1, kind_letter(c));
    argv.push_back(std::to_string(c.limit));
    argv.push_back(std::to_string(c.amount));
    const std::int64_t actual =
        c.kind == SharedCheck::Kind::budget ? actual_cost : (c.tokens ? actual_tokens : 1);
    argv.push_back(std::to_string(actual));
    argv.push_back(std::to_string(c.ttl_ms));
  }
}

SharedVerdict read_admit_reply(const std::vector<std::string>& reply,
                               const std::vector<SharedCheck>& checks) {
  SharedVerdict v;
  if (reply.empty()) return v;
  if (reply[0] == "ok") {
    // Then each rate check's backlog after its charge, in check order.
    std::size_t next = 1;
    for (const SharedCheck& c : checks) {
      if (c.kind != SharedCheck::Kind::rate) continue;
      const auto backlog = next < reply.size() ? number(reply[next++]) : std::nullopt;
      if (!backlog) return v;
      add_rate_view(c, *backlog, v.rates);
    }
    v.kind = SharedVerdict::Kind::admitted;
    return v;
  }
  if (reply.size() < 2) return v;
  const auto index = number(reply[1]);
  if (!index || *index < 1 || static_cast<std::size_t>(*index) > checks.size()) return v;
  v.check = static_cast<std::size_t>(*index - 1);
  const SharedCheck& c = checks[v.check];
  if (reply[0] == "seed") {
    v.kind = SharedVerdict::Kind::needs_seed;
    return v;
  }
  if (reply[0] != "refuse") return v;
  Refusal& r = v.refusal;
  r.level = c.level;
  r.limit = c.limit;
  switch (c.kind) {
    case SharedCheck::Kind::budget: {
      const auto spent = reply.size() > 3 ? number(reply[2]) : std::nullopt;
      const auto held = reply.size() > 3 ? number(reply[3]) : std::nullopt;
      if (!spent || !held) return v;
      r.kind = Refusal::Kind::budget;
      r.budget = {c.limit, *spent, *held, c.reset};
      break;
    }
    case SharedCheck::Kind::rate: {
      const auto wait_us = reply.size() > 3 ? number(reply[2]) : std::nullopt;
      const auto backlog_us = reply.size() > 3 ? number(reply[3]) : std::nullopt;
      if (!wait_us || !backlog_us) return v;
      r.kind = c.tokens ? Refusal::Kind::rate_tokens : Refusal::Kind::rate_requests;
      r.retry_after = std::chrono::microseconds(*wait_us);
      add_rate_view(c, *backlog_us, v.rates);
      break;
    }
    case SharedCheck::Kind::parallel:
      r.kind = Refusal::Kind::parallel;
      break;
  }
  v.kind = SharedVerdict::Kind::refused;
  return v;
}

bool crossed_soft_limit(const KeyEntry& key, const std::vector<SharedCheck>& checks,
                        const std::vector<std::int64_t>& spent_after, Micros actual_cost) {
  std::size_t j = 0;
  bool crossed = false;
  for (const SharedCheck& c : checks) {
    if (c.kind != SharedCheck::Kind::budget) continue;
    if (j >= spent_after.size()) break;
    const std::int64_t after = spent_after[j++];
    const BudgetSpec* spec = c.level == Refusal::Level::team && key.team
                                 ? (key.team->record.budget ? &*key.team->record.budget : nullptr)
                                 : (key.record.budget ? &*key.record.budget : nullptr);
    if (!spec || !spec->soft || after < 0) continue;
    crossed = crossed || (after >= *spec->soft && after - actual_cost < *spec->soft);
  }
  return crossed;
}

}  // namespace switchyard::core
