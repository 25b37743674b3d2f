#include "proxy/postgres_db.hpp"

#include <libpq-fe.h>

#include <array>
#include <charconv>

namespace switchyard::proxy::postgres {
namespace {

constexpr std::string_view kUniqueViolation = "23505";

// libpq's messages end with a newline and may run over several lines ("\n\tIs the server
// running..."): one log line each.
std::string trimmed(const char* message) {
  std::string text;
  for (const char* c = message ? message : ""; *c; ++c) {
    if (*c == '\n' || *c == '\t') {
      if (!text.empty() && text.back() != ' ') text += ' ';
    } else {
      text += *c;
    }
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string redacted_url(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "(a key=value connection string)";
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('?'));
  std::string out(url.substr(0, scheme_end + 3));
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view user_info = rest.substr(0, at);
    out.append(user_info.substr(0, user_info.find(':'))).append("@");
    rest = rest.substr(at + 1);
  }
  return out.append(rest);
}

Result::~Result() {
  if (result_) PQclear(result_);
}

int Result::rows() const { return PQntuples(result_); }

bool Result::is_null(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

std::string_view Result::text(int row, int column) const {
  return {PQgetvalue(result_, row, column),
          static_cast<std::size_t>(PQgetlength(result_, row, column))};
}

std::int64_t Result::integer(int row, int column) const {
  const std::string_view t = text(row, column);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (ec != std::errc() || end != t.data() + t.size())
    throw StoreError("postgres: a column read as a number holds '" + std::string(t) + "'", false);
  return value;
}

std::optional<std::int64_t> Result::optional_integer(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return integer(row, column);
}

bool Result::boolean(int row, int column) const { return text(row, column) == "t"; }

std::vector<std::uint8_t> Result::bytes(int row, int column) const {
  // bytea in its text output form: "\x" and hex digits (bytea_output = hex, the default).
  const std::string_view t = text(row, column);
  if (!t.starts_with("\\x") || t.size() % 2 != 0)
    throw StoreError("postgres: a bytea column is not in hex form", false);
  std::vector<std::uint8_t> out;
  out.reserve((t.size() - 2) / 2);
  for (std::size_t i = 2; i < t.size(); i += 2) {
    const int high = hex_value(t[i]);
    const int low = hex_value(t[i + 1]);
    if (high < 0 || low < 0) throw StoreError("postgres: a bytea column is not in hex form", false);
    out.push_back(static_cast<std::uint8_t>(high * 16 + low));
  }
  return out;
}

Connection::Connection(const ConnectOptions& options) {
  const std::string timeout = std::to_string(options.connect_timeout.count());
  // expand_dbname: "dbname" may be a whole URL or key=value string. It comes last, so what
  // the operator's URL says wins over these defaults: a connect timeout, keepalives that notice
  // a server gone without a FIN, and no GSSAPI encryption attempt (a Kerberos round trip on
  // every connect where none is set up; a URL can ask for it with gssencmode).
  const std::array<const char*, 8> keywords{
      "connect_timeout",     "application_name", "keepalives", "keepalives_idle",
      "keepalives_interval", "gssencmode",       "dbname",     nullptr};
  const std::array<const char*, 8> values{timeout.c_str(),
                                          options.application_name.c_str(),
                                          "1",
                                          "10",
                                          "5",
                                          "disable",
                                          options.url.c_str(),
                                          nullptr};
  conn_ = PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/1);
  if (!conn_) throw StoreError("postgres: out of memory opening a connection", false);
  if (PQstatus(conn_) != CONNECTION_OK) {
    const std::string message = trimmed(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw StoreError("postgres: cannot connect to " + redacted_url(options.url) + ": " + message,
                     false);
  }
  // Notices (a table that exists already, at a migration) are not the log's business.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

bool Connection::good() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

int Connection::socket() const { return PQsocket(conn_); }

void Connection::fail(std::string_view doing, pg_result* result) const {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const bool conflict = state && std::string_view(state) == kUniqueViolation;
  // The primary message only: its DETAIL line can quote the row's values (a key's hash).
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = "postgres: ";
  message.append(doing).append(": ").append(trimmed(primary ? primary : PQerrorMessage(conn_)));
  if (result) PQclear(result);
  throw StoreError(message, conflict);
}

void Connection::exec(std::string_view sql) {
  const std::string text(sql);
  pg_result* result = PQexec(conn_, text.c_str());
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("a statement failed", result);
  PQclear(result);
}

Result Connection::run(std::string_view sql, int count, const char* const* values) {
  const std::string text(sql);
  pg_result* result =
      PQexecParams(conn_, text.c_str(), count, nullptr, values, nullptr, nullptr, /*text=*/0);
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("a query failed", result);
  return Result(result);
}

Result Connection::query(std::string_view sql, const std::vector<Param>& params) {
  // Each view is copied to own its terminating NUL, as libpq wants C strings.
  std::vector<std::string> owned;
  owned.reserve(params.size());
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params) {
    if (!p) {
      values.push_back(nullptr);
      continue;
    }
    owned.emplace_back(*p);
    values.push_back(owned.back().c_str());
  }
  return run(sql, static_cast<int>(values.size()), values.data());
}

Result Connection::query(std::string_view sql, std::initializer_list<Param> params) {
  return query(sql, std::vector<Param>(params));
}

void Connection::copy_in(std::string_view copy_sql, std::string_view data) {
  const std::string text(copy_sql);
  pg_result* start = PQexec(conn_, text.c_str());
  if (!start || PQresultStatus(start) != PGRES_COPY_IN) fail("COPY could not start", start);
  PQclear(start);
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1 ||
      PQputCopyEnd(conn_, nullptr) != 1)
    fail("COPY's data could not be sent", nullptr);
  pg_result* end = PQgetResult(conn_);
  const bool ok = end && PQresultStatus(end) == PGRES_COMMAND_OK;
  if (!ok) {
    // Read the rest, so the connection is ready for the next statement (or seen as broken).
    while (pg_result* more = PQgetResult(conn_)) PQclear(more);
    fail("COPY failed", end);
  }
  PQclear(end);
  while (pg_result* more = PQgetResult(conn_)) PQclear(more);
}

std::vector<std::string> Connection::take_notifications() {
  if (PQconsumeInput(conn_) != 1) fail("the listening connection broke", nullptr);
  std::vector<std::string> payloads;
  while (PGnotify* n = PQnotifies(conn_)) {
    payloads.emplace_back(n->extra ? n->extra : "");
    PQfreemem(n);
  }
  return payloads;
}

std::string bytea_param(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + 2 * bytes.size());
  for (const std::uint8_t b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string integer_param(std::int64_t value) { return std::to_string(value); }

Transaction::Transaction(Connection& connection) : connection_(connection) {
  connection_.exec("BEGIN");
}

Transaction::~Transaction() {
  if (!open_ || !connection_.good()) return;
  try {
    connection_.exec("ROLLBACK");
  } catch (const StoreError&) {
    // The connection is broken; the pool drops it, and the server rolled back already.
  }
}

void Transaction::commit() {
  connection_.exec("COMMIT");
  open_ = false;
}

ConnectionPool::ConnectionPool(ConnectOptions options, std::size_t size)
    : options_(std::move(options)), size_(std::max<std::size_t>(size, 1)) {}

ConnectionPool::~ConnectionPool() = default;

std::unique_ptr<Connection> ConnectionPool::take() {
  std::unique_lock lock(mutex_);
  returned_.wait(lock, [this] { return !idle_.empty() || lent_ < size_; });
  ++lent_;
  if (!idle_.empty()) {
    std::unique_ptr<Connection> c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  lock.unlock();
  try {
    return std::make_unique<Connection>(options_);
  } catch (...) {
    give_back(nullptr);
    throw;
  }
}

void ConnectionPool::give_back(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard lock(mutex_);
    --lent_;
    if (connection && connection->good()) idle_.push_back(std::move(connection));
  }
  returned_.notify_one();
}

void ConnectionPool::with(const std::function<void(Connection&)>& use) {
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> connection = take();
    try {
      use(*connection);
    } catch (const StoreError&) {
      const bool broken = !connection->good();
      give_back(std::move(connection));
      // An idle connection that the server dropped (it restarted) fails at its first use:
      // once more on a new one. A second failure is the server's answer.
      if (broken && attempt == 0) continue;
      throw;
    }
    give_back(std::move(connection));
    return;
  }
}

}  // namespace switchyard::proxy::postgres
