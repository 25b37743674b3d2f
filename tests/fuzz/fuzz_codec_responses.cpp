// Fuzzes what the gateway does with a whole (non-streamed) upstream answer: each codec's
// response decoder through adapters::translate_response for every client/upstream pair,
// adapters::upstream_error_response for an error status, and core's usage extraction
// (extract_openai_usage, is_openai_usage_only_chunk), which reads the same bodies. Checks:
// what the client gets is JSON whatever the upstream sent (a translated body, an error body),
// a pass-through body is the upstream's bytes unchanged, a refused answer is a 502.
//
// Selector: the pair (kPairs, modulo their count) and, in bit 7, whether the decoded client
// request is given. Param: the error status (a common one, or any when its top bit is set).
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/exchange.hpp"
#include "core/usage.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/fuzz_json.hpp"
#include "tests/fuzz/fuzz_pairs.hpp"

using namespace switchyard;
namespace json = boost::json;

namespace {

constexpr int kStatuses[] = {400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input in = fuzz::read_input(data, size);
  const fuzz::Pair pair = fuzz::kPairs[(in.selector & 0x7f) % fuzz::kPairCount];
  const bool with_request = (in.selector & 0x80) != 0;
  const int status = (in.param & 0x80000000u)
                         ? static_cast<int>(100 + in.param % 900)
                         : kStatuses[in.param % (sizeof kStatuses / sizeof kStatuses[0])];
  const fuzz::ExactCopy body(in.payload);

  {
    auto translated =
        adapters::translate_response(pair.client, pair.upstream, std::string(body.view()),
                                     with_request ? fuzz::client_request().get() : nullptr);
    if (!translated) {
      SWITCHYARD_FUZZ_CHECK(translated.error().status == 502);
      SWITCHYARD_FUZZ_CHECK(!translated.error().message.empty());
    } else if (pair.client == pair.upstream) {
      SWITCHYARD_FUZZ_CHECK(translated.value().body == body.view());
    } else {
      SWITCHYARD_FUZZ_CHECK(fuzz::is_json(translated.value().body));
    }
  }

  {
    const auto [client_status, error_body] =
        adapters::upstream_error_response(pair.client, pair.upstream, status, body.view());
    SWITCHYARD_FUZZ_CHECK(fuzz::is_json(error_body));
    (void)client_status;
  }

  (void)core::extract_openai_usage(body.view());
  (void)core::is_openai_usage_only_chunk(body.view());
  return 0;
}
