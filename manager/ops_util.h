// Helpers shared by the *_ops.cpp handler files.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "manager/server.h"

namespace depot {

// Replies BAD_REQUEST when the body did not parse exactly; true when it did.
inline bool body_ok(Session& s, const proto::Header& h, const proto::Reader& r,
                    const char* layout) {
  if (r.at_end()) return true;
  s.reply_error(h.id, Status::BAD_REQUEST,
                std::string("malformed ") + std::string(proto::op_name(h.code)) +
                    " body; expected " + layout + " (see docs/protocol.md)");
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

// An existing T, or nullptr after replying NOT_FOUND / WRONG_TYPE.
template <class T>
T* find_object(Server& srv, Session& s, const proto::Header& h, std::string_view name) {
  auto r = srv.registry().find<T>(name);
  if (!r.ok()) {
    s.reply_error(h.id, r.status,
                  r.status == Status::NOT_FOUND
                      ? std::string(T::kTypeName) + " '" + std::string(name) + "' does not exist"
                      : r.message);
    return nullptr;
  }
  return r.value;
}

inline Wait make_wait(const Session& s, int64_t timeout_ms) {
  if (timeout_ms == 0) return Wait::now_only(s.id());
  return Wait{s.id(), deadline_after(Clock::now(), timeout_ms), true};
}

}  // namespace depot
