// TLS between the manager and the client (docs/security.md, docs/protocol.md section 3):
// the handshake, mutual TLS, server-name checks, the HELLO's TLS bit and the errors of a
// mismatch, a stalled TLS handshake, large and pipelined traffic, and certificate rotation
// by SIGHUP and Manager::reload().
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <regex>
#include <thread>

#include "depot/client/client.h"
#include "depot/client/queue_requests.h"
#include "depot/protocol/messages.h"
#include "support.h"

using namespace depot;
using namespace std::chrono_literals;
using test::cert;
using test::TestManager;

namespace {

template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(another exception: ") + e.what() + ")";
  }
  return "(no exception)";
}

// The SHA-256 fingerprint of a PEM certificate file, as Client::tls_info() reports it.
std::string fingerprint(const std::string& pem) {
  FILE* f = std::fopen(pem.c_str(), "r");
  REQUIRE(f);
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  REQUIRE(x);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(X509_digest(x, EVP_sha256(), md, &len));
  X509_free(x);
  std::string s;
  char buf[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    s += buf;
  }
  return s;
}

// A manager serving TLS with `cert_name` (server.crt unless told), tweaked further by `more`.
std::unique_ptr<TestManager> tls_manager(
    const std::string& cert_name = "server",
    std::function<void(ManagerOptions&)> more = [](ManagerOptions&) {}) {
  return std::make_unique<TestManager>("k", [&](ManagerOptions& o) {
    o.tls.cert_file = cert(cert_name + ".crt");
    o.tls.key_file = cert(cert_name + ".key");
    more(o);
  });
}

ClientOptions tls_options(const std::string& client_cert = "") {
  ClientOptions o;
  o.reconnect = false;
  o.quiet = true;
  o.connect_timeout = 5s;
  o.tls.ca_file = cert("ca.crt");
  if (!client_cert.empty()) {
    o.tls.cert_file = cert(client_cert + ".crt");
    o.tls.key_file = cert(client_cert + ".key");
  }
  return o;
}

std::string tls_addr(const TestManager& m, const std::string& host = "127.0.0.1") {
  return "tls://" + host + ":" + std::to_string(m.manager->port());
}

void mutual(ManagerOptions& o, TlsOptions::ClientCerts mode) {
  o.tls.ca_file = cert("ca.crt");
  o.tls.client_certs = mode;
}

}  // namespace

SCENARIO("a client talks to a TLS manager over tls://", "[tls]") {
  auto m = tls_manager();
  GIVEN("a client with the CA, by IP address and by name") {
    for (const std::string host : {"127.0.0.1", "localhost"}) {
      Client c(tls_addr(*m, host), "k", tls_options());
      THEN("requests work and the session is TLS 1.3 with the manager's certificate") {
        auto q = c.queue<std::string>("q");
        q.put("hello");
        CHECK(q.get() == "hello");
        const TlsInfo t = c.tls_info();
        CHECK(t.enabled);
        CHECK(t.version == "TLSv1.3");
        CHECK(t.peer_sha256 == fingerprint(cert("server.crt")));
      }
    }
  }
  GIVEN("ClientOptions::tls.enabled with a plain host:port address") {
    auto o = tls_options();
    o.tls.enabled = true;
    Client c("127.0.0.1:" + std::to_string(m->manager->port()), "k", o);
    THEN("it speaks TLS too") {
      c.ping();
      CHECK(c.tls_info().enabled);
    }
  }
  GIVEN("a plain client") {
    TestManager plain("k");
    Client c(plain.address, "k");
    THEN("tls_info says plain") {
      CHECK_FALSE(c.tls_info().enabled);
    }
  }
}

