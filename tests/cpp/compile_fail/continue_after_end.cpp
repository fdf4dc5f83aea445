// Must not compile: continuing after End (a send on the Protocol<End> that the
// last step returned).
#include <lunatic/lunatic.hpp>

#include <utility>

void step(lunatic::Protocol<lunatic::Send<int, lunatic::End>> p) {
    auto end = std::move(p).send(1);
#ifndef LUNATIC_COMPILE_FAIL_CONTROL
    std::move(end).send(2);
#endif
}
