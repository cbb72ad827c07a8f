// Message texts used in more than one place, by the manager's objects and handlers and by
// the clients: one wording each (a message names the object and says what to do).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace depot::msg {

// "queue 'tasks'": how every message names an object.
std::string object(std::string_view type, std::string_view name);

// TIMEOUT of a get, get_many or reserve: "queue 'tasks' stayed empty until the timeout".
std::string stayed_empty(std::string_view queue);
// NOT_FOUND of a VAR_GET that did not wait: "variable 'config' has no value".
std::string has_no_value(std::string_view variable);
// TIMEOUT of a VAR_GET that waited for a value.
std::string no_value_before_timeout(std::string_view variable);
// EMPTY of a get, get_many or reserve that did not wait.
std::string is_empty(std::string_view queue);
// NOT_FOUND of a request on an object that must exist: "lock 'db' does not exist".
std::string does_not_exist(std::string_view type, std::string_view name);
// NOT_FOUND of QUEUE_NACK / QUEUE_TOUCH.
std::string reservation_not_held(std::string_view queue, uint64_t reservation);
// SHUTTING_DOWN to every request and parked wait of a stopping manager.
std::string shutting_down();
// LIMIT of a connection refused at --max-connections (at the accept or at its AUTH).
std::string connection_limit(size_t sessions);
// LIMIT of a connection from an address past its failed-authentication allowance.
std::string auth_failures_limit(std::string_view address, uint64_t retry_ms);
// BAD_REQUEST of a body that does not have its documented layout.
std::string malformed_body(std::string_view op, std::string_view layout);

// DENIED: "user 'w1' may not write queue 'results' (QUEUE_PUT); ..." with what to do.
std::string denied(std::string_view user, std::string_view perm, std::string_view op,
                   std::string_view object);
// AUTH_FAILED for an unknown user or a key that is not one of its keys (the same text for
// both, so a client cannot probe which users exist).
std::string user_or_key_refused(std::string_view user);
// TLS mismatches, told by the client (`host_port` without a scheme, "127.0.0.1:5000") and by
// the manager to a peer that sends clear text where the TLS handshake belongs.
// "the manager at H:P requires TLS: connect with tls://H:P and a CA (...)"
std::string tls_required(std::string_view host_port);
// "the manager at H:P does not use TLS ...; connect with H:P, or start the manager with ..."
std::string tls_not_used(std::string_view host_port);
// BAD_REQUEST to a peer that answered a TLS HELLO with clear text.
std::string tls_required_reply();

}  // namespace depot::msg
