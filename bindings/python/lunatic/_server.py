"""AbstractProcess (servers, lunatic's AbstractProcess, Erlang's gen_server) and ProcessRef.

The Python face of include/lunatic/abstract_process.hpp::

    class Counter(lunatic.AbstractProcess):
        def init(self, start):                 # runs in the new process; raising fails start()
            self.count = start

        @lunatic.handle_message
        def add(self, n: int):                 # ref.send(5): no reply
            self.count += n

        @lunatic.handle_request
        def get(self, query: Get):             # ref.request(Get()): returns the reply
            return self.count

    ref = Counter.start(10)
    ref.send(5)
    ref.request(Get(), timeout=5)              # 15
    ref.shutdown()

Handlers are picked by the type of the value sent (the annotation of the
handler's parameter, or ``@handle_message(type=T)``): the one for exactly
that type, else the only one the value is an instance of, else the
unannotated one. Wire format as in C++ (docs/wire-format.md, "Servers"):
every message is a data message with tag 0 whose payload starts with a raw
header — byte 0 the kind (0 message, 1 request, 2 shutdown), byte 1 the
handler's index (handlers in definition order, base classes first), and for a
request the reply address (node u64 LE, id u64 LE, tag i64 LE) — then the
value encoded with the class's ``serializer``. A reply is one value encoded
with that serializer in a data message with the reply tag.
"""

from __future__ import annotations

import functools
import struct
import typing
from typing import Any, Callable, List, Optional, Tuple, Type, TypeVar, Union

from . import _lunatic
from ._config import ProcessConfig
from ._errors import ExistsError, Killed, NameTakenError, ServerDied, StartFailed
from ._process import (
    ExitReason,
    LinkDied,
    Mailbox,
    Process,
    ProcessDied,
    Tag,
    _serializer_name,
    _signal_from,
    spawn,
    this_process,
)
from ._request import ReplyTo, _decode_reply, _Pending, _send_raw
from ._serializers import Pickle

__all__ = [
    "AbstractProcess",
    "ProcessRef",
    "handle_message",
    "handle_request",
    "handle_deferred_request",
]

_MESSAGE, _REQUEST, _SHUTDOWN = 0, 1, 2
_REQUEST_HEADER = struct.Struct("<BBQQq")  # kind, index, reply node, reply id, reply tag
_START_OK, _START_FAILED, _START_NAME_TAKEN = 0, 1, 2

S = TypeVar("S", bound="AbstractProcess")


# ------------------------------------------------------------------ handlers

class _Handler:
    __slots__ = ("kind", "name", "declared", "fn", "_type")

    def __init__(self, kind: str, name: str, declared: Any, fn: Callable) -> None:
        self.kind, self.name, self.declared, self.fn = kind, name, declared, fn
        self._type: Any = None

    @property
    def is_request(self) -> bool:
        return self.kind != "message"

    def type(self, owner: type) -> type:
        """The type of value this handler takes (object: any), resolved on first use."""
        if self._type is None:
            self._type = self.declared if self.declared is not None else _parameter_type(self.fn, owner)
        return self._type


def _parameter_type(fn: Callable, owner: type) -> type:
    import inspect

    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:2]  # after self
    if not params or params[0].annotation is inspect.Parameter.empty:
        return object
    try:
        hints = typing.get_type_hints(fn)
        annotation = hints.get(params[0].name, object)
    except Exception:
        annotation = params[0].annotation
    if annotation is typing.Any:
        return object
    origin = typing.get_origin(annotation)
    if origin is not None and isinstance(origin, type):
        annotation = origin  # list[int] -> list
    if not isinstance(annotation, type):
        raise TypeError(f"{owner.__qualname__}.{fn.__name__}: cannot tell the handled type from the "
                        f"annotation {annotation!r}: pass it as @handle_...(type=T)")
    return annotation


def _marker(kind: str):
    def decorator(fn: Optional[Callable] = None, *, type: Optional[type] = None):
        def mark(f: Callable) -> Callable:
            if not callable(f):
                raise TypeError(f"@handle_{kind} decorates a method, not {f!r}")
            f._lunatic_handler = (kind, type)
            return f

        return mark(fn) if fn is not None else mark

    return decorator


handle_message = _marker("message")
handle_message.__doc__ = """Marks ``def name(self, message: T)`` as the handler of messages of type T (``ref.send(m)``).

``@handle_message(type=T)`` names the type explicitly; without an annotation
the handler takes any message no other handler takes."""
handle_request = _marker("request")
handle_request.__doc__ = """Marks ``def name(self, request: T) -> reply`` as the handler of requests of type T
(``ref.request(r)``): what it returns is the reply."""
handle_deferred_request = _marker("deferred")
handle_deferred_request.__doc__ = """Marks ``def name(self, request: T, response: DeferredResponse)``: a request
answered later with ``response.send_response(reply)``, by this server or by any process the
response is sent to (it pickles)."""


