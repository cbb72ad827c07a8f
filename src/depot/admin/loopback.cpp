// depot::admin::is_loopback_host (admin_server.h): built with and without POCO, and what the
// daemon asks too before it accepts a short authkey (manager/main.cpp).
#include "depot/admin/admin_server.h"

namespace depot::admin {

bool is_loopback_host(const std::string& host) {
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0;
}

}  // namespace depot::admin
