// Must not compile: receiving where the protocol says send (Send<int, ...>).
#include <lunatic/lunatic.hpp>

#include <utility>

void step(lunatic::Protocol<lunatic::Send<int, lunatic::Recv<int, lunatic::End>>> p) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    auto [end, value] = std::move(p).send(1).receive();
#else
    auto [end, value] = std::move(p).receive();
#endif
    (void)value;
}
