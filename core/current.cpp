#include "core/current.hpp"

#include "core/process.hpp"

namespace lunatic::core {

namespace {
// initial-exec: one %fs-relative load instead of a __tls_get_addr call on
// every C ABI call (the library is dlopened by Python, so the module's whole
// TLS block must stay small: see the message stock in core/message.cpp).
__attribute__((tls_model("initial-exec"))) thread_local Process *tl_process = nullptr;
__attribute__((tls_model("initial-exec"))) thread_local Worker *tl_worker = nullptr;
thread_local std::string tl_error_detail;
}  // namespace

__attribute__((noinline)) Process *current_process() noexcept { return tl_process; }
__attribute__((noinline)) void set_current_process(Process *p) noexcept { tl_process = p; }
__attribute__((noinline)) Worker *current_worker() noexcept { return tl_worker; }
__attribute__((noinline)) void set_current_worker(Worker *w) noexcept { tl_worker = w; }

__attribute__((noinline)) std::string &error_detail() noexcept {
    Process *p = tl_process;
    return p ? p->error_detail : tl_error_detail;
}

}  // namespace lunatic::core
