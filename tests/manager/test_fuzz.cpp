// Bounded fuzzing that every build runs (plain and under ASan + UBSan): random and mutated
// bytes into the frame decoder and the handshake parsers (tests/fuzz/fuzz_inputs.h, which
// the clang-only libFuzzer target shares), and into live sessions of a real manager, which
// must stay up and serve a good client afterwards. Deterministic: the seed is printed on a
// failure; DEPOT_FUZZ_SEED=N repeats a run, DEPOT_FUZZ_SCALE=K runs K times longer.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <random>

#include "depot/client/admin_requests.h"
#include "depot/client/coord_requests.h"
#include "depot/client/queue_requests.h"
#include "fuzz/fuzz_inputs.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::RawConn;
using test::TestManager;

namespace {

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

uint64_t seed() {
  return env_number("DEPOT_FUZZ_SEED", 20261202);
}

uint64_t scale() {
  return std::max<uint64_t>(1, env_number("DEPOT_FUZZ_SCALE", 1));
}

std::string frame(const Request& r, uint64_t id) {
  std::string f;
  test::append_request(f, id, r);
  return f;
}

// Valid frames of every kind a client sends: the seeds the mutations start from.
std::vector<std::string> corpus() {
  std::vector<std::string> c;
  uint64_t id = 1;
  const std::string item(40, 'i');
  for (const Request& r : {req::ping("p"),
                           req::stats(),
                           req::list(),
                           req::heartbeat(),
                           req::remove("q"),
                           req::queue_declare("q", 4),
                           req::queue_put("q", 0, item),
                           req::queue_get("q", 0),
                           req::queue_put_many("q", 0, {item, item}),
                           req::queue_get_many("q", 3, 0),
                           req::queue_size("q"),
                           req::queue_delete("q"),
                           req::queue_configure("r", QueueConfig{}),
                           req::queue_put_ex("r", 0, PutOptions{}, item),
                           req::queue_reserve("r", 2, 0, 1000),
                           req::lock_acquire("l", false, 0, 0, 0),
                           req::lock_release("l", 1),
                           req::sem_acquire("s", 2, 0),
                           req::sem_release("s", 1),
                           req::event_set("e"),
                           req::event_clear("e"),
                           req::event_wait("e", 0),
                           req::barrier_reset("b"),
                           req::var_set("v", "x"),
                           req::var_get("v", 0),
                           req::var_cas("v", 1, "y"),
                           req::var_wait("v", 0, 0),
                           req::var_delete("v"),
                           req::counter_add("c", 3),
                           req::publish("t", "m"),
                           req::subscribe("t*", 4, Overflow::DropOldest),
                           req::unsubscribe(1)})
    c.push_back(frame(r, id++));
  // An AUTH frame's shape (66-byte body) and a HELLO's, for the handshake state.
  std::string auth;
  proto::append_frame(auth, proto::FrameKind::AUTH, 0, 0, std::string(66, 'a'));
  c.push_back(auth);
  std::string hello;
  auth::append_hello(hello, auth::Nonce{});
  c.push_back(hello);
  return c;
}

// A few random edits of a frame: byte flips, a new body_len (small, off by one, huge), a new
// kind or opcode, truncation, inserted garbage, or a splice with another frame.
std::string mutate(std::mt19937_64& rng, const std::vector<std::string>& seeds) {
  std::string f = seeds[rng() % seeds.size()];
  const int edits = static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !f.empty(); ++e) {
    switch (rng() % 7) {
      case 0:  // flip a byte
        f[rng() % f.size()] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1: {  // a new body_len
        if (f.size() < 4) break;
        const uint32_t body = static_cast<uint32_t>(f.size() >= 16 ? f.size() - 16 : 0);
        const uint32_t choices[] = {0,
                                    body + 1,
                                    body - 1,
                                    static_cast<uint32_t>(rng()),
                                    proto::kDefaultMaxFrame,
                                    proto::kDefaultMaxFrame + 1,
                                    1024,
                                    1025};
        proto::store_u32(f.data(), choices[rng() % 8]);
        break;
      }
      case 2:  // a new kind or opcode
        if (f.size() >= 7) f[5 + rng() % 2] = static_cast<char>(rng());
        break;
      case 3:  // truncate
        f.resize(rng() % f.size());
        break;
      case 4: {  // insert garbage
        std::string g(rng() % 32, '\0');
        for (char& ch : g) ch = static_cast<char>(rng());
        f.insert(rng() % (f.size() + 1), g);
        break;
      }
      case 5:  // splice with another frame
        f = f.substr(0, rng() % f.size()) + seeds[rng() % seeds.size()];
        break;
      case 6:  // a body field (a str length) made huge
        if (f.size() >= 20) proto::store_u32(f.data() + 16, static_cast<uint32_t>(rng()));
        break;
    }
  }
  return f;
}

std::string random_bytes(std::mt19937_64& rng, size_t max) {
  std::string s(rng() % max, '\0');
  for (char& ch : s) ch = static_cast<char>(rng());
  return s;
}

}  // namespace

SCENARIO("the frame decoder and the handshake parsers survive random and mutated input", "[fuzz]") {
  const uint64_t s = seed();
  INFO("seed " << s << " (DEPOT_FUZZ_SEED=" << s << " repeats this run)");
  std::mt19937_64 rng(s);
  const auto seeds = corpus();
  const uint64_t runs = 100'000 * scale();
  for (uint64_t i = 0; i < runs; ++i) {
    std::string input;
    const int parts = 1 + static_cast<int>(rng() % 3);  // streams of frames, too
    for (int p = 0; p < parts; ++p)
      input += rng() % 4 == 0 ? random_bytes(rng, 80) : mutate(rng, seeds);
    INFO("input " << i);
    REQUIRE_NOTHROW(fuzz::one_input(reinterpret_cast<const uint8_t*>(input.data()), input.size()));
  }
}

SCENARIO("a manager fed random and mutated frames stays up and serves a good client", "[fuzz]") {
  const uint64_t s = seed();
  INFO("seed " << s << " (DEPOT_FUZZ_SEED=" << s << " repeats this run)");
  std::mt19937_64 rng(s);
  const auto seeds = corpus();
  TestManager m("fuzz-key", [](ManagerOptions& o) {
    o.handshake_timeout = 2s;
    o.max_unauthenticated_per_address = 1000;
    o.auth_failure_burst = 0;  // the fuzzed handshakes fail by the hundred from one address
  });
  auto good_client_served = [&] {
    RawConn good(m.manager->port());
    if (good.handshake("fuzz-key").kind != proto::FrameKind::AUTH_OK) return false;
    auto [st, body] = good.call(req::ping("still up"));
    return st == Status::OK && body == req::ping("still up").body;
  };
  const uint64_t sessions = 1000 * scale();
  for (uint64_t i = 0; i < sessions; ++i) {
    INFO("session " << i);
    RawConn c(m.manager->port());
    // Most sessions authenticate first, so the mutations reach the requests' handlers; the
    // others hit the handshake.
    if (rng() % 4 != 0) REQUIRE(c.handshake("fuzz-key").kind == proto::FrameKind::AUTH_OK);
    std::string stream;
    const int frames = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < frames; ++f)
      stream += rng() % 5 == 0 ? random_bytes(rng, 64) : mutate(rng, seeds);
    c.send(stream);
    if (rng() % 2 == 0) {  // read some of the answers (or the close)
      proto::Header h;
      std::string body;
      c.read(h, body, 5ms);
    }
    if (i % 100 == 99) REQUIRE(good_client_served());
  }
  REQUIRE(good_client_served());
}
