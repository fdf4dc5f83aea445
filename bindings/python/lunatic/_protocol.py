"""Session-typed protocols checked at run time (the Python side of ``lunatic::Protocol<P, S>``).

A protocol describes a conversation between two processes, step by step, from
one side's point of view::

    AddProtocol = Recv[int, Recv[int, Send[int, End]]]

    def child(capture, protocol):
        p1, a = protocol.receive(timeout=5)
        p2, b = p1.receive(timeout=5)
        p2.send(capture + a + b)

    p = lunatic.spawn(child, 1, protocol=AddProtocol)   # the parent's end: dual(AddProtocol)
    end, result = p.send(2).send(2).receive(timeout=5)  # result == 5

States (the C++ names):

``Send[T, P]``          send a T, then P                         ``send(value)``
``Recv[T, P]``          receive a T, then P                      ``receive(timeout=None)``
``Choose[P1, P2, ...]`` this side picks a branch (two or more)   ``select(i)``, ``select_left()``, ``select_right()``
``Offer[P1, P2, ...]``  the other side picks                     ``offer(timeout=None)``
``Rec[P]``              a loop: P, where ``Loop`` jumps back here (unfolded automatically)
``Loop`` (``Var[0]``)   back to the innermost enclosing ``Rec``; ``Var[1]`` the one around that
``End``                 the conversation is over

``T`` is a type the values are checked against: ``int``, ``str``, ``float``,
``bool``, ``bytes``, ``list``, ``tuple``, ``dict``, :class:`lunatic.Process`,
``list[int]`` / ``dict[str, int]`` / ``tuple[int, str]`` (elements checked too),
any other class (``isinstance``), or ``None`` / ``typing.Any`` for unchecked.

Every operation consumes the :class:`Protocol` object and returns the next
one; a wrong operation, a value of the wrong type, or an object used twice
raises :class:`ProtocolError` naming the step the protocol is at (a wrong
operation or a wrong value sends nothing and does not consume the object).

Wire format (the same as C++, so a Python process and a C++ process can hold
one session with :class:`~lunatic.MessagePack` or :class:`~lunatic.Json`):
every message of a session carries the session's tag (``lunatic_tag_new()``)
and receives take only that tag; ``Send`` is one message, the value; a choice
is one message, the branch index as an unsigned int (0 = first branch); a
spawned child's capture is ``{process: {node_id, id}, tag: i64, capture: C}``
(MessagePack: the array ``[[node_id, id], tag, capture]``).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Callable, Optional, Tuple, Union

from ._errors import DeserializationError, Error
from ._process import Mailbox, Process, Tag, _tag_value
from ._serializers import Pickle

__all__ = [
    "ProtocolError",
    "Protocol",
    "Send",
    "Recv",
    "End",
    "Choose",
    "Offer",
    "Rec",
    "Var",
    "Loop",
    "Pop",
    "dual",
    "spawn_protocol",
    "protocol_capture",
]


class ProtocolError(Error):
    """A protocol operation that does not follow the protocol: the wrong operation for the
    step, a value of the wrong type, an object used after it was consumed, or a choice
    of a branch that does not exist."""


# ------------------------------------------------------------------ states

def _type_name(t: Any) -> str:
    if t is None or t is Any:
        return "Any"
    if isinstance(t, type) and typing.get_origin(t) is None:
        return t.__qualname__
    return repr(t).replace("typing.", "")


class State:
    """Base of the protocol states (immutable, compared by structure)."""

    __slots__ = ()

    def _key(self) -> tuple:
        raise NotImplementedError

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))


def _as_state(p: Any, where: str) -> "State":
    if isinstance(p, State):
        return p
    raise TypeError(f"{where}: {p!r} is not a protocol state (Send, Recv, Choose, Offer, Rec, Loop/Var, End)")


class _EndState(State):
    __slots__ = ()

    def _key(self) -> tuple:
        return ()

    def __repr__(self) -> str:
        return "End"

    def __reduce__(self):
        return "End"


End = _EndState()


class _Msg(State):
    __slots__ = ("type", "next")

    def __init__(self, t: Any, next: Any) -> None:
        object.__setattr__(self, "type", t)
        object.__setattr__(self, "next", _as_state(next, type(self).__name__))

    def __setattr__(self, name, value):
        raise AttributeError("protocol states are immutable")

    def __class_getitem__(cls, params):
        if not isinstance(params, tuple) or len(params) != 2:
            raise TypeError(f"{cls.__name__}[T, P] takes a type and the next state")
        return cls(*params)

    def _key(self) -> tuple:
        return (self.type, self.next)

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{_type_name(self.type)}, {self.next!r}]"

    def __reduce__(self):
        return (type(self), (self.type, self.next))


class Send(_Msg):
    """``Send[T, P]``: send a T, then P."""

    __slots__ = ()


class Recv(_Msg):
    """``Recv[T, P]``: receive a T, then P."""

    __slots__ = ()


class _Branches(State):
    __slots__ = ("branches",)

    def __init__(self, *branches: Any) -> None:
        if len(branches) < 2:
            raise TypeError(f"{type(self).__name__} needs at least two branches")
        object.__setattr__(self, "branches", tuple(_as_state(b, type(self).__name__) for b in branches))

    def __setattr__(self, name, value):
        raise AttributeError("protocol states are immutable")

    def __class_getitem__(cls, params):
        return cls(*(params if isinstance(params, tuple) else (params,)))

    def _key(self) -> tuple:
        return self.branches

    def __repr__(self) -> str:
        return f"{type(self).__name__}[{', '.join(map(repr, self.branches))}]"

    def __reduce__(self):
        return (type(self), self.branches)


class Choose(_Branches):
    """``Choose[P1, P2, ...]``: this side picks a branch."""

    __slots__ = ()


class Offer(_Branches):
    """``Offer[P1, P2, ...]``: the other side picks a branch."""

    __slots__ = ()


class Rec(State):
    """``Rec[P]``: a loop; ``Loop`` inside P jumps back here."""

    __slots__ = ("body",)

    def __init__(self, body: Any) -> None:
        object.__setattr__(self, "body", _as_state(body, "Rec"))

    def __setattr__(self, name, value):
        raise AttributeError("protocol states are immutable")

    def __class_getitem__(cls, body):
        return cls(body)

    def _key(self) -> tuple:
        return (self.body,)

    def __repr__(self) -> str:
        return f"Rec[{self.body!r}]"

    def __reduce__(self):
        return (Rec, (self.body,))


class Var(State):
    """``Var[N]``: back to the N-th enclosing Rec (0 = the innermost, also called ``Loop``)."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise TypeError(f"Var[N] takes a non-negative int, not {n!r}")
        object.__setattr__(self, "n", n)

    def __setattr__(self, name, value):
        raise AttributeError("protocol states are immutable")

    def __class_getitem__(cls, n):
        return cls(n)

    def _key(self) -> tuple:
        return (self.n,)

    def __repr__(self) -> str:
        return "Loop" if self.n == 0 else f"Var[{self.n}]"

    def __reduce__(self):
        return (Var, (self.n,))


