#include "tests/proxy/adversarial_helpers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace switchyard::testing {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

GatewayOptions with_hostile_providers(GatewayOptions options, std::uint16_t hostile_port,
                                      std::string_view provider_extra) {
  const std::string base = "http://127.0.0.1:" + std::to_string(hostile_port);
  const std::string extra(provider_extra);
  options.extra_providers += "  - {name: hostile-openai, type: openai_compatible, base_url: \"" +
                             base + "/v1\"" + extra + "}\n" +
                             "  - {name: hostile-native, type: openai, base_url: \"" + base +
                             "/v1\", api_key: \"${UPSTREAM_KEY}\"" + extra + "}\n" +
                             "  - {name: hostile-anthropic, type: anthropic, base_url: \"" + base +
                             "\", api_key: \"${UPSTREAM_KEY}\"" + extra + "}\n" +
                             "  - {name: hostile-google, type: gemini, base_url: \"" + base +
                             "/v1beta\", api_key: \"${UPSTREAM_KEY}\"" + extra + "}\n";
  options.extra_models +=
      "  - {name: hostile-chat, provider: hostile-openai, model: chat-up}\n"
      "  - {name: hostile-resp, provider: hostile-native, model: resp-up}\n"
      "  - {name: hostile-claude, provider: hostile-anthropic, model: claude-up}\n"
      "  - {name: hostile-gemini, provider: hostile-google, model: gemini-up}\n";
  return options;
}

// ---------------------------------------------------------------------------------------------

std::string_view door_name(Door door) {
  switch (door) {
    case Door::messages:
      return "Messages";
    case Door::responses:
      return "Responses";
    case Door::chat:
      break;
  }
  return "Chat";
}

std::string_view door_path(Door door) {
  switch (door) {
    case Door::messages:
      return "/v1/messages";
    case Door::responses:
      return "/v1/responses";
    case Door::chat:
      break;
  }
  return "/v1/chat/completions";
}

std::string json_string(std::string_view s) {
  return json::serialize(json::value(json::string(s)));
}

std::string door_body(Door door, std::string_view model, std::string_view text, bool stream,
                      std::string_view extra) {
  std::string body = "{\"model\":" + json_string(model);
  switch (door) {
    case Door::chat:
      body += ",\"messages\":[{\"role\":\"user\",\"content\":" + json_string(text) + "}]";
      break;
    case Door::messages:
      body +=
          ",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":" + json_string(text) +
          "}]";
      break;
    case Door::responses:
      body += ",\"input\":" + json_string(text);
      break;
  }
  if (stream) body += ",\"stream\":true";
  body += extra;
  body += "}";
  return body;
}

HttpHeaders door_headers(Door door) {
  if (door == Door::messages)
    return {{"anthropic-version", "2023-06-01"}, {"x-api-key", "sk-ant-client"}};
  return {};
}

std::vector<SseEvent> parse_sse(std::string_view body) {
  std::vector<SseEvent> events;
  SseEvent current;
  bool has_data = false;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (has_data) events.push_back(std::move(current));
      current = {};
      has_data = false;
    } else if (line.starts_with("event:")) {
      line.remove_prefix(6);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      current.name = std::string(line);
    } else if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (has_data) current.data += '\n';
      current.data += line;
      has_data = true;
    }
    pos = end + 1;
  }
  // An unterminated last event still counts: a client would see its bytes.
  if (has_data) events.push_back(std::move(current));
  return events;
}

Answer call(std::uint16_t port, Door door, std::string_view model, std::string_view text,
            bool stream, std::string_view extra, std::chrono::milliseconds timeout) {
  Answer answer;
  const std::string body = door_body(door, model, text, stream, extra);
  try {
    StreamingResponse res(port, "POST", door_path(door), body, door_headers(door), timeout);
    answer.status = res.status();
    answer.content_type = res.header("content-type");
    answer.retry_after = res.header("retry-after");
    answer.body = res.read_all(timeout);
    if (answer.content_type.starts_with("text/event-stream"))
      answer.events = parse_sse(answer.body);
  } catch (const std::exception& e) {
    answer.failure = e.what();
  }
  return answer;
}

