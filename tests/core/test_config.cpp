#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.hpp"

using namespace switchyard::core;

namespace {

using Env = std::map<std::string, std::string>;

EnvLookup env_of(Env vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    if (auto it = vars.find(name); it != vars.end()) return it->second;
    return std::nullopt;
  };
}

// Raw strings below start with a newline for readability; dropping it makes the first
// written line line 1, so the expected line numbers can be read off the test.
Result<Config, std::vector<ConfigError>> parse(std::string_view text, Env env = {}) {
  if (!text.empty() && text.front() == '\n') text.remove_prefix(1);
  return parse_config(text, "switchyard.yaml", env_of(std::move(env)));
}

std::vector<std::string> errors_of(const Result<Config, std::vector<ConfigError>>& r) {
  std::vector<std::string> out;
  if (r.ok()) return out;
  for (const auto& e : r.error()) out.push_back(e.to_string());
  return out;
}

// Most error tests only vary one part; this prefix is a valid provider list (lines 1-3).
constexpr std::string_view kMockProvider = R"(
providers:
  - name: mock
    type: mock
)";

std::string with_mock(std::string_view rest) {
  std::string s(kMockProvider.substr(1));
  if (!rest.empty() && rest.front() == '\n') rest.remove_prefix(1);
  return s + std::string(rest);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("config: the minimal contract shape loads", "[config]") {
  auto r = parse(R"(
listen: 127.0.0.1:4000
providers:
  - name: openai
    type: openai                  # openai | openai_compatible | mock
    base_url: https://api.openai.com/v1
    api_key: ${OPENAI_API_KEY}
models:
  - name: gpt-4o-mini             # what clients send as "model"
    provider: openai
    model: gpt-4o-mini            # upstream model id; defaults to name
    price: {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075}
)",
                 {{"OPENAI_API_KEY", "sk-abc"}});
  REQUIRE(errors_of(r).empty());
  const Config& c = r.value();
  CHECK(c.server.listen_host == "127.0.0.1");
  CHECK(c.server.listen_port == 4000);
  // Untouched settings keep the header's defaults.
  CHECK(c.server.workers == 0);
  CHECK(c.server.max_body_bytes == 32u << 20);
  CHECK(c.server.access_log == "stdout");
  REQUIRE(c.providers.size() == 1);
  const ProviderConfig& p = c.providers[0];
  CHECK(p.name == "openai");
  CHECK(p.type == "openai");
  CHECK(p.base_url == "https://api.openai.com/v1");
  CHECK(p.api_key == "sk-abc");
  CHECK(p.connect_timeout == std::chrono::milliseconds(5000));
  REQUIRE(c.models.size() == 1);
  const ModelConfig& m = c.models[0];
  CHECK(m.name == "gpt-4o-mini");
  CHECK(m.primary().provider == "openai");
  CHECK(m.primary().upstream_model == "gpt-4o-mini");
  CHECK(m.primary().price.input_per_mtok == 0.15);
  CHECK(m.primary().price.output_per_mtok == 0.60);
  CHECK(m.primary().price.cached_input_per_mtok == 0.075);
  CHECK(m.primary().price_known);
  CHECK(c.notices.empty());
  CHECK(c.find_provider("openai") == &c.providers[0]);
  CHECK(c.find_provider("nope") == nullptr);
  CHECK(c.find_model("gpt-4o-mini") == &c.models[0]);
  CHECK(c.find_model("gpt-4o") == nullptr);
}

TEST_CASE("config: every key is read", "[config]") {
  auto r = parse(R"(
listen: "[::1]:8080"
workers: 3
max_body_bytes: 1000
max_header_bytes: 16KiB
max_upstream_event_bytes: 1MiB
max_upstream_body_bytes: 8MiB
read_timeout_ms: 1000
keepalive_timeout_ms: 2000
drain_timeout_ms: 0
stream_keepalive_ms: 500
access_log: /var/log/switchyard.log
providers:
  - name: local.llm_1
    type: openai_compatible
    base_url: http://localhost:11434/v1///
    headers:
      X-Team: search
      Authorization: Bearer ${TOKEN}
    connect_timeout_ms: 100
    first_byte_timeout_ms: 200
    idle_timeout_ms: 300
    ca_file: /etc/ssl/extra.pem
  - name: fake
    type: mock
    mock: {ttft_ms: 0, tokens_per_second: 1000.5, reply: "hi"}
models:
  - name: llama
    provider: local.llm_1
    model: llama3.1:8b
  - name: fast
    provider: fake
)",
                 {{"TOKEN", "t0k"}});
  REQUIRE(errors_of(r).empty());
  const Config& c = r.value();
  CHECK(c.server.listen_host == "::1");
  CHECK(c.server.listen_port == 8080);
  CHECK(c.server.workers == 3);
  CHECK(c.server.max_body_bytes == 1000);
  CHECK(c.server.max_header_bytes == 16 * 1024);
  CHECK(c.server.max_upstream_event_bytes == 1 << 20);
  CHECK(c.server.max_upstream_body_bytes == 8 << 20);
  CHECK(c.server.read_timeout == std::chrono::milliseconds(1000));
  CHECK(c.server.keepalive_timeout == std::chrono::milliseconds(2000));
  CHECK(c.server.drain_timeout == std::chrono::milliseconds(0));
  CHECK(c.server.stream_keepalive == std::chrono::milliseconds(500));
  CHECK(c.server.access_log == "/var/log/switchyard.log");
  REQUIRE(c.providers.size() == 2);
  const ProviderConfig& p = c.providers[0];
  CHECK(p.base_url == "http://localhost:11434/v1");  // trailing slashes stripped
  CHECK(p.api_key.empty());                          // optional for openai_compatible
  CHECK(p.headers ==
        std::map<std::string, std::string>{{"X-Team", "search"}, {"Authorization", "Bearer t0k"}});
  CHECK(p.connect_timeout == std::chrono::milliseconds(100));
  CHECK(p.first_byte_timeout == std::chrono::milliseconds(200));
  CHECK(p.idle_timeout == std::chrono::milliseconds(300));
  CHECK(p.ca_file == "/etc/ssl/extra.pem");
  const ProviderConfig& mock = c.providers[1];
  CHECK(mock.mock.time_to_first_token == std::chrono::milliseconds(0));
  CHECK(mock.mock.tokens_per_second == 1000.5);
  CHECK(mock.mock.reply == "hi");
  CHECK(c.models[0].primary().upstream_model == "llama3.1:8b");
  CHECK(c.models[1].primary().upstream_model == "fast");
  // Mock defaults when the block is absent come from the header.
  auto d = parse(with_mock("models:\n  - {name: m, provider: mock}\n"));
  REQUIRE(errors_of(d).empty());
  CHECK(d->providers[0].mock.tokens_per_second == 50);
  CHECK(d->providers[0].mock.time_to_first_token == std::chrono::milliseconds(200));
}

TEST_CASE("config: environment substitution", "[config]") {
  const std::string text = with_mock(R"(
models:
  - name: "${NAME}"
    provider: mock
    model: "pre-${EMPTY}-${UNSET:-dflt}-${EMPTY:-fromempty}-${SET:-unused}-$$HOME-$5-a$"
)");
  SECTION("all forms") {
    auto r = parse(text, {{"NAME", "m1"}, {"EMPTY", ""}, {"SET", "yes"}});
    REQUIRE(errors_of(r).empty());
    CHECK(r->models[0].name == "m1");
    CHECK(r->models[0].primary().upstream_model == "pre--dflt-fromempty-yes-$HOME-$5-a$");
  }
  SECTION("an unset variable without default is an error at its line") {
    auto r = parse(text, {{"EMPTY", ""}});
    CHECK(errors_of(r) == std::vector<std::string>{
                              "switchyard.yaml:5: models[0].name: environment variable NAME is "
                              "not set"});
  }
  SECTION("substitution happens before type conversion") {
    auto r = parse(with_mock(R"(
workers: ${WORKERS}
max_body_bytes: ${BODY:-1MiB}
models:
  - name: m
    provider: mock
    price: {input_per_mtok: "${IN}"}
)"),
                   {{"WORKERS", "8"}, {"IN", "1.5"}});
    REQUIRE(errors_of(r).empty());
    CHECK(r->server.workers == 8);
    CHECK(r->server.max_body_bytes == 1u << 20);
    CHECK(r->models[0].primary().price.input_per_mtok == 1.5);
  }
  SECTION("malformed references") {
    auto r = parse(with_mock(R"(
access_log: "${UNCLOSED"
models:
  - name: "${1BAD}"
    provider: mock
)"));
    CHECK(errors_of(r) ==
          std::vector<std::string>{
              "switchyard.yaml:4: access_log: unterminated '${' (write '$$' for a literal '$')",
              "switchyard.yaml:6: models[0].name: invalid environment variable reference "
              "'${1BAD}' (expected ${NAME} or ${NAME:-default})"});
  }
  SECTION("substituted text is not substituted again") {
    auto r = parse(with_mock("models:\n  - {name: \"${A}\", provider: mock}\n"),
                   {{"A", "${B}"}, {"B", "no"}});
    REQUIRE(errors_of(r).empty());
    CHECK(r->models[0].name == "${B}");
  }
}

TEST_CASE("config: unknown keys name the key, its line and a suggestion", "[config]") {
  auto r = parse(R"(
listn: 127.0.0.1:4000
providers:
  - name: p
    type: openai_compatible
    bse_url: http://x
    base_url: http://x
    mock: {ttft: 5}
  - name: m
    type: mock
    mock: {tokens_per_sec: 5}
models:
  - name: a
    provider: p
    prize: {input_per_mtok: 1}
    price: {inptu_per_mtok: 1}
    colour: blue
)");
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:1: unknown key 'listn' (did you mean 'listen'?)",
            "switchyard.yaml:5: providers[0]: unknown key 'bse_url' (did you mean 'base_url'?)",
            "switchyard.yaml:7: providers[0].mock: only valid for a provider of type mock, not "
            "openai_compatible",
            "switchyard.yaml:10: providers[1].mock: unknown key 'tokens_per_sec'",
            "switchyard.yaml:14: models[0]: unknown key 'prize' (did you mean 'price'?)",
            "switchyard.yaml:15: models[0].price: unknown key 'inptu_per_mtok' (did you mean "
            "'input_per_mtok'?)",
            "switchyard.yaml:16: models[0]: unknown key 'colour'",
        });
}

