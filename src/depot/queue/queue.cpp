#include "depot/queue/queue.h"
#include "depot/protocol/messages.h"

#include <algorithm>

namespace depot {

namespace {
constexpr uint64_t kDelayTag = 0;  // reservation ids are tokens, never 0
}

struct Queue::Getter : Waiter {
  uint32_t max = 1;
  bool reserve = false;
  int64_t visibility_ms = -1;
  size_t max_bytes = SIZE_MAX;  // the reply's cap, also when it is served later
  GetDone done;
  ReserveDone rdone;
  void fail(Status s, std::string_view message) override {
    if (reserve)
      rdone(s, {}, message);
    else
      done(s, {}, message);
  }
};

struct Queue::Putter : Waiter {
  uint32_t owner = 0;              // charged for the items once they are let in
  std::vector<std::string> items;  // copies: the request buffer is gone once we park
  size_t next = 0;                 // items[0, next) are already in the queue
  int32_t priority = 0;
  uint64_t delay_ms = 0;
  std::string dedup_id;
  PutDone done;
  void fail(Status s, std::string_view message) override {
    done(s, static_cast<uint32_t>(next), message);
  }
};

Queue::Queue(Registry& registry, std::string name, uint64_t maxsize)
    : Object(registry, std::move(name)),
      maxsize_(maxsize),
      delay_timer_(registry.no_timer()),
      getters_(registry.waiters()),
      putters_(registry.waiters()) {}

Queue::~Queue() {
  if (delay_timer_set_) registry_.cancel_timer(delay_timer_);
  // A reservation read back from a journal has no timer until recovered() gives it back.
  for (auto& [id, r] : reserved_)
    if (r.timer != registry_.no_timer()) registry_.cancel_timer(r.timer);
  for (auto& [s, ids] : by_session_) registry_.unhold(s, this);
  // Its items leave with it: their owners hold them no more.
  auto discharge = [this](Level& l) {
    for (const Entry& e : l.returned)
      registry_.charge(e.owner, -static_cast<int64_t>(e.data.size()));
    l.fresh.for_first(l.fresh.size(), [&](std::string_view v) {
      registry_.charge(l.pop_fresh_owner(), -static_cast<int64_t>(v.size()));
    });
  };
  discharge(level0_);
  for (auto& [p, l] : others_) discharge(l);
  for (const auto& [at, d] : delayed_)
    registry_.charge(d.owner, -static_cast<int64_t>(d.data.size()));
  for (const auto& [id, r] : reserved_)
    registry_.charge(r.owner, -static_cast<int64_t>(r.data.size()));
}

std::string Queue::state() const {
  std::string s = "maxsize=" + std::to_string(maxsize_) + " bytes=" + std::to_string(bytes_) +
                  " getters=" + std::to_string(getters_.size()) +
                  " putters=" + std::to_string(putters_.size());
  if (!reserved_.empty()) s += " reserved=" + std::to_string(reserved_.size());
  if (!delayed_.empty()) s += " delayed=" + std::to_string(delayed_.size());
  if (dead_lettered_) s += " dead_lettered=" + std::to_string(dead_lettered_);
  return s;
}

Status Queue::park_limit(std::string& message) const {
  if (waiter_count() < registry_.limits().max_waiters_per_object) return Status::OK;
  message = what() + " already has " + std::to_string(waiter_count()) +
            " parked requests, its limit; add consumers or raise --max-waiters";
  return Status::LIMIT;
}

// ------------------------------------------------------------ storage by priority

Queue::Level* Queue::head_level(int32_t* priority) {
  if (ready_ == 0) return nullptr;
  auto it = others_.begin();
  if (it != others_.end() && it->first < 0) {
    if (priority) *priority = it->first;
    return &it->second;
  }
  if (!level0_.empty()) {
    if (priority) *priority = 0;
    return &level0_;
  }
  if (priority) *priority = it->first;
  return &it->second;
}

void Queue::push_fresh(int32_t priority, std::string_view item, uint32_t owner) {
  Level& l = level(priority);
  l.fresh.push(item);
  l.push_fresh_owner(owner);
  ++ready_;
  bytes_ += item.size();
  registry_.charge(owner, static_cast<int64_t>(item.size()));
}

template <class F>
size_t Queue::peek(size_t n, F&& f) {
  size_t seen = 0;
  bool go = true;
  auto visit = [&](Level& l) {
    for (auto& e : l.returned) {
      if (seen == n || !(go = f(std::string_view(e.data), e.deliveries))) return;
      ++seen;
    }
    if (seen == n) return;
    l.fresh.for_first(n - seen, [&](std::string_view v) {
      if (go && (go = f(v, 0u))) ++seen;
    });
  };
  auto it = others_.begin();
  for (; it != others_.end() && it->first < 0 && go && seen < n; ++it) visit(it->second);
  if (go && seen < n) visit(level0_);
  for (; it != others_.end() && go && seen < n; ++it) visit(it->second);
  return seen;
}

void Queue::pop_head(size_t n) {
  for (int32_t p; n > 0; --n) {
    Level* l = head_level(&p);
    if (!l->returned.empty()) {
      const Entry& e = l->returned.front();
      bytes_ -= e.data.size();
      registry_.charge(e.owner, -static_cast<int64_t>(e.data.size()));
      l->returned.pop_front();
    } else {
      bytes_ -= l->fresh.front().size();
      registry_.charge(l->pop_fresh_owner(), -static_cast<int64_t>(l->fresh.front().size()));
      l->fresh.pop();
    }
    --ready_;
    if (p != 0 && l->empty()) others_.erase(p);
  }
}

Queue::Entry Queue::take_head(int32_t& priority) {
  Level* l = head_level(&priority);
  Entry e;
  if (!l->returned.empty()) {
    e = std::move(l->returned.front());
    l->returned.pop_front();
  } else {
    e.data = std::string(l->fresh.front());
    e.owner = l->pop_fresh_owner();
    l->fresh.pop();
  }
  --ready_;
  bytes_ -= e.data.size();
  registry_.charge(e.owner, -static_cast<int64_t>(e.data.size()));
  if (priority != 0 && l->empty()) others_.erase(priority);
  return e;
}

// ------------------------------------------------------------ put

bool Queue::duplicate(std::string_view id) {
  const TimePoint now = registry_.now();
  while (!dedup_order_.empty() && dedup_order_.front().first <= now) {
    auto it = dedup_.find(dedup_order_.front().second);
    if (it != dedup_.end() && it->second <= now) dedup_.erase(it);
    dedup_order_.pop_front();
  }
  // The order is by time only while the window stays the same: an id remembered under a
  // shorter window than one before it expires on its own time, not when the front does.
  auto it = dedup_.find(std::string(id));
  return it != dedup_.end() && it->second > now;
}

void Queue::remember(std::string_view id) {
  const TimePoint until = deadline_after(
      registry_.now(),
      static_cast<int64_t>(std::min<uint64_t>(settings_.dedup_window_ms, INT64_MAX)));
  dedup_[std::string(id)] = until;
  dedup_order_.emplace_back(until, std::string(id));
  if (Journal* j = journal())
    j->record(Rec::Q_DEDUP).str(name_).str(id).i64(registry_.to_wall(until));
}

TimePoint Queue::due_after(uint64_t delay_ms) const {
  if (delay_ms == 0) return TimePoint::min();
  return deadline_after(registry_.now(),
                        static_cast<int64_t>(std::min<uint64_t>(delay_ms, INT64_MAX)));
}

void Queue::log_items(int32_t priority, Items items) const {
  Journal* j = journal();
  if (!j || items.empty()) return;
  auto rec = j->record(Rec::Q_ITEMS);
  rec.str(name_).i32(priority).u32(static_cast<uint32_t>(items.size()));
  for (auto item : items) rec.str(item);
}

void Queue::configure(QueueSettings s) {
  settings_ = std::move(s);
  if (Journal* j = journal())
    j->record(Rec::Q_CONFIG)
        .str(name_)
        .u64(settings_.visibility_ms)
        .u32(settings_.max_deliveries)
        .u64(settings_.dedup_window_ms)
        .str(settings_.dead_letter);
}

void Queue::created() {
  journal()->record(Rec::Q_CREATE).str(name_).u64(maxsize_);
}

size_t Queue::feed_getters(Items items, size_t from, int32_t priority, uint32_t owner) {
  while (from < items.size() && !getters_.empty()) {
    auto* g = static_cast<Getter*>(getters_.front());
    auto owned = getters_.take(g);
    if (!registry_.session_alive(g->session)) continue;  // dropped, never served
    if (g->reserve) {
      std::vector<Reserved> out;
      const size_t n = std::min<size_t>(g->max, items.size() - from);
      for (size_t i = 0; i < n; ++i) {
        const uint64_t id = make_reservation(std::string(items[from + i]), priority, 1, g->session,
                                             g->visibility_ms, owner);
        if (Journal* j = journal())
          j->record(Rec::Q_RESERVE_NEW)
              .str(name_)
              .u64(id)
              .i32(priority)
              .u32(1)
              .str(items[from + i]);
        out.push_back({id, 1, items[from + i]});
      }
      totals_.reserves += n;
      g->rdone(Status::OK, out, {});
      from += n;
      continue;
    }
    const size_t n = std::min<size_t>(g->max, items.size() - from);
    totals_.gets += n;
    g->done(Status::OK, items.subspan(from, n), {});
    from += n;
  }
  return from;
}

Status Queue::put(std::string_view item, const Wait& wait, PutDone done) {
  return put_many(Items(&item, 1), wait, std::move(done));
}

Status Queue::put_many(Items items, const Wait& wait, PutDone done, const PutParams& opt) {
  const auto total = static_cast<uint32_t>(items.size());
  const uint32_t owner = registry_.acting_owner;
  if (!opt.dedup_id.empty() && duplicate(opt.dedup_id)) {
    done(Status::OK, 0, {});
    return Status::OK;
  }
  const bool delayed = opt.delay_ms > 0;
  // Putters already parked go first: a new put may not overtake them.
  size_t next = putters_.empty() && !delayed ? feed_getters(items, 0, opt.priority, owner) : 0;
  if (putters_.empty()) {
    const size_t first = next;
    while (next < items.size() && !full()) {
      if (delayed) {
        const TimePoint at = due_after(opt.delay_ms);
        if (Journal* j = journal())
          j->record(Rec::Q_DELAY)
              .str(name_)
              .i32(opt.priority)
              .u32(0)
              .i64(registry_.to_wall(at))
              .str(items[next]);
        requeue(Entry{std::string(items[next++]), 0, owner}, opt.priority, at, false);
      } else {
        push_fresh(opt.priority, items[next++], owner);
      }
    }
    if (!delayed) log_items(opt.priority, items.subspan(first, next - first));
  }
  totals_.puts += next;
  if (next == items.size()) {
    if (!opt.dedup_id.empty()) remember(opt.dedup_id);
    done(Status::OK, total, {});
    return Status::OK;
  }
  std::string message;
  Status s = Status::FULL;
  if (!wait.may_wait) {
    message = what() + " is full (maxsize " + std::to_string(maxsize_) + "); " +
              std::to_string(next) + " of " + std::to_string(total) +
              " items were put; retry later or put with a timeout";
  } else if ((s = park_limit(message)) == Status::OK) {
    auto p = std::make_unique<Putter>();
    p->session = wait.session;
    p->deadline = wait.deadline;
    p->object = this;
    p->owner = owner;
    p->items.assign(items.begin(), items.end());
    p->next = next;
    p->priority = opt.priority;
    p->delay_ms = opt.delay_ms;
    p->dedup_id = std::string(opt.dedup_id);
    p->done = std::move(done);
    putters_.push_back(std::move(p));
    return Status::PARKED;
  }
  done(s, static_cast<uint32_t>(next), message);
  return s;
}

void Queue::drain_putters() {
  while (!putters_.empty() && !full()) {
    auto* p = static_cast<Putter*>(putters_.front());
    const size_t first = p->next;
    while (p->next < p->items.size() && !full()) {
      if (p->delay_ms > 0) {
        const TimePoint at = due_after(p->delay_ms);
        if (Journal* j = journal())
          j->record(Rec::Q_DELAY)
              .str(name_)
              .i32(p->priority)
              .u32(0)
              .i64(registry_.to_wall(at))
              .str(p->items[p->next]);
        requeue(Entry{std::move(p->items[p->next++]), 0, p->owner}, p->priority, at, false);
      } else {
        push_fresh(p->priority, p->items[p->next++], p->owner);
      }
    }
    totals_.puts += p->next - first;
    if (p->delay_ms == 0 && p->next > first) {
      std::vector<std::string_view> let_in(p->items.begin() + static_cast<ptrdiff_t>(first),
                                           p->items.begin() + static_cast<ptrdiff_t>(p->next));
      log_items(p->priority, let_in);
    }
    if (p->next < p->items.size()) return;  // still waiting for room
    auto owned = putters_.take(p);
    if (!p->dedup_id.empty()) remember(p->dedup_id);
    p->done(Status::OK, static_cast<uint32_t>(p->items.size()), {});
  }
}

// ------------------------------------------------------------ get and reserve

Status Queue::park_getter(uint32_t max, bool reserve, int64_t visibility_ms, const Wait& wait,
                          GetDone& done, ReserveDone& rdone, std::string& message,
                          size_t max_bytes) {
  Status s;
  if (!wait.may_wait) {
    s = Status::EMPTY;
    message = msg::is_empty(name_);
  } else if ((s = park_limit(message)) == Status::OK) {
    auto g = std::make_unique<Getter>();
    g->session = wait.session;
    g->deadline = wait.deadline;
    g->object = this;
    g->max = max;
    g->reserve = reserve;
    g->visibility_ms = visibility_ms;
    g->max_bytes = max_bytes;
    g->done = std::move(done);
    g->rdone = std::move(rdone);
    getters_.push_back(std::move(g));
    return Status::PARKED;
  }
  return s;
}

Status Queue::get_many(uint32_t max, const Wait& wait, GetDone done, size_t max_bytes) {
  if (max == 0) max = 1;
  if (ready_ > 0) {
    size_t n = std::min<size_t>(max, ready_);
    if (n == 1) {
      std::string_view one;
      peek(1, [&](std::string_view v, uint32_t) {
        one = v;  // the common case: no allocation
        return true;
      });
      done(Status::OK, Items(&one, 1), {});
    } else {
      std::vector<std::string_view> batch;
      batch.reserve(n);
      size_t bytes = 0;
      // Stop at the first item that does not fit: order is kept.
      peek(n, [&](std::string_view v, uint32_t) {
        bytes += v.size() + 4;
        if (!batch.empty() && bytes > max_bytes) return false;
        batch.push_back(v);
        return true;
      });
      n = batch.size();
      done(Status::OK, batch, {});
    }
    pop_head(n);
    totals_.gets += n;
    if (Journal* j = journal()) j->record(Rec::Q_POP).str(name_).u32(static_cast<uint32_t>(n));
    drain_putters();
    return Status::OK;
  }
  std::string message;
  ReserveDone none;
  const Status s = park_getter(max, false, -1, wait, done, none, message, max_bytes);
  if (s != Status::PARKED) done(s, {}, message);
  return s;
}

Status Queue::reserve(uint32_t max, int64_t visibility_ms, const Wait& wait, ReserveDone done,
                      size_t max_bytes) {
  if (max == 0) max = 1;
  if (ready_ > 0) {
    std::vector<Reserved> out;
    size_t bytes = 0;
    while (ready_ > 0 && out.size() < max) {
      int32_t p = 0;
      size_t next_size = 0;
      peek(1, [&](std::string_view v, uint32_t) {
        next_size = v.size();
        return true;
      });
      bytes += next_size + 16;
      if (!out.empty() && bytes > max_bytes) break;
      Entry e = take_head(p);
      const uint32_t deliveries = e.deliveries + 1;
      if (deliveries > 1) ++totals_.redeliveries;
      const uint64_t id =
          make_reservation(std::move(e.data), p, deliveries, wait.session, visibility_ms, e.owner);
      out.push_back({id, deliveries, {}});
    }
    for (auto& r : out) r.item = reserved_.at(r.id).data;
    totals_.reserves += out.size();
    if (Journal* j = journal()) {
      auto rec = j->record(Rec::Q_RESERVE);
      rec.str(name_).u32(static_cast<uint32_t>(out.size()));
      for (auto& r : out) rec.u64(r.id);
    }
    done(Status::OK, out, {});
    drain_putters();
    return Status::OK;
  }
  std::string message;
  GetDone none;
  const Status s = park_getter(max, true, visibility_ms, wait, none, done, message, max_bytes);
  if (s != Status::PARKED) done(s, {}, message);
  return s;
}

void Queue::serve_getters() {
  while (ready_ > 0 && !getters_.empty()) {
    auto* g = static_cast<Getter*>(getters_.front());
    auto owned = getters_.take(g);
    if (!registry_.session_alive(g->session)) continue;
    if (g->reserve) {
      reserve(g->max, g->visibility_ms, Wait::now_only(g->session), std::move(g->rdone),
              g->max_bytes);
    } else {
      get_many(g->max, Wait::now_only(g->session), std::move(g->done), g->max_bytes);
    }
  }
  drain_putters();
}

uint64_t Queue::make_reservation(std::string data, int32_t priority, uint32_t deliveries,
                                 SessionId session, int64_t visibility_ms, uint32_t owner) {
  const uint64_t id = registry_.next_token();
  const int64_t vis =
      visibility_ms >= 0
          ? visibility_ms
          : static_cast<int64_t>(std::min<uint64_t>(settings_.visibility_ms, INT64_MAX));
  Reservation r;
  bytes_ += data.size();
  registry_.charge(owner, static_cast<int64_t>(data.size()));
  r.owner = owner;
  r.data = std::move(data);
  r.priority = priority;
  r.deliveries = deliveries;
  r.session = session;
  r.timer = registry_.set_timer(deadline_after(registry_.now(), vis), this, id);
  reserved_.emplace(id, std::move(r));
  by_session_[session].insert(id);
  registry_.hold(session, this);
  return id;
}

// ------------------------------------------------------------ ending reservations

uint32_t Queue::ack(std::span<const uint64_t> ids) {
  uint32_t n = 0;
  std::vector<uint64_t> acked;
  for (uint64_t id : ids) {
    auto it = reserved_.find(id);
    if (it == reserved_.end()) continue;
    Reservation& r = it->second;
    if (r.timer != registry_.no_timer()) registry_.cancel_timer(r.timer);
    bytes_ -= r.data.size();
    registry_.charge(r.owner, -static_cast<int64_t>(r.data.size()));
    auto s = by_session_.find(r.session);
    s->second.erase(id);
    if (s->second.empty()) {
      registry_.unhold(r.session, this);
      by_session_.erase(s);
    }
    reserved_.erase(it);
    ++n;
    ++totals_.acks;
    if (journal()) acked.push_back(id);
  }
  if (Journal* j = journal(); j && !acked.empty()) {
    auto rec = j->record(Rec::Q_ACK);
    rec.str(name_).u32(static_cast<uint32_t>(acked.size()));
    for (uint64_t id : acked) rec.u64(id);
  }
  return n;
}

bool Queue::nack(uint64_t id, uint64_t delay_ms, bool& dead) {
  const bool found = give_back(id, delay_ms, dead, false);
  totals_.nacks += found;
  return found;
}

bool Queue::touch(uint64_t id, int64_t visibility_ms) {
  auto it = reserved_.find(id);
  if (it == reserved_.end()) return false;
  const int64_t vis =
      visibility_ms >= 0
          ? visibility_ms
          : static_cast<int64_t>(std::min<uint64_t>(settings_.visibility_ms, INT64_MAX));
  if (it->second.timer != registry_.no_timer()) registry_.cancel_timer(it->second.timer);
  it->second.timer = registry_.set_timer(deadline_after(registry_.now(), vis), this, id);
  return true;
}

bool Queue::give_back(uint64_t id, uint64_t delay_ms, bool& dead, bool timer_fired, bool serve) {
  auto it = reserved_.find(id);
  dead = false;
  if (it == reserved_.end()) return false;
  Reservation r = std::move(it->second);
  reserved_.erase(it);
  // A fired timer has left the registry; a reservation read back from a journal has none.
  if (!timer_fired && r.timer != registry_.no_timer()) registry_.cancel_timer(r.timer);
  bytes_ -= r.data.size();
  registry_.charge(r.owner, -static_cast<int64_t>(r.data.size()));
  if (auto s = by_session_.find(r.session); s != by_session_.end()) {
    s->second.erase(id);
    if (s->second.empty()) {
      registry_.unhold(r.session, this);
      by_session_.erase(s);
    }
  }
  if (settings_.max_deliveries != 0 && r.deliveries >= settings_.max_deliveries) {
    const std::string dlq = settings_.dead_letter.empty() ? name_ + ".dead" : settings_.dead_letter;
    auto q = registry_.open<Queue>(dlq, [&] { return std::make_unique<Queue>(registry_, dlq, 0); });
    if (q.ok() && q.value != this) {
      ++dead_lettered_;
      dead = true;
      if (Journal* j = journal()) j->record(Rec::Q_DEAD).str(name_).u64(id).str(dlq);
      // Still held (in the dead-letter queue): still its owner's.
      q.value->requeue(Entry{std::move(r.data), r.deliveries, r.owner}, 0, TimePoint::min(), false);
      return true;
    }
    // No dead-letter queue to be had (the name is taken by another type, or the object
    // limit): keep the item here rather than lose it.
  }
  const TimePoint at = due_after(delay_ms);
  if (Journal* j = journal())
    j->record(Rec::Q_RETURN)
        .str(name_)
        .u64(id)
        .i64(at == TimePoint::min() ? 0 : registry_.to_wall(at))
        .u8(1);
  requeue(Entry{std::move(r.data), r.deliveries, r.owner}, r.priority, at, true, serve);
  return true;
}

void Queue::requeue(Entry e, int32_t priority, TimePoint at, bool at_head, bool serve) {
  bytes_ += e.data.size();
  registry_.charge(e.owner, static_cast<int64_t>(e.data.size()));
  if (at != TimePoint::min()) {
    delayed_.emplace(at, Delayed{std::move(e.data), priority, e.deliveries, e.owner});
    arm_delay_timer();
    return;
  }
  Level& l = level(priority);
  if (at_head)
    l.returned.push_front(std::move(e));
  else
    l.returned.push_back(std::move(e));
  ++ready_;
  if (serve) serve_getters();
}

void Queue::arm_delay_timer() {
  if (delayed_.empty()) return;
  const TimePoint first = delayed_.begin()->first;
  if (delay_timer_set_) {
    if (delay_timer_->first == first) return;
    registry_.cancel_timer(delay_timer_);
  }
  delay_timer_ = registry_.set_timer(first, this, kDelayTag);
  delay_timer_at_ = first;
  delay_timer_set_ = true;
}

void Queue::ready_first_delayed() {
  Delayed d = std::move(delayed_.begin()->second);
  delayed_.erase(delayed_.begin());
  Level& l = level(d.priority);
  if (d.deliveries == 0) {
    l.fresh.push(d.data);
    l.push_fresh_owner(d.owner);
  } else {
    l.returned.push_back(Entry{std::move(d.data), d.deliveries, d.owner});
  }
  ++ready_;
}

void Queue::release_delayed(TimePoint now) {
  // Due items join their priority in the order their delays ran out: a delayed put behind
  // the items already there, a delayed nack (a retry) ahead of the fresh ones.
  uint32_t released = 0;
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    ready_first_delayed();
    ++released;
  }
  if (released == 0) return;
  if (Journal* j = journal()) j->record(Rec::Q_RELEASE).str(name_).u32(released);
  serve_getters();
}

