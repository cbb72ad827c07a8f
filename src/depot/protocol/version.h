// depot's version, the one CMake's project() declares: every program prints it for --version.
#pragma once

namespace depot {

// "0.1.0": major.minor.patch of the build (PROJECT_VERSION in the top CMakeLists.txt).
const char* version();

}  // namespace depot
