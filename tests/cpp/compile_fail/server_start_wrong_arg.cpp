// Must not compile: starting a server (here on another node, through the
// builder) with an argument that is not its Arg: the argument crosses to the
// other node encoded as Arg, so the builder takes nothing else.
#include <lunatic/lunatic.hpp>

#include <cstdint>
#include <string>

struct Get {};
LUNATIC_NO_FIELDS(Get)

struct Counter : lunatic::AbstractProcess<Counter> {
    using Arg = int32_t;
    using Handlers = lunatic::Handlers<lunatic::RequestHandler<Get>>;
    int32_t count = 0;
    explicit Counter(int32_t start) : count(start) {}
    int32_t handle(Get) const { return count; }
};

lunatic::ProcessRef<Counter> use(uint64_t node) {
#ifdef LUNATIC_COMPILE_FAIL_CONTROL
    return Counter::on_node(node).link().start_as("counter", 1);
#else
    return Counter::on_node(node).link().start_as("counter", std::string("one"));
#endif
}
