#pragma once
// One attempt of a request on one target, in two steps so the request loop can retry, fall
// back or hedge between them:
//   open_attempt    connect (or take a pooled connection), send, read the head, and read as
//                   far as the answer's first piece; writes nothing to the client, so any
//                   failure here can still go elsewhere;
//   deliver_answer  writes the answer to the client: the whole body, or the stream relayed
//                   as it arrives (keep-alives while the upstream is silent). A failure after
//                   the first byte ends the stream with the protocol's in-band error.
// Both return the failure instead of writing it: the loop decides, and the session's
// write_failure writes the last one.
#include <memory>
#include <optional>
#include <string>

#include "adapters/exchange.hpp"
#include "core/upstream_failure.hpp"
#include "proxy/http_session.hpp"
#include "proxy/upstream_link.hpp"

namespace switchyard::proxy {

// What the answer needs from the request, whichever target serves it: on the heap, so a held
// stream's coroutine frame stays small.
struct Exchange {
  adapters::Protocol client = adapters::Protocol::openai_chat;
  adapters::Operation operation = adapters::Operation::generate;
  bool stream = false;
  bool client_wants_usage = false;
  std::shared_ptr<const adapters::Request> request;  // decoded client request, when translating
};

// What outlives one attempt: the client watch cancels the attempt under way through it.
struct AttemptControl {
  UpstreamLink* link = nullptr;       // the link of the attempt under way, if any
  net::steady_timer* wait = nullptr;  // the wait before a retry, if one is under way
  // No first token by then: the attempt has failed (first_token_timeout_ms).
  std::optional<Clock::time_point> first_token_deadline;
  // Hold the client's response head until the answer's first piece has arrived, so a stream
  // that stalls before its first token can still be retried elsewhere.
  bool hold_head = false;
  // The attempt lost a hedge race (or the request ended): it stops at its next step.
  bool cancelled = false;
};

// One attempt, from its start to the end of its answer.
struct Attempt {
  const TargetRoute* target = nullptr;
  adapters::Protocol upstream = adapters::Protocol::openai_chat;
  std::unique_ptr<UpstreamLink> link;
  UpstreamResponseHead response;
  enum class Answer { whole, long_body, stream } answer = Answer::whole;
  // whole: the client's body, ready; long_body: the first bytes of a pass-through answer too
  // large to read whole; stream: the relay's first output (empty when not held for).
  std::string ready;
  std::unique_ptr<adapters::StreamRelay> relay;
  std::optional<core::Usage> usage;  // whole: the answer's usage, recorded when delivered
  AttemptSpan span;                  // its trace span (proxy/tracing.hpp)
};

net::awaitable<std::optional<core::UpstreamFailure>> open_attempt(
    HttpSession& session, RequestContext& ctx, const Exchange& exchange,
    adapters::UpstreamRequest upstream, Attempt& attempt, AttemptControl& control);

net::awaitable<std::optional<core::UpstreamFailure>> deliver_answer(HttpSession& session,
                                                                    RequestContext& ctx,
                                                                    Attempt& attempt);

std::int64_t unix_now();

}  // namespace switchyard::proxy
