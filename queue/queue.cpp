#include "queue/queue.h"

namespace depot {

struct Queue::Getter : Waiter {
  uint32_t max = 1;
  GetDone done;
  void fail(Status s, std::string_view message) override { done(s, {}, message); }
};

struct Queue::Putter : Waiter {
  std::vector<std::string> items;  // copies: the request buffer is gone once we park
  size_t next = 0;                 // items[0, next) are already in the queue
  PutDone done;
  void fail(Status s, std::string_view message) override {
    done(s, static_cast<uint32_t>(next), message);
  }
};

Queue::Queue(Registry& registry, std::string name, uint64_t maxsize)
    : Object(registry, std::move(name)),
      maxsize_(maxsize),
      getters_(registry.waiters()),
      putters_(registry.waiters()) {}

Queue::~Queue() = default;

uint64_t Queue::room() const {
  if (maxsize_ == 0) return UINT64_MAX;
  return items_.size() >= maxsize_ ? 0 : maxsize_ - items_.size();
}

std::string Queue::state() const {
  return "maxsize=" + std::to_string(maxsize_) + " bytes=" + std::to_string(items_.bytes()) +
         " getters=" + std::to_string(getters_.size()) +
         " putters=" + std::to_string(putters_.size());
}

Status Queue::park_limit(std::string& message) const {
  if (waiter_count() < registry_.limits().max_waiters_per_object) return Status::OK;
  message = what() + " already has " + std::to_string(waiter_count()) +
            " parked requests, its limit; add consumers or raise --max-waiters";
  return Status::LIMIT;
}

size_t Queue::feed_getters(Items items, size_t from) {
  while (from < items.size() && !getters_.empty()) {
    auto* g = static_cast<Getter*>(getters_.front());
    auto owned = getters_.take(g);
    if (!registry_.session_alive(g->session)) continue;  // dropped, never served
    const size_t n = std::min<size_t>(g->max, items.size() - from);
    g->done(Status::OK, items.subspan(from, n), {});
    from += n;
  }
  return from;
}

Status Queue::put(std::string_view item, const Wait& wait, PutDone done) {
  return put_many(Items(&item, 1), wait, std::move(done));
}

Status Queue::put_many(Items items, const Wait& wait, PutDone done) {
  const auto total = static_cast<uint32_t>(items.size());
  // Putters already parked go first: a new put may not overtake them.
  size_t next = putters_.empty() ? feed_getters(items, 0) : 0;
  if (putters_.empty()) {
    while (next < items.size() && !full()) items_.push(items[next++]);
  }
  if (next == items.size()) {
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
    p->items.assign(items.begin(), items.end());
    p->next = next;
    p->done = std::move(done);
    putters_.push_back(std::move(p));
    return Status::PARKED;
  }
  done(s, static_cast<uint32_t>(next), message);
  return s;
}

Status Queue::get_many(uint32_t max, const Wait& wait, GetDone done, size_t max_bytes) {
  if (max == 0) max = 1;
  if (!items_.empty()) {
    size_t n = std::min<size_t>(max, items_.size());
    if (n == 1) {
      const std::string_view one = items_.front();  // the common case: no allocation
      done(Status::OK, Items(&one, 1), {});
    } else {
      std::vector<std::string_view> batch;
      batch.reserve(n);
      size_t bytes = 0;
      bool capped = false;  // stop at the first item that does not fit: order is kept
      items_.for_first(n, [&](std::string_view v) {
        bytes += v.size() + 4;
        capped = capped || (!batch.empty() && bytes > max_bytes);
        if (!capped) batch.push_back(v);
      });
      n = batch.size();
      done(Status::OK, batch, {});
    }
    for (size_t i = 0; i < n; ++i) items_.pop();
    drain_putters();
    return Status::OK;
  }
  std::string message;
  Status s;
  if (!wait.may_wait) {
    s = Status::EMPTY;
    message = what() + " is empty";
  } else if ((s = park_limit(message)) == Status::OK) {
    auto g = std::make_unique<Getter>();
    g->session = wait.session;
    g->deadline = wait.deadline;
    g->object = this;
    g->max = max;
    g->done = std::move(done);
    getters_.push_back(std::move(g));
    return Status::PARKED;
  }
  done(s, {}, message);
  return s;
}

void Queue::drain_putters() {
  while (!putters_.empty() && !full()) {
    auto* p = static_cast<Putter*>(putters_.front());
    while (p->next < p->items.size() && !full()) items_.push(p->items[p->next++]);
    if (p->next < p->items.size()) return;  // still waiting for room
    auto owned = putters_.take(p);
    p->done(Status::OK, static_cast<uint32_t>(p->items.size()), {});
  }
}

void Queue::cancel(Waiter* w, Status s, std::string_view message) {
  const bool getter = dynamic_cast<Getter*>(w) != nullptr;
  auto owned = (getter ? getters_ : putters_).take(w);
  if (s == Status::OK) return;  // session gone: nobody to tell
  if (s == Status::TIMEOUT && message.empty()) {
    if (getter) {
      w->fail(Status::TIMEOUT, what() + " stayed empty until the timeout");
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

}  // namespace depot
