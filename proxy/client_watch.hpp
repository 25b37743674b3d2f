#pragma once
// Notices, while the upstream works, that the client went away, so the upstream request can
// be cancelled at once instead of burning tokens for nobody. Waits for readability on the
// client socket without consuming anything: EOF or an error means gone; bytes mean a
// pipelined request, which stays in the socket for the session to read later.
#include <sys/socket.h>

#include <cerrno>
#include <functional>
#include <memory>

#include "proxy/net.hpp"

namespace switchyard::proxy {

class ClientWatch {
 public:
  explicit ClientWatch(tcp::socket& socket) : socket_(socket) {}
  ClientWatch(const ClientWatch&) = delete;
  ClientWatch& operator=(const ClientWatch&) = delete;
  ~ClientWatch() { stop(); }

  void start(std::function<void()> on_gone) {
    state_ = std::make_shared<State>();
    state_->on_gone = std::move(on_gone);
    arm();
  }

  // Must be called before anything on_gone refers to is destroyed.
  void stop() {
    if (!state_ || !state_->active) return;
    state_->active = false;
    state_->on_gone = nullptr;
    beast::error_code ec;
    socket_.cancel(ec);
  }

 private:
  struct State {
    bool active = true;
    std::function<void()> on_gone;
  };

  void arm() {
    socket_.async_wait(tcp::socket::wait_read, [this, state = state_](const beast::error_code& ec) {
      if (!state->active) return;  // stopped: `this` may be gone
      if (!ec) {
        char byte;
        const ssize_t r = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r > 0) return;  // pipelined bytes: the client is still there
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          arm();
          return;
        }
      }
      state->active = false;
      if (auto cb = std::move(state->on_gone)) cb();
    });
  }

  tcp::socket& socket_;
  std::shared_ptr<State> state_;
};

}  // namespace switchyard::proxy
