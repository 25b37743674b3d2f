// Fuzzes the stream relays (adapters::make_stream_relay for every client/upstream pair): the
// payload is an upstream's event stream, fed in random reads, then the body ends (on_end) or
// the upstream fails (on_error). This drives each codec's stream decoder and encoder. Checks:
//  - a translated stream is well formed whatever the upstream sent: every event's data is
//    JSON (or Chat's [DONE]), the stream does not stop inside an event, and its events come
//    in the order the client's protocol prescribes (stream_shape.hpp);
//  - a pass-through stream forwards the upstream's complete lines unchanged (unless the
//    gateway itself asked a Chat upstream for usage: then the usage-only chunk is dropped);
//  - what the client gets and the usage counted are the same however the stream is cut.
//
// Selector: bits 0-3 the pair (kPairs, modulo their count); bit 4 the Chat client asked for
// usage; bit 5 the decoded client request is given; bit 6 the upstream fails at the end
// instead of ending normally.
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/exchange.hpp"
#include "core/sse_decoder.hpp"
#include "tests/fuzz/fuzz_input.hpp"
#include "tests/fuzz/fuzz_json.hpp"
#include "tests/fuzz/fuzz_pairs.hpp"
#include "tests/fuzz/stream_shape.hpp"

using namespace switchyard;
namespace json = boost::json;

namespace {

struct Relayed {
  std::string out;
  std::optional<core::Usage> usage;
};

Relayed relay(const adapters::StreamContext& context, std::string_view stream,
              const std::vector<std::size_t>& cuts, bool upstream_fails) {
  Relayed r;
  const auto relay = adapters::make_stream_relay(context);
  fuzz::for_each_piece(stream, cuts, [&](std::string_view piece) {
    r.out.append(relay->on_data(piece));
    return true;
  });
  if (upstream_fails) {
    r.out.append(relay->on_error(core::upstream_timeout("The upstream provider stopped sending.")));
  } else {
    r.out.append(relay->on_end());
  }
  r.usage = relay->usage();
  return r;
}

bool same_usage(const std::optional<core::Usage>& a, const std::optional<core::Usage>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->prompt_tokens == b->prompt_tokens && a->completion_tokens == b->completion_tokens &&
         a->cached_prompt_tokens == b->cached_prompt_tokens &&
         a->cache_creation_tokens == b->cache_creation_tokens &&
         a->reasoning_tokens == b->reasoning_tokens;
}

// Encoders make up ids the upstream did not send (adapters' random_id: a prefix and 24
// letters or digits); two runs differ only in those.
std::string without_random_ids(std::string text) {
  for (std::string_view prefix : {"msg_", "toolu_", "call_", "chatcmpl-", "resp_", "rs_", "fc_"}) {
    for (std::size_t at = text.find(prefix); at != std::string::npos;
         at = text.find(prefix, at + 1)) {
      const std::size_t begin = at + prefix.size();
      std::size_t end = begin;
      while (end < text.size() && end - begin < 24 &&
             std::isalnum(static_cast<unsigned char>(text[end])))
        ++end;
      if (end - begin == 24)
        std::fill(text.begin() + static_cast<std::ptrdiff_t>(begin),
                  text.begin() + static_cast<std::ptrdiff_t>(end), '*');
    }
  }
  return text;
}

std::size_t common_prefix(std::string_view a, std::string_view b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

void check_shape(const adapters::StreamContext& context, std::string_view out) {
  const std::vector<fuzz::OutEvent> events = fuzz::read_events(out);
  switch (context.client) {
    case adapters::Protocol::anthropic_messages:
      fuzz::check_messages_stream(events);
      break;
    case adapters::Protocol::openai_responses:
      fuzz::check_responses_stream(events);
      break;
    case adapters::Protocol::openai_chat:
    case adapters::Protocol::gemini:
      fuzz::check_chat_stream(events, context.id);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input in = fuzz::read_input(data, size);
  const fuzz::Pair pair = fuzz::kPairs[(in.selector & 15) % fuzz::kPairCount];
  adapters::StreamContext context;
  context.client = pair.client;
  context.upstream = pair.upstream;
  context.client_wants_usage = (in.selector & 16) != 0;
  context.id = "answer-id";
  context.model = "client-model";
  context.created = 1760000000;
  if (in.selector & 32) context.request = fuzz::client_request();
  const bool upstream_fails = (in.selector & 64) != 0;

  const Relayed whole = relay(context, in.payload, {}, upstream_fails);
  const Relayed split = relay(context, in.payload,
                              fuzz::split_points(in.payload.size(), in.split_seed), upstream_fails);
  SWITCHYARD_FUZZ_CHECK(same_usage(whole.usage, split.usage));

  const bool passes_through = pair.client == pair.upstream;
  const bool drops_usage_chunk =
      pair.client == adapters::Protocol::openai_chat && !context.client_wants_usage;
  if (!passes_through) {
    check_shape(context, whole.out);
    SWITCHYARD_FUZZ_CHECK(without_random_ids(whole.out) == without_random_ids(split.out));
  } else if (!drops_usage_chunk) {
    // Every complete line the upstream sent reaches the client as sent; a partial last line
    // may be held back, and an in-band error (or the end of the stream) may follow.
    const std::size_t last_line_end = in.payload.find_last_of("\r\n") + 1;  // 0 when none
    SWITCHYARD_FUZZ_CHECK(common_prefix(whole.out, in.payload) >= last_line_end);
    SWITCHYARD_FUZZ_CHECK(whole.out == split.out);
  }
  return 0;
}
