// libFuzzer target: lunatic::Json's decoder (see decode_common.hpp).
#include <lunatic/json.hpp>

#include "decode_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    return fuzz::decode_one_input<lunatic::Json>(data, size);
}
