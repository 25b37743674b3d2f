#include "proxy/shared_limits.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <cstdio>

#include "proxy/governance.hpp"

namespace switchyard::proxy {
namespace {

std::string sha1_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

core::WallTime wall_now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

// A script's array reply as text: strings as they are, integers in decimal.
std::vector<std::string> texts_of(const redis::Reply& reply) {
  std::vector<std::string> out;
  for (const redis::Reply& e : reply.elements)
    out.push_back(e.type == redis::Reply::Type::integer ? std::to_string(e.integer) : e.text);
  return out;
}

// The account a budget hash belongs to: sy:b:<account>:<period start>.
std::string account_of(std::string_view budget_key) {
  budget_key.remove_prefix(std::min<std::size_t>(budget_key.size(), 5));
  return std::string(budget_key.substr(0, budget_key.rfind(':')));
}

// Runs `task` on the thread's own io_context until it ends. run() would not return: the
// client's connection keeps a read waiting for as long as it is open.
void run_to_end(net::io_context& ioc, net::awaitable<void> task) {
  bool done = false;
  net::co_spawn(ioc, std::move(task), [&done](const std::exception_ptr& e) {
    done = true;
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "switchyard: state: a background task failed: %s\n", x.what());
    }
  });
  while (!done) {
    if (ioc.stopped()) ioc.restart();
    ioc.run_one();
  }
}

redis::Endpoint endpoint_of(const std::string& url) {
  auto parsed = redis::parse_url(url);
  if (!parsed) throw std::runtime_error("state.redis.url: " + parsed.error());
  return parsed.value();
}

}  // namespace

struct SharedLimits::WorkerLink {
  std::unique_ptr<redis::Client> client;  // made on the worker's thread, used only there
  // The generation this worker's new admissions name, and how many admissions each
  // generation still has in flight: the worker's own, no lock.
  std::uint64_t generation = 1;
  std::map<std::uint64_t, std::int64_t> in_flight;
  // Published for the heartbeat: it keeps generations oldest..current alive.
  std::atomic<std::uint64_t> oldest{1};
  std::atomic<std::uint64_t> current{1};
};

SharedLimits::SharedLimits(const core::StateConfig& state, std::string replica_id,
                           std::size_t workers, Governance& governance)
    : governance_(governance),
      replica_id_(std::move(replica_id)),
      endpoint_(endpoint_of(state.redis_url)),
      timeout_(state.redis_timeout),
      fail_open_(state.on_redis_down == core::StateConfig::OnRedisDown::fail_open),
      admit_sha_(sha1_hex(core::shared_admit_script())),
      settle_sha_(sha1_hex(core::shared_settle_script())),
      seed_sha_(sha1_hex(core::shared_seed_script())) {
  for (std::size_t i = 0; i < workers; ++i) links_.push_back(std::make_unique<WorkerLink>());
  std::fprintf(stderr,
               "switchyard: state: budgets and rate limits are shared through Redis at %s as "
               "replica %s (on_redis_down: %s)\n",
               endpoint_.address().c_str(), replica_id_.c_str(),
               fail_open_ ? "fail_open" : "fail_closed");
  heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
  seeder_thread_ = std::thread([this] { seeder_loop(); });
  // Before the first request: this replica's first beat (sy:epoch), and the budgets it seeds
  // then. Bounded: a Redis that does not answer only means the on_redis_down answer for now.
  std::unique_lock lock(wake_mutex_);
  const bool ready = wake_.wait_for(lock, std::chrono::seconds(5), [this] {
    return first_beat_done_ && seed_wanted_.empty() && !seeding_;
  });
  if (!ready)
    std::fprintf(stderr,
                 "switchyard: state: Redis at %s does not answer yet: requests with a "
                 "budget or limit get the on_redis_down answer until it does\n",
                 endpoint_.address().c_str());
}

