#include "core/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <span>
#include <system_error>
#include <utility>

#include "core/price_table.hpp"
#include "core/routing.hpp"

namespace switchyard::core {

extern const std::string_view kBundledPricesYaml;  // generated from core/data/prices.yaml

std::string ConfigError::to_string() const {
  if (line > 0) return file + ":" + std::to_string(line) + ": " + message;
  return file + ": " + message;
}

const ProviderConfig* Config::find_provider(std::string_view name) const {
  for (const auto& p : providers)
    if (p.name == name) return &p;
  return nullptr;
}

const ModelConfig* Config::find_model(std::string_view name) const {
  for (const auto& m : models)
    if (m.name == name) return &m;
  return nullptr;
}

const RouterConfig* Config::find_router(std::string_view name) const {
  for (const auto& r : routers)
    if (r.name == name) return &r;
  return nullptr;
}

namespace {

constexpr std::string_view kDefaultOpenAiBaseUrl = "https://api.openai.com/v1";
// Without /v1: the Anthropic path (/v1/messages) is appended, as Anthropic's SDKs do.
constexpr std::string_view kDefaultAnthropicBaseUrl = "https://api.anthropic.com";
constexpr std::string_view kDefaultGeminiBaseUrl =
    "https://generativelanguage.googleapis.com/v1beta";

// ---------------------------------------------------------------------------------------------
// Small text helpers

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string quote(std::string_view s) {
  // Long values are cut so one bad scalar cannot flood the start-up log.
  constexpr std::size_t kMax = 60;
  if (s.size() > kMax) return "'" + std::string(s.substr(0, kMax)) + "...'";
  return "'" + std::string(s) + "'";
}

// Optimal string alignment distance: like Levenshtein, but a swap of two neighbours counts as
// one edit, which is the most common typo ("opneai").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

// " (did you mean 'x'?)" for the closest candidate within two edits, else "".
template <class Range>
std::string did_you_mean(std::string_view word, const Range& candidates) {
  const std::string w = lower(word);
  std::size_t best = 3;
  std::string_view best_name;
  for (const auto& c : candidates) {
    const std::string_view cv(c);
    const std::size_t d = edit_distance(w, lower(cv));
    // A distance as large as the word itself means nothing was shared: not a typo.
    if (d < best && d < cv.size() && d < w.size()) {
      best = d;
      best_name = cv;
    }
  }
  if (best_name.empty()) return "";
  return " (did you mean '" + std::string(best_name) + "'?)";
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

bool is_header_token_char(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string join_path(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

std::string index_path(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

// ---------------------------------------------------------------------------------------------
// Number parsing (after environment substitution, so "${WORKERS:-4}" is an integer too)

std::optional<long long> parse_integer(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> parse_number(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

// "32MiB", "512 KiB", "1048576", "10MB". Binary units are powers of 1024, SI units of 1000.
std::optional<unsigned long long> parse_size(std::string_view s) {
  std::size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  if (digits == 0) return std::nullopt;
  unsigned long long n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + digits, n);
  if (ec != std::errc() || end != s.data() + digits) return std::nullopt;
  std::string_view unit = s.substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  static constexpr std::array<std::pair<std::string_view, unsigned long long>, 8> kUnits{{
      {"", 1},
      {"b", 1},
      {"kb", 1000ull},
      {"kib", 1ull << 10},
      {"mb", 1000ull * 1000},
      {"mib", 1ull << 20},
      {"gb", 1000ull * 1000 * 1000},
      {"gib", 1ull << 30},
  }};
  unsigned long long mult = 0;
  const std::string u = lower(unit);
  for (const auto& [name, m] : kUnits)
    if (u == name) mult = m;
  if (mult == 0) return std::nullopt;
  if (n > std::numeric_limits<unsigned long long>::max() / mult) return std::nullopt;
  return n * mult;
}

std::optional<bool> parse_bool(std::string_view s) {
  const std::string l = lower(s);
  if (l == "true" || l == "yes" || l == "on") return true;
  if (l == "false" || l == "no" || l == "off") return false;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// The walk over the document

struct Context {
  std::string file;
  const EnvLookup& env;
  std::vector<ConfigError> errors;

  void error(int line, std::string_view path, std::string message) {
    if (!path.empty()) message = std::string(path) + ": " + message;
    errors.push_back({file, line, std::move(message)});
  }
};

int line_of(const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    default:
      return "nothing";
  }
}

// Expands ${VAR}, ${VAR:-default} and $$ in one scalar. The names of the variables used are
// appended to `vars` so a message can say which variable to set. A '$' followed by anything
// else stays literal, so prices like "$5" need no escaping. `unset_is_empty` is for the
// api_key of an optional provider, whose point is to run without the variable.
std::optional<std::string> substitute(Context& ctx, int line, std::string_view path,
                                      std::string_view raw, std::vector<std::string>* vars,
                                      bool unset_is_empty = false) {
  std::string out;
  out.reserve(raw.size());
  bool ok = true;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c != '$' || i + 1 >= raw.size() || (raw[i + 1] != '$' && raw[i + 1] != '{')) {
      out += c;
      continue;
    }
    if (raw[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    const std::size_t close = raw.find('}', i + 2);
    if (close == std::string_view::npos) {
      ctx.error(line, path, "unterminated '${' (write '$$' for a literal '$')");
      return std::nullopt;
    }
    std::string_view body = raw.substr(i + 2, close - (i + 2));
    std::optional<std::string_view> fallback;
    if (const auto sep = body.find(":-"); sep != std::string_view::npos) {
      fallback = body.substr(sep + 2);
      body = body.substr(0, sep);
    }
    const bool valid_name = !body.empty() &&
                            !std::isdigit(static_cast<unsigned char>(body.front())) &&
                            std::all_of(body.begin(), body.end(), [](char ch) {
                              return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
                            });
    if (!valid_name) {
      ctx.error(line, path,
                "invalid environment variable reference " + quote(raw.substr(i, close + 1 - i)) +
                    " (expected ${NAME} or ${NAME:-default})");
      ok = false;
      i = close;
      continue;
    }
    const std::string name(body);
    if (vars) vars->push_back(name);
    std::optional<std::string> value = ctx.env ? ctx.env(name) : std::nullopt;
    if (fallback && (!value || value->empty())) {
      out += *fallback;
    } else if (value) {
      out += *value;
    } else if (!unset_is_empty) {
      ctx.error(line, path, "environment variable " + name + " is not set");
      ok = false;
    }
    i = close;
  }
  if (!ok) return std::nullopt;
  return out;
}

// One key of a mapping: its line and its value. Errors about the value use the key's line,
// which is where the reader looks and which exists even when the value is empty.
struct Entry {
  std::string key;
  int line = 0;
  YAML::Node value;
};

// Reads a mapping's keys once, reporting unknown and repeated keys, then serves lookups.
class Fields {
 public:
  Fields(Context& ctx, const YAML::Node& map, std::string path,
         std::span<const std::string_view> known)
      : path_(std::move(path)) {
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;
      const int line = line_of(key);
      if (!key.IsScalar()) {
        ctx.error(line, path_, "expected a key name, got " + describe(key));
        continue;
      }
      const std::string& name = key.Scalar();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        ctx.error(line, path_, "unknown key " + quote(name) + did_you_mean(name, known));
        continue;
      }
      if (const Entry* first = find(name)) {
        ctx.error(line, path_,
                  "duplicate key " + quote(name) + " (first at line " +
                      std::to_string(first->line) + ")");
        continue;
      }
      entries_.push_back({name, line, it->second});
    }
  }

  const Entry* find(std::string_view key) const {
    for (const auto& e : entries_)
      if (e.key == key) return &e;
    return nullptr;
  }

  std::string path_of(const Entry& e) const { return join_path(path_, e.key); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<Entry> entries_;
};

// Typed readers. Each reports its own error and returns nullopt on failure.

std::optional<std::string> read_string(Context& ctx, const Fields& f, const Entry& e,
                                       std::vector<std::string>* vars = nullptr,
                                       bool unset_is_empty = false) {
  // An empty value ("key:") is an empty string: the natural reading of a blank setting.
  if (e.value.IsNull()) return std::string();
  if (!e.value.IsScalar()) {
    ctx.error(e.line, f.path_of(e), "expected a string, got " + describe(e.value));
    return std::nullopt;
  }
  return substitute(ctx, e.line, f.path_of(e), e.value.Scalar(), vars, unset_is_empty);
}

// A scalar after substitution, for the numeric and boolean readers.
std::optional<std::string> read_scalar(Context& ctx, const Fields& f, const Entry& e,
                                       std::string_view expected) {
  if (!e.value.IsScalar()) {
    ctx.error(e.line, f.path_of(e),
              "expected " + std::string(expected) + ", got " + describe(e.value));
    return std::nullopt;
  }
  return substitute(ctx, e.line, f.path_of(e), e.value.Scalar(), nullptr);
}

std::optional<long long> read_integer(Context& ctx, const Fields& f, const Entry& e, long long min,
                                      long long max) {
  const auto text = read_scalar(ctx, f, e, "an integer");
  if (!text) return std::nullopt;
  const auto v = parse_integer(*text);
  if (!v) {
    ctx.error(e.line, f.path_of(e), "expected an integer, got " + quote(*text));
    return std::nullopt;
  }
  if (*v < min || *v > max) {
    const std::string range = min == 0 ? "0 or more" : "at least " + std::to_string(min);
    ctx.error(e.line, f.path_of(e),
              "must be " +
                  (max == std::numeric_limits<long long>::max()
                       ? range
                       : "between " + std::to_string(min) + " and " + std::to_string(max)) +
                  ", got " + std::to_string(*v));
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::milliseconds> read_millis(Context& ctx, const Fields& f, const Entry& e,
                                                     long long min) {
  const auto v = read_integer(ctx, f, e, min, std::numeric_limits<long long>::max());
  if (!v) return std::nullopt;
  return std::chrono::milliseconds(*v);
}

std::optional<double> read_number(Context& ctx, const Fields& f, const Entry& e) {
  const auto text = read_scalar(ctx, f, e, "a number");
  if (!text) return std::nullopt;
  const auto v = parse_number(*text);
  if (!v) {
    ctx.error(e.line, f.path_of(e), "expected a number, got " + quote(*text));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> read_bool(Context& ctx, const Fields& f, const Entry& e) {
  const auto text = read_scalar(ctx, f, e, "true or false");
  if (!text) return std::nullopt;
  const auto v = parse_bool(*text);
  if (!v) ctx.error(e.line, f.path_of(e), "expected true or false, got " + quote(*text));
  return v;
}

std::optional<std::size_t> read_size(Context& ctx, const Fields& f, const Entry& e) {
  const auto text = read_scalar(ctx, f, e, "a size");
  if (!text) return std::nullopt;
  const auto v = parse_size(*text);
  if (!v || *v > std::numeric_limits<std::size_t>::max()) {
    ctx.error(e.line, f.path_of(e),
              "expected a size in bytes such as 1048576, 512KiB or 32MiB, got " + quote(*text));
    return std::nullopt;
  }
  if (*v == 0) {
    ctx.error(e.line, f.path_of(e), "must be greater than 0");
    return std::nullopt;
  }
  return static_cast<std::size_t>(*v);
}

// Bounds for durations in seconds: a century is past any sensible setting, and no product of
// it in milliseconds can overflow.
constexpr long long kMaxSeconds = 3'153'600'000;

bool expect_map(Context& ctx, int line, std::string_view path, const YAML::Node& node) {
  if (node.IsMap()) return true;
  ctx.error(line, path, "expected a mapping, got " + describe(node));
  return false;
}

// ---------------------------------------------------------------------------------------------
// Top-level server settings

// "HOST:PORT" or "[IPv6]:PORT". Port 0 is allowed: tests bind an ephemeral port.
bool parse_listen(std::string_view s, std::string& host, std::uint16_t& port, std::string& why) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    why = "expected HOST:PORT such as 127.0.0.1:4000";
    return false;
  }
  std::string_view h = s.substr(0, colon);
  const std::string_view p = s.substr(colon + 1);
  if (!h.empty() && h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') {
      why = "expected [IPv6]:PORT such as [::1]:4000";
      return false;
    }
    h = h.substr(1, h.size() - 2);
    const bool ok = std::all_of(h.begin(), h.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.' || c == '%';
    });
    if (!ok || h.find(':') == std::string_view::npos) {
      why = "invalid IPv6 address " + quote(h);
      return false;
    }
  } else {
    if (h.empty()) {
      why = "missing host: expected HOST:PORT such as 127.0.0.1:4000 or 0.0.0.0:4000";
      return false;
    }
    if (h.find(':') != std::string_view::npos) {
      why = "IPv6 addresses must be in brackets, e.g. [::1]:4000";
      return false;
    }
    if (!std::all_of(h.begin(), h.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
        })) {
      why = "invalid host " + quote(h);
      return false;
    }
  }
  const auto n = parse_integer(p);
  if (p.empty() ||
      !std::all_of(p.begin(), p.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
      !n || *n > 65535) {
    why = "invalid port " + quote(p) + " (expected 0 to 65535)";
    return false;
  }
  host = std::string(h);
  port = static_cast<std::uint16_t>(*n);
  return true;
}

void read_server(Context& ctx, const Fields& f, ServerConfig& server) {
  if (const Entry* e = f.find("listen")) {
    if (auto s = read_string(ctx, f, *e)) {
      std::string why;
      if (!parse_listen(*s, server.listen_host, server.listen_port, why))
        ctx.error(e->line, "listen", why + ", got " + quote(*s));
    }
  }
  if (const Entry* e = f.find("workers"))
    if (auto v = read_integer(ctx, f, *e, 0, 4096)) server.workers = static_cast<int>(*v);
  if (const Entry* e = f.find("max_body_bytes"))
    if (auto v = read_size(ctx, f, *e)) server.max_body_bytes = *v;
  if (const Entry* e = f.find("max_header_bytes"))
    if (auto v = read_size(ctx, f, *e)) server.max_header_bytes = *v;
  if (const Entry* e = f.find("max_upstream_event_bytes"))
    if (auto v = read_size(ctx, f, *e)) server.max_upstream_event_bytes = *v;
  if (const Entry* e = f.find("max_upstream_body_bytes"))
    if (auto v = read_size(ctx, f, *e)) server.max_upstream_body_bytes = *v;
  if (const Entry* e = f.find("read_timeout_ms"))
    if (auto v = read_millis(ctx, f, *e, 0)) server.read_timeout = *v;
  if (const Entry* e = f.find("keepalive_timeout_ms"))
    if (auto v = read_millis(ctx, f, *e, 0)) server.keepalive_timeout = *v;
  if (const Entry* e = f.find("drain_timeout_ms"))
    if (auto v = read_millis(ctx, f, *e, 0)) server.drain_timeout = *v;
  if (const Entry* e = f.find("stream_keepalive_ms"))
    if (auto v = read_millis(ctx, f, *e, 0)) server.stream_keepalive = *v;
  if (const Entry* e = f.find("access_log")) {
    if (auto s = read_string(ctx, f, *e)) {
      if (s->empty())
        ctx.error(e->line, "access_log", "must be stdout, off or a file path");
      else
        server.access_log = *s;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Providers

constexpr std::array<std::string_view, 6> kProviderTypes{
    "openai", "openai_compatible", "azure", "anthropic", "gemini", "mock"};

// Types whose hosted API refuses requests without a key.
bool needs_api_key(std::string_view type) {
  return type == "openai" || type == "azure" || type == "anthropic" || type == "gemini";
}

// What the model pass needs to know about each declared provider, valid or not, so that a
// provider with an error does not also cause "unknown provider" errors on its models.
struct DeclaredProvider {
  std::string name;
  int line = 0;
  bool disabled = false;
  bool valid = true;
  ProviderConfig config;
};

// Checks an http(s) URL and strips trailing slashes. Returns an explanation on failure.
std::optional<std::string> normalize_base_url(std::string& url) {
  const std::string l = lower(url);
  std::size_t scheme_end = 0;
  if (l.starts_with("https://"))
    scheme_end = 8;
  else if (l.starts_with("http://"))
    scheme_end = 7;
  else
    return "must start with http:// or https://";
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return std::iscntrl(static_cast<unsigned char>(c)) || c == ' '; }))
    return "must not contain spaces or control characters";
  if (url.find_first_of("?#") != std::string::npos) return "must not contain a query or fragment";
  while (url.size() > scheme_end && url.back() == '/') url.pop_back();
  const std::size_t host_end = url.find('/', scheme_end);
  const std::string authority = url.substr(scheme_end, host_end - scheme_end);
  if (authority.empty()) return "has no host";
  if (authority.find('@') != std::string::npos)
    return "must not contain credentials (use api_key or headers)";
  return std::nullopt;
}

void read_mock(Context& ctx, const Entry& e, const std::string& path, MockSettings& mock) {
  static constexpr std::array<std::string_view, 3> kKeys{"ttft_ms", "tokens_per_second", "reply"};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  if (const Entry* x = f.find("ttft_ms"))
    if (auto v = read_millis(ctx, f, *x, 0)) mock.time_to_first_token = *v;
  if (const Entry* x = f.find("tokens_per_second")) {
    if (auto v = read_number(ctx, f, *x)) {
      if (*v <= 0)
        ctx.error(x->line, f.path_of(*x), "must be greater than 0");
      else
        mock.tokens_per_second = *v;
    }
  }
  if (const Entry* x = f.find("reply"))
    if (auto v = read_string(ctx, f, *x)) mock.reply = *v;
}

void read_headers(Context& ctx, const Entry& e, const std::string& path,
                  std::map<std::string, std::string>& headers) {
  if (e.value.IsNull()) return;
  if (!expect_map(ctx, e.line, path, e.value)) return;
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    const int line = line_of(it->first);
    if (!it->first.IsScalar()) {
      ctx.error(line, path, "expected a header name, got " + describe(it->first));
      continue;
    }
    const std::string name = it->first.Scalar();
    const std::string hpath = join_path(path, name);
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_header_token_char)) {
      ctx.error(line, path, "invalid header name " + quote(name));
      continue;
    }
    if (it->second.IsNull()) {
      headers[name] = "";
      continue;
    }
    if (!it->second.IsScalar()) {
      ctx.error(line, hpath, "expected a string, got " + describe(it->second));
      continue;
    }
    auto value = substitute(ctx, line, hpath, it->second.Scalar(), nullptr);
    if (!value) continue;
    // Header values often carry credentials, so the message never repeats the value.
    if (value->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      ctx.error(line, hpath, "header value must not contain CR, LF or NUL");
      continue;
    }
    // Header names are case-insensitive, so "x-team" and "X-Team" would both be sent.
    for (const auto& kv : headers) {
      if (lower(kv.first) == lower(name)) {
        ctx.error(line, path, "header " + quote(name) + " is set twice");
        break;
      }
    }
    headers[name] = *value;
  }
}

// A key pool: each entry substituted like api_key, empty ones dropped. Returns false when an
// entry could not be read. No message quotes an entry: each is a credential.
bool read_api_keys(Context& ctx, const Fields& f, const Entry& e, bool optional,
                   std::vector<std::string>& vars, std::vector<std::string>& keys) {
  if (e.value.IsNull()) return true;
  if (!e.value.IsSequence()) {
    ctx.error(e.line, f.path_of(e),
              e.value.IsScalar() ? "expected a sequence of keys such as [${KEY_A}, ${KEY_B}], got "
                                   "a single value (use api_key for one key)"
                                 : "expected a sequence of keys, got " + describe(e.value));
    return false;
  }
  bool ok = true;
  std::size_t i = 0;
  for (const auto& item : e.value) {
    const std::string item_path = index_path(f.path_of(e), i++);
    const int line = line_of(item) > 0 ? line_of(item) : e.line;
    if (item.IsNull()) continue;
    if (!item.IsScalar()) {
      ctx.error(line, item_path, "expected a string, got " + describe(item));
      ok = false;
      continue;
    }
    auto key = substitute(ctx, line, item_path, item.Scalar(), &vars, optional);
    if (!key) {
      ok = false;
      continue;
    }
    if (!key->empty()) keys.push_back(std::move(*key));
  }
  return ok;
}

void read_health_check(Context& ctx, const Entry& e, const std::string& path, ProviderConfig& p) {
  static constexpr std::array<std::string_view, 2> kKeys{"interval_s", "path"};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  if (const Entry* x = f.find("interval_s")) {
    if (auto v = read_integer(ctx, f, *x, 1, kMaxSeconds))
      p.health_check_interval = std::chrono::seconds(*v);
  } else {
    ctx.error(e.line, path, "missing required key 'interval_s' (seconds between two checks)");
  }
  if (const Entry* x = f.find("path")) {
    if (auto s = read_string(ctx, f, *x)) {
      if (!s->starts_with('/'))
        ctx.error(x->line, f.path_of(*x),
                  "must start with '/' (relative to base_url, e.g. /models), got " + quote(*s));
      else
        p.health_check_path = *s;
    }
  }
}

DeclaredProvider read_provider(Context& ctx, const YAML::Node& node, const std::string& path,
                               std::vector<std::string>& notices) {
  static constexpr std::array<std::string_view, 15> kKeys{"name",
                                                          "type",
                                                          "base_url",
                                                          "api_key",
                                                          "api_keys",
                                                          "health_check",
                                                          "optional",
                                                          "headers",
                                                          "connect_timeout_ms",
                                                          "first_byte_timeout_ms",
                                                          "idle_timeout_ms",
                                                          "ca_file",
                                                          "mock",
                                                          "api_version",
                                                          "default_max_tokens"};
  DeclaredProvider out;
  out.line = line_of(node);
  const std::size_t errors_before = ctx.errors.size();
  if (!node.IsMap()) {
    ctx.error(out.line, path, "expected a mapping, got " + describe(node));
    out.valid = false;
    return out;
  }
  const Fields f(ctx, node, path, kKeys);
  ProviderConfig& p = out.config;

  if (const Entry* e = f.find("name")) {
    out.line = e->line;
    if (auto s = read_string(ctx, f, *e)) {
      if (s->empty() || !std::all_of(s->begin(), s->end(), is_name_char))
        ctx.error(e->line, f.path_of(*e),
                  "invalid provider name " + quote(*s) + " (use letters, digits, '_', '.', '-')");
      else
        out.name = p.name = *s;
    }
  } else {
    ctx.error(out.line, path, "missing required key 'name'");
  }

  bool type_ok = false;
  if (const Entry* e = f.find("type")) {
    if (auto s = read_string(ctx, f, *e)) {
      if (std::find(kProviderTypes.begin(), kProviderTypes.end(), *s) == kProviderTypes.end()) {
        ctx.error(e->line, f.path_of(*e),
                  "unknown provider type " + quote(*s) + did_you_mean(*s, kProviderTypes) +
                      " (expected openai, openai_compatible, azure, anthropic, gemini or mock)");
      } else {
        p.type = *s;
        type_ok = true;
      }
    }
  } else {
    ctx.error(out.line, path, "missing required key 'type'");
  }

  const Entry* url_entry = f.find("base_url");
  if (url_entry) {
    if (auto s = read_string(ctx, f, *url_entry)) {
      std::string url = *s;
      if (auto why = normalize_base_url(url))
        ctx.error(url_entry->line, f.path_of(*url_entry), *why + ", got " + quote(*s));
      else
        p.base_url = url;
    }
  } else if (type_ok && p.type == "openai") {
    p.base_url = kDefaultOpenAiBaseUrl;
  } else if (type_ok && p.type == "anthropic") {
    p.base_url = kDefaultAnthropicBaseUrl;
  } else if (type_ok && p.type == "gemini") {
    p.base_url = kDefaultGeminiBaseUrl;
  } else if (type_ok && (p.type == "openai_compatible" || p.type == "azure")) {
    ctx.error(out.line, path,
              "missing required key 'base_url' (required for type " + p.type +
                  (p.type == "azure" ? ", e.g. https://RESOURCE.openai.azure.com)" : ")"));
  }

  bool optional = false;
  if (const Entry* e = f.find("optional"))
    if (auto v = read_bool(ctx, f, *e)) optional = *v;

  std::vector<std::string> key_vars;
  const Entry* key_entry = f.find("api_key");
  const Entry* pool_entry = f.find("api_keys");
  bool key_readable = true;
  if (key_entry && pool_entry) {
    ctx.error(pool_entry->line, path,
              "api_key and api_keys are exclusive (list every key under api_keys)");
    key_readable = false;
  } else if (pool_entry) {
    key_readable = read_api_keys(ctx, f, *pool_entry, optional, key_vars, p.api_keys);
    if (!p.api_keys.empty()) p.api_key = p.api_keys.front();
  } else if (key_entry) {
    if (auto s = read_string(ctx, f, *key_entry, &key_vars, optional))
      p.api_key = std::move(*s);
    else
      key_readable = false;
  }
  // The entry that held the (missing) keys, for messages: api_keys when that was used.
  const Entry* given_entry = pool_entry ? pool_entry : key_entry;
  const std::string given_name = pool_entry ? "api_keys" : "api_key";
  if (key_readable && p.api_key.empty()) {
    std::string hint;
    for (const auto& v : key_vars) hint += (hint.empty() ? " (set " : " or ") + v;
    if (!hint.empty()) hint += ")";
    if (optional) {
      out.disabled = true;
      if (!out.name.empty())
        notices.push_back("provider '" + out.name + "' disabled: " + given_name + " is " +
                          (given_entry ? "empty" : "not set") + hint);
    } else if (type_ok && needs_api_key(p.type)) {
      if (given_entry)
        ctx.error(given_entry->line, f.path_of(*given_entry),
                  "is empty" + hint + "; a provider of type " + p.type +
                      " needs an API key"
                      " (or mark the provider optional: true)");
      else
        ctx.error(out.line, path,
                  "missing required key 'api_key' (required for type " + p.type +
                      "; or mark the "
                      "provider optional: true)");
    }
  }

  if (!pool_entry && !p.api_key.empty()) p.api_keys.push_back(p.api_key);
  if (const Entry* e = f.find("health_check")) read_health_check(ctx, *e, f.path_of(*e), p);

  if (const Entry* e = f.find("headers")) read_headers(ctx, *e, f.path_of(*e), p.headers);
  if (const Entry* e = f.find("connect_timeout_ms"))
    if (auto v = read_millis(ctx, f, *e, 1)) p.connect_timeout = *v;
  if (const Entry* e = f.find("first_byte_timeout_ms"))
    if (auto v = read_millis(ctx, f, *e, 1)) p.first_byte_timeout = *v;
  if (const Entry* e = f.find("idle_timeout_ms"))
    if (auto v = read_millis(ctx, f, *e, 1)) p.idle_timeout = *v;
  if (const Entry* e = f.find("ca_file")) {
    if (auto s = read_string(ctx, f, *e)) {
      if (s->empty())
        ctx.error(e->line, f.path_of(*e),
                  "must be a file path (omit the key to use only the system store)");
      else
        p.ca_file = *s;
    }
  }
  if (const Entry* e = f.find("api_version")) {
    if (type_ok && p.type != "azure") {
      ctx.error(e->line, f.path_of(*e), "only valid for a provider of type azure, not " + p.type);
    } else if (auto s = read_string(ctx, f, *e)) {
      if (s->empty() || !std::all_of(s->begin(), s->end(), is_name_char))
        ctx.error(e->line, f.path_of(*e),
                  "invalid api_version " + quote(*s) + " (e.g. 2024-10-21)");
      else
        p.api_version = *s;
    }
  }
  if (const Entry* e = f.find("default_max_tokens")) {
    if (type_ok && p.type != "anthropic") {
      ctx.error(e->line, f.path_of(*e),
                "only valid for a provider of type anthropic, not " + p.type);
    } else if (auto v = read_number(ctx, f, *e)) {
      // The range is checked before the cast: casting 1e20 to an integer is undefined.
      if (*v < 1 || *v > 1e9 || *v != static_cast<double>(static_cast<std::int64_t>(*v)))
        ctx.error(e->line, f.path_of(*e), "must be a whole number from 1 to 1000000000");
      else
        p.default_max_tokens = static_cast<std::int64_t>(*v);
    }
  }
  if (const Entry* e = f.find("mock")) {
    if (type_ok && p.type != "mock")
      ctx.error(e->line, f.path_of(*e), "only valid for a provider of type mock, not " + p.type);
    else
      read_mock(ctx, *e, f.path_of(*e), p.mock);
  }

  out.valid = ctx.errors.size() == errors_before;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Models

const Price* bundled_price_of(std::string_view upstream, std::string_view name) {
  const auto& table = bundled_prices();
  if (auto it = table.find(upstream); it != table.end()) return &it->second;
  if (auto it = table.find(name); it != table.end()) return &it->second;
  return nullptr;
}

constexpr std::array<std::string_view, 5> kRateKeys{"input_per_mtok", "output_per_mtok",
                                                    "cached_input_per_mtok", "cache_write_per_mtok",
                                                    "cache_write_1h_per_mtok"};
constexpr std::array<double TokenRates::*, 5> kRateMembers{
    &TokenRates::input_per_mtok, &TokenRates::output_per_mtok, &TokenRates::cached_input_per_mtok,
    &TokenRates::cache_write_per_mtok, &TokenRates::cache_write_1h_per_mtok};
constexpr std::array<std::string_view, 6> kPriceKeys{kRateKeys[0], kRateKeys[1], kRateKeys[2],
                                                     kRateKeys[3], kRateKeys[4], "long_context"};
constexpr std::array<std::string_view, 6> kTierKeys{
    "above_prompt_tokens", kRateKeys[0], kRateKeys[1], kRateKeys[2], kRateKeys[3], kRateKeys[4]};

void read_rates(Context& ctx, const Fields& f, TokenRates& rates) {
  for (std::size_t i = 0; i < kRateKeys.size(); ++i) {
    const Entry* x = f.find(kRateKeys[i]);
    if (!x) continue;
    if (auto v = read_number(ctx, f, *x)) {
      if (*v < 0)
        ctx.error(x->line, f.path_of(*x), "must be 0 or more");
      else
        rates.*kRateMembers[i] = *v;
    }
  }
}

// Reads a price mapping over `price`: the fields it leaves out keep their values, so
// overriding one number does not silently zero the others. `long_context:` left empty removes
// the tier.
void read_price_fields(Context& ctx, const Entry& e, const std::string& path, Price& price) {
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kPriceKeys);
  read_rates(ctx, f, price);
  const Entry* lc = f.find("long_context");
  if (!lc) return;
  if (lc->value.IsNull()) {
    price.long_context.reset();
    return;
  }
  const std::string tier_path = f.path_of(*lc);
  if (!expect_map(ctx, lc->line, tier_path, lc->value)) return;
  const Fields tf(ctx, lc->value, tier_path, kTierKeys);
  LongContextTier tier = price.long_context.value_or(LongContextTier{});
  if (const Entry* t = tf.find("above_prompt_tokens")) {
    if (auto v = read_integer(ctx, tf, *t, 1, kMaxTokenCount)) tier.above_prompt_tokens = *v;
  } else if (!price.long_context) {
    ctx.error(lc->line, tier_path,
              "missing required key 'above_prompt_tokens' (the prompt size past which the tier's "
              "rates apply, e.g. 200000)");
  }
  read_rates(ctx, tf, tier.rates);
  price.long_context = tier;
}

// The directory part of the config's own path, to resolve the paths it names.
std::string resolve_beside(std::string_view config_file, std::string_view path) {
  if (path.starts_with('/')) return std::string(path);
  const auto slash = config_file.rfind('/');
  if (slash == std::string_view::npos) return std::string(path);
  return std::string(config_file.substr(0, slash + 1)) + std::string(path);
}

// `tls: {cert_file, key_file}`: both required. Only the paths are read here; the files are
// opened and checked when the route table is built (proxy/listener_tls), so core stays free
// of OpenSSL and a reload re-reads them.
void read_listener_tls(Context& ctx, const Entry& e, ServerConfig& server) {
  static constexpr std::array<std::string_view, 2> kKeys{"cert_file", "key_file"};
  if (!expect_map(ctx, e.line, "tls", e.value)) return;
  const Fields f(ctx, e.value, "tls", kKeys);
  ListenerTls tls;
  bool complete = true;
  auto read_path = [&](std::string_view key, std::string_view what, std::string& out) {
    const Entry* x = f.find(key);
    if (!x) {
      ctx.error(e.line, "tls",
                "missing required key " + quote(key) + " (the " + std::string(what) + ")");
      complete = false;
      return;
    }
    auto v = read_string(ctx, f, *x);
    if (!v) {
      complete = false;
      return;
    }
    if (v->empty()) {
      ctx.error(x->line, f.path_of(*x), "must be the path of the " + std::string(what));
      complete = false;
      return;
    }
    out = resolve_beside(ctx.file, *v);
  };
  read_path("cert_file", "PEM certificate chain, the server's certificate first", tls.cert_file);
  read_path("key_file", "PEM private key of that certificate", tls.key_file);
  if (complete) server.tls = std::move(tls);
}

// Reads the prices_file the config names, reporting its errors under its own name.
std::optional<PriceFile> read_prices_file(Context& ctx, const Fields& top, const Entry& e,
                                          const FileReader& read_file) {
  const auto path = read_string(ctx, top, e);
  if (!path) return std::nullopt;
  if (path->empty()) {
    ctx.error(e.line, "prices_file",
              "must be the path of a LiteLLM price file (omit the key to use the bundled table)");
    return std::nullopt;
  }
  const std::string resolved = resolve_beside(ctx.file, *path);
  const std::optional<std::string> text = read_file ? read_file(resolved) : std::nullopt;
  if (!text) {
    ctx.error(e.line, "prices_file", "cannot read " + quote(resolved));
    return std::nullopt;
  }
  auto parsed = parse_litellm_price_file(*text, resolved);
  if (!parsed) {
    for (auto& error : parsed.error()) ctx.errors.push_back(std::move(error));
    return std::nullopt;
  }
  return std::move(parsed.value());
}

// ---------------------------------------------------------------------------------------------
// Routing policies: `routing:` gives the defaults, a model's own keys are read over a copy of
// them, so each block changes only the fields it names.

constexpr std::array<std::string_view, 5> kStrategies{"weighted", "least_busy", "latency", "cost",
                                                      "ordered"};
constexpr std::array<Strategy, 5> kStrategyValues{
    Strategy::weighted, Strategy::least_busy, Strategy::latency, Strategy::cost, Strategy::ordered};

void read_strategy(Context& ctx, const Fields& f, const Entry& e, Strategy& strategy) {
  const auto s = read_string(ctx, f, e);
  if (!s) return;
  for (std::size_t i = 0; i < kStrategies.size(); ++i) {
    if (*s == kStrategies[i]) {
      strategy = kStrategyValues[i];
      return;
    }
  }
  ctx.error(e.line, f.path_of(e),
            "unknown strategy " + quote(*s) + did_you_mean(*s, kStrategies) +
                " (expected weighted, least_busy, latency, cost or ordered)");
}

// `on:` replaces the whole list: naming some statuses means exactly those.
void read_retry_on(Context& ctx, const Fields& f, const Entry& e, RetryOn& on) {
  const std::string path = f.path_of(e);
  if (!e.value.IsSequence()) {
    ctx.error(e.line, path,
              "expected a sequence such as [connect, timeout, 429, 503], got " + describe(e.value));
    return;
  }
  static constexpr std::array<std::string_view, 2> kWords{"connect", "timeout"};
  RetryOn out{false, false, {}};
  bool ok = true;
  std::size_t i = 0;
  for (const auto& item : e.value) {
    const std::string item_path = index_path(path, i++);
    const int line = line_of(item) > 0 ? line_of(item) : e.line;
    if (!item.IsScalar()) {
      ctx.error(line, item_path, "expected connect, timeout or a status, got " + describe(item));
      ok = false;
      continue;
    }
    const auto text = substitute(ctx, line, item_path, item.Scalar(), nullptr);
    if (!text) {
      ok = false;
      continue;
    }
    if (*text == "connect") {
      out.connect = true;
    } else if (*text == "timeout") {
      out.timeout = true;
    } else if (const auto status = parse_integer(*text);
               status && *status >= 400 && *status <= 599) {
      if (std::find(out.statuses.begin(), out.statuses.end(), *status) == out.statuses.end())
        out.statuses.push_back(static_cast<int>(*status));
    } else {
      ctx.error(line, item_path,
                "unknown retry condition " + quote(*text) + did_you_mean(*text, kWords) +
                    " (expected connect, timeout or an HTTP status from 400 to 599)");
      ok = false;
    }
  }
  if (ok) on = std::move(out);
}

void read_retry(Context& ctx, const Entry& e, const std::string& path, RetryPolicy& retry) {
  static constexpr std::array<std::string_view, 6> kKeys{
      "attempts", "backoff_ms", "max_backoff_ms", "max_retry_after_s", "total_timeout_ms", "on"};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  if (const Entry* x = f.find("attempts"))
    if (auto v = read_integer(ctx, f, *x, 1, 100)) retry.attempts = static_cast<int>(*v);
  const Entry* backoff = f.find("backoff_ms");
  const Entry* max_backoff = f.find("max_backoff_ms");
  bool backoff_ok = true;
  if (backoff) {
    if (auto v = read_millis(ctx, f, *backoff, 0))
      retry.backoff = *v;
    else
      backoff_ok = false;
  }
  if (max_backoff) {
    if (auto v = read_millis(ctx, f, *max_backoff, 0))
      retry.max_backoff = *v;
    else
      backoff_ok = false;
  }
  // Checked on the merged values: a model raising only backoff_ms past the default cap is
  // as wrong as writing both.
  if (backoff_ok && (backoff || max_backoff) && retry.max_backoff < retry.backoff) {
    const std::string max_text = std::to_string(retry.max_backoff.count());
    const std::string backoff_text = std::to_string(retry.backoff.count());
    if (max_backoff)
      ctx.error(max_backoff->line, f.path_of(*max_backoff),
                "must be at least backoff_ms (" + backoff_text + "), got " + max_text);
    else
      ctx.error(backoff->line, f.path_of(*backoff),
                "must be at most max_backoff_ms (" + max_text + "), got " + backoff_text);
  }
  if (const Entry* x = f.find("max_retry_after_s"))
    if (auto v = read_integer(ctx, f, *x, 0, kMaxSeconds))
      retry.max_retry_after = std::chrono::seconds(*v);
  if (const Entry* x = f.find("total_timeout_ms"))
    if (auto v = read_millis(ctx, f, *x, 1)) retry.total_timeout = *v;
  if (const Entry* x = f.find("on")) read_retry_on(ctx, f, *x, retry.on);
}

void read_cooldown(Context& ctx, const Entry& e, const std::string& path,
                   CooldownPolicy& cooldown) {
  static constexpr std::array<std::string_view, 3> kKeys{"failures", "window_s", "duration_s"};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  if (const Entry* x = f.find("failures"))
    if (auto v = read_integer(ctx, f, *x, 1, 1'000'000)) cooldown.failures = static_cast<int>(*v);
  if (const Entry* x = f.find("window_s"))
    if (auto v = read_integer(ctx, f, *x, 1, kMaxSeconds))
      cooldown.window = std::chrono::seconds(*v);
  if (const Entry* x = f.find("duration_s"))
    if (auto v = read_integer(ctx, f, *x, 1, kMaxSeconds))
      cooldown.duration = std::chrono::seconds(*v);
}

// after_ms and after_percentile are one choice: the block that names one clears the other
// inherited from the defaults.
void read_hedge(Context& ctx, const Entry& e, const std::string& path, HedgePolicy& hedge) {
  static constexpr std::array<std::string_view, 3> kKeys{"after_ms", "after_percentile",
                                                         "max_fraction"};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  const Entry* after = f.find("after_ms");
  const Entry* percentile = f.find("after_percentile");
  if (after && percentile) {
    ctx.error(percentile->line, path,
              "after_ms and after_percentile are exclusive (hedge after a fixed delay or after "
              "a percentile of the recent time to first token)");
  } else if (after) {
    if (auto v = read_millis(ctx, f, *after, 0)) {
      hedge.after = *v;
      hedge.after_percentile = 0;
    }
  } else if (percentile) {
    if (auto v = read_integer(ctx, f, *percentile, 1, 99)) {
      hedge.after_percentile = static_cast<int>(*v);
      hedge.after = std::chrono::milliseconds(0);
    }
  }
  if (const Entry* x = f.find("max_fraction")) {
    if (auto v = read_number(ctx, f, *x)) {
      if (*v <= 0 || *v > 1)
        ctx.error(x->line, f.path_of(*x),
                  "must be greater than 0 and at most 1, got " + quote(x->value.Scalar()));
      else
        hedge.max_fraction = *v;
    }
  }
}

// The policy keys shared by `routing:` and a model; `f` holds them among its other keys.
void read_policy(Context& ctx, const Fields& f, RoutingPolicy& policy) {
  if (const Entry* e = f.find("strategy")) read_strategy(ctx, f, *e, policy.strategy);
  if (const Entry* e = f.find("retry")) read_retry(ctx, *e, f.path_of(*e), policy.retry);
  if (const Entry* e = f.find("cooldown")) read_cooldown(ctx, *e, f.path_of(*e), policy.cooldown);
  if (const Entry* e = f.find("first_token_timeout_ms"))
    if (auto v = read_millis(ctx, f, *e, 0)) policy.first_token_timeout = *v;
  if (const Entry* e = f.find("hedge")) read_hedge(ctx, *e, f.path_of(*e), policy.hedge);
}

void read_retry_budget(Context& ctx, const Entry& e, const std::string& path, RetryBudget& budget) {
  static constexpr std::array<std::string_view, 2> kKeys{"ratio", "min_concurrent"};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  if (const Entry* x = f.find("ratio")) {
    if (auto v = read_number(ctx, f, *x)) {
      if (*v < 0 || *v > 1)
        ctx.error(x->line, f.path_of(*x),
                  "must be between 0 and 1, got " + quote(x->value.Scalar()));
      else
        budget.ratio = *v;
    }
  }
  if (const Entry* x = f.find("min_concurrent"))
    if (auto v = read_integer(ctx, f, *x, 0, 1'000'000))
      budget.min_concurrent = static_cast<int>(*v);
}

void read_overrides(Context& ctx, const Entry& e, const std::string& path,
                    OverridePolicy& overrides) {
  static constexpr std::array<std::string_view, 4> kKeys{"timeout", "retries", "fallbacks",
                                                         "target"};
  static constexpr std::array<bool OverridePolicy::*, 4> kMembers{
      &OverridePolicy::timeout, &OverridePolicy::retries, &OverridePolicy::fallbacks,
      &OverridePolicy::target};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  for (std::size_t i = 0; i < kKeys.size(); ++i)
    if (const Entry* x = f.find(kKeys[i]))
      if (auto v = read_bool(ctx, f, *x)) overrides.*kMembers[i] = *v;
}

void read_routing_defaults(Context& ctx, const Entry& e, RoutingDefaults& routing) {
  static constexpr std::array<std::string_view, 7> kKeys{
      "strategy", "retry",        "cooldown", "first_token_timeout_ms",
      "hedge",    "retry_budget", "overrides"};
  if (e.value.IsNull()) return;
  if (!expect_map(ctx, e.line, "routing", e.value)) return;
  const Fields f(ctx, e.value, "routing", kKeys);
  read_policy(ctx, f, routing.policy);
  if (const Entry* x = f.find("retry_budget"))
    read_retry_budget(ctx, *x, f.path_of(*x), routing.retry_budget);
  if (const Entry* x = f.find("overrides"))
    read_overrides(ctx, *x, f.path_of(*x), routing.overrides);
}

void read_ledger_settings(Context& ctx, const Entry& e, const std::string& path,
                          GovernanceConfig& g) {
  static constexpr std::array<std::string_view, 2> kKeys{"commit_interval_ms", "queue_rows"};
  if (e.value.IsNull()) return;
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  if (const Entry* x = f.find("commit_interval_ms")) {
    if (auto v = read_integer(ctx, f, *x, 10, 60000))
      g.commit_interval = std::chrono::milliseconds(*v);
  }
  if (const Entry* x = f.find("queue_rows")) {
    if (auto v = read_integer(ctx, f, *x, 16, 10'000'000))
      g.ledger_queue_rows = static_cast<std::size_t>(*v);
  }
}

void read_governance_metrics(Context& ctx, const Entry& e, const std::string& path,
                             GovernanceConfig& g) {
  static constexpr std::array<std::string_view, 2> kKeys{"max_teams", "key_aliases"};
  if (e.value.IsNull()) return;
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  if (const Entry* x = f.find("max_teams")) {
    if (auto v = read_integer(ctx, f, *x, 0, 10000))
      g.metrics_max_teams = static_cast<std::size_t>(*v);
  }
  if (const Entry* x = f.find("key_aliases")) {
    if (auto v = read_integer(ctx, f, *x, 0, 10000))
      g.metrics_max_key_aliases = static_cast<std::size_t>(*v);
  }
}

void read_governance(Context& ctx, const Entry& e, GovernanceConfig& g) {
  static constexpr std::array<std::string_view, 6> kKeys{
      "master_key", "database", "ledger", "unpriced_models", "default_max_output_tokens",
      "metrics"};
  g.enabled = true;
  if (e.value.IsNull()) return;
  if (!expect_map(ctx, e.line, "governance", e.value)) return;
  const Fields f(ctx, e.value, "governance", kKeys);
  if (const Entry* x = f.find("master_key")) {
    // An unset variable is an empty key: authentication off, said at start-up.
    if (auto v = read_string(ctx, f, *x, nullptr, /*unset_is_empty=*/true)) {
      if (!v->empty() && v->size() < 16) {
        ctx.error(x->line, f.path_of(*x),
                  "must be at least 16 characters (a master key administers everything; "
                  "generate one with: openssl rand -hex 32)");
      } else {
        g.master_key = std::move(*v);
      }
    }
  }
  if (const Entry* x = f.find("database")) {
    if (auto v = read_string(ctx, f, *x)) {
      if (v->empty())
        ctx.error(x->line, f.path_of(*x), "must name a file (for example switchyard.db)");
      else
        g.database = std::move(*v);
    }
  }
  if (const Entry* x = f.find("ledger")) read_ledger_settings(ctx, *x, f.path_of(*x), g);
  if (const Entry* x = f.find("unpriced_models")) {
    if (auto v = read_string(ctx, f, *x)) {
      if (*v == "refuse" || *v == "free")
        g.free_unpriced_models = *v == "free";
      else
        ctx.error(x->line, f.path_of(*x), "expected refuse or free, got " + quote(*v));
    }
  }
  if (const Entry* x = f.find("default_max_output_tokens")) {
    if (auto v = read_integer(ctx, f, *x, 1, 10'000'000)) g.default_max_output_tokens = *v;
  }
  if (const Entry* x = f.find("metrics")) read_governance_metrics(ctx, *x, f.path_of(*x), g);
}

// ---------------------------------------------------------------------------------------------
// State (issue 14). The URLs may hold passwords: no message quotes them.

bool url_has_scheme(std::string_view url, std::initializer_list<std::string_view> schemes) {
  const std::string lowered = lower(url);
  for (const std::string_view scheme : schemes)
    if (lowered.starts_with(scheme) && lowered.size() > scheme.size()) return true;
  return false;
}

void read_state_postgres(Context& ctx, const Entry& e, const std::string& path, StateConfig& s) {
  static constexpr std::array<std::string_view, 2> kKeys{"url", "pool"};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  if (const Entry* x = f.find("url")) {
    // Empty (a template's "${SWITCHYARD_DATABASE_URL:-}" with the variable unset): no
    // database, which only store: postgres minds.
    if (auto v = read_string(ctx, f, *x); v && !v->empty()) {
      if (!url_has_scheme(*v, {"postgres://", "postgresql://"}))
        ctx.error(x->line, f.path_of(*x),
                  "expected a postgresql://user[:password]@host[:port]/database URL (the value "
                  "is not repeated here: it may hold a password)");
      else
        s.postgres_url = std::move(*v);
    }
  }
  if (const Entry* x = f.find("pool")) {
    if (auto v = read_integer(ctx, f, *x, 1, 64)) s.postgres_pool = static_cast<std::size_t>(*v);
  }
}

void read_state_redis(Context& ctx, const Entry& e, const std::string& path, StateConfig& s) {
  static constexpr std::array<std::string_view, 2> kKeys{"url", "timeout_ms"};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  if (const Entry* x = f.find("url")) {
    // Empty (a template's "${SWITCHYARD_REDIS_URL:-}" with the variable unset): no Redis.
    if (auto v = read_string(ctx, f, *x); v && !v->empty()) {
      if (url_has_scheme(*v, {"rediss://"}))
        ctx.error(x->line, f.path_of(*x),
                  "TLS to Redis (rediss://) is not supported yet: reach Redis over a private "
                  "network or a local TLS tunnel, with redis://");
      else if (!url_has_scheme(*v, {"redis://"}))
        ctx.error(x->line, f.path_of(*x),
                  "expected a redis://[[user]:password@]host[:port][/db] URL (the value is not "
                  "repeated here: it may hold a password)");
      else
        s.redis_url = std::move(*v);
    }
  }
  if (const Entry* x = f.find("timeout_ms")) {
    if (auto v = read_integer(ctx, f, *x, 1, 10'000))
      s.redis_timeout = std::chrono::milliseconds(*v);
  }
}

void read_ledger_spool(Context& ctx, const Entry& e, const std::string& path, StateConfig& s) {
  static constexpr std::array<std::string_view, 2> kKeys{"directory", "max_mb"};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  if (const Entry* x = f.find("directory")) {
    if (auto v = read_string(ctx, f, *x)) {
      if (v->empty())
        ctx.error(x->line, f.path_of(*x), "must name a directory (for example ledger-spool)");
      else
        s.ledger_spool_directory = std::move(*v);
    }
  }
  if (const Entry* x = f.find("max_mb")) {
    if (auto v = read_integer(ctx, f, *x, 1, 1'000'000))
      s.ledger_spool_max_bytes = static_cast<std::uint64_t>(*v) << 20;
  }
}

void read_state(Context& ctx, const Entry& e, StateConfig& s) {
  static constexpr std::array<std::string_view, 6> kKeys{
      "store", "postgres", "redis", "on_redis_down", "replica_id", "ledger_spool"};
  if (!expect_map(ctx, e.line, "state", e.value)) return;
  const Fields f(ctx, e.value, "state", kKeys);
  s.enabled = true;
  if (const Entry* x = f.find("store")) {
    if (auto v = read_string(ctx, f, *x)) {
      if (*v == "sqlite" || *v == "postgres")
        s.store = *v == "postgres" ? StateConfig::Store::postgres : StateConfig::Store::sqlite;
      else
        ctx.error(x->line, f.path_of(*x), "expected sqlite or postgres, got " + quote(*v));
    }
  }
  const Entry* postgres = f.find("postgres");
  const std::size_t errors_before = ctx.errors.size();
  if (postgres) read_state_postgres(ctx, *postgres, f.path_of(*postgres), s);
  if (s.store == StateConfig::Store::postgres && s.postgres_url.empty() &&
      ctx.errors.size() == errors_before)
    ctx.error(postgres ? postgres->line : e.line, "state.postgres.url",
              "store: postgres needs the database's URL (for example "
              "\"${SWITCHYARD_DATABASE_URL}\")");
  if (const Entry* x = f.find("redis")) read_state_redis(ctx, *x, f.path_of(*x), s);
  if (const Entry* x = f.find("on_redis_down")) {
    if (auto v = read_string(ctx, f, *x)) {
      if (*v == "fail_closed" || *v == "fail_open")
        s.on_redis_down = *v == "fail_open" ? StateConfig::OnRedisDown::fail_open
                                            : StateConfig::OnRedisDown::fail_closed;
      else
        ctx.error(x->line, f.path_of(*x), "expected fail_closed or fail_open, got " + quote(*v));
    }
  }
  if (const Entry* x = f.find("ledger_spool")) read_ledger_spool(ctx, *x, f.path_of(*x), s);
  if (const Entry* x = f.find("replica_id")) {
    if (auto v = read_string(ctx, f, *x)) {
      const bool plain =
          !v->empty() && v->size() <= 64 && std::all_of(v->begin(), v->end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
          });
      if (!plain)
        ctx.error(x->line, f.path_of(*x),
                  "must be 1 to 64 letters, digits, '-', '_' or '.', got " + quote(*v));
      else
        s.replica_id = std::move(*v);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tracing

// The collector's OTLP/HTTP traces URL: http only (a collector on the host or a sidecar; see
// the README), and with no path it gets the standard /v1/traces, as
// OTEL_EXPORTER_OTLP_ENDPOINT does.
std::optional<std::string> normalize_collector_url(std::string& url) {
  if (lower(url).starts_with("https://"))
    return "https collectors are not supported yet: export to an OpenTelemetry Collector on "
           "the host or in the pod over http (it forwards over TLS)";
  if (!lower(url).starts_with("http://")) return "must start with http://";
  if (auto why = normalize_base_url(url)) return why;
  if (url.find('/', 7) == std::string::npos) url += "/v1/traces";
  return std::nullopt;
}

void read_string_map(Context& ctx, const Entry& e, const std::string& path,
                     std::map<std::string, std::string>& out) {
  if (e.value.IsNull()) return;
  if (!expect_map(ctx, e.line, path, e.value)) return;
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    const int line = line_of(it->first);
    if (!it->first.IsScalar() || it->first.Scalar().empty()) {
      ctx.error(line, path, "expected a name, got " + describe(it->first));
      continue;
    }
    const std::string name = it->first.Scalar();
    if (!it->second.IsScalar()) {
      ctx.error(line, join_path(path, name), "expected a string, got " + describe(it->second));
      continue;
    }
    if (auto value = substitute(ctx, line, join_path(path, name), it->second.Scalar(), nullptr))
      out[name] = std::move(*value);
  }
}

void read_tracing(Context& ctx, const Entry& e, TracingConfig& t) {
  static constexpr std::array<std::string_view, 9> kKeys{
      "endpoint",    "headers",     "service_name",       "resource_attributes", "sample_ratio",
      "queue_spans", "batch_spans", "export_interval_ms", "export_timeout_ms"};
  if (!expect_map(ctx, e.line, "tracing", e.value)) return;
  const Fields f(ctx, e.value, "tracing", kKeys);
  t.enabled = true;
  if (const Entry* x = f.find("endpoint")) {
    if (auto v = read_string(ctx, f, *x)) {
      if (auto why = normalize_collector_url(*v))
        ctx.error(x->line, f.path_of(*x), *why + ", got " + quote(*v));
      else
        t.endpoint = std::move(*v);
    }
  } else {
    ctx.error(e.line, "tracing",
              "missing required key 'endpoint' (the collector's OTLP/HTTP URL, for example "
              "http://127.0.0.1:4318)");
  }
  if (const Entry* x = f.find("headers")) read_headers(ctx, *x, f.path_of(*x), t.headers);
  if (const Entry* x = f.find("service_name")) {
    if (auto v = read_string(ctx, f, *x)) {
      if (v->empty())
        ctx.error(x->line, f.path_of(*x), "must not be empty");
      else
        t.service_name = std::move(*v);
    }
  }
  if (const Entry* x = f.find("resource_attributes"))
    read_string_map(ctx, *x, f.path_of(*x), t.resource_attributes);
  if (const Entry* x = f.find("sample_ratio")) {
    if (auto v = read_number(ctx, f, *x)) {
      if (!(*v >= 0 && *v <= 1))
        ctx.error(x->line, f.path_of(*x), "must be between 0 and 1");
      else
        t.sample_ratio = *v;
    }
  }
  if (const Entry* x = f.find("queue_spans"))
    if (auto v = read_integer(ctx, f, *x, 1, 1 << 20)) t.queue_spans = static_cast<std::size_t>(*v);
  if (const Entry* x = f.find("batch_spans"))
    if (auto v = read_integer(ctx, f, *x, 1, 1 << 16)) t.batch_spans = static_cast<std::size_t>(*v);
  if (const Entry* x = f.find("export_interval_ms"))
    if (auto v = read_millis(ctx, f, *x, 10)) t.export_interval = *v;
  if (const Entry* x = f.find("export_timeout_ms"))
    if (auto v = read_millis(ctx, f, *x, 10)) t.export_timeout = *v;
}

// ---------------------------------------------------------------------------------------------

struct NamedLine {
  std::string name;
  int line;
};

const NamedLine* find_named(const std::vector<NamedLine>& v, std::string_view name) {
  for (const auto& n : v)
    if (n.name == name) return &n;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Model groups and routers

// A model named by a fallback list or a router rule, resolved once every model is read.
struct ModelRef {
  std::string name;
  int line = 0;
  std::string path;
};

// A model as read, before the references between models are resolved.
struct ReadModel {
  ModelConfig config;
  int line = 0;
  bool valid = false;    // none of its own keys had an error
  bool dropped = false;  // every target's provider is disabled
  std::vector<ModelRef> fallbacks;
  std::vector<ModelRef> context_window_fallbacks;
};

struct ReadRouter {
  RouterConfig config;
  int line = 0;
  bool valid = false;
  std::vector<ModelRef> rule_models;  // one per rule
};

// What reading a target needs to know of the rest of the document.
struct TargetSources {
  const std::vector<DeclaredProvider>& providers;
  const std::vector<std::string>& provider_names;
  const std::optional<PriceFile>& price_file;
};

// Reads provider, model, price and reasoning from `f`: a target's keys, or the model's own in
// the single-target form. Returns the provider, or nullptr after reporting why not.
const DeclaredProvider* read_target(Context& ctx, const Fields& f, int line,
                                    const std::string& model_name, const TargetSources& sources,
                                    TargetConfig& t) {
  const DeclaredProvider* provider = nullptr;
  if (const Entry* e = f.find("provider")) {
    if (auto s = read_string(ctx, f, *e)) {
      for (const auto& p : sources.providers)
        if (!p.name.empty() && p.name == *s) provider = &p;
      if (!provider)
        ctx.error(e->line, f.path_of(*e),
                  "unknown provider " + quote(*s) + did_you_mean(*s, sources.provider_names));
      else
        t.provider = *s;
    }
  } else {
    ctx.error(line, f.path(), "missing required key 'provider'");
  }

  t.upstream_model = model_name;
  if (const Entry* e = f.find("model")) {
    if (auto s = read_string(ctx, f, *e)) {
      if (s->empty())
        ctx.error(e->line, f.path_of(*e), "must not be empty (omit it to use the name)");
      else
        t.upstream_model = *s;
    }
  }

  // The price: the target's own, over the prices_file's entry, over the bundled table's.
  const auto& price_file = sources.price_file;
  const PriceFileEntry* listed =
      price_file ? find_price_file_entry(*price_file, provider ? provider->config.type : "",
                                         t.upstream_model, model_name)
                 : nullptr;
  if (listed) {
    t.context_window_tokens = listed->context_window_tokens;
    t.max_output_tokens = listed->max_output_tokens;
  }
  const Price* inherited =
      listed && listed->priced ? &listed->price : bundled_price_of(t.upstream_model, model_name);
  if (inherited) {
    t.price = *inherited;
    t.price_known = true;
  }
  if (const Entry* e = f.find("price")) {
    read_price_fields(ctx, *e, f.path_of(*e), t.price);
    t.price_known = true;
  }

  t.reasoning = bundled_reasoning(t.upstream_model, model_name);
  if (const Entry* e = f.find("reasoning")) {
    if (auto v = read_bool(ctx, f, *e)) t.reasoning = *v;
  }
  return provider;
}

// The keys only a target of a group has: its share of the traffic and its limits.
void read_target_limits(Context& ctx, const Fields& f, TargetConfig& t) {
  if (const Entry* e = f.find("weight")) {
    if (auto v = read_number(ctx, f, *e)) {
      if (*v <= 0)
        ctx.error(e->line, f.path_of(*e),
                  "must be greater than 0, got " + quote(e->value.Scalar()));
      else
        t.weight = *v;
    }
  }
  if (const Entry* e = f.find("tier"))
    if (auto v = read_integer(ctx, f, *e, 1, 1000)) t.tier = static_cast<int>(*v);
  if (const Entry* e = f.find("rpm"))
    if (auto v = read_integer(ctx, f, *e, 0, std::numeric_limits<long long>::max())) t.rpm = *v;
  if (const Entry* e = f.find("tpm"))
    if (auto v = read_integer(ctx, f, *e, 0, std::numeric_limits<long long>::max())) t.tpm = *v;
}

// A list of model names (fallbacks); each is checked once every model is known.
void read_model_refs(Context& ctx, const Fields& f, std::string_view key,
                     std::vector<ModelRef>& refs) {
  const Entry* e = f.find(key);
  if (!e || e->value.IsNull()) return;
  const std::string path = f.path_of(*e);
  if (!e->value.IsSequence()) {
    ctx.error(e->line, path, "expected a sequence of model names, got " + describe(e->value));
    return;
  }
  std::size_t i = 0;
  for (const auto& item : e->value) {
    const std::string item_path = index_path(path, i++);
    const int line = line_of(item) > 0 ? line_of(item) : e->line;
    if (!item.IsScalar()) {
      ctx.error(line, item_path, "expected a model name, got " + describe(item));
      continue;
    }
    auto name = substitute(ctx, line, item_path, item.Scalar(), nullptr);
    if (!name) continue;
    if (name->empty()) {
      ctx.error(line, item_path, "must not be empty");
      continue;
    }
    if (std::any_of(refs.begin(), refs.end(), [&](const ModelRef& r) { return r.name == *name; })) {
      ctx.error(line, item_path, quote(*name) + " is listed twice");
      continue;
    }
    refs.push_back({std::move(*name), line, item_path});
  }
}

ReadModel read_model(Context& ctx, const YAML::Node& node, const std::string& path,
                     const TargetSources& sources, const RoutingPolicy& defaults,
                     std::vector<NamedLine>& model_names, std::vector<std::string>& notices) {
  static constexpr std::array<std::string_view, 13> kKeys{"name",
                                                          "provider",
                                                          "model",
                                                          "price",
                                                          "reasoning",
                                                          "targets",
                                                          "strategy",
                                                          "retry",
                                                          "cooldown",
                                                          "first_token_timeout_ms",
                                                          "hedge",
                                                          "fallbacks",
                                                          "context_window_fallbacks"};
  static constexpr std::array<std::string_view, 8> kTargetKeys{
      "provider", "model", "weight", "tier", "rpm", "tpm", "price", "reasoning"};
  static constexpr std::array<std::string_view, 4> kSingleTargetKeys{"provider", "model", "price",
                                                                     "reasoning"};
  ReadModel out;
  out.line = line_of(node);
  if (!node.IsMap()) {
    ctx.error(out.line, path, "expected a mapping, got " + describe(node));
    return out;
  }
  const std::size_t errors_before = ctx.errors.size();
  const Fields f(ctx, node, path, kKeys);
  ModelConfig& m = out.config;
  if (const Entry* e = f.find("name")) {
    out.line = e->line;
    if (auto s = read_string(ctx, f, *e)) {
      if (s->empty()) {
        ctx.error(e->line, f.path_of(*e), "must not be empty");
      } else if (const NamedLine* first = find_named(model_names, *s)) {
        ctx.error(e->line, "",
                  "duplicate model name '" + *s + "' (first defined at line " +
                      std::to_string(first->line) + ")");
      } else {
        m.name = *s;
        model_names.push_back({*s, e->line});
      }
    }
  } else {
    ctx.error(out.line, path, "missing required key 'name'");
  }

  // The targets read without error, with their providers and places in the list.
  struct ReadTarget {
    TargetConfig config;
    const DeclaredProvider* provider;
    std::size_t index;
  };
  std::vector<ReadTarget> targets;
  const Entry* targets_entry = f.find("targets");
  if (targets_entry) {
    for (const std::string_view key : kSingleTargetKeys) {
      if (const Entry* e = f.find(key))
        ctx.error(e->line, path,
                  "'" + std::string(key) +
                      "' and 'targets' are exclusive (with targets, each target has its own "
                      "provider, model, price and reasoning)");
    }
    const std::string tpath = f.path_of(*targets_entry);
    if (!targets_entry->value.IsNull() && !targets_entry->value.IsSequence()) {
      ctx.error(targets_entry->line, tpath,
                "expected a sequence, got " + describe(targets_entry->value));
    } else if (targets_entry->value.IsNull() || targets_entry->value.size() == 0) {
      ctx.error(targets_entry->line, tpath, "must list at least one target");
    } else {
      // The tried set of a request and the impaired set of a group are 64-bit masks.
      if (targets_entry->value.size() > kMaxGroupTargets) {
        ctx.error(targets_entry->line, tpath,
                  "has " + std::to_string(targets_entry->value.size()) + " targets: at most " +
                      std::to_string(kMaxGroupTargets) + " targets per model; split the group");
      }
      std::size_t i = 0;
      for (const auto& item : targets_entry->value) {
        const std::size_t index = i++;
        const std::string item_path = index_path(tpath, index);
        const int line = line_of(item) > 0 ? line_of(item) : targets_entry->line;
        if (!item.IsMap()) {
          ctx.error(line, item_path, "expected a mapping, got " + describe(item));
          continue;
        }
        const Fields tf(ctx, item, item_path, kTargetKeys);
        TargetConfig t;
        const DeclaredProvider* provider = read_target(ctx, tf, line, m.name, sources, t);
        read_target_limits(ctx, tf, t);
        if (!provider) continue;
        for (const ReadTarget& earlier : targets) {
          if (earlier.config.provider == t.provider &&
              earlier.config.upstream_model == t.upstream_model) {
            ctx.error(line, item_path,
                      "duplicate target: provider " + quote(t.provider) + " with model " +
                          quote(t.upstream_model) + " is already targets[" +
                          std::to_string(earlier.index) + "]");
            break;
          }
        }
        targets.push_back({std::move(t), provider, index});
      }
    }
  } else {
    TargetConfig t;
    const DeclaredProvider* provider = read_target(ctx, f, out.line, m.name, sources, t);
    if (provider) targets.push_back({std::move(t), provider, 0});
  }

  m.routing = defaults;
  read_policy(ctx, f, m.routing);
  const std::size_t declared_targets =
      targets_entry && targets_entry->value.IsSequence() ? targets_entry->value.size() : 1;
  if (const Entry* e = f.find("hedge"); e && m.routing.hedge.enabled() && declared_targets == 1)
    ctx.error(e->line, f.path_of(*e),
              "a hedge needs a second target to go to, and this model has one (add targets or "
              "remove hedge)");

  read_model_refs(ctx, f, "fallbacks", out.fallbacks);
  read_model_refs(ctx, f, "context_window_fallbacks", out.context_window_fallbacks);

  if (ctx.errors.size() != errors_before) return out;
  out.valid = true;
  const bool group = targets_entry != nullptr;
  for (ReadTarget& target : targets) {
    TargetConfig& t = target.config;
    const DeclaredProvider* provider = target.provider;
    // A target on an optional provider without a key goes with it. In the single-target form
    // the provider's notice already says why the model is gone.
    if (provider->disabled) {
      if (group)
        notices.push_back("model '" + m.name + "': target '" + t.provider + "/" + t.upstream_model +
                          "' dropped (provider '" + t.provider + "' is disabled)");
      continue;
    }
    if (!t.price_known && provider->config.type != "mock") {
      const std::string in_sources = std::string(sources.price_file ? "prices_file or the " : "") +
                                     "bundled table as '" + t.upstream_model + "'";
      if (group)
        notices.push_back("model '" + m.name + "': target '" + t.provider + "/" + t.upstream_model +
                          "' has no known price (not in the " + in_sources +
                          "): its cost is counted as 0; add price: to the target");
      else
        notices.push_back("model '" + m.name + "' has no known price (not in the " + in_sources +
                          "): its cost is counted as 0; add price: to the model");
    }
    m.targets.push_back(std::move(t));
  }
  if (m.targets.empty()) {
    out.dropped = true;
    if (group) notices.push_back("model '" + m.name + "' dropped: no target is left");
  }
  // A hedge inherited from `routing:` has nowhere to go on a model with one target.
  if (m.targets.size() == 1) {
    m.routing.hedge.after = std::chrono::milliseconds(0);
    m.routing.hedge.after_percentile = 0;
  }
  return out;
}

constexpr std::array<std::string_view, 3> kProtocols{"openai_chat", "openai_responses",
                                                     "anthropic_messages"};

void read_protocols(Context& ctx, const Fields& f, const Entry& e,
                    std::vector<std::string>& protocols) {
  const std::string path = f.path_of(e);
  const auto add = [&](const YAML::Node& item, int line, const std::string& item_path) {
    if (!item.IsScalar()) {
      ctx.error(line, item_path, "expected a protocol name, got " + describe(item));
      return;
    }
    const std::string& name = item.Scalar();
    if (std::find(kProtocols.begin(), kProtocols.end(), name) == kProtocols.end()) {
      ctx.error(line, item_path,
                "unknown protocol " + quote(name) + did_you_mean(name, kProtocols) +
                    " (expected openai_chat, openai_responses or anthropic_messages)");
      return;
    }
    if (std::find(protocols.begin(), protocols.end(), name) == protocols.end())
      protocols.push_back(name);
  };
  if (e.value.IsSequence()) {
    std::size_t i = 0;
    for (const auto& item : e.value)
      add(item, line_of(item) > 0 ? line_of(item) : e.line, index_path(path, i++));
  } else {
    add(e.value, e.line, path);
  }
}

// header: and metadata: of a rule, name -> exact value. Header names are stored lowercased,
// as requests carry them in any case.
void read_match_map(Context& ctx, const Entry& e, const std::string& path, bool header_names,
                    std::map<std::string, std::string>& out) {
  if (!expect_map(ctx, e.line, path, e.value)) return;
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    const int line = line_of(it->first);
    if (!it->first.IsScalar() || it->first.Scalar().empty()) {
      ctx.error(line, path, "expected a name, got " + describe(it->first));
      continue;
    }
    std::string name = it->first.Scalar();
    const std::string item_path = join_path(path, name);
    if (header_names) {
      if (!std::all_of(name.begin(), name.end(), is_header_token_char)) {
        ctx.error(line, path, "invalid header name " + quote(name));
        continue;
      }
      name = lower(name);
    }
    std::string value;
    if (!it->second.IsNull()) {
      if (!it->second.IsScalar()) {
        ctx.error(line, item_path, "expected a string, got " + describe(it->second));
        continue;
      }
      auto s = substitute(ctx, line, item_path, it->second.Scalar(), nullptr);
      if (!s) continue;
      value = std::move(*s);
    }
    if (!out.emplace(name, std::move(value)).second)
      ctx.error(line, path, quote(it->first.Scalar()) + " is given twice");
  }
}

void read_condition(Context& ctx, const Entry& e, const std::string& path, RuleCondition& when) {
  static constexpr std::array<std::string_view, 7> kKeys{
      "min_input_tokens", "max_input_tokens", "tools", "images", "protocol", "header", "metadata"};
  if (!expect_map(ctx, e.line, path, e.value)) return;
  const Fields f(ctx, e.value, path, kKeys);
  const Entry* min = f.find("min_input_tokens");
  const Entry* max = f.find("max_input_tokens");
  if (min) when.min_input_tokens = read_integer(ctx, f, *min, 0, kMaxTokenCount);
  if (max) when.max_input_tokens = read_integer(ctx, f, *max, 0, kMaxTokenCount);
  if (when.min_input_tokens && when.max_input_tokens &&
      *when.min_input_tokens > *when.max_input_tokens)
    ctx.error(max->line, path,
              "min_input_tokens (" + std::to_string(*when.min_input_tokens) +
                  ") is greater than max_input_tokens (" + std::to_string(*when.max_input_tokens) +
                  "): the rule could never match");
  if (const Entry* x = f.find("tools")) when.tools = read_bool(ctx, f, *x);
  if (const Entry* x = f.find("images")) when.images = read_bool(ctx, f, *x);
  if (const Entry* x = f.find("protocol")) read_protocols(ctx, f, *x, when.protocols);
  if (const Entry* x = f.find("header")) read_match_map(ctx, *x, f.path_of(*x), true, when.headers);
  if (const Entry* x = f.find("metadata"))
    read_match_map(ctx, *x, f.path_of(*x), false, when.metadata);
}

ReadRouter read_router(Context& ctx, const YAML::Node& node, const std::string& path,
                       const std::vector<NamedLine>& model_names,
                       std::vector<NamedLine>& router_names) {
  static constexpr std::array<std::string_view, 2> kKeys{"name", "rules"};
  static constexpr std::array<std::string_view, 2> kRuleKeys{"when", "model"};
  ReadRouter out;
  out.line = line_of(node);
  if (!node.IsMap()) {
    ctx.error(out.line, path, "expected a mapping, got " + describe(node));
    return out;
  }
  const std::size_t errors_before = ctx.errors.size();
  const Fields f(ctx, node, path, kKeys);
  if (const Entry* e = f.find("name")) {
    out.line = e->line;
    if (auto s = read_string(ctx, f, *e)) {
      if (s->empty()) {
        ctx.error(e->line, f.path_of(*e), "must not be empty");
      } else if (const NamedLine* first = find_named(router_names, *s)) {
        ctx.error(e->line, "",
                  "duplicate router name '" + *s + "' (first defined at line " +
                      std::to_string(first->line) + ")");
      } else if (const NamedLine* model = find_named(model_names, *s)) {
        // One namespace: clients name both in "model". Reported at the later of the two.
        ctx.error(std::max(model->line, e->line), "",
                  "duplicate name '" + *s + "': a model and a router (first defined at line " +
                      std::to_string(std::min(model->line, e->line)) + ")");
      } else {
        out.config.name = *s;
        router_names.push_back({*s, e->line});
      }
    }
  } else {
    ctx.error(out.line, path, "missing required key 'name'");
  }

  const Entry* rules = f.find("rules");
  if (!rules) {
    ctx.error(out.line, path, "missing required key 'rules'");
  } else if (!rules->value.IsNull() && !rules->value.IsSequence()) {
    ctx.error(rules->line, f.path_of(*rules), "expected a sequence, got " + describe(rules->value));
  } else if (rules->value.IsNull() || rules->value.size() == 0) {
    ctx.error(rules->line, f.path_of(*rules),
              "must list at least one rule (the last, without 'when', is the default)");
  } else {
    const std::size_t count = rules->value.size();
    std::size_t i = 0;
    for (const auto& item : rules->value) {
      const std::string rule_path = index_path(f.path_of(*rules), i);
      const bool last = ++i == count;
      const int line = line_of(item) > 0 ? line_of(item) : rules->line;
      if (!item.IsMap()) {
        ctx.error(line, rule_path, "expected a mapping, got " + describe(item));
        continue;
      }
      const Fields rf(ctx, item, rule_path, kRuleKeys);
      RouterRule rule;
      ModelRef ref;
      const Entry* when = rf.find("when");
      if (when) {
        read_condition(ctx, *when, rf.path_of(*when), rule.when);
        if (last)
          ctx.error(when->line, rule_path,
                    "the last rule is the default and must have no 'when' (add a last rule "
                    "with only 'model:', used when no other rule matches)");
      } else if (!last) {
        ctx.error(line, rule_path,
                  "a rule without 'when' matches every request, so the rules after it could "
                  "never be used (only the last rule, the default, has no 'when')");
      }
      if (const Entry* e = rf.find("model")) {
        if (auto s = read_string(ctx, rf, *e)) {
          if (s->empty())
            ctx.error(e->line, rf.path_of(*e), "must not be empty");
          else
            ref = {*s, e->line, rf.path_of(*e)};
        }
      } else {
        ctx.error(line, rule_path, "missing required key 'model'");
      }
      out.config.rules.push_back(std::move(rule));
      out.rule_models.push_back(std::move(ref));
    }
  }
  out.valid = ctx.errors.size() == errors_before;
  return out;
}

// Fallback chains must end: a model reached again through its own fallbacks would loop.
void report_fallback_cycles(Context& ctx, const std::vector<ReadModel>& models) {
  std::map<std::string, std::size_t, std::less<>> index;
  for (std::size_t i = 0; i < models.size(); ++i)
    if (!models[i].config.name.empty()) index.emplace(models[i].config.name, i);
  enum class Mark { unseen, on_path, done };
  std::vector<Mark> marks(models.size(), Mark::unseen);
  std::vector<std::size_t> path;
  const auto visit = [&](const auto& self, std::size_t i) -> void {
    marks[i] = Mark::on_path;
    path.push_back(i);
    for (const auto* refs : {&models[i].fallbacks, &models[i].context_window_fallbacks}) {
      for (const ModelRef& ref : *refs) {
        const auto it = index.find(ref.name);
        if (it == index.end() || it->second == i) continue;  // unknown or itself: said elsewhere
        const std::size_t j = it->second;
        if (marks[j] == Mark::on_path) {
          std::string cycle;
          for (auto k = std::find(path.begin(), path.end(), j); k != path.end(); ++k)
            cycle += models[*k].config.name + " -> ";
          ctx.error(ref.line, ref.path, "fallback cycle: " + cycle + ref.name);
        } else if (marks[j] == Mark::unseen) {
          self(self, j);
        }
      }
    }
    path.pop_back();
    marks[i] = Mark::done;
  };
  for (std::size_t i = 0; i < models.size(); ++i)
    if (marks[i] == Mark::unseen) visit(visit, i);
}

// Checks each reference names a model; one naming a model dropped with its providers is
// removed with a notice. Returns the names kept.
std::vector<std::string> resolve_model_refs(Context& ctx, const std::vector<ModelRef>& refs,
                                            std::string_view owner, std::string_view what,
                                            const std::vector<ReadModel>& models,
                                            const std::vector<NamedLine>& model_names,
                                            const std::vector<NamedLine>& router_names,
                                            std::vector<std::string>& notices,
                                            std::vector<bool>* kept = nullptr) {
  std::vector<std::string> out;
  std::vector<std::string> names;
  names.reserve(model_names.size());
  for (const auto& n : model_names) names.push_back(n.name);
  const bool rule = what == "rule";
  for (const ModelRef& ref : refs) {
    if (kept) kept->push_back(false);
    if (ref.name.empty()) continue;
    if (ref.name == owner && !rule) {
      ctx.error(ref.line, ref.path, "a model cannot be its own fallback");
      continue;
    }
    if (find_named(router_names, ref.name)) {
      ctx.error(ref.line, ref.path,
                quote(ref.name) + " is a router, and routers cannot chain: " +
                    (rule ? "a rule" : "a fallback") + " names a model");
      continue;
    }
    if (!find_named(model_names, ref.name)) {
      ctx.error(ref.line, ref.path,
                "unknown model " + quote(ref.name) + did_you_mean(ref.name, names));
      continue;
    }
    const auto model = std::find_if(models.begin(), models.end(),
                                    [&](const ReadModel& m) { return m.config.name == ref.name; });
    if (model != models.end() && model->dropped) {
      // A router says itself what it does without the model: the caller's notice.
      if (!rule)
        notices.push_back("model '" + std::string(owner) + "': " + std::string(what) + " '" +
                          ref.name + "' removed (model '" + ref.name +
                          "' has no target left: its providers are disabled)");
      continue;
    }
    if (kept) kept->back() = true;
    out.push_back(ref.name);
  }
  return out;
}

void read_document(Context& ctx, const YAML::Node& root, Config& cfg, const FileReader& read_file) {
  static constexpr std::array<std::string_view, 20> kTopKeys{"listen",
                                                             "workers",
                                                             "max_body_bytes",
                                                             "max_header_bytes",
                                                             "max_upstream_event_bytes",
                                                             "max_upstream_body_bytes",
                                                             "read_timeout_ms",
                                                             "keepalive_timeout_ms",
                                                             "drain_timeout_ms",
                                                             "stream_keepalive_ms",
                                                             "access_log",
                                                             "tls",
                                                             "providers",
                                                             "models",
                                                             "prices_file",
                                                             "routing",
                                                             "routers",
                                                             "governance",
                                                             "state",
                                                             "tracing"};
  const Fields top(ctx, root, "", kTopKeys);
  read_server(ctx, top, cfg.server);
  if (const Entry* e = top.find("tls")) read_listener_tls(ctx, *e, cfg.server);

  std::optional<PriceFile> price_file;
  if (const Entry* e = top.find("prices_file"))
    price_file = read_prices_file(ctx, top, *e, read_file);

  std::vector<DeclaredProvider> providers;
  const Entry* providers_entry = top.find("providers");
  if (providers_entry && !providers_entry->value.IsNull()) {
    if (!providers_entry->value.IsSequence()) {
      ctx.error(providers_entry->line, "providers",
                "expected a sequence, got " + describe(providers_entry->value));
    } else {
      std::size_t i = 0;
      for (const auto& node : providers_entry->value) {
        auto p = read_provider(ctx, node, index_path("providers", i++), cfg.notices);
        if (!p.name.empty()) {
          for (const auto& earlier : providers) {
            if (earlier.name == p.name) {
              ctx.error(p.line, "",
                        "duplicate provider name '" + p.name + "' (first defined at line " +
                            std::to_string(earlier.line) + ")");
              p.valid = false;
              p.name.clear();  // later models refer to the first definition
              break;
            }
          }
        }
        providers.push_back(std::move(p));
      }
    }
  }
  if (!providers_entry) ctx.error(0, "", "no providers defined (add a 'providers:' list)");

  std::vector<std::string> provider_names;
  for (const auto& p : providers)
    if (!p.name.empty()) provider_names.push_back(p.name);

  if (const Entry* e = top.find("routing")) read_routing_defaults(ctx, *e, cfg.routing);
  if (const Entry* e = top.find("governance")) read_governance(ctx, *e, cfg.governance);
  if (const Entry* e = top.find("state")) {
    read_state(ctx, *e, cfg.state);
    if (!cfg.governance.enabled)
      ctx.error(e->line, "state",
                "is where governance keeps its keys, budgets and ledger: add a governance "
                "section, or remove this one");
    else if (cfg.state.store == StateConfig::Store::postgres && cfg.state.redis_url.empty())
      cfg.notices.push_back(
          "state.store is postgres but state.redis is not set: keys and the ledger are shared, "
          "but every replica counts budgets and rate limits on its own, so N replicas allow up "
          "to N times each budget and limit. Set state.redis.url when running more than one.");
  }
  if (const Entry* e = top.find("tracing")) read_tracing(ctx, *e, cfg.tracing);

  const TargetSources sources{providers, provider_names, price_file};
  const Entry* models_entry = top.find("models");
  std::vector<NamedLine> model_names;
  std::vector<ReadModel> models;
  if (!models_entry) {
    ctx.error(0, "", "no models defined (add a 'models:' list)");
  } else if (!models_entry->value.IsNull() && !models_entry->value.IsSequence()) {
    ctx.error(models_entry->line, "models",
              "expected a sequence, got " + describe(models_entry->value));
  } else if (models_entry->value.IsNull() || models_entry->value.size() == 0) {
    ctx.error(models_entry->line, "models", "no models defined");
  } else {
    std::size_t i = 0;
    for (const auto& node : models_entry->value)
      models.push_back(read_model(ctx, node, index_path("models", i++), sources, cfg.routing.policy,
                                  model_names, cfg.notices));
  }

  std::vector<NamedLine> router_names;
  std::vector<ReadRouter> routers;
  if (const Entry* e = top.find("routers"); e && !e->value.IsNull()) {
    if (!e->value.IsSequence()) {
      ctx.error(e->line, "routers", "expected a sequence, got " + describe(e->value));
    } else {
      std::size_t i = 0;
      for (const auto& node : e->value)
        routers.push_back(
            read_router(ctx, node, index_path("routers", i++), model_names, router_names));
    }
  }

  // References between models, now that every name is known.
  for (ReadModel& m : models) {
    if (m.config.name.empty()) continue;
    m.config.fallbacks = resolve_model_refs(ctx, m.fallbacks, m.config.name, "fallback", models,
                                            model_names, router_names, cfg.notices);
    m.config.context_window_fallbacks = resolve_model_refs(
        ctx, m.context_window_fallbacks, m.config.name, "context_window_fallback", models,
        model_names, router_names, cfg.notices);
  }
  report_fallback_cycles(ctx, models);
  for (ReadRouter& r : routers) {
    std::vector<bool> kept;
    resolve_model_refs(ctx, r.rule_models, r.config.name, "rule", models, model_names, router_names,
                       cfg.notices, &kept);
    if (!r.valid) continue;
    if (!kept.empty() && !kept.back()) {
      // Without its default a router would have no answer for a request no rule matches.
      r.valid = false;
      cfg.notices.push_back("router '" + r.config.name + "' dropped: its default model '" +
                            r.rule_models.back().name + "' has no target left");
      continue;
    }
    std::vector<RouterRule> rules;
    for (std::size_t i = 0; i < r.config.rules.size(); ++i) {
      if (!kept[i]) {
        cfg.notices.push_back("router '" + r.config.name + "': the rule for '" +
                              r.rule_models[i].name + "' removed (model '" + r.rule_models[i].name +
                              "' has no target left)");
        continue;
      }
      r.config.rules[i].model = r.rule_models[i].name;
      rules.push_back(std::move(r.config.rules[i]));
    }
    r.config.rules = std::move(rules);
  }

  for (ReadModel& m : models)
    if (m.valid && !m.dropped) cfg.models.push_back(std::move(m.config));
  for (ReadRouter& r : routers)
    if (r.valid) cfg.routers.push_back(std::move(r.config));

  for (auto& p : providers)
    if (p.valid && !p.disabled) cfg.providers.push_back(std::move(p.config));

  if (ctx.errors.empty() && !models.empty() && cfg.models.empty()) {
    std::string why;
    for (const auto& n : cfg.notices) why += "; " + n;
    ctx.error(models_entry ? models_entry->line : 0, "",
              "no models are available: every model uses a disabled provider" + why);
  }
}

struct BundledTable {
  std::map<std::string, Price, std::less<>> prices;
  std::set<std::string, std::less<>> reasoning;  // models marked reasoning: true
  std::string date;
};

const BundledTable& bundled_table() {
  // Parsed once; the text is compiled in and covered by tests, so a failure here is a build
  // defect and yields an empty table rather than a crash at start-up.
  static const BundledTable table = [] {
    BundledTable t;
    try {
      const YAML::Node root = YAML::Load(std::string(kBundledPricesYaml));
      if (root["date"] && root["date"].IsScalar()) t.date = root["date"].Scalar();
      const YAML::Node models = root["models"];
      static const EnvLookup kNoEnvironment;  // the table names no variables
      Context ctx{"core/data/prices.yaml", kNoEnvironment, {}};
      if (models && models.IsMap()) {
        for (auto it = models.begin(); it != models.end(); ++it) {
          const std::string id = it->first.Scalar();
          // The table's entries are price mappings plus `reasoning:`, read with the config's
          // own reader so the two cannot drift apart.
          YAML::Node entry = YAML::Clone(it->second);
          if (entry.IsMap()) {
            const YAML::Node reasoning = entry["reasoning"];
            if (reasoning && reasoning.IsScalar() && reasoning.Scalar() == "true")
              t.reasoning.insert(id);
            entry.remove("reasoning");
          }
          Price p;
          read_price_fields(ctx, Entry{id, line_of(it->first), entry}, "models." + id, p);
          t.prices.emplace(id, p);
        }
      }
      if (!ctx.errors.empty()) t = BundledTable{};
    } catch (const YAML::Exception&) {
      t = BundledTable{};
    }
    return t;
  }();
  return table;
}

}  // namespace

const std::map<std::string, Price, std::less<>>& bundled_prices() { return bundled_table().prices; }

std::string_view bundled_prices_date() { return bundled_table().date; }

bool bundled_reasoning(std::string_view upstream, std::string_view name) {
  const auto& marked = bundled_table().reasoning;
  return marked.contains(upstream) || marked.contains(name);
}

Result<Config, std::vector<ConfigError>> parse_config(std::string_view text,
                                                      std::string_view file_name,
                                                      const EnvLookup& env,
                                                      const FileReader& read_file) {
  Context ctx{std::string(file_name), env, {}};
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    const int line = e.mark.is_null() ? 0 : e.mark.line + 1;
    ctx.error(line, "", "YAML syntax error: " + e.msg);
    return fail(std::move(ctx.errors));
  }

  Config cfg;
  if (root.IsNull()) {
    ctx.error(0, "", "the file is empty (it needs at least 'providers:' and 'models:')");
  } else if (!root.IsMap()) {
    ctx.error(line_of(root), "",
              "expected a mapping of settings at the top level, got " + describe(root));
  } else {
    read_document(ctx, root, cfg, read_file);
  }
  if (!ctx.errors.empty()) {
    // The walk visits providers before models whatever their order in the file; reading the
    // errors top to bottom is easier. Errors without a line go last.
    std::stable_sort(
        ctx.errors.begin(), ctx.errors.end(), [](const ConfigError& a, const ConfigError& b) {
          const auto key = [](int l) { return l == 0 ? std::numeric_limits<int>::max() : l; };
          return key(a.line) < key(b.line);
        });
    return fail(std::move(ctx.errors));
  }
  return cfg;
}

}  // namespace switchyard::core
