#pragma once

// The real servers of the scale-out tests (issue 14), each started by the test itself on
// 127.0.0.1 with its files in a fresh temporary directory, and stopped with it: Debian's
// redis-server, and PostgreSQL's initdb and postgres. They can be stopped, killed and started
// again on the same port and files, for the fault tests.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace switchyard::testing {

// A free TCP port on 127.0.0.1 as the kernel picks one. Another process may take it before the
// caller binds it; the servers below retry with a new port when theirs was taken.
std::uint16_t pick_free_port();

class RedisServer {
 public:
  struct Options {
    // appendonly with fsync every second: what survives a restart (stop(), then start()).
    bool persistent = false;
  };
  RedisServer() : RedisServer(Options{}) {}
  explicit RedisServer(Options options);  // started; throws std::runtime_error when it cannot
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const;  // redis://127.0.0.1:<port>/0

  void start();  // again, on the same port and directory
  void stop();   // SIGTERM (saves, when persistent), then waits for the exit
  void kill();   // SIGKILL: nothing is saved past the last fsync
  bool running();
  // One command through redis-cli, its reply as redis-cli prints it (trailing newline removed).
  std::string command(const std::vector<std::string>& args);

 private:
  void launch(bool new_port);

  Options options_;
  TempDir dir_{"switchyard-redis"};
  std::uint16_t port_ = 0;
  std::optional<ChildProcess> process_;
};

class PostgresServer {
 public:
  PostgresServer();  // initdb (trust authentication, superuser "switchyard"), then started
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  std::uint16_t port() const { return port_; }
  // postgresql://switchyard@127.0.0.1:<port>/<database>
  std::string url(std::string_view database = "postgres") const;

  void start();  // again, on the same port and data directory
  void stop();   // fast shutdown (SIGINT), then waits for the exit
  void kill();   // SIGKILL of the postmaster: crash recovery at the next start
  bool running();
  // Runs SQL through psql against `database`; returns its output, unaligned and without
  // headers (psql -At), trailing newline removed. Throws std::runtime_error when psql fails.
  std::string sql(std::string_view statements, std::string_view database = "postgres");
  // A new, empty database (each test case takes its own).
  std::string create_database(std::string_view prefix);

 private:
  void launch(bool new_port);

  TempDir dir_{"switchyard-postgres"};
  std::uint16_t port_ = 0;
  int databases_made_ = 0;
  std::optional<ChildProcess> process_;
};

}  // namespace switchyard::testing
