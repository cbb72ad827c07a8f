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

#include "depot/client/codec.h"
#include "depot/client/queue_requests.h"
#include "depot/client/types.h"

namespace depot {

class Client;

// A reservation of a typed queue: ack(id) when done with the value, or nack(id).
template <class T>
struct Reservation {
  uint64_t id = 0;
  uint32_t deliveries = 0;
  T value{};
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

  // Reliable delivery (docs/queues.md). configure() sets the queue's reservation settings.
  void configure(const QueueConfig& config);
  // Put with a priority, delay or dedup id; false when the dedup id was already seen.
  bool put(std::string_view item, const PutOptions& options, Timeout timeout = std::nullopt);
  // Takes the head item as a reservation, waiting as get() does (TimeoutError). The item
  // comes back to the queue unless ack()ed before `visibility` (default: the queue's) or
  // before this client's session ends.
  RawReservation reserve(Timeout timeout = std::nullopt,
                         std::optional<std::chrono::milliseconds> visibility = std::nullopt);
  std::optional<RawReservation> try_reserve(
      std::optional<std::chrono::milliseconds> visibility = std::nullopt);
  // 1..max reservations in one round trip (none if the timeout is zero and nothing is there).
  std::vector<RawReservation> reserve_many(
      size_t max, Timeout timeout = std::nullopt,
      std::optional<std::chrono::milliseconds> visibility = std::nullopt);
  // True if the reservation was still held (the item is now gone for good).
  bool ack(uint64_t reservation_id);
  size_t ack_many(const std::vector<uint64_t>& reservation_ids);
  NackResult nack(uint64_t reservation_id,
                  std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  // Extends a reservation's deadline (a long task); false if it is no longer held.
  bool touch(uint64_t reservation_id,
             std::optional<std::chrono::milliseconds> visibility = std::nullopt);

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

  // Reliable delivery: see RawQueue.
  bool put(const T& v, const PutOptions& options) { return raw_.put(Codec<T>::encode(v), options); }
  Reservation<T> reserve() { return typed(raw_.reserve()); }
  template <class Rep, class Period>
  Reservation<T> reserve(std::chrono::duration<Rep, Period> timeout,
                         std::optional<std::chrono::milliseconds> visibility = std::nullopt) {
    return typed(
        raw_.reserve(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout), visibility));
  }
  std::optional<Reservation<T>> try_reserve() {
    auto r = raw_.try_reserve();
    if (!r) return std::nullopt;
    return typed(std::move(*r));
  }
  // 1..max reservations in one round trip (none if the timeout is zero and nothing is there).
  template <class Rep, class Period>
  std::vector<Reservation<T>> reserve_many(
      size_t max, std::chrono::duration<Rep, Period> timeout,
      std::optional<std::chrono::milliseconds> visibility = std::nullopt) {
    auto raw = raw_.reserve_many(max, std::chrono::duration_cast<std::chrono::nanoseconds>(timeout),
                                 visibility);
    std::vector<Reservation<T>> out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      try {
        out.push_back(typed(std::move(raw[i])));
      } catch (const CodecError&) {
        for (size_t j = i + 1; j < raw.size(); ++j) raw_.nack(raw[j].id);  // give back the rest
        for (auto& done : out) raw_.nack(done.id);
        throw;
      }
    }
    return out;
  }
  bool ack(uint64_t id) { return raw_.ack(id); }
  size_t ack_many(const std::vector<uint64_t>& ids) { return raw_.ack_many(ids); }
  NackResult nack(uint64_t id, std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
    return raw_.nack(id, delay);
  }
  bool touch(uint64_t id, std::optional<std::chrono::milliseconds> visibility = std::nullopt) {
    return raw_.touch(id, visibility);
  }
  void configure(const QueueConfig& c) { raw_.configure(c); }

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
  // A reservation whose item does not decode as T is given back with a nack (it counts as a
  // delivery, so a poisoned item ends in the dead-letter queue), then CodecError is thrown.
  Reservation<T> typed(RawReservation r) {
    try {
      return Reservation<T>{r.id, r.deliveries, Codec<T>::decode(r.item)};
    } catch (const CodecError&) {
      raw_.nack(r.id);
      throw;
    }
  }
  static std::vector<T> decode_all(const std::vector<std::string>& items) {
    std::vector<T> out;
    out.reserve(items.size());
    for (const auto& i : items) out.push_back(Codec<T>::decode(i));
    return out;
  }
  RawQueue raw_;
};

}  // namespace depot
