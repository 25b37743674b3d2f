#include "proxy/sqlite_db.hpp"

#include <sqlite3.h>

namespace switchyard::proxy::sqlite {
namespace {

constexpr int kBusyTimeoutMs = 5000;

[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view doing) {
  std::string message = "sqlite: ";
  message.append(doing).append(": ").append(db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  throw StoreError(message, (rc & 0xff) == SQLITE_CONSTRAINT);
}

}  // namespace

Database::Database(const std::string& path) {
  const int rc =
      // NOMUTEX: the store serializes every use of a connection with its own mutex, so
      // SQLite's per-call locking was only cost (about 3k instructions a ledger row).
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string doing = "opening " + path;
    std::string message =
        "sqlite: " + doing + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close(db_);
    throw StoreError(message, false);
  }
  sqlite3_extended_result_codes(db_, 1);
  // Another connection (an operator's shell, a backup) may hold the lock for a moment: wait
  // for it instead of failing the write.
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
}

Database::~Database() { sqlite3_close(db_); }

void Database::exec(std::string_view sql) {
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw_error(db_, rc, text);
}

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

Statement::Statement(Database& db, std::string_view sql) : db_(db.handle()) {
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) throw_error(db_, rc, "preparing " + std::string(sql));
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_error(db_, rc, sqlite3_sql(stmt_));
}

void Statement::run() {
  while (step()) {
  }
  sqlite3_reset(stmt_);
}

void Statement::finish() { sqlite3_reset(stmt_); }

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

std::optional<std::int64_t> Statement::optional_integer(int column) const {
  if (is_null(column)) return std::nullopt;
  return integer(column);
}

std::string Statement::text(int column) const {
  const auto* chars = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (!chars) return {};
  return std::string(reinterpret_cast<const char*>(chars), static_cast<std::size_t>(size));
}

std::span<const std::uint8_t> Statement::blob(int column) const {
  const void* bytes = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (!bytes) return {};
  return {static_cast<const std::uint8_t*>(bytes), static_cast<std::size_t>(size)};
}

void Statement::reset() {
  // reset returns the last step's error, which step() has already thrown.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::check_bind(int rc) {
  if (rc != SQLITE_OK) throw_error(db_, rc, "binding a parameter");
}

void Statement::bind_one(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(stmt_, index, value));
}

void Statement::bind_one(int index, int value) {
  check_bind(sqlite3_bind_int(stmt_, index, value));
}

void Statement::bind_one(int index, std::string_view value) {
  // SQLite needs a non-null pointer for an empty text, or it binds NULL.
  check_bind(sqlite3_bind_text64(stmt_, index, value.empty() ? "" : value.data(), value.size(),
                                 SQLITE_TRANSIENT, SQLITE_UTF8));
}

void Statement::bind_one(int index, Borrowed value) {
  check_bind(sqlite3_bind_text64(stmt_, index, value.text.empty() ? "" : value.text.data(),
                                 value.text.size(), SQLITE_STATIC, SQLITE_UTF8));
}

void Statement::bind_one(int index, const std::string& value) {
  bind_one(index, std::string_view(value));
}

void Statement::bind_one(int index, const char* value) { bind_one(index, std::string_view(value)); }

void Statement::bind_one(int index, std::span<const std::uint8_t> value) {
  static constexpr std::uint8_t kEmpty = 0;
  check_bind(sqlite3_bind_blob64(stmt_, index, value.empty() ? &kEmpty : value.data(), value.size(),
                                 SQLITE_TRANSIENT));
}

void Statement::bind_one(int index, const std::optional<std::int64_t>& value) {
  if (value) return bind_one(index, *value);
  check_bind(sqlite3_bind_null(stmt_, index));
}

void Statement::bind_one(int index, const std::optional<std::string>& value) {
  if (value) return bind_one(index, *value);
  check_bind(sqlite3_bind_null(stmt_, index));
}

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace switchyard::proxy::sqlite
