"""Processes, mailboxes, tags and the calls a process makes on itself."""

from __future__ import annotations

import contextlib
import math
import sys
import traceback
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Union

from . import _lunatic
from ._errors import DeserializationError, Killed, NotAProcessError, TimeoutError
from ._serializers import MessagePack, Pickle

__all__ = [
    "Tag",
    "Process",
    "Mailbox",
    "Message",
    "spawn",
    "spawn_named",
    "this_process",
    "sleep",
    "yield_",
    "attached",
]

_U64_MAX = (1 << 64) - 1
# Waits longer than this are waits without end (the runtime caps them the same way).
_FOREVER_NS = 10**18


def _timeout_ns(timeout: Optional[float]) -> int:
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if math.isnan(timeout):
        raise ValueError("timeout must not be NaN")
    if timeout <= 0:
        return 0
    if timeout >= _FOREVER_NS / 1e9:
        return -1
    return max(1, int(timeout * 1e9))


class Tag(int):
    """A message label for :meth:`Process.tag_send` and :meth:`Mailbox.tag_receive`.

    ``Tag()`` is a fresh tag that no other call in this OS process has been
    given (``lunatic_tag_new``); ``Tag(n)`` is the tag ``n`` of your choosing
    (0 means "no tag"; negative tags are reserved for the runtime). A tag is an
    ``int``: plain integers work wherever a tag is expected.
    """

    __slots__ = ()

    def __new__(cls, value: Optional[int] = None) -> "Tag":
        if value is None:
            value = _lunatic.tag_new()
        tag = int.__new__(cls, value)
        if not 0 <= tag < (1 << 63):
            raise ValueError(f"a tag is between 0 and 2**63-1 (negative tags are the runtime's), not {int(tag)}")
        return tag

    @classmethod
    def fresh(cls) -> "Tag":
        """A fresh tag (the same as ``Tag()``)."""
        return cls()

    @classmethod
    def none(cls) -> "Tag":
        """The "no tag" tag, 0."""
        return cls(0)

    def __repr__(self) -> str:
        return f"lunatic.Tag({int(self)})"

    def __reduce__(self):
        return (Tag, (int(self),))


def _tag_value(tag: Any) -> int:
    if isinstance(tag, bool) or not isinstance(tag, int):
        raise TypeError(f"a tag is an int or lunatic.Tag, not {type(tag).__name__}")
    if not 0 <= tag < (1 << 63):
        raise ValueError(f"a tag is between 0 and 2**63-1, not {tag}")
    return int(tag)


