// Must not compile: a Send of a struct the serializer cannot encode (its
// fields were not declared with LUNATIC_FIELDS).
#include <lunatic/lunatic.hpp>

#include <utility>

struct Point {
    int x = 0;
    int y = 0;
};
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
LUNATIC_FIELDS(Point, x, y)
#endif

void step(lunatic::Protocol<lunatic::Send<Point, lunatic::End>> p) {
    std::move(p).send(Point{1, 2});
}