void Queue::on_timer(uint64_t tag) {
  if (tag == kDelayTag) {
    delay_timer_set_ = false;  // the registry removed it before calling
    // expire() decided this timer is due, possibly for a time ahead of the registry's now():
    // release what was due by the timer's time at least.
    release_delayed(std::max(registry_.now(), delay_timer_at_));
    arm_delay_timer();
    return;
  }
  bool dead;
  give_back(tag, 0, dead, true);  // the visibility deadline passed
}

void Queue::release_session(SessionId s) {
  auto it = by_session_.find(s);
  if (it == by_session_.end()) return;
  std::vector<uint64_t> ids(it->second.begin(), it->second.end());
  // Those at their last delivery go to the tail of the dead-letter queue oldest first; the
  // others newest first, each to the head of its priority: the oldest ends up first, as it was.
  auto last = [&](uint64_t id) {
    return settings_.max_deliveries != 0 && reserved_.at(id).deliveries >= settings_.max_deliveries;
  };
  std::sort(ids.begin(), ids.end(), [&](uint64_t a, uint64_t b) {
    if (last(a) != last(b)) return last(a);
    return last(a) ? a < b : a > b;
  });
  for (uint64_t id : ids) {
    bool dead;
    give_back(id, 0, dead, false, false);
  }
  serve_getters();  // now the oldest is at the head
}

