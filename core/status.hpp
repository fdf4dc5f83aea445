// Status codes of the core. Their values are the C ABI's LUNATIC_E* codes
// (capi/ checks this at compile time), so no table is needed to translate.
#pragma once

namespace lunatic::core {

enum class Status : int {
    ok = 0,
    invalid_argument = -1,
    no_process = -2,
    timed_out = -3,
    killed = -4,
    not_permitted = -5,
    no_memory = -6,
    exists = -7,
    not_found = -8,
    decode_failed = -9,
    no_node = -10,
    bad_state = -11,
    not_supported = -12,
    internal = -13,
};

}  // namespace lunatic::core
