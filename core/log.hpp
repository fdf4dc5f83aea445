// Where the runtime's log lines go: a user callback or stderr.
#pragma once

namespace lunatic::core {

enum class LogLevel : int { error = 0, warning = 1, info = 2 };

using LogFn = void (*)(void *user, int level, const char *line);

class Log {
public:
    Log(LogFn fn, void *user) : fn_(fn), user_(user) {}
    void write(LogLevel level, const char *format, ...) const noexcept
        __attribute__((format(printf, 3, 4)));

private:
    LogFn fn_;
    void *user_;
};

}  // namespace lunatic::core
