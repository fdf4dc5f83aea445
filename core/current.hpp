// What the calling code is running as: a process (fiber or attached thread)
// and, on worker threads, the worker.
//
// These live in thread-local storage, and fibers move between threads: read
// them only through these out-of-line functions, after every switch, never
// through a cached address (the compiler may cache a thread_local's address
// across a call that switches fibers).
#pragma once

#include <string>

namespace lunatic::core {

class Process;
class Worker;

Process *current_process() noexcept;
void set_current_process(Process *process) noexcept;

Worker *current_worker() noexcept;
void set_current_worker(Worker *worker) noexcept;

// Where the detail of the caller's last error is kept: in its process when it
// is one (fibers migrate), else in the thread.
std::string &error_detail() noexcept;

}  // namespace lunatic::core
