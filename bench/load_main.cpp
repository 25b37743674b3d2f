// switchyard-load: the benchmark load generator; see bench/README.md.

#include <signal.h>

#include <cstdio>
#include <exception>
#include <fstream>
#include <string>
#include <vector>

#include "bench/load_generator.hpp"

namespace sb = switchyard::bench;

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = sb::parse_load_args(args);
  const auto usage = sb::load_usage();
  if (parsed.help) {
    std::fwrite(usage.data(), 1, usage.size(), stdout);
    return 0;
  }
  if (!parsed.options) {
    std::fprintf(stderr, "switchyard-load: %s\n%.*s", parsed.error.c_str(),
                 static_cast<int>(usage.size()), usage.data());
    return 2;
  }
  const sb::LoadOptions& options = *parsed.options;

  // Asio sends with MSG_NOSIGNAL already; this covers anything else that writes to a socket
  // the server has closed.
  ::signal(SIGPIPE, SIG_IGN);
  // Thousands of connections need thousands of descriptors; the soft limit is often 1024.
  const auto fd_limit = sb::raise_fd_limit();
  const std::uint64_t wanted = static_cast<std::uint64_t>(options.connections) + 64;
  if (fd_limit != 0 && fd_limit < wanted && !options.quiet) {
    std::fprintf(stderr,
                 "switchyard-load: warning: open-file limit %llu is below the %llu descriptors "
                 "%d connections may need\n",
                 static_cast<unsigned long long>(fd_limit), static_cast<unsigned long long>(wanted),
                 options.connections);
  }

  sb::LoadResult result;
  try {
    result = sb::run_load(options);
  } catch (const sb::TargetUnreachable& e) {
    std::fprintf(stderr, "switchyard-load: target unreachable: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "switchyard-load: %s\n", e.what());
    return 1;
  }

  const std::string json = sb::result_json(result);
  if (options.output_file) {
    std::ofstream out(*options.output_file, std::ios::binary | std::ios::trunc);
    out << json;
    out.close();
    if (!out) {
      std::fprintf(stderr, "switchyard-load: cannot write %s\n", options.output_file->c_str());
      return 1;
    }
  } else {
    std::fwrite(json.data(), 1, json.size(), stdout);
    std::fflush(stdout);
  }
  if (!options.quiet) {
    const std::string line = sb::result_summary_line(result);
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  return 0;
}
