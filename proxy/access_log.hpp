#pragma once
// One JSON line per request, written by a background thread. Each worker thread owns a
// single-producer ring, so producing a line takes no lock; a full ring drops the line and
// counts it rather than making a request wait on the disk.
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "metrics/sharded.hpp"
#include "proxy/spsc_ring.hpp"

namespace switchyard::proxy {

class AccessLog {
 public:
  // `target`: "stdout", "off", or a file path (appended to). `producers`: one ring each.
  AccessLog(const std::string& target, std::size_t producers, metrics::ShardedValue& dropped,
            std::size_t ring_capacity = 8192);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return out_ != nullptr; }
  // Called only from the thread that owns ring `producer`.
  void push(std::size_t producer, std::string line);
  // Writes what is queued and stops the writer thread.
  void close();

 private:
  using Ring = SpscRing<std::string>;
  void run();
  bool drain_once();

  std::FILE* out_ = nullptr;
  bool owns_file_ = false;
  std::vector<std::unique_ptr<Ring>> rings_;
  metrics::ShardedValue& dropped_;
  std::atomic<std::uint64_t> pushed_{0};  // bumped per line; the writer waits on it
  std::atomic<bool> stopping_{false};
  std::thread writer_;
};

}  // namespace switchyard::proxy
