// Fuzzes core::parse_response_head, which reads the head an upstream sends. Besides not
// crashing it must agree with itself as the head arrives: the relay parses what it has after
// every read, so a prefix of a complete head must be incomplete (never malformed), and the
// prefix that ends at head_bytes must parse to the same head.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/http_response_head.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using switchyard::core::HeadParse;
using switchyard::core::parse_response_head;
using switchyard::core::ResponseHeadResult;

namespace {

bool inside(std::string_view view, std::string_view whole) {
  return view.empty() ||
         (view.data() >= whole.data() && view.data() + view.size() <= whole.data() + whole.size());
}

bool same_head(const ResponseHeadResult& a, const ResponseHeadResult& b) {
  return a.state == b.state && a.head.status == b.head.status &&
         a.head.content_type == b.head.content_type && a.head.retry_after == b.head.retry_after &&
         a.head.content_length == b.head.content_length && a.head.chunked == b.head.chunked &&
         a.head.keep_alive == b.head.keep_alive && a.head.has_body == b.head.has_body &&
         a.head.head_bytes == b.head.head_bytes;
}

// Parses a prefix from its own exact-size copy, so reading past the prefix is an ASan report.
ResponseHeadResult parse_prefix(std::string_view input, std::size_t length) {
  const switchyard::fuzz::ExactCopy copy(input.substr(0, length));
  ResponseHeadResult r = parse_response_head(copy.view());
  SWITCHYARD_FUZZ_CHECK(inside(r.head.content_type, copy.view()));
  SWITCHYARD_FUZZ_CHECK(inside(r.head.retry_after, copy.view()));
  // The views die with the copy; the comparisons below only need their contents.
  r.head.content_type = {};
  r.head.retry_after = {};
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const ResponseHeadResult whole = parse_response_head(input);
  SWITCHYARD_FUZZ_CHECK(inside(whole.head.content_type, input));
  SWITCHYARD_FUZZ_CHECK(inside(whole.head.retry_after, input));
  if (whole.state == HeadParse::malformed) {
    SWITCHYARD_FUZZ_CHECK(whole.error != nullptr && *whole.error != '\0');
    return 0;
  }
  if (whole.state == HeadParse::incomplete) return 0;

  const auto& h = whole.head;
  SWITCHYARD_FUZZ_CHECK(h.head_bytes > 0 && h.head_bytes <= size);
  SWITCHYARD_FUZZ_CHECK(h.status >= 100 && h.status <= 999);
  SWITCHYARD_FUZZ_CHECK(!(h.chunked && h.content_length));
  SWITCHYARD_FUZZ_CHECK(inside(h.content_type, input.substr(0, h.head_bytes)));

  // The head is all the parser may look at: what follows it cannot change the answer.
  {
    const switchyard::fuzz::ExactCopy copy(input.substr(0, h.head_bytes));
    SWITCHYARD_FUZZ_CHECK(same_head(parse_response_head(copy.view()), whole));
  }

  // Every shorter prefix is still waiting for bytes. All of them for short heads; for long
  // ones a spread of cuts, so one input stays cheap.
  const std::size_t n = h.head_bytes;
  const std::size_t step = n <= 512 ? 1 : n / 128;
  for (std::size_t cut = 0; cut < n; cut += step) {
    SWITCHYARD_FUZZ_CHECK(parse_prefix(input, cut).state == HeadParse::incomplete);
  }
  SWITCHYARD_FUZZ_CHECK(parse_prefix(input, n - 1).state == HeadParse::incomplete);
  return 0;
}
