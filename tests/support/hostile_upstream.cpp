#include "tests/support/hostile_upstream.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace switchyard::testing {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A peer that accepts no byte for this long is treated as gone: a write never blocks a
// connection thread (and so the destructor) for longer.
constexpr auto kWriteStall = 20s;
// A request head larger than this is not something the gateway would send; stop reading.
constexpr std::size_t kMaxRequestHead = 1u << 20;
constexpr std::size_t kMaxRequestBody = 256u << 20;
// Repeated payloads are produced in slices of this size.
constexpr std::size_t kSlice = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string field_value(std::string_view head, std::string_view name) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const std::size_t start = pos + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, end == std::string_view::npos ? end : end - start);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      return std::string(value);
    }
    pos = end;
  }
  return {};
}

}  // namespace

std::string HostileRequest::header(std::string_view name) const { return field_value(head, name); }

std::string HostileRequest::token_after(std::string_view prefix) const {
  const std::size_t at = body.find(prefix);
  if (at == std::string::npos) return {};
  std::size_t end = at + prefix.size();
  while (end < body.size()) {
    const auto c = static_cast<unsigned char>(body[end]);
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-') break;
    ++end;
  }
  return body.substr(at + prefix.size(), end - at - prefix.size());
}

HostileReply& HostileReply::send(std::string bytes) {
  pieces.push_back({std::move(bytes), 0, {}});
  return *this;
}

HostileReply& HostileReply::repeat(std::string unit, std::size_t total_bytes) {
  if (unit.empty()) throw std::invalid_argument("HostileReply::repeat: empty unit");
  pieces.push_back({std::move(unit), total_bytes, {}});
  return *this;
}

HostileReply& HostileReply::pause(std::chrono::milliseconds delay) {
  pieces.push_back({{}, 0, delay});
  return *this;
}

HostileReply& HostileReply::close() {
  close_after = true;
  return *this;
}

HostileReply& HostileReply::extra(std::string bytes, std::chrono::milliseconds after) {
  extra_bytes = std::move(bytes);
  extra_after = after;
  return *this;
}

// ---------------------------------------------------------------------------------------------

struct HostileUpstream::Impl {
  int listen_fd = -1;
  int wake_pipe[2] = {-1, -1};  // readable once stopping: wakes every poll at once
  std::uint16_t port = 0;
  std::thread acceptor;

  mutable std::mutex mutex;
  std::condition_variable changed;
  bool stopping = false;
  std::vector<std::thread> connection_threads;
  std::vector<int> connection_fds;
  std::deque<HostileScript> queue;
  HostileScript fallback;
  std::vector<HostileRequest> log;
  std::size_t requests = 0;
  std::size_t connections = 0;
  std::size_t peer_closed = 0;
  std::size_t answers = 0;
  std::size_t write_failures = 0;
  std::size_t extra_flushed = 0;
  std::size_t extra_failed = 0;

  enum class Wait { ready, timeout, stop };

