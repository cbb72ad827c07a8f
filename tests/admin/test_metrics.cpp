// GET /metrics against traffic from the C++ client, checked by Prometheus's own text parser
// (validate_metrics.py, Debian's python3-prometheus-client): every family has HELP and TYPE,
// and the values are the traffic's.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <thread>

#include "admin/http_get.h"
#include "depot/client/client.h"
#include "depot/client/subscription.h"
#include "support.h"

namespace {

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o + "\"";
}

// A sample expectation: [name, {labels}, value].
std::string sample(const std::string& name,
                   const std::vector<std::pair<std::string, std::string>>& labels, double value) {
  std::string o = "[" + json_str(name) + ",{";
  for (size_t i = 0; i < labels.size(); ++i)
    o += (i ? "," : "") + json_str(labels[i].first) + ":" + json_str(labels[i].second);
  return o + "}," + std::to_string(value) + "]";
}

std::string join(const std::vector<std::string>& v) {
  std::string o;
  for (size_t i = 0; i < v.size(); ++i) o += (i ? "," : "") + v[i];
  return o;
}

struct Validation {
  int status;
  std::string output;
};

// Runs validate_metrics.py on a scrape with the expectations given.
Validation validate(const std::string& scrape, const std::string& types,
                    const std::vector<std::string>& exact,
                    const std::vector<std::string>& at_least) {
  char dir_tmpl[] = "/tmp/depot-metrics-XXXXXX";
  REQUIRE(::mkdtemp(dir_tmpl));
  const std::string dir = dir_tmpl;
  std::ofstream(dir + "/scrape.txt") << scrape;
  std::ofstream(dir + "/expect.json") << "{\"types\":{" << types << "},\"samples\":[" << join(exact)
                                      << "],\"at_least\":[" << join(at_least) << "]}";
  const std::string cmd = std::string(DEPOT_PYTHON3) + " " + DEPOT_METRICS_VALIDATOR + " " + dir +
                          "/scrape.txt " + dir + "/expect.json 2>&1";
  Validation v{};
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) v.output.append(buf, n);
  const int st = ::pclose(p);
  v.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  test::shell("rm -rf '" + dir + "'");
  return v;
}

std::string scrape(uint16_t port) {
  const auto r = test::http_get("127.0.0.1", port, "/metrics");
  REQUIRE(r.status == 200);
  REQUIRE(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  return r.body;
}

}  // namespace