Loop = Var(0)
Pop = Loop


def dual(p: State) -> State:
    """The other side's protocol: Send <-> Recv, Choose <-> Offer."""
    p = _as_state(p, "dual")
    if isinstance(p, Send):
        return Recv(p.type, dual(p.next))
    if isinstance(p, Recv):
        return Send(p.type, dual(p.next))
    if isinstance(p, Choose):
        return Offer(*map(dual, p.branches))
    if isinstance(p, Offer):
        return Choose(*map(dual, p.branches))
    if isinstance(p, Rec):
        return Rec(dual(p.body))
    return p  # End, Var


def _validate(p: State, depth: int = 0) -> None:
    if isinstance(p, _Msg):
        _validate(p.next, depth)
    elif isinstance(p, _Branches):
        for b in p.branches:
            _validate(b, depth)
        return
    elif isinstance(p, Rec):
        head = p.body
        while isinstance(head, Rec):
            head = head.body
        if isinstance(head, Var):
            raise ProtocolError(f"protocol {p!r}: a Rec must take a step before it loops")
        _validate(p.body, depth + 1)
    elif isinstance(p, Var):
        if p.n >= depth:
            raise ProtocolError(f"protocol: {p!r} jumps back to a Rec that does not enclose it")


def _subst(p: State, k: int, rec: "Rec") -> State:
    if isinstance(p, _Msg):
        return type(p)(p.type, _subst(p.next, k, rec))
    if isinstance(p, _Branches):
        return type(p)(*(_subst(b, k, rec) for b in p.branches))
    if isinstance(p, Rec):
        return Rec(_subst(p.body, k + 1, rec))
    if isinstance(p, Var) and p.n == k:
        return rec
    return p


