#include "depot/protocol/address.h"

#include <charconv>

namespace depot::proto {

std::string parse_address(std::string_view full, Address& out) {
  std::string_view text = full;
  bool tls = false;
  if (auto scheme = text.find("://"); scheme != std::string_view::npos) {
    const std::string_view name = text.substr(0, scheme);
    if (name == "tls")
      tls = true;
    else if (name != "tcp")
      return "address '" + std::string(full) + "' has the scheme '" + std::string(name) +
             "://'; use tls://host:port for TLS or host:port for plain TCP";
    text.remove_prefix(scheme + 3);
  }
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return "address '" + std::string(text) + "' is not [host]:port";
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  } else {
    port = text;
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value > 65535)
    return "address '" + std::string(text) +
           "' has no valid port (expected host:port, e.g. 127.0.0.1:5000)";
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(value);
  out.tls = tls;
  return {};
}

}  // namespace depot::proto
