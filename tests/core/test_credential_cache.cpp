#include <catch2/catch.hpp>

#include "core/credential_cache.hpp"

using switchyard::core::CredentialCache;
using switchyard::core::KeyEntry;

namespace {

std::shared_ptr<const KeyEntry> entry(std::string id) {
  auto e = std::make_shared<KeyEntry>();
  e->record.id = std::move(id);
  return e;
}

}  // namespace

TEST_CASE("credential cache: a remembered credential finds its key, nothing else does") {
  CredentialCache cache;
  CHECK(cache.find("sk-sy-aaaa") == nullptr);
  cache.remember("sk-sy-aaaa", entry("key_a"));
  const auto* hit = cache.find("sk-sy-aaaa");
  REQUIRE(hit != nullptr);
  CHECK((*hit)->record.id == "key_a");
  // A near miss (same length, one byte off) and a prefix are not the key.
  CHECK(cache.find("sk-sy-aaab") == nullptr);
  CHECK(cache.find("sk-sy-aaa") == nullptr);
  CHECK(cache.find("") == nullptr);
}

TEST_CASE("credential cache: clearing forgets every credential (a table change)") {
  CredentialCache cache;
  for (int i = 0; i < 10; ++i)
    cache.remember("sk-sy-" + std::to_string(i), entry("key_" + std::to_string(i)));
  cache.clear();
  for (int i = 0; i < 10; ++i) CHECK(cache.find("sk-sy-" + std::to_string(i)) == nullptr);
}

TEST_CASE("credential cache: bounded; many credentials replace each other, never mix up") {
  CredentialCache cache;
  constexpr int kMany = 1000;
  for (int i = 0; i < kMany; ++i)
    cache.remember("sk-sy-" + std::to_string(i), entry("key_" + std::to_string(i)));
  int found = 0;
  for (int i = 0; i < kMany; ++i) {
    const auto* hit = cache.find("sk-sy-" + std::to_string(i));
    if (!hit) continue;
    ++found;
    CHECK((*hit)->record.id == "key_" + std::to_string(i));
  }
  CHECK(found > 0);
  CHECK(found <= static_cast<int>(CredentialCache::kSlots));
}
