#include "depot/queue/variable.h"
#include "depot/protocol/messages.h"

namespace depot {

struct VariableObject::Watcher : Waiter {
  bool want_value = false;  // get: any value; else wait_for_change
  uint64_t after = 0;
  Done done;
  void fail(Status s, std::string_view message) override { done(s, Snapshot{}, message); }
};

VariableObject::VariableObject(Registry& registry, std::string name)
    : Object(registry, std::move(name)), waiters_(registry.waiters()) {}

std::string VariableObject::state() const {
  return std::string(exists_ ? "set" : "unset") + " version=" + std::to_string(version_) +
         " watchers=" + std::to_string(waiters_.size());
}

uint64_t VariableObject::set(std::string_view value) {
  value_.assign(value);
  exists_ = true;
  version_ = registry_.next_token();
  if (Journal* j = registry_.journal()) j->record(Rec::V_SET).str(name_).u64(version_).str(value_);
  changed();
  return version_;
}

bool VariableObject::compare_and_set(uint64_t expected, std::string_view value, uint64_t& version) {
  // The current version, whatever made it (a delete too, as wait_for_change reports it); and
  // 0 stands for "no value" whatever the version of the delete was.
  const bool match = expected == version_ || (expected == 0 && !exists_);
  if (!match) {
    version = version_;
    return false;
  }
  version = set(value);
  return true;
}

bool VariableObject::erase_value() {
  if (!exists_) return false;
  exists_ = false;
  value_.clear();
  version_ = registry_.next_token();
  if (Journal* j = registry_.journal()) j->record(Rec::V_DELETE).str(name_).u64(version_);
  changed();
  return true;
}

void VariableObject::persist(Journal& out) const {
  if (exists_)
    out.record(Rec::V_SET).str(name_).u64(version_).str(value_);
  else if (version_ != 0)  // deleted: the version still counts for compare_and_set
    out.record(Rec::V_DELETE).str(name_).u64(version_);
}

bool VariableObject::restore(Rec type, proto::Reader& r, std::string& error) {
  const uint64_t version = r.u64();
  std::string_view value;
  if (type == Rec::V_SET) value = r.str();
  if (!r.at_end() || (type != Rec::V_SET && type != Rec::V_DELETE)) {
    error = what() + ": a malformed record";
    return false;
  }
  version_ = version;
  exists_ = type == Rec::V_SET;
  value_.assign(value);
  return true;
}

void VariableObject::changed() {
  // Serve every watcher whose condition now holds, in arrival order; the rest keep waiting.
  std::vector<std::unique_ptr<Waiter>> done;
  for (Waiter* w : waiters_.snapshot()) {
    auto* wt = static_cast<Watcher*>(w);
    if ((wt->want_value && exists_) || (!wt->want_value && version_ > wt->after))
      done.push_back(waiters_.take(w));
  }
  const Snapshot snap = snapshot();
  for (auto& w : done) static_cast<Watcher*>(w.get())->done(Status::OK, snap, {});
}

Status VariableObject::park(const Wait& wait, bool want_value, uint64_t after, Done done) {
  if (!wait.may_wait) {
    if (want_value) {
      done(Status::NOT_FOUND, {}, msg::has_no_value(name_));
      return Status::NOT_FOUND;
    }
    done(Status::TIMEOUT, {}, what() + " has not changed since version " + std::to_string(after));
    return Status::TIMEOUT;
  }
  if (waiters_.size() >= registry_.limits().max_waiters_per_object) {
    done(Status::LIMIT, {}, what() + " has too many watchers; raise --max-waiters");
    return Status::LIMIT;
  }
  auto w = std::make_unique<Watcher>();
  w->session = wait.session;
  w->deadline = wait.deadline;
  w->object = this;
  w->want_value = want_value;
  w->after = after;
  w->done = std::move(done);
  waiters_.push_back(std::move(w));
  return Status::PARKED;
}

Status VariableObject::get(const Wait& wait, Done done) {
  if (exists_) {
    done(Status::OK, snapshot(), {});
    return Status::OK;
  }
  return park(wait, true, 0, std::move(done));
}

Status VariableObject::wait_for_change(uint64_t after, const Wait& wait, Done done) {
  if (version_ > after) {
    done(Status::OK, snapshot(), {});
    return Status::OK;
  }
  return park(wait, false, after, std::move(done));
}

void VariableObject::cancel(Waiter* w, Status s, std::string_view message) {
  auto owned = waiters_.take(w);
  if (s == Status::OK) return;
  if (s == Status::TIMEOUT && message.empty()) {
    auto* wt = static_cast<Watcher*>(w);
    w->fail(Status::TIMEOUT, wt->want_value ? msg::no_value_before_timeout(name_)
                                            : what() + " did not change before the timeout");
    return;
  }
  w->fail(s, message);
}

int64_t CounterObject::add(int64_t delta, bool& overflow) {
  int64_t out;
  overflow = __builtin_add_overflow(value_, delta, &out);
  if (overflow || delta == 0) return value_;  // an add that would overflow changes nothing
  value_ = out;
  recorded_ = true;
  if (Journal* j = registry_.journal()) j->record(Rec::C_SET).str(name_).i64(value_);
  return value_;
}

void CounterObject::persist(Journal& out) const {
  out.record(Rec::C_SET).str(name_).i64(value_);
}

bool CounterObject::restore(Rec type, proto::Reader& r, std::string& error) {
  const int64_t value = r.i64();
  if (type != Rec::C_SET || !r.at_end()) {
    error = "counter '" + name_ + "': a malformed record";
    return false;
  }
  value_ = value;
  recorded_ = true;
  return true;
}

}  // namespace depot

namespace depot {

void VariableObject::waits(std::vector<WaitInfo>& out) const {
  for (const Waiter* w : waiters_.snapshot())
    out.push_back({w->session, static_cast<const Watcher*>(w)->want_value ? "get" : "wait"});
}

}  // namespace depot
