// The admin endpoint (docs/operations.md): HTTP on its own threads, routes, the credential
// rule off loopback, /healthz, and the bounded wait for the loop thread.
#include <Poco/Base64Encoder.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "admin/http_get.h"
#include "depot/admin/admin_server.h"
#include "support.h"

namespace {

std::string basic(const std::string& user, const std::string& key) {
  std::ostringstream o;
  Poco::Base64Encoder enc(o);
  enc.rdbuf()->setLineLength(0);
  enc << user << ':' << key;
  enc.close();
  return "Basic " + o.str();
}

std::string temp_file(const std::string& text) {
  char tmpl[] = "/tmp/depot-admin-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(tmpl) << text;
  return tmpl;
}

}  // namespace

SCENARIO("the admin endpoint serves /healthz on loopback without a credential") {
  test::TestManager m("test-key",
                      [](depot::ManagerOptions& o) { o.admin_address = "127.0.0.1:0"; });
  REQUIRE(m.manager->admin_port() != 0);
  const auto r = test::http_get("127.0.0.1", m.manager->admin_port(), "/healthz");
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(r.body.find("\"status\":\"ok\"") != std::string::npos);
  CHECK(r.body.find("\"uptime_seconds\":") != std::string::npos);
  CHECK(r.body.find("\"version\":\"") != std::string::npos);
  CHECK(r.body.find("\"store\":\"memory\"") != std::string::npos);
  CHECK(r.body.find("\"store_writable\":true") != std::string::npos);
  THEN("an unknown path is a 404 naming it") {
    const auto nf = test::http_get("127.0.0.1", m.manager->admin_port(), "/no-such-page");
    CHECK(nf.status == 404);
    CHECK(nf.body.find("/no-such-page") != std::string::npos);
  }
}

SCENARIO("a manager without --admin-address serves no admin endpoint") {
  test::TestManager m;
  CHECK(m.manager->admin_port() == 0);
  CHECK(m.manager->admin_address().empty());
}

SCENARIO("off loopback every admin request needs the authkey") {
  // 0.0.0.0 is not loopback: the rule applies whoever connects, 127.0.0.1 included.
  test::TestManager m("a-long-enough-test-key",
                      [](depot::ManagerOptions& o) { o.admin_address = "0.0.0.0:0"; });
  const uint16_t port = m.manager->admin_port();
  REQUIRE(port != 0);
  WHEN("a request has no credential") {
    const auto r = test::http_get("127.0.0.1", port, "/healthz");
    THEN("it gets 401 saying what to send") {
      CHECK(r.status == 401);
      CHECK(r.body.find("Authorization: Bearer <authkey>") != std::string::npos);
      CHECK(r.www_authenticate.rfind("Bearer", 0) == 0);
    }
  }
  WHEN("a request has the wrong key") {
    const auto r =
        test::http_get("127.0.0.1", port, "/healthz", {{"Authorization", "Bearer not-the-key"}});
    CHECK(r.status == 401);
    CHECK(r.body.find("wrong credential") != std::string::npos);
  }
  WHEN("a request has the authkey as a bearer token") {
    const auto r = test::http_get("127.0.0.1", port, "/healthz",
                                  {{"Authorization", "Bearer a-long-enough-test-key"}});
    CHECK(r.status == 200);
    CHECK(r.body.find("\"status\":\"ok\"") != std::string::npos);
  }
  WHEN("a browser sends it as Basic default:<authkey>") {
    const auto r = test::http_get("127.0.0.1", port, "/healthz",
                                  {{"Authorization", basic("default", "a-long-enough-test-key")}});
    CHECK(r.status == 200);
  }
}

SCENARIO("off loopback with an ACL file the admin endpoint needs a user with admin on *") {
  const std::string acl = temp_file(
      "user ops\n  key ops-key-0123456789\n  allow read,write,admin *\n"
      "user worker\n  key worker-key-0123456789\n  allow read,write *\n  allow admin jobs.*\n");
  test::TestManager m("", [&](depot::ManagerOptions& o) {
    o.authkey.clear();
    o.acl_file = acl;
    o.admin_address = "0.0.0.0:0";
  });
  const uint16_t port = m.manager->admin_port();
  CHECK(test::http_get("127.0.0.1", port, "/healthz").status == 401);
  const auto bearer = test::http_get("127.0.0.1", port, "/healthz",
                                     {{"Authorization", "Bearer ops-key-0123456789"}});
  CHECK(bearer.status == 401);
  CHECK(bearer.body.find("Basic base64(user:key)") != std::string::npos);
  CHECK(bearer.www_authenticate.rfind("Basic", 0) == 0);
  CHECK(test::http_get("127.0.0.1", port, "/healthz", {{"Authorization", basic("ops", "wrong")}})
            .status == 401);
  const auto weak = test::http_get("127.0.0.1", port, "/healthz",
                                   {{"Authorization", basic("worker", "worker-key-0123456789")}});
  CHECK(weak.status == 401);
  CHECK(weak.body.find("'allow admin *'") != std::string::npos);
  CHECK(test::http_get("127.0.0.1", port, "/healthz",
                       {{"Authorization", basic("ops", "ops-key-0123456789")}})
            .status == 200);
  std::remove(acl.c_str());
}

