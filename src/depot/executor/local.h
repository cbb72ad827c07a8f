// Local mode: the Executor API on one machine with no separate manager. A LocalCluster runs
// an embedded manager on a loopback port and workers on threads of this process (the
// `processes=False` story of dask), so a program can start local and move to a real pool by
// changing how it builds its Executor.
//
//   depot::LocalCluster cluster({.threads = 4});
//   cluster.worker().def("square", [](long x) { return x * x; });
//   auto f = cluster.executor().submit<long>("square", 7);   // 49
#pragma once
#include <memory>
#include <string>

#include "depot/executor/executor.h"

namespace depot {

struct LocalOptions {
  uint32_t threads = 2;  // worker threads
  std::string pool = "local";
  std::string address = "127.0.0.1:0";  // the embedded manager's; port 0 picks a free one
};

class LocalCluster {
 public:
  explicit LocalCluster(LocalOptions options = {});
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // Register functions and actor classes here; workers start with the first executor() call.
  Worker& worker();
  Executor& executor();
  // The embedded manager's address and key, for other clients (depot-cli, more workers).
  const std::string& address() const;
  const std::string& authkey() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace depot
