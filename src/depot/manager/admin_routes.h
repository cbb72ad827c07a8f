// Internal to manager/: the pages of the admin endpoint (admin/admin_server.h), as tables of
// routes like the op tables of the *_ops.cpp files; Manager installs every table on its
// AdminServer. A route function runs on an HTTP thread and may touch the Server only inside
// on_loop (which runs it on the loop thread): copy there, format outside.
#pragma once
#include <span>

#include "depot/admin/admin_server.h"

namespace depot {

class Server;

using AdminRouteFn = admin::Response (*)(Server&, const admin::Request&, const admin::OnLoop&);
struct AdminRoute {
  const char* prefix;  // AdminServer::route's rule: exact, or a prefix when it ends in '/'
  AdminRouteFn fn;
};
std::span<const AdminRoute> metrics_routes();    // metrics.cpp: /healthz, /metrics
std::span<const AdminRoute> dashboard_routes();  // dashboard.cpp: /api/*, / (the page)

// The credential rule of the admin endpoint off loopback (docs/operations.md), on the loop
// thread: empty when `c` is good, else what to send.
std::string admin_authorize(const Server& srv, const admin::Credential& c);

}  // namespace depot