SharedLimits::~SharedLimits() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_.store(true);
  }
  wake_.notify_all();
  heartbeat_thread_.join();
  seeder_thread_.join();
}

SharedLimits::WorkerLink& SharedLimits::link(std::size_t worker,
                                             const net::any_io_executor& executor) {
  WorkerLink& l = *links_.at(worker);
  if (!l.client)
    l.client = std::make_unique<redis::Client>(executor, endpoint_, timeout_,
                                               "worker " + std::to_string(worker));
  return l;
}

net::awaitable<redis::Outcome> SharedLimits::run_script(redis::Client& client, std::string_view sha,
                                                        std::string_view script,
                                                        const std::vector<std::string>& keys,
                                                        const std::vector<std::string>& argv,
                                                        redis::LateReplyHandler on_late) {
  const std::string key_count = std::to_string(keys.size());
  std::vector<std::string_view> words;
  words.reserve(3 + keys.size() + argv.size());
  words.emplace_back("EVALSHA");
  words.push_back(sha);
  words.emplace_back(key_count);
  for (const auto& k : keys) words.emplace_back(k);
  for (const auto& a : argv) words.emplace_back(a);
  redis::Outcome out = co_await client.command(words, on_late);
  if (out.answered() && out.reply.is_error() && out.reply.text.starts_with("NOSCRIPT")) {
    // Redis restarted (or flushed its scripts): once with the text, which caches it again.
    words[0] = "EVAL";
    words[1] = script;
    out = co_await client.command(words, std::move(on_late));
  }
  co_return out;
}

void SharedLimits::done_with(WorkerLink& l, std::uint64_t generation, bool connection_failed) {
  auto it = l.in_flight.find(generation);
  if (it != l.in_flight.end() && --it->second <= 0) l.in_flight.erase(it);
  // A reply lost or late: whatever that script did stays in this generation's fields, which
  // lapse once its admitted requests are settled. New admissions name the next one.
  if (connection_failed && generation == l.generation) ++l.generation;
  l.current.store(l.generation, std::memory_order_relaxed);
  l.oldest.store(
      l.in_flight.empty() ? l.generation : std::min(l.in_flight.begin()->first, l.generation),
      std::memory_order_relaxed);
}

