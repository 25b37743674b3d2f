#include "core/admin_cli.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

#include "core/config.hpp"

namespace switchyard::core {

namespace {

namespace json = boost::json;

// Which members a command's options make.
enum class Fields { none, key, team, spend };

struct CommandSpec {
  std::string_view noun;
  std::string_view verb;  // empty for spend
  std::string_view method;
  bool takes_id;
  std::string_view suffix;  // after /admin/{noun}/{id}
  Fields fields;
};

constexpr std::array<CommandSpec, 14> kCommands{{
    {"keys", "create", "POST", false, "", Fields::key},
    {"keys", "list", "GET", false, "", Fields::none},
    {"keys", "show", "GET", true, "", Fields::none},
    {"keys", "delete", "DELETE", true, "", Fields::none},
    {"keys", "block", "POST", true, "/block", Fields::none},
    {"keys", "unblock", "POST", true, "/unblock", Fields::none},
    {"keys", "rotate", "POST", true, "/rotate", Fields::none},
    {"teams", "create", "POST", false, "", Fields::team},
    {"teams", "list", "GET", false, "", Fields::none},
    {"teams", "show", "GET", true, "", Fields::none},
    {"teams", "delete", "DELETE", true, "", Fields::none},
    {"teams", "block", "POST", true, "/block", Fields::none},
    {"teams", "unblock", "POST", true, "/unblock", Fields::none},
    {"spend", "", "GET", false, "", Fields::spend},
}};

constexpr std::array<std::string_view, 2> kCommonOptions{"url", "admin-key-file"};
constexpr std::array<std::string_view, 14> kKeyOptions{
    "alias",       "team",   "user", "role", "models",   "tags",    "budget",
    "soft-budget", "period", "rpm",  "tpm",  "parallel", "expires", "metadata"};
constexpr std::array<std::string_view, 9> kTeamOptions{
    "name", "models", "budget", "soft-budget", "period", "rpm", "tpm", "parallel", "metadata"};
constexpr std::array<std::string_view, 4> kSpendOptions{"group-by", "from", "to", "csv"};

template <std::size_t N>
bool among(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool takes_option(Fields fields, std::string_view name) {
  if (among(kCommonOptions, name)) return true;
  switch (fields) {
    case Fields::key:
      return among(kKeyOptions, name);
    case Fields::team:
      return among(kTeamOptions, name);
    case Fields::spend:
      return among(kSpendOptions, name);
    case Fields::none:
      break;
  }
  return false;
}

std::string command_name(const CommandSpec& c) {
  std::string out(c.noun);
  if (!c.verb.empty()) out.append(" ").append(c.verb);
  return out;
}

const CommandSpec* find_command(std::string_view noun, std::string_view verb) {
  for (const CommandSpec& c : kCommands)
    if (c.noun == noun && c.verb == verb) return &c;
  return nullptr;
}

using Options = std::map<std::string, std::string, std::less<>>;

struct Words {
  std::vector<std::string_view> positional;
  Options options;
};

// "--name value" or "--name=value"; the last of a repeated option counts.
Result<Words, std::string> split_words(const std::vector<std::string_view>& args,
                                       const CommandSpec& command, std::size_t first) {
  Words words;
  for (std::size_t i = first; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (!arg.starts_with("--")) {
      words.positional.push_back(arg);
      continue;
    }
    std::string_view name = arg.substr(2);
    std::optional<std::string_view> value;
    if (const std::size_t eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "admin-key" || name == "master-key") {
      return fail(std::string("--") + std::string(name) +
                  ": a key on the command line lands in shell history and ps; set "
                  "SWITCHYARD_MASTER_KEY or use --admin-key-file FILE");
    }
    if (!takes_option(command.fields, name)) {
      return fail("'" + command_name(command) + "' takes no option --" + std::string(name));
    }
    if (name == "csv") {
      if (value) return fail(std::string("--csv takes no value"));
      words.options["csv"] = "true";
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return fail("--" + std::string(name) + " needs a value");
      value = args[++i];
    }
    words.options[std::string(name)] = std::string(*value);
  }
  return words;
}

const std::string* option(const Options& options, std::string_view name) {
  const auto it = options.find(name);
  return it == options.end() ? nullptr : &it->second;
}

std::vector<std::string_view> comma_list(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    if (const std::string_view item = text.substr(0, comma); !item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

Result<double, std::string> usd_option(std::string_view name, std::string_view text) {
  double usd = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), usd);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(usd)) {
    return fail("--" + std::string(name) + " wants an amount of USD such as 5 or 0.25, not '" +
                std::string(text) + "'");
  }
  return usd;
}

Result<std::int64_t, std::string> int_option(std::string_view name, std::string_view text) {
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return fail("--" + std::string(name) + " wants a whole number, not '" + std::string(text) +
                "'");
  }
  return n;
}

using Built = std::optional<std::string>;  // an error, or nothing when the member was added

Built add_budget(const Options& o, json::object& body) {
  const std::string* max = option(o, "budget");
  const std::string* soft = option(o, "soft-budget");
  const std::string* period = option(o, "period");
  if (!max) {
    if (soft || period) return "--soft-budget and --period need --budget USD";
    return std::nullopt;
  }
  json::object budget;
  auto max_usd = usd_option("budget", *max);
  if (!max_usd) return max_usd.error();
  budget["max_usd"] = max_usd.value();
  if (soft) {
    auto soft_usd = usd_option("soft-budget", *soft);
    if (!soft_usd) return soft_usd.error();
    budget["soft_usd"] = soft_usd.value();
  }
  if (period) budget["period"] = *period;
  body["budget"] = std::move(budget);
  return std::nullopt;
}

Built add_limits(const Options& o, json::object& body) {
  json::object limits;
  for (const std::string_view name : {"rpm", "tpm", "parallel"}) {
    const std::string* text = option(o, name);
    if (!text) continue;
    auto n = int_option(name, *text);
    if (!n) return n.error();
    limits[name] = n.value();
  }
  if (!limits.empty()) body["limits"] = std::move(limits);
  return std::nullopt;
}

Built add_metadata(const Options& o, json::object& body) {
  const std::string* text = option(o, "metadata");
  if (!text) return std::nullopt;
  json::error_code ec;
  json::value metadata = json::parse(*text, ec);
  if (ec || !metadata.is_object())
    return "--metadata wants a JSON object such as '{\"env\":\"ci\"}'";
  body["metadata"] = std::move(metadata);
  return std::nullopt;
}

void add_list(const Options& o, std::string_view name, json::object& body) {
  const std::string* text = option(o, name);
  if (!text) return;
  json::array items;
  for (const std::string_view item : comma_list(*text)) items.emplace_back(item);
  body[name] = std::move(items);
}

void add_string(const Options& o, std::string_view name, json::object& body) {
  if (const std::string* text = option(o, name)) body[name] = *text;
}

// "30d", "12h", "90m", "3600s" is how long from now (expires_in); anything else is a time
// (expires_at), which the admin API checks.
bool is_duration(std::string_view text) {
  if (text.size() < 2 || std::string_view("dhms").find(text.back()) == std::string_view::npos)
    return false;
  text.remove_suffix(1);
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<std::string, std::string> record_body(Fields fields, const Options& o) {
  json::object body;
  for (const std::string_view name : {"alias", "team", "user", "role", "name"}) {
    if (takes_option(fields, name)) add_string(o, name, body);
  }
  add_list(o, "models", body);
  if (fields == Fields::key) add_list(o, "tags", body);
  for (Built (*add)(const Options&, json::object&) : {add_budget, add_limits, add_metadata}) {
    if (Built error = add(o, body)) return fail(std::move(*error));
  }
  if (const std::string* expires = option(o, "expires")) {
    body[is_duration(*expires) ? "expires_in" : "expires_at"] = *expires;
  }
  return json::serialize(body);
}

void append_percent_encoded(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
}

std::string spend_query(const Options& o) {
  std::string query;
  auto add = [&](std::string_view param, std::string_view value) {
    query += query.empty() ? '?' : '&';
    query.append(param).append("=");
    append_percent_encoded(query, value);
  };
  for (const auto& [option_name, param] :
       {std::pair<std::string_view, std::string_view>{"group-by", "group_by"},
        {"from", "from"},
        {"to", "to"}}) {
    if (const std::string* value = option(o, option_name)) add(param, *value);
  }
  if (option(o, "csv")) add("format", "csv");
  return query;
}

std::string default_url() {
  return "http://127.0.0.1:" + std::to_string(ServerConfig{}.listen_port);
}

// Two spaces a level; strings re-escaped by Boost.JSON.
void pretty(const json::value& v, std::string& out, int depth) {
  const auto indent = [&](int d) { out.append(static_cast<std::size_t>(d) * 2, ' '); };
  if (v.is_object() && !v.get_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& member : v.get_object()) {
      if (!first) out += ",\n";
      first = false;
      indent(depth + 1);
      out += json::serialize(json::string(member.key()));
      out += ": ";
      pretty(member.value(), out, depth + 1);
    }
    out += '\n';
    indent(depth);
    out += '}';
  } else if (v.is_array() && !v.get_array().empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& item : v.get_array()) {
      if (!first) out += ",\n";
      first = false;
      indent(depth + 1);
      pretty(item, out, depth + 1);
    }
    out += '\n';
    indent(depth);
    out += ']';
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

bool is_admin_command(std::string_view word) {
  return word == "keys" || word == "teams" || word == "spend";
}

Result<AdminCommand, std::string> parse_admin_command(const std::vector<std::string_view>& args) {
  if (args.empty() || !is_admin_command(args[0])) return fail(std::string("no admin command"));
  const bool spend = args[0] == "spend";
  const std::string_view verb = spend || args.size() < 2 ? std::string_view() : args[1];
  const CommandSpec* command = find_command(args[0], verb);
  if (!command) {
    return fail("unknown command '" + std::string(args[0]) +
                (verb.empty() ? "" : " " + std::string(verb)) + "'");
  }
  auto words = split_words(args, *command, spend ? 1 : 2);
  if (!words) return fail(std::move(words.error()));
  const std::size_t wanted = command->takes_id ? 1 : 0;
  if (words->positional.size() != wanted) {
    return fail("'" + command_name(*command) + "' takes " +
                (wanted ? std::string("an id") : std::string("no argument")) +
                (words->positional.size() > wanted
                     ? ", not '" + std::string(words->positional.back()) + "'"
                     : std::string()));
  }

  AdminCommand out;
  const Options& o = words->options;
  out.url = option(o, "url") ? *option(o, "url") : default_url();
  if (const std::string* file = option(o, "admin-key-file")) out.admin_key_file = *file;
  out.call.method = std::string(command->method);
  out.call.target = "/admin/" + std::string(command->noun);
  if (command->takes_id) {
    out.call.target += '/';
    append_percent_encoded(out.call.target, words->positional.front());
    out.call.target += command->suffix;
  }
  if (command->fields == Fields::spend) out.call.target += spend_query(o);
  if (command->fields == Fields::key || command->fields == Fields::team) {
    auto body = record_body(command->fields, o);
    if (!body) return fail(std::move(body.error()));
    out.call.body = std::move(body.value());
  }
  return out;
}

std::string admin_usage() {
  return R"(Admin commands, against a running gateway's admin API:
  switchyard keys create [--alias A] [--team T] [--user U] [--role client|admin|reporting]
                         [--models a,b] [--tags a,b] [--budget USD [--soft-budget USD]
                         [--period daily|weekly|monthly|30d]] [--rpm N] [--tpm N]
                         [--parallel N] [--expires 30d|2027-01-01T00:00:00Z]
                         [--metadata JSON]
  switchyard keys list | show ID | block ID | unblock ID | rotate ID | delete ID
  switchyard teams create --name N [--models a,b] [--budget USD ...] [--rpm N] [--tpm N]
                          [--parallel N] [--metadata JSON]
  switchyard teams list | show ID | block ID | unblock ID | delete ID
  switchyard spend [--group-by key|team|model|provider|tag|user|day] [--from T] [--to T]
                   [--csv]

  --url URL             the gateway (default )" +
         default_url() + R"()
  --admin-key-file F    a file holding the master key or an admin key; without it the key
                        is read from $SWITCHYARD_MASTER_KEY (never from the command line)

Prints the admin API's answer; on an error answer prints its message and exits 1.
)";
}

Result<HttpUrl, std::string> parse_http_url(std::string_view url) {
  const auto wrong = [&] {
    return fail("--url wants http://HOST[:PORT][/PREFIX], not '" + std::string(url) + "'");
  };
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return wrong();
  std::string_view rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  HttpUrl out;
  if (slash != std::string_view::npos) out.base_path = std::string(rest.substr(slash));
  while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  std::string_view port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return wrong();
    out.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return wrong();
    if (!after.empty()) port = after.substr(1);
  } else {
    const std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    if (colon != std::string_view::npos && port.empty()) return wrong();
  }
  if (out.host.empty()) return wrong();
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return wrong();
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

std::string pretty_json(std::string_view text) {
  json::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec) return std::string(text);
  std::string out;
  pretty(v, out, 0);
  out += '\n';
  return out;
}

std::string error_message_of(std::string_view body) {
  json::error_code ec;
  const json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    const json::value* error = v.get_object().if_contains("error");
    if (error && error->is_object()) {
      const json::value* message = error->get_object().if_contains("message");
      if (message && message->is_string()) return std::string(message->get_string());
    }
  }
  return std::string(body);
}

}  // namespace switchyard::core
