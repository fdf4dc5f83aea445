// Must not compile: offering (waiting for the peer's choice) where the
// protocol says send.
#include <lunatic/lunatic.hpp>

#include <utility>

void step(lunatic::Protocol<lunatic::Send<int, lunatic::Offer<lunatic::End, lunatic::End>>> p) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    auto branch = std::move(p).send(1).offer();
#else
    auto branch = std::move(p).offer();
#endif
    (void)branch;
}
