// Must not compile: sending a value of the wrong type (the protocol says
// Send<int, ...>; the code sends a std::string).
#include <lunatic/lunatic.hpp>

#include <string>
#include <utility>

void step(lunatic::Protocol<lunatic::Send<int, lunatic::End>> p) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    std::move(p).send(1);
#else
    std::move(p).send(std::string("one"));
#endif
}
