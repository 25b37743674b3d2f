// The single-producer, single-consumer ring behind the access log and the ledger queues: what
// is pushed comes out once, in order, and a full ring refuses without blocking or losing what
// it holds.
#include <array>
#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "proxy/spsc_ring.hpp"

using switchyard::proxy::SpscRing;

TEST_CASE("ring: items come out in order, and a full ring refuses the next one") {
  SpscRing<std::string> ring(3);
  REQUIRE(ring.try_push(std::string("a")));
  REQUIRE(ring.try_fill([](std::string& slot) { slot.assign(1, 'b'); }));
  REQUIRE(ring.try_push(std::string("c")));
  CHECK(ring.size() == 3);
  std::string refused = "d";
  CHECK_FALSE(ring.try_push(std::move(refused)));
  CHECK(refused == "d");  // left as it was
  bool filled = false;
  CHECK_FALSE(ring.try_fill([&](std::string&) { filled = true; }));
  CHECK_FALSE(filled);

  std::vector<std::string> out;
  CHECK(ring.drain([&](std::string& s) { out.push_back(std::move(s)); }) == 3);
  CHECK(out == std::vector<std::string>{"a", "b", "c"});
  CHECK(ring.size() == 0);
  // A drained slot holds what `take` left of its item; `fill` sets it whole.
  REQUIRE(ring.try_fill([](std::string& slot) { slot.assign(1, 'e'); }));
  out.clear();
  ring.drain([&](std::string& s) { out.push_back(std::move(s)); });
  CHECK(out == std::vector<std::string>{"e"});
}

TEST_CASE("ring: a producer and a consumer thread pass 100,000 items, each once and in order") {
  constexpr int kItems = 100'000;
  SpscRing<int> ring(64);
  int dropped = 0;
  std::thread producer([&] {
    for (int i = 0; i < kItems; ++i) {
      // A full ring is retried here to see every item through; the gateway drops instead.
      while (!ring.try_fill([i](int& slot) { slot = i; })) {
        ++dropped;
        std::this_thread::yield();
      }
    }
  });
  std::vector<int> got;
  got.reserve(kItems);
  while (static_cast<int>(got.size()) < kItems) {
    if (ring.drain([&](int& v) { got.push_back(v); }) == 0) std::this_thread::yield();
  }
  producer.join();
  bool in_order = true;
  for (int i = 0; i < kItems; ++i) in_order = in_order && got[static_cast<std::size_t>(i)] == i;
  CHECK(in_order);
  CHECK(ring.size() == 0);
}

namespace {
// This process's resident memory, in bytes (/proc/self/statm's second field, in pages).
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t total_pages = 0, resident_pages = 0;
  statm >> total_pages >> resident_pages;
  return resident_pages * 4096;
}
}  // namespace

TEST_CASE("ring: a large ring costs memory only for the slots it has used") {
  // 100,000 slots of 4 KiB: 400 MB if built up front, as the ledger's 65,536 rows a worker
  // had made the gateway 67 MB resident at start-up.
  using Page = std::array<char, 4096>;
  const std::size_t before = resident_bytes();
  SpscRing<Page> ring(100'000);
  for (int i = 0; i < 100; ++i) REQUIRE(ring.try_fill([](Page& p) { p.fill('x'); }));
  const std::size_t after = resident_bytes();
  CHECK(after - std::min(after, before) < 16u * 1024 * 1024);
  std::size_t seen = 0;
  ring.drain([&](Page& p) { seen += p[0] == 'x' ? 1 : 0; });
  CHECK(seen == 100);
}
