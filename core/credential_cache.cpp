#include "core/credential_cache.hpp"

#include <algorithm>
#include <cstring>

namespace switchyard::core {
namespace {

std::uint64_t word_at(const char* p) {
  std::uint64_t w = 0;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// The last `n` (< 8) bytes at `p` as a word (a byte loop: memcpy of a variable size is a call).
std::uint64_t tail_word(const char* p, std::size_t n) {
  std::uint64_t w = 0;
  for (std::size_t i = 0; i < n; ++i)
    w |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return w;
}

// Constant time in the content for equal lengths: a near miss takes as long as a far one.
// Eight bytes a step (a byte a step had been most of a cached lookup).
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  std::uint64_t diff = 0;
  std::size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) diff |= word_at(a.data() + i) ^ word_at(b.data() + i);
  diff |= tail_word(a.data() + i, a.size() - i) ^ tail_word(b.data() + i, b.size() - i);
  return diff == 0;
}

}  // namespace

// A slot index and a first check, not a defence: whatever lands in a slot is still compared
// whole. Eight bytes a step, each mixed by a multiply.
std::uint64_t CredentialCache::hash_of(std::string_view credential) {
  constexpr std::uint64_t kMul = 0x9e3779b97f4a7c15ULL;
  std::uint64_t h = credential.size() * kMul;
  std::size_t i = 0;
  for (; i + 8 <= credential.size(); i += 8) {
    h = (h ^ word_at(credential.data() + i)) * kMul;
    h ^= h >> 29;
  }
  h = (h ^ tail_word(credential.data() + i, credential.size() - i)) * kMul;
  return h ^ (h >> 32);
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
