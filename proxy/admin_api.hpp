#pragma once
// The admin API (issue 12): JSON over HTTP under /admin, for the master key and admin keys
// (everything but creating other admin keys) and, read-only, reporting keys.
//
//   POST   /admin/teams                 create            GET /admin/teams          list
//   GET    /admin/teams/{id}            read with spend   PATCH /admin/teams/{id}   update
//   DELETE /admin/teams/{id}            (refused while it has keys)
//   POST   /admin/teams/{id}/block      .../unblock
//   POST   /admin/keys                  create: the answer holds the secret, the only time
//   GET    /admin/keys, /admin/keys/{id}, PATCH /admin/keys/{id}, DELETE /admin/keys/{id}
//   POST   /admin/keys/{id}/block, .../unblock, .../rotate (a new secret, same id and history)
//   GET    /admin/spend?group_by=key|team|model|provider|tag|user|day&from=&to=[&format=csv]
//   GET    /admin/audit?from=&to=&limit=
//   POST   /admin/reload                reloads the config file, as SIGHUP does (reloader.hpp):
//                                       200 with the new hash, or 422 with the file:line errors
//
// Each change is written to the store and the audit log, then in force on every worker before
// the answer goes out. The caller's key is checked on the worker that received the call; the
// call itself runs on the governance's admin thread, one at a time, so a store that waits on a
// database (PostgreSQL, possibly down) never holds up a worker. With a shared store, a change
// starts from the records read from it, and the other replicas hear of it within a second.
#include <string>

#include "proxy/net.hpp"
#include "proxy/request_context.hpp"
#include "proxy/worker.hpp"

namespace switchyard::proxy {

struct AdminAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

bool is_admin_path(std::string_view path);
net::awaitable<AdminAnswer> answer_admin(Worker& worker,
                                         const http::request<http::string_body>& request,
                                         RequestContext& ctx);
// POST /admin/reload, for the master key and admin keys. Awaits the reload, which runs on the
// reloader's thread.
net::awaitable<AdminAnswer> answer_reload(Worker& worker,
                                          const http::request<http::string_body>& request);

}  // namespace switchyard::proxy
