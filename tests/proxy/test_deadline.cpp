// The per-worker deadline registry (proxy/deadline.hpp): a deadline fires once, only when its
// time has passed, and never after it was removed, whatever order deadlines come and go in.
#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <vector>

#include "proxy/deadline.hpp"

using switchyard::proxy::Clock;
using switchyard::proxy::Deadline;
using switchyard::proxy::DeadlineRegistry;
using namespace std::chrono_literals;

TEST_CASE("deadline registry: fires what has passed, once, and never a removed deadline",
          "[proxy][deadline]") {
  DeadlineRegistry registry;
  std::vector<int> fired;
  std::vector<std::unique_ptr<Deadline>> deadlines;
  for (int i = 0; i < 5; ++i)
    deadlines.push_back(std::make_unique<Deadline>(registry, [&fired, i] { fired.push_back(i); }));
  const Clock::time_point now = Clock::now();
  deadlines[0]->expires_after(-1s);  // passed
  deadlines[1]->expires_after(1h);   // not yet
  deadlines[2]->expires_after(-1s);  // passed, but removed below
  deadlines[3]->expires_after(-1s);  // passed
  // deadlines[4] never armed
  // Removed from the middle, then the newest (the list's head) is removed too.
  deadlines[2].reset();
  deadlines[4].reset();

  registry.sweep(now);
  std::sort(fired.begin(), fired.end());
  CHECK(fired == std::vector<int>{0, 3});
  CHECK(deadlines[0]->fired());
  CHECK_FALSE(deadlines[1]->fired());

  // Fired deadlines are disarmed: a second sweep fires nothing until they are armed again.
  fired.clear();
  registry.sweep(now + 1s);
  CHECK(fired.empty());
  deadlines[1]->expires_after(-1s);
  deadlines[0]->clear();
  registry.sweep(Clock::now());
  CHECK(fired == std::vector<int>{1});

  // The oldest removed, then one added: the list still holds exactly the live ones.
  deadlines[0].reset();
  deadlines.push_back(std::make_unique<Deadline>(registry, [&fired] { fired.push_back(5); }));
  deadlines[3]->expires_after(-1s);
  deadlines[5]->expires_after(-1s);
  fired.clear();
  registry.sweep(Clock::now());
  std::sort(fired.begin(), fired.end());
  CHECK(fired == std::vector<int>{3, 5});
}
