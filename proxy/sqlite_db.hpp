#pragma once
// A thin RAII layer over SQLite's C API for the stores: a connection, prepared statements with
// typed binds, and a transaction that rolls back unless committed. Every failure is a
// StoreError carrying SQLite's message and what was being done.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "proxy/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace switchyard::proxy::sqlite {

class Database {
 public:
  // Opens read-write, creating the file when missing. One thread at a time may use the
  // connection and its statements: the caller serializes (SQLite's own mutexes are off).
  explicit Database(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements that return nothing.
  void exec(std::string_view sql);
  // The row id of this connection's last successful INSERT.
  std::int64_t last_insert_rowid() const;
  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

// Text the caller keeps alive and unchanged until the statement is next reset or bound: SQLite
// reads it in place instead of copying it (a ledger batch binds thousands of strings).
struct Borrowed {
  std::string_view text;
};

class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Resets the statement and binds the arguments to ?1, ?2, ... in order.
  template <class... Args>
  Statement& bind(const Args&... args) {
    reset();
    return bind_from(1, args...);
  }
  // Binds the arguments to ?first, ?first+1, ... without a reset.
  template <class... Args>
  Statement& bind_from(int first, const Args&... args) {
    (bind_one(first++, args), ...);
    return *this;
  }
  // True while a row is ready to be read.
  bool step();
  // Steps a write to its end and resets, so the statement holds no lock while kept. The binds
  // stay: bind() clears them before binding again.
  void run();
  // Resets a read before its last row, so the statement holds no lock while kept.
  void finish();

  bool is_null(int column) const;
  std::int64_t integer(int column) const;
  std::optional<std::int64_t> optional_integer(int column) const;
  std::string text(int column) const;
  std::span<const std::uint8_t> blob(int column) const;  // valid until the next step

 private:
  void reset();
  void bind_one(int index, std::int64_t value);
  void bind_one(int index, int value);
  void bind_one(int index, std::string_view value);
  void bind_one(int index, const std::string& value);
  void bind_one(int index, const char* value);
  void bind_one(int index, Borrowed value);
  void bind_one(int index, std::span<const std::uint8_t> value);
  void bind_one(int index, const std::optional<std::int64_t>& value);
  void bind_one(int index, const std::optional<std::string>& value);
  void check_bind(int rc);

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE: takes the write lock up front, so a batch never fails half-way on a lock.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();  // rolls back unless committed
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace switchyard::proxy::sqlite
