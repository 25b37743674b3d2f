#pragma once

// A program under test, run as a real child process: its stdout and stderr are captured (and
// echoed to the test's stderr, prefixed with the program name, for CI logs) so a test can wait
// for "listening on" before connecting, and look for log lines afterwards.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::testing {

class ChildProcess {
 public:
  // argv[0] is a path, or a name looked up in PATH. extra_env is added to (or overrides) the
  // test's environment; a non-empty working_dir is the child's working directory (for what a
  // config names by a relative path). Throws std::runtime_error when the program cannot be
  // started.
  // The child gets SIGKILL if the thread that started it dies (PR_SET_PDEATHSIG), so a crashed
  // test leaves no stray servers behind; start children from the test's main thread.
  static ChildProcess start(std::vector<std::string> argv,
                            const std::map<std::string, std::string>& extra_env = {},
                            const std::string& working_dir = {});

  ChildProcess(ChildProcess&&) noexcept;
  ChildProcess& operator=(ChildProcess&&) noexcept;
  ~ChildProcess();  // SIGKILLs and reaps the child if still running, then joins the reader

  // The first complete output line (searching from the very start) containing needle, without
  // its line ending. Throws std::runtime_error, with the output so far, on timeout or when the
  // process closes its output first.
  std::string wait_for_line(std::string_view needle, std::chrono::milliseconds timeout);

  // Like wait_for_line, but searches after the line the previous wait_for_output matched (or
  // after mark_output()), so repeated calls walk forward through the output.
  std::string wait_for_output(std::string_view needle, std::chrono::milliseconds timeout);
  // Moves the wait_for_output cursor to the end of the output captured so far, so the next
  // wait_for_output only sees what is printed from now on.
  void mark_output();

  void send_signal(int signal);
  // The exit code (128 + N when killed by signal N), or nullopt if still running at timeout.
  // Once it returns a code, output() holds everything the child printed.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();
  std::string output() const;  // everything captured so far, stdout and stderr interleaved
  pid_t pid() const;

 private:
  struct State;
  explicit ChildProcess(std::unique_ptr<State> state);
  void reset() noexcept;

  std::unique_ptr<State> state_;
};

// The port in a line such as "mock upstream listening on 127.0.0.1:40123": the digits after the
// last ':'. Throws std::runtime_error if there are none.
std::uint16_t port_from_listening_line(std::string_view line);

}  // namespace switchyard::testing
