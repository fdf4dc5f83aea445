// Must not compile: the value converts to two of the server's message types,
// so which handler gets it would be a guess.
#include <lunatic/lunatic.hpp>

#include <cstdint>

struct Logger : lunatic::AbstractProcess<Logger> {
    using Handlers =
        lunatic::Handlers<lunatic::MessageHandler<int64_t>, lunatic::MessageHandler<double>>;
    void handle(int64_t) {}
    void handle(double) {}
};

void use(lunatic::ProcessRef<Logger> logger) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    logger.send(int64_t{1});
#else
    logger.send(1);  // int: to int64_t or to double?
#endif
}
