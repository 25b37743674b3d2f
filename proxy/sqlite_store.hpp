#pragma once
// The GovernanceStore of a single gateway process: one SQLite file in WAL mode.
#include <memory>
#include <string>

#include "proxy/store.hpp"

namespace switchyard::proxy {

// Opens the store at `path`, creating the file and its tables when missing. Throws StoreError
// when the file cannot be opened, cannot use WAL, or was written by a newer schema.
std::unique_ptr<GovernanceStore> open_sqlite_store(const std::string& path);

}  // namespace switchyard::proxy
