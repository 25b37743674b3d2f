#include "proxy/redis_client.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <deque>
#include <limits>
#include <new>
#include <optional>

namespace switchyard::proxy::redis {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kLongestBackoff = std::chrono::seconds(2);
// A connection whose oldest reply is this many timeouts overdue is taken for dead (a stopped
// or wedged server keeps the TCP connection up): dropping it turns every later call's
// `timeout` into an immediate `unavailable` until a reconnect works.
constexpr int kGiveUpAfterTimeouts = 20;
constexpr auto kShortestGiveUp = std::chrono::seconds(1);

// ---- URLs --------------------------------------------------------------------------------

core::Failure<std::string> refuse(std::string_view why) {
  return core::fail("invalid Redis URL: " + std::string(why));
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

template <class Int>
std::optional<Int> parse_decimal(std::string_view text) {
  Int value{};
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || text.front() == '-' || text.front() == '+')
    return std::nullopt;
  return value;
}

bool valid_host_name(std::string_view host) {
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

// ---- RESP --------------------------------------------------------------------------------

void append_decimal(std::string& out, std::size_t value) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

// One command as RESP: *<words>\r\n, then $<length>\r\n<word>\r\n for each word.
void append_command(std::string& out, std::span<const std::string_view> args) {
  out += '*';
  append_decimal(out, args.size());
  out += "\r\n";
  for (const std::string_view arg : args) {
    out += '$';
    append_decimal(out, arg.size());
    out += "\r\n";
    out += arg;
    out += "\r\n";
  }
}

// hiredis nests arrays at most 7 deep (its reader's task stack), which bounds the recursion.
Reply convert(const redisReply& raw) {
  Reply reply;
  switch (raw.type) {
    case REDIS_REPLY_STRING:
      reply.type = Reply::Type::string;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_STATUS:
      reply.type = Reply::Type::status;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_ERROR:
      reply.type = Reply::Type::error;
      reply.text.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_INTEGER:
      reply.type = Reply::Type::integer;
      reply.integer = raw.integer;
      break;
    case REDIS_REPLY_ARRAY:
      reply.type = Reply::Type::array;
      reply.elements.reserve(raw.elements);
      for (std::size_t i = 0; i < raw.elements; ++i)
        reply.elements.push_back(convert(*raw.element[i]));
      break;
    default:
      reply.type = Reply::Type::nil;
      break;
  }
  return reply;
}

struct ReaderDeleter {
  void operator()(redisReader* reader) const { redisReaderFree(reader); }
};
using ReaderPtr = std::unique_ptr<redisReader, ReaderDeleter>;

ReaderPtr make_reader() {
  ReaderPtr reader(redisReaderCreate());
  if (!reader) throw std::bad_alloc();
  return reader;
}

std::string milliseconds_text(std::chrono::milliseconds duration) {
  return std::to_string(duration.count()) + " ms";
}

}  // namespace

std::string Endpoint::address() const {
  const std::string port_text = std::to_string(port);
  return host.find(':') != std::string::npos ? "[" + host + "]:" + port_text
                                             : host + ":" + port_text;
}

core::Result<Endpoint, std::string> parse_url(std::string_view url) {
  if (starts_with_ignoring_case(url, "rediss://"))
    return refuse("TLS to Redis (rediss://) is not supported yet; use redis://");
  constexpr std::string_view kScheme = "redis://";
  if (!starts_with_ignoring_case(url, kScheme)) return refuse("it must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  Endpoint endpoint;

  // The credentials end at the last '@', so a password may hold '@', '/' or '?' unescaped;
  // nothing after that '@' can be part of it, and no message below quotes the URL anyway.
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    const auto colon = credentials.find(':');
    if (colon == std::string_view::npos) return refuse("what precedes '@' must be [user]:password");
    auto username = percent_decode(credentials.substr(0, colon));
    auto password = percent_decode(credentials.substr(colon + 1));
    if (!username || !password) return refuse("the user or password holds a malformed %-escape");
    if (password->empty() && !username->empty())
      return refuse("a user name needs a password (redis://user:password@host)");
    endpoint.username = std::move(*username);
    endpoint.password = std::move(*password);
  }
  if (rest.find_first_of("?#") != std::string_view::npos)
    return refuse("query parameters and fragments (?, #) are not supported");

  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view path =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  std::string_view host;
  std::optional<std::string_view> port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return refuse("an IPv6 host in [...] lacks its ']'");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':')
      return refuse("only :port may follow an IPv6 host's ']'");
    if (!after.empty()) port_text = after.substr(1);
    error_code ec;
    net::ip::make_address_v6(std::string(host), ec);
    if (ec) return refuse("the host in [...] is not an IPv6 address");
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    if (!valid_host_name(host))
      return refuse("the host holds a character no host name or IPv4 address has");
  }
  if (host.empty()) return refuse("it names no host");
  endpoint.host = std::string(host);

  if (port_text) {
    const auto port = parse_decimal<std::uint16_t>(*port_text);
    if (!port || *port == 0) return refuse("the port must be a number from 1 to 65535");
    endpoint.port = *port;
  }
  if (!path.empty()) {
    const auto database = parse_decimal<int>(path);
    if (!database) return refuse("the path must be a database number (/0, /1, ...)");
    endpoint.database = *database;
  }
  return endpoint;
}