SCENARIO("mutual TLS: the manager asks for client certificates signed by its CA", "[tls]") {
  GIVEN("a manager that requires them") {
    auto m = tls_manager("server",
                         [](ManagerOptions& o) { mutual(o, TlsOptions::ClientCerts::Require); });
    THEN("client.crt is accepted") {
      Client c(tls_addr(*m), "k", tls_options("client"));
      c.ping();
    }
    THEN("a client without a certificate is refused, told it needs one") {
      const auto msg =
          message_of<ConnectionError>([&] { Client(tls_addr(*m), "k", tls_options()); });
      CHECK_THAT(msg, Catch::Contains("refused the TLS session") &&
                          Catch::Contains("client certificate signed by its CA"));
    }
    THEN("a certificate of another CA is refused") {
      const auto msg = message_of<ConnectionError>(
          [&] { Client(tls_addr(*m), "k", tls_options("other-client")); });
      CHECK_THAT(msg, Catch::Contains("refused the TLS session") && Catch::Contains("unknown ca"));
    }
    THEN("an expired certificate is refused") {
      const auto msg = message_of<ConnectionError>(
          [&] { Client(tls_addr(*m), "k", tls_options("expired-client")); });
      CHECK_THAT(msg, Catch::Contains("refused the TLS session") && Catch::Contains("expired"));
    }
  }
  GIVEN("a manager for which they are optional") {
    auto m = tls_manager("server",
                         [](ManagerOptions& o) { mutual(o, TlsOptions::ClientCerts::Optional); });
    THEN("a client without a certificate is accepted, and one with client.crt too") {
      Client a(tls_addr(*m), "k", tls_options());
      a.ping();
      Client b(tls_addr(*m), "k", tls_options("client"));
      b.ping();
    }
    THEN("a certificate of another CA is still refused") {
      CHECK_THROWS_AS(Client(tls_addr(*m), "k", tls_options("other-client")), ConnectionError);
    }
  }
}

SCENARIO("the client checks the manager's certificate and name", "[tls]") {
  GIVEN("a manager whose certificate is for depot.invalid") {
    auto m = tls_manager("wrong-host");
    THEN("connecting to localhost is refused with the reason") {
      const auto msg = message_of<ConnectionError>(
          [&] { Client(tls_addr(*m, "localhost"), "k", tls_options()); });
      CHECK_THAT(msg, Catch::Contains("hostname mismatch", Catch::CaseSensitive::No) &&
                          Catch::Contains("'localhost'") &&
                          Catch::Contains("TLS handshake failed"));
    }
    THEN("connecting with server_name depot.invalid works") {
      auto o = tls_options();
      o.tls.server_name = "depot.invalid";
      Client c(tls_addr(*m, "localhost"), "k", o);
      c.ping();
    }
    THEN("with verify_server_name = false any certificate of the CA will do") {
      auto o = tls_options();
      o.tls.verify_server_name = false;
      Client c(tls_addr(*m, "localhost"), "k", o);
      c.ping();
    }
  }
  GIVEN("a client that trusts another CA") {
    auto m = tls_manager();
    auto o = tls_options();
    o.tls.ca_file = cert("other-ca.crt");
    THEN("the manager's certificate is refused as of an unknown issuer") {
      const auto msg = message_of<ConnectionError>([&] { Client(tls_addr(*m), "k", o); });
      CHECK_THAT(msg, Catch::Contains("unable to get local issuer certificate") &&
                          Catch::Contains("--tls-ca"));
    }
  }
  GIVEN("a CA file that does not exist") {
    auto m = tls_manager();
    auto o = tls_options();
    o.tls.ca_file = "/nonexistent/ca.crt";
    THEN("the client says which file") {
      CHECK_THAT(message_of<ConnectionError>([&] { Client(tls_addr(*m), "k", o); }),
                 Catch::Contains("/nonexistent/ca.crt"));
    }
  }
}