SCENARIO("/metrics reports the traffic in Prometheus's text format") {
  test::TestManager m("test-key",
                      [](depot::ManagerOptions& o) { o.admin_address = "127.0.0.1:0"; });
  const uint16_t port = m.manager->admin_port();
  depot::Client c(m.address, m.authkey);
  auto jobs = c.queue<std::string>("jobs");
  for (int i = 0; i < 5; ++i) jobs.put("job" + std::to_string(i));  // 5 QUEUE_PUT
  CHECK(jobs.get() == "job0");                                      // 2 QUEUE_GET
  CHECK(jobs.get() == "job1");
  auto r1 = jobs.reserve();  // 3 QUEUE_RESERVE in all
  auto r2 = jobs.reserve();
  CHECK(jobs.ack(r1.id));                                  // 1 QUEUE_ACK
  CHECK(jobs.nack(r2.id) == depot::NackResult::Requeued);  // 1 QUEUE_NACK: back at the head
  auto r3 = jobs.reserve();                                // the nacked item again: a redelivery
  CHECK(r3.deliveries == 2);
  // jobs: ready 1 (job4), reserved 1 (job3)
  auto empty = c.queue<std::string>("empty");
  CHECK_FALSE(empty.try_get().has_value());  // QUEUE_GET EMPTY
  // A name the format must escape.
  const std::string odd = "say \"hi\" \\ now";
  c.queue<std::string>(odd).put("x");  // the 6th QUEUE_PUT OK
  auto lock = c.lock("L");
  lock.acquire();
  auto sem = c.semaphore("S", 3);
  sem.acquire();
  auto news = c.topic<std::string>("news");
  {
    depot::RawSubscription sub(c, "news");
    CHECK(news.publish("one") == 1);
    CHECK(news.publish("two") == 1);
    CHECK(sub.next(std::chrono::seconds(10)).has_value());
    CHECK(sub.next(std::chrono::seconds(10)).has_value());
  }
  // A get parked on an idle queue, from a second client.
  depot::Client c2(m.address, m.authkey);
  std::thread parked([&] { CHECK(c2.queue<std::string>("idle").get() == "wake"); });
  REQUIRE(test::eventually([&] {
    return scrape(port).find("depot_queue_waiting_getters{queue=\"idle\"} 1\n") !=
           std::string::npos;
  }));
  const std::string while_parked = scrape(port);

  const std::string types =
      "\"depot_build_info\":\"gauge\",\"depot_uptime_seconds\":\"gauge\","
      "\"depot_connections\":\"counter\",\"depot_sessions\":\"gauge\","
      "\"depot_requests\":\"counter\",\"depot_request_duration_seconds\":\"histogram\","
      "\"depot_received_bytes\":\"counter\",\"depot_sent_bytes\":\"counter\","
      "\"depot_parked_waiters\":\"gauge\",\"depot_queue_ready_items\":\"gauge\","
      "\"depot_queue_reserved_items\":\"gauge\",\"depot_queue_delayed_items\":\"gauge\","
      "\"depot_queue_dead_lettered\":\"counter\",\"depot_queue_puts\":\"counter\","
      "\"depot_queue_gets\":\"counter\",\"depot_queue_acks\":\"counter\","
      "\"depot_queue_nacks\":\"counter\",\"depot_queue_redeliveries\":\"counter\","
      "\"depot_lock_holders\":\"gauge\",\"depot_lock_waiters\":\"gauge\","
      "\"depot_pubsub_published\":\"counter\",\"depot_pubsub_delivered\":\"counter\","
      "\"depot_pubsub_dropped\":\"counter\",\"depot_resident_memory_bytes\":\"gauge\","
      "\"depot_item_bytes\":\"gauge\",\"depot_metrics_snapshot_seconds\":\"gauge\"";
  const auto v1 = validate(
      while_parked, types,
      {sample("depot_parked_waiters", {}, 1),
       sample("depot_queue_waiting_getters", {{"queue", "idle"}}, 1),
       sample("depot_sessions", {{"state", "ready"}}, 2),
       sample("depot_queue_puts_total", {{"queue", "jobs"}}, 5),
       sample("depot_queue_gets_total", {{"queue", "jobs"}}, 2),
       sample("depot_queue_reserves_total", {{"queue", "jobs"}}, 3),
       sample("depot_queue_acks_total", {{"queue", "jobs"}}, 1),
       sample("depot_queue_nacks_total", {{"queue", "jobs"}}, 1),
       sample("depot_queue_redeliveries_total", {{"queue", "jobs"}}, 1),
       sample("depot_queue_ready_items", {{"queue", "jobs"}}, 1),
       sample("depot_queue_reserved_items", {{"queue", "jobs"}}, 1),
       sample("depot_queue_delayed_items", {{"queue", "jobs"}}, 0),
       sample("depot_queue_dead_lettered_total", {{"queue", "jobs"}}, 0),
       sample("depot_queue_bytes", {{"queue", "jobs"}}, 8),
       sample("depot_queue_puts_total", {{"queue", odd}}, 1),
       sample("depot_queue_ready_items", {{"queue", odd}}, 1),
       sample("depot_requests_total", {{"op", "QUEUE_PUT"}, {"status", "OK"}}, 6),
       sample("depot_requests_total", {{"op", "QUEUE_GET"}, {"status", "OK"}}, 2),
       sample("depot_requests_total", {{"op", "QUEUE_GET"}, {"status", "EMPTY"}}, 1),
       sample("depot_requests_total", {{"op", "QUEUE_RESERVE"}, {"status", "OK"}}, 3),
       sample("depot_requests_total", {{"op", "QUEUE_ACK"}, {"status", "OK"}}, 1),
       sample("depot_requests_total", {{"op", "QUEUE_NACK"}, {"status", "OK"}}, 1),
       sample("depot_requests_total", {{"op", "LOCK_ACQUIRE"}, {"status", "OK"}}, 1),
       sample("depot_requests_total", {{"op", "PUBLISH"}, {"status", "OK"}}, 2),
       sample("depot_request_duration_seconds_count", {{"op", "QUEUE_PUT"}}, 6),
       sample("depot_request_duration_seconds_bucket", {{"op", "QUEUE_PUT"}, {"le", "+Inf"}}, 6),
       sample("depot_lock_holders", {{"lock", "L"}}, 1),
       sample("depot_lock_waiters", {{"lock", "L"}}, 0),
       sample("depot_semaphore_holders", {{"semaphore", "S"}}, 1),
       sample("depot_semaphore_limit", {{"semaphore", "S"}}, 3),
       sample("depot_pubsub_published_total", {}, 2),
       sample("depot_pubsub_delivered_total", {}, 2),
       sample("depot_pubsub_dropped_total", {}, 0),
       sample("depot_item_bytes", {}, 9)},
      {sample("depot_connections_total", {}, 2), sample("depot_received_bytes_total", {}, 100),
       sample("depot_sent_bytes_total", {}, 100), sample("depot_resident_memory_bytes", {}, 1),
       sample("depot_uptime_seconds", {}, 0)});
  INFO(v1.output);
  CHECK(v1.status == 0);
  CHECK(while_parked.find("# TYPE depot_queue_puts_total counter\n") != std::string::npos);
  CHECK(while_parked.find("{queue=\"say \\\"hi\\\" \\\\ now\"}") != std::string::npos);

  WHEN("the parked get is served") {
    c.queue<std::string>("idle").put("wake");
    parked.join();
    const auto v2 =
        validate(scrape(port), "",
                 {sample("depot_parked_waiters", {}, 0),
                  sample("depot_requests_total", {{"op", "QUEUE_GET"}, {"status", "OK"}}, 3),
                  sample("depot_request_duration_seconds_count", {{"op", "QUEUE_GET"}}, 4),
                  sample("depot_queue_gets_total", {{"queue", "idle"}}, 1)},
                 {});
    INFO(v2.output);
    CHECK(v2.status == 0);
  }
  if (parked.joinable()) {
    c.queue<std::string>("idle").put("wake");
    parked.join();
  }
}

