// The coordination samples (counter_lock, config_watch, pubsub_fanout, barrier_phases), run
// as programs: what a user copies must keep working and print what its comment promises.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support.h"

using test::bin;
using test::Process;

namespace {

// Every match of `re` in `text`, as its capture groups (index 0 = the whole match).
std::vector<std::vector<std::string>> matches(const std::string& text, const std::string& re) {
  std::vector<std::vector<std::string>> out;
  std::regex r(re);
  for (std::sregex_iterator it(text.begin(), text.end(), r), end; it != end; ++it) {
    std::vector<std::string> groups;
    for (size_t i = 0; i < it->size(); ++i) groups.push_back((*it)[i]);
    out.push_back(std::move(groups));
  }
  return out;
}

// What a process printed, for the failure message.
std::string dump(const std::string& name, const Process& p) {
  return name + " stdout:\n" + p.out() + name + " stderr:\n" + p.err();
}

}  // namespace

// ---------------------------------------------------------------- counter_lock

SCENARIO("counter_lock: 4 workers x 200 locked increments lose nothing", "[samples][coord]") {
  GIVEN("counter_lock with its own manager") {
    Process p({bin("counter_lock"), "--workers", "4", "--increments", "200"});
    const int code = p.wait();
    INFO(dump("counter_lock", p));
    THEN("the variable and the counter both end at exactly 800") {
      REQUIRE(code == 0);
      REQUIRE_THAT(p.out(), Catch::Contains("final count: 800 (expected 800)"));
      REQUIRE_THAT(p.out(), Catch::Contains("counter:     800 (expected 800)"));
    }
    THEN("every worker reports 200 increments with rising fencing tokens") {
      auto workers = matches(p.out(),
                             "worker (\\d+): 200 increments, fencing tokens (\\d+)\\.\\.(\\d+), "
                             "each above the last");
      REQUIRE(workers.size() == 4);
      std::set<std::string> ids;
      for (auto& w : workers) {
        ids.insert(w[1]);
        REQUIRE(std::stoull(w[2]) < std::stoull(w[3]));
      }
      REQUIRE(ids == std::set<std::string>{"1", "2", "3", "4"});
    }
  }
}

SCENARIO("counter_lock runs against a shared manager, and again from a clean start",
         "[samples][coord]") {
  test::TestManager m("shared-key");
  for (int run = 1; run <= 2; ++run) {
    Process p({bin("counter_lock"), "--address", m.address, "--authkey", "shared-key", "--workers",
               "3", "--increments", "50"});
    const int code = p.wait();
    INFO("run " << run << "\n" << dump("counter_lock", p));
    REQUIRE(code == 0);
    REQUIRE_THAT(p.out(), Catch::Contains("final count: 150 (expected 150)"));
    REQUIRE_THAT(p.out(), Catch::Contains("counter:     150 (expected 150)"));
  }
}

SCENARIO("counter_lock explains a wrong authkey", "[samples][coord]") {
  test::TestManager m("right-key");
  Process p({bin("counter_lock"), "--address", m.address, "--authkey", "wrong-key"});
  REQUIRE(p.wait() == 1);
  REQUIRE_THAT(p.err(), Catch::Contains("authentication") && Catch::Contains("failed"));
}

// ---------------------------------------------------------------- config_watch

SCENARIO("config_watch demo: every watcher sees every version, ending with stop",
         "[samples][coord]") {
  Process p({bin("config_watch"), "--watchers", "3", "--values", "a=1,b=2,c=3"});
  const int code = p.wait();
  const std::string out = p.out();
  INFO(dump("config_watch", p));
  REQUIRE(code == 0);
  auto sets = matches(out, "set version (\\d+): (\\S+)\n");
  REQUIRE(sets.size() == 4);
  std::vector<std::string> want;  // "version: value" in the order the setter set them
  for (auto& s : sets) want.push_back(s[1] + ": " + s[2]);
  REQUIRE(want.back().ends_with(": stop"));
  for (int w = 1; w <= 3; ++w) {
    std::vector<std::string> seen;
    for (auto& l : matches(out, "watcher " + std::to_string(w) + ": version (\\d+): (\\S+)\n"))
      seen.push_back(l[1] + ": " + l[2]);
    INFO("watcher " << w);
    REQUIRE(seen == want);
  }
  REQUIRE_THAT(out, Catch::Contains("3 of 3 watchers saw the final version " + sets.back()[1]));
}

