#pragma once

// A fake LLM provider for integration tests and benchmarks. It speaks OpenAI Chat (and Azure's
// variant), OpenAI Responses, Anthropic Messages, Gemini and embeddings (JSON and SSE), injects
// faults on request, scripts tool-call conversations, and counts streams so tests can see
// whether the gateway cancelled its upstream. The header stays free of Asio and
// Beast so tests can start it in-process without paying for those headers.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace switchyard::bench {

struct MockUpstreamOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0 = let the kernel pick; read it back with MockUpstream::port()
  int threads = 1;
  // Defaults for requests that carry no "mock" object of their own.
  int ttft_ms = 0;
  int chunk_delay_ms = 0;
  int chunks = 5;
  // Answer requests that declare a known shell tool (Bash, shell, exec_command) with a call to
  // it, and a tool result with its text: for real CLI clients, which cannot send a plan.
  bool tool_script_auto = false;
  // The instance plan: a JSON object with the fields of a request's "mock" object, applied after
  // the request's own plan to every model request ("" or "{}" = none). Tests give one of several
  // mocks a fault this way; PUT /mock/plan and set_instance_plan() change it at run time.
  std::string instance_plan;
  // Both set = serve HTTPS with this PEM certificate chain and key.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class MockUpstream {
 public:
  // Throws std::invalid_argument when options.instance_plan is not a valid plan object.
  explicit MockUpstream(MockUpstreamOptions options);
  MockUpstream(const MockUpstream&) = delete;
  MockUpstream& operator=(const MockUpstream&) = delete;
  ~MockUpstream();

  // Binds every acceptor (throws std::runtime_error when that fails) and starts the threads.
  void start();
  // The bound port; valid after start().
  std::uint16_t port() const;
  bool tls() const;
  // Replaces the instance plan, as PUT /mock/plan does ("{}" clears it), and restarts the
  // request count that fail_first and slow_every go by. Throws std::invalid_argument when
  // `json` is not a valid plan object. Safe to call from any thread, running or not.
  void set_instance_plan(std::string_view json);
  // Stops the threads and drops every open connection. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard::bench
