#include "proxy/admin_cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "core/admin_cli.hpp"
#include "proxy/net.hpp"

namespace switchyard::proxy {

namespace {

constexpr auto kTimeout = std::chrono::seconds(60);  // a spend report over a long ledger
constexpr std::uint64_t kMaxAnswerBytes = 256u << 20;

struct Answer {
  int status = 0;
  std::string body;
};

// The master key or an admin key: from the file when one is named, else the environment.
std::optional<std::string> admin_credential(const std::string& file, std::string& problem) {
  std::string key;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in.is_open()) {
      problem = "cannot read the admin key file " + file;
      return std::nullopt;
    }
    std::getline(in, key);
  } else if (const char* env = std::getenv("SWITCHYARD_MASTER_KEY")) {
    key = env;
  }
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' '))
    key.pop_back();
  if (key.empty()) {
    problem = file.empty() ? "set SWITCHYARD_MASTER_KEY (or use --admin-key-file FILE)"
                           : "the admin key file " + file + " is empty";
    return std::nullopt;
  }
  return key;
}

Answer call_admin_api(const core::HttpUrl& url, const core::AdminCall& call,
                      const std::string& credential) {
  net::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  stream.expires_after(kTimeout);
  stream.connect(resolver.resolve(url.host, std::to_string(url.port)));

  http::request<http::string_body> request(http::string_to_verb(call.method),
                                           url.base_path + call.target, 11);
  request.set(http::field::host, url.host + ":" + std::to_string(url.port));
  request.set(http::field::authorization, "Bearer " + credential);
  request.set(http::field::user_agent, "switchyard-cli");
  if (!call.body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = call.body;
  }
  request.prepare_payload();
  http::write(stream, request);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  http::read(stream, buffer, parser);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return {static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
}

}  // namespace

int run_admin_command(const std::vector<std::string_view>& args) {
  auto command = core::parse_admin_command(args);
  if (!command) {
    std::cerr << "switchyard: " << command.error() << "\n\n" << core::admin_usage();
    return 2;
  }
  auto url = core::parse_http_url(command->url);
  if (!url) {
    std::cerr << "switchyard: " << url.error() << "\n";
    return 2;
  }
  std::string problem;
  const std::optional<std::string> credential = admin_credential(command->admin_key_file, problem);
  if (!credential) {
    std::cerr << "switchyard: " << problem << "\n";
    return 2;
  }
  Answer answer;
  try {
    answer = call_admin_api(url.value(), command->call, *credential);
  } catch (const boost::system::system_error& e) {
    std::cerr << "switchyard: no answer from " << command->url << ": " << e.code().message()
              << "\n";
    return 1;
  }
  if (answer.status >= 400) {
    std::cerr << "switchyard: " << answer.status << ": " << core::error_message_of(answer.body)
              << "\n";
    return 1;
  }
  std::cout << core::pretty_json(answer.body);
  return 0;
}

}  // namespace switchyard::proxy
