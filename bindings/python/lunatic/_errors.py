"""The exceptions of lunatic: one class per C status code that Python code meets."""

from __future__ import annotations

import builtins
from typing import Optional

from . import _lunatic

__all__ = [
    "Error",
    "TimeoutError",
    "NoProcessError",
    "DeserializationError",
    "SerializationError",
    "NotAProcessError",
    "NotFoundError",
    "PermissionError",
    "ResourceError",
    "ExistsError",
    "NameTakenError",
    "NoNodeError",
    "ServerDied",
    "StartFailed",
    "Killed",
]


class Error(Exception):
    """Base of every error lunatic raises (except :class:`Killed`).

    ``code`` is the C status code (a negative ``LUNATIC_E*`` value) and
    ``message`` the detail the runtime gave.
    """

    def __init__(self, message: str = "", code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = _lunatic.EINVAL if code is None else code

    def __str__(self) -> str:
        return self.message


class TimeoutError(Error, builtins.TimeoutError):
    """A wait ran out (``LUNATIC_ETIMEDOUT``); also a builtin :class:`TimeoutError`."""

    def __init__(self, message: str = "timed out", code: Optional[int] = None) -> None:
        super().__init__(message, _lunatic.ETIMEDOUT if code is None else code)


class NoProcessError(Error):
    """No such process: unknown, finished or from another runtime (``LUNATIC_ENOPROC``)."""


class DeserializationError(Error):
    """A payload could not be decoded (``LUNATIC_EDECODE``).

    When raised by a receive, the message has been taken out of the mailbox
    (the others stay queued): ``payload`` holds its raw bytes, ``tag`` its tag
    and ``sender`` the process that sent it, so nothing is lost silently.
    """

    def __init__(self, message: str = "payload could not be decoded", code: Optional[int] = None) -> None:
        super().__init__(message, _lunatic.EDECODE if code is None else code)
        self.payload: Optional[bytes] = None
        self.tag: Optional[int] = None
        self.sender = None


class SerializationError(Error, ValueError):
    """A value could not be encoded by the serializer; raised at the sender."""

    def __init__(self, message: str = "value could not be encoded", code: Optional[int] = None) -> None:
        super().__init__(message, _lunatic.EINVAL if code is None else code)


class NotAProcessError(Error):
    """The calling thread is not a lunatic process, or the runtime is not running (``LUNATIC_ESTATE``).

    Call from a process, the thread that imported :mod:`lunatic`, or inside
    ``with lunatic.attached():``.
    """


class NotFoundError(Error):
    """No such name, e.g. no entry registered under it (``LUNATIC_ENOTFOUND``)."""


class PermissionError(Error, builtins.PermissionError):
    """Not permitted (``LUNATIC_EPERM``): e.g. a spawn without ``can_spawn_processes``, a
    :class:`~lunatic.ProcessConfig` without ``can_create_configs``. Also a builtin
    :class:`PermissionError`."""

    def __init__(self, message: str = "not permitted", code: Optional[int] = None) -> None:
        super().__init__(message, _lunatic.EPERM if code is None else code)


class ResourceError(Error):
    """Out of memory or over a limit (``LUNATIC_ENOMEM``)."""


class ExistsError(Error):
    """Something already exists (``LUNATIC_EEXIST``), e.g. the thread is attached already."""


class NameTakenError(ExistsError):
    """:meth:`Process.register`: the name is taken by a live process (``LUNATIC_EEXIST``).

    Registering never replaces a name (in C, C++ and Python alike): unregister
    it first. Names are freed when their process ends.
    """


class NoNodeError(Error):
    """No such node (``LUNATIC_ENONODE``), e.g. a timer for a process of another node."""


class ServerDied(NoProcessError):
    """A request's server ended before it replied, or was gone already (``LUNATIC_ENOPROC``).

    The requester monitors the server for the duration of the request, so
    this comes at once instead of a hang. ``process`` is the server,
    ``reason`` how it ended (a :class:`lunatic.ExitReason`) and ``text`` the
    reason as text (``"failed: ValueError: boom"``, ``"noproc"``, ...).
    """

    def __init__(self, message: str = "the server ended before replying", code: Optional[int] = None,
                 process=None, reason=None, text: str = "") -> None:
        super().__init__(message, _lunatic.ENOPROC if code is None else code)
        self.process = process
        self.reason = reason
        self.text = text


class StartFailed(Error):
    """A server (:class:`lunatic.AbstractProcess`) could not start: its ``init`` raised
    (the message carries the exception's type and text) or it ended during ``init``.
    The starter gets this instead of waiting for a server that will never answer."""

    def __init__(self, message: str = "the server failed to start", code: Optional[int] = None) -> None:
        super().__init__(message, _lunatic.ESTATE if code is None else code)


class Killed(BaseException):
    """Raised out of a runtime call of a process that has been killed.

    Like :class:`SystemExit` and :class:`KeyboardInterrupt` it derives from
    :class:`BaseException`, so ``except Exception`` does not swallow it: the
    process unwinds (``finally`` blocks and ``with`` exits run) and ends. If
    it is caught anyway, every later runtime call raises it again.
    """

    def __init__(self, message: str = "process killed", code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = _lunatic.EKILLED if code is None else code

    def __str__(self) -> str:
        return self.message


_BY_CODE = {
    _lunatic.ETIMEDOUT: TimeoutError,
    _lunatic.ENOPROC: NoProcessError,
    _lunatic.EDECODE: DeserializationError,
    _lunatic.ESTATE: NotAProcessError,
    _lunatic.ENOTFOUND: NotFoundError,
    _lunatic.EPERM: PermissionError,
    _lunatic.ENOMEM: ResourceError,
    _lunatic.EKILLED: Killed,
    _lunatic.EEXIST: ExistsError,
    _lunatic.ENONODE: NoNodeError,
}

_lunatic.set_errors(_BY_CODE, Error)
