#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/sse_decoder.hpp"
#include "core/usage.hpp"

using switchyard::core::cost_usd;
using switchyard::core::extract_openai_usage;
using switchyard::core::is_openai_usage_only_chunk;
using switchyard::core::Price;
using switchyard::core::SseDecoder;
using switchyard::core::SseEvent;
using switchyard::core::Usage;

namespace {

// The non-streaming example of OpenAI's Chat Completions reference.
constexpr std::string_view kCompletionBody = R"({
  "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "gpt-4o-2024-08-06",
  "choices": [{
      "index": 0,
      "message": {"role": "assistant","content": "The image shows ...","refusal": null,"annotations": []},
      "logprobs": null,
      "finish_reason": "stop"
  }],
  "usage": {
    "prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0,
      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_fc9f1d7035"
})";

constexpr std::string_view kUsageChunk =
    R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"m","choices":[],)"
    R"("usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99,)"
    R"("prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}})";

constexpr std::string_view kContentChunk =
    R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"m",)"
    R"("choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null})";

std::vector<std::string> fixture_events(const std::string& name) {
  std::ifstream in(std::string(SWITCHYARD_FIXTURES) + "/sse/" + name, std::ios::binary);
  REQUIRE(in.good());
  const std::string stream{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<std::string> events;
  SseDecoder decoder;
  decoder.feed(stream, [&](const SseEvent& e) { events.emplace_back(e.data); });
  return events;
}

}  // namespace

TEST_CASE("usage is read from a non-streaming completion body", "[usage]") {
  const auto usage = extract_openai_usage(kCompletionBody);
  REQUIRE(usage);
  CHECK(usage->prompt_tokens == 1117);
  CHECK(usage->completion_tokens == 46);
  CHECK(usage->cached_prompt_tokens == 1024);
  CHECK(usage->reasoning_tokens == 12);
}

TEST_CASE("usage is read from the usage-only stream chunk", "[usage]") {
  const auto usage = extract_openai_usage(kUsageChunk);
  REQUIRE(usage);
  CHECK(usage->prompt_tokens == 82);
  CHECK(usage->completion_tokens == 17);
  CHECK(usage->cached_prompt_tokens == 0);
  CHECK(usage->reasoning_tokens == 0);
  CHECK(is_openai_usage_only_chunk(kUsageChunk));
}

TEST_CASE("chunks without a usage object yield nothing", "[usage]") {
  CHECK_FALSE(extract_openai_usage(kContentChunk));
  CHECK_FALSE(extract_openai_usage(R"({"choices":[{"delta":{"content":"x"}}]})"));
  CHECK_FALSE(extract_openai_usage("[DONE]"));
  CHECK_FALSE(extract_openai_usage(""));
  CHECK_FALSE(extract_openai_usage(R"({"usage": "lots"})"));
  CHECK_FALSE(extract_openai_usage(R"([{"usage":{"prompt_tokens":1}}])"));
  // The word in content, even quoted, is not a key.
  CHECK_FALSE(extract_openai_usage(
      R"({"choices":[{"delta":{"content":"the \"usage\": {\"prompt_tokens\": 5} field"}}]})"));
  // Only the top-level usage counts.
  CHECK_FALSE(extract_openai_usage(R"({"response":{"usage":{"prompt_tokens":5}},"usage":null})"));
  // Not JSON at all.
  CHECK_FALSE(extract_openai_usage(R"({"usage":{"prompt_tokens":)"));
}

TEST_CASE("usage fields are optional and null-tolerant", "[usage]") {
  auto usage = extract_openai_usage(
      R"({"usage":{"prompt_tokens":null,"completion_tokens":5,"prompt_tokens_details":null,)"
      R"("completion_tokens_details":{"reasoning_tokens":null}}})");
  REQUIRE(usage);
  CHECK(usage->prompt_tokens == 0);
  CHECK(usage->completion_tokens == 5);
  CHECK(usage->cached_prompt_tokens == 0);
  CHECK(usage->reasoning_tokens == 0);

  usage = extract_openai_usage(R"({"usage" : { } })");
  REQUIRE(usage);
  CHECK(usage->prompt_tokens == 0);
}

TEST_CASE("usage may come before the other fields", "[usage]") {
  const auto usage = extract_openai_usage(
      "{\n \"usage\" :\n {\"completion_tokens_details\":{\"reasoning_tokens\":3},"
      "\"completion_tokens\":10,\"prompt_tokens\":20},\"choices\":[]}");
  REQUIRE(usage);
  CHECK(usage->prompt_tokens == 20);
  CHECK(usage->completion_tokens == 10);
  CHECK(usage->reasoning_tokens == 3);
}

