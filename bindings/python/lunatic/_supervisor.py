"""Supervisor: starts servers (AbstractProcess classes), watches them, restarts them.

The Python face of include/lunatic/supervisor.hpp::

    sup = lunatic.Supervisor.start(lunatic.SupervisorSpec(
        strategy=lunatic.Strategy.ONE_FOR_ALL,
        intensity=(3, 5.0),                               # at most 3 restarts in 5 s
        children=[lunatic.ChildSpec(Counter, 0, name="counter"),
                  lunatic.ChildSpec(Logger, restart=lunatic.Restart.TRANSIENT)]))
    counter = Counter.lookup("counter")                   # found again after a restart
    sup.start_child(lunatic.ChildSpec(Worker, 7, id="worker"))
    sup.terminate_child("worker")
    sup.shutdown()                                        # children stop in reverse order
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type

from . import _lunatic
from ._config import ProcessConfig
from ._errors import Error, NameTakenError, StartFailed, TimeoutError
from ._process import ExitReason, LinkDied, ProcessDied, Tag
from ._request import _Pending
from ._server import _SHUTDOWN, AbstractProcess, ProcessRef, _start, handle_request

__all__ = ["Supervisor", "SupervisorRef", "SupervisorSpec", "ChildSpec", "Strategy", "Restart"]


class Strategy(enum.IntEnum):
    """Which children restart with one that ended (values as in C++)."""

    ONE_FOR_ONE = 0   #: just it
    ONE_FOR_ALL = 1   #: all: the others are shut down in reverse order, then all start again in order
    REST_FOR_ONE = 2  #: it and those started after it, likewise


class Restart(enum.IntEnum):
    """When a child that ended is restarted (values as in C++)."""

    PERMANENT = 0  #: always
    TRANSIENT = 1  #: only after a failure, not after a normal end
    TEMPORARY = 2  #: never; it is removed


@dataclasses.dataclass(frozen=True)
class ChildSpec:
    """A child of a supervisor: ``server_class.start(arg)`` under ``name`` (registered on every
    start) and ``config``; ``id`` names it for :meth:`SupervisorRef.terminate_child` (default: the
    name, else the class's name); ``shutdown`` is how long it gets to stop before it is killed."""

    server_class: Type[AbstractProcess]
    arg: Any = None
    name: Optional[str] = None
    id: Optional[str] = None
    restart: Restart = Restart.PERMANENT
    shutdown: float = 5.0
    config: Optional[ProcessConfig] = None

    def __post_init__(self) -> None:
        if not (isinstance(self.server_class, type) and issubclass(self.server_class, AbstractProcess)):
            raise TypeError(f"ChildSpec: {self.server_class!r} is not a lunatic.AbstractProcess subclass")
        object.__setattr__(self, "restart", Restart(self.restart))
        if self.id is None:
            object.__setattr__(self, "id", self.name if self.name is not None else self.server_class.__qualname__)


@dataclasses.dataclass(frozen=True)
class SupervisorSpec:
    """What a supervisor does: its strategy, its restart intensity — at most ``intensity[0]``
    restarts within ``intensity[1]`` seconds, else it shuts its children down and fails (default
    Erlang's: 1 in 5 s) — and its children, in start order."""

    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: Tuple[int, float] = (1, 5.0)
    children: Sequence[ChildSpec] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        object.__setattr__(self, "children", tuple(self.children))
        max_restarts, period = self.intensity
        if max_restarts < 0 or period <= 0:
            raise ValueError("intensity is (max_restarts >= 0, period_seconds > 0)")
        ids = [c.id for c in self.children]
        if len(set(ids)) != len(ids):
            raise ValueError(f"SupervisorSpec: child ids must be unique: {ids}")


# Requests a SupervisorRef makes.
@dataclasses.dataclass(frozen=True)
class _StartChild:
    spec: ChildSpec


@dataclasses.dataclass(frozen=True)
class _TerminateChild:
    id: Any


@dataclasses.dataclass(frozen=True)
class _WhichChildren:
    pass


class SupervisorRef(ProcessRef):
    """A :class:`ProcessRef` to a supervisor, with its dynamic calls."""

    __slots__ = ()

    def start_child(self, spec: ChildSpec, timeout: Optional[float] = None) -> ProcessRef:
        """Starts a child (after the others) and returns its ref; :class:`lunatic.StartFailed`
        if it did not start (its id taken, its init failed)."""
        status, value = self.request(_StartChild(spec), timeout)
        if status != "ok":
            raise StartFailed(value)
        return value

    def terminate_child(self, id: Any, timeout: Optional[float] = None) -> bool:
        """Shuts a child down (by id, name or ref) and forgets it; ``False`` if there is none."""
        if isinstance(id, ProcessRef):
            id = id.process
        return self.request(_TerminateChild(id), timeout)

    def which_children(self, timeout: Optional[float] = None) -> List[Tuple[Any, Optional[ProcessRef]]]:
        """``[(id, ref or None when not running), ...]`` in start order."""
        return self.request(_WhichChildren(), timeout)


class _Child:
    __slots__ = ("spec", "ref", "tag")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.ref: Optional[ProcessRef] = None
        self.tag = 0  # of its link and monitor while it runs


class IntensityReached(Error):
    """The supervisor's children restarted more often than its intensity allows."""


class Supervisor(AbstractProcess):
    """A server that starts children (:class:`AbstractProcess` classes) in order, each linked to
    it and monitored, and restarts them by their restart type and its strategy.

    ``Supervisor.start(SupervisorSpec(...))`` (or ``start_link`` / ``start_as``) returns a
    :class:`SupervisorRef`; if a child fails to start, the children started so far are shut
    down and ``start`` raises :class:`lunatic.StartFailed`. A named child registers its name
    when it starts and again after every restart. More restarts than the intensity allows
    shut the children down (reverse order) and fail the supervisor ("restart intensity
    reached"), so a child crashing in a loop escalates to the supervisor's links. A failing
    link that is not a child's (e.g. the process that started it linked) fails it too, after
    it shut its children down. ``shutdown()`` stops the children in reverse order.
    Subclass it to override ``init(arg)`` (call ``super().init(spec)``).
    """

    ref_class = SupervisorRef

    def init(self, spec: SupervisorSpec) -> None:
        if not isinstance(spec, SupervisorSpec):
            raise TypeError(f"Supervisor.start takes a lunatic.SupervisorSpec, not {type(spec).__name__}")
        self.die_if_link_dies(False)
        self._strategy = spec.strategy
        self._max_restarts, self._period = spec.intensity
        self._children: List[_Child] = [_Child(c) for c in spec.children]
        # Running children by the tag of their link and monitor (a fresh one per start), so
        # their signals are told from others' and from those of their earlier incarnations.
        self._by_tag: Dict[int, _Child] = {}
        self._restarts: collections.deque = collections.deque()
        for child in self._children:
            try:
                self._start_child(child)
            except BaseException:
                self._stop_all()
                raise

    # ---- starting and stopping children

    def _start_child(self, child: _Child) -> ProcessRef:
        spec = child.spec
        tag = int(Tag())
        try:
            ref = _start(spec.server_class, spec.arg, spec.name, True, tag, spec.config, strict=True)
        except NameTakenError as e:
            raise StartFailed(f"child {spec.id!r}: {e}") from None
        _lunatic.monitor_tag(ref.node_id, ref.id, tag)
        child.ref, child.tag = ref, tag
        self._by_tag[tag] = child
        return ref

    def _retire(self, child: _Child) -> None:
        """Forgets a child's tag: its monitor ends and the signals queued with the tag are freed
        (tag_discard). No LinkDied of it comes later: one that ended on its own sent it before its
        ProcessDied (links are told first); one being stopped is unlinked first."""
        self._by_tag.pop(child.tag, None)
        ref = child.ref
        child.ref = None
        try:
            _lunatic.demonitor_tag(ref.node_id, ref.id, child.tag)
            _lunatic.tag_discard(child.tag)
        except Error:
            pass

    def _stop_child(self, child: _Child) -> None:
        """Shuts a running child down and waits until it has ended (killed after its shutdown
        timeout)."""
        if child.ref is None:
            return
        process = child.ref.process
        try:
            _lunatic.unlink(process.node_id, process.id)
        except Error:
            pass
        self._retire(child)
        with _Pending(process) as pending:
            if not _lunatic.send(process.node_id, process.id, 0, bytes((_SHUTDOWN, 0))):
                return
            try:
                pending.wait_death(child.spec.shutdown)
            except TimeoutError:
                process.kill()
                pending.wait_death(None)

    def _stop_all(self) -> None:
        for child in reversed(self._children):
            self._stop_child(child)

    def terminate(self) -> None:
        self._stop_all()

    # ---- restarts

    def _count_restart(self) -> None:
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] > self._period:
            self._restarts.popleft()
        if len(self._restarts) > self._max_restarts:
            self._stop_all()
            raise IntensityReached(f"restart intensity reached: more than {self._max_restarts} restarts "
                                   f"in {self._period:g} s")

    def handle_process_died(self, died: ProcessDied) -> None:
        child = self._by_tag.get(died.tag)
        if child is None:
            return  # a child stopped on purpose, or not ours
        self._retire(child)
        restart = child.spec.restart
        if restart == Restart.TEMPORARY:
            self._children.remove(child)
            return
        if restart == Restart.TRANSIENT and died.reason == ExitReason.NORMAL:
            return
        self._restart(child)

    def _restart(self, child: _Child) -> None:
        i = self._children.index(child)
        if self._strategy == Strategy.ONE_FOR_ONE:
            group = [child]
        elif self._strategy == Strategy.ONE_FOR_ALL:
            group = list(self._children)
        else:
            group = self._children[i:]
        self._count_restart()
        for other in reversed(group):
            if other is not child:
                self._stop_child(other)
        for other in group:
            if other is not child and other.spec.restart == Restart.TEMPORARY:
                self._children.remove(other)  # stopped by a sibling's restart: not started again
                continue
            while True:
                try:
                    self._start_child(other)
                    break
                except StartFailed:
                    self._count_restart()  # a start that fails is a restart that failed

    def handle_link_death(self, died: LinkDied) -> None:
        if died.tag in self._by_tag:
            return  # a child's failure: its ProcessDied decides
        self._stop_all()
        raise Error(f"linked process {died.process} failed: {died.text}")

    # ---- dynamic children

    @handle_request
    def _start_child_request(self, request: _StartChild):
        spec = request.spec
        if any(c.spec.id == spec.id for c in self._children):
            return ("error", f"a child with id {spec.id!r} exists already")
        child = _Child(spec)
        try:
            ref = self._start_child(child)
        except StartFailed as e:
            return ("error", str(e))
        self._children.append(child)
        return ("ok", ref)

    @handle_request
    def _terminate_child_request(self, request: _TerminateChild) -> bool:
        for child in self._children:
            if request.id == child.spec.id or (child.ref is not None and request.id == child.ref.process):
                self._stop_child(child)
                self._children.remove(child)
                return True
        return False

    @handle_request
    def _which_children_request(self, request: _WhichChildren):
        return [(c.spec.id, c.ref) for c in self._children]
