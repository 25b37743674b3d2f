#include "proxy/mock_link.hpp"

namespace switchyard::proxy {

MockLink::MockLink(const net::any_io_executor& ex, const core::MockSettings& settings,
                   std::string_view model, std::string_view id, std::int64_t created, bool stream)
    : timer_(ex), settings_(settings), model_(model), id_(id), created_(created), stream_(stream) {}

net::awaitable<beast::error_code> MockLink::write(std::string_view /*head*/, std::string_view body,
                                                  Clock::duration /*timeout*/) {
  if (closed_) co_return net::error::operation_aborted;
  reply_ = std::make_unique<core::MockReply>(settings_, model_, id_, created_, body.size());
  next_at_ = Clock::now() + settings_.time_to_first_token;
  co_return beast::error_code{};
}

net::awaitable<beast::error_code> MockLink::wait_until(Clock::time_point until,
                                                       Clock::duration timeout) {
  if (closed_) co_return net::error::operation_aborted;
  const Clock::time_point now = Clock::now();
  if (now >= until) co_return beast::error_code{};
  const bool in_time = until - now <= timeout;
  timer_.expires_at(in_time ? until : now + timeout);
  auto [ec] = co_await timer_.async_wait(net::as_tuple(net::use_awaitable));
  if (closed_ || ec) co_return net::error::operation_aborted;
  co_return in_time ? beast::error_code{} : beast::error_code(beast::error::timeout);
}

net::awaitable<beast::error_code> MockLink::read_head(UpstreamResponseHead& head,
                                                      Clock::duration timeout) {
  if (auto ec = co_await wait_until(next_at_, timeout)) co_return ec;
  head = {};
  head.status = 200;
  head.event_stream = stream_;
  co_return beast::error_code{};
}

net::awaitable<beast::error_code> MockLink::read_body(std::string& out, Clock::duration timeout) {
  if (done_) co_return beast::error_code{};
  if (auto ec = co_await wait_until(next_at_, timeout)) co_return ec;
  if (!stream_) {
    out += reply_->completion_json();
    done_ = true;
    co_return beast::error_code{};
  }
  const std::size_t tokens = reply_->tokens().size();
  const std::size_t piece = next_piece_++;
  if (piece == 0) {
    out += reply_->role_event();
  } else if (piece <= tokens) {
    out += reply_->token_event(piece - 1);
  } else if (piece == tokens + 1) {
    out += reply_->finish_event();
  } else if (piece == tokens + 2) {
    out += reply_->usage_event();
  } else {
    out += core::MockReply::done_event();
    done_ = true;
  }
  // Tokens come at the configured rate; the role event and the tail come at once.
  if (piece >= 1 && piece < tokens) {
    next_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(1.0 / settings_.tokens_per_second));
  }
  co_return beast::error_code{};
}

net::awaitable<beast::error_code> MockLink::wait_for_data(Clock::duration timeout) {
  co_return co_await wait_until(next_at_, timeout);
}

void MockLink::close() {
  closed_ = true;
  timer_.cancel();
}

}  // namespace switchyard::proxy
