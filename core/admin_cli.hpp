#pragma once
// `switchyard keys|teams|spend ...` (issue 12): the admin CLI's command line mapped onto the
// admin API's requests, for people without curl at hand. Pure: proxy/admin_cli.cpp reads the
// credential, makes the HTTP call and prints the answer. The admin API judges every value
// (core/admin_requests.cpp); this only turns words into its JSON members.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace switchyard::core {

// One admin API request.
struct AdminCall {
  std::string method;  // "GET", "POST", "DELETE"
  std::string target;  // path and query: "/admin/keys", "/admin/spend?group_by=user"
  std::string body;    // JSON; empty for none
};

struct AdminCommand {
  AdminCall call;
  std::string url;             // the gateway, "http://127.0.0.1:4000" unless --url
  std::string admin_key_file;  // empty: the key comes from $SWITCHYARD_MASTER_KEY
};

// The first word of an admin command: keys, teams or spend.
bool is_admin_command(std::string_view word);

// `args` are the words after the program's name ("keys", "create", "--team", "search", ...).
// An unknown command or option, an option the command does not take, a missing value or a
// value that is not a number where one is wanted is an error saying so. A key on the command
// line (--admin-key, --master-key) is refused: it would land in shell history and ps.
Result<AdminCommand, std::string> parse_admin_command(const std::vector<std::string_view>& args);

// The help text of the admin commands.
std::string admin_usage();

struct HttpUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string base_path;  // "" or "/prefix", without a trailing '/'
};

// "http://host[:port][/prefix]"; IPv6 hosts in brackets. Only http: the CLI is for a gateway
// on this machine or the local network.
Result<HttpUrl, std::string> parse_http_url(std::string_view url);

// `text` indented two spaces per level when it is a JSON document, else unchanged.
std::string pretty_json(std::string_view text);

// What an admin API error answer says: error.message of its OpenAI-shaped body, else the body.
std::string error_message_of(std::string_view body);

}  // namespace switchyard::core
