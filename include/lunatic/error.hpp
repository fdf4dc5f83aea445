// lunatic::Error and friends: the C status codes as C++ exceptions.
#pragma once

#include <stdexcept>
#include <string>

#include "lunatic/lunatic.h"

namespace lunatic {

/// Base of every error the typed layer throws; code() is the C status code.
class Error : public std::runtime_error {
public:
    Error(int code, const std::string &what) : std::runtime_error(what), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

/// A wait ran out (LUNATIC_ETIMEDOUT).
class TimeoutError : public Error {
public:
    using Error::Error;
};

/// No such process (LUNATIC_ENOPROC).
class NoProcessError : public Error {
public:
    using Error::Error;
};

/// A payload could not be decoded into the expected type (LUNATIC_EDECODE).
class DeserializationError : public Error {
public:
    explicit DeserializationError(const std::string &what) : Error(LUNATIC_EDECODE, what) {}
};

/// A value could not be encoded (e.g. a string that is not valid UTF-8 for Json).
class SerializationError : public Error {
public:
    explicit SerializationError(const std::string &what) : Error(LUNATIC_EINVAL, what) {}
};

/// Not permitted (LUNATIC_EPERM).
class PermissionError : public Error {
public:
    using Error::Error;
};

/// Out of memory or over a limit (LUNATIC_ENOMEM).
class ResourceError : public Error {
public:
    using Error::Error;
};

/// Why a process ended (LUNATIC_EXIT_*), as links, monitors and requests report it.
enum class ExitReason {
    normal = LUNATIC_EXIT_NORMAL,
    failed = LUNATIC_EXIT_FAILED,
    killed = LUNATIC_EXIT_KILLED,
    noproc = LUNATIC_EXIT_NOPROC,
    noconnection = LUNATIC_EXIT_NOCONNECTION,
    memory_limit = LUNATIC_EXIT_MEMORY_LIMIT,
    fuel_exhausted = LUNATIC_EXIT_FUEL_EXHAUSTED,
};

/// A request's server ended before it replied, or was gone already
/// (LUNATIC_ENOPROC). The requester monitors the server for the duration of
/// the request, so this comes at once instead of a hang; reason() and
/// reason_text() say how the server ended ("failed: <message>", "noproc", ...).
class ServerDied : public NoProcessError {
public:
    ServerDied(lunatic_pid pid, ExitReason reason, const std::string &reason_text)
        : NoProcessError(LUNATIC_ENOPROC, "the server ended before replying (" + reason_text + ")"),
          pid_(pid),
          reason_(reason),
          reason_text_(reason_text) {}
    lunatic_pid pid() const noexcept { return pid_; }
    ExitReason reason() const noexcept { return reason_; }
    const std::string &reason_text() const noexcept { return reason_text_; }

private:
    lunatic_pid pid_;
    ExitReason reason_;
    std::string reason_text_;
};

/// A server (AbstractProcess) could not start: its init threw (what() carries
/// the exception's text) or it ended during init. The starter gets this
/// instead of waiting for a server that will never answer.
class StartFailed : public Error {
public:
    explicit StartFailed(const std::string &what, int code = LUNATIC_ESTATE) : Error(code, what) {}
};

/// start_as found its name taken by a live server of the same type
/// (LUNATIC_EEXIST); pid() is that server, so "get or start" is a catch away.
class NameTaken : public StartFailed {
public:
    NameTaken(const std::string &name, lunatic_pid pid)
        : StartFailed("the name \"" + name + "\" is taken", LUNATIC_EEXIST), pid_(pid) {}
    lunatic_pid pid() const noexcept { return pid_; }

private:
    lunatic_pid pid_;
};

/// Thrown out of a runtime call of a process that has been killed. It derives
/// neither from lunatic::Error nor from std::exception, so ordinary catch
/// blocks let it through and the process unwinds (destructors run). A
/// `catch (...)` that swallows it only delays the end: every later runtime
/// call throws it again.
struct Killed {
    const char *what() const noexcept { return "lunatic: process killed"; }
};

namespace detail {

/// Throws the exception for a C status code (with lunatic_errmsg() as text).
[[noreturn]] inline void throw_status(int code) {
    std::string what = lunatic_errmsg();
    if (what.empty()) what = lunatic_strerror(code);
    switch (code) {
    case LUNATIC_EKILLED:
        throw Killed{};
    case LUNATIC_ETIMEDOUT:
        throw TimeoutError(code, what);
    case LUNATIC_ENOPROC:
        throw NoProcessError(code, what);
    case LUNATIC_EDECODE:
        throw DeserializationError(what);
    case LUNATIC_EPERM:
        throw PermissionError(code, what);
    case LUNATIC_ENOMEM:
        throw ResourceError(code, what);
    default:
        throw Error(code, what);
    }
}

inline void check(int code) {
    if (code != LUNATIC_OK) throw_status(code);
}

}  // namespace detail
}  // namespace lunatic