def _unfold(p: State) -> State:
    while isinstance(p, Rec):
        p = _subst(p.body, 0, p)
    return p


# ------------------------------------------------------------------ type checks

def _check(value: Any, t: Any) -> Tuple[bool, Any]:
    """(ok, value as the protocol type has it): ints become floats for float,
    wire handles Processes for Process, lists tuples for tuple."""
    if t is None or t is Any or t is object:
        return True, value
    origin = typing.get_origin(t)
    if origin is not None:
        args = typing.get_args(t)
        if origin is Union or origin is getattr(types, "UnionType", Union):
            for a in args:
                ok, v = _check(value, a)
                if ok:
                    return True, v
            return False, value
        if origin in (list, set, frozenset):
            if not isinstance(value, (list, tuple)):
                return False, value
            out = []
            for item in value:
                ok, v = _check(item, args[0] if args else None)
                if not ok:
                    return False, value
                out.append(v)
            return True, out
        if origin is tuple:
            if not isinstance(value, (list, tuple)):
                return False, value
            if len(args) == 2 and args[1] is Ellipsis:
                args = (args[0],) * len(value)
            if len(args) != len(value):
                return False, value
            out = []
            for item, a in zip(value, args):
                ok, v = _check(item, a)
                if not ok:
                    return False, value
                out.append(v)
            return True, tuple(out)
        if origin is dict:
            if not isinstance(value, dict):
                return False, value
            kt, vt = args if len(args) == 2 else (None, None)
            out = {}
            for k, v in value.items():
                ok_k, k2 = _check(k, kt)
                ok_v, v2 = _check(v, vt)
                if not (ok_k and ok_v):
                    return False, value
                out[k2] = v2
            return True, out
        return _check(value, origin)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, value
        return True, float(value)
    if t is bool:
        return isinstance(value, bool), value
    if t is str:
        return isinstance(value, str), value
    if t is bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return True, bytes(value)
        return False, value
    if t is list:
        return isinstance(value, (list, tuple)), list(value) if isinstance(value, (list, tuple)) else value
    if t is tuple:
        return isinstance(value, (list, tuple)), tuple(value) if isinstance(value, (list, tuple)) else value
    if t is Process:
        if isinstance(value, Process):
            return True, value
        try:
            return True, Process.from_wire(value)
        except (DeserializationError, ValueError, TypeError):
            return False, value
    if isinstance(t, type):
        return isinstance(value, t), value
    raise TypeError(f"protocol: {t!r} is not a type a protocol can check")


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


# ------------------------------------------------------------------ Protocol

_OPS = {
    Send: "send(value)",
    Recv: "receive()",
    Choose: "select(i) / select_left() / select_right()",
    Offer: "offer()",
}


