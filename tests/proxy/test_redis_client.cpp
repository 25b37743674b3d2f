// The Redis client against Debian's real redis-server, started by each test on loopback: round
// trips, a thousand callers pipelined on one connection, URLs, timeouts with late replies, a
// killed server, nothing listening, a server that never answers, and AUTH.
#include <unistd.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "proxy/redis_client.hpp"
#include "tests/support/database_servers.hpp"

namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;
using switchyard::proxy::redis::Client;
using switchyard::proxy::redis::Endpoint;
using switchyard::proxy::redis::LateReplyHandler;
using switchyard::proxy::redis::Outcome;
using switchyard::proxy::redis::parse_url;
using switchyard::proxy::redis::Reply;
using switchyard::testing::RedisServer;
using Clock = std::chrono::steady_clock;

// How long any one wait of a test may take before it fails (never reached when things work).
constexpr auto kPatience = 5s;

// Blocks the server for about half a second, then answers "late".
constexpr const char* kBusyScript =
    "local function now() local t = redis.call('TIME') return t[1] * 1000000 + t[2] end "
    "local start = now() while now() - start < 500000 do end return 'late'";

Endpoint endpoint_of(const std::string& url) {
  auto parsed = parse_url(url);
  REQUIRE(parsed.ok());
  return parsed.value();
}

std::string url_with_credentials(const RedisServer& server, const std::string& credentials,
                                 int database = 0) {
  return "redis://" + credentials + "@127.0.0.1:" + std::to_string(server.port()) + "/" +
         std::to_string(database);
}

// Runs the io_context until `done()` holds, failing the test after kPatience.
void run_until(net::io_context& ioc, const std::function<bool()>& done) {
  ioc.restart();
  const auto deadline = Clock::now() + kPatience;
  while (!done() && ioc.run_one_until(deadline) > 0) {
  }
  REQUIRE(done());
}

net::awaitable<void> send_into(Client& client, std::vector<std::string> words,
                               std::optional<Outcome>& out, LateReplyHandler on_late) {
  const std::vector<std::string_view> views(words.begin(), words.end());
  out = co_await client.command(views, std::move(on_late));
}

// Starts one command; its outcome appears in `out`.
void start_command(net::io_context& ioc, Client& client, std::vector<std::string> words,
                   std::optional<Outcome>& out, LateReplyHandler on_late = {}) {
  net::co_spawn(ioc, send_into(client, std::move(words), out, std::move(on_late)), net::detached);
}

// One command, waited for.
Outcome call(net::io_context& ioc, Client& client, std::vector<std::string> words) {
  std::optional<Outcome> out;
  start_command(ioc, client, std::move(words), out);
  run_until(ioc, [&] { return out.has_value(); });
  return std::move(*out);
}

// One command and how long its caller waited.
std::pair<Outcome, Clock::duration> timed_call(net::io_context& ioc, Client& client,
                                               std::vector<std::string> words) {
  const auto start = Clock::now();
  Outcome outcome = call(ioc, client, std::move(words));
  return {std::move(outcome), Clock::now() - start};
}

std::string describe(const Outcome& outcome) {
  std::string text(to_string(outcome.kind));
  if (outcome.answered()) text += " '" + outcome.reply.text + "'";
  return text;
}

// Sends PING every 20 ms until one is answered, for at most kPatience.
Outcome ping_until_answered(net::io_context& ioc, Client& client) {
  const auto deadline = Clock::now() + kPatience;
  for (;;) {
    Outcome outcome = call(ioc, client, {"PING"});
    if (outcome.answered() || Clock::now() > deadline) return outcome;
    net::steady_timer pause(ioc, 20ms);
    bool paused = false;
    pause.async_wait([&](const boost::system::error_code&) { paused = true; });
    run_until(ioc, [&] { return paused; });
  }
}