TEST_CASE("large and then small documents reuse the padded buffer", "[usage]") {
  std::string big = R"({"choices":[{"delta":{"content":")" + std::string(200000, 'z') +
                    R"("}}],"usage":{"prompt_tokens":7,"completion_tokens":8}})";
  auto usage = extract_openai_usage(big);
  REQUIRE(usage);
  CHECK(usage->prompt_tokens == 7);
  CHECK(usage->completion_tokens == 8);
  usage = extract_openai_usage(kUsageChunk);
  REQUIRE(usage);
  CHECK(usage->prompt_tokens == 82);
}

TEST_CASE("the usage-only chunk is told apart from ordinary chunks", "[usage]") {
  CHECK(is_openai_usage_only_chunk(R"({"usage":{"prompt_tokens":1},"choices":[ ]})"));
  CHECK_FALSE(is_openai_usage_only_chunk(kContentChunk));
  CHECK_FALSE(is_openai_usage_only_chunk(
      R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}})"));
  CHECK_FALSE(is_openai_usage_only_chunk(R"({"choices":[],"usage":null})"));
  CHECK_FALSE(is_openai_usage_only_chunk(R"({"usage":{"prompt_tokens":1}})"));
  CHECK_FALSE(is_openai_usage_only_chunk(R"({"choices":{},"usage":{"prompt_tokens":1}})"));
  CHECK_FALSE(is_openai_usage_only_chunk("[DONE]"));
}

TEST_CASE("in recorded streams only the final usage chunk carries usage", "[usage]") {
  for (const char* name : {"openai_text_include_usage.txt", "openai_tool_call.txt"}) {
    INFO("fixture " << name);
    const auto events = fixture_events(name);
    REQUIRE(events.size() >= 3);
    int with_usage = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
      const bool usage_only = is_openai_usage_only_chunk(events[i]);
      const auto usage = extract_openai_usage(events[i]);
      CHECK(usage_only == (i + 2 == events.size()));
      if (usage) ++with_usage;
    }
    CHECK(with_usage == 1);
  }
  const auto text = fixture_events("openai_text_include_usage.txt");
  const auto usage = extract_openai_usage(text[text.size() - 2]);
  REQUIRE(usage);
  CHECK(usage->prompt_tokens == 1117);
  CHECK(usage->cached_prompt_tokens == 1024);
  CHECK(usage->reasoning_tokens == 12);
}