def _collect_handlers(cls: type) -> List[_Handler]:
    found: dict = {}
    for klass in reversed(cls.__mro__):
        for name, attr in vars(klass).items():
            mark = getattr(attr, "_lunatic_handler", None)
            if mark is not None:
                found[name] = _Handler(mark[0], name, mark[1], attr)  # an override keeps its place
    handlers = list(found.values())
    if len(handlers) > 255:
        raise TypeError(f"{cls.__qualname__}: a server has at most 255 handlers")
    return handlers


# ------------------------------------------------------------------ ProcessRef

class ProcessRef:
    """A handle to a server of class ``server_class``: send, request, shutdown, and the relations of
    a :class:`lunatic.Process` (``link``, ``kill``, ``is_alive``, ...). Immutable, comparable,
    hashable and picklable (the class travels by reference)."""

    __slots__ = ("_cls", "_process")

    def __init__(self, server_class: Type["AbstractProcess"], process: Process) -> None:
        object.__setattr__(self, "_cls", server_class)
        object.__setattr__(self, "_process", process.with_serializer(server_class.serializer))

    @property
    def server_class(self) -> Type["AbstractProcess"]:
        return self._cls

    @property
    def process(self) -> Process:
        """The plain process handle (e.g. for ``Mailbox.monitor``)."""
        return self._process

    @property
    def node_id(self) -> int:
        return self._process.node_id

    @property
    def id(self) -> int:
        return self._process.id

    def send(self, message: Any) -> bool:
        """Sends ``message`` to the handler of its type (``@handle_message``); ``False`` when the
        server is gone. A value no handler takes raises ``TypeError`` here."""
        index = self._cls._handler_index(message, request=False)
        payload = bytes((_MESSAGE, index)) + self._cls.serializer.encode(message)
        return _lunatic.send(self._process.node_id, self._process.id, 0, payload)

    def request(self, request: Any, timeout: Optional[float] = None) -> Any:
        """Sends ``request`` to the handler of its type (``@handle_request`` or
        ``@handle_deferred_request``) and returns the reply.

        :class:`lunatic.ServerDied` when the server ends before replying (or is
        gone), :class:`lunatic.TimeoutError` after ``timeout`` seconds (a late
        reply is dropped), as :func:`lunatic.request`.
        """
        index = self._cls._handler_index(request, request=True)
        serializer = self._cls.serializer
        with _Pending(self._process) as pending:
            me = this_process()
            header = _REQUEST_HEADER.pack(_REQUEST, index, me.node_id, me.id, pending.tag)
            _send_raw(self._process, header + serializer.encode(request))
            return _decode_reply(pending.wait(timeout), serializer)

    def shutdown(self, timeout: Optional[float] = None) -> Union[ExitReason, int]:
        """Asks the server to stop: it handles what was queued before, calls ``terminate()``, and
        ends. Waits until it has ended (:class:`lunatic.TimeoutError` after ``timeout`` seconds);
        returns how it ended (``ExitReason.NOPROC`` if it was gone already)."""
        return _shutdown(self._process, timeout)

    # ---- relations, as for Process
    def link(self, tag: Optional[int] = None) -> None:
        self._process.link(tag)

    def unlink(self) -> None:
        self._process.unlink()

    def kill(self) -> bool:
        return self._process.kill()

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def register(self, name: str) -> None:
        """Registers the server as ``name`` under its class's registry type (see
        :meth:`AbstractProcess.lookup`); :class:`lunatic.NameTakenError` if taken."""
        self._process.register(name, type=self._cls.registry_type())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProcessRef):
            return NotImplemented
        return self._process == other._process

    def __hash__(self) -> int:
        return hash(self._process)

    def __repr__(self) -> str:
        return f"<lunatic.ProcessRef {self._cls.__qualname__} {self._process}>"

    def __reduce__(self):
        return (type(self), (self._cls, Process(self._process.node_id, self._process.id)))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("lunatic.ProcessRef is immutable")


def _shutdown(process: Process, timeout: Optional[float]) -> Union[ExitReason, int]:
    with _Pending(process) as pending:
        if not _lunatic.send(process.node_id, process.id, 0, bytes((_SHUTDOWN, 0))):
            return ExitReason.NOPROC
        return pending.wait_death(timeout)


# ------------------------------------------------------------------ AbstractProcess

