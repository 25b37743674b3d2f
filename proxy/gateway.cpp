#include "proxy/gateway.hpp"

#include <sys/socket.h>

#include <iostream>
#include <latch>

#include "proxy/governance.hpp"
#include "proxy/health_check.hpp"
#include "proxy/http_session.hpp"
#include "proxy/worker.hpp"

namespace switchyard::proxy {
namespace {

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);

// Counts the connection in switchyard_client_connections_open for as long as it is served:
// up in this worker's shard when accepted, down when the session ends however it ends (the
// guard is destroyed with the coroutine's frame). One relaxed store each, no lock.
struct OpenConnection {
  explicit OpenConnection(Worker& w) : worker(w) {
    worker.runtime.metrics->client_connections().add(worker.index, 1);
  }
  ~OpenConnection() { worker.runtime.metrics->client_connections().add(worker.index, -1); }
  OpenConnection(const OpenConnection&) = delete;
  OpenConnection& operator=(const OpenConnection&) = delete;
  Worker& worker;
};

net::awaitable<void> serve_connection(Worker& worker, tcp::socket socket) {
  const OpenConnection counted(worker);
  HttpSession session(worker, std::move(socket));
  co_await session.run();
}

net::awaitable<void> accept_loop(Worker& worker) {
  while (worker.acceptor && worker.acceptor->is_open()) {
    auto [ec, socket] = co_await worker.acceptor->async_accept(kAsTuple);
    if (ec) {
      if (ec == net::error::operation_aborted || !worker.acceptor->is_open()) break;
      // Out of file descriptors and the like: keep serving the connections we have.
      continue;
    }
    beast::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);
    net::co_spawn(
        worker.ioc, serve_connection(worker, std::move(socket)), [](const std::exception_ptr& e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            std::cerr << "switchyard: connection ended by an unexpected error: " << ex.what()
                      << "\n";
          }
        });
  }
}

// Fires the worker's deadlines (see deadline.hpp). Ends once a draining worker has no
// sessions left, so that the worker's io_context runs out of work and its thread ends.
net::awaitable<void> sweep_deadlines(Worker& worker) {
  net::steady_timer timer(worker.ioc);
  while (!(worker.draining && worker.sessions.empty())) {
    timer.expires_after(DeadlineRegistry::kSweepInterval);
    auto [ec] = co_await timer.async_wait(kAsTuple);
    if (ec) break;
    worker.deadlines.sweep(Clock::now());
  }
}

void open_acceptor(tcp::acceptor& acceptor, const tcp::endpoint& endpoint) {
  acceptor.open(endpoint.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  int one = 1;
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    throw std::runtime_error("cannot set SO_REUSEPORT");
  }
  acceptor.bind(endpoint);
  acceptor.listen(net::socket_base::max_listen_connections);
}

}  // namespace

Gateway::Gateway(const Runtime& runtime, std::size_t workers) : runtime_(runtime) {
  for (std::size_t i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, runtime_));
  }
}

Gateway::~Gateway() {
  for (auto& w : workers_) w->ioc.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::uint16_t Gateway::start(const std::string& host, std::uint16_t port) {
  const auto address = net::ip::make_address(host);
  for (auto& worker : workers_) {
    worker->acceptor.emplace(worker->ioc);
    open_acceptor(*worker->acceptor, tcp::endpoint(address, port));
    port = worker->acceptor->local_endpoint().port();  // port 0: the rest join the one picked
  }
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    net::co_spawn(w->ioc, accept_loop(*w), net::detached);
    net::co_spawn(w->ioc, sweep_deadlines(*w), net::detached);
    if (w->index == 0) net::co_spawn(w->ioc, run_health_checks(*w), net::detached);
    threads_.emplace_back([this, w] {
      // run() returns once the worker has nothing left to do: after a drain, when its last
      // session has finished.
      for (;;) {
        try {
          w->ioc.run();
          break;
        } catch (const std::exception& e) {
          std::cerr << "switchyard: worker " << w->index << " caught: " << e.what() << "\n";
        }
      }
      std::lock_guard lock(mutex_);
      ++finished_;
      finished_cv_.notify_all();
    });
  }
  return port;
}

void Gateway::begin_drain() {
  // Returns once every worker has closed its listener, so whoever logs "draining" afterwards
  // tells the truth: no new connection is accepted from then on.
  std::latch closed(static_cast<std::ptrdiff_t>(workers_.size()));
  for (auto& worker : workers_) {
    Worker* w = worker.get();
    net::post(w->ioc, [w, &closed] {
      w->draining = true;
      if (w->acceptor) {
        beast::error_code ec;
        w->acceptor->close(ec);
      }
      // Copy: closing a session may remove it from the set.
      std::vector<HttpSession*> sessions(w->sessions.begin(), w->sessions.end());
      for (HttpSession* s : sessions) s->close_if_idle();
      closed.count_down();
    });
  }
  closed.wait();
}

bool Gateway::wait_drained(std::chrono::milliseconds deadline) {
  bool clean;
  {
    std::unique_lock lock(mutex_);
    clean = finished_cv_.wait_for(lock, deadline, [&] { return finished_ == workers_.size(); });
  }
  for (auto& w : workers_) w->ioc.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  return clean;
}

}  // namespace switchyard::proxy
