#pragma once
// Active health checks (providers[].health_check, off by default): every interval, a cheap
// GET (the provider's models list) from one worker; a failed check counts as a failure of
// every target on that provider, so a provider that is down cools down before real traffic
// finds out. A passing check changes nothing: traffic (its probe) brings a target back.
#include "proxy/net.hpp"

namespace switchyard::proxy {

struct Worker;

// Runs until the worker drains, on one worker. It follows reloads: the providers of the
// newest table are checked (none at all while no provider asks for checks).
net::awaitable<void> run_health_checks(Worker& worker);

}  // namespace switchyard::proxy