TEST_CASE("config: wrong types", "[config]") {
  auto r = parse(R"(
workers: abc
max_body_bytes: lots
read_timeout_ms: 1.5
listen: [a, b]
providers:
  - name: p
    type: [openai]
    optional: maybe
    headers: [a]
  - just-a-string
  - name: q
    type: mock
    mock: {tokens_per_second: fast, ttft_ms: {a: 1}}
models: {a: 1}
)");
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:1: workers: expected an integer, got 'abc'",
            "switchyard.yaml:2: max_body_bytes: expected a size in bytes such as 1048576, "
            "512KiB or 32MiB, got 'lots'",
            "switchyard.yaml:3: read_timeout_ms: expected an integer, got '1.5'",
            "switchyard.yaml:4: listen: expected a string, got a sequence",
            "switchyard.yaml:7: providers[0].type: expected a string, got a sequence",
            "switchyard.yaml:8: providers[0].optional: expected true or false, got 'maybe'",
            "switchyard.yaml:9: providers[0].headers: expected a mapping, got a sequence",
            "switchyard.yaml:10: providers[1]: expected a mapping, got 'just-a-string'",
            "switchyard.yaml:13: providers[2].mock.ttft_ms: expected an integer, got a mapping",
            "switchyard.yaml:13: providers[2].mock.tokens_per_second: expected a number, got "
            "'fast'",
            "switchyard.yaml:14: models: expected a sequence, got a mapping",
        });
}

TEST_CASE("config: out-of-range numbers", "[config]") {
  auto r = parse(with_mock(R"(
workers: -1
max_body_bytes: 0
drain_timeout_ms: -5
models:
  - name: m
    provider: mock
    price: {input_per_mtok: -0.5, output_per_mtok: .inf}
)"));
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:4: workers: must be between 0 and 4096, got -1",
            "switchyard.yaml:5: max_body_bytes: must be greater than 0",
            "switchyard.yaml:6: drain_timeout_ms: must be 0 or more, got -5",
            "switchyard.yaml:10: models[0].price.input_per_mtok: must be 0 or more",
            "switchyard.yaml:10: models[0].price.output_per_mtok: expected a number, got '.inf'",
        });
  auto t = parse(R"(
providers:
  - name: m
    type: mock
    connect_timeout_ms: 0
    mock: {tokens_per_second: 0}
models:
  - {name: x, provider: m}
)");
  CHECK(errors_of(t) ==
        std::vector<std::string>{
            "switchyard.yaml:4: providers[0].connect_timeout_ms: must be at least 1, got 0",
            "switchyard.yaml:5: providers[0].mock.tokens_per_second: must be greater than 0",
        });
}

TEST_CASE("config: unknown provider names the closest one", "[config]") {
  auto r = parse(R"(
providers:
  - name: openai
    type: openai
    api_key: sk
  - name: mock
    type: mock
models:
  - name: gpt-4o
    provider: openai
  - name: gpt-4o-mini
    provider: opneai
  - name: other
    provider: anthropic
)");
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:11: models[1].provider: unknown provider 'opneai' (did you mean "
            "'openai'?)",
            "switchyard.yaml:13: models[2].provider: unknown provider 'anthropic'",
        });
}

TEST_CASE("config: duplicates", "[config]") {
  auto r = parse(R"(
providers:
  - name: mock
    type: mock
  - name: mock
    type: mock
models:
  - name: gpt-4o-mini
    provider: mock
  - name: other
    provider: mock
    provider: mock
  - name: gpt-4o-mini
    provider: mock
)");
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:4: duplicate provider name 'mock' (first defined at line 2)",
            "switchyard.yaml:11: models[1]: duplicate key 'provider' (first at line 10)",
            "switchyard.yaml:12: duplicate model name 'gpt-4o-mini' (first defined at line 7)",
        });
}

TEST_CASE("config: missing required keys", "[config]") {
  auto r = parse(R"(
providers:
  - type: mock
  - name: nokey
    type: openai
  - name: compat
    type: openai_compatible
  - name: notype
models:
  - provider: nokey
  - name: lonely
  - name: empty-key
    provider: compat
)");
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:2: providers[0]: missing required key 'name'",
            "switchyard.yaml:3: providers[1]: missing required key 'api_key' (required for type "
            "openai; or mark the provider optional: true)",
            "switchyard.yaml:5: providers[2]: missing required key 'base_url' (required for "
            "type openai_compatible)",
            "switchyard.yaml:7: providers[3]: missing required key 'type'",
            "switchyard.yaml:9: models[0]: missing required key 'name'",
            "switchyard.yaml:10: models[1]: missing required key 'provider'",
        });
}

TEST_CASE("config: an empty api_key on a required openai provider says what to set", "[config]") {
  auto r = parse(R"(
providers:
  - name: openai
    type: openai
    api_key: ${OPENAI_API_KEY}
models:
  - {name: gpt-4o, provider: openai}
)",
                 {{"OPENAI_API_KEY", ""}});
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:4: providers[0].api_key: is empty (set OPENAI_API_KEY); a provider "
            "of type openai needs an API key (or mark the provider optional: true)"});
}

TEST_CASE("config: listen addresses", "[config]") {
  const auto listen_of = [](const std::string& value) {
    return parse(with_mock("listen: \"" + value + "\"\nmodels:\n  - {name: m, provider: mock}\n"));
  };
  auto ok = listen_of("0.0.0.0:0");
  REQUIRE(errors_of(ok).empty());
  CHECK(ok->server.listen_host == "0.0.0.0");
  CHECK(ok->server.listen_port == 0);
  auto v6 = listen_of("[::]:443");
  REQUIRE(errors_of(v6).empty());
  CHECK(v6->server.listen_host == "::");
  auto name = listen_of("localhost:4000");
  REQUIRE(errors_of(name).empty());
  CHECK(name->server.listen_host == "localhost");

  const std::vector<std::pair<std::string, std::string>> bad{
      {"4000", "listen: expected HOST:PORT such as 127.0.0.1:4000, got '4000'"},
      {"127.0.0.1:70000",
       "listen: invalid port '70000' (expected 0 to 65535), got "
       "'127.0.0.1:70000'"},
      {"127.0.0.1:", "listen: invalid port '' (expected 0 to 65535), got '127.0.0.1:'"},
      {"127.0.0.1:-1", "listen: invalid port '-1' (expected 0 to 65535), got '127.0.0.1:-1'"},
      {":4000",
       "listen: missing host: expected HOST:PORT such as 127.0.0.1:4000 or "
       "0.0.0.0:4000, got ':4000'"},
      {"::1:4000",
       "listen: IPv6 addresses must be in brackets, e.g. [::1]:4000, got "
       "'::1:4000'"},
      {"[::1:4000", "listen: expected [IPv6]:PORT such as [::1]:4000, got '[::1:4000'"},
      {"[zz]:4000", "listen: invalid IPv6 address 'zz', got '[zz]:4000'"},
      {"bad host:1", "listen: invalid host 'bad host', got 'bad host:1'"},
  };
  for (const auto& [value, message] : bad) {
    INFO(value);
    CHECK(errors_of(listen_of(value)) == std::vector<std::string>{"switchyard.yaml:4: " + message});
  }
}

TEST_CASE("config: base URLs", "[config]") {
  auto r = parse(R"(
providers:
  - name: a
    type: openai_compatible
    base_url: ftp://example.com
  - name: b
    type: openai_compatible
    base_url: https://
  - name: c
    type: openai_compatible
    base_url: https://example.com/v1?x=1
  - name: d
    type: openai_compatible
    base_url: example.com/v1
models:
  - {name: m, provider: a}
)");
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:4: providers[0].base_url: must start with http:// or https://, "
            "got 'ftp://example.com'",
            "switchyard.yaml:7: providers[1].base_url: has no host, got 'https://'",
            "switchyard.yaml:10: providers[2].base_url: must not contain a query or fragment, "
            "got 'https://example.com/v1?x=1'",
            "switchyard.yaml:13: providers[3].base_url: must start with http:// or https://, "
            "got 'example.com/v1'",
        });

  // type openai defaults its base_url; a trailing slash is stripped.
  auto d = parse(R"(
providers:
  - {name: o, type: openai, api_key: k}
  - {name: p, type: openai, api_key: k, base_url: "https://proxy.example/v1/"}
models:
  - {name: gpt-4o, provider: o}
)");
  REQUIRE(errors_of(d).empty());
  CHECK(d->providers[0].base_url == "https://api.openai.com/v1");
  CHECK(d->providers[1].base_url == "https://proxy.example/v1");
}

TEST_CASE("config: unknown provider type and header checks", "[config]") {
  auto r = parse(R"(
providers:
  - name: a
    type: opanai
  - name: b/c
    type: mock
    headers:
      "Bad Header": x
      X-Ok: "line${NL}break"
models:
  - {name: m, provider: a}
)",
                 {{"NL", "\n"}});
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:3: providers[0].type: unknown provider type 'opanai' (did you mean "
            "'openai'?) (expected openai, openai_compatible, azure, anthropic, gemini or mock)",
            "switchyard.yaml:4: providers[1].name: invalid provider name 'b/c' (use letters, "
            "digits, '_', '.', '-')",
            "switchyard.yaml:7: providers[1].headers: invalid header name 'Bad Header'",
            "switchyard.yaml:8: providers[1].headers.X-Ok: header value must not contain CR, LF "
            "or NUL",
        });
}

TEST_CASE("config: a header given twice in different case is an error", "[config]") {
  auto r = parse(R"(
providers:
  - name: m
    type: mock
    headers: {X-Team: a, x-team: b}
models:
  - {name: a, provider: m}
)");
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:4: providers[0].headers: header 'x-team' is set twice"});
}

TEST_CASE("config: YAML syntax errors carry their line", "[config]") {
  auto r = parse(R"(
listen: 127.0.0.1:4000
providers:
  - name: mock
    type: mock
models:
  - name: mock-gpt: extra
    provider: mock
)");
  CHECK(errors_of(r) ==
        std::vector<std::string>{"switchyard.yaml:6: YAML syntax error: illegal map value"});

  auto bad_indent = parse(R"(
providers:
  - name: mock
    type: mock
   models: []
)");
  CHECK(
      errors_of(bad_indent) ==
      std::vector<std::string>{"switchyard.yaml:4: YAML syntax error: end of sequence not found"});

  auto tab = parse("listen: 127.0.0.1:4000\n\tworkers: 2\n");
  CHECK(errors_of(tab) == std::vector<std::string>{
                              "switchyard.yaml:2: YAML syntax error: illegal tab when looking for "
                              "indentation"});

  auto alias = parse("providers: []\nmodels: *undefined\n");
  CHECK(errors_of(alias) ==
        std::vector<std::string>{"switchyard.yaml:2: YAML syntax error: the referenced anchor is "
                                 "not defined"});
}

TEST_CASE("config: empty and shapeless documents", "[config]") {
  CHECK(errors_of(parse("")) ==
        std::vector<std::string>{"switchyard.yaml: the file is empty (it needs at least "
                                 "'providers:' and 'models:')"});
  CHECK(errors_of(parse("# only a comment\n")) ==
        std::vector<std::string>{"switchyard.yaml: the file is empty (it needs at least "
                                 "'providers:' and 'models:')"});
  CHECK(errors_of(parse("- a\n- b\n")) ==
        std::vector<std::string>{"switchyard.yaml:1: expected a mapping of settings at the top "
                                 "level, got a sequence"});
  CHECK(errors_of(parse(with_mock(""))) ==
        std::vector<std::string>{"switchyard.yaml: no models defined (add a 'models:' list)"});
  CHECK(errors_of(parse(with_mock("models: []\n"))) ==
        std::vector<std::string>{"switchyard.yaml:4: models: no models defined"});
  CHECK(
      errors_of(parse("models:\n  - {name: m, provider: mock}\n")) ==
      std::vector<std::string>{"switchyard.yaml:2: models[0].provider: unknown provider 'mock'",
                               "switchyard.yaml: no providers defined (add a 'providers:' list)"});
}

