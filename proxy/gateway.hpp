#pragma once
// The server: N worker threads, each accepting on its own SO_REUSEPORT socket, and the
// graceful drain that SIGTERM starts.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/runtime.hpp"

namespace switchyard::proxy {

struct Worker;

class Gateway {
 public:
  Gateway(const Runtime& runtime, std::size_t workers);
  ~Gateway();

  // Binds every worker's acceptor to host:port (port 0 picks one; all workers then share
  // it) and starts the threads. Returns the bound port. Throws on bind failure.
  std::uint16_t start(const std::string& host, std::uint16_t port);

  // Stops accepting and closes idle connections; requests and streams in flight go on.
  // Returns when no worker accepts any more. Call from a thread that is not a worker.
  void begin_drain();
  // Waits until every in-flight request is done or the deadline passes, then stops the
  // workers. Returns true when everything finished before the deadline.
  bool wait_drained(std::chrono::milliseconds deadline);

  std::size_t worker_count() const { return workers_.size(); }

 private:
  const Runtime& runtime_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable finished_cv_;
  std::size_t finished_ = 0;
};

}  // namespace switchyard::proxy