SCENARIO("a mismatch of TLS and plain TCP is told plainly, never a fallback", "[tls]") {
  GIVEN("a TLS manager and a plain client") {
    auto m = tls_manager();
    const std::string hp = "127.0.0.1:" + std::to_string(m->manager->port());
    THEN("the client throws ConnectionError: the manager requires TLS") {
      ClientOptions o;
      o.reconnect = false;
      const auto msg = message_of<ConnectionError>([&] { Client(hp, "k", o); });
      CHECK(msg == msg::tls_required(hp));
      CHECK_THAT(msg, Catch::Contains("tls://" + hp));
    }
    THEN("its HELLO comes in clear with bit 0 of the code byte set") {
      test::RawConn raw(m->manager->port());
      proto::Header h;
      std::string body;
      REQUIRE(raw.read(h, body));
      CHECK(h.kind == proto::FrameKind::HELLO);
      CHECK(h.code == proto::kHelloTlsFollows);
      auth::HelloFrame hello;
      CHECK(auth::parse_hello(body, hello));
      AND_WHEN("an old client answers with AUTH in clear") {
        auth::ClientHandshake hs("k");
        std::string auth;
        REQUIRE(hs.on_hello(h, body, auth).ok());
        raw.send(auth);
        THEN("it gets a clear BAD_REQUEST saying TLS is required, then the end") {
          REQUIRE(raw.read(h, body));
          CHECK(h.kind == proto::FrameKind::REPLY);
          CHECK(static_cast<Status>(h.code) == Status::BAD_REQUEST);
          CHECK(proto::error_message(body) == msg::tls_required_reply());
          CHECK(raw.closed_by_peer());
        }
      }
    }
  }
  GIVEN("a plain manager and a TLS client") {
    TestManager m("k");
    const std::string hp = "127.0.0.1:" + std::to_string(m.manager->port());
    THEN("the client throws ConnectionError: the manager does not use TLS") {
      const auto msg =
          message_of<ConnectionError>([&] { Client("tls://" + hp, "k", tls_options()); });
      CHECK(msg == msg::tls_not_used(hp));
      CHECK_THAT(msg, Catch::Contains("--tls-cert"));
    }
    THEN("the plain HELLO's code byte is 0") {
      test::RawConn raw(m.manager->port());
      proto::Header h;
      std::string body;
      REQUIRE(raw.read(h, body));
      CHECK(h.code == 0);
    }
  }
}

SCENARIO("a peer that stalls in the TLS handshake is closed at the handshake deadline", "[tls]") {
  auto m = tls_manager("server", [](ManagerOptions& o) { o.handshake_timeout = 300ms; });
  GIVEN("a raw connection that reads the HELLO and sends nothing") {
    test::RawConn raw(m->manager->port());
    proto::Header h;
    std::string body;
    REQUIRE(raw.read(h, body));
    THEN("the manager closes it") {
      CHECK(raw.closed_by_peer(10s));
    }
  }
  GIVEN("a raw connection that sends half a ClientHello") {
    test::RawConn raw(m->manager->port());
    proto::Header h;
    std::string body;
    REQUIRE(raw.read(h, body));
    // A TLS handshake record header announcing 512 bytes, and the first few of them.
    raw.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
    THEN("the manager closes it") {
      CHECK(raw.closed_by_peer(10s));
    }
  }
  GIVEN("a raw connection that sends garbage that looks like a TLS record") {
    test::RawConn raw(m->manager->port());
    proto::Header h;
    std::string body;
    REQUIRE(raw.read(h, body));
    raw.send(std::string("\x16\x03\x01\x00\x05hello", 10));
    THEN("the manager closes it") {
      CHECK(raw.closed_by_peer(10s));
    }
  }
}

SCENARIO("large values and pipelined bursts travel over TLS", "[tls]") {
  auto m = tls_manager();
  Client c(tls_addr(*m), "k", tls_options());
  GIVEN("values of several MiB") {
    auto q = c.queue<std::string>("big");
    std::vector<std::string> values;
    for (int i = 0; i < 4; ++i) {
      std::string v(static_cast<size_t>(3 + i) << 20, '\0');
      for (size_t j = 0; j < v.size(); ++j) v[j] = static_cast<char>((j * 31 + i) & 0xff);
      values.push_back(std::move(v));
    }
    for (auto& v : values) q.put(v);
    THEN("each comes back whole and in order") {
      for (auto& v : values) CHECK(q.get() == v);
    }
  }
  GIVEN("thousands of pipelined requests from several threads at once") {
    constexpr int kThreads = 4, kEach = 2000;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        try {
          auto q = c.queue<int>("burst" + std::to_string(t));
          std::vector<int> batch;
          for (int i = 0; i < kEach; ++i) batch.push_back(i);
          q.put_many(batch);
          for (int i = 0; i < kEach; ++i)
            if (q.get() != i) ++failures;
        } catch (const std::exception&) {
          ++failures;
        }
      });
    for (auto& th : threads) th.join();
    THEN("every item arrived in order") {
      CHECK(failures == 0);
    }
  }
  GIVEN("a large value read by a second client while the first keeps sending") {
    Client d(tls_addr(*m), "k", tls_options());
    auto out = c.queue<std::string>("pipe");
    auto in = d.queue<std::string>("pipe");
    const std::string v(8 << 20, 'x');
    std::thread producer([&] {
      for (int i = 0; i < 5; ++i) out.put(v);
    });
    int ok = 0;
    for (int i = 0; i < 5; ++i) ok += in.get(30s) == v;
    producer.join();
    THEN("all arrive") {
      CHECK(ok == 5);
    }
  }
}