std::string_view to_string(Outcome::Kind kind) {
  switch (kind) {
    case Outcome::Kind::reply:
      return "reply";
    case Outcome::Kind::timeout:
      return "timeout";
    case Outcome::Kind::unavailable:
      return "unavailable";
  }
  return "unknown";
}

// ---- The client --------------------------------------------------------------------------
//
// Timeouts: one steady_timer for the whole queue instead of one per command. Every command has
// the same timeout and joins the queue in call order, so deadlines grow along the queue, and
// those that passed are always a prefix of it: the timer only ever needs the deadline of the
// first command not yet timed out. It is not moved when that command's reply comes; when it
// fires it times out what is overdue and waits again for the new first deadline. Under steady
// traffic that is one timer wait per timeout period, where a timer per command would arm and
// cancel a timer (the reactor's lock, often a timerfd_settime call) for every command.
//
// Waiting: a caller's coroutine suspends with its completion handler (type-erased, through
// Asio's recycling allocator) and a pointer to its Outcome, both in its slot of the queue.
// Whatever ends the wait writes the Outcome and posts the handler, never resuming a caller
// inside the client's own loops, so a caller that sends again or closes the client from
// there cannot disturb them.

class Client::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(net::any_io_executor executor, Endpoint endpoint, std::chrono::milliseconds timeout,
       std::string name)
      : executor_(std::move(executor)),
        endpoint_(std::move(endpoint)),
        timeout_(std::max(timeout, std::chrono::milliseconds(1))),
        give_up_after_(std::max<Clock::duration>(timeout_ * kGiveUpAfterTimeouts, kShortestGiveUp)),
        name_(std::move(name)),
        socket_(executor_),
        resolver_(executor_),
        timer_(executor_) {}

  net::awaitable<Outcome> command(std::span<const std::string_view> args, LateReplyHandler on_late);
  void close();

  bool connected() const { return state_ == State::connected; }
  ClientCounters counters;
  std::string last_error;

 private:
  enum class State : std::uint8_t { idle, connecting, connected, backing_off, closed };

  struct Slot {
    enum class Kind : std::uint8_t { command, auth, select };
    Kind kind = Kind::command;
    Clock::time_point deadline;
    Outcome* outcome = nullptr;  // the caller's, in its coroutine frame, until it is woken
    net::any_completion_handler<void()> wake;  // never assigned: see command()
    LateReplyHandler on_late;

    Slot() = default;
    Slot(Slot&&) = default;
    Slot& operator=(Slot&&) = delete;
  };

  bool admit(std::span<const std::string_view> args, LateReplyHandler& on_late, Outcome& outcome);
  void start_connecting(Clock::time_point deadline);
  static net::awaitable<void> connect(std::shared_ptr<Impl> self, std::uint64_t generation);
  static net::awaitable<void> read_loop(std::shared_ptr<Impl> self, std::uint64_t generation);
  void flush();
  void on_written(std::uint64_t generation, const error_code& ec);
  void deliver(Reply reply);
  void on_connected();
  void finish(Slot& slot, Outcome::Kind kind, Reply reply = {});
  void arm_timer(Clock::time_point at);
  void arm_timer_for_queue();
  void on_timer();
  void drop_connection();
  void fail_connection(std::string reason);
  void log(std::string_view what, std::string_view detail) const;

  net::any_io_executor executor_;
  Endpoint endpoint_;
  std::chrono::milliseconds timeout_;
  Clock::duration give_up_after_;
  std::string name_;

  State state_ = State::idle;
  // Counts connections: what an operation of an older connection completes is ignored.
  std::uint64_t generation_ = 0;
  tcp::socket socket_;
  tcp::resolver resolver_;
  bool socket_connected_ = false;
  int handshake_replies_due_ = 0;  // AUTH and SELECT replies still to come
  bool ever_connected_ = false;
  Clock::time_point retry_at_;
  Clock::duration backoff_ = kFirstBackoff;
  std::string last_logged_failure_;

  // What waits for a reply, in the order the commands were sent; the first
  // `timed_out_count_` have timed out and wait only so their replies are consumed in order.
  std::deque<Slot> slots_;
  std::size_t timed_out_count_ = 0;

  // Commands formatted while a write is in flight wait in `pending_` and go out together in
  // the next write; the two buffers swap, so their memory is reused.
  std::string pending_;
  std::string in_flight_;
  std::uint64_t pending_commands_ = 0;
  std::uint64_t in_flight_commands_ = 0;
  bool writing_ = false;

  net::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point timer_at_;

  std::array<char, std::size_t{16} * 1024> read_buffer_{};
  ReaderPtr reader_;  // a new one for each connection
};

