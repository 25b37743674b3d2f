#pragma once
// Metric cells sharded per worker thread. Each shard has exactly one writer (its worker), so
// an update is a relaxed load and store on a cache line no other thread writes: no lock, no
// compare-and-swap loop, no cache-line ping-pong. A scrape sums the shards; it may see an
// update or two in flight, which Prometheus tolerates by design.
#include <prometheus/client_metric.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace switchyard::metrics {

class ShardedValue {
 public:
  explicit ShardedValue(std::size_t shards) : cells_(shards) {}

  // Only the thread that owns `shard` may call this.
  void add(std::size_t shard, double delta) {
    auto& v = cells_[shard].value;
    v.store(v.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
  // For gauges refreshed at scrape time by one thread: the whole value in one cell.
  void set(double v) {
    for (auto& c : cells_) c.value.store(0, std::memory_order_relaxed);
    cells_[0].value.store(v, std::memory_order_relaxed);
  }
  double value() const {
    double total = 0;
    for (const auto& c : cells_) total += c.value.load(std::memory_order_relaxed);
    return total;
  }

 private:
  struct alignas(64) Cell {
    std::atomic<double> value{0};
  };
  std::vector<Cell> cells_;
};

class ShardedHistogram {
 public:
  ShardedHistogram(std::vector<double> upper_bounds, std::size_t shards);

  // Only the thread that owns `shard` may call this.
  void observe(std::size_t shard, double value);
  prometheus::ClientMetric::Histogram collect() const;

 private:
  struct alignas(64) Shard {
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts;  // one per bound, then +Inf
    std::atomic<double> sum{0};
  };
  std::vector<double> bounds_;
  std::vector<Shard> shards_;
};

}  // namespace switchyard::metrics
