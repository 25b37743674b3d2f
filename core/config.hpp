#pragma once
// The gateway's configuration: YAML with ${VAR} / ${VAR:-default} substitution, validated
// strictly (unknown keys, wrong types, dangling references, duplicates) so a typo fails at
// start-up with the file, line and what is wrong.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/routing_config.hpp"
#include "core/usage.hpp"

namespace switchyard::core {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when the error is not tied to a line
  std::string message;
  std::string to_string() const;  // "file:line: message"
};

// Settings of the in-process mock provider (type: mock).
struct MockSettings {
  std::chrono::milliseconds time_to_first_token{200};
  double tokens_per_second = 50;
  std::string reply = "Hello from the Switchyard mock provider.";
};

struct ProviderConfig {
  std::string name;
  // "openai", "openai_compatible", "azure", "anthropic", "gemini", "mock"
  std::string type;
  std::string base_url;  // e.g. https://api.openai.com/v1 (no trailing slash after loading)
  std::string api_key;   // the first of api_keys, or empty; never logged
  // The key pool: several keys share the provider's load; one answered 401/403 or 429 is
  // benched while the others carry on. Empty for openai_compatible and mock without keys.
  std::vector<std::string> api_keys;
  std::map<std::string, std::string> headers;  // extra headers sent upstream
  std::chrono::milliseconds connect_timeout{5000};
  // Until the upstream's response head: for an answer that is not streamed, the whole
  // generation. 10 minutes, the default request timeout of the OpenAI and Anthropic SDKs.
  std::chrono::milliseconds first_byte_timeout{600000};
  // Silence allowed between two reads of a response body. 5 minutes, what Codex waits on a
  // silent stream (stream_idle_timeout_ms) and more than a long thinking phase takes; the
  // client is kept waiting with keep-alives meanwhile (ServerConfig::stream_keepalive).
  std::chrono::milliseconds idle_timeout{300000};
  std::string ca_file;  // extra CA bundle to trust (PEM); empty = system store only
  std::string api_version = "2024-10-21";  // azure: the api-version query parameter
  // anthropic: max_tokens is required there; used when the client did not send one.
  std::int64_t default_max_tokens = 4096;
  MockSettings mock;  // only for type mock
  // Active health checks: a GET of `health_check_path` (relative to base_url) every
  // interval; a failure cools every target on this provider down. 0: off (the default).
  std::chrono::milliseconds health_check_interval{0};
  std::string health_check_path = "/models";
};

// A model clients can name: one target (the single-target form) or a group of targets with
// a strategy, retries, fallbacks and the rest of its routing policy.
struct ModelConfig {
  std::string name;                    // what clients send as "model"
  std::vector<TargetConfig> targets;   // at least one
  RoutingPolicy routing;               // `routing:` defaults with this model's overrides
  std::vector<std::string> fallbacks;  // other model names, tried in order after every target
  std::vector<std::string> context_window_fallbacks;  // on a context-length error only

  const TargetConfig& primary() const { return targets.front(); }
};

// TLS on the client-facing listener: the certificate chain (PEM, the server's certificate
// first) and its private key (PEM), both resolved against the config file's directory. Read
// when the route table is built, so a reload picks up a rotated certificate.
struct ListenerTls {
  std::string cert_file;
  std::string key_file;
  bool operator==(const ListenerTls&) const = default;
};

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 4000;
  int workers = 0;  // 0 = one per core
  std::size_t max_body_bytes = 32u << 20;
  std::size_t max_header_bytes = 64u << 10;  // a request's header, and a chunked body's trailers
  // The longest SSE line or event held from an upstream stream; past it the stream ends
  // with the client's in-band error.
  std::size_t max_upstream_event_bytes = 4u << 20;
  // The largest upstream answer read whole (answers to translate). Pass-through answers are
  // relayed as they arrive, whatever their size.
  std::size_t max_upstream_body_bytes = 32u << 20;
  std::chrono::milliseconds read_timeout{60000};       // header and body of a request
  std::chrono::milliseconds keepalive_timeout{75000};  // idle between requests
  std::chrono::milliseconds drain_timeout{30000};
  // After this much silence from the upstream on a stream already under way, the client
  // gets its protocol's keep-alive (an SSE comment; Anthropic's ping event), so clients
  // with idle watchdogs keep waiting. 0: never.
  std::chrono::milliseconds stream_keepalive{15000};
  std::string access_log = "stdout";  // "stdout", "off", or a file path
  // Clients connect with TLS when set; plain HTTP otherwise. Applies to new connections on a
  // reload.
  std::optional<ListenerTls> tls;
};

