// Helpers shared by the *_ops.cpp handler files.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "depot/manager/server.h"
#include "depot/protocol/messages.h"

namespace depot {

// Replies BAD_REQUEST when the body did not parse exactly; true when it did.
inline bool body_ok(Session& s, const proto::Header& h, const proto::Reader& r,
                    const char* layout) {
  if (r.at_end()) return true;
  s.reply_error(h.id, Status::BAD_REQUEST, msg::malformed_body(proto::op_name(h.code), layout));
  return false;
}

// Finds or creates the T named in a request (make() builds a new one); replies the error and
// returns nullptr when that fails.
template <class T, class Make>
T* open_object(Server& srv, Session& s, const proto::Header& h, std::string_view name,
               Make&& make) {
  auto r = srv.registry().open<T>(name, std::forward<Make>(make));
  if (!r.ok()) {
    s.reply_error(h.id, r.status, r.message);
    return nullptr;
  }
  return r.value;
}

// Opens the T named in a request, creating it with `param` (a semaphore's max, a barrier's
// parties), which is fixed from then on: a request naming another value is refused, so two
// programs cannot silently disagree about it. `current` reads the object's value; `what`
// names it in the message.
template <class T, class P, class Get>
T* open_fixed(Server& srv, Session& s, const proto::Header& h, std::string_view name, P param,
              Get&& current, const char* what) {
  T* obj = open_object<T>(srv, s, h, name, [&] {
    return std::make_unique<T>(srv.registry(), std::string(name), param);
  });
  if (!obj || current(*obj) == param) return obj;
  s.reply_error(h.id, Status::BAD_REQUEST,
                std::string(T::kTypeName) + " '" + std::string(name) + "' exists with " + what +
                    " " + std::to_string(current(*obj)) + ", not " + std::to_string(param) +
                    "; use the same " + what + " or delete it first");
  return nullptr;
}

// An existing T, or nullptr after replying NOT_FOUND / WRONG_TYPE.
template <class T>
T* find_object(Server& srv, Session& s, const proto::Header& h, std::string_view name) {
  auto r = srv.registry().find<T>(name);
  if (!r.ok()) {
    s.reply_error(
        h.id, r.status,
        r.status == Status::NOT_FOUND ? msg::does_not_exist(T::kTypeName, name) : r.message);
    return nullptr;
  }
  return r.value;
}

// A request's wire timeout as a deadline on the registry's clock (Registry::wait_for), the
// clock its objects and expire() run on.
inline Wait make_wait(Server& srv, const Session& s, int64_t timeout_ms) {
  return srv.registry().wait_for(s.id(), timeout_ms);
}

}  // namespace depot
