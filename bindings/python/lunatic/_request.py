"""Request/reply between processes: request(), Request, ReplyTo / DeferredResponse.

The Python face of include/lunatic/request.hpp. A request waits on a fresh
tag (its reply carries it) and monitors the server with that tag for its
duration (``lunatic_monitor_tag``), so one receive waits for "the reply or
the server's death" and nothing else (``LUNATIC_RECEIVE_SIGNAL_TAGS``). When
it ends, however it ends, the monitor is removed and the tag abandoned
(``lunatic_tag_discard``): a reply that arrives after the caller gave up is
freed on arrival and never shows up as a foreign message in its mailbox.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Union

from . import _lunatic
from ._errors import DeserializationError, Killed, ServerDied, TimeoutError
from ._process import ExitReason, Process, Tag, _exit_reason, _tag_value, _timeout_ns, this_process

__all__ = ["request", "Request", "ReplyTo", "DeferredResponse"]

_WAIT_MASK = _lunatic.RECEIVE_DATA | _lunatic.RECEIVE_PROCESS_DIED | _lunatic.RECEIVE_SIGNAL_TAGS


@dataclasses.dataclass(frozen=True)
class ReplyTo:
    """Where a reply goes: the requesting process and the tag it waits on.

    Picklable, so a server can hand it to another process that answers in its
    place (:func:`wire` gives the form of C++'s ``ReplyTo`` struct ``{process,
    tag}`` for MessagePack and Json). :data:`DeferredResponse` is the same class.
    """

    process: Process
    tag: int

    def send(self, response: Any) -> bool:
        """Sends the reply (encoded with ``process``'s serializer); ``False`` when the requester is
        gone. A reply to a requester that gave up is dropped when it arrives."""
        return self.process.tag_send(self.tag, response)

    def send_response(self, response: Any) -> bool:
        """lunatic's name for :meth:`send`."""
        return self.send(response)

    def with_serializer(self, serializer: Any) -> "ReplyTo":
        return ReplyTo(self.process.with_serializer(serializer), self.tag)

    def wire(self, serializer: Any) -> Any:
        """The value ``serializer`` writes as C++'s ``ReplyTo<R, S>``: ``{"process", "tag"}``
        for Json, ``[process, tag]`` otherwise."""
        if getattr(serializer, "name", None) == "json":
            return {"process": self.process, "tag": self.tag}
        return [self.process, self.tag]

    @classmethod
    def from_wire(cls, value: Any, serializer: Any = None) -> "ReplyTo":
        """A ReplyTo from its decoded MessagePack (``[process, tag]``) or Json form."""
        if isinstance(value, ReplyTo):
            return value if serializer is None else value.with_serializer(serializer)
        from ._serializers import Pickle

        serializer = Pickle if serializer is None else serializer
        if isinstance(value, dict) and {"process", "tag"} <= set(value):
            process, tag = value["process"], value["tag"]
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            process, tag = value
        else:
            raise DeserializationError(f"not a reply address: {value!r}")
        return cls(Process.from_wire(process, serializer), _tag_value(tag))


#: A reply kept for later (a deferred request handler's second argument): answer with
#: :meth:`ReplyTo.send_response`, from the server or from any process it is sent to.
DeferredResponse = ReplyTo


@dataclasses.dataclass(frozen=True)
class Request:
    """The message :func:`request` sends to a plain process: ``body`` and where to reply.

    A server written as a plain process receives it and answers with :meth:`reply`::

        def doubler(_, mailbox):
            while True:
                req = mailbox.receive()
                req.reply(req.body * 2)

        lunatic.request(lunatic.spawn(doubler), 21, timeout=5)   # 42

    With MessagePack or Json it travels as C++'s ``Request<T, R, S>`` struct
    ``{body, reply_to: {process, tag}}`` (see :meth:`wire`), so a C++ server
    answers it; :meth:`from_wire` turns the decoded form back into a Request.
    """

    body: Any
    reply_to: ReplyTo

    def reply(self, response: Any) -> bool:
        """Answers the request; ``False`` when the requester is gone."""
        return self.reply_to.send(response)

    def wire(self, serializer: Any) -> Any:
        """What :func:`request` sends with ``serializer``: this object for Pickle; C++'s
        ``Request<T, R, S>`` struct for MessagePack (``[body, [process, tag]]``) and Json
        (``{"body", "reply_to": {"process", "tag"}}``)."""
        name = getattr(serializer, "name", None)
        if name == "json":
            return {"body": self.body, "reply_to": self.reply_to.wire(serializer)}
        if name == "msgpack":
            return [self.body, self.reply_to.wire(serializer)]
        return self

    @classmethod
    def from_wire(cls, value: Any, serializer: Any = None) -> "Request":
        if isinstance(value, Request):
            return value
        if isinstance(value, dict) and {"body", "reply_to"} <= set(value):
            body, reply_to = value["body"], value["reply_to"]
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            body, reply_to = value
        else:
            raise DeserializationError(f"not a request: {value!r}")
        return cls(body, ReplyTo.from_wire(reply_to, serializer))


class _Pending:
    """One wait for a reply (or a death): the server monitored with the tag until close()."""

    __slots__ = ("server", "tag", "replied")

    def __init__(self, server: Process, tag: Optional[int] = None) -> None:
        self.server = server
        self.tag = int(Tag()) if tag is None else tag
        self.replied = False
        _lunatic.monitor_tag(server.node_id, server.id, self.tag)

    def close(self) -> None:
        # Drops the monitor and a queued ProcessDied with the tag (demonitor_tag flushes it);
        # without a reply, also one still to come (tag_discard: kept only when needed, as the
        # runtime remembers a bounded number of abandoned tags and checks them on delivery).
        # Errors are ignored: a killed caller has nothing left to clean up (and gets Killed
        # again at its next call).
        try:
            _lunatic.demonitor_tag(self.server.node_id, self.server.id, self.tag)
        except (Exception, Killed):
            pass
        if self.replied:
            return
        try:
            _lunatic.tag_discard(self.tag)
        except (Exception, Killed):
            pass

    def __enter__(self) -> "_Pending":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _next(self, timeout: Optional[float]) -> Optional[tuple]:
        return _lunatic.receive((self.tag,), _timeout_ns(timeout), _WAIT_MASK)

    def wait(self, timeout: Optional[float], what: str = "request") -> tuple:
        """The reply's receive tuple; raises ServerDied or TimeoutError."""
        r = self._next(timeout)
        if r is None:
            raise TimeoutError(f"{what} timed out: no reply in time")
        if r[2] == _lunatic.MESSAGE_DATA:
            self.replied = True
            return r
        # Signals are taken before data: a server that replied and then ended has its reply
        # queued already (it was sent first), so look for it before calling the server dead.
        reply = _lunatic.receive((self.tag,), 0, _lunatic.RECEIVE_DATA)
        if reply is not None:
            self.replied = True
            return reply
        raise self.died(r)

    def wait_death(self, timeout: Optional[float]) -> Union[ExitReason, int]:
        """How the server ended; TimeoutError if it did not in time."""
        while True:
            r = self._next(timeout)
            if r is None:
                raise TimeoutError("the server did not end in time")
            if r[2] != _lunatic.MESSAGE_DATA:
                return _exit_reason(r[5])

    def died(self, r: tuple) -> ServerDied:
        text = r[0].decode("utf-8", "replace") or "ended"
        reason = _exit_reason(r[5])
        return ServerDied(f"the server ended before replying ({text})", None,
                          self.server, reason, text)


def _decode_reply(r: tuple, serializer: Any) -> Any:
    try:
        return serializer.decode(r[0])
    except DeserializationError as e:
        e.payload, e.tag, e.sender = r[0], r[1], Process(r[3], r[4], serializer)
        raise
    except Exception as e:
        err = DeserializationError(f"{type(e).__name__}: {e}")
        err.payload, err.tag, err.sender = r[0], r[1], Process(r[3], r[4], serializer)
        raise err from e


def _send_raw(server: Process, payload: bytes) -> None:
    """Sends a request's payload (tag 0); a server that is gone is ServerDied (noproc)."""
    if not _lunatic.send(server.node_id, server.id, 0, payload):
        raise ServerDied("the server ended before replying (noproc)", None, server, ExitReason.NOPROC,
                         "noproc")


def request(process: Process, message: Any, timeout: Optional[float] = None, *,
            serializer: Any = None) -> Any:
    """Sends ``Request(message, reply_to)`` to ``process`` and returns its reply.

    Raises :class:`lunatic.ServerDied` (a :class:`~lunatic.NoProcessError`)
    when the server ends before replying, or was gone already — the caller
    monitors it for the duration, so this comes at once — and
    :class:`lunatic.TimeoutError` when no reply came within ``timeout``
    seconds (``None``: no limit, but still ends if the server dies). A reply
    that arrives later is dropped by the runtime. The request and the reply are
    encoded with ``serializer`` (default: ``process``'s). Requests to several
    servers may be outstanding at once (from several processes), each on its
    own fresh tag.
    """
    if not isinstance(process, Process):
        raise TypeError(f"request: {process!r} is not a lunatic.Process")
    serializer = process.serializer if serializer is None else serializer
    with _Pending(process) as pending:
        reply_to = ReplyTo(this_process(serializer), pending.tag)
        _send_raw(process, serializer.encode(Request(message, reply_to).wire(serializer)))
        return _decode_reply(pending.wait(timeout), serializer)
