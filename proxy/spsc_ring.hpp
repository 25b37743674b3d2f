#pragma once
// A bounded single-producer, single-consumer queue: one per worker thread for what a
// background thread writes (access-log lines, ledger rows). Pushing takes no lock and never
// waits: a full ring refuses the item and the caller counts the drop.
#include <atomic>
#include <cstddef>
#include <utility>
#include <vector>

namespace switchyard::proxy {

template <class T>
class SpscRing {
 public:
  explicit SpscRing(std::size_t capacity) : slots_(capacity) {}

  // Producer thread only. False when the ring is full (the item is left as it was).
  bool try_push(T&& item) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_.load(std::memory_order_acquire) >= slots_.size()) return false;
    slots_[tail % slots_.size()] = std::move(item);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Producer thread only: `fill(T&)` writes the item straight into its slot, which saves
  // building it aside and moving it in. The slot holds what the consumer's `take` left of the
  // item before (moved from): `fill` must set every part of it. False when full, and then
  // `fill` is not called.
  template <class Fill>
  bool try_fill(Fill&& fill) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_.load(std::memory_order_acquire) >= slots_.size()) return false;
    fill(slots_[tail % slots_.size()]);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Consumer thread only: hands each queued item to `take`, oldest first, and frees the slots.
  // `take` should move the item out: what it leaves stays in the slot until the producer
  // writes over it (resetting each slot had cost a ledger row ~0.3k instructions). Returns
  // how many there were.
  template <class Take>
  std::size_t drain(Take&& take) {
    std::size_t head = head_.load(std::memory_order_relaxed);
    const std::size_t tail = tail_.load(std::memory_order_acquire);
    const std::size_t n = tail - head;
    for (; head != tail; ++head) {
      T& slot = slots_[head % slots_.size()];
      take(slot);
    }
    head_.store(head, std::memory_order_release);
    return n;
  }

  // Items queued now (either thread; a snapshot).
  std::size_t size() const {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
  }

 private:
  std::vector<T> slots_;
  alignas(64) std::atomic<std::size_t> head_{0};  // next slot the consumer reads
  alignas(64) std::atomic<std::size_t> tail_{0};  // next slot the producer fills
};

}  // namespace switchyard::proxy
