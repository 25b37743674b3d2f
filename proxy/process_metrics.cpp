#include "proxy/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace switchyard::proxy {
namespace {

// The fields of /proc/self/stat after the command name (which may hold spaces and
// parentheses, so the text is split after its last ')'). Field 3 of proc(5) is fields[0].
std::vector<std::string> stat_fields() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> fields;
  const auto close = text.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(text.substr(close + 1));
  for (std::string f; rest >> f;) fields.push_back(std::move(f));
  return fields;
}

double field(const std::vector<std::string>& fields, std::size_t proc5_number) {
  const std::size_t i = proc5_number - 3;
  return i < fields.size() ? std::stod(fields[i]) : 0;
}

// The boot time, as a Unix time, from /proc/stat's btime line.
double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("btime ", 0) == 0) return std::stod(line.substr(6));
  return 0;
}

double open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return n > 0 ? n - 1 : 0;  // the directory iterator's own descriptor is one of them
}

}  // namespace

void add_process_metrics(metrics::Metrics& metrics) {
  const metrics::ProcessMetrics& p = metrics.process();
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  // The start time does not change: field 22 is in clock ticks since boot.
  try {
    p.start_time_seconds->set(boot_time_seconds() + field(stat_fields(), 22) / ticks);
  } catch (const std::exception&) {  // an unreadable /proc: the gauge stays 0
  }
  // Runs on the worker serving /metrics, never on a request: a few small /proc reads.
  metrics.add_refresh([&p, ticks, page] {
    try {
      const auto fields = stat_fields();
      if (fields.empty()) return;
      p.cpu_seconds->set((field(fields, 14) + field(fields, 15)) / ticks);  // utime + stime
      p.virtual_memory_bytes->set(field(fields, 23));                       // vsize, bytes
      p.resident_memory_bytes->set(field(fields, 24) * page);               // rss, pages
    } catch (const std::exception&) {  // a malformed line: keep the last values
    }
    p.open_fds->set(open_fds());
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0)
      p.max_fds->set(static_cast<double>(limit.rlim_cur));
  });
}

}  // namespace switchyard::proxy
