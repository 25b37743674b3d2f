#pragma once
// Config reload (SIGHUP, POST /admin/reload): reads and validates the config file again,
// builds a new route table off the request path and publishes it (route_table.hpp). New
// requests use it; requests and streams in flight finish on the table they started with.
// A config that does not validate is refused, its errors logged with file and line, and the
// running one keeps serving. Settings only a restart can change (core/config_reload.hpp)
// keep their running values, and the log names them.
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "proxy/config_file.hpp"
#include "proxy/net.hpp"
#include "proxy/runtime.hpp"

namespace switchyard::proxy {

struct ReloadResult {
  bool applied = false;
  std::string hash;                       // the new config's, when applied
  std::size_t models = 0;                 // models and routers it serves, when applied
  std::vector<std::string> errors;        // why it was refused ("file:line: message")
  std::vector<std::string> restart_only;  // settings that differ but wait for a restart
};

class Reloader {
 public:
  // `running`: the config the process started with (its restart-only settings are the ones
  // in force); `listen`: the --listen override, applied to every loaded config as at start.
  Reloader(Runtime& runtime, std::string path, core::Config running,
           std::optional<ListenAddress> listen);
  ~Reloader();
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // Reloads now, on the calling thread (one reload at a time). `cause` goes in the log; with
  // governance, the audit log gets a "config.reload" entry by `actor` (a key id, "master",
  // or "signal").
  ReloadResult reload(std::string_view cause, std::string_view actor);
  // The same on the reloader's own thread, for a worker that must not wait on the disk.
  net::awaitable<ReloadResult> reload_off_thread(std::string cause, std::string actor);

 private:
  ReloadResult reload_locked(std::string_view cause);
  net::awaitable<ReloadResult> reload_on_own_thread(std::string cause, std::string actor);
  void audit(const ReloadResult& result, std::string_view actor);

  Runtime& runtime_;
  const std::string path_;
  const core::Config running_;
  const std::optional<ListenAddress> listen_;
  std::mutex mutex_;
  net::thread_pool thread_{1};
};

}  // namespace switchyard::proxy
