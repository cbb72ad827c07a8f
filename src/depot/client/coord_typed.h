// Typed coordination handles: Variable<T> and Topic<T> (values go through Codec<T>).
#pragma once
#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "depot/client/codec.h"
#include "depot/client/coord.h"
#include "depot/client/subscription.h"
#include "depot/client/types.h"

namespace depot {

template <class T>
struct Versioned {
  uint64_t version = 0;    // 0: never set
  std::optional<T> value;  // empty when the variable has no value (deleted or never set)
};

// A named value shared by every client, with a version that every change increases (across
// the whole manager, so versions never repeat even after a delete).
//   auto cfg = client.variable<std::string>("config");
//   uint64_t v = cfg.set("a=1");
//   auto next = cfg.wait_for_change(v);          // blocks until someone changes it
//   cfg.compare_and_set(next.version, "a=2");    // optimistic update
template <class T>
class Variable {
 public:
  Variable(Client& client, std::string name) : raw_(client, std::move(name)) {}

  uint64_t set(const T& v) { return raw_.set(Codec<T>::encode(v)); }
  // Blocks until the variable has a value.
  T get() { return *decode(raw_.get(std::nullopt)).value; }
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) {  // TimeoutError
    return *decode(raw_.get(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout))).value;
  }
  std::optional<T> try_get() {
    auto r = raw_.try_get();
    if (!r) return std::nullopt;
    return decode(*r).value;
  }
  // The value with its version, or nullopt when it has none.
  std::optional<Versioned<T>> try_get_versioned() {
    auto r = raw_.try_get();
    if (!r) return std::nullopt;
    return decode(*r);
  }
  // Sets only if the current version is `expected_version` (0: only if it has no value).
  CasResult compare_and_set(uint64_t expected_version, const T& v) {
    return raw_.compare_and_set(expected_version, Codec<T>::encode(v));
  }
  // Blocks until the version is above `after_version`; returns the new state (a value, or
  // none when the change was a delete).
  Versioned<T> wait_for_change(uint64_t after_version) {
    return decode(raw_.wait_for_change(after_version, std::nullopt));
  }
  template <class Rep, class Period>
  Versioned<T> wait_for_change(uint64_t after_version, std::chrono::duration<Rep, Period> timeout) {
    return decode(raw_.wait_for_change(
        after_version, std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)));
  }
  // Removes the value; false when it had none.
  bool erase() { return raw_.erase(); }
  const std::string& name() const { return raw_.name(); }

 private:
  static Versioned<T> decode(const RawVersioned& r) {
    Versioned<T> out;
    out.version = r.version;
    if (r.value) out.value = Codec<T>::decode(*r.value);
    return out;
  }
  RawVariable raw_;
};

template <class T>
struct Message {
  std::string topic;  // the topic it was published to (useful with patterns)
  T value;
  uint64_t dropped = 0;  // messages this subscription lost so far to a full buffer
};

// Messages pushed by the manager for one subscription. next() blocks for the next one; or
// give Topic::subscribe a callback, which then runs on a thread of the subscription's own.
template <class T>
class Subscription {
 public:
  Subscription(Client& client, std::string pattern, SubscribeOptions options)
      : st_(std::make_unique<State>(client, std::move(pattern), options)) {}
  Subscription(Subscription&&) noexcept = default;
  Subscription& operator=(Subscription&&) noexcept = default;
  ~Subscription() {
    if (st_) st_->stop();
  }

  std::optional<Message<T>> next() { return convert(st_->raw.next(std::nullopt)); }
  template <class Rep, class Period>
  std::optional<Message<T>> next(std::chrono::duration<Rep, Period> timeout) {
    return convert(st_->raw.next(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)));
  }
  uint64_t dropped() const { return st_->raw.dropped(); }
  // Stops the messages (and the callback thread, if any).
  void unsubscribe() { st_->stop(); }
  // For the callback form: rethrows what the callback threw (it stops the subscription).
  void rethrow_if_failed() {
    if (st_->error) std::rethrow_exception(st_->error);
  }

  // Used by Topic::subscribe(callback).
  void run(std::function<void(const Message<T>&)> callback) {
    State* st = st_.get();
    st->thread = std::thread([st, cb = std::move(callback)] {
      try {
        while (!st->stopping) {
          auto m = convert(st->raw.next(std::chrono::milliseconds(100)));
          if (m) cb(*m);
        }
      } catch (...) {
        st->error = std::current_exception();
      }
    });
  }

 private:
  struct State {
    State(Client& c, std::string p, SubscribeOptions o) : raw(c, std::move(p), o) {}
    void stop() {
      stopping = true;
      if (thread.joinable() && thread.get_id() != std::this_thread::get_id()) thread.join();
      try {
        raw.unsubscribe();
      } catch (...) {  // the session's end removes it anyway
      }
    }
    RawSubscription raw;
    std::thread thread;
    std::atomic<bool> stopping{false};
    std::exception_ptr error;
  };
  static std::optional<Message<T>> convert(std::optional<RawMessage> m) {
    if (!m) return std::nullopt;
    return Message<T>{std::move(m->topic), Codec<T>::decode(m->payload), m->dropped};
  }
  std::unique_ptr<State> st_;
};

// Publish/subscribe on a named topic. subscribe() also takes glob patterns (`sensors.*`).
// Messages from one publisher reach each subscriber in order; a slow subscriber loses
// messages according to its Overflow policy instead of slowing anyone down.
template <class T>
class Topic {
 public:
  Topic(Client& client, std::string name) : client_(&client), name_(std::move(name)) {}
  // Returns how many subscribers took the message.
  uint32_t publish(const T& v) { return publish_raw(*client_, name_, Codec<T>::encode(v)); }
  Subscription<T> subscribe(SubscribeOptions options = {}) {
    return Subscription<T>(*client_, name_, options);
  }
  Subscription<T> subscribe(std::function<void(const Message<T>&)> callback,
                            SubscribeOptions options = {}) {
    Subscription<T> s(*client_, name_, options);
    s.run(std::move(callback));
    return s;
  }
  const std::string& name() const { return name_; }

 private:
  static uint32_t publish_raw(Client& c, const std::string& topic, const std::string& payload);
  Client* client_;
  std::string name_;
};

uint32_t publish_bytes(Client& c, const std::string& topic, std::string_view payload);

template <class T>
uint32_t Topic<T>::publish_raw(Client& c, const std::string& topic, const std::string& payload) {
  return publish_bytes(c, topic, payload);
}

}  // namespace depot
