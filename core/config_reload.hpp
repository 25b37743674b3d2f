#pragma once
// What a config reload (issue 13) can apply to a running gateway, and what only a restart
// can: the listening socket, the worker threads, the access log's file and the governance
// store are made once at start-up. Pure: both configs come loaded and validated.
#include <string>
#include <vector>

#include "core/config.hpp"

namespace switchyard::core {

// The settings that differ between the running config and the loaded one but keep their
// running values until a restart, by their names in the config file (e.g. "server.listen",
// "governance.database"), in the file's order. Empty when the whole of `loaded` can apply.
std::vector<std::string> restart_only_changes(const Config& running, const Config& loaded);

}  // namespace switchyard::core