TEST_CASE("config: errors are collected, not stopped at the first", "[config]") {
  auto r = parse(R"(
models:
  - name: a
    provider: nowhere
workers: x
providers:
  - name: p
    type: nope
)");
  // Sorted by line although models are checked after providers.
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:3: models[0].provider: unknown provider 'nowhere'",
            "switchyard.yaml:4: workers: expected an integer, got 'x'",
            "switchyard.yaml:7: providers[0].type: unknown provider type 'nope' (expected "
            "openai, openai_compatible, azure, anthropic, gemini or mock)",
        });
}

TEST_CASE("config: price resolution order", "[config]") {
  auto r = parse(R"(
providers:
  - {name: o, type: openai_compatible, base_url: "http://up"}
models:
  - name: configured
    provider: o
    model: gpt-4o
    price: {input_per_mtok: 9, output_per_mtok: 8, cached_input_per_mtok: 7}
  - name: partial
    provider: o
    model: gpt-4o
    price: {output_per_mtok: 11}
  - name: by-upstream
    provider: o
    model: gpt-4o-mini
  - name: gpt-4.1
    provider: o
    model: my-deployment
  - name: unknown
    provider: o
    model: my-own-model
  - name: partial-unknown
    provider: o
    model: my-own-model
    price: {input_per_mtok: 2}
  - name: gpt-4o
    provider: o
    model: o3
)");
  REQUIRE(errors_of(r).empty());
  const Config& c = r.value();
  const auto price = [&](std::string_view name) { return c.find_model(name)->primary().price; };

  CHECK(price("configured").input_per_mtok == 9);
  CHECK(price("configured").output_per_mtok == 8);
  CHECK(price("configured").cached_input_per_mtok == 7);
  // Missing fields of a partial price come from the bundled entry of the upstream id.
  CHECK(price("partial").input_per_mtok == 2.50);
  CHECK(price("partial").output_per_mtok == 11);
  CHECK(price("partial").cached_input_per_mtok == 1.25);
  CHECK(price("by-upstream").input_per_mtok == 0.15);
  CHECK(price("by-upstream").output_per_mtok == 0.60);
  // The name is the fallback when the upstream id is not in the table...
  CHECK(price("gpt-4.1").input_per_mtok == 2.00);
  CHECK(c.find_model("gpt-4.1")->primary().price_known);
  // ...but the upstream id wins when both are.
  CHECK(price("gpt-4o").input_per_mtok == bundled_prices().at("o3").input_per_mtok);
  CHECK(price("unknown").input_per_mtok == 0);
  CHECK(price("unknown").output_per_mtok == 0);
  CHECK_FALSE(c.find_model("unknown")->primary().price_known);
  CHECK(price("partial-unknown").input_per_mtok == 2);
  CHECK(price("partial-unknown").output_per_mtok == 0);
  CHECK(c.find_model("partial-unknown")->primary().price_known);
  // An unpriced model on a real provider is worth a notice: its spend would read as zero.
  CHECK(c.notices == std::vector<std::string>{
                         "model 'unknown' has no known price (not in the bundled table as "
                         "'my-own-model'): its cost is counted as 0; add price: to the model"});
}

TEST_CASE("config: which models accept reasoning settings", "[config]") {
  auto r = parse(with_mock(R"(models:
  - {name: thinker, provider: mock, model: claude-sonnet-4-5}
  - {name: plain, provider: mock, model: gpt-4o}
  - {name: by-name, provider: mock, model: my-o3}
  - {name: o3, provider: mock}
  - {name: own-reasoner, provider: mock, model: my-qwen, reasoning: true}
  - {name: told-not-to, provider: mock, model: gpt-5, reasoning: false}
  - {name: unknown, provider: mock, model: my-llama}
)"));
  REQUIRE(errors_of(r).empty());
  const Config& c = r.value();
  CHECK(c.find_model("thinker")->primary().reasoning);
  CHECK_FALSE(c.find_model("plain")->primary().reasoning);
  CHECK(c.find_model("o3")
            ->primary()
            .reasoning);  // the name when the upstream id is not in the table
  CHECK_FALSE(c.find_model("by-name")->primary().reasoning);
  CHECK(c.find_model("own-reasoner")->primary().reasoning);
  CHECK_FALSE(c.find_model("told-not-to")->primary().reasoning);
  CHECK_FALSE(c.find_model("unknown")->primary().reasoning);

  auto bad = parse(with_mock("models:\n  - {name: m, provider: mock, reasoning: maybe}\n"));
  REQUIRE(errors_of(bad).size() == 1);
  CHECK(errors_of(bad)[0].find("models[0].reasoning") != std::string::npos);
}

TEST_CASE("config: sizes accept units", "[config]") {
  const auto body = [](const std::string& value) {
    return parse(
        with_mock("max_body_bytes: " + value + "\nmodels:\n  - {name: m, provider: mock}\n"));
  };
  CHECK(body("1048576")->server.max_body_bytes == 1048576);
  CHECK(body("32MiB")->server.max_body_bytes == 32u << 20);
  CHECK(body("512KiB")->server.max_body_bytes == 512u << 10);
  CHECK(body("\"2 MiB\"")->server.max_body_bytes == 2u << 20);
  CHECK(body("1GiB")->server.max_body_bytes == std::size_t{1} << 30);
  CHECK(body("10MB")->server.max_body_bytes == 10'000'000);
  CHECK(body("3kb")->server.max_body_bytes == 3000);
  CHECK(body("100B")->server.max_body_bytes == 100);
  for (const std::string bad : {"1.5MiB", "MiB", "12XB", "-1", "99999999999999999999GiB"}) {
    INFO(bad);
    CHECK(errors_of(body(bad)) ==
          std::vector<std::string>{"switchyard.yaml:4: max_body_bytes: expected a size in bytes "
                                   "such as 1048576, 512KiB or 32MiB, got '" +
                                   bad + "'"});
  }
  CHECK(errors_of(body("0KiB")) ==
        std::vector<std::string>{"switchyard.yaml:4: max_body_bytes: must be greater than 0"});
}

TEST_CASE("config: optional providers", "[config]") {
  const std::string text = R"(providers:
  - name: mock
    type: mock
  - name: openai
    type: openai
    api_key: ${OPENAI_API_KEY:-}
    optional: true
models:
  - {name: mock-gpt, provider: mock}
  - {name: gpt-4o, provider: openai}
)";
  SECTION("without a key the provider and its models are dropped with a notice") {
    auto r = parse(text);
    REQUIRE(errors_of(r).empty());
    CHECK(r->providers.size() == 1);
    CHECK(r->find_provider("openai") == nullptr);
    CHECK(r->find_model("gpt-4o") == nullptr);
    CHECK(r->find_model("mock-gpt") != nullptr);
    CHECK(r->notices == std::vector<std::string>{
                            "provider 'openai' disabled: api_key is empty (set OPENAI_API_KEY)"});
  }
  SECTION("with a key it is used and the key appears in no notice") {
    auto r = parse(text, {{"OPENAI_API_KEY", "sk-secret-123"}});
    REQUIRE(errors_of(r).empty());
    REQUIRE(r->find_provider("openai") != nullptr);
    CHECK(r->find_provider("openai")->api_key == "sk-secret-123");
    CHECK(r->find_model("gpt-4o") != nullptr);
    CHECK(r->notices.empty());
  }
  SECTION("a model on a disabled provider still has its mistakes reported") {
    auto r = parse(text + "  - {name: gpt-4o, provider: openai, prise: 1}\n");
    CHECK(errors_of(r) ==
          std::vector<std::string>{
              "switchyard.yaml:11: models[2]: unknown key 'prise' (did you mean 'price'?)",
              "switchyard.yaml:11: duplicate model name 'gpt-4o' (first defined at line 10)"});
  }
  SECTION("an optional provider treats an unset ${VAR} in api_key as empty") {
    auto r = parse(R"(
providers:
  - {name: mock, type: mock}
  - {name: openai, type: openai, api_key: "Bearer-${OPENAI_API_KEY}${ORG}", optional: true}
models:
  - {name: a, provider: mock}
)");
    CHECK(errors_of(r).empty());
    // Unset parts vanish, leaving "Bearer-": not empty, so the provider stays. Only a key
    // that is nothing but variables is disabled.
    REQUIRE(r->find_provider("openai") != nullptr);
    auto d = parse(R"(
providers:
  - {name: mock, type: mock}
  - {name: openai, type: openai, api_key: "${OPENAI_API_KEY}${ORG}", optional: true}
models:
  - {name: a, provider: mock}
)");
    REQUIRE(errors_of(d).empty());
    CHECK(d->find_provider("openai") == nullptr);
    CHECK(d->notices == std::vector<std::string>{
                            "provider 'openai' disabled: api_key is empty (set OPENAI_API_KEY "
                            "or ORG)"});
  }
  SECTION("an optional provider without any api_key key is disabled too") {
    auto r = parse(R"(
providers:
  - {name: mock, type: mock}
  - {name: compat, type: openai_compatible, base_url: "http://x", optional: true}
models:
  - {name: a, provider: mock}
  - {name: b, provider: compat}
)");
    REQUIRE(errors_of(r).empty());
    CHECK(r->find_model("b") == nullptr);
    CHECK(r->notices == std::vector<std::string>{"provider 'compat' disabled: api_key is not set"});
  }
  SECTION("when every model is dropped the gateway refuses to start") {
    auto r = parse(R"(
providers:
  - {name: openai, type: openai, api_key: "${KEY:-}", optional: true}
models:
  - {name: gpt-4o, provider: openai}
)");
    CHECK(errors_of(r) ==
          std::vector<std::string>{
              "switchyard.yaml:3: no models are available: every model uses a disabled "
              "provider; provider 'openai' disabled: api_key is empty (set KEY)"});
  }
}

TEST_CASE("config: the bundled price table", "[config]") {
  const auto& table = bundled_prices();
  CHECK(bundled_prices_date().size() == 10);  // YYYY-MM-DD
  CHECK(bundled_prices_date().starts_with("20"));
  REQUIRE(table.count("gpt-4o-mini") == 1);
  CHECK(table.at("gpt-4o-mini").input_per_mtok == 0.15);
  CHECK(table.at("gpt-4o-mini").output_per_mtok == 0.60);
  CHECK(table.at("gpt-4o-mini").cached_input_per_mtok == 0.075);
  for (const char* id : {"gpt-4o",
                         "gpt-4.1",
                         "gpt-4.1-mini",
                         "gpt-4.1-nano",
                         "o3",
                         "o3-mini",
                         "o4-mini",
                         "gpt-5",
                         "gpt-5-mini",
                         "gpt-5-nano",
                         "claude-opus-4-1",
                         "claude-opus-4",
                         "claude-sonnet-4-5",
                         "claude-sonnet-4",
                         "claude-3-7-sonnet",
                         "claude-3-5-haiku",
                         "claude-haiku-4-5",
                         "gemini-2.5-pro",
                         "gemini-2.5-flash",
                         "gemini-2.5-flash-lite",
                         "gemini-2.0-flash"}) {
    INFO(id);
    REQUIRE(table.count(id) == 1);
    const Price& p = table.at(id);
    CHECK(p.input_per_mtok > 0);
    CHECK(p.output_per_mtok >= p.input_per_mtok);
    CHECK(p.cached_input_per_mtok > 0);
    CHECK(p.cached_input_per_mtok < p.input_per_mtok);
  }
  CHECK(&bundled_prices() == &table);  // parsed once
}

