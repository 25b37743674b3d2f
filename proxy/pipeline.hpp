#pragma once
// The request lifecycle of the model endpoints (chat completions, messages, responses,
// embeddings, count_tokens): on_request (parse once, find the model or router) -> a loop of
// select_target -> build_upstream_request -> one attempt (upstream_attempt.hpp) -> classify
// (retry, wait, fall back or stop), all in handle_model_request; on_error
// (HttpSession::write_failure) and on_log (HttpSession::on_log) run in the session.
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
