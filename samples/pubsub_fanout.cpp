// pubsub_fanout: one publisher, several subscribers. Each subscriber has a client of its own,
// as separate programs would; they show the three ways to read a subscription:
//
//   temp-1..N    subscription on the topic "sensors.temp", read with next() on a thread
//   all-sensors  the glob pattern "sensors.*", read by a callback (runs on its own thread)
//   slow         "sensors.temp" with a buffer of 2 and Overflow::DropOldest, read only after
//                the publisher is done: it keeps the newest two and counts what it lost
//
//   pubsub_fanout [--address HOST:PORT --authkey KEY] [--subscribers 3] [--messages 5]
//
// publish() returns how many subscriptions took the message (0 when nobody listens: messages
// are not stored for later). Messages of one publisher reach each subscriber in publish
// order. It prints what each subscriber received:
//
//   publish sensors.temp 'temp 1' -> 5 subscribers
//   publish sensors.humidity 'humidity 1' -> 1 subscriber
//   ...
//   temp-1: temp 1, temp 2, temp 3, temp 4, temp 5, end (in order)
//   slow: temp 5, end; dropped 4
//
// and exits 0 when every subscriber got what it should. Without --address it runs a manager
// of its own.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "depot/client/client.h"
#include "depot/manager/manager.h"
#include "sample_args.h"

using namespace std::chrono_literals;

namespace {

const char* const kUsage =
    "usage: pubsub_fanout [--address HOST:PORT --authkey KEY] [--subscribers N] [--messages M]\n";
const char* const kEnd = "end";  // the publisher's last message on sensors.temp

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// A subscriber on sensors.temp reading with next(): everything up to "end".
struct TempSubscriber {
  TempSubscriber(const std::string& address, const std::string& authkey)
      : client(address, authkey),
        sub(client.topic<std::string>("sensors.temp").subscribe()) {}  // active from here on
  void run() {
    try {
      for (;;) {
        auto m = sub.next(10s);  // nullopt when nothing came within 10 s
        if (!m) throw depot::TimeoutError(depot::Status::TIMEOUT, "no message within 10 s");
        got.push_back(m->value);
        if (m->value == kEnd) return;
      }
    } catch (const depot::Error& e) {
      error = e.what();
    }
  }
  depot::Client client;  // declared before the subscription, which uses it
  depot::Subscription<std::string> sub;
  std::vector<std::string> got;
  std::string error;
};

}  // namespace

int run(const std::string& address, const std::string& authkey, long n_subscribers,
        long n_messages) {
  // 1. Subscribe everyone before the first publish: a message reaches only the
  //    subscriptions that exist when it is published.
  std::vector<std::unique_ptr<TempSubscriber>> temps;
  for (long i = 0; i < n_subscribers; ++i)
    temps.push_back(std::make_unique<TempSubscriber>(address, authkey));

  depot::Client pattern_client(address, authkey);
  std::mutex mu;
  std::vector<std::string> all_sensors;  // guarded by mu
  std::promise<void> all_sensors_done;
  // The callback runs on the subscription's own thread, one message at a time.
  auto pattern_sub = pattern_client.topic<std::string>("sensors.*")
                         .subscribe([&](const depot::Message<std::string>& m) {
                           std::lock_guard lk(mu);
                           all_sensors.push_back(m.topic + "=" + m.value);
                           if (m.topic == "sensors.temp" && m.value == kEnd)
                             all_sensors_done.set_value();
                         });

  depot::Client slow_client(address, authkey);
  auto slow_sub =
      slow_client.topic<std::string>("sensors.temp")
          .subscribe(depot::SubscribeOptions{.buffer = 2, .overflow = depot::Overflow::DropOldest});

  std::vector<std::jthread> threads;  // joined on the way out, even on an error
  for (auto& t : temps) threads.emplace_back([&t] { t->run(); });

  // 2. Publish readings on two topics, one message nobody listens to, and the end marker.
  depot::Client publisher(address, authkey);
  auto temp = publisher.topic<std::string>("sensors.temp");
  auto humidity = publisher.topic<std::string>("sensors.humidity");
  auto alerts = publisher.topic<std::string>("alerts");
  std::vector<std::string> temp_sent;
  std::vector<std::string> all_sent;
  auto publish = [&](depot::Topic<std::string>& topic, const std::string& value) {
    const uint32_t receivers = topic.publish(value);
    std::printf("publish %s '%s' -> %u subscriber%s\n", topic.name().c_str(), value.c_str(),
                receivers, receivers == 1 ? "" : "s");
    if (topic.name() == "sensors.temp") temp_sent.push_back(value);
    if (topic.name().rfind("sensors.", 0) == 0) all_sent.push_back(topic.name() + "=" + value);
  };
  for (long i = 1; i <= n_messages; ++i) {
    publish(temp, "temp " + std::to_string(i));
    publish(humidity, "humidity " + std::to_string(i));
  }
  publish(alerts, "nobody listens");
  publish(temp, kEnd);

  // 3. Collect and check what each subscriber got.
  bool ok = true;
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < temps.size(); ++i) {
    const bool in_order = temps[i]->got == temp_sent;
    ok = ok && in_order;
    std::printf("temp-%zu: %s (%s)\n", i + 1, join(temps[i]->got).c_str(),
                in_order ? "in order" : ("expected " + join(temp_sent)).c_str());
    if (!temps[i]->error.empty())
      std::fprintf(stderr, "pubsub_fanout: temp-%zu: %s\n", i + 1, temps[i]->error.c_str());
  }

  const bool pattern_done =
      all_sensors_done.get_future().wait_for(10s) == std::future_status::ready;
  pattern_sub.unsubscribe();        // stops its thread
  pattern_sub.rethrow_if_failed();  // what the callback threw, if anything
  {
    std::lock_guard lk(mu);
    const bool in_order = pattern_done && all_sensors == all_sent;
    ok = ok && in_order;
    std::printf("all-sensors: %s (%s)\n", join(all_sensors).c_str(),
                in_order ? "in order" : ("expected " + join(all_sent)).c_str());
  }

  // The slow reader only starts now. Its buffer held 2 messages; DropOldest made room for
  // each newer one, so it finds the newest two ("end" last) and the count of the rest.
  std::vector<std::string> slow_got;
  for (;;) {
    auto m = slow_sub.next(10s);
    if (!m) break;
    slow_got.push_back(m->value);
    if (m->value == kEnd) break;
  }
  const uint64_t dropped = slow_sub.dropped();
  std::printf("slow: %s; dropped %llu\n", join(slow_got).c_str(),
              static_cast<unsigned long long>(dropped));
  // Nothing is lost silently: what it got plus what it dropped is what was published.
  ok = ok && !slow_got.empty() && slow_got.back() == kEnd &&
       slow_got.size() + dropped == temp_sent.size();
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  // Without --address this program runs a manager of its own; then it needs no key.
  auto args = sample::parse(argc, argv, kUsage, {}, /*may_embed=*/true);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // whole lines, even when redirected

  try {
    auto manager = sample::embed_unless_address_given(args);  // none given: run our own
    const std::string address = args.address;
    return run(address, args.authkey, args.num("subscribers", 3), args.num("messages", 5));
  } catch (const std::exception& e) {  // depot::Error, or what a callback threw
    std::fprintf(stderr, "pubsub_fanout: %s\n", e.what());
    return 1;
  }
}