TEST_CASE("config: the default deploy config", "[config]") {
  const std::string path = SWITCHYARD_FIXTURES "/../../deploy/switchyard.yaml";
  const std::string text = read_file(path);
  REQUIRE_FALSE(text.empty());

  SECTION("with an empty environment only the mock model is served") {
    auto r = parse_config(text, "switchyard.yaml", env_of({}));
    REQUIRE(errors_of(r).empty());
    const Config& c = r.value();
    CHECK(c.server.listen_host == "127.0.0.1");
    CHECK(c.server.listen_port == 4000);
    CHECK(c.server.access_log == "stdout");
    REQUIRE(c.models.size() == 1);
    const ModelConfig& m = c.models[0];
    CHECK(m.name == "mock-gpt");
    CHECK(m.primary().provider == "mock");
    CHECK(m.primary().price.input_per_mtok > 0);
    CHECK(m.primary().price.output_per_mtok > 0);
    REQUIRE(c.providers.size() == 1);
    CHECK(c.providers[0].type == "mock");
    CHECK(c.providers[0].mock.time_to_first_token == std::chrono::milliseconds(200));
    CHECK(c.providers[0].mock.tokens_per_second == 50);
    CHECK_FALSE(c.providers[0].mock.reply.empty());
    CHECK(c.notices ==
          std::vector<std::string>{
              "provider 'openai' disabled: api_key is empty (set OPENAI_API_KEY)",
              "provider 'anthropic' disabled: api_key is empty (set ANTHROPIC_API_KEY)",
              "provider 'gemini' disabled: api_key is empty (set GEMINI_API_KEY)"});
  }
  SECTION("with OPENAI_API_KEY the openai models appear, priced from the bundled table") {
    auto r = parse_config(text, "switchyard.yaml", env_of({{"OPENAI_API_KEY", "sk-test"}}));
    REQUIRE(errors_of(r).empty());
    const Config& c = r.value();
    REQUIRE(c.find_provider("openai") != nullptr);
    CHECK(c.find_provider("openai")->api_key == "sk-test");
    CHECK(c.find_provider("openai")->base_url == "https://api.openai.com/v1");
    for (const char* name : {"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "o4-mini"}) {
      INFO(name);
      const ModelConfig* m = c.find_model(name);
      REQUIRE(m != nullptr);
      CHECK(m->primary().provider == "openai");
      CHECK(m->primary().price_known);
      CHECK(m->primary().price.input_per_mtok == bundled_prices().at(name).input_per_mtok);
    }
    CHECK(c.find_model("mock-gpt") != nullptr);
    for (const auto& n : c.notices) CHECK(n.find("sk-test") == std::string::npos);
    CHECK(c.notices.size() == 2);  // anthropic and gemini still have no key
  }
  SECTION(
      "with ANTHROPIC_API_KEY and GEMINI_API_KEY their native providers serve Claude and Gemini "
      "models") {
    auto r =
        parse_config(text, "switchyard.yaml",
                     env_of({{"ANTHROPIC_API_KEY", "sk-ant-test"}, {"GEMINI_API_KEY", "g-test"}}));
    REQUIRE(errors_of(r).empty());
    const Config& c = r.value();
    CHECK(c.find_provider("anthropic")->base_url == "https://api.anthropic.com");
    CHECK(c.find_provider("gemini")->base_url ==
          "https://generativelanguage.googleapis.com/v1beta");
    for (const char* name :
         {"claude-sonnet-4-5", "claude-haiku-4-5", "gemini-2.5-flash", "gemini-2.5-pro"}) {
      INFO(name);
      const ModelConfig* m = c.find_model(name);
      REQUIRE(m != nullptr);
      CHECK(m->primary().price_known);
    }
    CHECK(c.find_model("gpt-4o") == nullptr);  // no OpenAI key
  }
}

TEST_CASE("config: ConfigError::to_string", "[config]") {
  CHECK(ConfigError{"a.yaml", 3, "boom"}.to_string() == "a.yaml:3: boom");
  CHECK(ConfigError{"a.yaml", 0, "boom"}.to_string() == "a.yaml: boom");
}

TEST_CASE(
    "config: azure, anthropic and gemini providers: defaults, required keys and their own settings",
    "[config]") {
  auto ok = parse(R"(
providers:
  - {name: az, type: azure, base_url: "https://res.openai.azure.com/", api_key: k1, api_version: 2025-04-01-preview}
  - {name: an, type: anthropic, api_key: k2, default_max_tokens: 8192}
  - {name: ge, type: gemini, api_key: k3}
models:
  - {name: a, provider: az, model: my-deployment}
  - {name: b, provider: an}
  - {name: c, provider: ge}
)");
  REQUIRE(errors_of(ok).empty());
  CHECK(ok->providers[0].base_url == "https://res.openai.azure.com");
  CHECK(ok->providers[0].api_version == "2025-04-01-preview");
  CHECK(ok->providers[1].base_url == "https://api.anthropic.com");
  CHECK(ok->providers[1].default_max_tokens == 8192);
  CHECK(ok->providers[2].base_url == "https://generativelanguage.googleapis.com/v1beta");

  auto bad = parse(R"(
providers:
  - name: az
    type: azure
    api_key: k
  - name: an
    type: anthropic
  - name: ge
    type: gemini
    api_key: k
    api_version: v1
  - name: op
    type: openai
    api_key: k
    default_max_tokens: 0
models:
  - {name: a, provider: az}
)");
  CHECK(errors_of(bad) == std::vector<std::string>{
                              "switchyard.yaml:2: providers[0]: missing required key 'base_url' "
                              "(required for type azure, e.g. "
                              "https://RESOURCE.openai.azure.com)",
                              "switchyard.yaml:5: providers[1]: missing required key 'api_key' "
                              "(required for type anthropic; or "
                              "mark the provider optional: true)",
                              "switchyard.yaml:10: providers[2].api_version: only valid for a "
                              "provider of type azure, not gemini",
                              "switchyard.yaml:14: providers[3].default_max_tokens: only valid for "
                              "a provider of type anthropic, not "
                              "openai",
                          });
}

TEST_CASE("config: default_max_tokens past any model's limit is refused, not cast", "[config]") {
  // Found by fuzz_config: 1e20 was cast to an integer before its range was checked.
  for (const char* value : {"1e20", "0", "2.5", "-3"}) {
    INFO(value);
    auto r =
        parse(std::string(
                  "providers:\n  - {name: an, type: anthropic, api_key: k, default_max_tokens: ") +
              value + "}\nmodels:\n  - {name: a, provider: an}\n");
    CHECK(errors_of(r) ==
          std::vector<std::string>{"switchyard.yaml:2: providers[0].default_max_tokens: must be a "
                                   "whole number from 1 to 1000000000"});
  }
}

// ---------------------------------------------------------------------------------------------
// Model groups, routing policies and routers (issue 11)

namespace {

// A valid document with every routing key; the tests below vary parts of it.
constexpr std::string_view kRoutingConfig = R"(
routing:
  strategy: least_busy
  retry: {attempts: 2, backoff_ms: 100, max_backoff_ms: 4000, max_retry_after_s: 30, total_timeout_ms: 120000,
          on: [connect, timeout, 429, 500, 502, 503, 504, 529]}
  cooldown: {failures: 3, window_s: 30, duration_s: 60}
  first_token_timeout_ms: 0
  hedge: {after_ms: 1500, max_fraction: 0.1}
  retry_budget: {ratio: 0.2, min_concurrent: 3}
  overrides: {timeout: true, retries: false, fallbacks: true, target: false}
providers:
  - {name: openai, type: openai, api_keys: ["${OPENAI_KEY_A}", "${OPENAI_KEY_B}"]}
  - {name: azure-east, type: azure, base_url: "https://east.openai.azure.com", api_key: k-az}
  - {name: anthropic, type: anthropic, api_key: "${ANTHROPIC_KEY:-}", optional: true,
     health_check: {interval_s: 30, path: /v1/models}}
models:
  - name: gpt-4o
    provider: openai
    model: gpt-4o-2024-08-06
  - name: smart
    strategy: latency
    targets:
      - {provider: openai,     model: gpt-4o,            weight: 3}
      - {provider: azure-east, model: gpt-4o-prod,       weight: 1, rpm: 600, tpm: 200000}
      - {provider: anthropic,  model: claude-sonnet-4-5, tier: 2, price: {input_per_mtok: 2}, reasoning: false}
    fallbacks: [cheap]
    context_window_fallbacks: [long-context]
    retry: {attempts: 3}
    cooldown: {duration_s: 120}
    first_token_timeout_ms: 15000
    hedge: {after_percentile: 95}
  - name: cheap
    targets:
      - {provider: openai, model: gpt-4o-mini}
      - {provider: anthropic, model: claude-haiku-4-5}
    retry: {on: [connect, 503]}
  - {name: long-context, provider: anthropic, model: claude-sonnet-4-5}
routers:
  - name: auto
    rules:
      - when: {max_input_tokens: 2000, tools: false, images: false}
        model: cheap
      - when: {header: {X-Switchyard-Tier: batch}}
        model: gpt-4o
      - when: {protocol: [anthropic_messages, openai_chat], metadata: {team: search}, min_input_tokens: 10}
        model: long-context
      - when: {protocol: openai_responses}
        model: smart
      - model: smart
)";

const Env kRoutingEnv{
    {"OPENAI_KEY_A", "sk-a"}, {"OPENAI_KEY_B", "sk-b"}, {"ANTHROPIC_KEY", "sk-ant"}};

}  // namespace

