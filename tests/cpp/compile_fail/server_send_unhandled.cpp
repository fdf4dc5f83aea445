// Must not compile: sending a server a message type it has no
// MessageHandler for (lunatic-rs found this out at run time).
#include <lunatic/lunatic.hpp>

#include <cstdint>

struct Add {
    int32_t n = 0;
};
LUNATIC_FIELDS(Add, n)
struct Reset {};
LUNATIC_NO_FIELDS(Reset)

struct Counter : lunatic::AbstractProcess<Counter> {
    using Handlers = lunatic::Handlers<lunatic::MessageHandler<Add>>;
    int32_t count = 0;
    void handle(Add add) { count += add.n; }
};

void use(lunatic::ProcessRef<Counter> counter) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    counter.send(Add{1});
#else
    counter.send(Reset{});
#endif
}