// Client authentication, budgets, limits and the spend ledger (issue 12). The keys and teams
// themselves are made through the admin API and kept in the database, not here.
struct GovernanceConfig {
  // The config has a governance section: the store (keys, teams, the ledger) is opened. Without
  // one the gateway keeps nothing on disk and lets every request through, as before.
  bool enabled = false;
  // Administers the gateway; when set, every model request needs a virtual key. Empty: client
  // authentication is off and the gateway says so at start-up. Never logged.
  std::string master_key;
  std::string database = "switchyard.db";           // SQLite, relative to the working directory
  std::chrono::milliseconds commit_interval{1000};  // ledger rows are committed this often
  std::size_t ledger_queue_rows = 65536;            // rows pending per worker; past it, dropped
  // A key with a budget cannot use a model without a known price, unless unpriced models are
  // declared free (unpriced_models: free).
  bool free_unpriced_models = false;
  // What a request that names no max_tokens reserves for its output.
  std::int64_t default_max_output_tokens = 16384;
  std::size_t metrics_max_teams = 100;      // teams with a label of their own; the rest "other"
  std::size_t metrics_max_key_aliases = 0;  // key aliases as labels (0: none)

  bool authentication() const { return !master_key.empty(); }
};

// Where governance keeps what several replicas of the gateway share (issue 14). Without a
// state section: the SQLite file of governance.database, and every budget and limit counted by
// this process alone.
struct StateConfig {
  bool enabled = false;  // the config has a state section
  enum class Store { sqlite, postgres } store = Store::sqlite;
  std::string postgres_url;  // postgres:// or postgresql://; may hold a password: never logged
  std::size_t postgres_pool = 4;
  // redis://[[user]:password@]host[:port][/db]. Empty: no Redis, so budgets and limits are
  // this process's own (with several replicas, each would allow the whole of them).
  std::string redis_url;
  std::chrono::milliseconds redis_timeout{50};
  // When Redis cannot answer within redis_timeout: fail_closed refuses a request that has a
  // budget or limit (503, with Retry-After); fail_open admits it against this replica's own
  // counters, at the limit divided by the replicas alive, and reconciles nothing later.
  enum class OnRedisDown { fail_closed, fail_open } on_redis_down = OnRedisDown::fail_closed;
  std::string replica_id;  // empty: the host name, the process id and a random suffix
  // Where ledger batches wait while PostgreSQL is away (relative to the working directory),
  // and how much they may take there; past it, batches are dropped and counted.
  std::string ledger_spool_directory = "ledger-spool";
  std::uint64_t ledger_spool_max_bytes = 256ull << 20;
};

// OpenTelemetry traces (issue 13): off unless the config has a tracing section. A span per
// model request and one per upstream attempt, exported in batches over OTLP/HTTP JSON by a
// background thread; a slow or dead collector loses spans (counted), never time.
struct TracingConfig {
  bool enabled = false;
  std::string endpoint;  // http://host:port/v1/traces (the collector's OTLP/HTTP traces URL)
  std::map<std::string, std::string> headers;  // sent with each export (often a credential)
  std::string service_name = "switchyard";     // resource attribute service.name
  std::map<std::string, std::string> resource_attributes;
  // The share of requests without a sampled parent that are traced. A client's traceparent
  // decides for its own trace (its sampled flag), as OpenTelemetry's parent-based sampler does.
  double sample_ratio = 1.0;
  std::size_t queue_spans = 4096;  // requests waiting for export, per worker; past it, dropped
  std::size_t batch_spans = 512;   // requests per export (each with its attempts' spans)
  std::chrono::milliseconds export_interval{1000};
  std::chrono::milliseconds export_timeout{5000};  // connect, send and answer, per export
};

struct Config {
  ServerConfig server;
  GovernanceConfig governance;
  StateConfig state;
  TracingConfig tracing;
  std::vector<ProviderConfig> providers;
  std::vector<ModelConfig> models;
  std::vector<RouterConfig> routers;  // virtual models that pick a model per request
  RoutingDefaults routing;
  std::vector<std::string> notices;  // non-fatal facts worth logging (e.g. a disabled provider)

  const ProviderConfig* find_provider(std::string_view name) const;
  const ModelConfig* find_model(std::string_view name) const;
  const RouterConfig* find_router(std::string_view name) const;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
// Reads a file the config names (prices_file): its content, or nullopt when it cannot be read.
// Core does no I/O; the caller does it here.
using FileReader = std::function<std::optional<std::string>(const std::string& path)>;

// Parses `text` (the content of `file_name`, used in messages and to resolve relative paths).
// Returns every error found. Without `read_file`, a config naming a prices_file is an error.
Result<Config, std::vector<ConfigError>> parse_config(std::string_view text,
                                                      std::string_view file_name,
                                                      const EnvLookup& env,
                                                      const FileReader& read_file = {});

// The bundled price table (core/data/prices.yaml, compiled in): model id -> price.
const std::map<std::string, Price, std::less<>>& bundled_prices();
// The date the bundled table was last checked, as written in the data file.
std::string_view bundled_prices_date();

// True when the bundled table marks the model (by upstream model name, then by name) as
// accepting reasoning settings.
bool bundled_reasoning(std::string_view upstream, std::string_view name);

}  // namespace switchyard::core