namespace {

// A TLS connection below the client library, for bytes the client never sends that way: the
// clear HELLO, the TLS handshake and the AUTH on a blocking socket, then requests sealed into
// records of sizes the test picks and sent in TCP pieces that cut records anywhere.
class RawTlsConn {
 public:
  RawTlsConn(uint16_t port, const std::string& key) : conn_(port) {
    proto::Header h;
    std::string body;
    REQUIRE(conn_.read(h, body));
    REQUIRE(h.kind == proto::FrameKind::HELLO);
    auth::ClientHandshake hs(key);
    std::string auth_frame;
    REQUIRE(hs.on_hello(h, body, auth_frame).ok());
    ctx_ = SSL_CTX_new(TLS_client_method());
    REQUIRE(ctx_);
    ssl_ = SSL_new(ctx_);
    REQUIRE(ssl_);
    REQUIRE(SSL_set_fd(ssl_, conn_.fd()) == 1);
    REQUIRE(SSL_connect(ssl_) == 1);
    REQUIRE(SSL_write(ssl_, auth_frame.data(), static_cast<int>(auth_frame.size())) ==
            static_cast<int>(auth_frame.size()));
    REQUIRE(read(h, body));
    REQUIRE(h.kind == proto::FrameKind::AUTH_OK);
    // From now on records are sealed into memory and the test sends the bytes itself.
    BIO* mem = BIO_new(BIO_s_mem());
    REQUIRE(mem);
    SSL_set0_wbio(ssl_, mem);
  }
  ~RawTlsConn() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  RawTlsConn(const RawTlsConn&) = delete;
  RawTlsConn& operator=(const RawTlsConn&) = delete;