class Process:
    """A handle to a process: the value ``{node_id, id}``, plus the serializer its mailbox reads.

    Handles are immutable, compare and hash by ``(node_id, id)``, print as
    ``<node.id>`` like the C++ ones, pickle, and travel inside messages (with
    :class:`~lunatic.MessagePack` and :class:`~lunatic.Json` as the two-field
    struct the C++ side reads as ``lunatic::Process<M, S>``).
    """

    __slots__ = ("_node_id", "_id", "_serializer")

    def __init__(self, node_id: int, id: int, serializer: Any = Pickle) -> None:
        for name, value in (("node_id", node_id), ("id", id)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U64_MAX:
                raise ValueError(f"Process {name} must be an int between 0 and 2**64-1, not {value!r}")
        _set = object.__setattr__
        _set(self, "_node_id", int(node_id))
        _set(self, "_id", int(id))
        _set(self, "_serializer", serializer)

    @property
    def node_id(self) -> int:
        """The node (runtime) the process lives on."""
        return self._node_id

    @property
    def id(self) -> int:
        """The process's id, unique in its runtime."""
        return self._id

    @property
    def serializer(self) -> Any:
        """What :meth:`send` encodes messages with."""
        return self._serializer

    def with_serializer(self, serializer: Any) -> "Process":
        """The same process, with messages encoded by ``serializer``."""
        return Process(self._node_id, self._id, serializer)

    @classmethod
    def from_wire(cls, value: Any, serializer: Any = Pickle) -> "Process":
        """A handle from its decoded wire form: ``[node_id, id]`` (MessagePack), ``{"node_id": n, "id": i}`` (Json), or a Process."""
        if isinstance(value, Process):
            return value.with_serializer(serializer)
        if isinstance(value, dict) and set(value) >= {"node_id", "id"}:
            return cls(value["node_id"], value["id"], serializer)
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return cls(value[0], value[1], serializer)
        raise DeserializationError(f"not a process handle: {value!r}")

    def send(self, message: Any) -> bool:
        """Sends ``message`` (encoded with this handle's serializer).

        Returns ``False`` when the process no longer exists (the message is
        dropped, as in the C++ layer); raises :class:`~lunatic.SerializationError`
        if the message cannot be encoded and :class:`~lunatic.Killed` if the
        caller has been killed.
        """
        return _lunatic.send(self._node_id, self._id, 0, self._serializer.encode(message))

    def tag_send(self, tag: Union[Tag, int], message: Any) -> bool:
        """Sends ``message`` labelled with ``tag``, for a :meth:`Mailbox.tag_receive` on the other side."""
        return _lunatic.send(self._node_id, self._id, _tag_value(tag), self._serializer.encode(message))

    def is_alive(self) -> bool:
        """Whether the process is still running (in the caller's runtime)."""
        return _lunatic.process_alive(self._node_id, self._id)

    def _lunatic_fields(self):
        return (self._node_id, self._id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Process):
            return NotImplemented
        return self._node_id == other._node_id and self._id == other._id

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Process):
            return NotImplemented
        return not (self._node_id == other._node_id and self._id == other._id)

    def __hash__(self) -> int:
        return hash((self._node_id, self._id))

    def __repr__(self) -> str:
        name = getattr(self._serializer, "__name__", type(self._serializer).__name__)
        return f"<lunatic.Process <{self._node_id:x}.{self._id}> serializer={name}>"

    def __str__(self) -> str:
        return f"<{self._node_id:x}.{self._id}>"

    def __reduce__(self):
        if self._serializer is Pickle:
            return (Process, (self._node_id, self._id))
        return (Process, (self._node_id, self._id, self._serializer))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("lunatic.Process is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("lunatic.Process is immutable")


class Message(NamedTuple):
    """A received message with its envelope (see :meth:`Mailbox.receive_message`)."""

    value: Any
    tag: int
    sender: Process


class Mailbox:
    """The calling process's own mailbox, read with ``serializer`` (default :class:`~lunatic.Pickle`).

    Any number of ``Mailbox`` objects in one process are views of the same
    mailbox. Every wait takes a ``timeout`` in seconds (``None`` waits
    forever, ``0`` only looks) and raises :class:`~lunatic.TimeoutError`
    when it runs out. A message that cannot be decoded is taken out of the
    mailbox and raises :class:`~lunatic.DeserializationError` (carrying the
    raw payload, tag and sender); the other messages stay queued.
    """

    __slots__ = ("_serializer",)

    def __init__(self, serializer: Any = Pickle) -> None:
        _lunatic.self_pid()  # raises NotAProcessError outside a process
        self._serializer = serializer

    @property
    def serializer(self) -> Any:
        return self._serializer

    def receive(self, timeout: Optional[float] = None) -> Any:
        """Waits for the next message and returns its value."""
        r = _lunatic.receive(None, -1 if timeout is None else _timeout_ns(timeout))
        if r is None:
            raise TimeoutError("receive timed out")
        try:
            return self._serializer.decode(r[0])
        except DeserializationError as e:
            _with_envelope(e, r, self._serializer)
            raise
        except Exception as e:  # a user serializer that raises something else
            raise _with_envelope(DeserializationError(f"{type(e).__name__}: {e}"), r, self._serializer) from e

    def tag_receive(self, tags: Union[int, Iterable[int]], timeout: Optional[float] = None) -> Any:
        """Waits for the oldest message whose tag is one of ``tags`` (selective receive); the others stay queued in order."""
        return self._next(_tag_tuple(tags), timeout).value

    def try_receive(self) -> Any:
        """The next message if one is queued; else raises :class:`~lunatic.TimeoutError` at once."""
        return self._next(None, 0).value

    def receive_message(self, timeout: Optional[float] = None, tags: Optional[Union[int, Iterable[int]]] = None) -> Message:
        """Like :meth:`receive` (or :meth:`tag_receive` with ``tags``), returning ``Message(value, tag, sender)``."""
        return self._next(None if tags is None else _tag_tuple(tags), timeout)

    def this_process(self) -> Process:
        """The handle other processes use to send to this mailbox (with this mailbox's serializer)."""
        node, id_ = _lunatic.self_pid()
        return Process(node, id_, self._serializer)

    def size(self) -> int:
        """Number of messages waiting."""
        return _lunatic.mailbox_size()

    __len__ = size

    def __repr__(self) -> str:
        name = getattr(self._serializer, "__name__", type(self._serializer).__name__)
        return f"<lunatic.Mailbox of {self.this_process()} serializer={name}>"

    def _next(self, tags: Optional[tuple], timeout: Optional[float]) -> Message:
        r = _lunatic.receive(tags, _timeout_ns(timeout))
        if r is None:
            raise TimeoutError("receive timed out" if tags is None else f"tag_receive{list(tags)} timed out")
        data, tag, _kind, sender_node, sender_id = r
        try:
            value = self._serializer.decode(data)
        except DeserializationError as e:
            _with_envelope(e, r, self._serializer)
            raise
        except Exception as e:  # a user serializer that raises something else
            raise _with_envelope(DeserializationError(f"{type(e).__name__}: {e}"), r, self._serializer) from e
        return Message(value, tag, Process(sender_node, sender_id, self._serializer))


def _with_envelope(err: DeserializationError, r: tuple, serializer: Any) -> DeserializationError:
    """err, carrying the undecodable message's envelope (payload, tag, sender)."""
    err.payload, err.tag, err.sender = r[0], r[1], Process(r[3], r[4], serializer)
    return err


def _tag_tuple(tags: Any) -> tuple:
    if isinstance(tags, int):
        return (_tag_value(tags),)
    result = tuple(_tag_value(t) for t in tags)
    if not result:
        raise ValueError("tag_receive needs at least one tag")
    return result


# ------------------------------------------------------------------ spawning

def _bootstrap(payload: bytes, spec: tuple) -> Union[None, int, str]:
    """Runs in a new Python process (called by the C entry with this process's own thread state).

    Returns None for a normal end, 1 when the process was killed, or the failure message.
    """
    fn, serializer = spec
    try:
        capture = serializer.decode(payload)
        fn(capture, Mailbox(serializer))
        return None
    except Killed:
        return 1
    except SystemExit as e:
        if e.code is None or e.code == 0:
            return None
        return f"SystemExit: {e.code}"
    except BaseException as e:  # noqa: B036 — a process's failure ends only that process
        return _report_failure(e)


def _report_failure(e: BaseException) -> str:
    try:
        node, id_ = _lunatic.self_pid()
        who = f"<{node:x}.{id_}>"
    except BaseException:
        who = "<?>"
    try:
        text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        sys.stderr.write(f"lunatic: process {who} failed with an uncaught exception:\n{text}")
        sys.stderr.flush()
    except BaseException:
        pass
    summary = f"{type(e).__name__}: {e}"
    return summary if len(summary) <= 400 else summary[:397] + "..."


def spawn(fn: Callable[[Any, Mailbox], Any], capture: Any = None, *, serializer: Any = Pickle,
          stack_size: Optional[int] = None) -> Process:
    """Spawns a process running ``fn(capture, mailbox)`` and returns its handle.

    ``capture`` is encoded with ``serializer`` here and decoded in the new
    process (processes share no memory); the child's mailbox and the returned
    handle use the same serializer. ``fn`` should be a module-level function:
    a closure would share the objects it closes over. Python processes run on
    one dedicated worker thread of the runtime, each with its own Python
    thread state and a ``stack_size``-byte stack (default 8 MiB, committed
    lazily). An exception escaping ``fn`` fails that process only: its
    traceback is printed to stderr with the process id.
    """
    if not callable(fn):
        raise TypeError(f"spawn: {fn!r} is not callable")
    payload = serializer.encode(capture)
    node, id_ = _lunatic.spawn(_bootstrap, (fn, serializer), payload, stack_size)
    return Process(node, id_, serializer)


def spawn_named(name: str, capture: Any = None, *, serializer: Any = MessagePack,
                worker: Optional[int] = None, stack_size: int = 0) -> Process:
    """Spawns the C/C++ entry registered under ``name`` (``lunatic_entry_register``).

    ``capture`` is encoded with ``serializer`` (default :class:`~lunatic.MessagePack`);
    with ``serializer=None`` it must be ``bytes`` and is passed as is. The
    returned handle sends with ``serializer`` (:class:`~lunatic.Pickle` when it is None).
    """
    if serializer is None:
        if not isinstance(capture, (bytes, bytearray, memoryview)):
            raise TypeError("spawn_named with serializer=None takes the capture as bytes")
        payload = bytes(capture)
    else:
        payload = serializer.encode(capture)
    node, id_ = _lunatic.spawn_named(name, payload, _lunatic.WORKER_ANY if worker is None else worker,
                                     stack_size)
    return Process(node, id_, serializer if serializer is not None else Pickle)


def this_process(serializer: Any = Pickle) -> Process:
    """The calling process's handle (sending with ``serializer``)."""
    node, id_ = _lunatic.self_pid()
    return Process(node, id_, serializer)


def sleep(seconds: float) -> None:
    """Suspends the calling process for ``seconds``; other processes run meanwhile."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"sleep takes a number of seconds, not {type(seconds).__name__}")
    if math.isnan(seconds) or seconds < 0:
        raise ValueError("sleep length must be non-negative")
    ns = _FOREVER_NS * 2 if seconds >= _FOREVER_NS / 1e9 else int(seconds * 1e9)
    _lunatic.sleep(ns)


def yield_() -> None:
    """Lets the other processes on this worker run (``yield`` is a keyword).

    Python processes are cooperative: a long computation that never receives,
    sleeps or yields keeps the others of its worker waiting and cannot be killed.
    """
    _lunatic.yield_()


@contextlib.contextmanager
def attached() -> Iterator[Process]:
    """Makes the calling thread a lunatic process for the ``with`` block.

    A ``threading.Thread`` is not a process: lunatic calls there raise
    :class:`~lunatic.NotAProcessError` until it is attached. Inside the block
    the thread has its own mailbox and pid; its blocking calls block the thread
    (with the GIL released). The mailbox is discarded when the block ends.
    """
    node, id_ = _lunatic.attach()
    try:
        yield Process(node, id_)
    finally:
        _lunatic.detach()
