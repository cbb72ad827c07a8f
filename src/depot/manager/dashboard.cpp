// The admin endpoint's dashboard pages: GET /api/<section> (INSPECT's JSON) and GET / (the
// page of dashboard.html, embedded at build time by cmake/embed.cmake).
#include <string>

#include "depot/manager/admin_routes.h"
#include "depot/manager/inspect.h"

namespace depot {

extern const char kDashboardHtml[];  // generated: dashboard_html.cpp

namespace {

admin::Response not_get(const admin::Request& req) {
  return {405, admin::kTextType,
          req.method + " " + req.path + ": the dashboard and /api/* are read with GET\n"};
}

// GET /api/objects|sessions|locks|queues|pools: built on the loop thread in one go, so the
// section is one consistent instant.
admin::Response api(Server& srv, const admin::Request& req, const admin::OnLoop& on_loop) {
  if (req.method != "GET") return not_get(req);
  const std::string section = req.path.substr(std::string_view("/api/").size());
  if (!inspect::known_section(section))
    return {404, admin::kTextType,
            "no " + req.path + " here; the sections are /api/{" + inspect::section_list() +
                "} (docs/operations.md)\n"};
  std::string body;
  on_loop([&] { body = inspect::section(srv, section); });
  admin::Response r{200, admin::kJsonType, std::move(body)};
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

admin::Response page(Server&, const admin::Request& req, const admin::OnLoop&) {
  if (req.path != "/" && req.path != "/index.html")
    return {404, admin::kTextType,
            "no " + req.path +
                " here: the dashboard is at /, its data at /api/*, the metrics at "
                "/metrics\n"};
  if (req.method != "GET") return not_get(req);
  admin::Response r{200, "text/html; charset=utf-8", kDashboardHtml};
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace

std::span<const AdminRoute> dashboard_routes() {
  static const AdminRoute table[] = {{"/api/", api}, {"/", page}};
  return table;
}

}  // namespace depot
