// The single-producer, single-consumer ring behind the access log and the ledger queues: what
// is pushed comes out once, in order, and a full ring refuses without blocking or losing what
// it holds.
#include <catch2/catch.hpp>
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
