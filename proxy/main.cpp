// switchyard: the gateway binary. Reads the config, starts the workers, drains on SIGTERM.
#include <malloc.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <iostream>
#include <optional>
#include <thread>

#include "core/admin_cli.hpp"
#include "core/config.hpp"
#include "proxy/admin_cli.hpp"
#include "proxy/config_file.hpp"
#include "proxy/gateway.hpp"
#include "proxy/governance.hpp"
#include "proxy/listener_tls.hpp"
#include "proxy/net.hpp"
#include "proxy/reloader.hpp"
#include "proxy/runtime.hpp"
#include "proxy/tracing.hpp"

namespace {

constexpr const char* kUsage =
    R"(Usage: switchyard --config FILE [--listen HOST:PORT] [--check]
       switchyard keys|teams|spend ...   (admin commands, below)
       switchyard --version | --help

An LLM gateway: one endpoint that speaks the OpenAI Chat Completions, OpenAI Responses and
Anthropic Messages protocols, in front of many model providers (OpenAI, Azure OpenAI,
Anthropic, Gemini, and OpenAI-compatible servers such as vLLM, Ollama and OpenRouter).

  --config FILE       YAML config (see deploy/switchyard.yaml)
  --listen HOST:PORT  override the config's listen address (port 0 picks a free port)
  --check             validate the config, print what is wrong, and exit (1 on errors)
  --version           print the version
  --help              print this help

SIGHUP reloads the config file: new requests use the new models, providers, prices and
routing; requests and streams in flight finish on the config they started with. A config
with errors is refused (the errors are logged with file and line) and the running one
keeps serving. Settings only a restart changes (listen, workers, access_log, governance,
state) are named in the log. With governance.master_key, POST /admin/reload does the same.

SIGTERM or SIGINT stops accepting, lets requests in flight finish up to the drain
deadline (drain_timeout_ms, default 30 s), then exits 0. A second signal exits at once
(status 1).

)";

