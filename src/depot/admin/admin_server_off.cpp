// depot::admin::AdminServer built without POCO (DEPOT_WITH_POCO=OFF, as when depot is a
// subdirectory of another project): there is no HTTP server to start, so constructing one
// says so and how to get one. Everything else in depot works without it.
#include <stdexcept>

#include "depot/admin/admin_server.h"

namespace depot::admin {

struct AdminServer::Impl {};

AdminServer::AdminServer(AdminOptions options, Post, Authorizer) {
  throw std::runtime_error("admin endpoint " + options.address +
                           ": this depot was built without POCO (DEPOT_WITH_POCO=OFF); "
                           "install libpoco-dev and configure with -DDEPOT_WITH_POCO=ON, "
                           "or leave --admin-address out");
}
AdminServer::~AdminServer() = default;
void AdminServer::route(std::string, RouteHandler) {}
void AdminServer::start() {}
void AdminServer::stop() {}
uint16_t AdminServer::port() const {
  return 0;
}
std::string AdminServer::address() const {
  return {};
}
bool AdminServer::needs_credential() const {
  return true;
}
const OnLoop& AdminServer::on_loop() const {
  static const OnLoop none;
  return none;
}

}  // namespace depot::admin
