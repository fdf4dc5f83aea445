#include "core/log.hpp"

#include <cstdarg>
#include <cstdio>

namespace lunatic::core {

void Log::write(LogLevel level, const char *format, ...) const noexcept {
    char line[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (fn_) {
        fn_(user_, static_cast<int>(level), line);
        return;
    }
    static const char *const names[] = {"error", "warning", "info"};
    std::fprintf(stderr, "lunatic %s: %s\n", names[static_cast<int>(level)], line);
}

}  // namespace lunatic::core
