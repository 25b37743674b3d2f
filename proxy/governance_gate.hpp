#pragma once
// The request path's side of governance: who is calling, whether the key may use the model,
// what the request reserves, and, when it ends, what it really cost (settled, and a ledger row).
// Everything it decides is core/'s (governance.hpp, account_table.hpp); this only reads the
// request and the worker's table. Each refusal leaves its error in ctx.failure.
#include <string_view>

#include "proxy/net.hpp"
#include "proxy/request_context.hpp"
#include "proxy/runtime.hpp"
#include "proxy/worker.hpp"

namespace switchyard::proxy {

using Request = http::request<http::string_body>;

// With client authentication on: the caller's virtual key, from Authorization: Bearer,
// x-api-key or api-key. False (a 401 in ctx.failure) without a valid client key.
bool authenticate(Worker& worker, const Request& request, RequestContext& ctx);

// The key's access to `model` (the name the client sent), then its budgets and limits for
// the worst case of this request. False (403, 429 or 400 in ctx.failure) when refused.
bool admit_request(Worker& worker, RequestContext& ctx, const ModelRoute& group,
                   std::int64_t input_tokens, std::int64_t max_output_tokens);

// With budgets and limits shared through Redis, admit_request leaves the request's checks in
// ctx.shared; this runs them there (one script, awaited without blocking the worker). False
// with the refusal, or the on_redis_down answer, in ctx.failure.
net::awaitable<bool> admit_shared(Worker& worker, RequestContext& ctx);

// At the end of every model request while governance is on: settles the admission to the
// request's real cost and queues its ledger row. The last use of `ctx`: it takes the request
// id, key, tags and error out of it.
void finish_request(Worker& worker, RequestContext& ctx, int status, double total_s);

}  // namespace switchyard::proxy
