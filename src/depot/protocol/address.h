// "host:port" parsing shared by the manager, the client and the tools.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace depot::proto {

struct Address {
  std::string host;  // "" means every interface (manager) or localhost (client)
  uint16_t port = 0;
  bool tls = false;  // written "tls://host:port": the connection runs TLS (docs/security.md)
};

// Accepts "host:port", ":port", "port", "[v6addr]:port", each optionally behind a scheme:
// "tls://" (TLS) or "tcp://" (plain, the default). Returns an empty string and fills `out`
// on success, else the reason.
std::string parse_address(std::string_view text, Address& out);

}  // namespace depot::proto
