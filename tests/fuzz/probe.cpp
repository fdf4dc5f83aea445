// Configure-time probe: can clang++ link a libFuzzer target here?
#include <cstddef>
#include <cstdint>
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *, std::size_t) { return 0; }
