#pragma once

// A misbehaving upstream provider for adversarial tests, in the test's own process: it listens
// on 127.0.0.1 (kernel-picked port), reads each request head and body on every connection it
// accepts, and answers with whatever bytes the test scripted — broken heads, bad framing, odd
// statuses, endless lines, extra responses nobody asked for. Unlike the mock upstream it does
// not speak any protocol on its own: a script is a function of the request, so an answer can
// echo something unique from it (see HostileRequest::token_after) and a test can prove each
// client got its own answer.
//
// Bounded on purpose: every wait has a deadline, writes give up when the peer stops reading
// for long, and large payloads are generated while they are written (20 MB of 'a' never
// exists in memory). Plain POSIX sockets, one thread per accepted connection.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::testing {

struct HostileRequest {
  std::size_t connection = 0;     // 1-based number of the connection it arrived on
  std::size_t sequence = 0;       // 1-based number of the request, across all connections
  std::size_t on_connection = 0;  // 1-based number of the request on its connection
  std::string method;
  std::string target;
  std::string head;  // request line and header fields, as received
  std::string body;

  // The value of a header field (case-insensitive name); "" when absent.
  std::string header(std::string_view name) const;
  // The run of [A-Za-z0-9_.-] right after the first `prefix` in the body; "" when absent.
  // Tests plant a marker such as "client-7" in the user text and read it back here.
  std::string token_after(std::string_view prefix) const;
};

// The bytes of one answer, written in order, and what happens to the connection afterwards.
class HostileReply {
 public:
  // Bytes written as given.
  HostileReply& send(std::string bytes);
  // `unit` repeated until `total_bytes` have been written (the last copy cut short), produced
  // while writing so the payload is never held whole.
  HostileReply& repeat(std::string unit, std::size_t total_bytes);
  // Waits before the next piece (the answer trickles in timed pieces).
  HostileReply& pause(std::chrono::milliseconds delay);
  // After the answer: FIN (the default keeps the connection open for the next request).
  HostileReply& close();
  // After the answer (and `after` later): `bytes` nobody asked for. Counted by
  // extra_flushed() once written, so a test can wait until they are on the wire.
  HostileReply& extra(std::string bytes,
                      std::chrono::milliseconds after = std::chrono::milliseconds(0));

  struct Piece {
    std::string bytes;
    std::size_t repeat_total = 0;  // > 0: `bytes` is a unit repeated to this many bytes
    std::chrono::milliseconds pause{0};
  };
  std::vector<Piece> pieces;
  bool close_after = false;
  std::string extra_bytes;
  std::chrono::milliseconds extra_after{0};
};

using HostileScript = std::function<HostileReply(const HostileRequest&)>;

class HostileUpstream {
 public:
  HostileUpstream();  // listening when it returns; throws std::runtime_error if it cannot
  HostileUpstream(const HostileUpstream&) = delete;
  HostileUpstream& operator=(const HostileUpstream&) = delete;
  ~HostileUpstream();  // wakes every wait and write, closes every socket, joins every thread

  std::uint16_t port() const;

  // The next request (whichever connection it comes on) is answered by `script`; scripts
  // queue up in order. Requests beyond the queue get the fallback (set_fallback), or, with
  // none, a 500 JSON error and a closed connection.
  void then(HostileScript script);
  void then(HostileReply reply);
  void set_fallback(HostileScript script);
  // Drops queued scripts not used yet (between table cases).
  void clear_queue();

  // Counters of real events, and waits for them with a deadline; each wait returns whether
  // the condition held before the deadline.
  std::size_t requests() const;     // whole requests read
  std::size_t connections() const;  // connections accepted
  // Connections the peer (the gateway) closed or reset, while idle or mid-answer; not those
  // the server closed itself (HostileReply::close).
  std::size_t peer_closed() const;
  std::size_t answers_written() const;  // answers written in full
  std::size_t write_failures() const;   // answers cut short because the peer went away
  std::size_t extra_flushed() const;    // extra() byte runs written
  bool wait_requests(std::size_t n, std::chrono::milliseconds deadline);
  bool wait_connections(std::size_t n, std::chrono::milliseconds deadline);
  bool wait_peer_closed(std::size_t n, std::chrono::milliseconds deadline);
  bool wait_answers_or_failures(std::size_t n, std::chrono::milliseconds deadline);
  bool wait_extra_flushed(std::size_t n, std::chrono::milliseconds deadline);
  // All counters at one instant, and a wait for any condition over them.
  struct Counts {
    std::size_t requests = 0, connections = 0, peer_closed = 0, answers_written = 0,
                write_failures = 0, extra_flushed = 0;
    // extra() byte runs that could not be written: the gateway had closed the connection.
    std::size_t extra_failed = 0;
  };
  Counts counts() const;
  bool wait_until(const std::function<bool(const Counts&)>& condition,
                  std::chrono::milliseconds deadline);

  // Every request read so far, in order.
  std::vector<HostileRequest> received() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Building blocks for scripts.
// A response head: status line, the given header lines ("Name: value", no CRLF), blank line.
std::string http_head(int status, const std::vector<std::string>& fields);
// A whole response with Content-Length.
std::string http_response(int status, std::string_view content_type, std::string_view body,
                          const std::vector<std::string>& extra_fields = {});
// One chunk of a chunked body (an empty `data` would end the body; use kLastChunk for that).
std::string http_chunk(std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";
// The head of a chunked text/event-stream response.
std::string sse_head(const std::vector<std::string>& extra_fields = {});
// A chunked SSE answer carrying `events` (each already terminated), one chunk each, ended.
std::string sse_response(const std::vector<std::string>& events);

}  // namespace switchyard::testing