namespace {

const json::object* as_object(const json::value* v) { return v ? v->if_object() : nullptr; }

std::string string_at(const json::object* o, std::string_view key) {
  if (!o) return {};
  const json::value* v = o->if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::optional<json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

}  // namespace

ErrorBody read_error_body(Door door, std::string_view body) {
  ErrorBody out;
  const auto parsed = parse_json(body);
  const json::object* root = parsed ? parsed->if_object() : nullptr;
  if (!root) {
    out.shape_problem = "not a JSON object: " + std::string(body.substr(0, 300));
    return out;
  }
  const json::object* error = as_object(root->if_contains("error"));
  if (!error) {
    out.shape_problem = "no error object: " + std::string(body.substr(0, 300));
    return out;
  }
  out.type = string_at(error, "type");
  out.message = string_at(error, "message");
  if (door == Door::messages) {
    if (string_at(root, "type") != "error")
      out.shape_problem = "Anthropic error without type:error";
  } else {
    for (const char* key : {"message", "type", "param", "code"}) {
      if (!error->contains(key)) out.shape_problem = std::string("OpenAI error without ") + key;
    }
    out.code = string_at(error, "code");
  }
  if (out.message.empty() && out.shape_problem.empty()) out.shape_problem = "empty error message";
  return out;
}

std::optional<ErrorBody> stream_error(Door door, const std::vector<SseEvent>& events) {
  if (events.empty()) return std::nullopt;
  const SseEvent& last = events.back();
  const auto parsed = parse_json(last.data);
  const json::object* root = parsed ? parsed->if_object() : nullptr;
  if (!root) return std::nullopt;
  switch (door) {
    case Door::chat: {
      if (!root->contains("error")) return std::nullopt;
      return read_error_body(door, last.data);
    }
    case Door::messages: {
      if (last.name != "error") return std::nullopt;
      return read_error_body(door, last.data);
    }
    case Door::responses: {
      if (last.name != "response.failed") return std::nullopt;
      ErrorBody out;
      const json::object* response = as_object(root->if_contains("response"));
      const json::object* error = response ? as_object(response->if_contains("error")) : nullptr;
      out.code = string_at(error, "code");
      out.message = string_at(error, "message");
      if (!error) out.shape_problem = "response.failed without response.error";
      return out;
    }
  }
  return std::nullopt;
}

bool stream_claims_normal_finish(Door door, const std::vector<SseEvent>& events) {
  for (const SseEvent& e : events) {
    switch (door) {
      case Door::chat:
        if (e.data == "[DONE]" || e.data.find("\"finish_reason\":\"stop\"") != std::string::npos)
          return true;
        break;
      case Door::messages:
        if (e.name == "message_stop" || e.data.find("\"end_turn\"") != std::string::npos)
          return true;
        break;
      case Door::responses:
        if (e.name == "response.completed") return true;
        break;
    }
  }
  return false;
}

std::string answer_text(Door door, const Answer& answer) {
  std::string text;
  if (!answer.events.empty()) {
    for (const SseEvent& e : answer.events) {
      const auto parsed = parse_json(e.data);
      const json::object* o = parsed ? parsed->if_object() : nullptr;
      if (!o) continue;
      if (door == Door::chat) {
        const json::value* choices = o->if_contains("choices");
        if (!choices || !choices->is_array() || choices->get_array().empty()) continue;
        const json::object* choice = choices->get_array()[0].if_object();
        text += string_at(as_object(choice ? choice->if_contains("delta") : nullptr), "content");
      } else if (door == Door::messages) {
        if (string_at(o, "type") == "content_block_delta")
          text += string_at(as_object(o->if_contains("delta")), "text");
      } else if (string_at(o, "type") == "response.output_text.delta") {
        text += string_at(o, "delta");
      }
    }
    return text;
  }
  const auto parsed = parse_json(answer.body);
  const json::object* o = parsed ? parsed->if_object() : nullptr;
  if (!o) return {};
  auto array_at = [](const json::object* obj, std::string_view key) -> const json::array* {
    const json::value* v = obj ? obj->if_contains(key) : nullptr;
    return v ? v->if_array() : nullptr;
  };
  if (door == Door::chat) {
    if (const json::array* choices = array_at(o, "choices"); choices && !choices->empty()) {
      const json::object* choice = (*choices)[0].if_object();
      text = string_at(as_object(choice ? choice->if_contains("message") : nullptr), "content");
    }
  } else if (door == Door::messages) {
    if (const json::array* content = array_at(o, "content")) {
      for (const auto& block : *content) text += string_at(block.if_object(), "text");
    }
  } else if (const json::array* output = array_at(o, "output")) {
    for (const auto& item : *output) {
      if (const json::array* content = array_at(item.if_object(), "content")) {
        for (const auto& part : *content) text += string_at(part.if_object(), "text");
      }
    }
  }
  return text;
}

// ---------------------------------------------------------------------------------------------

std::string chat_completion_json(std::string_view text, std::string_view model) {
  return R"({"id":"chatcmpl-hostile","object":"chat.completion","created":1,"model":)" +
         json_string(model) + R"(,"choices":[{"index":0,"message":{"role":"assistant","content":)" +
         json_string(text) +
         R"(},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}})";
}

std::vector<std::string> chat_stream_events(std::string_view text, bool finished) {
  const std::string head =
      R"(data: {"id":"chatcmpl-hostile","object":"chat.completion.chunk","created":1,"model":"chat-up","choices":[)";
  std::vector<std::string> out{
      head + R"({"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})"
             "\n\n",
      head + R"({"index":0,"delta":{"content":)" + json_string(text) +
          R"(},"finish_reason":null}]})"
          "\n\n"};
  if (finished) {
    out.push_back(head + R"({"index":0,"delta":{},"finish_reason":"stop"}]})"
                         "\n\n");
    out.push_back(head + R"(],"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}})"
                         "\n\n");
    out.push_back("data: [DONE]\n\n");
  }
  return out;
}

