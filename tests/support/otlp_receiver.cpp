#include "tests/support/otlp_receiver.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <stdexcept>

namespace switchyard::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

namespace {

std::string value_text(const json::value& v) {
  const json::object& o = v.as_object();
  if (const auto* s = o.if_contains("stringValue")) return std::string(s->as_string());
  if (const auto* i = o.if_contains("intValue")) return std::string(i->as_string());
  if (const auto* b = o.if_contains("boolValue")) return b->as_bool() ? "true" : "false";
  if (const auto* d = o.if_contains("doubleValue")) return json::serialize(*d);
  return json::serialize(v);
}

std::string find_attribute(const json::object& holder, std::string_view key) {
  const auto* list = holder.if_contains("attributes");
  if (list == nullptr) return "(absent)";
  for (const auto& a : list->as_array()) {
    const auto& entry = a.as_object();
    if (entry.at("key").as_string() == key) return value_text(entry.at("value"));
  }
  return "(absent)";
}

}  // namespace

std::string ReceivedSpan::attribute(std::string_view key) const {
  return find_attribute(span, key);
}
std::string ReceivedSpan::resource_attribute(std::string_view key) const {
  return find_attribute(resource, key);
}
std::string ReceivedSpan::field(std::string_view key) const {
  const auto* v = span.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

struct OtlpReceiver::State {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  mutable std::mutex mutex;
  std::condition_variable changed;
  Mode mode = Mode::accept;
  std::vector<ReceivedSpan> spans;
  std::size_t exports = 0;
  std::map<std::string, std::string> last_headers;

  // Keeps what one export body holds; a body that is not OTLP JSON fails the test run loudly.
  void take(const std::string& body, std::map<std::string, std::string> headers) {
    std::vector<ReceivedSpan> got;
    const json::object doc = json::parse(body).as_object();
    for (const auto& rs : doc.at("resourceSpans").as_array()) {
      const auto& resource_spans = rs.as_object();
      const json::object resource = resource_spans.at("resource").as_object();
      for (const auto& ss : resource_spans.at("scopeSpans").as_array()) {
        const auto& scope_spans = ss.as_object();
        const json::object scope = scope_spans.at("scope").as_object();
        for (const auto& span : scope_spans.at("spans").as_array())
          got.push_back({span.as_object(), resource, scope});
      }
    }
    std::lock_guard lock(mutex);
    ++exports;
    last_headers = std::move(headers);
    for (auto& s : got) spans.push_back(std::move(s));
    changed.notify_all();
  }

  net::awaitable<void> serve(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 << 20);
      auto [ec, n] =
          co_await http::async_read(socket, buffer, parser, net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      const auto& request = parser.get();
      std::map<std::string, std::string> headers;
      for (const auto& field : request) {
        std::string name(field.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        headers[name] = std::string(field.value());
      }
      Mode now;
      {
        std::lock_guard lock(mutex);
        now = mode;
      }
      if (now == Mode::stall) {
        {
          std::lock_guard lock(mutex);
          ++exports;
          last_headers = std::move(headers);
          changed.notify_all();
        }
        // Never answers: the exporter's timeout must end the wait.
        net::steady_timer forever(socket.get_executor(), std::chrono::hours(1));
        co_await forever.async_wait(net::as_tuple(net::use_awaitable));
        co_return;
      }
      http::response<http::string_body> response;
      response.version(11);
      response.set(http::field::content_type, "application/json");
      if (now == Mode::refuse) {
        std::lock_guard lock(mutex);
        ++exports;
        last_headers = std::move(headers);
        changed.notify_all();
        response.result(http::status::service_unavailable);
        response.body() = R"({"code":14,"message":"unavailable"})";
      } else if (request.method() != http::verb::post || request.target() != "/v1/traces") {
        response.result(http::status::not_found);
        response.body() = "{}";
      } else {
        take(request.body(), std::move(headers));
        response.result(http::status::ok);
        response.body() = "{}";
      }
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      auto [wec, wn] =
          co_await http::async_write(socket, response, net::as_tuple(net::use_awaitable));
      if (wec || !request.keep_alive()) co_return;
    }
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      net::co_spawn(ioc, serve(std::move(socket)), net::detached);
    }
  }
};

OtlpReceiver::OtlpReceiver() : state_(std::make_shared<State>()) {
  tcp::endpoint where(net::ip::make_address("127.0.0.1"), 0);
  state_->acceptor.open(where.protocol());
  state_->acceptor.set_option(net::socket_base::reuse_address(true));
  state_->acceptor.bind(where);
  state_->acceptor.listen();
  port_ = state_->acceptor.local_endpoint().port();
  net::co_spawn(state_->ioc, state_->accept_loop(), net::detached);
  thread_ = std::thread([state = state_] { state->ioc.run(); });
}

OtlpReceiver::~OtlpReceiver() {
  state_->ioc.stop();
  thread_.join();
}

std::string OtlpReceiver::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces";
}

void OtlpReceiver::set_mode(Mode mode) {
  std::lock_guard lock(state_->mutex);
  state_->mode = mode;
}

std::vector<ReceivedSpan> OtlpReceiver::spans() const {
  std::lock_guard lock(state_->mutex);
  return state_->spans;
}

std::vector<ReceivedSpan> OtlpReceiver::wait_for_spans(std::size_t count,
                                                       std::chrono::milliseconds deadline) {
  std::unique_lock lock(state_->mutex);
  if (!state_->changed.wait_for(lock, deadline, [&] { return state_->spans.size() >= count; }))
    throw std::runtime_error("the collector received " + std::to_string(state_->spans.size()) +
                             " spans, not " + std::to_string(count));
  return state_->spans;
}

std::size_t OtlpReceiver::wait_for_exports(std::size_t count, std::chrono::milliseconds deadline) {
  std::unique_lock lock(state_->mutex);
  if (!state_->changed.wait_for(lock, deadline, [&] { return state_->exports >= count; }))
    throw std::runtime_error("the collector received " + std::to_string(state_->exports) +
                             " exports, not " + std::to_string(count));
  return state_->exports;
}

std::size_t OtlpReceiver::exports() const {
  std::lock_guard lock(state_->mutex);
  return state_->exports;
}

std::map<std::string, std::string> OtlpReceiver::last_headers() const {
  std::lock_guard lock(state_->mutex);
  return state_->last_headers;
}

}  // namespace switchyard::testing
