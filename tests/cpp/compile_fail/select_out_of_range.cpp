// Must not compile: select<I>() with I past the last branch of an n-ary Choose
// (three branches: 0, 1 and 2).
#include <lunatic/lunatic.hpp>

#include <utility>

using lunatic::End;

void step(lunatic::Protocol<lunatic::Choose<End, End, lunatic::Send<int, End>>> p) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    std::move(p).select<2>().send(1);
#else
    std::move(p).select<3>();
#endif
}
