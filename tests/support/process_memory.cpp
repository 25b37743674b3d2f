#include "tests/support/process_memory.hpp"

#include <fstream>
#include <string>
#include <thread>

namespace switchyard::testing {

namespace {

std::optional<std::size_t> status_field_bytes(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      // "VmRSS:\t   12345 kB"
      return static_cast<std::size_t>(std::stoull(line.substr(field.size() + 1))) * 1024;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::size_t> rss_bytes(pid_t pid) { return status_field_bytes(pid, "VmRSS"); }

std::optional<std::size_t> peak_rss_bytes(pid_t pid) { return status_field_bytes(pid, "VmHWM"); }

bool reset_peak_rss(pid_t pid) {
  std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

std::size_t wait_rss_at_most(pid_t pid, std::size_t limit, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::size_t seen = 0;
  for (;;) {
    seen = rss_bytes(pid).value_or(0);
    if (seen <= limit || std::chrono::steady_clock::now() >= until) return seen;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval while waiting
  }
}

}  // namespace switchyard::testing
