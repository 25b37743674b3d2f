// Fuzzes the request envelope parser every model request goes through first,
// core::parse_chat_request (one BodyShape per front door), and core::splice_chat_request on
// what it accepts. Checks: the spans it reports point at the tokens they name; a body it
// accepts is JSON Boost.JSON accepts too; and the spliced body is the same document with only
// the model replaced and, when forced, stream_options.include_usage set to true.
//
// Selector: bits 0-1 the BodyShape; bit 2 force include_usage; bits 3-4 which upstream model
// (some need escaping); bit 5 no padding after the body (the parser then copies it).
#include <simdjson.h>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "core/chat_request.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/fuzz_json.hpp"

using namespace switchyard::core;
namespace fuzz = switchyard::fuzz;
namespace json = boost::json;

namespace {

constexpr std::string_view kUpstreamModels[] = {
    "gpt-4o-mini",
    "",
    "needs \"escaping\" \\ and\ncontrol \x01 bytes",
    "m\xc3\xb6"
    "del-\xe6\xa8\xa1\xe5\x9e\x8b",
};

bool span_inside(const Span& span, std::size_t size) {
  return span.offset <= size && span.length <= size - span.offset;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input in = fuzz::read_input(data, size);
  const auto shape = static_cast<BodyShape>(in.selector & 3);
  const bool force_usage = (in.selector & 4) != 0;
  const std::string_view upstream_model = kUpstreamModels[(in.selector >> 3) & 3];
  const bool padded = (in.selector & 32) == 0;

  // The body in a block of exactly its size (plus the padding, when given), so that reading
  // past what simdjson may read is an ASan report.
  const std::size_t n = in.payload.size();
  const std::size_t padding = padded ? simdjson::SIMDJSON_PADDING : 0;
  std::unique_ptr<char[]> block(new char[n + padding + 1]);
  if (n > 0) std::memcpy(block.get(), in.payload.data(), n);
  std::memset(block.get() + n, 0, padding + 1);
  const std::string_view body(block.get(), n);

  auto parsed = parse_chat_request(body, padding, shape);
  if (!parsed) {
    SWITCHYARD_FUZZ_CHECK(!parsed.error().message.empty());
    return 0;
  }
  const ChatRequest& request = parsed.value();

  SWITCHYARD_FUZZ_CHECK(request.root_close < n && body[request.root_close] == '}');
  SWITCHYARD_FUZZ_CHECK(span_inside(request.model_value, n) && request.model_value.length >= 2);
  SWITCHYARD_FUZZ_CHECK(body[request.model_value.offset] == '"');
  SWITCHYARD_FUZZ_CHECK(body[request.model_value.offset + request.model_value.length - 1] == '"');
  if (request.include_usage_value) {
    SWITCHYARD_FUZZ_CHECK(span_inside(*request.include_usage_value, n));
    const std::string_view token =
        body.substr(request.include_usage_value->offset, request.include_usage_value->length);
    SWITCHYARD_FUZZ_CHECK(token == "true" || token == "false" || token == "null");
  }
  if (request.stream_options_open) {
    SWITCHYARD_FUZZ_CHECK(*request.stream_options_open >= 1 && *request.stream_options_open <= n);
    SWITCHYARD_FUZZ_CHECK(body[*request.stream_options_open - 1] == '{');
  }
  if (request.stream_options_null) {
    SWITCHYARD_FUZZ_CHECK(span_inside(*request.stream_options_null, n));
    SWITCHYARD_FUZZ_CHECK(body.substr(request.stream_options_null->offset,
                                      request.stream_options_null->length) == "null");
  }

  json::error_code ec;
  json::value original = fuzz::parse_json(body, ec);
  // A number whose exponent no double holds is valid JSON that Boost.JSON refuses.
  if (ec == json::error::exponent_overflow) return 0;
  SWITCHYARD_FUZZ_CHECK(!ec);  // simdjson validated the whole body: it is JSON
  SWITCHYARD_FUZZ_CHECK(original.is_object());
  SWITCHYARD_FUZZ_CHECK(original.as_object().at("model").as_string() == request.model);

  const std::string spliced = splice_chat_request(body, request, upstream_model, force_usage);
  json::value result = fuzz::parse_json(spliced, ec);
  SWITCHYARD_FUZZ_CHECK(!ec);
  json::object& expected = original.as_object();
  expected["model"] = upstream_model;
  if (force_usage) {
    json::value& options = expected["stream_options"];
    if (!options.is_object()) options = json::object();
    options.as_object()["include_usage"] = true;
  }
  SWITCHYARD_FUZZ_CHECK(fuzz::same_json(result, original));

  // The spliced body is what goes upstream; the gateway must read it as it reads the client's.
  std::string again(spliced);
  again.reserve(again.size() + simdjson::SIMDJSON_PADDING);
  auto reparsed = parse_chat_request(again, again.capacity() - again.size(), shape);
  SWITCHYARD_FUZZ_CHECK(reparsed.ok());
  SWITCHYARD_FUZZ_CHECK(reparsed.value().model == upstream_model);
  SWITCHYARD_FUZZ_CHECK(reparsed.value().stream == request.stream);
  if (force_usage) SWITCHYARD_FUZZ_CHECK(reparsed.value().include_usage);
  return 0;
}