class AbstractProcess:
    """Base class of a server: its instance is the server's state, living in its own process.

    Define (all optional):

    - ``init(self, arg)``: runs in the new process before anything is handled;
      an exception here makes ``start`` raise :class:`lunatic.StartFailed`
      with its text (the starter never waits for a server that died);
    - handlers: methods decorated with :func:`handle_message`,
      :func:`handle_request`, :func:`handle_deferred_request`;
    - ``terminate(self)``: called by ``shutdown()`` before the server ends;
    - ``handle_link_death(self, died: LinkDied)``: a linked process failed,
      after ``self.die_if_link_dies(False)`` in ``init`` (by default a failing
      link kills the server too, as it does any process);
    - ``handle_process_died(self, died: ProcessDied)``: a process the server
      monitors ended;
    - class attribute ``serializer`` (default :class:`lunatic.Pickle`) for the
      argument, messages and replies; ``type_name`` for the registry key.

    An exception escaping a handler fails the server (as in Erlang): its links
    and monitors hear it, and requests waiting on it get :class:`lunatic.ServerDied`.
    """

    serializer: Any = Pickle
    _lunatic_handlers: List[_Handler] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._lunatic_handlers = _collect_handlers(cls)

    # ---- what a server may define
    def init(self, arg: Any) -> None:
        """Builds the state (default: nothing)."""

    def terminate(self) -> None:
        """Called by ``shutdown()`` before the server ends (default: nothing)."""

    def handle_link_death(self, died: LinkDied) -> None:
        """A linked process failed, while ``die_if_link_dies(False)`` (default: ignored)."""

    def handle_process_died(self, died: ProcessDied) -> None:
        """A process this server monitors ended (default: ignored)."""

    # ---- what a server may call on itself
    def die_if_link_dies(self, die: bool) -> None:
        """``False``: a failing linked process becomes a :meth:`handle_link_death` call instead
        of killing this server (it traps links)."""
        _lunatic.trap_links(not die)

    def this_process(self) -> "ProcessRef":
        """This server's own ref."""
        return self.ref_class(type(self), this_process())

    #: The ref type start() returns (a subclass may add methods, as Supervisor does).
    ref_class: Type[ProcessRef] = ProcessRef

    # ---- starting
    @classmethod
    def start(cls: Type[S], arg: Any = None, *, link: bool = False, link_tag: Optional[int] = None,
              config: Optional[ProcessConfig] = None) -> ProcessRef:
        """Starts a server: spawns it, runs ``init(arg)`` there, and returns its ref once
        ``init`` returned. :class:`lunatic.StartFailed` if ``init`` raised or the server ended
        during it. ``link``/``link_tag`` link it to the caller before ``init`` runs;
        ``config`` as in :func:`lunatic.spawn`. ``arg`` is encoded with ``serializer``."""
        return _start(cls, arg, None, link, link_tag, config)

    @classmethod
    def start_link(cls: Type[S], arg: Any = None, tag: Optional[int] = None, *,
                   config: Optional[ProcessConfig] = None) -> ProcessRef:
        """:meth:`start`, linked to the caller (the link carries ``tag``)."""
        return _start(cls, arg, None, True, tag, config)

    @classmethod
    def start_as(cls: Type[S], name: str, arg: Any = None, *, link: bool = False,
                 link_tag: Optional[int] = None, config: Optional[ProcessConfig] = None) -> ProcessRef:
        """Get-or-start under ``name``: the server of this class registered as ``name`` if there
        is one, else a new one registered as ``name`` before its ``init`` runs — atomically: of
        two racing starters, one starts the server and both get it (as C++'s ``start_as``; its
        ``start_as_new`` raises ``NameTaken`` instead). If ``init`` fails, the name is freed and
        :class:`lunatic.StartFailed` raised."""
        if not isinstance(name, str) or not name:
            raise TypeError("start_as: a name is a non-empty str")
        found = cls.lookup(name)
        if found is not None:
            return found
        return _start(cls, arg, name, link, link_tag, config)

    @classmethod
    def registry_type(cls) -> str:
        """The type part of this class's registry key: ``"ProcessRef<Name>/<serializer>"``, as C++
        writes it (``Name`` is the class attribute ``type_name``, default the class's name)."""
        name = cls.__dict__.get("type_name") or cls.__qualname__
        return f"ProcessRef<{name}>/{_serializer_name(cls.serializer)}"

    @classmethod
    def lookup(cls, name: str) -> Optional[ProcessRef]:
        """The server of this class registered as ``name``, or ``None``."""
        found = _lunatic.lookup(name, cls.registry_type())
        return None if found is None else cls.ref_class(cls, Process(found[0], found[1]))

    # ---- internals
    @classmethod
    def _handler_index(cls, value: Any, request: bool) -> int:
        handlers = cls._lunatic_handlers
        exact, instances, catch_all = [], [], []
        for i, h in enumerate(handlers):
            if h.is_request != request:
                continue
            t = h.type(cls)
            if t is object:
                catch_all.append(i)
            elif type(value) is t:
                exact.append(i)
            elif isinstance(value, t):
                instances.append(i)
        for found in (exact, instances, catch_all):
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                names = ", ".join(handlers[i].name for i in found)
                raise TypeError(f"{cls.__qualname__}: a {type(value).__name__} matches several "
                                f"{'request' if request else 'message'} handlers ({names})")
        what = "request" if request else "message"
        raise TypeError(f"{cls.__qualname__} has no {what} handler for {type(value).__name__} "
                        f"(add a method decorated with @lunatic.handle_{what})")

    def _serve(self) -> None:
        cls = type(self)
        handlers = cls._lunatic_handlers
        serializer = cls.serializer
        while True:
            r = _lunatic.receive(None, -1, _lunatic.RECEIVE_ALL)
            payload, kind = r[0], r[2]
            if kind:
                signal = _signal_from(r, serializer)
                if isinstance(signal, LinkDied):
                    self.handle_link_death(signal)
                else:
                    self.handle_process_died(signal)
                continue
            if len(payload) < 2:
                continue  # not a server message: dropped
            what, index = payload[0], payload[1]
            if what == _SHUTDOWN:
                self.terminate()
                return
            body_at = 2
            reply_to = None
            if what == _REQUEST:
                if len(payload) < _REQUEST_HEADER.size:
                    continue
                _, _, node, id_, tag = _REQUEST_HEADER.unpack_from(payload)
                reply_to = ReplyTo(Process(node, id_, serializer), tag)
                body_at = _REQUEST_HEADER.size
            elif what != _MESSAGE:
                continue
            if index >= len(handlers) or handlers[index].is_request != (what == _REQUEST):
                continue
            handler = handlers[index]
            try:
                body = serializer.decode(payload[body_at:])
            except Exception:
                continue  # a body that does not decode is dropped (a request then times out)
            method = getattr(self, handler.name)
            if handler.kind == "message":
                method(body)
            elif handler.kind == "request":
                reply_to.send(method(body))
            else:
                method(body, reply_to)


