// Must not compile: selecting a branch where the protocol does not choose (a
// Recv state).
#include <lunatic/lunatic.hpp>

#include <utility>

void step(lunatic::Protocol<lunatic::Recv<int, lunatic::Choose<lunatic::End, lunatic::End>>> p) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    auto [next, value] = std::move(p).receive();
    (void)value;
    std::move(next).select_left();
#else
    std::move(p).select_left();
#endif
}
