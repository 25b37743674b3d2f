#pragma once
// simdjson reads up to SIMDJSON_PADDING bytes past the end of its input. JSON that arrives
// without that room (inside a read buffer, say) is copied into one growing buffer, kept per
// thread by the caller, rather than allocating per document.
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>

namespace switchyard::core {

class PaddedCopy {
 public:
  // Copies `s` and zeroes the padding after it; the returned pointer is valid until the next
  // assign(). capacity() is what simdjson may read.
  const char* assign(std::string_view s) {
    const std::size_t needed = s.size() + simdjson::SIMDJSON_PADDING;
    if (capacity_ < needed) {
      const std::size_t grown = std::max(needed, capacity_ + capacity_ / 2);
      data_ = std::make_unique_for_overwrite<char[]>(grown);
      capacity_ = grown;
    }
    std::memcpy(data_.get(), s.data(), s.size());
    std::memset(data_.get() + s.size(), 0, simdjson::SIMDJSON_PADDING);
    return data_.get();
  }
  std::size_t capacity() const { return capacity_; }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
};

}  // namespace switchyard::core
