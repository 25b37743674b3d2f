#include "core/credential_cache.hpp"

#include <algorithm>
#include <functional>

namespace switchyard::core {
namespace {

// Constant time in the content for equal lengths: a near miss takes as long as a far one.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

std::uint64_t CredentialCache::hash_of(std::string_view credential) {
  return std::hash<std::string_view>{}(credential);
}

const std::shared_ptr<const KeyEntry>* CredentialCache::find(std::string_view credential) const {
  const std::uint64_t h = hash_of(credential);
  const Slot& slot = slots_[h % kSlots];
  if (!slot.key || slot.hash != h || !same_secret(slot.credential, credential)) return nullptr;
  return &slot.key;
}

void CredentialCache::remember(std::string_view credential, std::shared_ptr<const KeyEntry> key) {
  const std::uint64_t h = hash_of(credential);
  Slot& slot = slots_[h % kSlots];
  slot.hash = h;
  slot.credential.assign(credential);
  slot.key = std::move(key);
}

void CredentialCache::clear() {
  for (Slot& slot : slots_) {
    slot.key.reset();
    // Overwrite, not just drop: a credential should not outlive the table that knew it.
    std::fill(slot.credential.begin(), slot.credential.end(), '\0');
    slot.credential.clear();
  }
}

}  // namespace switchyard::core