SCENARIO("config_watch roles: watcher processes all see the setter's final version",
         "[samples][coord]") {
  test::TestManager m("cfg-key");
  auto cmd = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {bin("config_watch"), "--address", m.address, "--authkey",
                                     "cfg-key"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  Process w1(cmd({"--role", "watcher", "--id", "1"}));
  Process w2(cmd({"--role", "watcher", "--id", "2"}));
  for (Process* w : {&w1, &w2})
    REQUIRE(test::eventually(
        [&] { return w->out().find("watching 'config'") != std::string::npos || !w->running(); }));
  Process setter(cmd({"--role", "setter", "--values", "x=1,x=2,x=3", "--interval-ms", "0"}));
  REQUIRE(setter.wait() == 0);
  auto sets = matches(setter.out(), "set version (\\d+): (\\S+)\n");
  REQUIRE(sets.size() == 4);
  REQUIRE(sets.back()[2] == "stop");
  for (auto [name, w] : {std::pair{"watcher 1", &w1}, std::pair{"watcher 2", &w2}}) {
    const int code = w->wait();
    INFO(dump(name, *w));
    REQUIRE(code == 0);
    // A watcher may skip versions that came in quick succession, never the last one, and
    // what it saw rises and is what the setter set.
    auto seen = matches(w->out(), "version (\\d+): (\\S+)\n");
    REQUIRE_FALSE(seen.empty());
    REQUIRE(seen.back()[1] == sets.back()[1]);
    REQUIRE(seen.back()[2] == "stop");
    std::map<std::string, std::string> set_values;
    for (auto& s : sets) set_values[s[1]] = s[2];
    for (size_t i = 0; i < seen.size(); ++i) {
      REQUIRE(set_values[seen[i][1]] == seen[i][2]);
      if (i > 0) REQUIRE(std::stoull(seen[i - 1][1]) < std::stoull(seen[i][1]));
    }
  }
}

// ---------------------------------------------------------------- pubsub_fanout

SCENARIO("pubsub_fanout: every subscriber gets its messages in order, the slow one drops",
         "[samples][coord]") {
  Process p({bin("pubsub_fanout"), "--subscribers", "3", "--messages", "5"});
  const int code = p.wait();
  const std::string out = p.out();
  INFO(dump("pubsub_fanout", p));
  REQUIRE(code == 0);
  THEN("publish() counts the subscriptions that took each message") {
    // 3 on the topic, the pattern, the slow one
    REQUIRE(test::count_of(out, "publish sensors.temp 'temp ") == 5);
    REQUIRE(matches(out, "publish sensors.temp '[^']+' -> 5 subscribers\n").size() == 6);
    REQUIRE(matches(out, "publish sensors.humidity '[^']+' -> 1 subscriber\n").size() == 5);
    REQUIRE_THAT(out, Catch::Contains("publish alerts 'nobody listens' -> 0 subscribers\n"));
  }
  THEN("the topic's subscribers and the pattern's got everything in publish order") {
    for (int i = 1; i <= 3; ++i)
      REQUIRE_THAT(out, Catch::Contains("temp-" + std::to_string(i) +
                                        ": temp 1, temp 2, temp 3, temp 4, temp 5, end "
                                        "(in order)\n"));
    REQUIRE_THAT(out, Catch::Contains("all-sensors: sensors.temp=temp 1, sensors.humidity=humidity "
                                      "1, sensors.temp=temp 2, sensors.humidity=humidity 2, "
                                      "sensors.temp=temp 3, sensors.humidity=humidity 3, "
                                      "sensors.temp=temp 4, sensors.humidity=humidity 4, "
                                      "sensors.temp=temp 5, sensors.humidity=humidity 5, "
                                      "sensors.temp=end (in order)\n"));
  }
  THEN("the slow subscriber kept the newest messages and counted the rest as dropped") {
    auto slow = matches(out, "slow: ([^;]*); dropped (\\d+)\n");
    REQUIRE(slow.size() == 1);
    const std::string got = slow[0][1];
    REQUIRE(got.ends_with("end"));
    const size_t received = test::count_of(got, ", ") + 1;
    // With a buffer of 2 and nobody reading, at most 2 are kept (more only if a read raced
    // the last pushes); nothing disappears without being counted.
    REQUIRE(received + std::stoul(slow[0][2]) == 6);
    REQUIRE(std::stoul(slow[0][2]) >= 1);
  }
}

// ---------------------------------------------------------------- barrier_phases

SCENARIO("barrier_phases: each phase is reported once, in order, with every party arrived",
         "[samples][coord]") {
  Process p({bin("barrier_phases"), "--parties", "4", "--phases", "5"});
  const int code = p.wait();
  INFO(dump("barrier_phases", p));
  REQUIRE(code == 0);
  auto phases = matches(p.out(), "phase (\\d+) done: (\\d+) of 4 parties arrived\n");
  REQUIRE(phases.size() == 5);
  for (size_t i = 0; i < phases.size(); ++i) {
    REQUIRE(phases[i][1] == std::to_string(i + 1));
    REQUIRE(phases[i][2] == "4");
  }
  REQUIRE_THAT(p.out(), Catch::Contains("all 4 parties finished 5 phases"));
}

SCENARIO("barrier_phases --crash-at: a party killed while waiting breaks the barrier",
         "[samples][coord]") {
  Process p({bin("barrier_phases"), "--parties", "4", "--phases", "3", "--crash-at", "2"});
  const int code = p.wait();
  const std::string out = p.out();
  INFO(dump("barrier_phases", p));
  REQUIRE(code == 0);
  THEN("phase 1 completes, phase 2 never does") {
    REQUIRE(test::count_of(out, "phase 1 done: 4 of 4 parties arrived") == 1);
    REQUIRE(test::count_of(out, "phase 2 done") == 0);
    REQUIRE(test::count_of(out, "phase 3 done") == 0);
  }
  THEN("every surviving party gets BrokenError in phase 2 instead of waiting forever") {
    REQUIRE(matches(out, "party 0: killed party 3 \\(pid \\d+\\) while it waited in phase 2\n")
                .size() == 1);
    for (int party = 0; party < 3; ++party)
      REQUIRE(matches(out, "party " + std::to_string(party) +
                               ": phase 2: barrier 'phases' is broken[^\n]*disconnected")
                  .size() == 1);
    REQUIRE_THAT(out, Catch::Contains("3 of 3 parties saw the barrier break"));
  }
}

SCENARIO("barrier_phases --party: parties in separate processes share one barrier",
         "[samples][coord]") {
  test::TestManager m("barrier-key");
  std::vector<std::unique_ptr<Process>> parties;
  for (int i = 0; i < 3; ++i)
    parties.push_back(std::make_unique<Process>(std::vector<std::string>{
        bin("barrier_phases"), "--address", m.address, "--authkey", "barrier-key", "--party",
        std::to_string(i), "--parties", "3", "--phases", "4"}));
  std::string all;
  for (auto& p : parties) {
    const int code = p->wait();
    INFO(dump("party", *p));
    REQUIRE(code == 0);
    all += p->out();
  }
  for (int phase = 1; phase <= 4; ++phase)
    REQUIRE(test::count_of(all, "phase " + std::to_string(phase) + " done: 3 of 3 parties") == 1);
}
