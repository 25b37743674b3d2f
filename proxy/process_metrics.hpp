#pragma once
// The standard process_* families (resident and virtual memory, CPU time, open and maximum
// file descriptors, start time), read from /proc at each scrape. metrics/ registers the
// gauges; the file reads live here because metrics/ does no I/O.
#include "metrics/metrics.hpp"

namespace switchyard::proxy {

// Adds a scrape-time refresh to `metrics` that fills its process() gauges. Linux only: where
// /proc cannot be read, the gauges keep their last value (0 before any).
void add_process_metrics(metrics::Metrics& metrics);

}  // namespace switchyard::proxy
