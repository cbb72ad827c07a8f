// The tour sample prints what the streamz walkthrough (seed 001) prints; the expected text
// was written from the seed's outputs, not from the program.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace {
std::string run(const std::string& cmd, int& status) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  status = ::pclose(p);
  return out;
}
}  // namespace

SCENARIO("streams_tour prints the seed's outputs", "[streams][samples]") {
  std::ifstream f(std::string(DEPOT_SOURCE_DIR) + "/tests/streams/streams_tour.expected");
  REQUIRE(f.good());
  std::stringstream want;
  want << f.rdbuf();
  int status = -1;
  const std::string got = run(std::string(DEPOT_BIN_DIR) + "/streams_tour", status);
  REQUIRE(status == 0);
  REQUIRE(got == want.str());
}
