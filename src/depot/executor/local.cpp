#include "depot/executor/local.h"

#include "depot/auth/auth.h"
#include "depot/manager/manager.h"

namespace depot {

struct LocalCluster::Impl {
  LocalOptions opt;
  std::string authkey;
  std::string address;
  std::unique_ptr<Manager> manager;
  std::unique_ptr<Client> worker_client, client;
  std::unique_ptr<Worker> worker;
  std::unique_ptr<Executor> executor;
};

LocalCluster::LocalCluster(LocalOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  impl_->authkey = auth::random_hex(32);  // as depot-manager --generate-authkey makes one
  ManagerOptions mo;
  mo.address = impl_->opt.address;
  mo.authkey = impl_->authkey;
  impl_->manager = std::make_unique<Manager>(mo);
  impl_->manager->start();
  const auto colon = impl_->opt.address.rfind(':');
  impl_->address =
      impl_->opt.address.substr(0, colon) + ":" + std::to_string(impl_->manager->port());
  impl_->worker_client = std::make_unique<Client>(impl_->address, impl_->authkey);
  WorkerOptions wo;
  wo.threads = impl_->opt.threads;
  impl_->worker = std::make_unique<Worker>(*impl_->worker_client, impl_->opt.pool, wo);
}

LocalCluster::~LocalCluster() {
  impl_->executor.reset();
  if (impl_->worker) impl_->worker->stop();
  impl_->worker.reset();
  impl_->client.reset();
  impl_->worker_client.reset();
  impl_->manager->stop();
}

Worker& LocalCluster::worker() {
  return *impl_->worker;
}

Executor& LocalCluster::executor() {
  if (!impl_->executor) {
    impl_->worker->start();
    impl_->client = std::make_unique<Client>(impl_->address, impl_->authkey);
    impl_->executor = std::make_unique<Executor>(*impl_->client, impl_->opt.pool);
  }
  return *impl_->executor;
}

const std::string& LocalCluster::address() const {
  return impl_->address;
}
const std::string& LocalCluster::authkey() const {
  return impl_->authkey;
}

}  // namespace depot
