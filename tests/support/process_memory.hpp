#pragma once

// Memory figures of a child process (the gateway under test), from /proc/<pid>/status, for
// tests that promise memory comes back after a burst or never grows with hostile input.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>

namespace switchyard::testing {

// VmRSS in bytes; nullopt when the process or the field is gone.
std::optional<std::size_t> rss_bytes(pid_t pid);
// VmHWM (the peak RSS since start, or since reset_peak_rss) in bytes.
std::optional<std::size_t> peak_rss_bytes(pid_t pid);
// Restarts VmHWM from the current RSS (writes 5 to /proc/<pid>/clear_refs), so a later
// peak_rss_bytes is the peak of what happened in between. False when the kernel refuses.
bool reset_peak_rss(pid_t pid);
// Polls VmRSS until it is at most `limit` or the deadline passes; returns the last figure.
// Freed memory goes back to the kernel a little after the answer is on the wire, so an
// assertion right after the response could see memory that is already on its way out.
std::size_t wait_rss_at_most(pid_t pid, std::size_t limit, std::chrono::milliseconds deadline);

// True when this test binary (and so the gateway of the same build) runs under
// AddressSanitizer: its quarantine keeps freed memory resident, so RSS says nothing there.
constexpr bool memory_figures_meaningful() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#else
  return true;
#endif
#else
  return true;
#endif
}

}  // namespace switchyard::testing
