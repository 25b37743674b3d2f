// switchyard-mock-upstream: a fake LLM provider (OpenAI Chat and Responses, Azure, Anthropic,
// Gemini, embeddings); see bench/README.md.

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "bench/mock_upstream.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: switchyard-mock-upstream [--listen HOST:PORT] [--threads N] [--ttft-ms N]\n"
    "                                [--chunk-delay-ms N] [--chunks N]\n"
    "                                [--tls-cert FILE --tls-key FILE]\n"
    "                                [--tool-script off|auto] [--plan JSON]\n";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "switchyard-mock-upstream: %s\n%.*s", message.c_str(),
               static_cast<int>(kUsage.size()), kUsage.data());
  std::exit(2);
}

int parse_int(std::string_view flag, std::string_view text, int min, int max) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    usage_error(std::string(flag) + " wants an integer in [" + std::to_string(min) + ", " +
                std::to_string(max) + "], got '" + std::string(text) + "'");
  }
  return value;
}

switchyard::bench::MockUpstreamOptions parse_flags(int argc, char** argv) {
  switchyard::bench::MockUpstreamOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) usage_error("unknown flag or missing value: " + std::string(flag));
    const std::string_view value = argv[++i];
    if (flag == "--listen") {
      const auto colon = value.rfind(':');
      if (colon == std::string_view::npos) usage_error("--listen wants HOST:PORT");
      options.host = std::string(value.substr(0, colon));
      options.port = static_cast<std::uint16_t>(parse_int(flag, value.substr(colon + 1), 0, 65535));
    } else if (flag == "--threads") {
      options.threads = parse_int(flag, value, 1, 1024);
    } else if (flag == "--ttft-ms") {
      options.ttft_ms = parse_int(flag, value, 0, 3'600'000);
    } else if (flag == "--chunk-delay-ms") {
      options.chunk_delay_ms = parse_int(flag, value, 0, 3'600'000);
    } else if (flag == "--chunks") {
      options.chunks = parse_int(flag, value, 0, 1'000'000);
    } else if (flag == "--tls-cert") {
      options.tls_cert_file = std::string(value);
    } else if (flag == "--tool-script") {
      if (value != "auto" && value != "off") usage_error("--tool-script wants off or auto");
      options.tool_script_auto = value == "auto";
    } else if (flag == "--plan") {
      options.instance_plan = std::string(value);
    } else if (flag == "--tls-key") {
      options.tls_key_file = std::string(value);
    } else {
      usage_error("unknown flag: " + std::string(flag));
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_flags(argc, argv);
  // Benchmarks hold thousands of streams open at once; lift the soft descriptor limit.
  rlimit limit{};
  rlimit wanted{1 << 18, 1 << 18};
  if (setrlimit(RLIMIT_NOFILE, &wanted) != 0 && getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur =
        limit.rlim_max;  // unprivileged: the soft limit can still go up to the hard one
    setrlimit(RLIMIT_NOFILE, &limit);
  }

  // Blocked before any thread exists so every thread inherits the mask and sigwait() below is
  // the only place the signals are delivered.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    std::optional<switchyard::bench::MockUpstream> constructed;
    try {
      constructed.emplace(options);
    } catch (const std::invalid_argument& e) {
      usage_error(e.what());  // a --plan that is not a valid plan object
    }
    switchyard::bench::MockUpstream& mock = *constructed;
    mock.start();
    std::printf("mock upstream listening on %s%s:%u\n", mock.tls() ? "https://" : "",
                options.host.c_str(), static_cast<unsigned>(mock.port()));
    std::fflush(stdout);

    int received = 0;
    sigwait(&signals, &received);
    mock.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "switchyard-mock-upstream: %s\n", e.what());
    return 1;
  }
  return 0;
}
