#include "depot/protocol/version.h"

namespace depot {

const char* version() {
  return DEPOT_VERSION_STRING;  // set for this file only, from PROJECT_VERSION
}

}  // namespace depot