TEST_CASE("config: model groups, routing defaults and routers are read", "[config][routing]") {
  auto r = parse(kRoutingConfig, kRoutingEnv);
  REQUIRE(errors_of(r).empty());
  const Config& c = r.value();
  CHECK(c.notices == std::vector<std::string>{
                         "model 'smart': target 'azure-east/gpt-4o-prod' has no known price (not "
                         "in the bundled table as 'gpt-4o-prod'): its cost is counted as 0; add "
                         "price: to the target"});

  // routing: the defaults and what is global.
  const RoutingPolicy& d = c.routing.policy;
  CHECK(d.strategy == Strategy::least_busy);
  CHECK(d.retry.attempts == 2);
  CHECK(d.retry.backoff == std::chrono::milliseconds(100));
  CHECK(d.retry.max_backoff == std::chrono::milliseconds(4000));
  CHECK(d.retry.max_retry_after == std::chrono::seconds(30));
  CHECK(d.retry.total_timeout == std::chrono::milliseconds(120000));
  CHECK(d.retry.on.connect);
  CHECK(d.retry.on.timeout);
  CHECK(d.retry.on.statuses == std::vector<int>{429, 500, 502, 503, 504, 529});
  CHECK(d.cooldown.failures == 3);
  CHECK(d.cooldown.window == std::chrono::seconds(30));
  CHECK(d.cooldown.duration == std::chrono::seconds(60));
  CHECK(d.hedge.after == std::chrono::milliseconds(1500));
  CHECK(d.hedge.max_fraction == 0.1);
  CHECK(c.routing.retry_budget.ratio == 0.2);
  CHECK(c.routing.retry_budget.min_concurrent == 3);
  CHECK(c.routing.overrides.timeout);
  CHECK_FALSE(c.routing.overrides.retries);
  CHECK(c.routing.overrides.fallbacks);
  CHECK_FALSE(c.routing.overrides.target);

  // The single-target form: one target, the defaults, but no hedge (nowhere to send it).
  const ModelConfig& single = *c.find_model("gpt-4o");
  REQUIRE(single.targets.size() == 1);
  CHECK(single.primary().provider == "openai");
  CHECK(single.primary().upstream_model == "gpt-4o-2024-08-06");
  CHECK(single.primary().weight == 1);
  CHECK(single.primary().tier == 1);
  CHECK(single.routing.strategy == Strategy::least_busy);
  CHECK(single.routing.retry.attempts == 2);
  CHECK_FALSE(single.routing.hedge.enabled());
  CHECK(single.fallbacks.empty());

  // A group: its targets, and its own keys merged field by field over the defaults.
  const ModelConfig& smart = *c.find_model("smart");
  REQUIRE(smart.targets.size() == 3);
  CHECK(smart.targets[0].provider == "openai");
  CHECK(smart.targets[0].upstream_model == "gpt-4o");
  CHECK(smart.targets[0].weight == 3);
  CHECK(smart.targets[0].price.input_per_mtok == bundled_prices().at("gpt-4o").input_per_mtok);
  CHECK(smart.targets[0].price_known);
  CHECK(smart.targets[1].provider == "azure-east");
  CHECK(smart.targets[1].upstream_model == "gpt-4o-prod");
  CHECK(smart.targets[1].rpm == 600);
  CHECK(smart.targets[1].tpm == 200000);
  CHECK(smart.targets[1].tier == 1);
  CHECK_FALSE(smart.targets[1].price_known);  // an azure deployment name: priced by nobody
  CHECK(smart.targets[2].tier == 2);
  // Its own price over the bundled one, field by field; its own reasoning over the table's.
  CHECK(smart.targets[2].price.input_per_mtok == 2);
  CHECK(smart.targets[2].price.output_per_mtok ==
        bundled_prices().at("claude-sonnet-4-5").output_per_mtok);
  CHECK_FALSE(smart.targets[2].reasoning);
  CHECK(smart.routing.strategy == Strategy::latency);
  CHECK(smart.routing.retry.attempts == 3);
  CHECK(smart.routing.retry.backoff == std::chrono::milliseconds(100));  // kept from routing:
  CHECK(smart.routing.retry.on.statuses == d.retry.on.statuses);
  CHECK(smart.routing.cooldown.duration == std::chrono::seconds(120));
  CHECK(smart.routing.cooldown.failures == 3);
  CHECK(smart.routing.first_token_timeout == std::chrono::milliseconds(15000));
  // after_percentile replaces the inherited after_ms; max_fraction is inherited.
  CHECK(smart.routing.hedge.after_percentile == 95);
  CHECK(smart.routing.hedge.after == std::chrono::milliseconds(0));
  CHECK(smart.routing.hedge.max_fraction == 0.1);
  CHECK(smart.fallbacks == std::vector<std::string>{"cheap"});
  CHECK(smart.context_window_fallbacks == std::vector<std::string>{"long-context"});

  // retry.on replaces the whole list.
  const ModelConfig& cheap = *c.find_model("cheap");
  CHECK(cheap.targets[1].upstream_model == "claude-haiku-4-5");
  CHECK(cheap.targets[1].reasoning);  // from the bundled table, per target
  CHECK(cheap.routing.retry.on.connect);
  CHECK_FALSE(cheap.routing.retry.on.timeout);
  CHECK(cheap.routing.retry.on.statuses == std::vector<int>{503});
  CHECK(cheap.routing.hedge.after == std::chrono::milliseconds(1500));  // two targets: kept

  // Providers: the key pool and the health check.
  const ProviderConfig& openai = *c.find_provider("openai");
  CHECK(openai.api_keys == std::vector<std::string>{"sk-a", "sk-b"});
  CHECK(openai.api_key == "sk-a");
  CHECK(openai.health_check_interval == std::chrono::milliseconds(0));  // off by default
  CHECK(c.find_provider("azure-east")->api_keys == std::vector<std::string>{"k-az"});
  const ProviderConfig& anthropic = *c.find_provider("anthropic");
  CHECK(anthropic.health_check_interval == std::chrono::seconds(30));
  CHECK(anthropic.health_check_path == "/v1/models");

  // Routers: rules in order, header names lowercased, the default last.
  REQUIRE(c.routers.size() == 1);
  const RouterConfig& router = *c.find_router("auto");
  CHECK(router.name == "auto");
  REQUIRE(router.rules.size() == 5);
  CHECK(router.rules[0].model == "cheap");
  CHECK(router.rules[0].when.max_input_tokens == 2000);
  CHECK_FALSE(router.rules[0].when.min_input_tokens.has_value());
  CHECK(router.rules[0].when.tools == false);
  CHECK(router.rules[0].when.images == false);
  CHECK(router.rules[1].when.headers ==
        std::map<std::string, std::string>{{"x-switchyard-tier", "batch"}});
  CHECK(router.rules[2].when.protocols ==
        std::vector<std::string>{"anthropic_messages", "openai_chat"});
  CHECK(router.rules[2].when.metadata == std::map<std::string, std::string>{{"team", "search"}});
  CHECK(router.rules[2].when.min_input_tokens == 10);
  CHECK(router.rules[3].when.protocols == std::vector<std::string>{"openai_responses"});
  CHECK(router.rules[4].model == "smart");
  CHECK_FALSE(router.rules[4].when.tools.has_value());
  CHECK(router.rules[4].when.protocols.empty());
  CHECK(c.find_model("auto") == nullptr);
}

TEST_CASE("config: without routing: every model gets the built-in policy", "[config][routing]") {
  auto r = parse(with_mock("models:\n  - {name: m, provider: mock}\n"));
  REQUIRE(errors_of(r).empty());
  const RoutingPolicy built_in;
  const RoutingPolicy& p = r->models[0].routing;
  CHECK(p.strategy == Strategy::weighted);
  CHECK(p.retry.attempts == built_in.retry.attempts);
  CHECK(p.retry.on.statuses == built_in.retry.on.statuses);
  CHECK(p.cooldown.duration == built_in.cooldown.duration);
  CHECK_FALSE(p.hedge.enabled());
  CHECK(r->routers.empty());
  CHECK(r->routing.retry_budget.ratio == 0.2);
}

TEST_CASE(
    "config: targets on a disabled provider are dropped, and so are references to models "
    "left without one",
    "[config][routing]") {
  auto r = parse(kRoutingConfig, {{"OPENAI_KEY_A", "sk-a"}, {"OPENAI_KEY_B", ""}});
  REQUIRE(errors_of(r).empty());
  const Config& c = r.value();
  CHECK(c.find_provider("anthropic") == nullptr);
  CHECK(c.find_provider("openai")->api_keys == std::vector<std::string>{"sk-a"});
  REQUIRE(c.find_model("smart") != nullptr);
  CHECK(c.find_model("smart")->targets.size() == 2);
  REQUIRE(c.find_model("cheap") != nullptr);
  CHECK(c.find_model("cheap")->targets.size() == 1);
  // One target left: the inherited hedge has nowhere to go.
  CHECK_FALSE(c.find_model("cheap")->routing.hedge.enabled());
  CHECK(c.find_model("long-context") == nullptr);
  CHECK(c.find_model("smart")->context_window_fallbacks.empty());
  CHECK(c.find_model("smart")->fallbacks == std::vector<std::string>{"cheap"});
  REQUIRE(c.find_router("auto") != nullptr);
  CHECK(c.find_router("auto")->rules.size() == 4);  // the long-context rule is gone
  CHECK(c.find_router("auto")->rules[2].model == "smart");
  CHECK(c.notices ==
        std::vector<std::string>{
            "provider 'anthropic' disabled: api_key is empty (set ANTHROPIC_KEY)",
            "model 'smart': target 'azure-east/gpt-4o-prod' has no known price (not in the "
            "bundled table as 'gpt-4o-prod'): its cost is counted as 0; add price: to the target",
            "model 'smart': target 'anthropic/claude-sonnet-4-5' dropped (provider 'anthropic' "
            "is disabled)",
            "model 'cheap': target 'anthropic/claude-haiku-4-5' dropped (provider 'anthropic' is "
            "disabled)",
            "model 'smart': context_window_fallback 'long-context' removed (model "
            "'long-context' has no target left: its providers are disabled)",
            "router 'auto': the rule for 'long-context' removed (model 'long-context' has no "
            "target left)"});
  for (const auto& n : c.notices) CHECK(n.find("sk-a") == std::string::npos);

  SECTION("a group left with no target is dropped, and a router whose default it was") {
    auto g = parse(R"(
providers:
  - {name: mock, type: mock}
  - {name: a, type: openai, api_key: "${A:-}", optional: true}
models:
  - {name: m, provider: mock}
  - name: group
    targets: [{provider: a, model: gpt-4o}]
routers:
  - name: r
    rules:
      - {when: {tools: true}, model: m}
      - {model: group}
)");
    REQUIRE(errors_of(g).empty());
    CHECK(g->find_model("group") == nullptr);
    CHECK(g->find_router("r") == nullptr);
    CHECK(g->notices == std::vector<std::string>{
                            "provider 'a' disabled: api_key is empty (set A)",
                            "model 'group': target 'a/gpt-4o' dropped (provider 'a' is disabled)",
                            "model 'group' dropped: no target is left",
                            "router 'r' dropped: its default model 'group' has no target left"});
  }
}

