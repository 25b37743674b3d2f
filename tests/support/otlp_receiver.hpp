#pragma once
// A trace collector for tests, in the test's own process: an OTLP/HTTP receiver on 127.0.0.1
// (kernel-picked port) that takes POST /v1/traces with a JSON ExportTraceServiceRequest,
// decodes it and keeps every span, the resource each came with and each request's headers.
// It can also refuse every export (503) or stall (read each export and never answer), so a
// test can show that a broken collector costs spans, not requests.
//
// No OpenTelemetry collector is packaged for Debian; this stands in for one, as the mock
// upstream stands in for the providers. Boost.Beast on a thread of its own; every wait has a
// deadline.
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace switchyard::testing {

struct ReceivedSpan {
  boost::json::object span;      // as sent: traceId, spanId, parentSpanId, name, attributes...
  boost::json::object resource;  // its resource
  boost::json::object scope;     // its instrumentation scope

  // An attribute's value as text (strings as they are, numbers and booleans printed; an
  // intValue is a decimal string already); "(absent)" when the span has no such attribute.
  std::string attribute(std::string_view key) const;
  std::string resource_attribute(std::string_view key) const;
  std::string field(std::string_view key) const;  // a top-level string field, "" when absent
};

class OtlpReceiver {
 public:
  enum class Mode { accept, refuse, stall };

  OtlpReceiver();
  ~OtlpReceiver();
  OtlpReceiver(const OtlpReceiver&) = delete;
  OtlpReceiver& operator=(const OtlpReceiver&) = delete;

  std::uint16_t port() const { return port_; }
  std::string endpoint() const;  // http://127.0.0.1:<port>/v1/traces
  void set_mode(Mode mode);

  // Spans of the exports answered so far (in stall mode, those that arrived).
  std::vector<ReceivedSpan> spans() const;
  // Waits until at least `count` spans have arrived; throws at the deadline.
  std::vector<ReceivedSpan> wait_for_spans(std::size_t count, std::chrono::milliseconds deadline);
  // Waits until at least `count` export requests have arrived (whatever the answer); throws
  // at the deadline. Returns how many there are.
  std::size_t wait_for_exports(std::size_t count, std::chrono::milliseconds deadline);
  std::size_t exports() const;
  // The lower-cased header fields of the last export request.
  std::map<std::string, std::string> last_headers() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace switchyard::testing
