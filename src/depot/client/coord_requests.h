// The coordination opcodes' request and reply bodies, opposite manager/coord_ops.cpp: locks,
// semaphores, events, barriers, variables, counters and pub/sub, and the PUSH frames of
// subscriptions (docs/protocol.md, "Coordination objects" and "PUSH frames"). Encoders
// return a Request; parsers take an OK reply's body and throw ProtocolError when it does not
// have the documented layout. Timeouts are wire milliseconds (-1 forever, 0 no wait).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "depot/client/types.h"

namespace depot {

// A versioned value's state as read: version 0 means never set; no value means deleted.
struct RawVersioned {
  uint64_t version = 0;
  std::optional<std::string> value;
};

struct CasResult {
  bool swapped = false;
  uint64_t version = 0;  // the new version, or the current one when not swapped
};

namespace req {

// LOCK_ACQUIRE: str name, u8 reentrant, u64 owner, i64 timeout_ms, i64 ttl_ms
// -> u64 token, u32 hold count.
struct LockGrant {
  uint64_t token = 0;
  uint32_t count = 0;
};
Request lock_acquire(std::string_view name, bool reentrant, uint64_t owner, int64_t timeout_ms,
                     int64_t ttl_ms);
LockGrant parse_lock_acquire(std::string_view body);

// LOCK_RELEASE: str name, u64 token (0: an operator's forced release) -> u32 holds left,
// u64 token released.
struct LockReleased {
  uint32_t remaining = 0;
  uint64_t token = 0;
};
Request lock_release(std::string_view name, uint64_t token);
LockReleased parse_lock_release(std::string_view body);

// SEM_ACQUIRE: str name, u32 max, i64 timeout_ms -> u64 lease.
Request sem_acquire(std::string_view name, uint32_t max, int64_t timeout_ms);
uint64_t parse_sem_acquire(std::string_view body);
// SEM_RELEASE: str name, u64 lease -> empty.
Request sem_release(std::string_view name, uint64_t lease);

// EVENT_SET, EVENT_CLEAR: str name -> empty. EVENT_WAIT: str name, i64 timeout_ms -> empty.
Request event_set(std::string_view name);
Request event_clear(std::string_view name);
Request event_wait(std::string_view name, int64_t timeout_ms);

// BARRIER_WAIT: str name, u32 parties, i64 timeout_ms -> u32 arrival index.
Request barrier_wait(std::string_view name, uint32_t parties, int64_t timeout_ms);
uint32_t parse_barrier_wait(std::string_view body);
// BARRIER_RESET: str name -> empty.
Request barrier_reset(std::string_view name);

// VAR_SET: str name, str value -> u64 version.
Request var_set(std::string_view name, std::string_view value);
uint64_t parse_var_set(std::string_view body);
// VAR_GET: str name, i64 timeout_ms -> u64 version, u8 exists, str value (also VAR_WAIT's).
Request var_get(std::string_view name, int64_t timeout_ms);
RawVersioned parse_var_state(std::string_view body);
// VAR_CAS: str name, u64 expected_version, str value -> u8 swapped, u64 version.
Request var_cas(std::string_view name, uint64_t expected_version, std::string_view value);
CasResult parse_var_cas(std::string_view body);
// VAR_WAIT: str name, u64 after_version, i64 timeout_ms -> as VAR_GET.
Request var_wait(std::string_view name, uint64_t after_version, int64_t timeout_ms);
// VAR_DELETE: str name -> u8 existed, u64 version (the one the delete made).
struct VarDeleted {
  bool existed = false;
  uint64_t version = 0;
};
Request var_delete(std::string_view name);
VarDeleted parse_var_delete(std::string_view body);

// COUNTER_ADD: str name, i64 delta -> i64 value.
Request counter_add(std::string_view name, int64_t delta);
int64_t parse_counter_add(std::string_view body);

// PUBLISH: str topic, str payload -> u32 subscribers that took it.
Request publish(std::string_view topic, std::string_view payload);
uint32_t parse_publish(std::string_view body);
// SUBSCRIBE: str pattern, u32 buffer, u8 overflow -> u64 subscription id.
Request subscribe(std::string_view pattern, uint32_t buffer, Overflow overflow);
uint64_t parse_subscribe(std::string_view body);
// UNSUBSCRIBE: u64 subscription id -> empty.
Request unsubscribe(uint64_t id);

// A PUSH frame of code MESSAGE (its header id is the subscription id): str topic,
// u64 dropped so far, str payload. False when the body does not have that layout.
bool parse_push_message(std::string_view body, RawMessage& out);

// LEASE_HOLD: str name, u32 grace_ms, u32 fence_ms, u16 n, n x str pattern -> u8 found.
Request lease_hold(std::string_view name, const LeaseTerms& terms);
LeaseFound parse_lease_hold(std::string_view body);

}  // namespace req
}  // namespace depot