TEST_CASE("config: api_keys, a provider's key pool", "[config][routing]") {
  const auto provider = [](std::string_view keys, Env env, std::string_view extra = "") {
    return parse("providers:\n  - {name: o, type: openai, api_keys: " + std::string(keys) +
                     std::string(extra) + "}\nmodels:\n  - {name: gpt-4o, provider: o}\n",
                 std::move(env));
  };
  SECTION("empty entries are left out") {
    auto r = provider("[\"${A}\", \"${B}\", k3]", {{"A", "k1"}, {"B", ""}});
    REQUIRE(errors_of(r).empty());
    CHECK(r->providers[0].api_keys == std::vector<std::string>{"k1", "k3"});
    CHECK(r->providers[0].api_key == "k1");
  }
  SECTION("a required provider with no key left is refused, naming the variables") {
    auto r = provider("[\"${A}\", \"${B}\"]", {{"A", ""}, {"B", ""}});
    CHECK(errors_of(r) == std::vector<std::string>{
                              "switchyard.yaml:2: providers[0].api_keys: is empty (set A or B); a "
                              "provider of type openai needs an API key (or mark the provider "
                              "optional: true)"});
    CHECK(errors_of(provider("[]", {})) ==
          std::vector<std::string>{"switchyard.yaml:2: providers[0].api_keys: is empty; a "
                                   "provider of type openai needs an API key (or mark the "
                                   "provider optional: true)"});
  }
  SECTION("an unset variable in a required provider's pool is an error") {
    auto r = provider("[\"${A}\", \"${B}\"]", {{"A", "k1"}});
    CHECK(errors_of(r) ==
          std::vector<std::string>{
              "switchyard.yaml:2: providers[0].api_keys[1]: environment variable B is not set"});
  }
  SECTION("an optional provider with no key left is disabled") {
    auto r = parse(R"(
providers:
  - {name: mock, type: mock}
  - {name: o, type: openai, optional: true, api_keys: ["${A}", "${B}"]}
models:
  - {name: m, provider: mock}
  - {name: gpt-4o, provider: o}
)",
                   {{"A", ""}});
    REQUIRE(errors_of(r).empty());
    CHECK(r->find_provider("o") == nullptr);
    CHECK(r->find_model("gpt-4o") == nullptr);
    CHECK(r->notices ==
          std::vector<std::string>{"provider 'o' disabled: api_keys is empty (set A or B)"});
  }
  SECTION("api_key and api_keys together are refused; no message repeats a key") {
    auto r = provider("[sk-one]", {}, ", api_key: sk-two");
    CHECK(errors_of(r) ==
          std::vector<std::string>{"switchyard.yaml:2: providers[0]: api_key and api_keys are "
                                   "exclusive (list every key under api_keys)"});
    auto scalar = provider("sk-secret-1", {});
    CHECK(errors_of(scalar) ==
          std::vector<std::string>{
              "switchyard.yaml:2: providers[0].api_keys: expected a sequence of keys such as "
              "[${KEY_A}, ${KEY_B}], got a single value (use api_key for one key)"});
    auto nested = provider("[[sk-secret-2]]", {});
    CHECK(errors_of(nested) ==
          std::vector<std::string>{"switchyard.yaml:2: providers[0].api_keys[0]: expected a "
                                   "string, got a sequence"});
  }
}

TEST_CASE("config: health checks", "[config][routing]") {
  auto r = parse(R"(
providers:
  - {name: a, type: mock, health_check: {interval_s: 0, path: models}}
  - {name: b, type: mock, health_check: {path: /x, every: 3}}
  - {name: c, type: mock, health_check: {interval_s: 5}}
models:
  - {name: m, provider: c}
)");
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:2: providers[0].health_check.interval_s: must be between 1 and "
            "3153600000, got 0",
            "switchyard.yaml:2: providers[0].health_check.path: must start with '/' (relative to "
            "base_url, e.g. /models), got 'models'",
            "switchyard.yaml:3: providers[1].health_check: unknown key 'every'",
            "switchyard.yaml:3: providers[1].health_check: missing required key 'interval_s' "
            "(seconds between two checks)",
        });
  auto ok = parse(R"(
providers:
  - {name: c, type: mock, health_check: {interval_s: 5}}
models:
  - {name: m, provider: c}
)");
  REQUIRE(errors_of(ok).empty());
  CHECK(ok->providers[0].health_check_interval == std::chrono::seconds(5));
  CHECK(ok->providers[0].health_check_path == "/models");
}
TEST_CASE(
    "config: routing: values out of range, unknown strategies and retry conditions are refused",
    "[config][routing]") {
  auto r = parse(R"(
routing:
  strategy: latncy
  retry: {attempts: 0, backoff_ms: -1, max_retry_after_s: -1, total_timeout_ms: 0, on: [connect, timeot, 399, 600, 503]}
  cooldown: {failures: 0, window_s: 0, duration_s: 0}
  first_token_timeout_ms: -1
  hedge: {after_ms: 100, after_percentile: 50, max_fraction: 0}
  retry_budget: {ratio: 1.5, min_concurrent: -1}
  overrides: {timeout: maybe, retry: true}
  strategi: x
providers:
  - {name: mock, type: mock}
models:
  - {name: m, provider: mock}
)");
  CHECK(
      errors_of(r) ==
      std::vector<std::string>{
          "switchyard.yaml:2: routing.strategy: unknown strategy 'latncy' (did you mean "
          "'latency'?) (expected weighted, least_busy, latency, cost or ordered)",
          "switchyard.yaml:3: routing.retry.attempts: must be between 1 and 100, got 0",
          "switchyard.yaml:3: routing.retry.backoff_ms: must be 0 or more, got -1",
          "switchyard.yaml:3: routing.retry.max_retry_after_s: must be between 0 and 3153600000, "
          "got -1",
          "switchyard.yaml:3: routing.retry.total_timeout_ms: must be at least 1, got 0",
          "switchyard.yaml:3: routing.retry.on[1]: unknown retry condition 'timeot' (did you mean "
          "'timeout'?) (expected connect, timeout or an HTTP status from 400 to 599)",
          "switchyard.yaml:3: routing.retry.on[2]: unknown retry condition '399' (expected "
          "connect, timeout or an HTTP status from 400 to 599)",
          "switchyard.yaml:3: routing.retry.on[3]: unknown retry condition '600' (expected "
          "connect, timeout or an HTTP status from 400 to 599)",
          "switchyard.yaml:4: routing.cooldown.failures: must be between 1 and 1000000, got 0",
          "switchyard.yaml:4: routing.cooldown.window_s: must be between 1 and 3153600000, got 0",
          "switchyard.yaml:4: routing.cooldown.duration_s: must be between 1 and 3153600000, got 0",
          "switchyard.yaml:5: routing.first_token_timeout_ms: must be 0 or more, got -1",
          "switchyard.yaml:6: routing.hedge: after_ms and after_percentile are exclusive (hedge "
          "after a fixed delay or after a percentile of the recent time to first token)",
          "switchyard.yaml:6: routing.hedge.max_fraction: must be greater than 0 and at most 1, "
          "got '0'",
          "switchyard.yaml:7: routing.retry_budget.ratio: must be between 0 and 1, got '1.5'",
          "switchyard.yaml:7: routing.retry_budget.min_concurrent: must be between 0 and 1000000, "
          "got -1",
          "switchyard.yaml:8: routing.overrides: unknown key 'retry'",
          "switchyard.yaml:8: routing.overrides.timeout: expected true or false, got 'maybe'",
          "switchyard.yaml:9: routing: unknown key 'strategi' (did you mean 'strategy'?)",
      });
}

TEST_CASE("config: model groups: exclusive keys, empty and duplicate targets, limits, hedges",
          "[config][routing]") {
  auto r = parse(R"(
providers:
  - {name: mock, type: mock}
  - {name: other, type: mock}
models:
  - name: both
    provider: mock
    targets: [{provider: mock}]
  - name: empty
    targets: []
  - name: bad-targets
    targets:
      - {provider: mock, weight: 0, tier: 0, rpm: -1, tpm: -5}
      - {provider: other, weight: heavy}
      - {provider: mock, model: bad-targets}
      - {provider: mok, wieght: 2}
      - just-a-name
  - name: single-hedge
    provider: mock
    hedge: {after_ms: 10}
  - name: pct
    targets: [{provider: mock}, {provider: other}]
    hedge: {after_percentile: 100, max_fraction: 1.5}
    retry: {backoff_ms: 5000}
  - name: caps
    targets: [{provider: mock}, {provider: other}]
    retry: {backoff_ms: 500, max_backoff_ms: 200}
    strategy: fastest
)");
  CHECK(
      errors_of(r) ==
      std::vector<std::string>{
          "switchyard.yaml:6: models[0]: 'provider' and 'targets' are exclusive (with targets, "
          "each target has its own provider, model, price and reasoning)",
          "switchyard.yaml:9: models[1].targets: must list at least one target",
          "switchyard.yaml:12: models[2].targets[0].weight: must be greater than 0, got '0'",
          "switchyard.yaml:12: models[2].targets[0].tier: must be between 1 and 1000, got 0",
          "switchyard.yaml:12: models[2].targets[0].rpm: must be 0 or more, got -1",
          "switchyard.yaml:12: models[2].targets[0].tpm: must be 0 or more, got -5",
          "switchyard.yaml:13: models[2].targets[1].weight: expected a number, got 'heavy'",
          "switchyard.yaml:14: models[2].targets[2]: duplicate target: provider 'mock' with model "
          "'bad-targets' is already targets[0]",
          "switchyard.yaml:15: models[2].targets[3]: unknown key 'wieght' (did you mean 'weight'?)",
          "switchyard.yaml:15: models[2].targets[3].provider: unknown provider 'mok' (did you mean "
          "'mock'?)",
          "switchyard.yaml:16: models[2].targets[4]: expected a mapping, got 'just-a-name'",
          "switchyard.yaml:19: models[3].hedge: a hedge needs a second target to go to, and this "
          "model has one (add targets or remove hedge)",
          "switchyard.yaml:22: models[4].hedge.after_percentile: must be between 1 and 99, got 100",
          "switchyard.yaml:22: models[4].hedge.max_fraction: must be greater than 0 and at most 1, "
          "got '1.5'",
          "switchyard.yaml:23: models[4].retry.backoff_ms: must be at most max_backoff_ms (4000), "
          "got 5000",
          "switchyard.yaml:26: models[5].retry.max_backoff_ms: must be at least backoff_ms (500), "
          "got 200",
          "switchyard.yaml:27: models[5].strategy: unknown strategy 'fastest' (expected weighted, "
          "least_busy, latency, cost or ordered)",
      });
}

TEST_CASE("config: a model group has at most 64 targets (the tried set is one 64-bit mask)",
          "[config][routing]") {
  const auto group_of = [](int targets) {
    std::string text = with_mock("models:\n  - name: wide\n    targets:\n");
    for (int i = 0; i < targets; ++i) {
      text += "      - {provider: mock, model: m" + std::to_string(i) + "}\n";
    }
    return parse(text);
  };
  const auto widest = group_of(64);
  REQUIRE(errors_of(widest).empty());
  CHECK(widest.value().models.at(0).targets.size() == 64);
  CHECK(errors_of(group_of(65)) ==
        std::vector<std::string>{"switchyard.yaml:6: models[0].targets: has 65 targets: at most 64 "
                                 "targets per model; split the group"});
}

