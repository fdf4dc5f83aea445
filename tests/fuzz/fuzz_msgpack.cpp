// libFuzzer target: lunatic::MessagePack's decoder (see decode_common.hpp).
#include <lunatic/msgpack.hpp>

#include "decode_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    return fuzz::decode_one_input<lunatic::MessagePack>(data, size);
}
