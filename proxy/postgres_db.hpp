#pragma once
// A thin RAII layer over libpq for the PostgreSQL store: a connection, query results, a
// transaction that rolls back unless committed, and a small pool of connections for the
// threads that use the store (admin calls, the ledger writer, the account sync). Every failure
// is a StoreError with PostgreSQL's message and what was being done; a URL is never put in a
// message, since it may hold a password.
//
// Blocking calls, for background threads only: the request path never reaches this file.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/store.hpp"

struct pg_conn;
struct pg_result;

namespace switchyard::proxy::postgres {

struct ConnectOptions {
  std::string url;  // postgresql://user[:password]@host[:port]/database[?...], or key=value
  std::chrono::seconds connect_timeout{5};
  std::string application_name = "switchyard";
};

// postgresql://user@host:port/database without the password or the query, for log lines.
std::string redacted_url(std::string_view url);

// A parameter in text form; nullopt is SQL NULL.
using Param = std::optional<std::string_view>;

class Result {
 public:
  explicit Result(pg_result* result) : result_(result) {}
  ~Result();
  Result(Result&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  Result& operator=(Result&&) = delete;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  int rows() const;
  bool is_null(int row, int column) const;
  std::string_view text(int row, int column) const;
  std::int64_t integer(int row, int column) const;  // throws StoreError on a non-number
  std::optional<std::int64_t> optional_integer(int row, int column) const;
  bool boolean(int row, int column) const;
  std::vector<std::uint8_t> bytes(int row, int column) const;  // a bytea column

 private:
  pg_result* result_;
};

class Connection {
 public:
  explicit Connection(const ConnectOptions& options);  // throws StoreError
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One or more statements without parameters or rows.
  void exec(std::string_view sql);
  // One statement with $1, $2... parameters in text form.
  Result query(std::string_view sql, std::initializer_list<Param> params = {});
  Result query(std::string_view sql, const std::vector<Param>& params);
  // COPY ... FROM STDIN with `data` in COPY's text format, in one call.
  void copy_in(std::string_view copy_sql, std::string_view data);

  // False once the server went away: the pool drops such a connection.
  bool good() const;
  int socket() const;
  // Reads what the server sent and returns the channel payloads of the notifications
  // (LISTEN) that arrived; throws StoreError when the connection broke.
  std::vector<std::string> take_notifications();

 private:
  [[noreturn]] void fail(std::string_view doing, pg_result* result) const;
  Result run(std::string_view sql, int count, const char* const* values);

  pg_conn* conn_ = nullptr;
};

// Hex for a bytea parameter: "\x" and two digits a byte.
std::string bytea_param(std::span<const std::uint8_t> bytes);
// A bigint parameter's text.
std::string integer_param(std::int64_t value);

// Rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& connection);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& connection_;
  bool open_ = true;
};

// Up to `size` connections, made when first needed. `with` lends one to `use`; a connection
// that broke is dropped, and `use` runs once more on a new one when the failure was the
// connection's (the server restarted), not the statement's. The callers' statements are
// idempotent (upserts, a ledger batch with its own id), so running one again is safe.
class ConnectionPool {
 public:
  ConnectionPool(ConnectOptions options, std::size_t size);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  void with(const std::function<void(Connection&)>& use);
  const ConnectOptions& options() const { return options_; }

 private:
  std::unique_ptr<Connection> take();
  void give_back(std::unique_ptr<Connection> connection);

  const ConnectOptions options_;
  const std::size_t size_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t lent_ = 0;
};

}  // namespace switchyard::proxy::postgres