SCENARIO("a loop that does not answer gets the client a bounded 503, and the work never runs") {
  // A loop that is stuck: it takes the functions posted to it and runs none until told to.
  std::mutex mu;
  std::deque<std::function<void()>> stuck;
  depot::admin::AdminOptions ao;
  ao.address = "127.0.0.1:0";
  ao.loop_timeout = std::chrono::milliseconds(200);
  depot::admin::AdminServer a(
      ao,
      [&](std::function<void()> fn) {
        std::lock_guard lk(mu);
        stuck.push_back(std::move(fn));
      },
      [](const depot::admin::Credential&) { return std::string(); });
  bool ran = false;
  a.route("/probe", [&](const depot::admin::Request&, const depot::admin::OnLoop& on_loop) {
    on_loop([&] { ran = true; });
    return depot::admin::Response{200, depot::admin::kTextType, "ran\n"};
  });
  a.route("/", [](const depot::admin::Request& r, const depot::admin::OnLoop&) {
    return depot::admin::Response{200, depot::admin::kTextType, "fallback " + r.path};
  });
  a.start();
  const auto r = test::http_get("127.0.0.1", a.port(), "/probe");
  CHECK(r.status == 503);
  CHECK(r.body.find("did not answer within 200 ms") != std::string::npos);
  THEN("the loop catching up later does not run the abandoned request") {
    std::deque<std::function<void()>> late;
    {
      std::lock_guard lk(mu);
      late.swap(stuck);
    }
    REQUIRE(late.size() == 1);
    for (auto& fn : late) fn();
    CHECK_FALSE(ran);
  }
  THEN("routes ending in '/' take every path below them") {
    const auto f = test::http_get("127.0.0.1", a.port(), "/some/page");
    CHECK(f.status == 200);
    CHECK(f.body == "fallback /some/page");
  }
  a.stop();
}

SCENARIO("a browser polling over kept-alive connections does not lock out a scraper") {
  // A dashboard tab keeps connections open and asks again over them; each used to keep one
  // of the endpoint's HTTP threads for as long as it stayed open, so a browser with as many
  // connections in use as there are threads shut out Prometheus and curl.
  test::TestManager m("test-key",
                      [](depot::ManagerOptions& o) { o.admin_address = "127.0.0.1:0"; });
  const uint16_t port = m.manager->admin_port();
  const int tabs = depot::admin::AdminOptions().threads;
  std::atomic<bool> stop{false};
  std::atomic<int> polls{0}, failed{0};
  std::vector<std::thread> browser;
  for (int i = 0; i < tabs; ++i)
    browser.emplace_back([&] {  // one connection, kept alive, asking again and again
      Poco::Net::HTTPClientSession s("127.0.0.1", port);
      s.setKeepAlive(true);
      s.setTimeout(Poco::Timespan(20, 0));
      while (!stop) {
        Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, "/api/queues",
                                   Poco::Net::HTTPMessage::HTTP_1_1);
        req.setKeepAlive(true);
        try {
          s.sendRequest(req);
          Poco::Net::HTTPResponse resp;
          std::string body;
          Poco::StreamCopier::copyToString(s.receiveResponse(resp), body);
          if (resp.getStatus() == Poco::Net::HTTPResponse::HTTP_OK)
            ++polls;
          else
            ++failed;
        } catch (const Poco::Exception&) {
          ++failed;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the page's own pace
      }
    });
  REQUIRE(test::eventually([&] { return polls >= 2 * tabs; }));
  WHEN("a scraper asks for /metrics while the tabs keep polling") {
    std::vector<int> statuses;
    std::string error;
    try {
      for (int i = 0; i < 3; ++i)
        statuses.push_back(test::http_get("127.0.0.1", port, "/metrics").status);
    } catch (const Poco::Exception& e) {
      error = e.displayText();  // a timeout: the tabs held every thread
    }
    const int polled = polls;
    REQUIRE(test::eventually([&] { return polls > polled; }));  // still polling meanwhile
    stop = true;
    for (auto& t : browser) t.join();
    THEN("it is answered each time, and so is every poll") {
      CHECK(error.empty());
      CHECK(statuses == std::vector<int>{200, 200, 200});
      CHECK(failed == 0);
    }
  }
  stop = true;
  for (auto& t : browser)
    if (t.joinable()) t.join();
}
