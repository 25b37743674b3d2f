#pragma once
// The request lifecycle of the chat completions endpoint, phase by phase:
// on_request (parse once, validate) -> select_target (route table) -> build_upstream_request
// (adapter) -> connect/send -> on_response_headers -> on_response_chunk (relay, usage) ->
// on_error (one place turns failures into the client's protocol). on_log runs in the session.
#include "core/chat_request.hpp"
#include "proxy/http_session.hpp"

namespace switchyard::proxy {

net::awaitable<void> handle_chat_completions(HttpSession& session, Request& request,
                                             RequestContext& ctx);

// The in-process mock provider: answers like an OpenAI upstream, paced by timers.
net::awaitable<void> serve_mock(HttpSession& session, const core::ChatRequest& chat,
                                std::size_t prompt_bytes, RequestContext& ctx);

}  // namespace switchyard::proxy
