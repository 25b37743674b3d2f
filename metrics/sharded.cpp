#include "metrics/sharded.hpp"

#include <algorithm>
#include <limits>

namespace switchyard::metrics {

ShardedHistogram::ShardedHistogram(std::vector<double> upper_bounds, std::size_t shards)
    : bounds_(std::move(upper_bounds)), shards_(shards) {
  std::sort(bounds_.begin(), bounds_.end());
  for (auto& s : shards_) {
    s.counts = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
  }
}

void ShardedHistogram::observe(std::size_t shard, double value) {
  Shard& s = shards_[shard];
  // Bucket i counts values <= bounds_[i]; the last slot is +Inf.
  const auto index = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  auto& count = s.counts[index];
  count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  s.sum.store(s.sum.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
}

prometheus::ClientMetric::Histogram ShardedHistogram::collect() const {
  std::vector<std::uint64_t> counts(bounds_.size() + 1, 0);
  double sum = 0;
  for (const auto& s : shards_) {
    for (std::size_t i = 0; i < counts.size(); ++i)
      counts[i] += s.counts[i].load(std::memory_order_relaxed);
    sum += s.sum.load(std::memory_order_relaxed);
  }
  prometheus::ClientMetric::Histogram h;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    prometheus::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
    h.bucket.push_back(b);
  }
  // The count is the +Inf bucket, so the exposition is always self-consistent.
  h.sample_count = cumulative;
  h.sample_sum = sum;
  return h;
}

}  // namespace switchyard::metrics
