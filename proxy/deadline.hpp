#pragma once
// Timeouts without a timer per operation. Beast's tcp_stream arms and cancels a timer for
// every read and write, which costs a timerfd_settime syscall each time the earliest timer
// changes (about two per proxied request). Here an I/O object only stores the time its
// current operation must end by; one sweeper per worker wakes every 100 ms and cancels the
// objects whose time has passed. A timeout therefore fires at most 100 ms late, never early.
#include <chrono>
#include <functional>

#include "proxy/net.hpp"

namespace switchyard::proxy {

class DeadlineRegistry;

class Deadline {
 public:
  // `on_expire` cancels the object's pending operations; it runs on the worker's thread.
  Deadline(DeadlineRegistry& registry, std::function<void()> on_expire);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // Call before an operation starts...
  void expires_after(Clock::duration d) {
    at_ = Clock::now() + d;
    fired_ = false;
  }
  // ...and after it ends, so time spent between operations (waiting on the upstream, say)
  // never counts against this object.
  void clear() { at_ = Clock::time_point::max(); }

  // An operation that failed because the deadline fired reports a timeout.
  beast::error_code translate(beast::error_code ec) const {
    return ec && fired_ ? beast::error_code(beast::error::timeout) : ec;
  }
  bool fired() const { return fired_; }

 private:
  friend class DeadlineRegistry;
  DeadlineRegistry& registry_;
  std::function<void()> on_expire_;
  Clock::time_point at_ = Clock::time_point::max();
  bool fired_ = false;
  // The registry's list runs through its deadlines: adding and removing one (once per
  // request for the client watch) allocates nothing.
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
};

class DeadlineRegistry {
 public:
  static constexpr auto kSweepInterval = std::chrono::milliseconds(100);

  void add(Deadline* d) {
    d->prev_ = nullptr;
    d->next_ = head_;
    if (head_) head_->prev_ = d;
    head_ = d;
  }
  void remove(Deadline* d) {
    (d->prev_ ? d->prev_->next_ : head_) = d->next_;
    if (d->next_) d->next_->prev_ = d->prev_;
    d->prev_ = d->next_ = nullptr;
  }
  // Fires every deadline that has passed. Cancellation completes operations later, through
  // the io_context, so nothing is added or removed while this runs.
  void sweep(Clock::time_point now) {
    for (Deadline* d = head_; d != nullptr; d = d->next_) {
      if (d->at_ <= now) {
        d->at_ = Clock::time_point::max();
        d->fired_ = true;
        d->on_expire_();
      }
    }
  }

 private:
  Deadline* head_ = nullptr;
};

inline Deadline::Deadline(DeadlineRegistry& registry, std::function<void()> on_expire)
    : registry_(registry), on_expire_(std::move(on_expire)) {
  registry_.add(this);
}
inline Deadline::~Deadline() { registry_.remove(this); }

}  // namespace switchyard::proxy