// ------------------------------------------------------------ waiters

void Queue::cancel(Waiter* w, Status s, std::string_view message) {
  const bool getter = dynamic_cast<Getter*>(w) != nullptr;
  auto owned = (getter ? getters_ : putters_).take(w);
  if (s == Status::OK) return;  // session gone: nobody to tell
  if (s == Status::TIMEOUT && message.empty()) {
    if (getter) {
      w->fail(Status::TIMEOUT, msg::stayed_empty(name_));
    } else {
      auto* p = static_cast<Putter*>(w);
      p->done(Status::FULL, static_cast<uint32_t>(p->next),
              what() + " stayed full (maxsize " + std::to_string(maxsize_) +
                  ") until the timeout; " + std::to_string(p->next) + " of " +
                  std::to_string(p->items.size()) + " items were put");
    }
    return;
  }
  w->fail(s, message);
}

void Queue::fail_all(Status s, std::string_view message) {
  getters_.fail_all(s, message);
  putters_.fail_all(s, message);
}

// ------------------------------------------------------------ durability (queue/journal.h)

void Queue::persist(Journal& out) const {
  out.record(Rec::Q_CREATE).str(name_).u64(maxsize_);
  out.record(Rec::Q_CONFIG)
      .str(name_)
      .u64(settings_.visibility_ms)
      .u32(settings_.max_deliveries)
      .u64(settings_.dedup_window_ms)
      .str(settings_.dead_letter);
  // Ready items level by level in the order a get takes them: given-back ones, then fresh
  // ones in runs of up to ~64 KiB a record.
  auto level_records = [&](int32_t priority, const Level& l) {
    for (const Entry& e : l.returned)
      out.record(Rec::Q_RETURNED).str(name_).i32(priority).u32(e.deliveries).str(e.data);
    std::vector<std::string_view> run;
    size_t bytes = 0;
    auto flush = [&] {
      if (run.empty()) return;
      auto rec = out.record(Rec::Q_ITEMS);
      rec.str(name_).i32(priority).u32(static_cast<uint32_t>(run.size()));
      for (auto item : run) rec.str(item);
      run.clear();
      bytes = 0;
    };
    l.fresh.for_first(l.fresh.size(), [&](std::string_view item) {
      run.push_back(item);
      bytes += item.size() + 4;
      if (bytes >= 64 * 1024) flush();
    });
    flush();
  };
  auto it = others_.begin();
  for (; it != others_.end() && it->first < 0; ++it) level_records(it->first, it->second);
  level_records(0, level0_);
  for (; it != others_.end(); ++it) level_records(it->first, it->second);
  for (const auto& [at, d] : delayed_)
    out.record(Rec::Q_DELAY)
        .str(name_)
        .i32(d.priority)
        .u32(d.deliveries)
        .i64(registry_.to_wall(at))
        .str(d.data);
  // Reservations keep their ids: records after this snapshot may ack them.
  std::vector<uint64_t> ids;
  ids.reserve(reserved_.size());
  for (const auto& [id, r] : reserved_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (uint64_t id : ids) {
    const Reservation& r = reserved_.at(id);
    out.record(Rec::Q_RESERVE_NEW).str(name_).u64(id).i32(r.priority).u32(r.deliveries).str(r.data);
  }
  // Dedup ids still within their window (expired ones may linger until a put looks: they
  // mean nothing, and leaving them out keeps the snapshot of a state one and the same).
  const TimePoint now = registry_.now();
  for (const auto& [until, id] : dedup_order_)
    if (auto d = dedup_.find(id); d != dedup_.end() && d->second == until && until > now)
      out.record(Rec::Q_DEDUP).str(name_).str(id).i64(registry_.to_wall(until));
}

void Queue::restore_reservation(uint64_t id, std::string data, int32_t priority,
                                uint32_t deliveries) {
  // Read back without a session (kRestored) or a deadline: recovered() gives it back.
  Reservation r;
  bytes_ += data.size();
  r.data = std::move(data);
  r.priority = priority;
  r.deliveries = deliveries;
  r.session = kRestored;
  r.timer = registry_.no_timer();
  reserved_.emplace(id, std::move(r));
  by_session_[kRestored].insert(id);
}

bool Queue::restore(Rec type, proto::Reader& r, std::string& error) {
  auto fail = [&](const std::string& why) {
    error = what() + ": " + why;
    return false;
  };
  auto ended = [&] { return r.at_end() ? true : fail("a malformed record"); };
  switch (type) {
    case Rec::Q_CONFIG: {
      QueueSettings s;
      s.visibility_ms = r.u64();
      s.max_deliveries = r.u32();
      s.dedup_window_ms = r.u64();
      s.dead_letter = std::string(r.str());
      if (!ended()) return false;
      settings_ = std::move(s);
      return true;
    }
    case Rec::Q_PUSH: {
      const int32_t p = r.i32();
      const std::string_view item = r.str();
      if (!ended()) return false;
      push_fresh(p, item);
      return true;
    }
    case Rec::Q_ITEMS: {
      const int32_t p = r.i32();
      const uint32_t n = r.u32();
      if (n > r.remaining() / 4) return fail("a malformed record");
      for (uint32_t i = 0; i < n; ++i) {
        const std::string_view item = r.str();
        if (!r.ok()) return fail("a malformed record");
        push_fresh(p, item);
      }
      return ended();
    }
    case Rec::Q_RETURNED: {
      const int32_t p = r.i32();
      const uint32_t deliveries = r.u32();
      const std::string_view item = r.str();
      if (!ended()) return false;
      requeue(Entry{std::string(item), deliveries}, p, TimePoint::min(), false, false);
      return true;
    }
    case Rec::Q_POP: {
      const uint32_t n = r.u32();
      if (!ended()) return false;
      if (n > ready_)
        return fail("takes " + std::to_string(n) + " items of " + std::to_string(ready_));
      pop_head(n);
      return true;
    }
    case Rec::Q_RESERVE: {
      const uint32_t n = r.u32();
      if (n > r.remaining() / 8) return fail("a malformed record");
      if (n > ready_)
        return fail("reserves " + std::to_string(n) + " items of " + std::to_string(ready_));
      for (uint32_t i = 0; i < n; ++i) {
        const uint64_t id = r.u64();
        int32_t p = 0;
        Entry e = take_head(p);
        restore_reservation(id, std::move(e.data), p, e.deliveries + 1);
      }
      return ended();
    }
    case Rec::Q_RESERVE_NEW: {
      const uint64_t id = r.u64();
      const int32_t p = r.i32();
      const uint32_t deliveries = r.u32();
      const std::string_view item = r.str();
      if (!ended()) return false;
      if (reserved_.count(id)) return fail("reservation " + std::to_string(id) + " twice");
      restore_reservation(id, std::string(item), p, deliveries);
      return true;
    }
    case Rec::Q_ACK: {
      const uint32_t n = r.u32();
      if (n > r.remaining() / 8) return fail("a malformed record");
      std::vector<uint64_t> ids(n);
      for (auto& id : ids) id = r.u64();
      if (!ended()) return false;
      if (ack(ids) != n) return fail("acks a reservation it does not hold");
      return true;
    }
    case Rec::Q_RETURN: {
      const uint64_t id = r.u64();
      const int64_t until = r.i64();
      const bool at_head = r.u8() != 0;
      if (!ended()) return false;
      auto it = reserved_.find(id);
      if (it == reserved_.end())
        return fail("gives back reservation " + std::to_string(id) + ", which it does not hold");
      Reservation res = std::move(it->second);
      reserved_.erase(it);
      bytes_ -= res.data.size();
      drop_from_session(res.session, id);
      requeue(Entry{std::move(res.data), res.deliveries}, res.priority,
              until == 0 ? TimePoint::min() : registry_.from_wall(until), at_head, false);
      return true;
    }
    case Rec::Q_DEAD: {
      const uint64_t id = r.u64();
      const std::string_view dlq = r.str();
      if (!ended()) return false;
      auto it = reserved_.find(id);
      if (it == reserved_.end())
        return fail("dead-letters reservation " + std::to_string(id) + ", which it does not hold");
      auto q = registry_.find<Queue>(dlq);
      if (!q.ok()) return fail("dead-letters into '" + std::string(dlq) + "': " + q.message);
      Reservation res = std::move(it->second);
      reserved_.erase(it);
      bytes_ -= res.data.size();
      drop_from_session(res.session, id);
      ++dead_lettered_;
      q.value->requeue(Entry{std::move(res.data), res.deliveries}, 0, TimePoint::min(), false,
                       false);
      return true;
    }
    case Rec::Q_DELAY: {
      const int32_t p = r.i32();
      const uint32_t deliveries = r.u32();
      const int64_t until = r.i64();
      const std::string_view item = r.str();
      if (!ended()) return false;
      requeue(Entry{std::string(item), deliveries}, p, registry_.from_wall(until), false, false);
      return true;
    }
    case Rec::Q_RELEASE: {
      const uint32_t n = r.u32();
      if (!ended()) return false;
      if (n > delayed_.size())
        return fail("releases " + std::to_string(n) + " delayed items of " +
                    std::to_string(delayed_.size()));
      for (uint32_t i = 0; i < n; ++i) ready_first_delayed();
      arm_delay_timer();
      return true;
    }
    case Rec::Q_DEDUP: {
      const std::string_view id = r.str();
      const int64_t until = r.i64();
      if (!ended()) return false;
      const TimePoint t = registry_.from_wall(until);
      dedup_[std::string(id)] = t;
      dedup_order_.emplace_back(t, std::string(id));
      return true;
    }
    default:
      return fail("a record of type " + std::to_string(static_cast<unsigned>(type)) +
                  " is not a queue's");
  }
}

void Queue::drop_from_session(SessionId session, uint64_t id) {
  if (auto s = by_session_.find(session); s != by_session_.end()) {
    s->second.erase(id);
    if (s->second.empty()) {
      if (session != kRestored) registry_.unhold(session, this);
      by_session_.erase(s);
    }
  }
}

void Queue::recovered() {
  // What was reserved when the manager stopped goes back as when its session ends, its
  // delivery count kept; delayed items wait for their (wall clock) time.
  release_session(kRestored);
  arm_delay_timer();
}

}  // namespace depot

namespace depot {

void Queue::holds(std::vector<HoldInfo>& out) const {
  for (const auto& [session, ids] : by_session_)
    if (session != kRestored && !ids.empty()) out.push_back({session, 0, ids.size()});
}

void Queue::waits(std::vector<WaitInfo>& out) const {
  for (const Waiter* w : getters_.snapshot())
    out.push_back({w->session, static_cast<const Getter*>(w)->reserve ? "reserve" : "get"});
  for (const Waiter* w : putters_.snapshot()) out.push_back({w->session, "put"});
}

}  // namespace depot
