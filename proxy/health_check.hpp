#pragma once
// Active health checks (providers[].health_check, off by default): every interval, a cheap
// GET (the provider's models list) from one worker; a failed check counts as a failure of
// every target on that provider, so a provider that is down cools down before real traffic
// finds out. A passing check changes nothing: traffic (its probe) brings a target back.
#include "proxy/net.hpp"

namespace switchyard::proxy {

struct Worker;
struct Runtime;

// Runs until the worker drains; spawn it on one worker when some provider has a check.
net::awaitable<void> run_health_checks(Worker& worker);

// Whether any provider of the config asks for health checks.
bool wants_health_checks(const Runtime& runtime);

}  // namespace switchyard::proxy
