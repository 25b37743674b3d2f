// Fuzzes each codec's request decoder, adapters::decode_request for every client protocol
// (the body a client sends through its front door), and what the gateway does next with a
// request it accepted: fit_reasoning, encode_request for a provider of another protocol, and
// the count_tokens estimate. Checks: a refused body is a 4xx with a message; an encoded
// request is a JSON object (what goes upstream must always be JSON, whatever the client sent).
//
// Selector: bits 0-1 the client protocol (chat, responses, messages; 3 is chat); bits 2-3 the
// provider protocol to encode for (chat, messages, gemini; 3 none); bit 4 the model accepts
// reasoning settings.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "adapters/anthropic.hpp"
#include "adapters/exchange.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/fuzz_json.hpp"

using namespace switchyard::adapters;
namespace fuzz = switchyard::fuzz;
namespace json = boost::json;

namespace {

Protocol client_protocol(int bits) {
  switch (bits & 3) {
    case 1:
      return Protocol::openai_responses;
    case 2:
      return Protocol::anthropic_messages;
    default:
      return Protocol::openai_chat;
  }
}

const switchyard::core::ProviderConfig& provider_for(int bits) {
  static const auto make = [](const char* type) {
    switchyard::core::ProviderConfig p;
    p.name = type;
    p.type = type;
    p.base_url = "https://upstream.invalid";
    return p;
  };
  static const switchyard::core::ProviderConfig providers[] = {make("openai"), make("anthropic"),
                                                               make("gemini")};
  return providers[bits];
}

constexpr Protocol kUpstreams[] = {Protocol::openai_chat, Protocol::anthropic_messages,
                                   Protocol::gemini};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input in = fuzz::read_input(data, size);
  const Protocol client = client_protocol(in.selector);
  const int upstream_bits = (in.selector >> 2) & 3;
  const bool reasoning = (in.selector & 16) != 0;

  const fuzz::ExactCopy body(in.payload);
  auto decoded = decode_request(client, body.view());
  if (!decoded) {
    const auto& e = decoded.error();
    SWITCHYARD_FUZZ_CHECK(e.status >= 400 && e.status < 500);
    SWITCHYARD_FUZZ_CHECK(!e.message.empty());
    return 0;
  }
  Request request = std::move(decoded.value());
  (void)estimate_input_tokens(request);
  if (upstream_bits == 3) return 0;

  fit_reasoning(request, reasoning);
  const std::string encoded = encode_request(kUpstreams[upstream_bits], request, "upstream-model",
                                             provider_for(upstream_bits));
  json::error_code ec;
  const json::value v = fuzz::parse_json(encoded, ec);
  // The bad output is printed first: it says more about the bug than the input does.
  if (ec)
    std::fprintf(stderr, "encoded request is not JSON (%s):\n%s\n", ec.message().c_str(),
                 encoded.c_str());
  SWITCHYARD_FUZZ_CHECK(!ec);
  SWITCHYARD_FUZZ_CHECK(v.is_object());
  return 0;
}