TEST_CASE(
    "config: fallbacks and routers: unknown, own, cyclic and chained references, rule conditions",
    "[config][routing]") {
  auto r = parse(R"(
providers:
  - {name: mock, type: mock}
models:
  - name: a
    provider: mock
    fallbacks: [b, a, chep, auto, b]
  - name: b
    provider: mock
    context_window_fallbacks: [c]
  - name: c
    provider: mock
    fallbacks: [a]
  - {name: d, provider: mock, fallbacks: d}
routers:
  - name: auto
    rules:
      - {model: a}
      - when: {min_input_tokens: 10, max_input_tokens: 5, tools: maybe, protocol: [openai_chta], color: red}
        model: auto
      - when: {protocol: anthropic, header: {"bad header": x, X-A: "1", x-a: "2"}, metadata: {team: [a]}}
        model: nowhere
      - when: {max_input_tokens: -1}
        model: b
  - name: auto
    rules:
      - model: a
  - name: a
    rules: []
  - name: r3
  - name: r4
    rules: [{model: a}, {when: {tools: true}, model: b}]
)");
  CHECK(
      errors_of(r) ==
      std::vector<std::string>{
          "switchyard.yaml:6: models[0].fallbacks[4]: 'b' is listed twice",
          "switchyard.yaml:6: models[0].fallbacks[1]: a model cannot be its own fallback",
          "switchyard.yaml:6: models[0].fallbacks[2]: unknown model 'chep'",
          "switchyard.yaml:6: models[0].fallbacks[3]: 'auto' is a router, and routers cannot "
          "chain: a fallback names a model",
          "switchyard.yaml:12: models[2].fallbacks[0]: fallback cycle: a -> b -> c -> a",
          "switchyard.yaml:13: models[3].fallbacks: expected a sequence of model names, got 'd'",
          "switchyard.yaml:17: routers[0].rules[0]: a rule without 'when' matches every request, "
          "so the rules after it could never be used (only the last rule, the default, has no "
          "'when')",
          "switchyard.yaml:18: routers[0].rules[1].when: unknown key 'color'",
          "switchyard.yaml:18: routers[0].rules[1].when: min_input_tokens (10) is greater than "
          "max_input_tokens (5): the rule could never match",
          "switchyard.yaml:18: routers[0].rules[1].when.tools: expected true or false, got 'maybe'",
          "switchyard.yaml:18: routers[0].rules[1].when.protocol[0]: unknown protocol "
          "'openai_chta' (did you mean 'openai_chat'?) (expected openai_chat, openai_responses or "
          "anthropic_messages)",
          "switchyard.yaml:19: routers[0].rules[1].model: 'auto' is a router, and routers cannot "
          "chain: a rule names a model",
          "switchyard.yaml:20: routers[0].rules[2].when.protocol: unknown protocol 'anthropic' "
          "(expected openai_chat, openai_responses or anthropic_messages)",
          "switchyard.yaml:20: routers[0].rules[2].when.header: invalid header name 'bad header'",
          "switchyard.yaml:20: routers[0].rules[2].when.header: 'x-a' is given twice",
          "switchyard.yaml:20: routers[0].rules[2].when.metadata.team: expected a string, got a "
          "sequence",
          "switchyard.yaml:21: routers[0].rules[2].model: unknown model 'nowhere'",
          "switchyard.yaml:22: routers[0].rules[3].when.max_input_tokens: must be between 0 and "
          "1000000000000000, got -1",
          "switchyard.yaml:22: routers[0].rules[3]: the last rule is the default and must have no "
          "'when' (add a last rule with only 'model:', used when no other rule matches)",
          "switchyard.yaml:24: duplicate router name 'auto' (first defined at line 15)",
          "switchyard.yaml:27: duplicate name 'a': a model and a router (first defined at line 4)",
          "switchyard.yaml:28: routers[2].rules: must list at least one rule (the last, without "
          "'when', is the default)",
          "switchyard.yaml:29: routers[3]: missing required key 'rules'",
          "switchyard.yaml:31: routers[4].rules[0]: a rule without 'when' matches every request, "
          "so the rules after it could never be used (only the last rule, the default, has no "
          "'when')",
          "switchyard.yaml:31: routers[4].rules[1]: the last rule is the default and must have no "
          "'when' (add a last rule with only 'model:', used when no other rule matches)",
      });
}
TEST_CASE("config: routing names: suggestions, and one namespace for models and routers",
          "[config][routing]") {
  auto r = parse(R"(
routers:
  - name: cheap
    rules: [{model: cheap}]
providers:
  - {name: mock, type: mock}
models:
  - {name: cheap, provider: mock, strategi: ordered}
  - {name: smart, provider: mock, fallbacks: [chep], context_window_fallbacks: [smrat]}
  - name: other
    routers: 1
)");
  CHECK(errors_of(r) ==
        std::vector<std::string>{
            "switchyard.yaml:7: models[0]: unknown key 'strategi' (did you mean 'strategy'?)",
            "switchyard.yaml:7: duplicate name 'cheap': a model and a router (first defined at "
            "line 2)",
            "switchyard.yaml:8: models[1].fallbacks[0]: unknown model 'chep' (did you mean "
            "'cheap'?)",
            "switchyard.yaml:8: models[1].context_window_fallbacks[0]: unknown model 'smrat' "
            "(did you mean 'smart'?)",
            "switchyard.yaml:9: models[2]: missing required key 'provider'",
            "switchyard.yaml:10: models[2]: unknown key 'routers'",
        });
}

TEST_CASE("config: governance: defaults, every key, and authentication off without a master key",
          "[config]") {
  const std::string models = "models:\n  - {name: m, provider: mock}\n";
  auto defaults = parse(with_mock(models));
  REQUIRE(errors_of(defaults).empty());
  const GovernanceConfig& d = defaults.value().governance;
  CHECK_FALSE(d.enabled);
  CHECK_FALSE(d.authentication());
  CHECK(d.database == "switchyard.db");
  CHECK(d.commit_interval == std::chrono::milliseconds(1000));
  CHECK_FALSE(d.free_unpriced_models);
  CHECK(d.default_max_output_tokens == 16384);

  auto full = parse(with_mock(models + R"(
governance:
  master_key: ${SWITCHYARD_MASTER_KEY}
  database: /var/lib/switchyard/ledger.db
  ledger: {commit_interval_ms: 250, queue_rows: 1000}
  unpriced_models: free
  default_max_output_tokens: 8192
  metrics: {max_teams: 20, key_aliases: 5}
)"),
                    {{"SWITCHYARD_MASTER_KEY", "0123456789abcdef0123"}});
  REQUIRE(errors_of(full).empty());
  const GovernanceConfig& g = full.value().governance;
  CHECK(g.enabled);
  CHECK(g.authentication());
  CHECK(g.master_key == "0123456789abcdef0123");
  CHECK(g.database == "/var/lib/switchyard/ledger.db");
  CHECK(g.commit_interval == std::chrono::milliseconds(250));
  CHECK(g.ledger_queue_rows == 1000);
  CHECK(g.free_unpriced_models);
  CHECK(g.default_max_output_tokens == 8192);
  CHECK(g.metrics_max_teams == 20);
  CHECK(g.metrics_max_key_aliases == 5);

  // The variable unset: no key, no error (the start-up notice says authentication is off).
  auto unset = parse(with_mock(models + "governance:\n  master_key: ${SWITCHYARD_MASTER_KEY}\n"));
  REQUIRE(errors_of(unset).empty());
  CHECK(unset.value().governance.enabled);
  CHECK_FALSE(unset.value().governance.authentication());
}

TEST_CASE("config: governance errors name the key and the line", "[config]") {
  const std::string models = "models:\n  - {name: m, provider: mock}\n";
  auto r = parse(with_mock(models + R"(
governance:
  master_key: short
  database: ""
  ledger: {commit_interval_ms: 5, queue: 3}
  unpriced_models: allow
  default_max_output_tokens: 0
  metrics: {max_teams: -1}
  budgets: {}
)"));
  const auto errors = errors_of(r);
  auto has = [&](std::string_view text) {
    return std::any_of(errors.begin(), errors.end(),
                       [&](const std::string& e) { return e.find(text) != std::string::npos; });
  };
  CHECK(has("switchyard.yaml:8: governance.master_key: must be at least 16 characters"));
  CHECK(has("switchyard.yaml:9: governance.database: must name a file"));
  CHECK(has(
      "switchyard.yaml:10: governance.ledger.commit_interval_ms: must be between 10 and 60000"));
  CHECK(has("switchyard.yaml:10: governance.ledger: unknown key 'queue'"));
  CHECK(
      has("switchyard.yaml:11: governance.unpriced_models: expected refuse or free, got 'allow'"));
  CHECK(has("switchyard.yaml:12: governance.default_max_output_tokens: must be between 1"));
  CHECK(has("switchyard.yaml:13: governance.metrics.max_teams: must be between 0 and 10000"));
  CHECK(has("switchyard.yaml:14: governance: unknown key 'budgets'"));
  // The master key's text is never in an error.
  CHECK_FALSE(has("short"));
}

TEST_CASE("config: state: SQLite by default, every key, PostgreSQL and Redis", "[config]") {
  const std::string base = "models:\n  - {name: m, provider: mock}\ngovernance: {}\n";
  auto defaults = parse(with_mock(base));
  REQUIRE(errors_of(defaults).empty());
  const StateConfig& d = defaults.value().state;
  CHECK_FALSE(d.enabled);
  CHECK(d.store == StateConfig::Store::sqlite);
  CHECK(d.redis_url.empty());
  CHECK(d.on_redis_down == StateConfig::OnRedisDown::fail_closed);
  CHECK(d.redis_timeout == std::chrono::milliseconds(50));
  CHECK(d.ledger_spool_directory == "ledger-spool");

  auto full = parse(with_mock(base + R"(
state:
  store: postgres
  postgres: {url: "${SWITCHYARD_DATABASE_URL}", pool: 8}
  redis: {url: "redis://:pw@10.0.0.5:6380/2", timeout_ms: 20}
  on_redis_down: fail_open
  replica_id: gw-a.1
  ledger_spool: {directory: /var/lib/switchyard/spool, max_mb: 64}
)"),
                    {{"SWITCHYARD_DATABASE_URL", "postgresql://sy:secret@db:5432/switchyard"}});
  REQUIRE(errors_of(full).empty());
  const StateConfig& s = full.value().state;
  CHECK(s.enabled);
  CHECK(s.store == StateConfig::Store::postgres);
  CHECK(s.postgres_url == "postgresql://sy:secret@db:5432/switchyard");
  CHECK(s.postgres_pool == 8);
  CHECK(s.redis_url == "redis://:pw@10.0.0.5:6380/2");
  CHECK(s.redis_timeout == std::chrono::milliseconds(20));
  CHECK(s.on_redis_down == StateConfig::OnRedisDown::fail_open);
  CHECK(s.replica_id == "gw-a.1");
  CHECK(s.ledger_spool_directory == "/var/lib/switchyard/spool");
  CHECK(s.ledger_spool_max_bytes == 64ull << 20);
  CHECK(full.value().notices.empty());

  // PostgreSQL without Redis works, and says loudly what it means for several replicas.
  auto no_redis =
      parse(with_mock(base + "state: {store: postgres, postgres: {url: postgres://h/db}}\n"));
  REQUIRE(errors_of(no_redis).empty());
  const auto& notices = no_redis.value().notices;
  CHECK(std::any_of(notices.begin(), notices.end(), [](const std::string& n) {
    return n.find("N replicas allow up to N times each budget and limit") != std::string::npos;
  }));

  // A template (deploy/kubernetes' ConfigMap): the store and the URLs from variables that may
  // be unset. Unset, it is one SQLite process with no Redis; set, the shared store.
  const std::string templated = base + R"(
state:
  store: ${SWITCHYARD_STATE_STORE:-sqlite}
  postgres: {url: "${SWITCHYARD_DATABASE_URL:-}"}
  redis: {url: "${SWITCHYARD_REDIS_URL:-}"}
)";
  auto unset = parse(with_mock(templated));
  REQUIRE(errors_of(unset).empty());
  CHECK(unset.value().state.store == StateConfig::Store::sqlite);
  CHECK(unset.value().state.postgres_url.empty());
  CHECK(unset.value().state.redis_url.empty());
  auto set = parse(with_mock(templated), {{"SWITCHYARD_STATE_STORE", "postgres"},
                                          {"SWITCHYARD_DATABASE_URL", "postgres://h/db"},
                                          {"SWITCHYARD_REDIS_URL", "redis://cache:6379/0"}});
  REQUIRE(errors_of(set).empty());
  CHECK(set.value().state.store == StateConfig::Store::postgres);
  CHECK(set.value().state.redis_url == "redis://cache:6379/0");
  // The store chosen without its URL: the error says which one is missing.
  auto half = parse(with_mock(templated), {{"SWITCHYARD_STATE_STORE", "postgres"}});
  CHECK(errors_of(half) == std::vector<std::string>{
                               "switchyard.yaml:10: state.postgres.url: store: postgres needs the "
                               "database's URL (for example \"${SWITCHYARD_DATABASE_URL}\")"});
}

