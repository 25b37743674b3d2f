#include "proxy/access_log.hpp"

namespace switchyard::proxy {

AccessLog::AccessLog(const std::string& target, std::size_t producers,
                     metrics::ShardedValue& dropped, std::size_t ring_capacity)
    : dropped_(dropped) {
  if (target == "off") return;
  if (target == "stdout") {
    out_ = stdout;
  } else {
    out_ = std::fopen(target.c_str(), "a");
    if (out_ == nullptr) throw std::runtime_error("cannot open access log file " + target);
    owns_file_ = true;
  }
  for (std::size_t i = 0; i < producers; ++i)
    rings_.push_back(std::make_unique<Ring>(ring_capacity));
  writer_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() { close(); }

void AccessLog::push(std::size_t producer, std::string line) {
  if (out_ == nullptr) return;
  if (!rings_[producer]->try_push(std::move(line))) {
    dropped_.add(producer, 1);
    return;
  }
  pushed_.fetch_add(1, std::memory_order_release);
  pushed_.notify_one();
}

bool AccessLog::drain_once() {
  bool wrote = false;
  for (auto& ring : rings_) {
    const std::size_t n = ring->drain([this](std::string& line) {
      std::fwrite(line.data(), 1, line.size(), out_);
      std::fputc('\n', out_);
      std::string().swap(line);  // freed here, not by the worker that writes the slot next
    });
    wrote = wrote || n > 0;
  }
  if (wrote) std::fflush(out_);
  return wrote;
}

void AccessLog::run() {
  while (true) {
    // Read the counter before draining: a push that lands during the drain changes it, so
    // the wait below returns at once instead of missing that line.
    const std::uint64_t seen = pushed_.load(std::memory_order_acquire);
    const bool stopping = stopping_.load(std::memory_order_acquire);
    drain_once();
    if (stopping) break;
    pushed_.wait(seen, std::memory_order_acquire);  // until a producer or close() bumps it
  }
}

void AccessLog::close() {
  if (!writer_.joinable()) return;
  stopping_.store(true, std::memory_order_release);
  pushed_.fetch_add(1, std::memory_order_release);
  pushed_.notify_one();
  writer_.join();
  if (owns_file_) std::fclose(out_);
  out_ = nullptr;
}

}  // namespace switchyard::proxy