std::string anthropic_message_json(std::string_view text) {
  return R"({"id":"msg_hostile","type":"message","role":"assistant","model":"claude-up","content":[{"type":"text","text":)" +
         json_string(text) +
         R"(}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":5}})";
}

std::vector<std::string> anthropic_stream_events(std::string_view text, bool finished) {
  std::vector<std::string> out{
      "event: message_start\ndata: "
      R"({"type":"message_start","message":{"id":"msg_hostile","type":"message","role":"assistant","model":"claude-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":1}}})"
      "\n\n",
      "event: content_block_start\ndata: "
      R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
      "\n\n",
      "event: content_block_delta\ndata: "
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":)" +
          json_string(text) + "}}\n\n"};
  if (finished) {
    out.push_back(
        "event: content_block_stop\ndata: "
        R"({"type":"content_block_stop","index":0})"
        "\n\n");
    out.push_back(
        "event: message_delta\ndata: "
        R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}})"
        "\n\n");
    out.push_back(
        "event: message_stop\ndata: "
        R"({"type":"message_stop"})"
        "\n\n");
  }
  return out;
}

std::string gemini_json(std::string_view text) {
  return R"({"candidates":[{"content":{"parts":[{"text":)" + json_string(text) +
         R"(}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":5,"totalTokenCount":12},"modelVersion":"gemini-up"})";
}

std::vector<std::string> gemini_stream_events(std::string_view text, bool finished) {
  std::vector<std::string> out{
      "data: "
      R"({"candidates":[{"content":{"parts":[{"text":)" +
      json_string(text) +
      R"(}],"role":"model"},"index":0}],"modelVersion":"gemini-up"})"
      "\r\n\r\n"};
  if (finished) {
    out.push_back(
        "data: "
        R"({"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":5,"totalTokenCount":12},"modelVersion":"gemini-up"})"
        "\r\n\r\n");
  }
  return out;
}