class Protocol:
    """One end of a session: the peer, the session's tag and the step it is at.

    Every operation consumes the object and returns the next step's protocol
    (:meth:`receive` and :meth:`offer` return a pair). Made by :func:`spawn_protocol`
    (``lunatic.spawn(..., protocol=P)``) or :meth:`from_process`.
    """

    __slots__ = ("_peer", "_tag", "_state", "_protocol", "_consumed")

    def __init__(self, peer: Process, tag: int, protocol: State, serializer: Any = None) -> None:
        protocol = _as_state(protocol, "Protocol")
        if not isinstance(peer, Process):
            raise TypeError(f"Protocol: the peer is a lunatic.Process, not {type(peer).__name__}")
        tag = _tag_value(tag)
        if tag == 0:
            raise ValueError("Protocol: a session needs a tag (0 is no tag)")
        _validate(protocol)
        self._peer = peer if serializer is None else peer.with_serializer(serializer)
        self._tag = Tag(tag)
        self._protocol = protocol
        self._state = _unfold(protocol)
        self._consumed = False

    @classmethod
    def from_process(cls, peer: Process, tag: Union[Tag, int], protocol: State,
                     serializer: Any = None) -> "Protocol":
        """A session with ``peer`` on ``tag`` following ``protocol`` (the peer must follow
        ``dual(protocol)`` on the same tag), encoded with ``serializer`` (default: the
        handle's). Not checked against the peer: e.g. a C++ process built with
        ``Protocol<Dual<P>, S>::from_process``."""
        return cls(peer, tag, protocol, serializer)

    # ---- what it is

    @property
    def peer(self) -> Process:
        """The other end's process (sending with the session's serializer)."""
        return self._peer

    @property
    def tag(self) -> Tag:
        """The session's tag."""
        return self._tag

    @property
    def serializer(self) -> Any:
        return self._peer.serializer

    @property
    def state(self) -> State:
        """The step the protocol is at (a leading Rec unfolded)."""
        return self._state

    @property
    def consumed(self) -> bool:
        """Whether an operation took this object already."""
        return self._consumed

    def is_end(self) -> bool:
        """Whether the session is over (the state is End)."""
        return isinstance(self._state, _EndState)

    def __repr__(self) -> str:
        used = ", consumed" if self._consumed else ""
        return f"<lunatic.Protocol {self._state!r} with {self._peer} tag={int(self._tag)}{used}>"

    # ---- operations

    def _begin(self, kind: type, op: str) -> State:
        if self._consumed:
            raise ProtocolError(f"protocol used after it was consumed (at {self._state!r}): "
                                f"use the protocol the previous operation returned")
        state = self._state
        if not isinstance(state, kind):
            if isinstance(state, _EndState):
                expected = "End: the session is over, nothing is left to do"
            else:
                expected = f"{state!r}: call {_OPS[type(state)]}"
            raise ProtocolError(f"protocol: {op} where the protocol expects {expected}")
        return state

    def _next(self, state: State) -> "Protocol":
        p = Protocol.__new__(Protocol)
        p._peer = self._peer
        p._tag = self._tag
        p._protocol = state
        p._state = _unfold(state)
        p._consumed = False
        return p

    def _send_raw(self, value: Any) -> None:
        self._peer.tag_send(self._tag, value)

    def _receive_raw(self, timeout: Optional[float]) -> Any:
        mailbox = Mailbox(self._peer.serializer)
        return mailbox.tag_receive(self._tag, timeout, signals=False)

    def send(self, value: Any) -> "Protocol":
        """Sends ``value`` (checked against the T of ``Send[T, P]``); returns P's protocol."""
        state = self._begin(Send, "send()")
        ok, wire = _check(value, state.type)
        if not ok:
            raise ProtocolError(f"protocol: send({_describe(value)}) where the protocol expects "
                                f"{state!r}: a value of type {_type_name(state.type)}")
        self._consumed = True
        self._send_raw(wire)
        return self._next(state.next)

    def receive(self, timeout: Optional[float] = None) -> Tuple["Protocol", Any]:
        """Waits (at most ``timeout`` seconds) for the peer's T; returns ``(next_protocol, value)``.

        Raises :class:`~lunatic.TimeoutError` when nothing came (the object is then
        consumed: a message arriving later stays queued under the session's tag), and
        :class:`ProtocolError` when the message is not a T.
        """
        state = self._begin(Recv, "receive()")
        self._consumed = True
        value = self._receive_raw(timeout)
        ok, checked = _check(value, state.type)
        if not ok:
            raise ProtocolError(f"protocol: received {_describe(value)} where the protocol expects "
                                f"{state!r}: a value of type {_type_name(state.type)}")
        if isinstance(checked, Process):
            checked = checked.with_serializer(self._peer.serializer)
        return self._next(state.next), checked

    def select(self, i: int) -> "Protocol":
        """Picks branch ``i`` (0-based) of ``Choose[...]`` and tells the peer; returns that branch's protocol."""
        state = self._begin(Choose, f"select({i!r})")
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(state.branches):
            raise ProtocolError(f"protocol: select({i!r}) where the protocol expects {state!r}: "
                                f"a branch 0 .. {len(state.branches) - 1}")
        self._consumed = True
        self._send_raw(int(i))
        return self._next(state.branches[i])

    def _select2(self, i: int, name: str) -> "Protocol":
        state = self._begin(Choose, f"{name}()")
        if len(state.branches) != 2:
            raise ProtocolError(f"protocol: {name}() where the protocol expects {state!r}: "
                                f"select_left/select_right are for a two-way Choose, use select(i)")
        return self.select(i)

    def select_left(self) -> "Protocol":
        """``select(0)`` of a two-way ``Choose[P, Q]``."""
        return self._select2(0, "select_left")

    def select_right(self) -> "Protocol":
        """``select(1)`` of a two-way ``Choose[P, Q]``."""
        return self._select2(1, "select_right")

    def offer(self, timeout: Optional[float] = None) -> Tuple[int, "Protocol"]:
        """Waits (at most ``timeout`` seconds) for the peer's choice of ``Offer[...]``;
        returns ``(branch_index, branch_protocol)``."""
        state = self._begin(Offer, "offer()")
        self._consumed = True
        choice = self._receive_raw(timeout)
        n = len(state.branches)
        if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < n:
            raise ProtocolError(f"protocol: the peer chose branch {choice!r} of {n} at {state!r}")
        return choice, self._next(state.branches[choice])

    def close(self) -> None:
        """Checks the session is over: raises ProtocolError unless the state is End."""
        if not self.is_end():
            raise ProtocolError(f"protocol closed before End: {self._state!r}")
        self._consumed = True


