// How long a GET /metrics holds the manager's loop thread (docs/operations.md): an embedded
// manager with N queues (default 10,000, one item each), scraped K times; each scrape reports
// the time its snapshot took on the loop (depot_metrics_snapshot_seconds), which is all the
// loop pays: the formatting runs on the HTTP thread. Also the whole scrape, client side.
//
//   depot-metrics-scrape [QUEUES [SCRAPES]]
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "depot/client/client.h"
#include "depot/manager/manager.h"

namespace {

std::string get(uint16_t port, const std::string& path) {
  Poco::Net::HTTPClientSession s("127.0.0.1", port);
  Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, path,
                             Poco::Net::HTTPMessage::HTTP_1_1);
  s.sendRequest(req);
  Poco::Net::HTTPResponse resp;
  std::string body;
  Poco::StreamCopier::copyToString(s.receiveResponse(resp), body);
  if (resp.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
    std::fprintf(stderr, "GET %s: %d\n", path.c_str(), static_cast<int>(resp.getStatus()));
    std::exit(1);
  }
  return body;
}

double snapshot_seconds(const std::string& body) {
  const std::string key = "\ndepot_metrics_snapshot_seconds ";
  const size_t at = body.find(key);
  if (at == std::string::npos) {
    std::fprintf(stderr, "no depot_metrics_snapshot_seconds in the scrape\n");
    std::exit(1);
  }
  return std::strtod(body.c_str() + at + key.size(), nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  const int queues = argc > 1 ? std::atoi(argv[1]) : 10'000;
  const int scrapes = argc > 2 ? std::atoi(argv[2]) : 20;
  depot::log::set_level(depot::log::Level::ERROR);
  depot::ManagerOptions o;
  o.address = "127.0.0.1:0";
  o.authkey = "bench-key";
  o.admin_address = "127.0.0.1:0";
  depot::Manager m(o);
  m.start();
  {
    depot::Client c("127.0.0.1:" + std::to_string(m.port()), o.authkey);
    for (int i = 0; i < queues; ++i) c.queue<std::string>("queue." + std::to_string(i)).put("item");
  }
  std::vector<double> loop_ms, total_ms;
  size_t bytes = 0;
  for (int i = 0; i < scrapes; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string body = get(m.admin_port(), "/metrics");
    total_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    loop_ms.push_back(snapshot_seconds(body) * 1e3);
    bytes = body.size();
  }
  std::sort(loop_ms.begin(), loop_ms.end());
  std::sort(total_ms.begin(), total_ms.end());
  auto median = [](const std::vector<double>& v) { return v[v.size() / 2]; };
  std::printf("queues %d, scrapes %d, scrape %zu bytes\n", queues, scrapes, bytes);
  std::printf("loop thread held per scrape: min %.2f ms, median %.2f ms, max %.2f ms\n",
              loop_ms.front(), median(loop_ms), loop_ms.back());
  std::printf("whole scrape (client side):  min %.2f ms, median %.2f ms, max %.2f ms\n",
              total_ms.front(), median(total_ms), total_ms.back());
  m.stop();
  return 0;
}
