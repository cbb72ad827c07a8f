// The executor's records and names (docs/executor.md, "What lives in the manager"): the one
// place that encodes a task record, a result record, a notification or an actor snapshot,
// names a pool's objects, and spells the error types a task can fail with. Masters and
// workers in any language that follow these layouts work together.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace depot {

class Client;

namespace detail {
struct FutureState;
}  // namespace detail

namespace task {

// ---------------------------------------------------------------- names in the manager

std::string tasks_queue(std::string_view pool);                              // <pool>.tasks
std::string result_var(std::string_view pool, std::string_view submission);  // <pool>.r.<sid>
std::string done_queue(std::string_view pool, std::string_view executor);    // <pool>.done.<ex>
std::string marker_var(std::string_view pool, std::string_view executor);    // <pool>.executor.<ex>
std::string cancel_topic(std::string_view pool);                             // <pool>.cancel
std::string mailbox(std::string_view pool, std::string_view actor);          // <pool>.actor.<id>
std::string alive_lock(std::string_view pool, std::string_view actor);       // ... .alive
std::string state_var(std::string_view pool, std::string_view actor);        // ... .state
// Counts the starts of a task that runs alone (worker.cpp, WorkerCore::run_alone).
std::string starts_counter(std::string_view pool, std::string_view sid);   // <pool>.starts.<sid>
std::string lease_name(std::string_view pool, std::string_view executor);  // <pool>.lease.<ex>
// The patterns of an executor's lease: its marker, done queue, results and start counters.
std::vector<std::string> lease_patterns(std::string_view pool, std::string_view executor);
// The executor id of a reply queue named by done_queue(pool, id); empty if it is not one.
std::string executor_of(std::string_view pool, std::string_view reply_queue);

// ---------------------------------------------------------------- error types

// RemoteError::type() of failures the executor itself reports (a task's own exception has
// its demangled C++ type instead).
inline constexpr std::string_view kWorkerLost = "depot::WorkerLost";
inline constexpr std::string_view kDependencyFailed = "depot::DependencyFailed";
inline constexpr std::string_view kSubmitFailed = "depot::SubmitFailed";
inline constexpr std::string_view kUnknownFunction = "depot::UnknownFunction";
inline constexpr std::string_view kUnknownActorClass = "depot::UnknownActorClass";
inline constexpr std::string_view kUnknownMethod = "depot::UnknownMethod";
inline constexpr std::string_view kUnknownAttribute = "depot::UnknownAttribute";
inline constexpr std::string_view kNotResilient = "depot::NotResilient";
inline constexpr std::string_view kSnapshotFailed = "depot::SnapshotFailed";
inline constexpr std::string_view kActorBusy = "depot::ActorBusy";
// A call that ran, whose result the manager refused to store (its object limit, a frame too
// large, a failing disk): the message says which.
inline constexpr std::string_view kResultNotStored = "depot::ResultNotStored";
inline constexpr std::string_view kActorDied = "depot::ActorDied";
inline constexpr std::string_view kActorClosed = "depot::ActorClosed";
inline constexpr std::string_view kUnknownException = "unknown";

// ---------------------------------------------------------------- task records

enum class Kind : uint8_t {
  CALL = 1,
  ACTOR_NEW = 2,
  ACTOR_CALL = 3,
  ACTOR_GET = 4,
  ACTOR_CLOSE = 5
};
// RESILIENT, RESTORE: an ACTOR_NEW's; ONE_WAY: an ACTOR_CALL nobody waits for (no result is
// stored and no notification sent; its submission and reply queue are empty).
enum Flags : uint8_t { RESILIENT = 1, RESTORE = 2, ONE_WAY = 4 };

// One argument: a value's bytes, or the submission ids of one or several futures whose
// results the worker fetches.
enum class ArgTag : uint8_t { VALUE = 0, FUTURE = 1, FUTURES = 2 };

// An argument as the submitter encodes it.
struct EncodedArg {
  ArgTag tag = ArgTag::VALUE;
  std::string bytes;              // VALUE
  std::vector<std::string> keys;  // submission ids: FUTURE (one) or FUTURES
  std::vector<std::shared_ptr<detail::FutureState>> deps;  // not sent: kept by the submitter
};

// u8 kind, str key, str submission, str function, str reply_queue, u32 max_attempts,
// str actor, u8 flags, u32 nargs, nargs x (u8 tag, str value | u32 n, n x str submission).
struct Record {
  Kind kind = Kind::CALL;
  std::string key, sid, name, reply, actor;
  uint32_t max_attempts = 3;
  uint8_t flags = 0;
  std::vector<EncodedArg> args;
};
std::string encode(const Record& t);
// False when the bytes are not a task record.
bool decode(std::string_view bytes, Record& out);

// ---------------------------------------------------------------- results

// u8 1, str payload  |  u8 0, str type, str message.
std::string ok_record(std::string_view payload);
std::string error_record(std::string_view type, std::string_view message);
struct Result {
  bool ok = false;
  std::string payload;  // ok
  std::string type, message;
};
// nullopt when the bytes are not a result record.
std::optional<Result> parse_result(std::string_view record);

// The result records stored for the submissions `sids` (in <pool>.r.<sid>), read with one
// pipelined round trip per 4096; nullopt where none is stored yet (or what is there is not a
// result record). Throws depot::Error when the manager cannot be reached.
std::vector<std::optional<std::string>> stored_results(Client& client, std::string_view pool,
                                                       const std::vector<std::string>& sids);

// A notification to the submitting executor's done queue: str key, str submission, then the
// result record.
std::string notification(std::string_view key, std::string_view sid, std::string_view record);
struct Notification {
  std::string key, sid;
  Result result;
};
std::optional<Notification> parse_notification(std::string_view bytes);

// A resilient actor's snapshot variable: str key of the last call applied, str state.
std::string snapshot(std::string_view last_key, std::string_view state);
struct Snapshot {
  std::string last_key, state;
};
std::optional<Snapshot> parse_snapshot(std::string_view bytes);

}  // namespace task
}  // namespace depot