net::awaitable<Outcome> Client::Impl::command(std::span<const std::string_view> args,
                                              LateReplyHandler on_late) {
  Outcome outcome;
  if (!admit(args, on_late, outcome)) co_return outcome;
  // The initiation runs as this coroutine suspends, before any other handler can run, so the
  // slot admit() just queued is still the last one.
  co_await net::async_initiate<const net::use_awaitable_t<>&, void()>(
      [this](auto wake) {
        // Boost 1.81's move assignment of an any_completion_handler recurses without end
        // (it copies from an lvalue through the wrapping constructor), so construct and swap.
        net::any_completion_handler<void()>(std::move(wake)).swap(slots_.back().wake);
        flush();
      },
      net::use_awaitable);
  co_return outcome;
}

bool Client::Impl::admit(std::span<const std::string_view> args, LateReplyHandler& on_late,
                         Outcome& outcome) {
  if (args.empty()) {
    // Redis answers nothing to an empty command, which would shift every later reply.
    outcome.kind = Outcome::Kind::reply;
    outcome.reply.type = Reply::Type::error;
    outcome.reply.text = "ERR empty command (not sent)";
    return false;
  }
  const auto now = Clock::now();
  switch (state_) {
    case State::closed:
      ++counters.unavailable;
      return false;
    case State::backing_off:
      if (now < retry_at_) {
        ++counters.unavailable;
        return false;
      }
      start_connecting(now + timeout_);
      break;
    case State::idle:
      start_connecting(now + timeout_);
      break;
    case State::connecting:
    case State::connected:
      break;
  }
  append_command(pending_, args);
  ++pending_commands_;
  Slot& slot = slots_.emplace_back();
  slot.deadline = now + timeout_;
  slot.outcome = &outcome;
  slot.on_late = std::move(on_late);
  arm_timer(slot.deadline);
  return true;
}

void Client::Impl::start_connecting(Clock::time_point deadline) {
  state_ = State::connecting;
  reader_ = make_reader();  // a reply the last connection cut off halfway must not prefix these
  // AUTH and SELECT go first, in the same write as the commands that wait for the
  // connection; their replies are checked before the connection counts as up.
  const auto queue_handshake = [&](Slot::Kind kind, std::span<const std::string_view> words) {
    append_command(pending_, words);
    Slot& slot = slots_.emplace_back();
    slot.kind = kind;
    slot.deadline = deadline;
    ++handshake_replies_due_;
  };
  if (!endpoint_.password.empty()) {
    if (endpoint_.username.empty()) {
      const std::array<std::string_view, 2> words = {"AUTH", endpoint_.password};
      queue_handshake(Slot::Kind::auth, words);
    } else {
      const std::array<std::string_view, 3> words = {"AUTH", endpoint_.username,
                                                     endpoint_.password};
      queue_handshake(Slot::Kind::auth, words);
    }
  }
  if (endpoint_.database != 0) {
    const std::string database = std::to_string(endpoint_.database);
    const std::array<std::string_view, 2> words = {"SELECT", database};
    queue_handshake(Slot::Kind::select, words);
  }
  net::co_spawn(executor_, connect(shared_from_this(), generation_), net::detached);
}