std::vector<std::string> responses_stream_events(std::string_view text, bool finished) {
  const std::string response_head =
      R"({"id":"resp_hostile","object":"response","created_at":1,"model":"resp-up",)";
  std::vector<std::string> out{
      "event: response.created\ndata: {\"type\":\"response.created\",\"response\":" +
          response_head +
          R"("status":"in_progress","output":[]}})"
          "\n\n",
      "event: response.output_text.delta\ndata: "
      R"({"type":"response.output_text.delta","item_id":"msg_hostile","output_index":0,"content_index":0,"delta":)" +
          json_string(text) + "}\n\n"};
  if (finished) {
    out.push_back(
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":" +
        response_head +
        R"("status":"completed","output":[{"type":"message","id":"msg_hostile","status":"completed","role":"assistant","content":[{"type":"output_text","text":)" +
        json_string(text) +
        R"(,"annotations":[]}]}],"usage":{"input_tokens":7,"output_tokens":5,"total_tokens":12}}})"
        "\n\n");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

namespace {

constexpr int kStreamChunks = 40;

std::string background_text() {
  std::string text;
  for (int i = 1; i <= kStreamChunks; ++i) {
    if (i > 1) text += ' ';
    text += 'w';
    text += std::to_string(i);
  }
  return text;
}

}  // namespace

BackgroundStreams::BackgroundStreams(std::uint16_t port) : port_(port) {
  thread_ = std::thread([this] { run(); });
  std::unique_lock lock(mutex_);
  // Bounded: should the first stream never start, the attack runs anyway and finish()
  // reports the fault.
  first_bytes_seen_.wait_for(lock, std::chrono::seconds(30), [&] { return first_bytes_; });
}

BackgroundStreams::~BackgroundStreams() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void BackgroundStreams::set_label(std::string label) {
  std::lock_guard lock(mutex_);
  label_ = std::move(label);
}

BackgroundStreams::Result BackgroundStreams::finish() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  return result_;
}

void BackgroundStreams::run() {
  do {
    std::string fault;
    const bool ok = check_one(fault);
    std::lock_guard lock(mutex_);
    if (ok) {
      ++result_.completed;
    } else {
      result_.faults.push_back("background stream during '" + label_ + "': " + fault);
    }
    if (!first_bytes_) {
      first_bytes_ = true;
      first_bytes_seen_.notify_all();
    }
  } while (!stop_);
}

bool BackgroundStreams::check_one(std::string& fault) {
  static const std::string text = background_text();
  const std::string body = chat_body(
      "gpt-test", ",\"stream\":true,\"mock\":{\"chunks\":" + std::to_string(kStreamChunks) +
                      ",\"chunk_delay_ms\":50,\"text\":" + json_string(text) + "}");
  try {
    StreamingResponse stream(port_, "POST", "/v1/chat/completions", body, {},
                             std::chrono::seconds(30));
    if (stream.status() != 200) {
      fault = "status " + std::to_string(stream.status());
      return false;
    }
    std::string all;
    bool first = true;
    while (auto piece = stream.next_piece(std::chrono::seconds(30))) {
      all += *piece;
      if (first) {
        first = false;
        std::lock_guard lock(mutex_);
        if (!first_bytes_) {
          first_bytes_ = true;
          first_bytes_seen_.notify_all();
        }
      }
    }
    const auto events = sse_data(all);
    // A role chunk, one chunk per word, the finish chunk, [DONE].
    if (events.size() != static_cast<std::size_t>(kStreamChunks) + 3) {
      fault =
          std::to_string(events.size()) + " events instead of " + std::to_string(kStreamChunks + 3);
      return false;
    }
    if (events.back() != "[DONE]") {
      fault = "last event is " + events.back();
      return false;
    }
    std::string got;
    std::string id;
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
      const json::object chunk = parse_object(events[i]);
      const std::string chunk_id(chunk.at("id").as_string());
      if (id.empty()) id = chunk_id;
      if (chunk_id != id) {
        fault = "chunk " + std::to_string(i) + " belongs to " + chunk_id + ", not " + id;
        return false;
      }
      const json::object& delta = chunk.at("choices").as_array().at(0).at("delta").as_object();
      if (const json::value* c = delta.if_contains("content"); c && c->is_string())
        got += c->get_string();
    }
    if (got != text) {
      fault = "text '" + got + "' instead of '" + text + "'";
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    fault = e.what();
    return false;
  }
}

// ---------------------------------------------------------------------------------------------

namespace {

int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("connection to 127.0.0.1:" + std::to_string(port) + " failed: " + why);
  }
  return fd;
}

// Reads what is there without blocking; false at EOF or reset.
bool drain_into(int fd, std::string& into) {
  char buf[16 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    return false;
  }
}

long long ms_left(Clock::time_point until) {
  return std::max<long long>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count());
}

}  // namespace

RawClient::RawClient(std::uint16_t port) : fd_(connect_loopback(port)) {}

RawClient::RawClient(RawClient&& other) noexcept
    : fd_(other.fd_), closed_(other.closed_), received_(std::move(other.received_)) {
  other.fd_ = -1;
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawClient::send(std::string_view bytes) {
  while (!bytes.empty() && !closed_) {
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, 10000) <= 0) return false;
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return !closed_;
}

bool RawClient::read_for(std::chrono::milliseconds wait) {
  if (closed_) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) > 0 && !drain_into(fd_, received_))
    closed_ = true;
  return !closed_;
}

bool RawClient::read_until_closed(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  while (!closed_ && ms_left(until) > 0) {
    read_for(std::chrono::milliseconds(std::min<long long>(ms_left(until), 200)));
  }
  return closed_;
}