net::awaitable<SharedLimits::Verdict> SharedLimits::admit(std::size_t worker,
                                                          net::any_io_executor executor,
                                                          std::shared_ptr<SharedAdmission> shared,
                                                          core::Refusal& refusal) {
  SharedAdmission& a = *shared;
  WorkerLink& l = link(worker, executor);
  a.worker = worker;
  a.generation = l.generation;
  ++l.in_flight[a.generation];
  l.oldest.store(std::min(l.in_flight.begin()->first, l.generation), std::memory_order_relaxed);
  const std::string field = core::shared_field(replica_id_, worker, a.generation);
  std::vector<std::string> keys, argv;
  core::shared_admit_arguments(a.checks, field, keys, argv);
  // A reply that comes after the caller was told `timeout` may say the script charged:
  // given back at once, on the same connection.
  // The request let go of `shared` when it was told `timeout`: the handler holds the last
  // reference.
  auto on_late = [this, executor, shared](const redis::Reply& late) {
    if (late.type != redis::Reply::Type::array || late.elements.empty() ||
        late.elements.front().text != "ok")
      return;
    shared->admitted = true;
    ++links_.at(shared->worker)->in_flight[shared->generation];
    settle(executor, shared, 0, 0, {}, /*give_back=*/true);
  };
  redis::Outcome out =
      co_await run_script(*l.client, admit_sha_, core::shared_admit_script(), keys, argv, on_late);
  // A budget Redis has no spend for yet (new to this Redis, or lost with its data) is seeded
  // from the ledger by the seeder thread; the request waits for that, a few ms at a time,
  // within the timeout, without holding the worker.
  const auto give_up = std::chrono::steady_clock::now() + timeout_;
  net::steady_timer pause(executor);
  for (;;) {
    if (!out.answered() || out.reply.type != redis::Reply::Type::array) break;
    const std::vector<std::string> words = texts_of(out.reply);
    if (words.size() < 2 || words[0] != "seed" || std::chrono::steady_clock::now() >= give_up)
      break;
    const core::SharedVerdict waiting = core::read_admit_reply(words, a.checks);
    if (waiting.kind == core::SharedVerdict::Kind::needs_seed)
      request_seed(a.checks[waiting.check]);
    pause.expires_after(std::chrono::milliseconds(5));
    co_await pause.async_wait(net::use_awaitable);
    out = co_await run_script(*l.client, admit_sha_, core::shared_admit_script(), keys, argv,
                              on_late);
  }
  if (!out.answered() || out.reply.type != redis::Reply::Type::array) {
    done_with(l, a.generation, !out.answered());
    if (out.answered())
      std::fprintf(stderr, "switchyard: state: the admit script failed in Redis: %s\n",
                   out.reply.text.c_str());
    counts_.unavailable.fetch_add(1, std::memory_order_relaxed);
    co_return Verdict::unavailable;
  }
  const core::SharedVerdict v = core::read_admit_reply(texts_of(out.reply), a.checks);
  switch (v.kind) {
    case core::SharedVerdict::Kind::admitted:
      a.admitted = true;
      a.rates = v.rates;
      counts_.admitted.fetch_add(1, std::memory_order_relaxed);
      co_return Verdict::admitted;
    case core::SharedVerdict::Kind::refused:
      done_with(l, a.generation, false);
      refusal = v.refusal;
      a.rates = v.rates;
      counts_.refused.fetch_add(1, std::memory_order_relaxed);
      co_return Verdict::refused;
    case core::SharedVerdict::Kind::needs_seed:
      request_seed(a.checks[v.check]);
      break;
    case core::SharedVerdict::Kind::malformed:
      break;
  }
  done_with(l, a.generation, false);
  counts_.unavailable.fetch_add(1, std::memory_order_relaxed);
  co_return Verdict::unavailable;
}

void SharedLimits::settle(const net::any_io_executor& executor, std::shared_ptr<SharedAdmission> a,
                          core::Micros actual_cost, std::int64_t actual_tokens,
                          std::function<void()> soft_crossed, bool give_back) {
  net::co_spawn(executor,
                settle_on_worker(std::move(a), actual_cost, actual_tokens, std::move(soft_crossed),
                                 give_back),
                net::detached);
}