def _start(cls: Type[AbstractProcess], arg: Any, name: Optional[str], link: bool, link_tag: Optional[int],
           config: Optional[ProcessConfig], strict: bool = False) -> ProcessRef:
    """Spawns a server and waits for its init. With a name: registered before init; if the
    name is taken, the holder's ref (strict: NameTakenError)."""
    if not (isinstance(cls, type) and issubclass(cls, AbstractProcess)):
        raise TypeError(f"{cls!r} is not a lunatic.AbstractProcess subclass")
    me = this_process()
    init_tag = int(Tag())
    capture = (me.node_id, me.id, init_tag, name, arg)
    child = spawn(functools.partial(_server_entry, cls), capture, serializer=cls.serializer, link=link,
                  link_tag=link_tag, config=config)
    with _Pending(child, init_tag) as pending:
        try:
            r = pending.wait(None, "start")
        except ServerDied as e:
            raise StartFailed(f"{cls.__qualname__} ended during init ({e.text})") from None
        status, text, holder = cls.serializer.decode(r[0])
    if status == _START_OK:
        return cls.ref_class(cls, child)
    if status == _START_NAME_TAKEN:
        holder = Process.from_wire(holder)
        if strict:
            raise NameTakenError(f"the name {name!r} is taken by {holder}")
        return cls.ref_class(cls, holder)
    raise StartFailed(f"{cls.__qualname__}.init failed: {text}")


def _register_or_find(name: str, type_: str, me: Process) -> Optional[Tuple[int, int]]:
    """Registers me as name, or returns who holds it."""
    while True:
        try:
            _lunatic.register(name, type_, me.node_id, me.id)
            return None
        except ExistsError:
            holder = _lunatic.lookup(name, type_)
            if holder is not None:
                return holder
            # The holder ended between the two calls: the name is free again.


def _server_entry(cls: Type[AbstractProcess], capture: Any, mailbox: Mailbox) -> None:
    starter_node, starter_id, init_tag, name, arg = capture
    serializer = cls.serializer
    me = this_process()

    def report(status: int, text: str = "", holder: Tuple[int, int] = (0, 0)) -> None:
        _lunatic.send(starter_node, starter_id, init_tag, serializer.encode((status, text, list(holder))))

    if name is not None:
        holder = _register_or_find(name, cls.registry_type(), me)
        if holder is not None:
            report(_START_NAME_TAKEN, "", holder)
            return
    state = cls.__new__(cls)
    try:
        state.init(arg)
    except Killed:
        raise
    except BaseException as e:  # noqa: B036 — init's failure goes back to the starter
        if name is not None:
            _lunatic.unregister(name, cls.registry_type())
        summary = f"{type(e).__name__}: {e}"
        report(_START_FAILED, summary if len(summary) <= 400 else summary[:397] + "...")
        return  # a normal end: a linked starter learns from the reply, it is not killed
    report(_START_OK)
    state._serve()