net::awaitable<void> Client::Impl::connect(std::shared_ptr<Impl> self, std::uint64_t generation) {
  const Endpoint& endpoint = self->endpoint_;
  const std::string port = std::to_string(endpoint.port);
  error_code ec;
  const auto address = net::ip::make_address(endpoint.host, ec);
  tcp::resolver::results_type endpoints;
  if (!ec) {
    endpoints = tcp::resolver::results_type::create(tcp::endpoint(address, endpoint.port),
                                                    endpoint.host, port);
  } else {
    // A name: the resolver's own thread calls getaddrinfo, this one goes on.
    auto [resolve_ec, results] =
        co_await self->resolver_.async_resolve(endpoint.host, port, kAsTuple);
    if (generation != self->generation_) co_return;  // timed out or closed meanwhile
    if (resolve_ec) {
      self->fail_connection("cannot resolve " + endpoint.host + ": " + resolve_ec.message());
      co_return;
    }
    endpoints = std::move(results);
  }
  auto [connect_ec, peer] = co_await net::async_connect(self->socket_, endpoints, kAsTuple);
  if (generation != self->generation_) co_return;
  if (connect_ec) {
    self->fail_connection(connect_ec.message());
    co_return;
  }
  // Commands are small and each waits for its reply: send them without Nagle's delay.
  self->socket_.set_option(tcp::no_delay(true), ec);
  self->socket_connected_ = true;
  net::co_spawn(self->executor_, read_loop(self, generation), net::detached);
  self->flush();
  if (self->handshake_replies_due_ == 0) self->on_connected();
}

net::awaitable<void> Client::Impl::read_loop(std::shared_ptr<Impl> self, std::uint64_t generation) {
  for (;;) {
    auto [ec, size] =
        co_await self->socket_.async_read_some(net::buffer(self->read_buffer_), kAsTuple);
    if (generation != self->generation_) co_return;
    if (ec) {
      self->fail_connection(ec == net::error::eof ? "the server closed the connection"
                                                  : ec.message());
      co_return;
    }
    redisReader* reader = self->reader_.get();
    if (redisReaderFeed(reader, self->read_buffer_.data(), size) != REDIS_OK) {
      self->fail_connection(std::string("unreadable reply: ") + reader->errstr);
      co_return;
    }
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
        self->fail_connection(std::string("unreadable reply: ") + reader->errstr);
        co_return;
      }
      if (raw == nullptr) break;  // the rest of this reply is still on its way
      Reply reply = convert(*static_cast<const redisReply*>(raw));
      freeReplyObject(raw);
      self->deliver(std::move(reply));
      if (generation != self->generation_) co_return;  // that reply ended the connection
    }
  }
}

void Client::Impl::flush() {
  if (writing_ || !socket_connected_ || pending_.empty()) return;
  std::swap(pending_, in_flight_);
  in_flight_commands_ = pending_commands_;
  pending_commands_ = 0;
  writing_ = true;
  net::async_write(socket_, net::buffer(in_flight_),
                   [self = shared_from_this(), generation = generation_](
                       const error_code& ec, std::size_t) { self->on_written(generation, ec); });
}

void Client::Impl::on_written(std::uint64_t generation, const error_code& ec) {
  if (generation != generation_) return;
  writing_ = false;
  if (ec) {
    fail_connection("cannot send: " + ec.message());
    return;
  }
  counters.commands_sent += in_flight_commands_;
  in_flight_commands_ = 0;
  in_flight_.clear();
  flush();
}

void Client::Impl::deliver(Reply reply) {
  if (slots_.empty()) {
    fail_connection("a reply to no command");
    return;
  }
  Slot& slot = slots_.front();
  if (timed_out_count_ > 0) {
    // Its caller has heard `timeout` already; the reply goes to the late handler, if any.
    --timed_out_count_;
    if (slot.on_late) {
      net::post(executor_,
                [handler = std::move(slot.on_late), late = std::move(reply)] { handler(late); });
    }
    slots_.pop_front();
    return;
  }
  switch (slot.kind) {
    case Slot::Kind::auth:
    case Slot::Kind::select:
      if (reply.is_error()) {
        // Redis's refusal names the problem (WRONGPASS, NOAUTH, DB index out of range), not
        // the password.
        const char* what = slot.kind == Slot::Kind::auth ? "AUTH failed: " : "SELECT failed: ";
        fail_connection(what + reply.text);
        return;
      }
      slots_.pop_front();
      if (--handshake_replies_due_ == 0) on_connected();
      return;
    case Slot::Kind::command:
      finish(slot, Outcome::Kind::reply, std::move(reply));
      slots_.pop_front();
      return;
  }
}

void Client::Impl::on_connected() {
  state_ = State::connected;
  backoff_ = kFirstBackoff;
  if (ever_connected_) ++counters.reconnects;
  ever_connected_ = true;
  last_logged_failure_.clear();
  log("connected to ", endpoint_.address());
}

void Client::Impl::finish(Slot& slot, Outcome::Kind kind, Reply reply) {
  if (slot.outcome == nullptr) return;
  slot.outcome->kind = kind;
  slot.outcome->reply = std::move(reply);
  slot.outcome = nullptr;
  if (kind == Outcome::Kind::timeout) ++counters.timeouts;
  if (kind == Outcome::Kind::unavailable) ++counters.unavailable;
  // Through a lambda: an any_completion_handler as post()'s token would be wrapped again
  // (and hit the same Boost 1.81 bug). Callers run on this io_context, so calling the
  // handler from here resumes them where they belong.
  net::post(executor_, [wake = std::move(slot.wake)]() mutable { std::move(wake)(); });
}

