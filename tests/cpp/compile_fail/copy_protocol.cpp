// Must not compile: copying a protocol (two copies could both go on with one
// session; a protocol is move-only).
#include <lunatic/lunatic.hpp>

#include <utility>

void step(lunatic::Protocol<lunatic::Send<int, lunatic::End>> p) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    auto q = std::move(p);
#else
    auto q = p;
#endif
    std::move(q).send(1);
}
