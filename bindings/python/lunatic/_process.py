"""Processes, mailboxes, tags and the calls a process makes on itself."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
import operator
import sys
import traceback
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, Tuple, Type, Union

from . import _lunatic
from ._config import ProcessConfig, _child_stacks, _set_config_stack
from ._errors import DeserializationError, ExistsError, Killed, NameTakenError, NotAProcessError, TimeoutError
from ._serializers import MessagePack, Pickle

__all__ = [
    "Tag",
    "Process",
    "Mailbox",
    "Message",
    "ExitReason",
    "Signal",
    "LinkDied",
    "ProcessDied",
    "Timer",
    "spawn",
    "spawn_link",
    "spawn_named",
    "this_process",
    "trap_links",
    "lookup",
    "unregister",
    "registry_type",
    "sleep",
    "yield_",
    "blocking",
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

    ``n`` must be an integer (an ``int``, a ``Tag`` or any type with
    ``__index__``): a ``float``, a ``str`` or a ``bool`` raises
    :class:`TypeError` rather than being truncated or read as a number.
    """

    __slots__ = ()

    def __new__(cls, value: Optional[int] = None) -> "Tag":
        if value is None:
            value = _lunatic.tag_new()
        elif isinstance(value, bool):  # True is an int to Python, but never a meaningful tag
            raise TypeError("a tag is an int or lunatic.Tag, not bool")
        else:
            try:
                value = operator.index(value)  # int(1.5) would truncate, int("7") would parse
            except TypeError:
                raise TypeError(f"a tag is an int or lunatic.Tag, not {type(value).__name__}") from None
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


def _delay_ns(seconds: Any) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"a delay is a number of seconds, not {type(seconds).__name__}")
    if math.isnan(seconds) or seconds < 0:
        raise ValueError("a delay must be a non-negative number of seconds")
    if seconds >= _FOREVER_NS / 1e9:
        raise ValueError("a delay must be shorter than 31 years")
    return int(seconds * 1e9)


# ------------------------------------------------------------------- registry

def _serializer_name(serializer: Any) -> str:
    name = getattr(serializer, "name", None)
    if isinstance(name, str) and name:
        return name
    cls = serializer if isinstance(serializer, type) else type(serializer)
    return cls.__qualname__


def registry_type(serializer: Any = Pickle) -> str:
    """The type part of the registry key of a Python process reading ``serializer``: ``"py/<name>"``.

    ``<name>`` is the serializer's ``name`` attribute (``"pickle"``,
    ``"msgpack"``, ``"json"``; a serializer without one gets its class name),
    so ``register``/``lookup`` with the same serializer meet, and a C++
    ``Process<M, S>::lookup`` (whose key is ``"<type of M>/<S::name>"``, e.g.
    ``"i32/msgpack"``) never finds a Python process by accident: pass
    ``type="i32/msgpack"`` for that.
    """
    return "py/" + _serializer_name(serializer)


def _registry_key(serializer: Any, type: Optional[str]) -> str:
    if type is None:
        return registry_type(serializer)
    if not isinstance(type, str):
        raise TypeError(f"a registry type is a str, not {type.__class__.__name__}")
    return type


