// VariableObject: a named value with a version, for configuration and state shared by sessions.
//
// - Every change (set, a successful compare_and_set, delete) takes a new version from
//   Registry::next_token, so versions strictly increase, even across a delete.
// - get waits until the variable has a value; wait_for_change(after) waits until the
//   version passes `after` (and then reports the value, or that it was deleted).
// - compare_and_set(expected, value) succeeds only when the current version is `expected`
//   (the version of the last change, a delete included), or when `expected` is 0 and there
//   is no value: the building block for optimistic updates.
//
// CounterObject: a named 64-bit integer changed only by atomic add (the lock-free way to count).
#pragma once
#include <functional>
#include <string>

#include "depot/protocol/messages.h"
#include "depot/queue/queue.h"

namespace depot {

class VariableObject : public Object {
 public:
  static constexpr ObjectType kType = ObjectType::VARIABLE;
  static constexpr std::string_view kTypeName = "variable";
  struct Snapshot {
    uint64_t version = 0;  // 0: never set
    bool exists = false;
    std::string_view value;  // valid during the callback only
  };
  using Done = std::function<void(Status, const Snapshot&, std::string_view message)>;

  VariableObject(Registry& registry, std::string name);
  uint64_t set(std::string_view value);
  // True and the new version when the current version equals `expected`; else false and the
  // current version.
  bool compare_and_set(uint64_t expected, std::string_view value, uint64_t& version);
  // Removes the value (a new version); false when it had none.
  bool erase_value();
  // Waits until there is a value (NOT_FOUND at once when it may not wait).
  Status get(const Wait& wait, Done done);
  // Waits until the version is above `after`.
  Status wait_for_change(uint64_t after, const Wait& wait, Done done);

  uint64_t version() const { return version_; }
  bool exists() const { return exists_; }

  ObjectType type() const override { return kType; }
  std::string_view type_name() const override { return kTypeName; }
  uint64_t size() const override { return exists_ ? value_.size() : 0; }
  std::string state() const override;
  size_t waiter_count() const override { return waiters_.size(); }
  void cancel(Waiter* w, Status s, std::string_view message) override;
  void fail_all(Status s, std::string_view message) override { waiters_.fail_all(s, message); }
  // Only once it was set: a variable a read created holds nothing, and the journal never
  // heard of it (its deletion must not be recorded either, or replay finds no such object).
  bool durable() const override { return version_ != 0; }
  void persist(Journal& out) const override;
  bool restore(Rec type, proto::Reader& r, std::string& error) override;

  void waits(std::vector<WaitInfo>& out) const override;

 private:
  struct Watcher;
  Status park(const Wait& wait, bool want_value, uint64_t after, Done done);
  void changed();
  Snapshot snapshot() const { return {version_, exists_, value_}; }
  std::string what() const { return msg::object("variable", name_); }

  uint64_t version_ = 0;
  bool exists_ = false;
  std::string value_;
  WaitList waiters_;
};

class CounterObject : public Object {
 public:
  static constexpr ObjectType kType = ObjectType::COUNTER;
  static constexpr std::string_view kTypeName = "counter";
  CounterObject(Registry& registry, std::string name) : Object(registry, std::move(name)) {}
  // Adds delta. One that would overflow 64 bits changes nothing and sets `overflow`.
  int64_t add(int64_t delta, bool& overflow);
  int64_t value() const { return value_; }

  ObjectType type() const override { return kType; }
  std::string_view type_name() const override { return kTypeName; }
  uint64_t size() const override { return 1; }
  std::string state() const override { return "value=" + std::to_string(value_); }
  size_t waiter_count() const override { return 0; }
  void cancel(Waiter*, Status, std::string_view) override {}
  void fail_all(Status, std::string_view) override {}
  // Only once a change was recorded (an add of 0 creates the counter but records nothing).
  bool durable() const override { return recorded_; }
  void persist(Journal& out) const override;
  bool restore(Rec type, proto::Reader& r, std::string& error) override;

 private:
  int64_t value_ = 0;
  bool recorded_ = false;  // a C_SET was recorded or read back
};

}  // namespace depot
