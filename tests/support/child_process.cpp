#include "tests/support/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace switchyard::testing {

namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Resolved before fork(): between fork and exec only async-signal-safe calls are allowed, which
// rules out walking PATH with std::string.
std::string resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    const auto colon = dirs.find(':');
    std::string candidate(dirs.substr(0, colon));
    candidate += (candidate.empty() ? "./" : "/") + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return name;  // execve fails with ENOENT and start() reports it
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

struct ChildProcess::State {
  pid_t pid = -1;
  int pidfd = -1;      // lets wait_exit block with a timeout; -1 if the kernel lacks pidfd_open
  int output_fd = -1;  // read end of the child's stdout+stderr pipe
  int wake_pipe[2] = {-1, -1};  // written by the destructor to stop a reader stuck on a grandchild
  std::string name;
  std::thread reader;

  mutable std::mutex mutex;
  std::condition_variable changed;
  std::string output;
  bool output_closed = false;
  std::optional<int> exit_code;  // owner thread only
  std::size_t cursor = 0;        // where wait_for_output resumes

  void read_output() {
    std::string partial_line;  // echo to stderr a whole line at a time
    char buf[4096];
    for (;;) {
      pollfd fds[2] = {{output_fd, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents != 0) break;
      const ssize_t n = ::read(output_fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      {
        std::lock_guard lock(mutex);
        output.append(buf, static_cast<std::size_t>(n));
      }
      changed.notify_all();
      partial_line.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (auto nl = partial_line.find('\n'); nl != std::string::npos;
           nl = partial_line.find('\n', start)) {
        echo(std::string_view(partial_line).substr(start, nl - start));
        start = nl + 1;
      }
      partial_line.erase(0, start);
    }
    if (!partial_line.empty()) echo(partial_line);
    {
      std::lock_guard lock(mutex);
      output_closed = true;
    }
    changed.notify_all();
  }

  void echo(std::string_view line) const {
    std::string text = "[" + name + "] ";
    text += line;
    text += '\n';
    std::fwrite(text.data(), 1, text.size(), stderr);
  }

  // Reaps the child if it has exited; never blocks. Only the owning thread touches exit_code.
  bool poll_exit() {
    if (exit_code) return true;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) exit_code = decode_status(status);
    return exit_code.has_value();
  }

  // Finds the first complete line at or after `from` containing needle; returns it and moves
  // `from` past it. The last, unterminated line counts once the output is closed.
  std::string wait_line(std::string_view needle, std::size_t& from,
                        std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(mutex);
    std::size_t scan = from;  // lines before this are known not to match
    for (;;) {
      for (auto nl = output.find('\n', scan); nl != std::string::npos;
           nl = output.find('\n', scan)) {
        std::string_view line = std::string_view(output).substr(scan, nl - scan);
        scan = nl + 1;
        if (line.find(needle) != std::string_view::npos) {
          from = scan;
          if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
          return std::string(line);
        }
      }
      if (output_closed) {
        std::string_view rest = std::string_view(output).substr(scan);
        if (!rest.empty() && rest.find(needle) != std::string_view::npos) {
          from = output.size();
          return std::string(rest);
        }
        throw std::runtime_error(failure("closed its output", needle));
      }
      if (changed.wait_until(lock, deadline) == std::cv_status::timeout &&
          Clock::now() >= deadline) {
        throw std::runtime_error(
            failure("timed out after " + std::to_string(timeout.count()) + " ms", needle));
      }
    }
  }

  // Called with the mutex held.
  std::string failure(const std::string& what, std::string_view needle) {
    std::string status;
    if (poll_exit()) status = " (exit code " + std::to_string(*exit_code) + ")";
    return name + " (pid " + std::to_string(pid) + ") " + what + status +
           " before printing a line with '" + std::string(needle) + "'. Output so far:\n" + output;
  }
};

ChildProcess::ChildProcess(std::unique_ptr<State> state) : state_(std::move(state)) {}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept = default;

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { reset(); }

void ChildProcess::reset() noexcept {
  if (!state_) return;
  State& s = *state_;
  if (!s.poll_exit()) {
    ::kill(s.pid, SIGKILL);
    int status = 0;
    while (::waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  // The pipe normally closes with the child; a grandchild could keep it open, so give the reader
  // a moment to drain and then tell it to stop.
  {
    std::unique_lock lock(s.mutex);
    s.changed.wait_for(lock, std::chrono::seconds(2), [&] { return s.output_closed; });
  }
  if (!s.output_closed) {
    const char byte = 0;
    [[maybe_unused]] auto n = ::write(s.wake_pipe[1], &byte, 1);
  }
  if (s.reader.joinable()) s.reader.join();
  for (int fd : {s.output_fd, s.pidfd, s.wake_pipe[0], s.wake_pipe[1]}) {
    if (fd >= 0) ::close(fd);
  }
  state_.reset();
}

ChildProcess ChildProcess::start(std::vector<std::string> argv,
                                 const std::map<std::string, std::string>& extra_env,
                                 const std::string& working_dir) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess::start: empty argv");

  // Everything the child needs is built before fork().
  const std::string program = resolve_program(argv[0]);
  std::vector<char*> child_argv;
  child_argv.reserve(argv.size() + 1);
  for (auto& arg : argv) child_argv.push_back(arg.data());
  child_argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (extra_env.count(std::string(entry.substr(0, entry.find('=')))) == 0) {
      env_strings.emplace_back(entry);
    }
  }
  for (const auto& [key, value] : extra_env) env_strings.push_back(key + '=' + value);
  std::vector<char*> child_env;
  child_env.reserve(env_strings.size() + 1);
  for (auto& entry : env_strings) child_env.push_back(entry.data());
  child_env.push_back(nullptr);

  auto state = std::make_unique<State>();
  state->name = argv[0].substr(argv[0].rfind('/') + 1);

  int output_pipe[2];
  int exec_error_pipe[2];  // carries errno if execve fails; closes silently (CLOEXEC) if it works
  if (::pipe2(output_pipe, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  if (::pipe2(exec_error_pipe, O_CLOEXEC) != 0) {
    ::close(output_pipe[0]);
    ::close(output_pipe[1]);
    throw std::runtime_error(errno_text("pipe2"));
  }
  if (::pipe2(state->wake_pipe, O_CLOEXEC) != 0) {
    for (int fd : {output_pipe[0], output_pipe[1], exec_error_pipe[0], exec_error_pipe[1]}) {
      ::close(fd);
    }
    throw std::runtime_error(errno_text("pipe2"));
  }

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {output_pipe[0], output_pipe[1], exec_error_pipe[0], exec_error_pipe[1],
                   state->wake_pipe[0], state->wake_pipe[1]}) {
      ::close(fd);
    }
    throw std::runtime_error(errno_text("fork"));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(output_pipe[1], STDOUT_FILENO);
    ::dup2(output_pipe[1], STDERR_FILENO);
    if (working_dir.empty() || ::chdir(working_dir.c_str()) == 0)
      ::execve(program.c_str(), child_argv.data(), child_env.data());
    const int err = errno;
    [[maybe_unused]] auto n = ::write(exec_error_pipe[1], &err, sizeof err);
    ::_exit(127);
  }

  ::close(output_pipe[1]);
  ::close(exec_error_pipe[1]);
  int exec_errno = 0;
  ssize_t got;
  while ((got = ::read(exec_error_pipe[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  ::close(exec_error_pipe[0]);
  state->pid = pid;
  state->output_fd = output_pipe[0];
  if (got == sizeof exec_errno) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(output_pipe[0]);
    ::close(state->wake_pipe[0]);
    ::close(state->wake_pipe[1]);
    throw std::runtime_error("cannot execute " + program +
                             (working_dir.empty() ? "" : " in " + working_dir) + ": " +
                             std::strerror(exec_errno));
  }
  // Through syscall(): glibc 2.36's <sys/pidfd.h> lacks extern "C", so C++ cannot link to it.
  state->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  State* raw = state.get();
  state->reader = std::thread([raw] { raw->read_output(); });
  return ChildProcess(std::move(state));
}

std::string ChildProcess::wait_for_line(std::string_view needle,
                                        std::chrono::milliseconds timeout) {
  std::size_t from = 0;
  return state_->wait_line(needle, from, timeout);
}

std::string ChildProcess::wait_for_output(std::string_view needle,
                                          std::chrono::milliseconds timeout) {
  return state_->wait_line(needle, state_->cursor, timeout);
}

void ChildProcess::mark_output() {
  std::lock_guard lock(state_->mutex);
  state_->cursor = state_->output.size();
}

void ChildProcess::send_signal(int signal) {
  if (state_->poll_exit()) return;  // never signal a pid that may have been reused
  if (::kill(state_->pid, signal) != 0) throw std::runtime_error(errno_text("kill"));
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  State& s = *state_;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (s.poll_exit()) {
      // The pipe closes as the child exits; waiting for the reader to see that makes output()
      // complete. Bounded, in case a grandchild still holds the pipe.
      std::unique_lock lock(s.mutex);
      s.changed.wait_until(lock, std::max(deadline, Clock::now() + std::chrono::milliseconds(200)),
                           [&] { return s.output_closed; });
      return s.exit_code;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    if (s.pidfd >= 0) {
      // The pidfd becomes readable when the child exits.
      pollfd fd{s.pidfd, POLLIN, 0};
      ::poll(&fd, 1, static_cast<int>(left));
    } else {
      // No pidfd: the output pipe closing is the next best signal; re-check in short steps in
      // case a grandchild keeps it open.
      std::unique_lock lock(s.mutex);
      s.changed.wait_for(lock, std::chrono::milliseconds(std::min<long long>(left, 20)));
    }
  }
}

bool ChildProcess::running() { return !state_->poll_exit(); }

std::string ChildProcess::output() const {
  std::lock_guard lock(state_->mutex);
  return state_->output;
}

pid_t ChildProcess::pid() const { return state_->pid; }

std::uint16_t port_from_listening_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  const auto colon = line.rfind(':');
  const std::string_view digits =
      colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  unsigned long port = 0;
  bool ok = !digits.empty() && digits.size() <= 5;
  for (char c : digits) {
    ok = ok && c >= '0' && c <= '9';
    port = port * 10 + static_cast<unsigned long>(c - '0');
  }
  if (!ok || port == 0 || port > 65535) {
    throw std::runtime_error("no port at the end of line: " + std::string(line));
  }
  return static_cast<std::uint16_t>(port);
}

}  // namespace switchyard::testing
