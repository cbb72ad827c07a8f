// RemoteQueue<T>: a typed handle on a named queue in the manager (Client::queue<T>).
//
//   auto tasks = client.queue<int>("tasks");
//   tasks.put(42);                                  // blocks while the queue is full
//   int n = tasks.get(std::chrono::seconds(1));     // TimeoutError if nothing came
//   std::optional<int> m = tasks.try_get();         // nullopt when empty, never blocks
//   tasks.put_many({1, 2, 3});                      // one round trip
//   std::vector<int> batch = tasks.get_many(100);   // 1..100 items, blocks until one exists
//
// Timeouts: no argument waits forever; a duration waits that long (rounded up to whole
// milliseconds) and then throws TimeoutError (get) or FullError (put). A get that is waiting
// when the connection drops is sent again after the reconnect; a put is not (it may have
// been applied) and throws ConnectionError instead.
// A handle is cheap to copy and may be used from several threads.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/codec.h"

namespace depot {

class Client;

struct QueueOptions {
  uint64_t maxsize = 0;  // 0 = unbounded
};

struct QueueSize {
  uint64_t size = 0;
  uint64_t maxsize = 0;
  bool exists = false;
};

// The untyped operations: items are byte strings.
class RawQueue {
 public:
  RawQueue(Client& client, std::string name) : client_(&client), name_(std::move(name)) {}

  void declare(const QueueOptions& options);
  void put(std::string_view item, Timeout timeout = std::nullopt);
  bool try_put(std::string_view item);
  std::string get(Timeout timeout = std::nullopt);
  std::optional<std::string> try_get();
  // Returns how many were put (all, unless it throws FullError with accepted()).
  size_t put_many(const std::vector<std::string>& items, Timeout timeout = std::nullopt);
  // 1..max items; waits for the first one as get() does. With a zero timeout returns at once,
  // possibly with none.
  std::vector<std::string> get_many(size_t max, Timeout timeout = std::nullopt);
  QueueSize size();
  // Deletes the queue and its items (returns how many); parked requests get NotFoundError.
  uint64_t destroy();
  const std::string& name() const { return name_; }
  Client& client() const { return *client_; }

 private:
  Client* client_;
  std::string name_;
};

template <class T>
class RemoteQueue {
 public:
  RemoteQueue(Client& client, std::string name) : raw_(client, std::move(name)) {}

  void put(const T& v) { raw_.put(Codec<T>::encode(v)); }
  template <class Rep, class Period>
  void put(const T& v, std::chrono::duration<Rep, Period> timeout) {
    raw_.put(Codec<T>::encode(v), std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
  }
  // False when the queue is full; never blocks.
  bool try_put(const T& v) { return raw_.try_put(Codec<T>::encode(v)); }

  T get() { return Codec<T>::decode(raw_.get()); }
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> timeout) {
    return Codec<T>::decode(
        raw_.get(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)));
  }
  std::optional<T> try_get() {
    auto v = raw_.try_get();
    if (!v) return std::nullopt;
    return Codec<T>::decode(*v);
  }

  size_t put_many(const std::vector<T>& values) { return raw_.put_many(encode_all(values)); }
  template <class Rep, class Period>
  size_t put_many(const std::vector<T>& values, std::chrono::duration<Rep, Period> timeout) {
    return raw_.put_many(encode_all(values),
                         std::chrono::duration_cast<std::chrono::nanoseconds>(timeout));
  }
  std::vector<T> get_many(size_t max) { return decode_all(raw_.get_many(max)); }
  template <class Rep, class Period>
  std::vector<T> get_many(size_t max, std::chrono::duration<Rep, Period> timeout) {
    return decode_all(
        raw_.get_many(max, std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)));
  }
  // Up to max items that are there now; never blocks.
  std::vector<T> try_get_many(size_t max) {
    return decode_all(raw_.get_many(max, std::chrono::nanoseconds(0)));
  }

  size_t qsize() { return raw_.size().size; }
  bool empty() { return qsize() == 0; }
  bool full() {
    auto s = raw_.size();
    return s.maxsize != 0 && s.size >= s.maxsize;
  }
  uint64_t maxsize() { return raw_.size().maxsize; }
  uint64_t destroy() { return raw_.destroy(); }
  const std::string& name() const { return raw_.name(); }
  RawQueue& raw() { return raw_; }

 private:
  static std::vector<std::string> encode_all(const std::vector<T>& values) {
    std::vector<std::string> out;
    out.reserve(values.size());
    for (const T& v : values) out.push_back(Codec<T>::encode(v));
    return out;
  }
  static std::vector<T> decode_all(const std::vector<std::string>& items) {
    std::vector<T> out;
    out.reserve(items.size());
    for (const auto& i : items) out.push_back(Codec<T>::decode(i));
    return out;
  }
  RawQueue raw_;
};

template <class T>
RemoteQueue<T> Client::queue(std::string name) {
  return RemoteQueue<T>(*this, std::move(name));
}

template <class T>
RemoteQueue<T> Client::queue(std::string name, const QueueOptions& options) {
  RemoteQueue<T> q(*this, std::move(name));
  q.raw().declare(options);
  return q;
}

}  // namespace depot