# ------------------------------------------------------------------ spawning

def protocol_capture(capture: Any, tag: Union[Tag, int], process: Optional[Process] = None,
                     serializer: Any = Pickle) -> Any:
    """The value a protocol child's capture holds, ``{process, tag, capture}``, in the form
    ``serializer`` writes as C++ ``lunatic::ProtocolCapture<C>``: an object for Json, an
    array ``[process, tag, capture]`` otherwise. ``process`` defaults to the caller."""
    if process is None:
        from ._process import this_process

        process = this_process()
    tag = _tag_value(tag)
    if getattr(serializer, "name", None) == "json":
        return {"process": process, "tag": tag, "capture": capture}
    return [process, tag, capture]


def _parse_capture(value: Any, serializer: Any) -> Tuple[Process, int, Any]:
    if isinstance(value, dict) and {"process", "tag", "capture"} <= set(value):
        process, tag, capture = value["process"], value["tag"], value["capture"]
    elif isinstance(value, (list, tuple)) and len(value) == 3:
        process, tag, capture = value
    else:
        raise DeserializationError(f"not a protocol capture: {value!r}")
    return Process.from_wire(process, serializer), _tag_value(tag), capture


class _ProtocolChild:
    """The fn a protocol child runs: builds its end from the capture, then calls the user's fn."""

    __slots__ = ("fn", "protocol", "serializer")

    def __init__(self, fn: Callable[[Any, Protocol], Any], protocol: State, serializer: Any) -> None:
        self.fn, self.protocol, self.serializer = fn, protocol, serializer

    def __call__(self, wire: Any, _mailbox: Mailbox) -> Any:
        peer, tag, capture = _parse_capture(wire, self.serializer)
        return self.fn(capture, Protocol(peer, tag, self.protocol, self.serializer))


def spawn_protocol(fn: Callable[[Any, Protocol], Any], capture: Any, protocol: State, *,
                   serializer: Any = Pickle, stack_size: Optional[int] = None, link: bool = False,
                   link_tag: Optional[Union[Tag, int]] = None, config: Any = None) -> Protocol:
    """Spawns a process running ``fn(capture, protocol_end)`` where the child's end follows
    ``protocol``; returns the caller's end, which follows ``dual(protocol)``.

    The session gets a fresh tag; every message is encoded with ``serializer``.
    ``link``/``link_tag`` and ``config`` as in :func:`lunatic.spawn`.
    """
    from ._process import spawn, this_process

    protocol = _as_state(protocol, "spawn_protocol")
    _validate(protocol)
    if not callable(fn):
        raise TypeError(f"spawn: {fn!r} is not callable")
    tag = Tag()
    me = this_process(serializer)
    wire = protocol_capture(capture, tag, me, serializer)
    child = spawn(_ProtocolChild(fn, protocol, serializer), wire, serializer=serializer,
                  stack_size=stack_size, link=link, link_tag=link_tag, config=config)
    return Protocol(child, tag, dual(protocol), serializer)


def spawn_named_protocol(name: str, capture: Any, protocol: State, *, serializer: Any = None,
                         **kwargs: Any) -> Protocol:
    """Spawns the C/C++ entry ``name`` whose end follows ``protocol`` (its capture is a
    ``lunatic::ProtocolCapture<C>`` holding ``capture``); returns the caller's end,
    ``dual(protocol)``. ``serializer`` defaults to :class:`~lunatic.MessagePack`."""
    from ._process import spawn_named, this_process
    from ._serializers import MessagePack

    if serializer is None:
        serializer = MessagePack
    protocol = _as_state(protocol, "spawn_named")
    _validate(protocol)
    tag = Tag()
    wire = protocol_capture(capture, tag, this_process(serializer), serializer)
    child = spawn_named(name, wire, serializer=serializer, **kwargs)
    return Protocol(child, tag, dual(protocol), serializer)
