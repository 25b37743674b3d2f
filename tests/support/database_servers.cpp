#include "tests/support/database_servers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace switchyard::testing {

namespace {

using namespace std::chrono_literals;

constexpr int kPortAttempts = 5;
constexpr auto kStartTimeout = 30s;
constexpr auto kStopTimeout = 30s;

bool port_was_taken(const std::string& output) {
  return output.find("Address already in use") != std::string::npos;
}

// PostgreSQL refuses to run as root, and the tests run as root in CI: its programs then run as
// Debian's "postgres" user (made by the postgresql package), through setpriv, which execs them
// in place so the child is the server itself.
std::vector<std::string> as_postgres_user(std::vector<std::string> argv) {
  if (::geteuid() != 0) return argv;
  std::vector<std::string> wrapped = {"setpriv", "--reuid=postgres", "--regid=postgres",
                                      "--init-groups", "--"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

void give_to_postgres_user(const std::string& path) {
  if (::geteuid() != 0) return;
  const passwd* user = ::getpwnam("postgres");
  if (user == nullptr)
    throw std::runtime_error("no 'postgres' user: is the postgresql package installed?");
  if (::chown(path.c_str(), user->pw_uid, user->pw_gid) != 0)
    throw std::runtime_error("chown " + path + " to postgres failed");
}

// The newest PostgreSQL's server programs (Debian keeps them out of PATH).
std::string postgres_bin_dir() {
  std::string best;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    const auto bin = entry.path() / "bin";
    if (std::filesystem::exists(bin / "initdb") && bin.string() > best) best = bin.string();
  }
  if (best.empty()) throw std::runtime_error("no PostgreSQL server under /usr/lib/postgresql");
  return best;
}

std::string run_to_end(std::vector<std::string> argv, const char* what) {
  ChildProcess child = ChildProcess::start(std::move(argv));
  const auto code = child.wait_exit(kStartTimeout);
  std::string out = child.output();
  if (!code || *code != 0)
    throw std::runtime_error(std::string(what) + " failed (" +
                             (code ? "exit " + std::to_string(*code) : "timed out") + "): " + out);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

void stop_child(std::optional<ChildProcess>& process, int signal) {
  if (!process) return;
  if (process->running()) {
    process->send_signal(signal);
    if (!process->wait_exit(kStopTimeout))
      throw std::runtime_error("server did not stop within 30 s: " + process->output());
  }
  process.reset();
}

// Starts the server that `make_argv(port)` describes and waits until it prints `ready`; when
// the port was taken meanwhile (pick_free_port's race), tries again on a new one.
template <class MakeArgv>
ChildProcess start_server(std::uint16_t& port, bool new_port, const MakeArgv& make_argv,
                          std::string_view ready, const std::string& name) {
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    if (new_port || port == 0) port = pick_free_port();
    ChildProcess process = ChildProcess::start(make_argv(port));
    try {
      process.wait_for_line(ready, kStartTimeout);
      return process;
    } catch (const std::runtime_error&) {
      const std::string output = process.output();
      if (!port_was_taken(output)) throw std::runtime_error(name + " did not start: " + output);
      new_port = true;
    }
  }
  throw std::runtime_error(name + ": no free port after 5 attempts");
}

}  // namespace

std::uint16_t pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("could not find a free port on 127.0.0.1");
  return ntohs(address.sin_port);
}

// ---- Redis -------------------------------------------------------------------------------

RedisServer::RedisServer(Options options) : options_(options) { launch(true); }

RedisServer::~RedisServer() {
  if (process_) process_->send_signal(SIGKILL);  // the destructor reaps it
}

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

void RedisServer::launch(bool new_port) {
  const auto argv = [this](std::uint16_t port) {
    std::vector<std::string> argv = {
        "redis-server", "--bind",      "127.0.0.1", "--port", std::to_string(port),
        "--dir",        dir_.path,     "--save",    "",       "--protected-mode",
        "yes",          "--daemonize", "no"};
    if (options_.persistent) {
      argv.insert(argv.end(), {"--appendonly", "yes", "--appendfsync", "everysec"});
    } else {
      argv.insert(argv.end(), {"--appendonly", "no"});
    }
    return argv;
  };
  process_.emplace(
      start_server(port_, new_port, argv, "Ready to accept connections", "redis-server"));
}

void RedisServer::start() {
  if (process_ && process_->running()) return;
  process_.reset();
  launch(false);
}

void RedisServer::stop() { stop_child(process_, SIGTERM); }
void RedisServer::kill() { stop_child(process_, SIGKILL); }
bool RedisServer::running() { return process_ && process_->running(); }

std::string RedisServer::command(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_to_end(std::move(argv), "redis-cli");
}

// ---- PostgreSQL --------------------------------------------------------------------------

PostgresServer::PostgresServer() {
  give_to_postgres_user(dir_.path);
  run_to_end(as_postgres_user({postgres_bin_dir() + "/initdb", "-D", dir_.path + "/data", "-A",
                               "trust", "-U", "switchyard", "-E", "UTF8", "--no-sync"}),
             "initdb");
  launch(true);
}

PostgresServer::~PostgresServer() {
  if (process_) process_->send_signal(SIGKILL);
}

std::string PostgresServer::url(std::string_view database) const {
  return "postgresql://switchyard@127.0.0.1:" + std::to_string(port_) + "/" + std::string(database);
}

void PostgresServer::launch(bool new_port) {
  // Loopback only; the socket file in the test's directory, not /var/run/postgresql. fsync
  // off: a test's database need not survive the machine, only the server's restarts.
  const auto argv = [this](std::uint16_t port) {
    return as_postgres_user({postgres_bin_dir() + "/postgres", "-D", dir_.path + "/data", "-p",
                             std::to_string(port), "-k", dir_.path, "-c",
                             "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                             "max_connections=200"});
  };
  process_.emplace(start_server(port_, new_port, argv,
                                "database system is ready to accept connections", "postgres"));
}

void PostgresServer::start() {
  if (process_ && process_->running()) return;
  process_.reset();
  launch(false);
}

void PostgresServer::stop() { stop_child(process_, SIGINT); }
void PostgresServer::kill() { stop_child(process_, SIGKILL); }
bool PostgresServer::running() { return process_ && process_->running(); }

std::string PostgresServer::sql(std::string_view statements, std::string_view database) {
  return run_to_end({"psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url(database), "-c",
                     std::string(statements)},
                    "psql");
}

std::string PostgresServer::create_database(std::string_view prefix) {
  std::string name = std::string(prefix) + "_" + std::to_string(++databases_made_);
  sql("CREATE DATABASE " + name);
  return name;
}

}  // namespace switchyard::testing