net::awaitable<void> SharedLimits::settle_on_worker(std::shared_ptr<SharedAdmission> a,
                                                    core::Micros actual_cost,
                                                    std::int64_t actual_tokens,
                                                    std::function<void()> soft_crossed,
                                                    bool give_back) {
  WorkerLink& l = *links_.at(a->worker);
  const std::string field = core::shared_field(replica_id_, a->worker, a->generation);
  std::vector<std::string> keys, argv;
  core::shared_settle_arguments(a->checks, field, actual_cost, actual_tokens, give_back, keys,
                                argv);
  const redis::Outcome out =
      co_await run_script(*l.client, settle_sha_, core::shared_settle_script(), keys, argv);
  done_with(l, a->generation, !out.answered());
  if (out.answered() && out.reply.is_error()) {
    // What the script held stays held until its field lapses: say so, once and then every
    // 10,000th time, rather than once a request.
    if (counts_.settle_failed.fetch_add(1, std::memory_order_relaxed) % 10'000 == 0)
      std::fprintf(stderr, "switchyard: state: the settle script failed in Redis: %s\n",
                   out.reply.text.c_str());
    co_return;
  }
  if (!out.answered() || out.reply.type != redis::Reply::Type::array || !soft_crossed) co_return;
  std::vector<std::int64_t> spent_after;
  for (const redis::Reply& e : out.reply.elements) spent_after.push_back(e.integer);
  if (a->key && core::crossed_soft_limit(*a->key, a->checks, spent_after, actual_cost))
    soft_crossed();
}

void SharedLimits::request_seed(const core::SharedCheck& check) {
  {
    std::lock_guard lock(wake_mutex_);
    if (seed_wanted_.size() >= 100'000) return;  // bounded; the full seed after an epoch covers it
    seed_wanted_.emplace(check.key, check);
  }
  wake_.notify_all();
}

void SharedLimits::seed_budgets_of(const core::AccountTable& table) {
  for (const core::SharedCheck& c : every_budget(table)) request_seed(c);
}

std::vector<core::SharedCheck> SharedLimits::every_budget(const core::AccountTable& table) {
  std::vector<core::SharedCheck> all;
  const core::WallTime now = wall_now();
  auto add = [&](const core::BudgetCounter& b, const std::string& account,
                 core::Refusal::Level level) {
    const core::PeriodWindow w = b.window(now);
    core::SharedCheck& c = all.emplace_back();
    c.kind = core::SharedCheck::Kind::budget;
    c.level = level;
    c.period_start_ms = core::unix_ms(w.start);
    c.key = core::shared_budget_key(account, c.period_start_ms);
    c.limit = b.limit();
    c.ttl_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(w.reset - now).count() + 86'400'000;
    c.reset = w.reset;
  };
  for (const auto& k : table.keys())
    if (k->state->budget) add(*k->state->budget, k->record.id, core::Refusal::Level::key);
  for (const auto& t : table.teams())
    if (t->state->budget) add(*t->state->budget, t->record.id, core::Refusal::Level::team);
  return all;
}

void SharedLimits::heartbeat_loop() {
  net::io_context ioc;
  // The heartbeat may wait longer than a request: a slow answer is not a missed beat.
  redis::Client client(ioc.get_executor(), endpoint_,
                       std::max(timeout_, std::chrono::milliseconds(500)), "heartbeat");
  bool seeded_all = false;
  while (!stopping_.load()) {
    run_to_end(ioc, heartbeat_once(client, seeded_all));
    std::unique_lock lock(wake_mutex_);
    if (!first_beat_done_) {
      first_beat_done_ = true;
      wake_.notify_all();
    }
    wake_.wait_for(lock, core::kSharedHeartbeat, [this] { return stopping_.load(); });
  }
  client.close();
  ioc.poll();
}

net::awaitable<void> SharedLimits::heartbeat_once(redis::Client& client, bool& seeded_all) {
  const std::string ttl = std::to_string(core::kSharedLivenessTtl.count());
  for (std::size_t w = 0; w < links_.size(); ++w) {
    const WorkerLink& l = *links_[w];
    const std::uint64_t current = l.current.load(std::memory_order_relaxed);
    for (std::uint64_t g = l.oldest.load(std::memory_order_relaxed); g <= current; ++g) {
      const std::string key = core::shared_liveness_key(core::shared_field(replica_id_, w, g));
      co_await client.command(std::array<std::string_view, 5>{"SET", key, "1", "PX", ttl});
    }
  }
  // sy:epoch: set by the first replica to find Redis without data. Then every budget whose
  // period began before it is seeded from the ledger.
  const std::string now_ms = std::to_string(core::unix_ms(wall_now()));
  const redis::Outcome epoch =
      co_await client.command(std::array<std::string_view, 4>{"SET", "sy:epoch", now_ms, "NX"});
  if (!epoch.answered()) co_return;
  if (epoch.reply.type == redis::Reply::Type::status || !seeded_all) {
    seeded_all = true;
    if (const auto table = governance_.table()) seed_budgets_of(*table);
  }
}

// Each budget's spend as Redis has it, into the local counters that the admin API and the
// metrics read (admission itself asks Redis). On the seeder's thread, so that however many
// budgets there are, the heartbeat's liveness keys never wait behind them.
net::awaitable<void> SharedLimits::mirror_all(redis::Client& client) {
  const auto table = governance_.table();
  if (!table) co_return;
  const core::WallTime now = wall_now();
  for (const auto& k : table->keys())
    if (k->state->budget) co_await mirror_budget(client, *k->state->budget, k->record.id, now);
  for (const auto& t : table->teams())
    if (t->state->budget) co_await mirror_budget(client, *t->state->budget, t->record.id, now);
}

net::awaitable<void> SharedLimits::mirror_budget(redis::Client& client, core::BudgetCounter& b,
                                                 const std::string& account, core::WallTime now) {
  const std::string key = core::shared_budget_key(account, core::unix_ms(b.window(now).start));
  const redis::Outcome spent =
      co_await client.command(std::array<std::string_view, 3>{"HGET", key, "spent"});
  if (!spent.answered() || spent.reply.type != redis::Reply::Type::string) co_return;
  core::Micros value = 0;
  const std::string& t = spent.reply.text;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (ec == std::errc() && end == t.data() + t.size()) b.restore(value, now);
}

void SharedLimits::seeder_loop() {
  net::io_context ioc;
  redis::Client client(ioc.get_executor(), endpoint_,
                       std::max(timeout_, std::chrono::milliseconds(500)), "seeder");
  bool retrying = false;
  while (true) {
    std::vector<core::SharedCheck> wanted;
    {
      std::unique_lock lock(wake_mutex_);
      // What failed waits a second before it is tried again.
      if (retrying)
        wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_.load(); });
      const bool woken = wake_.wait_for(lock, core::kSharedHeartbeat, [this] {
        return stopping_.load() || !seed_wanted_.empty();
      });
      if (stopping_.load()) break;
      if (!woken) {
        // A quiet second: the local counters are brought up to Redis's spend.
        lock.unlock();
        run_to_end(ioc, mirror_all(client));
        continue;
      }
      for (auto& [key, check] : seed_wanted_) wanted.push_back(std::move(check));
      seed_wanted_.clear();
      seeding_ = true;
    }
    const std::uint64_t failures_before = seed_failures_;
    run_to_end(ioc, seed(client, std::move(wanted)));
    retrying = seed_failures_ != failures_before;
    {
      std::lock_guard lock(wake_mutex_);
      seeding_ = false;
    }
    wake_.notify_all();
  }
  client.close();
  ioc.poll();
}