  // Waits until `fd` has `events` or the deadline passes; the wake pipe ends every wait.
  Wait wait_fd(int fd, short events, Clock::time_point deadline) const {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return Wait::timeout;
      pollfd fds[2] = {{fd, events, 0}, {wake_pipe[0], POLLIN, 0}};
      const int r = ::poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Wait::stop;
      if (fds[1].revents != 0) return Wait::stop;
      if (fds[0].revents != 0) return Wait::ready;
    }
  }

  // False when stopping: the rest of the answer is not worth writing.
  bool pause(std::chrono::milliseconds delay) const {
    if (delay.count() <= 0) return true;
    pollfd fd{wake_pipe[0], POLLIN, 0};
    const auto deadline = Clock::now() + delay;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return true;
      const int r = ::poll(&fd, 1, static_cast<int>(left));
      if (r > 0 || (r < 0 && errno != EINTR)) return false;
    }
  }

  bool write_all(int fd, std::string_view bytes) const {
    while (!bytes.empty()) {
      if (wait_fd(fd, POLLOUT, Clock::now() + kWriteStall) != Wait::ready) return false;
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  bool write_piece(int fd, const HostileReply::Piece& piece) const {
    if (piece.pause.count() > 0) return pause(piece.pause);
    if (piece.repeat_total == 0) return write_all(fd, piece.bytes);
    // One slice of whole units (at least two, so a write can start anywhere inside a unit),
    // reused for every write.
    std::string slice;
    while (slice.size() < kSlice || slice.size() < 2 * piece.bytes.size()) slice += piece.bytes;
    std::size_t left = piece.repeat_total;
    std::size_t offset = 0;  // where in the unit the next byte is, so units stay aligned
    while (left > 0) {
      const std::size_t unit = piece.bytes.size();
      const std::size_t take = std::min(left, slice.size() - unit);
      if (!write_all(fd, std::string_view(slice).substr(offset, take))) return false;
      offset = (offset + take) % unit;
      left -= take;
    }
    return true;
  }

  // Reads one request (head, then Content-Length bytes of body) from `fd`, keeping any bytes
  // beyond it in `in`. False at EOF, on error, on stop, or on a request it cannot frame.
  bool read_request(int fd, std::string& in, HostileRequest& out, bool& peer_gone) const {
    peer_gone = false;
    std::size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
      if (in.size() > kMaxRequestHead) return false;
      if (!read_more(fd, in, peer_gone)) return false;
    }
    out.head = in.substr(0, head_end + 2);
    const std::size_t line_end = out.head.find("\r\n");
    const std::string line = out.head.substr(0, line_end);
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = line.find(' ', sp1 == std::string::npos ? sp1 : sp1 + 1);
    if (sp1 != std::string::npos) out.method = line.substr(0, sp1);
    if (sp2 != std::string::npos) out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t length = 0;
    if (const std::string cl = field_value(out.head, "content-length"); !cl.empty()) {
      if (cl.find_first_not_of("0123456789") != std::string::npos || cl.size() > 12) return false;
      length = std::stoull(cl);
      if (length > kMaxRequestBody) return false;
    }
    in.erase(0, head_end + 4);
    while (in.size() < length) {
      if (!read_more(fd, in, peer_gone)) return false;
    }
    out.body = in.substr(0, length);
    in.erase(0, length);
    return true;
  }

  bool read_more(int fd, std::string& in, bool& peer_gone) const {
    // Idle connections wait here as long as the gateway keeps them (until stop).
    if (wait_fd(fd, POLLIN, Clock::now() + std::chrono::hours(1)) != Wait::ready) return false;
    char buf[16 * 1024];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    if (n <= 0) {
      peer_gone = true;
      return false;
    }
    in.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  HostileScript next_script() {
    std::lock_guard lock(mutex);
    if (!queue.empty()) {
      HostileScript s = std::move(queue.front());
      queue.pop_front();
      return s;
    }
    return fallback;
  }

  template <class F>
  void bump(F&& f) {
    {
      std::lock_guard lock(mutex);
      f();
    }
    changed.notify_all();
  }

  void serve(int fd, std::size_t connection) {
    std::string in;
    std::size_t on_connection = 0;
    for (;;) {
      HostileRequest request;
      bool peer_gone = false;
      if (!read_request(fd, in, request, peer_gone)) {
        if (peer_gone) bump([&] { ++peer_closed; });
        break;
      }
      request.connection = connection;
      request.on_connection = ++on_connection;
      HostileScript script = next_script();
      bump([&] {
        request.sequence = ++requests;
        log.push_back(request);
      });
      HostileReply reply;
      std::string trouble = "no script for this request";
      if (script) {
        // A script that throws must not take the thread (and the test binary) down with it.
        try {
          reply = script(request);
          trouble.clear();
        } catch (const std::exception& e) {
          trouble = std::string("the script threw: ") + e.what();
        }
      }
      if (!trouble.empty()) {
        // Kept valid as a JSON string without an escaper.
        for (char& c : trouble) {
          if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '\'';
        }
        reply = HostileReply();
        reply
            .send(http_response(500, "application/json",
                                "{\"error\":{\"message\":\"hostile upstream: " + trouble + "\"}}"))
            .close();
      }
      bool ok = true;
      for (const auto& piece : reply.pieces) {
        if (!(ok = write_piece(fd, piece))) break;
      }
      if (!ok) {
        bump([&] {
          ++write_failures;
          ++peer_closed;
        });
        break;
      }
      bump([&] { ++answers; });
      if (!reply.extra_bytes.empty()) {
        if (!pause(reply.extra_after) || !write_all(fd, reply.extra_bytes)) {
          // The gateway closed the connection before the extra bytes could go: settled too.
          bump([&] { ++extra_failed; });
          break;
        }
        bump([&] { ++extra_flushed; });
      }
      if (reply.close_after) {
        // FIN, then drain until the peer closes too: closing with unread input would send RST
        // and could destroy the answer in flight.
        ::shutdown(fd, SHUT_WR);
        char sink[4096];
        while (wait_fd(fd, POLLIN, Clock::now() + 5s) == Wait::ready) {
          const ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          if (n <= 0) break;
        }
        break;
      }
    }
    // The fd is closed by the destructor, so its number cannot be reused under a poll.
    ::shutdown(fd, SHUT_RDWR);
  }

  void accept_loop() {
    for (;;) {
      if (wait_fd(listen_fd, POLLIN, Clock::now() + std::chrono::hours(1)) != Wait::ready) return;
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) continue;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mutex);
      if (stopping) {
        ::close(fd);
        return;
      }
      const std::size_t id = ++connections;
      connection_fds.push_back(fd);
      connection_threads.emplace_back([this, fd, id] { serve(fd, id); });
      changed.notify_all();
    }
  }

  template <class Pred>
  bool wait_until(std::chrono::milliseconds deadline, Pred pred) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, deadline, pred);
  }
};