TEST_CASE("config: state errors name the key and never repeat a URL", "[config]") {
  const std::string base = "models:\n  - {name: m, provider: mock}\n";
  auto r = parse(with_mock(base + R"(governance: {}
state:
  store: mysql
  postgres: {url: "mysql://root:hunter2@db/x", pool: 0}
  redis: {url: "rediss://:hunter3@cache:6379", timeout_ms: 0}
  on_redis_down: ignore
  replica_id: "two words"
  ledger_spool: {directory: ""}
  shards: 3
)"));
  const auto errors = errors_of(r);
  auto has = [&](std::string_view text) {
    return std::any_of(errors.begin(), errors.end(),
                       [&](const std::string& e) { return e.find(text) != std::string::npos; });
  };
  CHECK(has("switchyard.yaml:8: state.store: expected sqlite or postgres, got 'mysql'"));
  CHECK(has("switchyard.yaml:9: state.postgres.url: expected a postgresql://"));
  CHECK(has("switchyard.yaml:9: state.postgres.pool: must be between 1 and 64"));
  CHECK(has("switchyard.yaml:10: state.redis.url: TLS to Redis (rediss://) is not supported yet"));
  CHECK(has("switchyard.yaml:10: state.redis.timeout_ms: must be between 1 and 10000"));
  CHECK(has("switchyard.yaml:11: state.on_redis_down: expected fail_closed or fail_open"));
  CHECK(has("switchyard.yaml:12: state.replica_id: must be 1 to 64 letters"));
  CHECK(has("switchyard.yaml:13: state.ledger_spool.directory: must name a directory"));
  CHECK(has("switchyard.yaml:14: state: unknown key 'shards'"));
  CHECK_FALSE(has("hunter"));

  auto missing_url = parse(with_mock(base + "governance: {}\nstate: {store: postgres}\n"));
  CHECK(errors_of(missing_url) ==
        std::vector<std::string>{"switchyard.yaml:7: state.postgres.url: store: postgres needs the "
                                 "database's URL (for example \"${SWITCHYARD_DATABASE_URL}\")"});
  auto no_governance = parse(with_mock(base + "state: {store: sqlite}\n"));
  CHECK(errors_of(no_governance) ==
        std::vector<std::string>{"switchyard.yaml:6: state: is where governance keeps its keys, "
                                 "budgets and ledger: add a governance section, or remove this "
                                 "one"});
}

TEST_CASE("config: tracing: off by default, every key, and the standard path added", "[config]") {
  const std::string models = "models:\n  - {name: m, provider: mock}\n";
  auto defaults = parse(with_mock(models));
  REQUIRE(errors_of(defaults).empty());
  CHECK_FALSE(defaults.value().tracing.enabled);

  auto full = parse(with_mock(models + R"(
tracing:
  endpoint: http://otel-collector:4318
  headers: {authorization: "Bearer ${OTLP_TOKEN}"}
  service_name: gateway-eu
  resource_attributes: {deployment.environment.name: prod}
  sample_ratio: 0.25
  queue_spans: 100
  batch_spans: 50
  export_interval_ms: 2000
  export_timeout_ms: 3000
)"),
                    {{"OTLP_TOKEN", "t0ken"}});
  REQUIRE(errors_of(full).empty());
  const TracingConfig& t = full.value().tracing;
  CHECK(t.enabled);
  CHECK(t.endpoint == "http://otel-collector:4318/v1/traces");  // no path: the standard one
  CHECK(t.headers.at("authorization") == "Bearer t0ken");
  CHECK(t.service_name == "gateway-eu");
  CHECK(t.resource_attributes.at("deployment.environment.name") == "prod");
  CHECK(t.sample_ratio == 0.25);
  CHECK(t.queue_spans == 100);
  CHECK(t.batch_spans == 50);
  CHECK(t.export_interval == std::chrono::milliseconds(2000));
  CHECK(t.export_timeout == std::chrono::milliseconds(3000));

  // A path given is kept as it is (a collector behind a prefix).
  auto path =
      parse(with_mock(models + "tracing: {endpoint: \"http://127.0.0.1:4318/otlp/v1/traces/\"}\n"));
  REQUIRE(errors_of(path).empty());
  CHECK(path.value().tracing.endpoint == "http://127.0.0.1:4318/otlp/v1/traces");
  CHECK(path.value().tracing.sample_ratio == 1.0);
}

TEST_CASE("config: tracing errors name the key and the line", "[config]") {
  const std::string models = "models:\n  - {name: m, provider: mock}\n";
  auto r = parse(with_mock(models + R"(
tracing:
  endpoint: https://collector.example:4318
  sample_ratio: 1.5
  queue_spans: 0
  service_name: ""
  exporter: otlp
)"));
  const auto errors = errors_of(r);
  auto has = [&](std::string_view text) {
    return std::any_of(errors.begin(), errors.end(),
                       [&](const std::string& e) { return e.find(text) != std::string::npos; });
  };
  CHECK(has("switchyard.yaml:8: tracing.endpoint: https collectors are not supported yet"));
  CHECK(has("switchyard.yaml:9: tracing.sample_ratio: must be between 0 and 1"));
  CHECK(has("switchyard.yaml:10: tracing.queue_spans: must be between 1"));
  CHECK(has("switchyard.yaml:11: tracing.service_name: must not be empty"));
  CHECK(has("switchyard.yaml:12: tracing: unknown key 'exporter'"));
  auto missing = parse(with_mock(models + "tracing: {service_name: x}\n"));
  CHECK(errors_of(missing).size() == 1);
  CHECK(errors_of(missing).at(0).find("tracing: missing required key 'endpoint'") !=
        std::string::npos);
  auto ftp = parse(with_mock(models + "tracing: {endpoint: \"ftp://x\"}\n"));
  CHECK(errors_of(ftp).at(0).find("must start with http://") != std::string::npos);
}

TEST_CASE("config: listener tls: both files, resolved beside the config file", "[config]") {
  const std::string models = "models:\n  - {name: m, provider: mock}\n";
  auto plain = parse(with_mock(models));
  REQUIRE(errors_of(plain).empty());
  CHECK_FALSE(plain.value().server.tls);

  auto tls =
      parse(with_mock(models + "tls: {cert_file: certs/server.pem, key_file: /etc/k.pem}\n"));
  REQUIRE(errors_of(tls).empty());
  REQUIRE(tls.value().server.tls);
  // "switchyard.yaml" has no directory part: a relative path stays as written.
  CHECK(tls.value().server.tls->cert_file == "certs/server.pem");
  CHECK(tls.value().server.tls->key_file == "/etc/k.pem");

  // Relative paths are read beside the config file, as prices_file is; substitution applies.
  auto beside = parse_config(
      with_mock(models + "tls:\n  cert_file: ${CERT_DIR}/chain.pem\n  key_file: key.pem\n"),
      "/etc/switchyard/switchyard.yaml", env_of({{"CERT_DIR", "certs"}}));
  REQUIRE(errors_of(beside).empty());
  REQUIRE(beside.value().server.tls);
  CHECK(beside.value().server.tls->cert_file == "/etc/switchyard/certs/chain.pem");
  CHECK(beside.value().server.tls->key_file == "/etc/switchyard/key.pem");
}

TEST_CASE("config: listener tls errors name the key and the line", "[config]") {
  const std::string models = "models:\n  - {name: m, provider: mock}\n";
  auto has = [](const std::vector<std::string>& errors, std::string_view text) {
    return std::any_of(errors.begin(), errors.end(),
                       [&](const std::string& e) { return e.find(text) != std::string::npos; });
  };
  const auto not_map = errors_of(parse(with_mock(models + "tls: server.pem\n")));
  CHECK(has(not_map, "switchyard.yaml:6: tls: expected a mapping, got 'server.pem'"));
  const auto empty = errors_of(parse(with_mock(models + "tls:\n")));
  CHECK(has(empty, "switchyard.yaml:6: tls: expected a mapping, got nothing"));

  const auto missing = errors_of(parse(with_mock(models + "tls: {cert_file: a.pem}\n")));
  CHECK(has(missing, "switchyard.yaml:6: tls: missing required key 'key_file'"));
  const auto no_cert = errors_of(parse(with_mock(models + "tls: {key_file: k.pem}\n")));
  CHECK(has(no_cert, "switchyard.yaml:6: tls: missing required key 'cert_file'"));

  auto r = parse(with_mock(models + R"(
tls:
  cert_file: ""
  key_file: [k.pem]
  ciphers: HIGH
)"));
  const auto errors = errors_of(r);
  CHECK(has(errors, "switchyard.yaml:8: tls.cert_file: must be the path of the PEM certificate"));
  CHECK(has(errors, "switchyard.yaml:9: tls.key_file: expected a string, got a sequence"));
  CHECK(has(errors, "switchyard.yaml:10: tls: unknown key 'ciphers'"));

  const auto typo = errors_of(parse(with_mock(models + "tsl: {cert_file: a, key_file: b}\n")));
  CHECK(has(typo, "unknown key 'tsl' (did you mean 'tls'?)"));
}
