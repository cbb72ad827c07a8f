#include "depot/queue/lease.h"

#include "depot/protocol/messages.h"
#include "depot/queue/journal.h"

namespace depot {

std::string LeaseObject::check(const Terms& t) {
  if (t.grace_ms == 0 || t.grace_ms > kMaxMillis)
    return "a lease's grace_ms is 1 to " + std::to_string(kMaxMillis) + " (a week), got " +
           std::to_string(t.grace_ms);
  if (t.fence_ms > kMaxMillis)
    return "a lease's fence_ms is 0 to " + std::to_string(kMaxMillis) + " (a week), got " +
           std::to_string(t.fence_ms);
  if (t.patterns.empty() || t.patterns.size() > kMaxPatterns)
    return "a lease names 1 to " + std::to_string(kMaxPatterns) + " patterns, got " +
           std::to_string(t.patterns.size());
  for (const std::string& p : t.patterns) {
    const size_t star = p.find('*');
    const std::string_view literal =
        star == std::string::npos ? std::string_view(p) : std::string_view(p).substr(0, star);
    if (star != std::string::npos && star + 1 != p.size())
      return "lease pattern '" + p + "' has a '*' before its end; use a name or PREFIX*";
    if (p.empty()) return "a lease pattern is empty; give an object name or PREFIX*";
    if (literal.empty())
      return "lease pattern '" + p + "' matches every object; name a prefix before the '*'";
    if (auto why = proto::check_name(literal); !why.empty())
      return "lease pattern '" + p + "': " + why;
  }
  return {};
}

bool LeaseObject::matches(std::string_view pattern, std::string_view name) {
  if (!pattern.empty() && pattern.back() == '*')
    return name.starts_with(pattern.substr(0, pattern.size() - 1));
  return name == pattern;
}

LeaseObject::LeaseObject(Registry& registry, std::string name)
    : Object(registry, std::move(name)), timer_(registry.no_timer()) {}

LeaseObject::~LeaseObject() {
  unschedule();
  set_fence(false);
}

void LeaseObject::schedule(TimePoint at) {
  unschedule();
  timer_ = registry_.set_timer(at, this, ++generation_);
  has_timer_ = true;
}

void LeaseObject::unschedule() {
  if (has_timer_) registry_.cancel_timer(timer_);
  has_timer_ = false;
  ++generation_;
}

void LeaseObject::set_fence(bool on) {
  if (on == fencing_) return;
  fencing_ = on;
  registry_.fence(this, on);
}

bool LeaseObject::fences(std::string_view name) const {
  if (!fencing_) return false;
  for (const std::string& p : terms_.patterns)
    if (matches(p, name)) return true;
  return false;
}

Status LeaseObject::hold(SessionId session, Terms terms, Found& found, std::string& message) {
  if (holder_ != 0 && holder_ != session && phase_ == Phase::HELD) {
    const std::string who = registry_.session_name(holder_);
    message = msg::object(kTypeName, name_) + " is held by session " + std::to_string(holder_) +
              (who.empty() ? std::string() : " (" + who + ")") +
              "; it is free once that session ends and its grace of " +
              std::to_string(terms_.grace_ms) + " ms passes; use another name";
    return Status::NOT_OWNER;
  }
  switch (phase_) {
    case Phase::HELD:
      found = holder_ == session ? Found::HELD : Found::CREATED;
      break;
    case Phase::ORPHANED:
      found = Found::ORPHANED;
      break;
    case Phase::SWEEPING:
    case Phase::FENCING:
      found = Found::EXPIRED;
      break;
  }
  unschedule();
  set_fence(false);
  doomed_.clear();
  phase_ = Phase::HELD;
  if (holder_ != session) {
    if (holder_ != 0) registry_.unhold(holder_, this);
    holder_ = session;
    registry_.hold(session, this);
  }
  terms_ = std::move(terms);
  if (Journal* j = registry_.journal()) write_hold(*j);
  return Status::OK;
}

void LeaseObject::write_hold(Journal& j) const {
  auto rec = j.record(Rec::L_HOLD);
  rec.str(name_)
      .u32(terms_.grace_ms)
      .u32(terms_.fence_ms)
      .u16(static_cast<uint16_t>(terms_.patterns.size()));
  for (const std::string& p : terms_.patterns) rec.str(p);
}

void LeaseObject::release_session(SessionId s) {
  if (phase_ != Phase::HELD || holder_ != s) return;
  holder_ = 0;
  phase_ = Phase::ORPHANED;
  until_ = deadline_after(registry_.now(), terms_.grace_ms);
  schedule(until_);
}

void LeaseObject::start_sweep() {
  phase_ = Phase::SWEEPING;
  if (Journal* j = registry_.journal()) j->record(Rec::L_EXPIRE).str(name_);
  set_fence(true);  // from now on nothing it matches is made again
  collected_ = false;
  // The deleting starts a millisecond on, on a later pass of the loop: never inside
  // Registry::recovered, which is going through the objects.
  schedule(registry_.now() + kSweepStep);
}

void LeaseObject::collect() {
  // One pass over the objects for every lease that expired about now (a restart, or one
  // client's many leases, expires them together): a scan each would hold the loop for
  // (leases x objects). Leases themselves are never deleted by another lease.
  std::vector<LeaseObject*> group;
  for (Object* o : registry_.fencing_objects()) {
    if (o->type() != kType) continue;
    auto* l = static_cast<LeaseObject*>(o);
    if (l->phase_ == Phase::SWEEPING && !l->collected_) {
      l->doomed_.clear();
      group.push_back(l);
    }
  }
  registry_.for_each([&](const Object& o) {
    if (o.type() == kType) return;
    for (LeaseObject* l : group)
      if (l->fences(o.name())) l->doomed_.push_back(o.name());
  });
  for (LeaseObject* l : group) l->collected_ = true;
}

void LeaseObject::on_timer(uint64_t tag) {
  if (tag != generation_) return;  // a timer replaced since
  has_timer_ = false;
  switch (phase_) {
    case Phase::HELD:
      return;
    case Phase::ORPHANED:
      return start_sweep();
    case Phase::SWEEPING: {
      if (!collected_) collect();
      const size_t n = std::min(doomed_.size(), kSweepChunk);
      for (size_t i = doomed_.size() - n; i < doomed_.size(); ++i) registry_.erase(doomed_[i]);
      doomed_.resize(doomed_.size() - n);
      if (!doomed_.empty()) {
        // The next chunk after the loop has served what waits: a millisecond on, so that
        // this pass of Registry::expire does not reach it.
        schedule(registry_.now() + kSweepStep);
        return;
      }
      doomed_.shrink_to_fit();
      phase_ = Phase::FENCING;
      if (terms_.fence_ms > 0) {
        until_ = deadline_after(registry_.now(), terms_.fence_ms);
        schedule(until_);
        return;
      }
      [[fallthrough]];
    }
    case Phase::FENCING:
      registry_.erase(name_);  // deletes this: nothing may follow
      return;
  }
}

std::string LeaseObject::state() const {
  std::string out;
  const auto left_ms = [&] {
    const auto now = registry_.now();
    return until_ > now
               ? std::chrono::duration_cast<std::chrono::milliseconds>(until_ - now).count()
               : 0;
  };
  switch (phase_) {
    case Phase::HELD: {
      const std::string who = registry_.session_name(holder_);
      out = "held session=" + std::to_string(holder_) + (who.empty() ? "" : " name=" + who);
      break;
    }
    case Phase::ORPHANED:
      out = "orphaned expires_in_ms=" + std::to_string(left_ms());
      break;
    case Phase::SWEEPING:
      out = "expired deleting=" + std::to_string(doomed_.size());
      break;
    case Phase::FENCING:
      out = "expired fence_ms_left=" + std::to_string(left_ms());
      break;
  }
  out += " grace_ms=" + std::to_string(terms_.grace_ms) +
         " fence_ms=" + std::to_string(terms_.fence_ms) + " patterns=";
  for (size_t i = 0; i < terms_.patterns.size(); ++i) out += (i ? "," : "") + terms_.patterns[i];
  return out;
}

void LeaseObject::holds(std::vector<HoldInfo>& out) const {
  if (phase_ == Phase::HELD && holder_ != 0) out.push_back({holder_, 0, 1});
}

// ---------------------------------------------------------------- durability

void LeaseObject::persist(Journal& out) const {
  write_hold(out);
  if (phase_ == Phase::SWEEPING || phase_ == Phase::FENCING) out.record(Rec::L_EXPIRE).str(name_);
}

bool LeaseObject::restore(Rec type, proto::Reader& r, std::string& error) {
  if (type == Rec::L_EXPIRE) {
    if (!r.at_end()) {
      error = "a malformed L_EXPIRE record for lease '" + name_ + "'";
      return false;
    }
    phase_ = Phase::SWEEPING;
    return true;
  }
  Terms t;
  t.grace_ms = r.u32();
  t.fence_ms = r.u32();
  const uint16_t n = r.u16();
  for (uint16_t i = 0; i < n && r.ok(); ++i) t.patterns.emplace_back(r.str());
  if (!r.at_end() || !check(t).empty()) {
    error = "a malformed L_HOLD record for lease '" + name_ + "'";
    return false;
  }
  terms_ = std::move(t);
  phase_ = Phase::ORPHANED;  // no session survives a restart
  holder_ = 0;
  return true;
}

void LeaseObject::recovered() {
  // No session holds anything after a restart: a held lease starts its grace again; one that
  // was expiring finishes deleting (objects made before the crash are found again) and fences.
  if (phase_ == Phase::ORPHANED) {
    until_ = deadline_after(registry_.now(), terms_.grace_ms);
    schedule(until_);
  } else {  // SWEEPING: its L_EXPIRE was read back
    set_fence(true);
    collected_ = false;
    schedule(registry_.now() + kSweepStep);
  }
}

}  // namespace depot
