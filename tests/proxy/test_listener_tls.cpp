// TLS on the client-facing listener (`tls: {cert_file, key_file}`): real clients (curl, and a
// Beast client with peer and host name verification) against certificates made at test time
// by a test CA; plain HTTP and silent clients are dropped without disturbing the others; a
// reload rotates the certificate for new connections while kept-alive ones carry on; a key
// that cannot be read stops the start, naming the file.
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/proxy/gateway_fixture.hpp"

using namespace switchyard::testing;

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

void run_openssl(const std::string& args) {
  const std::string command = "openssl " + args + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

// A test CA: DIR/NAME.pem (certificate) and DIR/NAME.key.
void make_ca(const std::string& dir, const std::string& name) {
  run_openssl(
      "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=" +
      name +
      "' -addext basicConstraints=critical,CA:TRUE -addext "
      "keyUsage=critical,keyCertSign,cRLSign -keyout " +
      dir + "/" + name + ".key -out " + dir + "/" + name + ".pem");
}

// A server certificate for 127.0.0.1 and localhost signed by the CA `ca`: DIR/NAME.pem (the
// chain: the server's certificate, then the CA's) and DIR/NAME.key.
void make_server_cert(const std::string& dir, const std::string& name, const std::string& ca) {
  const std::string base = dir + "/" + name;
  std::ofstream(base + ".ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               << "basicConstraints=CA:FALSE\n"
                               << "keyUsage=critical,digitalSignature\n"
                               << "extendedKeyUsage=serverAuth\n";
  run_openssl(
      "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
      "-keyout " +
      base + ".key -out " + base + ".csr");
  run_openssl("x509 -req -in " + base + ".csr -CA " + dir + "/" + ca + ".pem -CAkey " + dir + "/" +
              ca + ".key -CAcreateserial -days 2 -extfile " + base + ".ext -out " + base +
              ".leaf.pem");
  std::ofstream chain(base + ".pem");
  chain << std::ifstream(base + ".leaf.pem").rdbuf()
        << std::ifstream(dir + "/" + ca + ".pem").rdbuf();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// As an operator's tooling does: written beside, renamed over.
void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path + ".new") << text;
  std::filesystem::rename(path + ".new", path);
}

std::string replaced(std::string text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

struct ClientTls {
  std::string ca_file;             // empty: no CA is trusted
  std::string host = "localhost";  // SNI and the name the certificate must carry
  std::vector<std::string> alpn{"http/1.1"};
  int max_version = 0;  // e.g. TLS1_1_VERSION; 0: OpenSSL's newest
};

// A keep-alive HTTPS connection with a Beast client: peer verification against `ca_file`
// and host name verification, each operation under a deadline so a hung server fails the test.
class TlsConnection {
 public:
  TlsConnection(std::uint16_t port, const ClientTls& options) : context_(ssl::context::tls_client) {
    context_.set_verify_mode(ssl::verify_peer);
    if (!options.ca_file.empty()) context_.load_verify_file(options.ca_file);
    if (options.max_version != 0) {
      // What an old client offers, for real: the old versions allowed at this end, so the
      // refusal can only come from the server.
      SSL_CTX_set_min_proto_version(context_.native_handle(), TLS1_VERSION);
      SSL_CTX_set_max_proto_version(context_.native_handle(), options.max_version);
      SSL_CTX_set_cipher_list(context_.native_handle(), "DEFAULT:@SECLEVEL=0");
    }
    stream_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, context_);
    SSL* ssl = stream_->native_handle();
    SSL_set_tlsext_host_name(ssl, options.host.c_str());
    stream_->set_verify_callback(ssl::host_name_verification(options.host));
    if (!options.alpn.empty()) {
      std::string wire;
      for (const auto& p : options.alpn) wire += static_cast<char>(p.size()) + p;
      SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned>(wire.size()));
    }
    auto& tcp_layer = beast::get_lowest_layer(*stream_);
    tcp_layer.expires_after(10s);
    const tcp::endpoint endpoint(net::ip::address_v4::loopback(), port);
    if (auto ec = run([&](auto h) { tcp_layer.async_connect(endpoint, std::move(h)); }))
      throw std::runtime_error("connect: " + ec.message());
    tcp_layer.expires_after(10s);
    if (auto ec =
            run([&](auto h) { stream_->async_handshake(ssl::stream_base::client, std::move(h)); }))
      throw std::runtime_error("handshake: " + ec.message());
  }

  std::string alpn() const {
    const unsigned char* data = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(stream_->native_handle(), &data, &length);
    return {reinterpret_cast<const char*>(data), length};
  }

  HttpResponse request(http::verb method, std::string_view target, std::string_view body = {}) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "localhost");
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
    req.prepare_payload();
    auto& tcp_layer = beast::get_lowest_layer(*stream_);
    tcp_layer.expires_after(30s);
    if (auto ec = run([&](auto h) { http::async_write(*stream_, req, std::move(h)); }))
      throw std::runtime_error("write: " + ec.message());
    http::response<http::string_body> res;
    if (auto ec = run([&](auto h) { http::async_read(*stream_, buffer_, res, std::move(h)); }))
      throw std::runtime_error("read: " + ec.message());
    HttpResponse out;
    out.status = res.result_int();
    for (const auto& field : res) out.headers[std::string(field.name_string())] = field.value();
    out.body = std::move(res.body());
    return out;
  }

 private:
  template <class Initiate>
  beast::error_code run(Initiate&& initiate) {
    beast::error_code result;
    initiate([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  net::io_context ioc_{1};
  ssl::context context_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

// The handshake's error message, or "" when it succeeded.
std::string handshake_error(std::uint16_t port, const ClientTls& options) {
  try {
    TlsConnection connection(port, options);
    return "";
  } catch (const std::runtime_error& e) {
    return e.what();
  }
}

// The gateway on a TLS listener with the certificate "server1" of the CA "ca1".
GatewayOptions tls_options(std::string extra_top_level = {}) {
  GatewayOptions options;
  options.top_level =
      "tls: {cert_file: server1.pem, key_file: server1.key}\n" + std::move(extra_top_level);
  options.prepare = [](const std::string& dir) {
    make_ca(dir, "ca1");
    make_server_cert(dir, "server1", "ca1");
  };
  return options;
}

struct CurlResult {
  int exit_code = -1;
  std::string output;
};

// curl verifying the gateway against `ca_file` (it adds nothing of its own to trust).
CurlResult curl(const std::string& args) {
  const std::string command = "curl -sS --max-time 20 " + args + " 2>&1";
  CurlResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run curl");
  char chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0) result.output.append(chunk, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

double handshake_failures(std::uint16_t port, const std::string& ca_file) {
  TlsConnection connection(port, {.ca_file = ca_file});
  return metric_value(connection.request(http::verb::get, "/metrics").body,
                      "switchyard_tls_handshake_failures_total");
}

}  // namespace

TEST_CASE("tls listener: curl verifying against the test CA gets whole answers and streams") {
  GatewayFixture gw(tls_options());
  const std::string ca = gw.dir + "/ca1.pem";
  std::ofstream(gw.dir + "/body.json")
      << chat_body("gpt-test", R"(,"mock":{"text":"Hello over TLS","chunks":3})");
  const std::string url = "https://127.0.0.1:" + std::to_string(gw.port) + "/v1/chat/completions";
  const CurlResult whole = curl("--cacert " + ca + " -H 'content-type: application/json' -d @" +
                                gw.dir + "/body.json -w '\\n%{http_code} %{http_version}' " + url);
  INFO(whole.output);
  REQUIRE(whole.exit_code == 0);
  const auto status_line = whole.output.rfind('\n');
  CHECK(whole.output.substr(status_line + 1) == "200 1.1");
  const auto answer = parse_object(whole.output.substr(0, status_line));
  CHECK(answer.at("choices").as_array()[0].at("message").at("content").as_string() ==
        "Hello over TLS");

  std::ofstream(gw.dir + "/stream.json") << chat_body(
      "gpt-test", R"(,"stream":true,"mock":{"text":"one two three four five","chunks":5})");
  const CurlResult streamed =
      curl("-N --cacert " + ca + " -H 'content-type: application/json' -d @" + gw.dir +
           "/stream.json " + url);
  INFO(streamed.output);
  REQUIRE(streamed.exit_code == 0);
  const auto events = sse_data(streamed.output);
  REQUIRE(events.size() == 1 + 5 + 1 + 1);  // role, 5 content chunks, finish, [DONE]
  CHECK(events.back() == "[DONE]");
  std::string text;
  for (const auto& e : events) {
    if (e == "[DONE]") continue;
    const auto event = parse_object(e);
    const auto& delta = event.at("choices").as_array()[0].at("delta").as_object();
    if (const auto* c = delta.if_contains("content")) text += c->as_string();
  }
  CHECK(text == "one two three four five");

  // Trusting another CA only, curl refuses the certificate.
  make_ca(gw.dir, "stranger");
  const CurlResult untrusted = curl("--cacert " + gw.dir + "/stranger.pem " + url);
  INFO(untrusted.output);
  CHECK(untrusted.exit_code == 60);  // "Peer certificate cannot be authenticated"
}

TEST_CASE(
    "tls listener: a verifying Beast client gets 200 over ALPN http/1.1; TLS 1.1, h2-only "
    "and untrusting clients fail the handshake") {
  GatewayFixture gw(tls_options());
  const std::string ca = gw.dir + "/ca1.pem";
  {
    TlsConnection connection(gw.port, {.ca_file = ca});
    CHECK(connection.alpn() == "http/1.1");
    const auto res =
        connection.request(http::verb::post, "/v1/chat/completions", chat_body("gpt-test"));
    CHECK(res.status == 200);
    CHECK(parse_object(res.body).at("object").as_string() == "chat.completion");
    // Kept alive: a second request on the same connection.
    CHECK(connection.request(http::verb::get, "/health/ready").status == 200);
  }
  // Verified by IP address too (curl's case above), and without ALPN: plain HTTP/1.1.
  {
    TlsConnection by_ip(gw.port, {.ca_file = ca, .host = "127.0.0.1", .alpn = {}});
    CHECK(by_ip.alpn().empty());
    CHECK(by_ip.request(http::verb::get, "/v1/models").status == 200);
  }
  // A client that offers both: http/1.1 is chosen.
  CHECK(TlsConnection(gw.port, {.ca_file = ca, .alpn = {"h2", "http/1.1"}}).alpn() == "http/1.1");

  const std::string old_client =
      handshake_error(gw.port, {.ca_file = ca, .max_version = TLS1_1_VERSION});
  INFO(old_client);
  CHECK(old_client.find("protocol version") != std::string::npos);
  const std::string h2_only = handshake_error(gw.port, {.ca_file = ca, .alpn = {"h2"}});
  INFO(h2_only);
  CHECK(h2_only.find("no application protocol") != std::string::npos);
  const std::string untrusting = handshake_error(gw.port, {});
  INFO(untrusting);
  CHECK(untrusting.find("certificate verify failed") != std::string::npos);
  const std::string wrong_name = handshake_error(gw.port, {.ca_file = ca, .host = "example.com"});
  CHECK(wrong_name.find("certificate verify failed") != std::string::npos);

  // Each refused handshake counted at the gateway (the client-side refusals too: the server
  // sees the client's alert).
  CHECK(handshake_failures(gw.port, ca) == 4);
}

TEST_CASE("tls listener: plain HTTP and silent clients are dropped, TLS clients are served on") {
  GatewayFixture gw(tls_options("read_timeout_ms: 1000\n"));
  const std::string ca = gw.dir + "/ca1.pem";
  TlsConnection before(gw.port, {.ca_file = ca});
  // One request first: from then on the keep-alive time applies to it, not read_timeout_ms.
  REQUIRE(before.request(http::verb::get, "/health/ready").status == 200);

  // Plain HTTP on the TLS port: not a handshake, dropped at once, no HTTP answer.
  auto start = std::chrono::steady_clock::now();
  const std::string plain =
      raw_exchange(gw.port, "GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n", 10s);
  CHECK(plain.find("HTTP/1.1") == std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 5s);

  // A client that connects and says nothing: dropped after read_timeout_ms.
  start = std::chrono::steady_clock::now();
  CHECK(raw_exchange(gw.port, "", 10s).empty());
  const auto silent_for = std::chrono::steady_clock::now() - start;
  CHECK(silent_for >= 900ms);
  CHECK(silent_for < 5s);

  // The connection made before and a new one are both served.
  CHECK(before.request(http::verb::get, "/health/live").status == 200);
  TlsConnection after(gw.port, {.ca_file = ca});
  CHECK(after.request(http::verb::post, "/v1/chat/completions", chat_body("gpt-test")).status ==
        200);
  CHECK(handshake_failures(gw.port, ca) == 2);
}

TEST_CASE(
    "tls listener: a reload presents the new certificate to new connections; kept-alive "
    "ones carry on; an unusable key is refused") {
  GatewayFixture gw(tls_options());
  const std::string config = gw.dir + "/switchyard.yaml";
  const std::string ca1 = gw.dir + "/ca1.pem";
  const std::string ca2 = gw.dir + "/ca2.pem";
  make_ca(gw.dir, "ca2");
  make_server_cert(gw.dir, "server2", "ca2");
  TlsConnection kept(gw.port, {.ca_file = ca1});
  REQUIRE(kept.request(http::verb::get, "/health/ready").status == 200);

  const std::string original = read_text(config);
  write_file(config, replaced(original, "tls: {cert_file: server1.pem, key_file: server1.key}",
                              "tls: {cert_file: server2.pem, key_file: server2.key}"));
  gw.gateway().mark_output();
  gw.gateway().send_signal(SIGHUP);
  gw.gateway().wait_for_output("config reloaded", 10s);

  // New connections: the second CA's certificate, which the first CA does not vouch for.
  TlsConnection rotated(gw.port, {.ca_file = ca2});
  CHECK(rotated.request(http::verb::post, "/v1/chat/completions", chat_body("gpt-test")).status ==
        200);
  CHECK(handshake_error(gw.port, {.ca_file = ca1}).find("certificate verify failed") !=
        std::string::npos);
  // The connection made before the reload keeps its session.
  CHECK(kept.request(http::verb::post, "/v1/chat/completions", chat_body("gpt-test")).status ==
        200);

  // Rotation in place: the same paths with new contents (server2 now signed by ca1).
  make_server_cert(gw.dir, "server2", "ca1");
  gw.gateway().send_signal(SIGHUP);
  gw.gateway().wait_for_output("config reloaded", 10s);
  CHECK(handshake_error(gw.port, {.ca_file = ca1}).empty());

  // A key file that is gone: refused, naming the file, and the running certificate serves on.
  std::filesystem::remove(gw.dir + "/server2.key");
  gw.gateway().send_signal(SIGHUP);
  const std::string refused = gw.gateway().wait_for_output("reload refused", 10s);
  CHECK(refused.find(gw.dir + "/server2.key") != std::string::npos);
  CHECK(TlsConnection(gw.port, {.ca_file = ca1}).request(http::verb::get, "/health/ready").status ==
        200);
  CHECK(kept.request(http::verb::get, "/health/live").status == 200);
}

TEST_CASE("tls listener: a key that cannot be used stops the start and --check, naming the file") {
  TempDir dir("switchyard-tls");
  make_ca(dir.path, "ca1");
  make_server_cert(dir.path, "server1", "ca1");
  make_server_cert(dir.path, "other", "ca1");
  const std::string config = dir.path + "/switchyard.yaml";
  auto write_config = [&](const std::string& tls) {
    std::ofstream(config) << "listen: 127.0.0.1:0\nworkers: 1\naccess_log: off\n"
                          << tls << "\nproviders:\n  - {name: m, type: mock}\nmodels:\n"
                          << "  - {name: mock-test, provider: m}\n";
  };
  const std::string missing = dir.path + "/missing.key";
  write_config("tls: {cert_file: server1.pem, key_file: missing.key}");
  {
    auto gateway = ChildProcess::start({SWITCHYARD_BIN, "--config", config});
    REQUIRE(gateway.wait_exit(20s) == 1);
    const std::string out = gateway.output();
    INFO(out);
    CHECK(out.find("tls: cannot use the private key in " + missing) != std::string::npos);
    CHECK(out.find("listening on") == std::string::npos);
  }
  {
    auto check = ChildProcess::start({SWITCHYARD_BIN, "--config", config, "--check"});
    REQUIRE(check.wait_exit(20s) == 1);
    CHECK(check.output().find(missing) != std::string::npos);
  }
  // A key of another certificate: OpenSSL's reason, and no key material is quoted.
  write_config("tls: {cert_file: server1.pem, key_file: other.key}");
  {
    auto check = ChildProcess::start({SWITCHYARD_BIN, "--config", config, "--check"});
    REQUIRE(check.wait_exit(20s) == 1);
    const std::string out = check.output();
    INFO(out);
    CHECK(out.find("cannot use the private key in " + dir.path +
                   "/other.key: key values mismatch") != std::string::npos);
    CHECK(out.find("PRIVATE KEY") == std::string::npos);
  }
  // The certificate given as the key: not a key, named, its text not echoed.
  write_config("tls: {cert_file: server1.pem, key_file: server1.pem}");
  {
    auto check = ChildProcess::start({SWITCHYARD_BIN, "--config", config, "--check"});
    REQUIRE(check.wait_exit(20s) == 1);
    const std::string out = check.output();
    INFO(out);
    CHECK(out.find("cannot use the private key in " + dir.path + "/server1.pem") !=
          std::string::npos);
    CHECK(out.find("BEGIN") == std::string::npos);
  }
  write_config("tls: {cert_file: server1.pem, key_file: server1.key}");
  {
    auto check = ChildProcess::start({SWITCHYARD_BIN, "--config", config, "--check"});
    CHECK(check.wait_exit(20s) == 0);
  }
}
