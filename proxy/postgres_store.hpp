#pragma once
// The GovernanceStore that several gateway replicas share (issue 14): PostgreSQL, through a
// small pool of libpq connections. Every change to a team or key sends a NOTIFY on
// kAccountsChannel in its own transaction, so the other replicas hear of it
// (wait_for_change) and read the records again.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/store.hpp"

namespace switchyard::proxy {

inline constexpr std::string_view kAccountsChannel = "switchyard_accounts";

struct PostgresStoreOptions {
  std::string url;  // never logged whole: it may hold a password
  std::size_t pool = 4;
  std::chrono::seconds connect_timeout{5};
  // Called with one line for each migration applied, and other facts worth logging.
  std::function<void(const std::string&)> log;
};

// One numbered schema change, from proxy/migrations/postgres/NNNN_name.sql.
struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};
const std::vector<Migration>& postgres_migrations();  // by version, from 1 with no gap

// Connects, and brings the schema to this gateway's version under an advisory lock, so
// replicas starting together migrate once. Throws StoreError when the database cannot be
// reached or holds a newer schema than this gateway knows.
std::unique_ptr<GovernanceStore> open_postgres_store(const PostgresStoreOptions& options);

}  // namespace switchyard::proxy
