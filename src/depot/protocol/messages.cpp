#include "depot/protocol/messages.h"

namespace depot::msg {

std::string object(std::string_view type, std::string_view name) {
  std::string s(type);
  s += " '";
  s += name;
  s += "'";
  return s;
}

std::string stayed_empty(std::string_view queue) {
  return object("queue", queue) + " stayed empty until the timeout";
}

std::string is_empty(std::string_view queue) {
  return object("queue", queue) + " is empty";
}

std::string has_no_value(std::string_view variable) {
  return object("variable", variable) + " has no value";
}

std::string no_value_before_timeout(std::string_view variable) {
  return object("variable", variable) + " had no value before the timeout";
}

std::string does_not_exist(std::string_view type, std::string_view name) {
  return object(type, name) + " does not exist";
}

std::string reservation_not_held(std::string_view queue, uint64_t reservation) {
  return "reservation " + std::to_string(reservation) + " is not held on " +
         object("queue", queue) +
         ": it was acked, or its visibility timeout passed or its session ended and the item "
         "was given back (another consumer may have it now)";
}

std::string shutting_down() {
  return "the manager is shutting down; reconnect to its successor";
}

std::string malformed_body(std::string_view op, std::string_view layout) {
  return "malformed " + std::string(op) + " body; expected " + std::string(layout) +
         " (see docs/protocol.md)";
}

std::string connection_limit(size_t sessions) {
  return "the manager has " + std::to_string(sessions) +
         " connections, its limit (--max-connections); retry later";
}

std::string auth_failures_limit(std::string_view address, uint64_t retry_ms) {
  return "too many failed authentications from " + std::string(address) +
         "; connections from it are refused for " + std::to_string(retry_ms) +
         " ms (the manager's --auth-failure-burst and --auth-failure-refill-ms)";
}

std::string denied(std::string_view user, std::string_view perm, std::string_view op,
                   std::string_view object) {
  return "user '" + std::string(user) + "' may not " + std::string(perm) + " '" +
         std::string(object) + "' (" + std::string(op) + "); ask the operator for '" +
         std::string(perm) + "' on it in the manager's ACL file (docs/security.md)";
}

std::string user_or_key_refused(std::string_view user) {
  return "user '" + std::string(user) +
         "' or its key is not accepted by the manager; check the user name and the key you gave";
}

std::string tls_required(std::string_view host_port) {
  return "the manager at " + std::string(host_port) + " requires TLS: connect with tls://" +
         std::string(host_port) + " and a CA (ClientOptions::tls / --tls-ca)";
}

std::string tls_not_used(std::string_view host_port) {
  return "the manager at " + std::string(host_port) +
         " does not use TLS (its HELLO does not announce it); connect with " +
         std::string(host_port) + ", or start the manager with --tls-cert/--tls-key";
}

std::string tls_required_reply() {
  return "this manager requires TLS (its HELLO announced it): connect with tls://host:port "
         "and a CA (ClientOptions::tls / --tls-ca); closing the connection";
}

}  // namespace depot::msg
