// Must not compile: a request of a type the server only takes as a message
// (it has no RequestHandler for it, so there would be no reply).
#include <lunatic/lunatic.hpp>

#include <cstdint>

struct Add {
    int32_t n = 0;
};
LUNATIC_FIELDS(Add, n)
struct Get {};
LUNATIC_NO_FIELDS(Get)

struct Counter : lunatic::AbstractProcess<Counter> {
    using Handlers = lunatic::Handlers<lunatic::MessageHandler<Add>, lunatic::RequestHandler<Get>>;
    int32_t count = 0;
    void handle(Add add) { count += add.n; }
    int32_t handle(Get) const { return count; }
};

int32_t use(lunatic::ProcessRef<Counter> counter) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    return counter.request(Get{});
#else
    return counter.request(Add{1});
#endif
}
