#pragma once
// The in-process mock provider as a transport: it answers like an OpenAI Chat upstream (a
// 200 head after the configured time to first token, then the completion whole or as SSE
// events paced by a timer), so its answers take the same path as a real provider's:
// pass-through or translation, retries, failover, keep-alives.
#include <memory>

#include "core/mock_reply.hpp"
#include "proxy/upstream_link.hpp"

namespace switchyard::proxy {

class MockLink final : public UpstreamLink {
 public:
  MockLink(const net::any_io_executor& ex, const core::MockSettings& settings,
           std::string_view model, std::string_view id, std::int64_t created, bool stream);

  // The request body stands in for a prompt: its size decides the prompt tokens.
  net::awaitable<beast::error_code> write(std::string_view head, std::string_view body,
                                          Clock::duration timeout) override;
  net::awaitable<beast::error_code> read_head(UpstreamResponseHead& head,
                                              Clock::duration timeout) override;
  net::awaitable<beast::error_code> read_body(std::string& out, Clock::duration timeout) override;
  bool body_done() const override { return done_; }
  net::awaitable<beast::error_code> wait_for_data(Clock::duration timeout) override;
  bool has_pending_input() override { return !done_ && Clock::now() >= next_at_; }
  void close() override;

 private:
  // Waits until `until`, or at most `timeout`: no error when `until` was reached.
  net::awaitable<beast::error_code> wait_until(Clock::time_point until, Clock::duration timeout);

  net::steady_timer timer_;
  const core::MockSettings& settings_;
  std::string model_;
  std::string id_;
  std::int64_t created_;
  bool stream_;
  std::unique_ptr<core::MockReply> reply_;
  Clock::time_point next_at_;   // when the next piece of the answer is due
  std::size_t next_piece_ = 0;  // stream: role, tokens..., finish, usage, [DONE]
  bool done_ = false;
  bool closed_ = false;
};

}  // namespace switchyard::proxy
