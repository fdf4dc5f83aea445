// lunatic::ProcessLocal<T>: a value per process (thread_local is wrong for
// processes, which move between worker threads).
#pragma once

#include <utility>

#include "lunatic/error.hpp"
#include "lunatic/lunatic.h"

namespace lunatic {

/// Declare one at namespace or static scope; each process sees its own T,
/// default-constructed on first use and destroyed when the process ends.
///
///     static lunatic::ProcessLocal<int> calls;
///     ++*calls;
template <class T>
class ProcessLocal {
public:
    ProcessLocal() = default;
    ProcessLocal(const ProcessLocal &) = delete;
    ProcessLocal &operator=(const ProcessLocal &) = delete;

    /// This process's value (created on first use).
    T &get() {
        void *value = nullptr;
        detail::check(lunatic_process_local_get(this, &value));
        if (!value) {
            T *created = new T();
            int code = lunatic_process_local_set(this, created, &destroy);
            if (code != LUNATIC_OK) {
                delete created;
                detail::throw_status(code);
            }
            value = created;
        }
        return *static_cast<T *>(value);
    }
    /// Replaces this process's value.
    void set(T value) { get() = std::move(value); }
    /// Whether this process has a value yet.
    bool has_value() const {
        void *value = nullptr;
        detail::check(lunatic_process_local_get(this, &value));
        return value != nullptr;
    }

    T &operator*() { return get(); }
    T *operator->() { return &get(); }

private:
    static void destroy(void *value) { delete static_cast<T *>(value); }
};

}  // namespace lunatic
