#pragma once
// One worker thread: its own io_context, acceptor and upstream pool. A request never leaves
// the worker that accepted it, so nothing here needs a lock.
#include <optional>
#include <random>
#include <unordered_set>

#include "proxy/deadline.hpp"
#include "proxy/governance.hpp"
#include "proxy/net.hpp"
#include "proxy/runtime.hpp"
#include "proxy/upstream_pool.hpp"

namespace switchyard::proxy {

class HttpSession;

struct Worker {
  Worker(std::size_t index_, const Runtime& runtime_)
      : index(index_),
        runtime(runtime_),
        tables(*runtime_.tables),
        pool(ioc.get_executor(), deadlines) {}

  std::size_t index;
  // One thread runs it and nothing else touches its sockets, so the reactor's I/O locks can
  // go; posting from other threads (the drain) still goes through the scheduler's lock.
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  const Runtime& runtime;
  // The route tables this worker's requests read: a request pins the newest when it starts
  // and keeps it to its end, whatever a reload publishes meanwhile.
  WorkerRouteTables tables;
  DeadlineRegistry deadlines;  // declared before everything that registers in it
  UpstreamPool pool;
  std::optional<tcp::acceptor> acceptor;
  bool draining = false;
  std::unordered_set<HttpSession*> sessions;
  std::uint64_t request_counter = 0;
  // The key and team table this worker's requests read (governance): replaced between two
  // requests when the admin API changes something, never while one reads it.
  WorkerAccounts accounts;
  // Routing's random choices (weights, jitter, power of two choices): one per worker.
  core::Rng rng{std::random_device{}() ^
                (static_cast<std::uint64_t>(std::random_device{}()) << 32)};
};

}  // namespace switchyard::proxy
