// Must not compile: select_left() on a three-way Choose (select_left and
// select_right are for Choose<P, Q>; more branches take select<I>()).
#include <lunatic/lunatic.hpp>

#include <utility>

using lunatic::End;

void step(lunatic::Protocol<lunatic::Choose<End, End, End>> p) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    std::move(p).select<0>();
#else
    std::move(p).select_left();
#endif
}
