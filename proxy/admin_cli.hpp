#pragma once
// `switchyard keys|teams|spend ...`: one call to a running gateway's admin API over HTTP (a
// synchronous Beast client: this is a command, not the gateway). What the words mean is
// core/admin_cli; here are the credential, the connection and what is printed.
#include <string_view>
#include <vector>

namespace switchyard::proxy {

// `args` are the words after the program's name. Prints the answer on stdout and returns 0;
// an error answer's message goes to stderr (1), a wrong command line to stderr (2).
int run_admin_command(const std::vector<std::string_view>& args);

}  // namespace switchyard::proxy
