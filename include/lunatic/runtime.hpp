// Where a program starts: lunatic::main (lunatic's root process) and
// lunatic::Runtime (for programs that embed the runtime).
#pragma once

#include <cstdint>
#include <exception>
#include <iostream>
#include <type_traits>

#include "lunatic/error.hpp"
#include "lunatic/lunatic.h"
#include "lunatic/mailbox.hpp"

namespace lunatic {

namespace detail {
template <class Pointer>
struct mailbox_of;
template <class R, class A>
struct mailbox_of<R (*)(A)> {
    using type = std::remove_cvref_t<A>;
    static_assert(is_mailbox_v<type>, "lunatic::main's function takes one lunatic::Mailbox<M, S>");
};
}  // namespace detail

struct RuntimeOptions {
    uint32_t workers = 0;                // 0: one per hardware thread
    std::size_t default_stack_size = 0;  // 0: 64 KiB
    lunatic_log_fn log = nullptr;        // nullptr: stderr
    void *log_user = nullptr;
};

/// A runtime whose lifetime is this object's: the constructor starts it and
/// attaches the calling thread as a process; the destructor kills the
/// processes still running, waits for them to unwind and joins the workers.
class Runtime {
public:
    explicit Runtime(const RuntimeOptions &options = {}) {
        lunatic_runtime_options o;
        lunatic_runtime_options_init(&o);
        o.workers = options.workers;
        o.default_stack_size = options.default_stack_size;
        o.log = options.log;
        o.log_user = options.log_user;
        detail::check(lunatic_runtime_create(&o, &runtime_));
        int code = lunatic_runtime_attach(runtime_, nullptr);
        if (code != LUNATIC_OK) {
            std::string what = lunatic_errmsg();
            lunatic_runtime_destroy(runtime_);
            throw Error(code, what);
        }
    }
    ~Runtime() { lunatic_runtime_destroy(runtime_); }
    Runtime(const Runtime &) = delete;
    Runtime &operator=(const Runtime &) = delete;

    uint64_t node_id() const noexcept { return lunatic_runtime_node_id(runtime_); }
    uint32_t workers() const noexcept { return lunatic_runtime_workers(runtime_); }
    uint64_t process_count() const noexcept { return lunatic_runtime_process_count(runtime_); }
    lunatic_runtime *raw() const noexcept { return runtime_; }

private:
    lunatic_runtime *runtime_ = nullptr;
};

/// Runs fn(Mailbox<M, S>) as the root process on the calling thread and
/// returns its result (0 for a void fn). When it returns, the processes still
/// running are killed and the runtime stops — lunatic's rule. An exception
/// escaping fn is printed and gives 1.
///
///     int main() {
///         return lunatic::main([](lunatic::Mailbox<std::string> mailbox) { ... });
///     }
template <class F>
int main(F fn, const RuntimeOptions &options = {}) {
    using Pointer = decltype(+fn);
    static_assert(
        std::is_pointer_v<Pointer>,
        "lunatic::main takes a function or capture-less lambda taking a lunatic::Mailbox<M, S>");
    Runtime runtime(options);
    try {
        using Result = std::invoke_result_t<F, typename detail::mailbox_of<Pointer>::type>;
        typename detail::mailbox_of<Pointer>::type mailbox;
        if constexpr (std::is_same_v<Result, void>) {
            fn(mailbox);
            return 0;
        } else {
            return static_cast<int>(fn(mailbox));
        }
    } catch (const Killed &) {
        return 1;
    } catch (const std::exception &e) {
        std::cerr << "lunatic::main: uncaught exception: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace lunatic
