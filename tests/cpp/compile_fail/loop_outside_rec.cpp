// Must not compile: a protocol type whose Loop has no enclosing Rec to jump to.
#include <lunatic/lunatic.hpp>

#include <utility>

using lunatic::Loop;
using lunatic::Send;

#ifdef LUNATIC_COMPILE_FAIL_CONTROL
using Forever = lunatic::Rec<Send<int, Loop>>;
#else
using Forever = Send<int, Loop>;
#endif

void step(lunatic::Protocol<Forever> p) {
    for (;;) p = std::move(p).send(1);
}
