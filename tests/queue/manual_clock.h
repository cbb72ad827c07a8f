// A clock the test moves by hand, installed as a Registry's time source, so that every timed
// behaviour of the queue layer (wait deadlines, visibility deadlines, delays, dedup windows,
// lock leases) runs without real time passing.
#pragma once
#include <chrono>

#include "depot/queue/registry.h"

namespace test {

class ManualClock {
 public:
  // The smallest step the clock can take: "one tick before a deadline" is not yet due.
  static constexpr depot::Clock::duration kTick{1};

  // Declare it after the registry: it installs itself now and uninstalls itself first.
  // It starts an hour past the clock's epoch, so that "an hour earlier" is a valid time too.
  explicit ManualClock(depot::Registry& reg,
                       depot::TimePoint start = depot::TimePoint{} + std::chrono::hours(1))
      : reg_(reg), now_(start) {
    reg_.set_clock([this] { return now_; });
  }
  ~ManualClock() { reg_.set_clock({}); }
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  depot::TimePoint now() const { return now_; }
  // Moves time forward by d, then does what the manager's loop does when its timer fires:
  // Registry::expire(now()). Returns how many waiters timed out and timers fired.
  size_t advance(depot::Clock::duration d) {
    now_ += d;
    return reg_.expire(now_);
  }

 private:
  depot::Registry& reg_;
  depot::TimePoint now_;
};

}  // namespace test
