#pragma once
// A worker's memory of the keys it has recently authenticated, in front of SHA-256 (about as
// costly as the rest of a request's governance together). Pure and single-threaded: each
// worker owns one, and clears it whenever its key table changes, so a blocked, rotated or
// deleted key is never served from it.
//
// It keeps credentials as the clients sent them, in this process's memory only (the store
// keeps hashes): at most kSlots of them per worker, replaced as others arrive. Only keys that
// were found are kept; an unknown credential always pays the hash. A hit is matched by its
// 64-bit hash and then compared in constant time.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/account_table.hpp"

namespace switchyard::core {

class CredentialCache {
 public:
  static constexpr std::size_t kSlots = 64;

  // The key `credential` authenticated as when it was remembered; null when not remembered.
  const std::shared_ptr<const KeyEntry>* find(std::string_view credential) const;
  void remember(std::string_view credential, std::shared_ptr<const KeyEntry> key);
  void clear();

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::string credential;
    std::shared_ptr<const KeyEntry> key;  // null: empty slot
  };
  static std::uint64_t hash_of(std::string_view credential);
  std::array<Slot, kSlots> slots_{};
};

}  // namespace switchyard::core