TEST_CASE("cost prices uncached input, cached input and output separately", "[usage]") {
  const Usage usage{1'000'000, 500'000, 200'000, 100'000};
  const Price price{{2.5, 10.0, 1.25}};
  // 800k uncached at 2.5 + 200k cached at 1.25 + 500k output (reasoning included) at 10.
  CHECK(cost_usd(usage, price) == Approx(2.0 + 0.25 + 5.0));
}

TEST_CASE("cached input costs the input price when no cached price is set", "[usage]") {
  const Usage usage{1'000'000, 0, 400'000, 0};
  CHECK(cost_usd(usage, Price{{3.0, 15.0, 0.0}}) == Approx(3.0));
}

TEST_CASE("cost of small counts and of nothing", "[usage]") {
  CHECK(cost_usd(Usage{}, Price{{2.5, 10.0, 1.25}}) == 0.0);
  CHECK(cost_usd(Usage{1117, 46, 0, 0}, Price{{2.5, 10.0, 1.25}}) ==
        Approx((1117 * 2.5 + 46 * 10.0) / 1e6));
  CHECK(cost_usd(Usage{1117, 46, 0, 0}, Price{}) == 0.0);
}

TEST_CASE("more cached than prompt tokens never makes uncached input negative", "[usage]") {
  const Usage usage{100, 0, 150, 0};
  CHECK(cost_usd(usage, Price{{2.0, 8.0, 0.5}}) == Approx(150 * 0.5 / 1e6));
}

namespace {

// Claude Sonnet 4.5's published rates: $3 input, $15 output, $0.30 cache reads, $3.75 5-minute
// and $6 1-hour cache writes; past 200k prompt tokens $6, $22.50, $0.60, $7.50 and $12.
Price sonnet_price() {
  Price p;
  p.input_per_mtok = 3.0;
  p.output_per_mtok = 15.0;
  p.cached_input_per_mtok = 0.30;
  p.cache_write_per_mtok = 3.75;
  p.cache_write_1h_per_mtok = 6.0;
  switchyard::core::LongContextTier tier;
  tier.above_prompt_tokens = 200'000;
  tier.rates = {6.0, 22.50, 0.60, 7.50, 12.0};
  p.long_context = tier;
  return p;
}

Usage usage_of(std::int64_t uncached, std::int64_t reads, std::int64_t writes_5m,
               std::int64_t writes_1h, std::int64_t output) {
  Usage u;
  u.prompt_tokens = uncached + reads + writes_5m + writes_1h;
  u.cached_prompt_tokens = reads;
  u.cache_creation_tokens = writes_5m + writes_1h;
  u.cache_creation_1h_tokens = writes_1h;
  u.completion_tokens = output;
  return u;
}

}  // namespace

TEST_CASE("cache reads, 5-minute and 1-hour cache writes are priced apart", "[usage]") {
  // 10,000 uncached x $3 + 60,000 reads x $0.30 + 20,000 5-minute writes x $3.75
  // + 10,000 1-hour writes x $6 + 2,000 output x $15
  // = 30,000 + 18,000 + 75,000 + 60,000 + 30,000 micro-USD = $0.213
  CHECK(cost_usd(usage_of(10'000, 60'000, 20'000, 10'000, 2'000), sonnet_price()) == Approx(0.213));
}

TEST_CASE("cache writes cost the input price when the entry has no write price", "[usage]") {
  // 10,000 x $3 + 60,000 x $0.30 + 30,000 writes x $3 (input) + 2,000 x $15
  // = 30,000 + 18,000 + 90,000 + 30,000 micro-USD = $0.168
  const Price no_write_price{{3.0, 15.0, 0.30}};
  CHECK(cost_usd(usage_of(10'000, 60'000, 20'000, 10'000, 2'000), no_write_price) == Approx(0.168));
  // Only a 5-minute price: 1-hour writes cost it too.
  // 10,000 x $3 + 60,000 x $0.30 + 30,000 x $3.75 + 2,000 x $15 = $0.1905
  const Price five_minute_only{{3.0, 15.0, 0.30, 3.75}};
  CHECK(cost_usd(usage_of(10'000, 60'000, 20'000, 10'000, 2'000), five_minute_only) ==
        Approx(0.1905));
}

TEST_CASE("a prompt past the long-context threshold bills the whole request at the tier",
          "[usage]") {
  // 250,000 prompt tokens > 200,000: 100,000 uncached x $6 + 100,000 reads x $0.60
  // + 30,000 5-minute writes x $7.50 + 20,000 1-hour writes x $12 + 10,000 output x $22.50
  // = 600,000 + 60,000 + 225,000 + 240,000 + 225,000 micro-USD = $1.35
  CHECK(cost_usd(usage_of(100'000, 100'000, 30'000, 20'000, 10'000), sonnet_price()) ==
        Approx(1.35));
}

TEST_CASE("the long-context threshold counts cache reads and writes, and is exclusive", "[usage]") {
  // Exactly 200,000 is not above it: 200,000 x $3 = $0.60.
  CHECK(cost_usd(usage_of(200'000, 0, 0, 0, 0), sonnet_price()) == Approx(0.60));
  // 200,001 is: 200,001 x $6 = $1.200006.
  CHECK(cost_usd(usage_of(200'001, 0, 0, 0, 0), sonnet_price()) == Approx(1.200006));
  // 150,000 uncached + 60,000 cache reads = 210,000 prompt tokens, past the threshold though
  // the uncached part is not: 150,000 x $6 + 60,000 x $0.60 = 900,000 + 36,000 = $0.936.
  CHECK(cost_usd(usage_of(150'000, 60'000, 0, 0, 0), sonnet_price()) == Approx(0.936));
}

TEST_CASE("a 1-hour share larger than the writes counts as all of them", "[usage]") {
  Usage u = usage_of(0, 0, 0, 1'000, 0);
  u.cache_creation_1h_tokens = 5'000;  // inconsistent provider counts
  // 1,000 writes x $6 = $0.006.
  CHECK(cost_usd(u, sonnet_price()) == Approx(0.006));
}

TEST_CASE("usage is found at the top level of long responses, not in look-alike keys", "[usage]") {
  using switchyard::core::extract_openai_usage;
  // Long content before the usage object: the fast path must still find it.
  const std::string content(100000, 'x');
  const std::string body =
      R"({"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":")" + content +
      R"("}}],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46},"system_fingerprint":"fp"})";
  auto u = extract_openai_usage(body);
  REQUIRE(u);
  CHECK(u->prompt_tokens == 12);
  CHECK(u->completion_tokens == 34);

  // A nested "usage" after the real one must not be taken for it.
  const std::string nested =
      R"({"usage":{"prompt_tokens":1,"completion_tokens":2},"meta":{"usage":{"prompt_tokens":99,"completion_tokens":99}}})";
  auto n = extract_openai_usage(nested);
  REQUIRE(n);
  CHECK(n->prompt_tokens == 1);

  // The word inside string content is escaped and never matches.
  const std::string in_text =
      R"({"choices":[{"message":{"content":"my \"usage\": {\"prompt_tokens\": 5}"}}]})";
  CHECK_FALSE(extract_openai_usage(in_text));
}
