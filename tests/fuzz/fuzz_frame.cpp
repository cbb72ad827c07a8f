// libFuzzer target (clang only): the frame decoder and the handshake parsers, through
// fuzz_inputs.h. Built by tests/fuzz/CMakeLists.txt when the compiler is clang; `make fuzz`
// runs it for a bounded time under ASan.
#include "fuzz_inputs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::one_input(data, size);
  return 0;
}
