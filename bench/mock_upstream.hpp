#pragma once

// A fake LLM provider for integration tests and benchmarks. It speaks OpenAI Chat (and Azure's
// variant), OpenAI Responses, Anthropic Messages, Gemini and embeddings (JSON and SSE), injects
// faults on request, scripts tool-call conversations, and counts streams so tests can see
// whether the gateway cancelled its upstream. The header stays free of Asio and
// Beast so tests can start it in-process without paying for those headers.

#include <cstdint>
#include <memory>
#include <string>

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
  // Both set = serve HTTPS with this PEM certificate chain and key.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class MockUpstream {
 public:
  explicit MockUpstream(MockUpstreamOptions options);
  MockUpstream(const MockUpstream&) = delete;
  MockUpstream& operator=(const MockUpstream&) = delete;
  ~MockUpstream();

  // Binds every acceptor (throws std::runtime_error when that fails) and starts the threads.
  void start();
  // The bound port; valid after start().
  std::uint16_t port() const;
  bool tls() const;
  // Stops the threads and drops every open connection. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard::bench
