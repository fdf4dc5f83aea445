"""lunatic: Erlang-style lightweight processes for Python, on liblunatic.

::

    import lunatic

    def child(capture, mailbox):
        assert capture == 1
        assert mailbox.receive() == 2

    p = lunatic.spawn(child, 1)
    p.send(2)

Importing the package starts a runtime and makes the importing thread (the
main thread, normally) a process: ``lunatic.Mailbox()`` there is its own
mailbox. When the interpreter exits, the processes still running are killed
(:class:`Killed` is raised at their runtime call, so ``finally`` blocks run)
and the runtime stops before the interpreter tears down.

Environment, read at import:

``LUNATIC_WORKERS``
    worker threads (default: the hardware threads, at least 2). Python
    processes all run on one of them; C/C++ processes use them all.
``LUNATIC_STACK_SIZE``
    default stack size of a Python process in bytes (default 8 MiB, committed lazily).

Not supported: calling lunatic from a child made by :func:`os.fork` (the
runtime's threads do not exist there: every call raises
:class:`NotAProcessError`; plain Python code, ``exec`` and exiting work), and
C extensions that call ``PyGILState_Ensure`` from inside a lunatic process
(e.g. ctypes callbacks): see README.
"""

from __future__ import annotations

import atexit as _atexit
import os as _os
import threading as _threading

from . import _lunatic
from ._config import ProcessConfig
from ._errors import (
    DeserializationError,
    Error,
    ExistsError,
    Killed,
    NameTakenError,
    NoNodeError,
    NoProcessError,
    NotAProcessError,
    NotFoundError,
    PermissionError,
    ResourceError,
    SerializationError,
    ServerDied,
    StartFailed,
    TimeoutError,
)
from ._process import (
    ExitReason,
    LinkDied,
    Mailbox,
    Message,
    Process,
    ProcessDied,
    Signal,
    Tag,
    Timer,
    attached,
    blocking,
    lookup,
    registry_type,
    sleep,
    spawn,
    spawn_link,
    spawn_named,
    this_process,
    trap_links,
    unregister,
    yield_,
)
from ._protocol import (
    Choose,
    End,
    Loop,
    Offer,
    Pop,
    Protocol,
    ProtocolError,
    Rec,
    Recv,
    Send,
    Var,
    dual,
    protocol_capture,
    spawn_protocol,
)
from ._node import Node, connect, lookup_nodes, node_start, nodes, spawn_node
from ._request import DeferredResponse, ReplyTo, Request, request
from ._serializers import Json, MessagePack, Pickle
from ._server import AbstractProcess, ProcessRef, handle_deferred_request, handle_message, handle_request
from ._supervisor import ChildSpec, Restart, Strategy, Supervisor, SupervisorRef, SupervisorSpec

__version__ = _lunatic.version()

from . import _config, _errors, _node, _process, _protocol, _request, _server, _supervisor

# The public names are those of the submodules (each keeps its own list), plus the serializers.
__all__ = [*_process.__all__, *_config.__all__, *_node.__all__, *_request.__all__, *_server.__all__,
           *_supervisor.__all__, *_protocol.__all__, "Pickle", "MessagePack", "Json", *_errors.__all__]


def _env_int(name: str, default: int) -> int:
    text = _os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text, 0)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an integer") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value


def node_id() -> int:
    """The node id of this interpreter's runtime."""
    return _lunatic.runtime_info().get("node_id", 0)


def workers() -> int:
    """Number of worker threads of the runtime."""
    return _lunatic.runtime_info().get("workers", 0)


def process_count() -> int:
    """Number of processes alive (the main thread and other attached threads included)."""
    return _lunatic.runtime_info().get("process_count", 0)


_workers = _env_int("LUNATIC_WORKERS", 0) or max(2, _os.cpu_count() or 1)
_lunatic.start(_workers, _threading.main_thread().ident or _threading.get_ident(),
               _env_int("LUNATIC_STACK_SIZE", 0))
# atexit runs before the interpreter finalizes: the processes still running
# are killed and unwind while Python is intact.
_atexit.register(_lunatic.shutdown)
# Other nodes spawn Python functions here through the C entry "lunatic.python".
_lunatic.set_node_bootstrap(_node._remote_bootstrap)
_os.register_at_fork(after_in_child=_lunatic.after_fork_child)