SCENARIO("/metrics reports the data directory's fsyncs and bytes written") {
  char tmpl[] = "/tmp/depot-metrics-data-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  const std::string dir = tmpl;
  {
    test::TestManager m("test-key", [&](depot::ManagerOptions& o) {
      o.admin_address = "127.0.0.1:0";
      o.data_dir = dir;
    });
    depot::Client c(m.address, m.authkey);
    auto q = c.queue<std::string>("durable");
    for (int i = 0; i < 3; ++i) q.put("item");
    const auto v = validate(scrape(m.manager->admin_port()),
                            "\"depot_store_fsyncs\":\"counter\","
                            "\"depot_store_written_bytes\":\"counter\","
                            "\"depot_store_writable\":\"gauge\"",
                            {sample("depot_store_writable", {}, 1),
                             sample("depot_queue_puts_total", {{"queue", "durable"}}, 3)},
                            {sample("depot_store_fsyncs_total", {}, 1),
                             sample("depot_store_written_bytes_total", {}, 3 * 4)});
    INFO(v.output);
    CHECK(v.status == 0);
    const auto h = test::http_get("127.0.0.1", m.manager->admin_port(), "/healthz");
    CHECK(h.body.find("\"store\":\"data-dir\"") != std::string::npos);
    CHECK(h.body.find("\"store_writable\":true") != std::string::npos);
  }
  test::shell("rm -rf '" + dir + "'");
}