HostileUpstream::HostileUpstream() : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  if (::pipe2(s.wake_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  s.listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s.listen_fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(s.listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s.listen_fd, 512) != 0 ||
      ::getsockname(s.listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(s.listen_fd);
    throw std::runtime_error("hostile upstream cannot listen on 127.0.0.1: " + why);
  }
  s.port = ntohs(addr.sin_port);
  s.acceptor = std::thread([&s] { s.accept_loop(); });
}

HostileUpstream::~HostileUpstream() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    s.stopping = true;
  }
  const char byte = 0;
  [[maybe_unused]] auto n = ::write(s.wake_pipe[1], &byte, 1);
  if (s.acceptor.joinable()) s.acceptor.join();
  // No thread is added once the acceptor has stopped.
  for (auto& t : s.connection_threads) t.join();
  for (int fd : s.connection_fds) ::close(fd);
  for (int fd : {s.listen_fd, s.wake_pipe[0], s.wake_pipe[1]}) ::close(fd);
}

std::uint16_t HostileUpstream::port() const { return impl_->port; }

void HostileUpstream::then(HostileScript script) {
  std::lock_guard lock(impl_->mutex);
  impl_->queue.push_back(std::move(script));
}

void HostileUpstream::then(HostileReply reply) {
  then([reply = std::move(reply)](const HostileRequest&) { return reply; });
}

void HostileUpstream::set_fallback(HostileScript script) {
  std::lock_guard lock(impl_->mutex);
  impl_->fallback = std::move(script);
}

void HostileUpstream::clear_queue() {
  std::lock_guard lock(impl_->mutex);
  impl_->queue.clear();
}

#define SWITCHYARD_COUNTER(name)              \
  std::size_t HostileUpstream::name() const { \
    std::lock_guard lock(impl_->mutex);       \
    return impl_->name;                       \
  }
SWITCHYARD_COUNTER(requests)
SWITCHYARD_COUNTER(connections)
SWITCHYARD_COUNTER(peer_closed)
SWITCHYARD_COUNTER(write_failures)
SWITCHYARD_COUNTER(extra_flushed)
#undef SWITCHYARD_COUNTER

std::size_t HostileUpstream::answers_written() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->answers;
}

bool HostileUpstream::wait_requests(std::size_t n, std::chrono::milliseconds deadline) {
  return impl_->wait_until(deadline, [&] { return impl_->requests >= n; });
}
bool HostileUpstream::wait_connections(std::size_t n, std::chrono::milliseconds deadline) {
  return impl_->wait_until(deadline, [&] { return impl_->connections >= n; });
}
bool HostileUpstream::wait_peer_closed(std::size_t n, std::chrono::milliseconds deadline) {
  return impl_->wait_until(deadline, [&] { return impl_->peer_closed >= n; });
}
bool HostileUpstream::wait_answers_or_failures(std::size_t n, std::chrono::milliseconds deadline) {
  return impl_->wait_until(deadline, [&] { return impl_->answers + impl_->write_failures >= n; });
}
bool HostileUpstream::wait_extra_flushed(std::size_t n, std::chrono::milliseconds deadline) {
  return impl_->wait_until(deadline, [&] { return impl_->extra_flushed >= n; });
}

HostileUpstream::Counts HostileUpstream::counts() const {
  std::lock_guard lock(impl_->mutex);
  const Impl& s = *impl_;
  return {s.requests,       s.connections,   s.peer_closed, s.answers,
          s.write_failures, s.extra_flushed, s.extra_failed};
}

bool HostileUpstream::wait_until(const std::function<bool(const Counts&)>& condition,
                                 std::chrono::milliseconds deadline) {
  Impl& s = *impl_;
  return s.wait_until(deadline, [&] {
    return condition(Counts{s.requests, s.connections, s.peer_closed, s.answers, s.write_failures,
                            s.extra_flushed, s.extra_failed});
  });
}

std::vector<HostileRequest> HostileUpstream::received() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->log;
}

// ---------------------------------------------------------------------------------------------

std::string http_head(int status, const std::vector<std::string>& fields) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " Hostile\r\n";
  for (const auto& f : fields) out += f + "\r\n";
  out += "\r\n";
  return out;
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          const std::vector<std::string>& extra_fields) {
  std::vector<std::string> fields{"Content-Type: " + std::string(content_type),
                                  "Content-Length: " + std::to_string(body.size())};
  fields.insert(fields.end(), extra_fields.begin(), extra_fields.end());
  return http_head(status, fields) + std::string(body);
}

std::string http_chunk(std::string_view data) {
  char size[20];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size, static_cast<std::size_t>(n)) + std::string(data) + "\r\n";
}

std::string sse_head(const std::vector<std::string>& extra_fields) {
  std::vector<std::string> fields{"Content-Type: text/event-stream", "Transfer-Encoding: chunked"};
  fields.insert(fields.end(), extra_fields.begin(), extra_fields.end());
  return http_head(200, fields);
}

std::string sse_response(const std::vector<std::string>& events) {
  std::string out = sse_head();
  for (const auto& e : events) out += http_chunk(e);
  out += kLastChunk;
  return out;
}

}  // namespace switchyard::testing