def _name_value(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a registered name is a str, not {type(name).__name__}")
    if not name:
        raise ValueError("a registered name must not be empty")
    return name


def lookup(name: str, *, serializer: Any = Pickle, type: Optional[str] = None,
           node: Any = None) -> Optional["Process"]:
    """The process registered as ``name`` with the type ``type`` (default :func:`registry_type` of
    ``serializer``), as a handle sending with ``serializer``; ``None`` if there is none.

    ``node`` (a node id or a :class:`lunatic.Node`) asks that node's registry instead,
    with the same typing rule (waits for its answer, at most 10 s; :class:`lunatic.NoNodeError`
    when it is not connected)."""
    key = _registry_key(serializer, type)
    if node is None:
        r = _lunatic.lookup(_name_value(name), key)
    else:
        from ._node import _node_id

        r = _lunatic.lookup_node(_node_id(node), _name_value(name), key)
    return None if r is None else Process(r[0], r[1], serializer)


def unregister(name: str, *, serializer: Any = Pickle, type: Optional[str] = None) -> bool:
    """Frees ``name`` (registered with that serializer or ``type``); ``False`` if it was not registered so."""
    return _lunatic.unregister(_name_value(name), _registry_key(serializer, type))


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

    # ---- timers

    def send_after(self, message: Any, seconds: float, tag: Optional[Union[Tag, int]] = None) -> "Timer":
        """Sends ``message`` (labelled ``tag``) after ``seconds``; :meth:`Timer.cancel` stops it.

        The message is encoded now. Timers due at the same instant fire in the
        order they were set; if the process is gone when the timer fires, the
        message is dropped. A process of another node raises :class:`~lunatic.NoNodeError`.
        """
        payload = self._serializer.encode(message)
        node, id_ = _lunatic.send_after(self._node_id, self._id, 0 if tag is None else _tag_value(tag),
                                        payload, _delay_ns(seconds))
        return Timer(node, id_)

    def tag_send_after(self, tag: Union[Tag, int], message: Any, seconds: float) -> "Timer":
        """:meth:`send_after` with the tag first, as :meth:`tag_send` has it."""
        return self.send_after(message, seconds, tag)

    # ---- relations (links, kill)

    def link(self, tag: Optional[Union[Tag, int]] = None) -> None:
        """Links the calling process and this one (both sides carry ``tag``).

        When either fails (an exception, a kill), the other is killed too with
        the same reason, unless it traps links (:func:`~lunatic.trap_links`,
        :meth:`Mailbox.catch_link_failure`): then it receives a
        :class:`~lunatic.LinkDied` signal instead. A normal end only removes
        the link. Linking to a process that is already gone acts as if it had
        just failed with :attr:`ExitReason.NOPROC`: an untrapped caller is
        killed (this call raises :class:`~lunatic.Killed`).
        """
        _lunatic.link(self._node_id, self._id, 0 if tag is None else _tag_value(tag))

    def unlink(self) -> None:
        """Removes the link between the calling process and this one, if any."""
        _lunatic.unlink(self._node_id, self._id)

    def kill(self) -> bool:
        """Kills the process: it gets :class:`~lunatic.Killed` at its current or next runtime call
        (a process blocked in a receive or a sleep wakes at once) and unwinds; its links and
        monitors are told (:attr:`ExitReason.KILLED`). ``False`` if the process was gone."""
        return _lunatic.kill(self._node_id, self._id)

    # ---- registry

    def register(self, name: str, type: Optional[str] = None) -> None:
        """Registers this process as ``name`` until it ends or the name is unregistered.

        The key is ``(name, type)``, ``type`` defaulting to :func:`registry_type`
        of this handle's serializer (``"py/pickle"``, ...); pass the C++ key
        (e.g. ``"i32/msgpack"``) to be found by a C++ ``Process<int32_t, MessagePack>::lookup``.
        A name taken (with that type) by another live process raises
        :class:`~lunatic.NameTakenError`: it is never replaced, unregister it
        first. Registering the same process again is a no-op; registering a
        process that is gone raises :class:`~lunatic.NoProcessError`.
        """
        try:
            _lunatic.register(_name_value(name), _registry_key(self._serializer, type), self._node_id, self._id)
        except ExistsError as e:
            raise NameTakenError(e.message, e.code) from None

    @classmethod
    def lookup(cls, name: str, serializer: Any = Pickle, type: Optional[str] = None, *,
               node: Any = None) -> Optional["Process"]:
        """The same as :func:`lunatic.lookup`."""
        return lookup(name, serializer=serializer, type=type, node=node)

    @staticmethod
    def unregister(name: str, serializer: Any = Pickle, type: Optional[str] = None) -> bool:
        """The same as :func:`lunatic.unregister`."""
        return unregister(name, serializer=serializer, type=type)

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


class ExitReason(enum.IntEnum):
    """Why a process ended, as linked and monitoring processes see it (``LUNATIC_EXIT_*``)."""

    NORMAL = _lunatic.EXIT_NORMAL                  #: its function returned (or ``SystemExit(0)``)
    FAILED = _lunatic.EXIT_FAILED                  #: an uncaught exception (or a C/C++ failure)
    KILLED = _lunatic.EXIT_KILLED                  #: :meth:`Process.kill` (or the runtime stopped)
    NOPROC = _lunatic.EXIT_NOPROC                  #: it did not exist when the link or monitor was made
    NOCONNECTION = _lunatic.EXIT_NOCONNECTION      #: its node became unreachable (nodes)
    MEMORY_LIMIT = _lunatic.EXIT_MEMORY_LIMIT      #: it went over its memory limit
    FUEL_EXHAUSTED = _lunatic.EXIT_FUEL_EXHAUSTED  #: it spent its fuel


class Signal:
    """Base of the signals a receive can return: :class:`LinkDied` and :class:`ProcessDied`."""

    __slots__ = ()


@dataclasses.dataclass(frozen=True, slots=True)
class LinkDied(Signal):
    """A linked process failed while this one traps links (``LUNATIC_MESSAGE_LINK_DIED``).

    ``tag`` is the link's tag, ``process`` the process that ended (a handle
    with the receiving mailbox's serializer), ``reason`` why, and ``text`` the
    reason as text (``"failed: ValueError: boom"``, ``"killed"``, ``"noproc"``).
    """

    tag: int
    process: Process
    reason: ExitReason
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessDied(Signal):
    """A monitored process ended, for any reason (``LUNATIC_MESSAGE_PROCESS_DIED``).

    Fields as in :class:`LinkDied`; ``tag`` is the monitor's tag (0 for
    :meth:`Mailbox.monitor`; requests monitor their server with their reply tag).
    """

    process: Process
    reason: ExitReason
    text: str
    tag: int = 0


def _exit_reason(value: int) -> Union[ExitReason, int]:
    try:
        return ExitReason(value)
    except ValueError:  # a reason newer than this package
        return value


def _signal_from(r: tuple, serializer: Any) -> Signal:
    """A LinkDied / ProcessDied from a receive result (payload = the reason's text)."""
    text = r[0].decode("utf-8", "replace")
    who = Process(r[3], r[4], serializer)
    if r[2] == _lunatic.MESSAGE_LINK_DIED:
        return LinkDied(r[1], who, _exit_reason(r[5]), text)
    return ProcessDied(who, _exit_reason(r[5]), text, r[1])


_RECEIVE_DATA = _lunatic.RECEIVE_DATA

_SignalSpec = Union[None, bool, Type[Signal], Iterable[Type[Signal]]]


def _signal_mask(signals: Any) -> int:
    """The RECEIVE_* bits for a ``signals=`` argument: a bool, a signal class, or several."""
    if signals is True:
        return _lunatic.RECEIVE_SIGNALS
    if signals is False or signals is None:
        return 0
    kinds = (signals,) if isinstance(signals, type) else signals
    try:
        kinds = tuple(kinds)
    except TypeError:
        raise TypeError("signals is a bool, lunatic.LinkDied, lunatic.ProcessDied or a tuple of them, "
                        f"not {type(signals).__name__}") from None
    mask = 0
    for kind in kinds:
        if kind is LinkDied:
            mask |= _lunatic.RECEIVE_LINK_DIED
        elif kind is ProcessDied:
            mask |= _lunatic.RECEIVE_PROCESS_DIED
        elif kind is Signal:
            mask |= _lunatic.RECEIVE_SIGNALS
        else:
            raise TypeError(f"signals: {kind!r} is not lunatic.LinkDied, lunatic.ProcessDied or lunatic.Signal")
    return mask


class Timer:
    """A message on its way after a delay (:meth:`Process.send_after`)."""

    __slots__ = ("_node_id", "_id")

    def __init__(self, node_id: int, id: int) -> None:
        _set = object.__setattr__
        _set(self, "_node_id", int(node_id))
        _set(self, "_id", int(id))

    @property
    def node_id(self) -> int:
        """The node of the target (timers act on their own node's processes)."""
        return self._node_id

    @property
    def id(self) -> int:
        return self._id

    def cancel(self) -> bool:
        """Stops the timer: ``True`` if it had not fired yet (the message is then never sent)."""
        return _lunatic.timer_cancel(self._node_id, self._id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timer):
            return NotImplemented
        return self._node_id == other._node_id and self._id == other._id

    def __hash__(self) -> int:
        return hash(("lunatic.Timer", self._node_id, self._id))

    def __repr__(self) -> str:
        return f"<lunatic.Timer {self._node_id:x}.{self._id}>"

    def __reduce__(self):
        return (Timer, (self._node_id, self._id))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("lunatic.Timer is immutable")


class Mailbox:
    """The calling process's own mailbox, read with ``serializer`` (default :class:`~lunatic.Pickle`).

    Any number of ``Mailbox`` objects in one process are views of the same
    mailbox. Every wait takes a ``timeout`` in seconds (``None`` waits
    forever, ``0`` only looks) and raises :class:`~lunatic.TimeoutError`
    when it runs out. A message that cannot be decoded is taken out of the
    mailbox and raises :class:`~lunatic.DeserializationError` (carrying the
    raw payload, tag and sender); the other messages stay queued.

    Signals (:class:`~lunatic.LinkDied`, :class:`~lunatic.ProcessDied`) wait
    in a queue of their own and are returned by a receive only when asked
    for: by the call's ``signals=`` argument (``True``, a signal class or a
    tuple of them; ``False`` leaves them queued), or else by this view's
    default, which :meth:`catch_link_failure` (``LinkDied``) and
    :meth:`monitor` (``ProcessDied``) turn on, as ``Mailbox(signals=...)``
    does. A signal that is asked for comes before any data message, however
    many of those wait.
    """

    __slots__ = ("_serializer", "_signals")

    def __init__(self, serializer: Any = Pickle, *, signals: _SignalSpec = False) -> None:
        _lunatic.self_pid()  # raises NotAProcessError outside a process
        self._serializer = serializer
        self._signals = _signal_mask(signals)

    @property
    def serializer(self) -> Any:
        return self._serializer

    @property
    def signals(self) -> Tuple[Type[Signal], ...]:
        """The signal classes this view's receives return unless told otherwise."""
        return tuple(cls for cls, bit in ((LinkDied, _lunatic.RECEIVE_LINK_DIED),
                                         (ProcessDied, _lunatic.RECEIVE_PROCESS_DIED)) if self._signals & bit)

    def _mask(self, signals: _SignalSpec) -> int:
        return _RECEIVE_DATA | (self._signals if signals is None else _signal_mask(signals))

    def receive(self, timeout: Optional[float] = None, *, signals: _SignalSpec = None) -> Any:
        """Waits for the next message and returns its value (or a signal, when asked for: see the class)."""
        r = _lunatic.receive(None, -1 if timeout is None else _timeout_ns(timeout),
                             _RECEIVE_DATA | (self._signals if signals is None else _signal_mask(signals)))
        if r is None:
            raise TimeoutError("receive timed out")
        if r[2]:
            return _signal_from(r, self._serializer)
        try:
            return self._serializer.decode(r[0])
        except DeserializationError as e:
            _with_envelope(e, r, self._serializer)
            raise
        except Exception as e:  # a user serializer that raises something else
            raise _with_envelope(DeserializationError(f"{type(e).__name__}: {e}"), r, self._serializer) from e

    def tag_receive(self, tags: Union[int, Iterable[int]], timeout: Optional[float] = None, *,
                    signals: _SignalSpec = None) -> Any:
        """Waits for the oldest message whose tag is one of ``tags`` (selective receive); the others stay queued in order.

        Tags select data messages only: a signal asked for is returned whatever its tag.
        """
        r = self._next(_tag_tuple(tags), timeout, signals)
        return r if isinstance(r, Signal) else r.value

    def try_receive(self, *, signals: _SignalSpec = None) -> Any:
        """The next message if one is queued; else raises :class:`~lunatic.TimeoutError` at once."""
        r = self._next(None, 0, signals)
        return r if isinstance(r, Signal) else r.value

    def receive_message(self, timeout: Optional[float] = None, tags: Optional[Union[int, Iterable[int]]] = None, *,
                        signals: _SignalSpec = None) -> Union[Message, Signal]:
        """Like :meth:`receive` (or :meth:`tag_receive` with ``tags``), returning ``Message(value, tag, sender)``
        (or a signal, when asked for)."""
        return self._next(None if tags is None else _tag_tuple(tags), timeout, signals)

    def receive_signal(self, timeout: Optional[float] = None, *, signals: _SignalSpec = True) -> Signal:
        """Waits for a signal only (by default either kind); data messages stay queued."""
        mask = _signal_mask(signals)
        if not mask:
            raise ValueError("receive_signal needs at least one kind of signal")
        r = _lunatic.receive(None, _timeout_ns(timeout), mask)
        if r is None:
            raise TimeoutError("receive_signal timed out")
        return _signal_from(r, self._serializer)

    # ---- relations

    def catch_link_failure(self, enable: bool = True) -> "Mailbox":
        """Traps links (:func:`~lunatic.trap_links`) and makes this view's receives return
        :class:`~lunatic.LinkDied` signals; ``enable=False`` undoes both. Returns the mailbox."""
        _lunatic.trap_links(bool(enable))
        if enable:
            self._signals |= _lunatic.RECEIVE_LINK_DIED
        else:
            self._signals &= ~_lunatic.RECEIVE_LINK_DIED
        return self

    def monitor(self, process: Process) -> None:
        """Receive one :class:`~lunatic.ProcessDied` when ``process`` ends, for any reason (at once,
        with :attr:`ExitReason.NOPROC`, if it is gone already); this view's receives return it.
        Monitoring twice is one monitor."""
        _lunatic.monitor(process.node_id, process.id)
        self._signals |= _lunatic.RECEIVE_PROCESS_DIED

    def demonitor(self, process: Process) -> None:
        """Stops monitoring ``process`` (a ProcessDied already queued stays queued)."""
        _lunatic.demonitor(process.node_id, process.id)

    def this_process(self) -> Process:
        """The handle other processes use to send to this mailbox (with this mailbox's serializer)."""
        node, id_ = _lunatic.self_pid()
        return Process(node, id_, self._serializer)

    def size(self) -> int:
        """Number of messages and signals waiting."""
        return _lunatic.mailbox_size()

    __len__ = size

    def __repr__(self) -> str:
        name = getattr(self._serializer, "__name__", type(self._serializer).__name__)
        return f"<lunatic.Mailbox of {self.this_process()} serializer={name}>"

    def _next(self, tags: Optional[tuple], timeout: Optional[float], signals: _SignalSpec) -> Union[Message, Signal]:
        r = _lunatic.receive(tags, _timeout_ns(timeout), self._mask(signals))
        if r is None:
            raise TimeoutError("receive timed out" if tags is None else f"tag_receive{list(tags)} timed out")
        if r[2]:
            return _signal_from(r, self._serializer)
        data, tag, _kind, sender_node, sender_id, _reason = r
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
    try:
        it = iter(tags)
    except TypeError:
        raise TypeError(f"tags is a tag or an iterable of tags, not {type(tags).__name__}") from None
    result = tuple(_tag_value(t) for t in it)
    if not result:
        raise ValueError("tag_receive needs at least one tag")
    return result


# ------------------------------------------------------------------ spawning

def _bootstrap(payload: bytes, spec: tuple) -> Union[None, int, str]:
    """Runs in a new Python process (called by the C entry with this process's own thread state).

    Returns None for a normal end, 1 when the process was killed, or the failure message.
    """
    fn, serializer, config_stack = spec
    try:
        _set_config_stack(config_stack)
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


def _link_arg(link: bool, link_tag: Optional[Union[Tag, int]]) -> Optional[int]:
    """The spawn's link_tag argument: None = no link."""
    if link_tag is not None:
        return _tag_value(link_tag)
    return 0 if link else None


def spawn(fn: Callable[[Any, Mailbox], Any], capture: Any = None, *, serializer: Any = Pickle,
          stack_size: Optional[int] = None, link: bool = False,
          link_tag: Optional[Union[Tag, int]] = None, protocol: Any = None,
          config: Optional[ProcessConfig] = None) -> Any:
    """Spawns a process running ``fn(capture, mailbox)`` and returns its handle.

    ``capture`` is encoded with ``serializer`` here and decoded in the new
    process (processes share no memory); the child's mailbox and the returned
    handle use the same serializer. ``fn`` should be a module-level function:
    a closure would share the objects it closes over. Python processes run on
    one dedicated worker thread of the runtime, each with its own Python
    thread state and a ``stack_size``-byte stack (default 8 MiB, committed
    lazily). An exception escaping ``fn`` fails that process only: its
    traceback is printed to stderr with the process id (and, through links,
    the processes linked to it).

    ``link=True`` (or a ``link_tag``) links the new process to the caller
    before it runs, as :func:`spawn_link` does.

    ``protocol=P`` (a session type, see :class:`lunatic.Protocol`) runs
    ``fn(capture, protocol_end)`` instead, the child's end following ``P``,
    and returns the caller's end, following ``dual(P)`` (:func:`lunatic.spawn_protocol`).

    ``config=`` (a :class:`lunatic.ProcessConfig`) sets the child's limits and
    permissions (copied now); without one the child gets the caller's config.
    The stack is ``stack_size``, else the config's ``stack_size`` (the given
    or the inherited one), else 8 MiB. A caller without ``can_spawn_processes``
    gets :class:`lunatic.PermissionError`; a stack over the config's
    ``max_memory``, :class:`lunatic.ResourceError`.
    """
    if protocol is not None:
        from ._protocol import spawn_protocol

        return spawn_protocol(fn, capture, protocol, serializer=serializer, stack_size=stack_size,
                              link=link, link_tag=link_tag, config=config)
    if not callable(fn):
        raise TypeError(f"spawn: {fn!r} is not callable")
    link_arg = _link_arg(link, link_tag)
    stack_size, config_stack = _child_stacks(config, stack_size)
    payload = serializer.encode(capture)
    node, id_ = _lunatic.spawn(_bootstrap, (fn, serializer, config_stack), payload, stack_size, link_arg,
                               None if config is None else config._config)
    return Process(node, id_, serializer)


def spawn_link(fn: Callable[[Any, Mailbox], Any], capture: Any = None, tag: Optional[Union[Tag, int]] = None, *,
               serializer: Any = Pickle, stack_size: Optional[int] = None, protocol: Any = None,
               config: Optional[ProcessConfig] = None) -> Any:
    """:func:`spawn`, linked to the caller before the new process runs (so a child
    that fails at once is still reported); the link carries ``tag`` (default 0),
    which the :class:`LinkDied` signals of this link show."""
    return spawn(fn, capture, serializer=serializer, stack_size=stack_size, link=True, link_tag=tag,
                 protocol=protocol, config=config)


def spawn_named(name: str, capture: Any = None, *, serializer: Any = MessagePack,
                worker: Optional[int] = None, stack_size: int = 0, link: bool = False,
                link_tag: Optional[Union[Tag, int]] = None, protocol: Any = None,
                config: Optional[ProcessConfig] = None) -> Any:
    """Spawns the C/C++ entry registered under ``name`` (``lunatic_entry_register``).

    ``capture`` is encoded with ``serializer`` (default :class:`~lunatic.MessagePack`);
    with ``serializer=None`` it must be ``bytes`` and is passed as is. The
    returned handle sends with ``serializer`` (:class:`~lunatic.Pickle` when it is None).
    ``link``/``link_tag`` link it to the caller before it runs, as in :func:`spawn`;
    ``config`` sets its limits and permissions (else it inherits the caller's).

    ``protocol=P``: the entry's end of a session follows ``P`` (it decodes a C++
    ``lunatic::ProtocolCapture<C>`` holding ``capture`` and builds its end with
    ``Protocol<P, S>::from_process``); returns the caller's end, ``dual(P)``.
    """
    if protocol is not None:
        from ._protocol import spawn_named_protocol

        return spawn_named_protocol(name, capture, protocol, serializer=serializer, worker=worker,
                                    stack_size=stack_size, link=link, link_tag=link_tag, config=config)
    if config is not None and not isinstance(config, ProcessConfig):
        raise TypeError(f"config is a lunatic.ProcessConfig, not {type(config).__name__}")
    link_arg = _link_arg(link, link_tag)
    if serializer is None:
        if not isinstance(capture, (bytes, bytearray, memoryview)):
            raise TypeError("spawn_named with serializer=None takes the capture as bytes")
        payload = bytes(capture)
    else:
        payload = serializer.encode(capture)
    node, id_ = _lunatic.spawn_named(name, payload, _lunatic.WORKER_ANY if worker is None else worker,
                                     stack_size, link_arg, None if config is None else config._config)
    return Process(node, id_, serializer if serializer is not None else Pickle)


def this_process(serializer: Any = Pickle) -> Process:
    """The calling process's handle (sending with ``serializer``)."""
    node, id_ = _lunatic.self_pid()
    return Process(node, id_, serializer)


def trap_links(enable: bool = True) -> None:
    """``True``: a linked process that fails sends the calling process a :class:`LinkDied`
    signal instead of killing it (read it with a receive asking for signals, e.g.
    ``Mailbox.receive(signals=True)``). :meth:`Mailbox.catch_link_failure` does the
    same and makes that mailbox view return the signals by default."""
    _lunatic.trap_links(bool(enable))


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


def blocking(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Runs ``fn(*args, **kwargs)`` on a helper thread of the runtime while the calling process
    waits, and returns its result (or raises its exception here).

    For calls that block the OS thread: file or socket I/O, ``time.sleep``, a C
    library that waits, ``subprocess.run``. Without it such a call holds the
    worker every Python process runs on, so they all wait; with it, the
    process waits like in a receive (the GIL released, no worker held) and the
    other processes run. ``fn`` runs with the GIL like any Python thread: code
    that releases the GIL (I/O, ``time.sleep``, numpy) lets the processes run
    meanwhile; pure-Python computation still takes turns with them for the GIL.

    ``fn`` runs on one of the runtime's helper threads (up to 8; more calls
    queue), each a plain thread that is no process, with a Python thread state
    of its own: lunatic calls inside ``fn`` raise :class:`lunatic.NotAProcessError`
    (return the results instead). C code that takes the GIL with
    ``PyGILState_Ensure`` (ctypes callbacks, pybind11 callbacks), which
    deadlocks inside a process, works there. The wait cannot be cut short: a
    process killed meanwhile gets :class:`lunatic.Killed` at its first lunatic
    call after ``fn`` returned, and the interpreter's exit waits for ``fn``
    (``blocking`` then raises ``Killed``). From the main thread (or an attached
    thread) ``fn`` simply runs in place.
    """
    return _lunatic.blocking(fn, args, kwargs or None)


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