bool RawClient::read_response(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  for (;;) {
    const std::size_t head_end = received_.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const std::string length = raw_header(received_, "content-length");
      const std::size_t need = head_end + 4 + (length.empty() ? 0 : std::stoull(length));
      if (received_.size() >= need) return true;
    }
    if (closed_ || ms_left(until) == 0) return false;
    read_for(std::chrono::milliseconds(std::min<long long>(ms_left(until), 200)));
  }
}

FloodResult flood(std::uint16_t port, std::string_view prefix, std::string_view unit,
                  std::size_t total, std::string_view suffix, std::chrono::milliseconds deadline) {
  FloodResult result;
  const auto until = Clock::now() + deadline;
  const int fd = connect_loopback(port);
  // Whole units, at least two, so a write can start anywhere inside a unit.
  std::string slice;
  while (slice.size() < 64 * 1024 || slice.size() < 2 * unit.size()) slice += unit;
  const std::size_t grand_total = prefix.size() + total + suffix.size();
  // Which bytes come next: the prefix, then filler slices (whole units), then the suffix.
  auto next_bytes = [&](std::size_t at) -> std::string_view {
    if (at < prefix.size()) return prefix.substr(at);
    if (at < prefix.size() + total) {
      const std::size_t into = at - prefix.size();
      const std::size_t offset = into % unit.size();
      return std::string_view(slice).substr(offset,
                                            std::min(total - into, slice.size() - unit.size()));
    }
    return suffix.substr(at - prefix.size() - total);
  };
  bool write_open = true;
  while (ms_left(until) > 0) {
    const bool sending = write_open && result.sent < grand_total && result.answer.empty();
    pollfd p{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long long>(ms_left(until), 200))) <= 0) continue;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      if (result.sent < grand_total && result.answer.empty()) result.answered_early = true;
      if (!drain_into(fd, result.answer)) {
        result.closed = true;
        break;
      }
    }
    if (sending && (p.revents & POLLOUT)) {
      const std::string_view bytes = next_bytes(result.sent);
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        result.sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        write_open = false;  // the gateway stopped reading: its answer may still be there
      }
    }
  }
  ::close(fd);
  if (result.answer.empty()) result.answered_early = false;
  return result;
}

int raw_status(std::string_view answer) {
  if (answer.size() < 12 || !answer.starts_with("HTTP/1.")) return 0;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(answer[i]))) return 0;
    status = status * 10 + (answer[i] - '0');
  }
  return status;
}

int raw_response_count(std::string_view answer) {
  int count = answer.starts_with("HTTP/1.") ? 1 : 0;
  for (std::size_t pos = 0; (pos = answer.find("\nHTTP/1.", pos)) != std::string_view::npos; ++pos)
    ++count;
  return count;
}

std::string raw_header(std::string_view answer, std::string_view name) {
  const std::size_t head_end = answer.find("\r\n\r\n");
  const std::string_view head = answer.substr(0, head_end);
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos) {
    const std::size_t start = pos + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, end == std::string_view::npos ? head.size() - start : end - start);
    const std::size_t colon = line.find(':');
    if (colon == name.size()) {
      bool same = true;
      for (std::size_t i = 0; i < colon; ++i) {
        same = same && std::tolower(static_cast<unsigned char>(line[i])) ==
                           std::tolower(static_cast<unsigned char>(name[i]));
      }
      if (same) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        return std::string(value);
      }
    }
    pos = end;
  }
  return {};
}

std::string raw_body(std::string_view answer) {
  const std::size_t head_end = answer.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return {};
  std::string_view body = answer.substr(head_end + 4);
  const std::string length = raw_header(answer, "content-length");
  if (!length.empty()) body = body.substr(0, std::stoull(length));
  return std::string(body);
}

// ---------------------------------------------------------------------------------------------

std::optional<double> optional_metric(std::string_view exposition, std::string_view series) {
  try {
    return metric_value(exposition, series);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

double wait_metric_at_least(std::uint16_t port, std::string_view series, double value,
                            std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  double seen = -1;
  for (;;) {
    try {
      seen = optional_metric(http_request(port, "GET", "/metrics").body, series).value_or(-1);
    } catch (const std::exception&) {
      seen = -1;
    }
    if (seen >= value || Clock::now() >= until) return seen;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval while waiting
  }
}

bool gateway_live(std::uint16_t port) {
  try {
    return http_request(port, "GET", "/health/live", {}, {}, std::chrono::seconds(10)).status ==
           200;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace switchyard::testing
