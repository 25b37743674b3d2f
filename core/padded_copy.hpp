#pragma once
// simdjson reads up to SIMDJSON_PADDING bytes past the end of its input. JSON that arrives
// without that room (inside a read buffer, say) is copied into one growing buffer, kept per
// thread by the caller, rather than allocating per document.
// A parser or buffer kept per thread past this size is released after the document that grew
// it: large bodies are rare, and each worker would otherwise keep its largest for good.

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>

namespace switchyard::core {

constexpr std::size_t kKeepPerThreadBytes = 1u << 20;

// Releases a per-thread simdjson parser's buffers once a document grew them past
// kKeepPerThreadBytes. Declared before the document it guards, so it runs after the document
// is gone.
template <class Parser>
class ParserTrim {
 public:
  explicit ParserTrim(Parser& parser) : parser_(parser) {}
  ~ParserTrim() {
    if (parser_.capacity() > kKeepPerThreadBytes) parser_ = Parser{};
  }
  ParserTrim(const ParserTrim&) = delete;
  ParserTrim& operator=(const ParserTrim&) = delete;

 private:
  Parser& parser_;
};

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
  // Gives the buffer back once it has grown past `keep` bytes: one large document must not
  // pin its size for the rest of the thread's life (one such buffer per worker).
  void release_above(std::size_t keep) {
    if (capacity_ > keep) {
      data_.reset();
      capacity_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
};

}  // namespace switchyard::core
