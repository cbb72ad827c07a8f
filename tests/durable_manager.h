// A depot-manager process with a data directory that a test can SIGKILL and start again on
// the same directory and the same port (clients reconnect to the address they know).
#pragma once
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.h"

namespace test {

// A temporary directory, removed with what it holds.
struct TempDir {
  TempDir() {
    char t[] = "/tmp/depot-durable-XXXXXX";
    if (!::mkdtemp(t)) throw std::runtime_error("mkdtemp failed");
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

// Whether a data directory's lock is free (a killed manager's, and its compaction child's,
// are released once they are gone).
inline bool unlocked(const std::string& dir) {
  const int fd = ::open((dir + "/LOCK").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return true;
  const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

// depot-manager on a free port with --data-dir `dir` and `extra` flags (an environment of
// its own in `env`): ready() once it printed "ready".
struct Daemon {
  explicit Daemon(const std::string& dir, std::vector<std::string> extra = {},
                  std::vector<std::string> env = {}, std::string key = "durability-key")
      : authkey(std::move(key)) {
    if (!eventually([&] { return unlocked(dir); }, std::chrono::seconds(30)))
      throw std::runtime_error("the data directory " + dir + " stays locked");
    std::vector<std::string> argv = {
        bin("depot-manager"), "--address", "127.0.0.1:0", "--authkey", authkey,
        "--log-level",        "warn",      "--data-dir",  dir};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<Process>(argv, env);
    eventually([&] { return proc->out().find("ready\n") != std::string::npos || !proc->running(); },
               std::chrono::seconds(30));
    std::smatch m;
    const std::string out = proc->out();
    if (std::regex_search(out, m, std::regex("listening on (\\S+)"))) address = m[1];
  }
  bool ready() { return proc->out().find("ready\n") != std::string::npos && proc->running(); }
  int stop() {
    proc->kill(SIGTERM);
    return proc->wait(std::chrono::seconds(30));
  }
  int crash() {
    proc->kill(SIGKILL);
    return proc->wait(std::chrono::seconds(30));
  }
  // The start-up line on the state read back.
  std::string storage() {
    std::smatch m;
    const std::string out = proc->out();
    return std::regex_search(out, m, std::regex("data directory [^\n]*")) ? m.str() : "";
  }
  std::string authkey;
  std::unique_ptr<Process> proc;
  std::string address;
};

// depot-manager --data-dir D --fsync always, first on a free port, then (restart()) on the
// one it got.
class DurableManager {
 public:
  explicit DurableManager(std::string key = "durable-key") : authkey(std::move(key)) {
    start("127.0.0.1:0");
    if (address.empty()) throw std::runtime_error("depot-manager did not start: " + proc_->err());
  }
  // SIGKILL: nothing is flushed or closed cleanly. Returns the exit code (128 + 9).
  int kill() {
    proc_->kill(SIGKILL);
    return proc_->wait(std::chrono::seconds(30));
  }
  // Starts a manager again on the same directory and address; true once it is ready.
  bool restart() {
    // The killed manager's lock on the directory is gone once the process is.
    if (!eventually([&] { return test::unlocked(dir.path); }, std::chrono::seconds(30)))
      return false;
    const std::string was = address;
    // The port may still be held for a moment by the kernel: try again until it binds.
    const bool up = eventually(
        [&] {
          start(was);
          return !address.empty();
        },
        std::chrono::seconds(30));
    address = was;
    return up;
  }
  bool running() { return proc_->running(); }
  std::string out() const { return proc_->out(); }
  std::string err() const { return proc_->err(); }

  std::string authkey;
  std::string address;  // 127.0.0.1:PORT
  TempDir dir;

 private:
  void start(const std::string& where) {
    address.clear();
    proc_ = std::make_unique<Process>(std::vector<std::string>{
        bin("depot-manager"), "--address", where, "--authkey", authkey, "--log-level", "warn",
        "--data-dir", dir.path, "--fsync", "always"});
    eventually(
        [&] { return proc_->out().find("ready\n") != std::string::npos || !proc_->running(); },
        std::chrono::seconds(30));
    if (!proc_->running()) return;
    std::smatch m;
    const std::string out = proc_->out();
    if (std::regex_search(out, m, std::regex("listening on (\\S+)"))) address = m[1];
  }
  std::unique_ptr<Process> proc_;
};

}  // namespace test