net::awaitable<void> SharedLimits::seed(redis::Client& client,
                                        std::vector<core::SharedCheck> wanted) {
  GovernanceStore& store = governance_.store();
  for (const core::SharedCheck& c : wanted) {
    // Most asks find the hash there (every table published asks for every budget): only a
    // missing one costs a query of the ledger.
    const redis::Outcome there =
        co_await client.command(std::array<std::string_view, 3>{"HEXISTS", c.key, "spent"});
    if (there.answered() && there.reply.type == redis::Reply::Type::integer &&
        there.reply.integer == 1)
      continue;
    const std::string account = account_of(c.key);
    core::Micros spent = 0;
    try {
      spent = c.level == core::Refusal::Level::team
                  ? store.team_spend_since(account, c.period_start_ms)
                  : store.key_spend_since(account, c.period_start_ms);
    } catch (const StoreError& e) {
      // Seeded from nothing would let the budget be spent again: it waits for the store.
      std::fprintf(stderr, "switchyard: state: cannot seed a budget from the ledger: %s\n",
                   e.what());
      ++seed_failures_;
      request_seed(c);
      continue;
    }
    std::vector<std::string> keys{c.key};
    std::vector<std::string> argv{std::to_string(spent), std::to_string(c.ttl_ms)};
    const redis::Outcome out =
        co_await run_script(client, seed_sha_, core::shared_seed_script(), keys, argv);
    if (!out.answered()) {
      ++seed_failures_;
      request_seed(c);
      continue;
    }
    if (out.reply.integer == 1) counts_.seeded.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace switchyard::proxy