// What this process writes to stderr while it lives (the client's log lines).
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()), saved_(::dup(2)) {
    REQUIRE(file_ != nullptr);
    std::fflush(stderr);
    ::dup2(::fileno(file_), 2);
  }
  ~StderrCapture() {
    restore();
    if (file_ != nullptr) std::fclose(file_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string text() {
    restore();
    std::string out;
    std::rewind(file_);
    char chunk[4096];
    while (const std::size_t n = std::fread(chunk, 1, sizeof chunk, file_)) out.append(chunk, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_;
};

}  // namespace

TEST_CASE("redis client: SET GET INCR and EVAL round trip and an error reply keeps the connection",
          "[redis]") {
  RedisServer server;
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Client client(ioc.get_executor(), endpoint_of(server.url()), 2s, "roundtrip");
  CHECK_FALSE(client.connected());

  const Outcome set = call(ioc, client, {"SET", "greeting", "hello"});
  REQUIRE(set.answered());
  CHECK(set.reply.type == Reply::Type::status);
  CHECK(set.reply.text == "OK");
  CHECK(client.connected());

  const Outcome get = call(ioc, client, {"GET", "greeting"});
  REQUIRE(get.answered());
  CHECK(get.reply.type == Reply::Type::string);
  CHECK(get.reply.text == "hello");
  CHECK(call(ioc, client, {"GET", "no-such-key"}).reply.type == Reply::Type::nil);

  // Words are binary-safe: CR, LF and NUL survive the trip.
  const std::string binary("line\r\nnul\0end", 13);
  CHECK(call(ioc, client, {"SET", "binary", binary}).answered());
  CHECK(call(ioc, client, {"GET", "binary"}).reply.text == binary);

  const Outcome first = call(ioc, client, {"INCR", "counter"});
  REQUIRE(first.answered());
  CHECK(first.reply.type == Reply::Type::integer);
  CHECK(first.reply.integer == 1);
  CHECK(call(ioc, client, {"INCR", "counter"}).reply.integer == 2);

  const Outcome eval =
      call(ioc, client,
           {"EVAL", "return {tonumber(ARGV[1]), KEYS[1], redis.status_reply('FINE'), false}", "1",
            "a-key", "7"});
  REQUIRE(eval.answered());
  REQUIRE(eval.reply.type == Reply::Type::array);
  REQUIRE(eval.reply.elements.size() == 4);
  CHECK(eval.reply.elements[0].type == Reply::Type::integer);
  CHECK(eval.reply.elements[0].integer == 7);
  CHECK(eval.reply.elements[1].text == "a-key");
  CHECK(eval.reply.elements[2].type == Reply::Type::status);
  CHECK(eval.reply.elements[2].text == "FINE");
  CHECK(eval.reply.elements[3].type == Reply::Type::nil);

  const Outcome wrong_type = call(ioc, client, {"LPUSH", "greeting", "x"});
  REQUIRE(wrong_type.answered());
  CHECK(wrong_type.reply.is_error());
  CHECK(wrong_type.reply.text.rfind("WRONGTYPE", 0) == 0);
  const Outcome script_error =
      call(ioc, client, {"EVAL", "return redis.call('INCR', KEYS[1])", "1", "greeting"});
  REQUIRE(script_error.answered());
  CHECK(script_error.reply.is_error());

  // The same connection goes on answering.
  CHECK(call(ioc, client, {"GET", "greeting"}).reply.text == "hello");
  CHECK(client.connected());
  CHECK(client.counters().commands_sent == 11);
  CHECK(client.counters().reconnects == 0);
  CHECK(client.counters().timeouts == 0);
  CHECK(client.counters().unavailable == 0);
  CHECK(server.command({"GET", "counter"}) == "2");
}

namespace {

struct CallerResults {
  std::vector<long long> increments;  // by caller
  int wrong_replies = 0;
  int finished = 0;
};

net::awaitable<void> increment_then_round_trip(Client& client, int caller, CallerResults& results) {
  const Outcome incr =
      co_await client.command(std::array<std::string_view, 2>{"INCR", "shared-counter"});
  results.increments[static_cast<std::size_t>(caller)] =
      incr.answered() && incr.reply.type == Reply::Type::integer ? incr.reply.integer : -1;
  const std::string key = "caller:" + std::to_string(caller);
  const std::string value = "value-of-" + std::to_string(caller);
  const Outcome set = co_await client.command(std::array<std::string_view, 3>{"SET", key, value});
  const Outcome get = co_await client.command(std::array<std::string_view, 2>{"GET", key});
  if (!set.answered() || set.reply.text != "OK" || !get.answered() || get.reply.text != value)
    ++results.wrong_replies;
  ++results.finished;
}

}  // namespace

TEST_CASE("redis client: a thousand concurrent callers on one connection get their own replies",
          "[redis]") {
  RedisServer server;
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Client client(ioc.get_executor(), endpoint_of(server.url()), 5s, "concurrent");

  constexpr int kCallers = 1000;
  CallerResults results;
  results.increments.assign(kCallers, 0);
  // Every caller sends its INCR before any reply is read (the first ones even before the
  // connection is up), so the replies come back in the order the callers started.
  for (int caller = 0; caller < kCallers; ++caller)
    net::co_spawn(ioc, increment_then_round_trip(client, caller, results), net::detached);
  run_until(ioc, [&] { return results.finished == kCallers; });

  CHECK(results.wrong_replies == 0);
  const std::set<long long> distinct(results.increments.begin(), results.increments.end());
  CHECK(distinct.size() == kCallers);
  CHECK(*distinct.begin() == 1);
  CHECK(*distinct.rbegin() == kCallers);
  int in_call_order = 0;
  for (int caller = 0; caller < kCallers; ++caller)
    in_call_order += results.increments[static_cast<std::size_t>(caller)] == caller + 1 ? 1 : 0;
  CHECK(in_call_order == kCallers);
  CHECK(server.command({"GET", "shared-counter"}) == "1000");
  CHECK(client.counters().commands_sent == 3 * kCallers);
  CHECK(client.counters().timeouts == 0);
  CHECK(client.counters().unavailable == 0);
}

TEST_CASE(
    "redis client: URLs with credentials and port and database and refusals without the password",
    "[redis]") {
  SECTION("what is accepted") {
    const Endpoint plain = endpoint_of("redis://cache.internal");
    CHECK(plain.host == "cache.internal");
    CHECK(plain.port == 6379);
    CHECK(plain.database == 0);
    CHECK(plain.username.empty());
    CHECK(plain.password.empty());

    const Endpoint full = endpoint_of("redis://:s3cret@10.0.0.7:6380/3");
    CHECK(full.host == "10.0.0.7");
    CHECK(full.port == 6380);
    CHECK(full.database == 3);
    CHECK(full.username.empty());
    CHECK(full.password == "s3cret");
    CHECK(full.address() == "10.0.0.7:6380");

    const Endpoint user = endpoint_of("redis://alice:p%40ss%2Fword@redis.example/0");
    CHECK(user.username == "alice");
    CHECK(user.password == "p@ss/word");
    CHECK(user.host == "redis.example");

    // An unescaped '@' or '/' in the password: the host starts after the last '@'.
    const Endpoint raw = endpoint_of("redis://alice:p@ss/w@host:7000");
    CHECK(raw.password == "p@ss/w");
    CHECK(raw.host == "host");
    CHECK(raw.port == 7000);

    const Endpoint v6 = endpoint_of("REDIS://[::1]:7001/2");
    CHECK(v6.host == "::1");
    CHECK(v6.port == 7001);
    CHECK(v6.database == 2);
    CHECK(v6.address() == "[::1]:7001");
    CHECK(endpoint_of("redis://host:6379/").database == 0);
  }

  SECTION("what is refused and the message says why without the password") {
    const std::string password = "hunter2";
    const auto refusal = [&](const std::string& url) {
      auto parsed = parse_url(url);
      REQUIRE_FALSE(parsed.ok());
      INFO(url << " -> " << parsed.error());
      CHECK(parsed.error().find(password) == std::string::npos);
      return parsed.error();
    };
    const std::string tls = refusal("rediss://:hunter2@host:6380");
    CHECK(tls.find("TLS") != std::string::npos);
    CHECK(tls.find("not supported") != std::string::npos);
    CHECK(refusal("http://:hunter2@host").find("redis://") != std::string::npos);
    CHECK(refusal("redis://:hunter2@host:99999").find("port") != std::string::npos);
    CHECK(refusal("redis://:hunter2@host:0").find("port") != std::string::npos);
    CHECK(refusal("redis://:hunter2@host:").find("port") != std::string::npos);
    CHECK(refusal("redis://:hunter2@host/three").find("database") != std::string::npos);
    CHECK(refusal("redis://:hunter2@host/-1").find("database") != std::string::npos);
    CHECK(refusal("redis://hunter2@host").find("[user]:password") != std::string::npos);
    CHECK(refusal("redis://alice:@host").find("needs a password") != std::string::npos);
    CHECK(refusal("redis://:hunter2").find("no host") != std::string::npos);
    CHECK(refusal("redis://:hunter2@").find("no host") != std::string::npos);
    CHECK(refusal("redis://:hunter2@[::1:6379").find("]") != std::string::npos);
    CHECK(refusal("redis://:hunter2@[not-v6]:6379").find("IPv6") != std::string::npos);
    CHECK(refusal("redis://:hunter2@host/0?timeout=1").find("not supported") != std::string::npos);
    CHECK(refusal("redis://:hunter2@ho st").find("host") != std::string::npos);
    CHECK(refusal("redis://:hunter%2@host").find("%-escape") != std::string::npos);
  }

  SECTION("the database of the URL is SELECTed") {
    RedisServer server;
    net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    const std::string url = "redis://127.0.0.1:" + std::to_string(server.port()) + "/3";
    Client client(ioc.get_executor(), endpoint_of(url), 2s, "db3");
    REQUIRE(call(ioc, client, {"SET", "where", "in-db-3"}).answered());
    CHECK(server.command({"-n", "3", "GET", "where"}) == "in-db-3");
    CHECK(server.command({"-n", "0", "GET", "where"}).empty());

    const std::string out_of_range = "redis://127.0.0.1:" + std::to_string(server.port()) + "/99";
    Client refused(ioc.get_executor(), endpoint_of(out_of_range), 2s, "db99");
    const Outcome outcome = call(ioc, refused, {"PING"});
    CHECK(outcome.kind == Outcome::Kind::unavailable);
    CHECK(refused.last_error().find("SELECT failed") != std::string::npos);
    CHECK_FALSE(refused.connected());
  }
}

TEST_CASE("redis client: a timed-out call returns at once and its late reply goes to its handler",
          "[redis]") {
  RedisServer server;
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Client client(ioc.get_executor(), endpoint_of(server.url()), 50ms, "slow");
  REQUIRE(call(ioc, client, {"PING"}).answered());  // connected before the clock starts

  std::optional<Reply> late_busy;
  std::optional<Reply> late_echo;
  std::optional<Outcome> busy;
  std::optional<Outcome> echo;
  const auto start = Clock::now();
  start_command(ioc, client, {"EVAL", kBusyScript, "0"}, busy,
                [&](const Reply& reply) { late_busy = reply; });
  run_until(ioc, [&] { return busy.has_value(); });
  const auto waited = Clock::now() - start;
  CHECK(busy->kind == Outcome::Kind::timeout);
  CHECK(waited >= 50ms);
  CHECK(waited < 400ms);  // the script runs for 500 ms

  // Queued behind the script, this one times out too; each late reply finds its own handler.
  start_command(ioc, client, {"ECHO", "behind the script"}, echo,
                [&](const Reply& reply) { late_echo = reply; });
  run_until(ioc, [&] { return echo.has_value(); });
  CHECK(echo->kind == Outcome::Kind::timeout);
  CHECK_FALSE(late_busy.has_value());

  run_until(ioc, [&] { return late_busy.has_value() && late_echo.has_value(); });
  CHECK(late_busy->text == "late");
  CHECK(late_echo->text == "behind the script");

  const Outcome next = call(ioc, client, {"ECHO", "next"});
  INFO(describe(next));
  REQUIRE(next.answered());
  CHECK(next.reply.text == "next");
  CHECK(client.connected());
  CHECK(client.counters().timeouts == 2);
  CHECK(client.counters().unavailable == 0);
}

TEST_CASE("redis client: a killed server fails waiting calls and fails fast until it comes back",
          "[redis]") {
  RedisServer server;
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Client client(ioc.get_executor(), endpoint_of(server.url()), 2s, "restart");
  REQUIRE(call(ioc, client, {"PING"}).answered());

  std::optional<Outcome> blocked;
  bool late_called = false;
  start_command(ioc, client, {"BLPOP", "never-pushed", "0"}, blocked,
                [&](const Reply&) { late_called = true; });
  run_until(ioc, [&] { return client.counters().commands_sent == 2; });
  server.kill();

  run_until(ioc, [&] { return blocked.has_value(); });
  CHECK(blocked->kind == Outcome::Kind::unavailable);
  CHECK_FALSE(client.connected());
  CHECK_FALSE(client.last_error().empty());

  // In the backoff, a call fails at once instead of waiting its 2 s.
  const auto [during_backoff, waited] = timed_call(ioc, client, {"PING"});
  CHECK(during_backoff.kind == Outcome::Kind::unavailable);
  CHECK(waited < 100ms);

  server.start();
  const Outcome back = ping_until_answered(ioc, client);
  INFO(describe(back) << ", last error: " << client.last_error());
  REQUIRE(back.answered());
  CHECK(back.reply.text == "PONG");
  CHECK(client.connected());
  CHECK(client.counters().reconnects == 1);
  CHECK(client.counters().unavailable >= 2);
  CHECK_FALSE(late_called);
}

TEST_CASE("redis client: nothing listening answers unavailable within the timeout", "[redis]") {
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Endpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = switchyard::testing::pick_free_port();
  Client client(ioc.get_executor(), endpoint, 500ms, "nobody");

  const auto [first, waited] = timed_call(ioc, client, {"PING"});
  CHECK(first.kind == Outcome::Kind::unavailable);
  CHECK(waited < 500ms);
  CHECK(client.last_error().find("refused") != std::string::npos);
  const auto [again, waited_again] = timed_call(ioc, client, {"PING"});
  CHECK(again.kind == Outcome::Kind::unavailable);
  CHECK(waited_again < 100ms);
  CHECK_FALSE(client.connected());
  CHECK(client.counters().unavailable == 2);
  CHECK(client.counters().commands_sent == 0);
}

TEST_CASE("redis client: a server that accepts but never answers is given up", "[redis]") {
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  std::vector<net::ip::tcp::socket> accepted;
  std::function<void()> accept_next = [&] {
    acceptor.async_accept([&](const boost::system::error_code& ec, net::ip::tcp::socket socket) {
      if (ec) return;
      accepted.push_back(std::move(socket));  // held open, never read or answered
      accept_next();
    });
  };
  accept_next();
  Endpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = acceptor.local_endpoint().port();
  Client client(ioc.get_executor(), endpoint, 50ms, "silent");

  CHECK(call(ioc, client, {"PING"}).kind == Outcome::Kind::timeout);
  // Calls keep timing out until the oldest has waited 20 timeouts (at least 1 s); then the
  // connection is dropped and calls fail at once.
  std::optional<Outcome> given_up;
  const auto deadline = Clock::now() + kPatience;
  while (!given_up && Clock::now() < deadline) {
    Outcome outcome = call(ioc, client, {"PING"});
    if (outcome.kind == Outcome::Kind::unavailable) given_up = std::move(outcome);
  }
  REQUIRE(given_up.has_value());
  CHECK(client.last_error().find("no reply for") != std::string::npos);
  CHECK(client.counters().timeouts >= 2);
  client.close();
  acceptor.close();
}

TEST_CASE("redis client: AUTH with a password or a user or none or a wrong one", "[redis]") {
  RedisServer server;
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  REQUIRE(server.command({"CONFIG", "SET", "requirepass", "secret"}) == "OK");

  Client with_password(ioc.get_executor(), endpoint_of(url_with_credentials(server, ":secret")), 2s,
                       "password");
  const Outcome pong = call(ioc, with_password, {"PING"});
  INFO(describe(pong));
  REQUIRE(pong.answered());
  CHECK(pong.reply.text == "PONG");
  CHECK(with_password.connected());
  REQUIRE(call(ioc, with_password, {"ACL", "SETUSER", "alice", "on", ">wonder land", "~*", "+@all"})
              .answered());

  Client with_user(ioc.get_executor(),
                   endpoint_of(url_with_credentials(server, "alice:wonder%20land", 1)), 2s, "user");
  const Outcome whoami = call(ioc, with_user, {"ACL", "WHOAMI"});
  INFO(describe(whoami));
  CHECK(whoami.reply.text == "alice");

  // Without a password, Redis answers each command with an error; the client stays up.
  Client without(ioc.get_executor(), endpoint_of(server.url()), 2s, "anonymous");
  const Outcome refused = call(ioc, without, {"PING"});
  REQUIRE(refused.answered());
  CHECK(refused.reply.is_error());
  CHECK(refused.reply.text.rfind("NOAUTH", 0) == 0);

  // A wrong password fails the connection, and neither the outcome, the error nor the log
  // line holds it.
  std::string log;
  {
    StderrCapture capture;
    Client wrong(ioc.get_executor(), endpoint_of(url_with_credentials(server, ":not-the-secret")),
                 2s, "wrong");
    const Outcome outcome = call(ioc, wrong, {"PING"});
    CHECK(outcome.kind == Outcome::Kind::unavailable);
    CHECK_FALSE(wrong.connected());
    CHECK(wrong.last_error().find("AUTH failed") != std::string::npos);
    CHECK(wrong.last_error().find("not-the-secret") == std::string::npos);
    log = capture.text();
  }
  INFO(log);
  CHECK(log.find("switchyard: redis wrong: cannot connect: AUTH failed: WRONGPASS") !=
        std::string::npos);
  CHECK(log.find("not-the-secret") == std::string::npos);

  REQUIRE(call(ioc, with_password, {"CONFIG", "SET", "requirepass", ""}).answered());
  CHECK(call(ioc, without, {"PING"}).reply.text == "PONG");
}

TEST_CASE("redis client: close() and the destructor end waiting calls", "[redis]") {
  RedisServer server;

  SECTION("close() answers a waiting call unavailable and later ones too") {
    net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    Client client(ioc.get_executor(), endpoint_of(server.url()), 5s, "closing");
    std::optional<Outcome> blocked;
    start_command(ioc, client, {"BLPOP", "never-pushed", "0"}, blocked);
    run_until(ioc, [&] { return client.counters().commands_sent == 1; });
    const auto start = Clock::now();
    client.close();
    run_until(ioc, [&] { return blocked.has_value(); });
    CHECK(blocked->kind == Outcome::Kind::unavailable);
    CHECK(Clock::now() - start < 1s);
    CHECK(call(ioc, client, {"PING"}).kind == Outcome::Kind::unavailable);
    CHECK_FALSE(client.connected());
  }

  SECTION("a client destroyed while its io_context is stopped leaves nothing behind") {
    std::optional<Outcome> blocked;
    {
      net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
      auto client =
          std::make_unique<Client>(ioc.get_executor(), endpoint_of(server.url()), 5s, "stopping");
      start_command(ioc, *client, {"BLPOP", "never-pushed", "0"}, blocked);
      run_until(ioc, [&] { return client->counters().commands_sent == 1; });
      ioc.stop();
      client.reset();
    }  // the io_context goes with the suspended caller; ASan would report a leak
    CHECK_FALSE(blocked.has_value());
    CHECK(server.command({"PING"}) == "PONG");
  }
}
