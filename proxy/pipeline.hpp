#pragma once
// The request lifecycle of the model endpoints (chat completions, messages, responses,
// embeddings, count_tokens), phase by phase. The phases keep Pingora's names as comments
// marking sections, not functions of their own: on_request (parse once, validate) ->
// select_target (the route for the model name) -> build_upstream_request (adapter: pass the
// bytes through, or translate), all in handle_model_request; then connect/send ->
// on_response_headers -> on_response_chunk (relay or translate, usage) in proxy_to_upstream
// (or serve_mock). on_error (HttpSession::write_error: the failure in the client's protocol)
// and on_log (HttpSession::on_log) run in the session.
#include "adapters/exchange.hpp"
#include "core/chat_request.hpp"
#include "proxy/http_session.hpp"

namespace switchyard::proxy {

// Which protocol and operation a path serves.
struct FrontDoor {
  adapters::Protocol protocol = adapters::Protocol::openai_chat;
  core::BodyShape shape = core::BodyShape::openai_chat;
  adapters::Operation operation = adapters::Operation::generate;
};

// The front door for a POST path, or nullptr when the path is not a model endpoint.
const FrontDoor* find_front_door(std::string_view path);

net::awaitable<void> handle_model_request(HttpSession& session, Request& request,
                                          RequestContext& ctx, const FrontDoor& door);

}  // namespace switchyard::proxy