// Each proxied stream holds two sockets; the usual soft limit of 1024 descriptors would cap
// the gateway near 500 concurrent streams. Raise it to what the system allows.
// Privileged processes may lift the hard limit too (10,000 streams need 20,000 sockets).
void raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  constexpr rlim_t kWanted = 1 << 18;
  if (limit.rlim_max < kWanted) {
    rlimit wanted{kWanted, kWanted};
    if (setrlimit(RLIMIT_NOFILE, &wanted) == 0) return;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int run(int argc, char** argv) {
  using namespace switchyard;
  // Blocks from 4 MiB up (large request bodies and their copies) are mapped for themselves
  // and unmapped when freed. Left to glibc's default, the threshold rises to the largest block
  // freed so far, after which such blocks come from the arenas and their memory stays with
  // the process: four 30 MB bodies kept 120 MB resident for good. Smaller blocks, the common
  // 1 MB body included, still come from the arenas as before.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  if (argc >= 2 && core::is_admin_command(argv[1])) {
    return proxy::run_admin_command(std::vector<std::string_view>(argv + 1, argv + argc));
  }
  std::string config_path;
  std::string listen_override;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage << core::admin_usage();
      return 0;
    } else if (arg == "--version") {
      std::cout << "switchyard " << SWITCHYARD_VERSION << "\n";
      return 0;
    } else if (arg == "--check") {
      check_only = true;
    } else if ((arg == "--config" || arg == "--listen") && i + 1 < argc) {
      (arg == "--config" ? config_path : listen_override) = argv[++i];
    } else {
      std::cerr << "switchyard: unknown or incomplete argument '" << arg << "'\n\n" << kUsage;
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << "switchyard: --config FILE is required\n\n" << kUsage;
    return 2;
  }

  auto loaded = proxy::load_config_file(config_path);
  if (!loaded) {
    for (const auto& e : loaded.error().errors) std::cerr << e << "\n";
    std::cerr << "switchyard: " << loaded.error().summary(config_path) << "\n";
    return 1;
  }
  core::Config config = std::move(loaded.value().config);
  for (const auto& notice : config.notices) std::cerr << "switchyard: " << notice << "\n";
  std::optional<proxy::ListenAddress> listen;
  if (!listen_override.empty()) {
    listen = proxy::parse_listen(listen_override);
    if (!listen) {
      std::cerr << "switchyard: --listen expects HOST:PORT, got '" << listen_override << "'\n";
      return 2;
    }
    config.server.listen_host = listen->host;
    config.server.listen_port = listen->port;
  }
  if (check_only) {
    try {
      if (config.server.tls) proxy::make_listener_tls_context(*config.server.tls);
    } catch (const std::exception& e) {
      std::cerr << "switchyard: " << e.what() << "\n";
      return 1;
    }
    std::cout << config_path << ": OK (" << config.providers.size() << " providers, "
              << config.models.size() << " models)\n";
    return 0;
  }

  raise_file_limit();
  const std::size_t workers = config.server.workers > 0
                                  ? static_cast<std::size_t>(config.server.workers)
                                  : std::max(1u, std::thread::hardware_concurrency());
  try {
    const std::string host = config.server.listen_host;
    const std::uint16_t port = config.server.listen_port;
    const auto drain = config.server.drain_timeout;
    if (!config.governance.authentication()) {
      std::cerr << "switchyard: client authentication is off (no governance.master_key): every "
                   "model request is let through without a key\n";
    }
    core::Config running = config;  // what a reload compares its restart-only settings with
    auto runtime = proxy::make_runtime(std::move(config), std::move(loaded.value().hash), workers);
    proxy::Reloader reloader(*runtime, config_path, std::move(running), listen);
    runtime->reloader = &reloader;
    proxy::Gateway gateway(*runtime, workers);

    proxy::net::io_context signals_ioc(1);
    proxy::net::signal_set signals(signals_ioc, SIGTERM, SIGINT);
    // SIGHUP reloads the config, on this thread: the workers never wait for it.
    proxy::net::signal_set hangups(signals_ioc, SIGHUP);
    std::function<void()> wait_for_hangup = [&] {
      hangups.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        reloader.reload("SIGHUP", "signal");
        wait_for_hangup();
      });
    };
    wait_for_hangup();
    const std::uint16_t bound = gateway.start(host, port);
    // The address goes last so scripts and tests can read the port off the end of the line.
    std::cout << "switchyard " << SWITCHYARD_VERSION << " (" << workers << " workers, "
              << runtime->tables->current()->routes.size() << " models) listening on "
              << (host.find(':') != std::string::npos ? "[" + host + "]" : host) << ":" << bound
              << std::endl;

    std::promise<void> drain_started;
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      gateway.begin_drain();
      std::cerr << "switchyard: draining (up to " << drain.count() << " ms)" << std::endl;
      drain_started.set_value();
      // A second signal means "now".
      signals.async_wait([&](const boost::system::error_code& ec2, int) {
        if (!ec2) {
          std::cerr << "switchyard: second signal, exiting now" << std::endl;
          std::_Exit(1);
        }
      });
    });
    std::thread signal_thread([&] { signals_ioc.run(); });
    drain_started.get_future().wait();
    if (!gateway.wait_drained(drain)) {
      std::cerr << "switchyard: drain deadline passed, closing the requests still in flight"
                << std::endl;
    }
    signals_ioc.stop();
    signal_thread.join();
    if (runtime->tracer) runtime->tracer->close();  // the last spans, within the export timeout
    runtime->access_log->close();
    if (runtime->governance) runtime->governance->close();  // the ledger's last commit
    std::cerr << "switchyard: stopped" << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "switchyard: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Whatever escapes (memory exhausted while the config loads, say) ends the process with
  // a line saying why and exit code 1, never std::terminate's abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fputs("switchyard: ", stderr);
    std::fputs(e.what(), stderr);
    std::fputs("\n", stderr);
  } catch (...) {
    std::fputs("switchyard: unexpected error\n", stderr);
  }
  return 1;
}
