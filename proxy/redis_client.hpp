#pragma once
// A pipelined Redis client for one worker's io_context. Budgets and rate limits shared by
// several replicas live in Redis, one script call per request on the request path, so a call
// must never wait long: every command goes down one connection in call order without waiting
// for the replies before it, replies are matched to callers first in, first out, a caller
// waits at most the client's timeout, and a Redis that is gone fails calls at once.
// Single-threaded like the rest of a worker: a Client belongs to one io_context run by one
// thread, and nothing here takes a lock. hiredis parses the replies; the sockets are Asio's.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace switchyard::proxy::redis {

struct Endpoint {
  std::string host;  // a name or an IP address (IPv6 without its brackets)
  std::uint16_t port = 6379;
  int database = 0;      // SELECTed after connecting when not 0
  std::string username;  // empty: the default user
  std::string password;  // empty: no AUTH

  // "host:port", or "[v6]:port": what log lines name.
  std::string address() const;
};

// redis://[[user]:password@]host[:port][/db], with %-escapes in the user and password. A
// refusal says what is wrong without quoting any of the URL, so it never holds the password.
core::Result<Endpoint, std::string> parse_url(std::string_view url);

// A reply as plain values, converted from hiredis's.
struct Reply {
  enum class Type : std::uint8_t { string, status, error, integer, nil, array };
  Type type = Type::nil;
  std::string text;             // string, status and error replies
  long long integer = 0;        // integer replies
  std::vector<Reply> elements;  // array replies

  bool is_error() const { return type == Type::error; }
};

struct Outcome {
  enum class Kind : std::uint8_t {
    reply,        // Redis answered; the reply may be an error reply
    timeout,      // no reply within the timeout: the command was sent and may still run
    unavailable,  // no connection, or it was lost before the reply: the result is unknown
  };
  Kind kind = Kind::unavailable;
  Reply reply;  // when kind is reply

  bool answered() const { return kind == Kind::reply; }
};
std::string_view to_string(Outcome::Kind kind);

// Receives, on the client's io_context, the reply to a command whose caller was already told
// `timeout` (say, to release what a script reserved). Not called when the connection is lost
// before that reply: then nobody knows whether the command ran.
using LateReplyHandler = std::function<void(const Reply&)>;

struct ClientCounters {
  std::uint64_t commands_sent = 0;  // callers' commands written to a connection
  std::uint64_t timeouts = 0;       // calls answered `timeout`
  std::uint64_t unavailable = 0;    // calls answered `unavailable`
  std::uint64_t reconnects = 0;     // connections made after the first one
};

class Client {
 public:
  // Connects on the first command. `timeout` bounds each call, connecting included; `name`
  // says which client a log line is about. The executor's io_context must outlive the client.
  Client(boost::asio::any_io_executor executor, Endpoint endpoint,
         std::chrono::milliseconds timeout, std::string name);
  ~Client();  // close()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one command (its words, as redis-cli takes them). The words are copied out when the
  // call starts, so they need only live until the co_await begins:
  //   co_await client.command(std::array<std::string_view, 2>{"GET", key});
  // (GCC 12 cannot compile a braced list, an initializer_list, inside a co_await expression.)
  // Any number of coroutines may call this at once. While the connection is down and the
  // reconnect backoff (100 ms doubling to 2 s) has not passed, a call answers `unavailable`
  // at once.
  boost::asio::awaitable<Outcome> command(std::span<const std::string_view> args,
                                          LateReplyHandler on_late = {});

  // Connected, and AUTH and SELECT (when asked for) succeeded.
  bool connected() const;
  const ClientCounters& counters() const;
  // Why the last connection failed or ended ("" before any failure); never holds the password.
  const std::string& last_error() const;

  // Ends the connection for good: waiting calls answer `unavailable`, so do later ones.
  // Safe at any time, also while the io_context is stopping or stopped.
  void close();

 private:
  class Impl;
  // Shared with the connection's pending operations, which may complete after the client
  // is gone.
  std::shared_ptr<Impl> impl_;
};

}  // namespace switchyard::proxy::redis