  // `bytes` as TLS records of the sizes in `records` (cycled), then the whole TLS stream
  // in send(2) calls of the sizes in `pieces` (cycled).
  void send(std::string_view bytes, const std::vector<size_t>& records,
            const std::vector<size_t>& pieces) {
    for (size_t off = 0, i = 0; off < bytes.size(); ++i) {
      const size_t n = std::min(records[i % records.size()], bytes.size() - off);
      REQUIRE(SSL_write(ssl_, bytes.data() + off, static_cast<int>(n)) == static_cast<int>(n));
      off += n;
    }
    char* data = nullptr;
    const long len = BIO_get_mem_data(SSL_get_wbio(ssl_), &data);
    REQUIRE(len > 0);
    const std::string_view stream(data, static_cast<size_t>(len));
    for (size_t off = 0, i = 0; off < stream.size(); ++i) {
      const size_t n = std::min(pieces[i % pieces.size()], stream.size() - off);
      conn_.send(stream.substr(off, n));
      off += n;
    }
    REQUIRE(BIO_reset(SSL_get_wbio(ssl_)) == 1);
  }
  // The next frame (false at the end of the stream or on a bad frame).
  bool read(proto::Header& h, std::string& body) {
    for (;;) {
      auto d = proto::decode(buf_.data(), buf_.size(), UINT32_MAX);
      if (d.status == proto::DecodeStatus::OK) {
        h = d.header;
        body.assign(d.body);
        buf_.erase(0, proto::kHeaderSize + d.header.body_len);
        return true;
      }
      if (d.status != proto::DecodeStatus::NEED_MORE) return false;
      char tmp[65536];
      const int n = SSL_read(ssl_, tmp, sizeof tmp);
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

 private:
  test::RawConn conn_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

}  // namespace

SCENARIO("pipelined requests cut across TLS records and TCP segments arrive whole", "[tls]") {
  auto m = tls_manager();
  RawTlsConn c(m->manager->port(), "k");
  GIVEN("one burst of puts and gets, some items larger than a TLS record") {
    constexpr int kItems = 1500;
    std::vector<std::string> items;
    std::string burst;
    for (int i = 0; i < kItems; ++i) {
      const size_t size = i % 50 == 0 ? 40000 + i : (i * 37) % 1000;
      std::string item(size, '\0');
      for (size_t j = 0; j < size; ++j) item[j] = static_cast<char>((i * 7 + j) & 0xff);
      test::append_request(burst, 2 * i, req::queue_put("split", proto::kNoWait, item));
      items.push_back(std::move(item));
    }
    for (int i = 0; i < kItems; ++i)
      test::append_request(burst, 2 * i + 1, req::queue_get("split", proto::kNoWait));
    WHEN("it goes as records of odd sizes, sent in pieces that end inside records") {
      c.send(burst, {1, 7, 300, 16384, 4096, 13, 777, 9000},
             {3, 5000, 1, 17000, 64, 40000, 2, 700, 65536});
      THEN("every put is acknowledged and every get returns its item, in order") {
        int puts_ok = 0, gets_ok = 0;
        proto::Header h;
        std::string body;
        for (int k = 0; k < 2 * kItems; ++k) {
          REQUIRE(c.read(h, body));
          REQUIRE(h.kind == proto::FrameKind::REPLY);
          REQUIRE(static_cast<Status>(h.code) == Status::OK);
          if (k < kItems) {  // put k (id 2k)
            puts_ok += h.id == 2u * k;
          } else {  // get i (id 2i + 1)
            const int i = k - kItems;
            gets_ok += h.id == 2u * i + 1 && req::parse_queue_get(body) == items[i];
          }
        }
        CHECK(puts_ok == kItems);
        CHECK(gets_ok == kItems);
      }
    }
  }
}

SCENARIO("depot-benchmark speaks TLS, pipelined and with values larger than a record",
         "[tls][bench]") {
  auto m = tls_manager();
  const std::string port = std::to_string(m->manager->port());
  // -c, -P, -d, -n: bursts of whole records, replies cut across records, one at a time.
  const std::vector<std::vector<std::string>> configs = {
      {"4", "16", "16", "4000"}, {"2", "4", "40000", "300"}, {"1", "1", "16", "1000"}};
  for (const auto& cfg : configs) {
    INFO("-c " << cfg[0] << " -P " << cfg[1] << " -d " << cfg[2] << " -n " << cfg[3]);
    std::vector<std::string> argv = {test::bin("depot-benchmark"), "--cacert", cert("ca.crt")};
    for (const char* a : {"--tls", "-h", "127.0.0.1", "-a", "k", "-t", "put,get", "--csv"})
      argv.emplace_back(a);
    argv.insert(argv.end(), {"-p", port});
    const char* flags[] = {"-c", "-P", "-d", "-n"};  // cfg's order
    for (size_t i = 0; i < cfg.size(); ++i) argv.insert(argv.end(), {flags[i], cfg[i]});
    test::Process b(argv);
    REQUIRE(b.wait() == 0);
    // Every reply is checked by the benchmark (its id, its status); none may be missing.
    CHECK(test::count_of(b.out(), "\"PUT\"") == 1);
    CHECK(test::count_of(b.out(), "\"GET\"") == 1);
    CHECK(b.err() == "");
  }
}

SCENARIO("Manager::reload() swaps the certificate for new connections only", "[tls]") {
  const std::string dir = test::cert_dir() + "/reload-embedded";
  REQUIRE(test::shell("mkdir -p " + dir + " && cp " + cert("server.crt") + " " + dir +
                      "/live.crt && cp " + cert("server.key") + " " + dir + "/live.key") == 0);
  TestManager m("k", [&](ManagerOptions& o) {
    o.tls.cert_file = dir + "/live.crt";
    o.tls.key_file = dir + "/live.key";
  });
  Client old(m.address, "k", tls_options());
  REQUIRE(old.tls_info().peer_sha256 == fingerprint(cert("server.crt")));
  WHEN("the files are replaced by server2's and reload() is called") {
    REQUIRE(test::shell("cp " + cert("server2.crt") + " " + dir + "/live.crt && cp " +
                        cert("server2.key") + " " + dir + "/live.key") == 0);
    const std::string line = m.manager->reload();
    THEN("a new connection sees server2's certificate; the old session goes on with its own") {
      CHECK_THAT(line, Catch::Contains("live.crt"));
      Client fresh(m.address, "k", tls_options());
      CHECK(fresh.tls_info().peer_sha256 == fingerprint(cert("server2.crt")));
      old.ping();
      CHECK(old.tls_info().peer_sha256 == fingerprint(cert("server.crt")));
    }
  }
  WHEN("the certificate file is bad") {
    REQUIRE(test::shell("echo garbage > " + dir + "/live.crt") == 0);
    THEN("reload() throws naming the file, and new connections get the old certificate") {
      CHECK_THAT(message_of<std::runtime_error>([&] { m.manager->reload(); }),
                 Catch::Contains("live.crt"));
      Client fresh(m.address, "k", tls_options());
      CHECK(fresh.tls_info().peer_sha256 == fingerprint(cert("server.crt")));
    }
  }
}

SCENARIO("depot-manager reloads its certificate on SIGHUP", "[tls]") {
  const std::string dir = test::cert_dir() + "/reload-daemon";
  REQUIRE(test::shell("mkdir -p " + dir + " && cp " + cert("server.crt") + " " + dir +
                      "/live.crt && cp " + cert("server.key") + " " + dir + "/live.key") == 0);
  test::Process mgr({test::bin("depot-manager"), "--address", "127.0.0.1:0", "--authkey", "k",
                     "--tls-cert", dir + "/live.crt", "--tls-key", dir + "/live.key"});
  std::string address;
  REQUIRE(test::eventually([&] {
    std::smatch sm;
    const std::string out = mgr.out();
    if (out.find("ready") != std::string::npos &&
        std::regex_search(out, sm, std::regex("listening on (\\S+)")))
      address = sm[1];
    return !address.empty() || !mgr.running();
  }));
  REQUIRE(address.rfind("tls://", 0) == 0);
  Client old(address, "k", tls_options());
  REQUIRE(old.tls_info().peer_sha256 == fingerprint(cert("server.crt")));

  WHEN("the files are swapped for server2's and the manager gets SIGHUP") {
    REQUIRE(test::shell("cp " + cert("server2.crt") + " " + dir + "/live.crt.new && cp " +
                        cert("server2.key") + " " + dir + "/live.key.new && mv " + dir +
                        "/live.key.new " + dir + "/live.key && mv " + dir + "/live.crt.new " + dir +
                        "/live.crt") == 0);
    mgr.kill(SIGHUP);
    THEN("new connections see server2's certificate, and the old session still works") {
      const std::string fp2 = fingerprint(cert("server2.crt"));
      CHECK(test::eventually([&] {
        Client fresh(address, "k", tls_options());
        return fresh.tls_info().peer_sha256 == fp2;
      }));
      old.ping();
      CHECK(old.tls_info().peer_sha256 == fingerprint(cert("server.crt")));
      AND_WHEN("a bad certificate file comes with the next SIGHUP") {
        REQUIRE(test::shell("echo garbage > " + dir + "/live.crt") == 0);
        mgr.kill(SIGHUP);
        THEN("the manager logs the error and keeps serving server2's certificate") {
          CHECK(test::eventually(
              [&] { return mgr.err().find("reload failed") != std::string::npos; }));
          CHECK_THAT(mgr.err(), Catch::Contains("live.crt"));
          Client fresh(address, "k", tls_options());
          CHECK(fresh.tls_info().peer_sha256 == fp2);
          CHECK(mgr.running());
        }
      }
    }
  }
  mgr.kill(SIGTERM);
  CHECK(mgr.wait(10s) == 0);
}

SCENARIO("bad TLS options stop the manager with the reason", "[tls]") {
  THEN("a missing certificate file names it") {
    ManagerOptions o;
    o.address = "127.0.0.1:0";
    o.authkey = "k";
    o.tls.cert_file = "/nonexistent/server.crt";
    o.tls.key_file = cert("server.key");
    CHECK_THAT(message_of<std::runtime_error>([&] { Manager mgr(o); }),
               Catch::Contains("/nonexistent/server.crt"));
  }
  THEN("a key that is not the certificate's is refused") {
    ManagerOptions o;
    o.address = "127.0.0.1:0";
    o.authkey = "k";
    o.tls.cert_file = cert("server.crt");
    o.tls.key_file = cert("server2.key");
    CHECK_THAT(message_of<std::runtime_error>([&] { Manager mgr(o); }),
               Catch::Contains("does not match"));
  }
  THEN("a tls:// listen address without a certificate is refused") {
    ManagerOptions o;
    o.address = "tls://127.0.0.1:0";
    o.authkey = "k";
    Manager mgr(o);
    CHECK_THAT(message_of<std::runtime_error>([&] { mgr.start(); }), Catch::Contains("--tls-cert"));
  }
  THEN("depot-manager refuses --tls-cert without --tls-key") {
    test::Process p(
        {test::bin("depot-manager"), "--authkey", "k", "--tls-cert", cert("server.crt")});
    CHECK(p.wait(10s) == 2);
    CHECK_THAT(p.err(), Catch::Contains("--tls-key"));
  }
}

SCENARIO("depot-cli and the samples connect with tls:// and --tls-ca", "[tls][cli][samples]") {
  auto m = tls_manager();
  const std::string addr = tls_addr(*m);
  GIVEN("depot-cli with --tls-ca") {
    THEN("put and get work over TLS") {
      test::Process put({test::bin("depot-cli"), "-a", addr, "-k", "k", "--tls-ca", cert("ca.crt"),
                         "put", "q", "over-tls"});
      REQUIRE(put.wait(30s) == 0);
      test::Process get({test::bin("depot-cli"), "-a", addr, "-k", "k", "--tls-ca", cert("ca.crt"),
                         "get", "q", "--timeout", "5"});
      REQUIRE(get.wait(30s) == 0);
      CHECK(get.out() == "over-tls\n");
    }
    THEN("the CA may come from DEPOT_TLS_CA instead") {
      test::Process p({test::bin("depot-cli"), "-a", addr, "-k", "k", "ping"},
                      {"DEPOT_TLS_CA=" + cert("ca.crt")});
      CHECK(p.wait(30s) == 0);
    }
  }
  GIVEN("depot-cli with the wrong CA") {
    test::Process p(
        {test::bin("depot-cli"), "-a", addr, "-k", "k", "--tls-ca", cert("other-ca.crt"), "ping"});
    THEN("it exits 3 saying why the certificate was refused") {
      CHECK(p.wait(30s) == 3);
      CHECK_THAT(p.err(), Catch::Contains("unable to get local issuer certificate"));
    }
  }
  GIVEN("depot-cli with a plain address") {
    test::Process p({test::bin("depot-cli"), "-a", addr.substr(6), "-k", "k", "ping"});
    THEN("it exits 3 saying the manager requires TLS") {
      CHECK(p.wait(30s) == 3);
      CHECK_THAT(p.err(), Catch::Contains(msg::tls_required(addr.substr(6))));
    }
  }
  GIVEN("the counter_lock sample, whose workers are processes of their own") {
    test::Process p({test::bin("counter_lock"), "--address", addr, "--authkey", "k", "--tls-ca",
                     cert("ca.crt"), "--workers", "2", "--increments", "20"});
    THEN("it counts right over TLS") {
      CHECK(p.wait(120s) == 0);
      CHECK_THAT(p.out(), Catch::Contains("final count: 40 (expected 40)"));
    }
  }
}
