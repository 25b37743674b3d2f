#pragma once
// The request lifecycle of the model endpoints (chat completions, messages, responses,
// embeddings, count_tokens), phase by phase: on_request (parse once, validate) ->
// select_target (route table) -> build_upstream_request (adapter: pass the bytes through,
// or translate) -> connect/send -> on_response_headers -> on_response_chunk (relay or
// translate, usage) -> on_error (the session turns a failure into the client's protocol).
// on_log runs in the session.
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