void Client::Impl::arm_timer(Clock::time_point at) {
  if (timer_armed_ && timer_at_ <= at) return;
  // Moving the expiry cancels the wait in progress, whose handler then does nothing.
  timer_armed_ = true;
  timer_at_ = at;
  timer_.expires_at(at);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec != net::error::operation_aborted) self->on_timer();
  });
}

void Client::Impl::arm_timer_for_queue() {
  std::optional<Clock::time_point> next;
  if (timed_out_count_ < slots_.size()) next = slots_[timed_out_count_].deadline;
  if (timed_out_count_ > 0) {
    const auto give_up_at = slots_.front().deadline + give_up_after_;
    next = next ? std::min(*next, give_up_at) : give_up_at;
  }
  if (next) arm_timer(*next);
}

void Client::Impl::on_timer() {
  timer_armed_ = false;
  if (state_ == State::closed) return;
  const auto now = Clock::now();
  if (timed_out_count_ < slots_.size() && slots_[timed_out_count_].deadline <= now) {
    if (state_ != State::connected) {
      // The deadline of the first command covers connecting, AUTH and SELECT.
      fail_connection("timed out after " + milliseconds_text(timeout_));
      return;
    }
    while (timed_out_count_ < slots_.size() && slots_[timed_out_count_].deadline <= now)
      finish(slots_[timed_out_count_++], Outcome::Kind::timeout);
  }
  if (timed_out_count_ > 0 && slots_.front().deadline + give_up_after_ <= now) {
    fail_connection("no reply for " +
                    milliseconds_text(std::chrono::duration_cast<std::chrono::milliseconds>(
                        timeout_ + give_up_after_)));
    return;
  }
  arm_timer_for_queue();
}

// Ends the current connection, if any: every waiting caller hears `unavailable` and late
// handlers are forgotten, since nobody can tell whether their commands ran.
void Client::Impl::drop_connection() {
  ++generation_;
  error_code ignored;
  socket_.close(ignored);
  resolver_.cancel();
  socket_connected_ = false;
  writing_ = false;
  pending_.clear();
  in_flight_.clear();
  pending_commands_ = 0;
  in_flight_commands_ = 0;
  handshake_replies_due_ = 0;
  for (Slot& slot : slots_) finish(slot, Outcome::Kind::unavailable);
  slots_.clear();
  timed_out_count_ = 0;
}

void Client::Impl::fail_connection(std::string reason) {
  const bool was_connected = state_ == State::connected;
  drop_connection();
  state_ = State::backing_off;
  retry_at_ = Clock::now() + backoff_;
  backoff_ = std::min<Clock::duration>(backoff_ * 2, kLongestBackoff);
  // One line per change: a lost connection, then the first failed reconnect and any whose
  // reason differs, not each attempt of a long outage.
  if (was_connected) {
    log("lost: ", reason);
  } else if (reason != last_logged_failure_) {
    log("cannot connect: ", reason);
  }
  last_logged_failure_ = reason;
  last_error = std::move(reason);
}

void Client::Impl::close() {
  if (state_ == State::closed) return;
  drop_connection();
  state_ = State::closed;
  timer_.cancel();
}

void Client::Impl::log(std::string_view what, std::string_view detail) const {
  std::fprintf(stderr, "switchyard: redis %s: %.*s%.*s\n", name_.c_str(),
               static_cast<int>(what.size()), what.data(), static_cast<int>(detail.size()),
               detail.data());
}

Client::Client(boost::asio::any_io_executor executor, Endpoint endpoint,
               std::chrono::milliseconds timeout, std::string name)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(endpoint), timeout,
                                   std::move(name))) {}

Client::~Client() {
  try {
    impl_->close();
  } catch (...) {
    // Only posting a waiting caller's wake-up allocates; if even that fails, the callers'
    // suspended coroutines are destroyed with the io_context instead of resumed.
  }
}

net::awaitable<Outcome> Client::command(std::span<const std::string_view> args,
                                        LateReplyHandler on_late) {
  return impl_->command(args, std::move(on_late));
}

bool Client::connected() const { return impl_->connected(); }
const ClientCounters& Client::counters() const { return impl_->counters; }
const std::string& Client::last_error() const { return impl_->last_error; }
void Client::close() { impl_->close(); }

}  // namespace switchyard::proxy::redis
