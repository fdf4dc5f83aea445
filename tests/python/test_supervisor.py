"""lunatic.Supervisor from Python (issue 11).

The children report their starts and stops to the main thread (tag EVENTS),
so the tests check which children restart, and in which order.
"""

import dataclasses
import time

import pytest

import lunatic
from lunatic import ChildSpec, ExitReason, Restart, Strategy, SupervisorSpec

TIMEOUT = 10.0
EVENTS = 60


@dataclasses.dataclass
class Get:
    pass


@dataclasses.dataclass
class Crash:
    pass


@dataclasses.dataclass
class Stop:
    pass


class Child(lunatic.AbstractProcess):
    """Reports ("start", id) from init and ("stop", id) from terminate to its observer."""

    def init(self, arg):
        self.observer, self.id = arg[0], arg[1]
        if len(arg) > 2 and arg[2] == "fail init":
            raise RuntimeError(f"{self.id} cannot start")
        self.observer.tag_send(EVENTS, ("start", self.id))
        if len(arg) > 2 and arg[2] == "crash at once":
            self.this_process().send(Crash())

    @lunatic.handle_request
    def get(self, query: Get):
        return self.id

    @lunatic.handle_message
    def crash(self, message: Crash):
        raise RuntimeError(f"{self.id} crashed")

    @lunatic.handle_message
    def stop(self, message: Stop):
        raise SystemExit(0)  # a normal end

    def terminate(self):
        self.observer.tag_send(EVENTS, ("stop", self.id))


def child(id, *extra, **options):
    return ChildSpec(Child, (lunatic.this_process(), id, *extra), id=id, **options)


def events(mailbox, n):
    return [mailbox.tag_receive(EVENTS, timeout=TIMEOUT) for _ in range(n)]


def no_more_events(mailbox, settle=0.3):
    lunatic.sleep(settle)
    left = []
    while True:
        try:
            left.append(mailbox.tag_receive(EVENTS, timeout=0))
        except lunatic.TimeoutError:
            break
    assert not left, f"unexpected events: {left}"


def refs(sup):
    return dict(sup.which_children(timeout=TIMEOUT))


def kill_and_wait(ref):
    assert ref.kill()
    while ref.is_alive():
        lunatic.sleep(0.001)


def test_children_start_in_order_and_stop_in_reverse_order(mailbox):
    sup = lunatic.Supervisor.start(SupervisorSpec(children=[child("a"), child("b"), child("c")]))
    assert isinstance(sup, lunatic.SupervisorRef)
    assert events(mailbox, 3) == [("start", "a"), ("start", "b"), ("start", "c")]
    children = refs(sup)
    assert list(children) == ["a", "b", "c"]
    assert [children[k].request(Get(), timeout=TIMEOUT) for k in "abc"] == ["a", "b", "c"]
    assert sup.shutdown(timeout=TIMEOUT) is ExitReason.NORMAL
    assert events(mailbox, 3) == [("stop", "c"), ("stop", "b"), ("stop", "a")]
    assert not any(r.is_alive() for r in children.values())
    no_more_events(mailbox, 0)


def test_children_are_linked_to_their_supervisor(mailbox):
    sup = lunatic.Supervisor.start(SupervisorSpec(children=[child("a"), child("b")]))
    events(mailbox, 2)
    children = refs(sup)
    kill_and_wait(sup)
    for r in children.values():
        for _ in range(2000):
            if not r.is_alive():
                break
            lunatic.sleep(0.005)
        assert not r.is_alive()
    no_more_events(mailbox, 0)  # killed with their supervisor: no terminate


@pytest.mark.parametrize("strategy, expected, kept", [
    (Strategy.ONE_FOR_ONE, [("start", "b")], "acd"),
    (Strategy.ONE_FOR_ALL, [("stop", "d"), ("stop", "c"), ("stop", "a"),
                            ("start", "a"), ("start", "b"), ("start", "c"), ("start", "d")], ""),
    (Strategy.REST_FOR_ONE, [("stop", "d"), ("stop", "c"), ("start", "b"), ("start", "c"), ("start", "d")], "a"),
])
def test_strategies_restart_exactly_the_right_children_in_order(mailbox, strategy, expected, kept):
    sup = lunatic.Supervisor.start(SupervisorSpec(strategy=strategy, intensity=(5, 5.0),
                                                  children=[child(k) for k in "abcd"]))
    events(mailbox, 4)
    before = refs(sup)
    kill_and_wait(before["b"])
    assert events(mailbox, len(expected)) == expected
    no_more_events(mailbox)
    after = refs(sup)
    for k in "abcd":
        assert (after[k] == before[k]) == (k in kept), k
        assert after[k].request(Get(), timeout=TIMEOUT) == k
    sup.shutdown(timeout=TIMEOUT)
    events(mailbox, 4)


def test_named_children_are_registered_again_after_a_restart(mailbox):
    sup = lunatic.Supervisor.start(SupervisorSpec(children=[child("n", name="sup-named-child")]))
    events(mailbox, 1)
    first = Child.lookup("sup-named-child")
    assert first is not None and first == refs(sup)["n"]
    first.send(Crash())
    assert events(mailbox, 1) == [("start", "n")]
    second = Child.lookup("sup-named-child")
    assert second is not None and second != first
    assert second.request(Get(), timeout=TIMEOUT) == "n"
    sup.shutdown(timeout=TIMEOUT)
    events(mailbox, 1)
    assert Child.lookup("sup-named-child") is None


def watch_supervisor(spec, mailbox):
    parent, supervisor_spec = spec
    mailbox.catch_link_failure()
    sup = lunatic.Supervisor.start_link(supervisor_spec, tag=3)
    died = mailbox.receive(timeout=TIMEOUT)
    parent.send(("died", died.process == sup.process, died.tag, died.reason, died.text))


def test_a_child_crashing_in_a_loop_trips_the_restart_intensity(mailbox):
    spec = SupervisorSpec(intensity=(3, 10.0), children=[child("ok"), child("loop", "crash at once")])
    start = time.monotonic()
    lunatic.spawn(watch_supervisor, (lunatic.this_process(), spec))
    kind, is_sup, tag, reason, text = mailbox.tag_receive(0, timeout=TIMEOUT)
    # The supervisor failed, and its link (the process that started it) heard why.
    assert (kind, is_sup, tag, reason) == ("died", True, 3, ExitReason.FAILED)
    assert "restart intensity reached" in text
    assert time.monotonic() - start < TIMEOUT
    got = events(mailbox, 6)
    # The first start of both, three restarts of the crashing one, then the healthy one is shut down.
    assert got == [("start", "ok"), ("start", "loop"), ("start", "loop"), ("start", "loop"),
                   ("start", "loop"), ("stop", "ok")], got
    no_more_events(mailbox)


def test_restart_types(mailbox):
    sup = lunatic.Supervisor.start(SupervisorSpec(intensity=(10, 5.0), children=[
        child("perm"), child("trans", restart=Restart.TRANSIENT), child("temp", restart=Restart.TEMPORARY)]))
    events(mailbox, 3)
    before = refs(sup)
    # A normal end: permanent restarts, transient and temporary do not.
    for k in ("perm", "trans"):
        before[k].send(Stop())
    assert events(mailbox, 1) == [("start", "perm")]
    # A failure: transient restarts, temporary is removed.
    kill_and_wait(before["temp"])
    no_more_events(mailbox)
    now = refs(sup)
    assert list(now) == ["perm", "trans"] and now["trans"] is None
    sup.start_child(child("trans2", restart=Restart.TRANSIENT))
    assert events(mailbox, 1) == [("start", "trans2")]
    refs(sup)["trans2"].send(Crash())
    assert events(mailbox, 1) == [("start", "trans2")]
    sup.shutdown(timeout=TIMEOUT)
    assert events(mailbox, 2) == [("stop", "trans2"), ("stop", "perm")]


def test_dynamic_children(mailbox):
    sup = lunatic.Supervisor.start(SupervisorSpec(children=[child("a")]))
    events(mailbox, 1)
    ref = sup.start_child(child("b", name="sup-dynamic-b"))
    assert events(mailbox, 1) == [("start", "b")]
    assert ref.request(Get(), timeout=TIMEOUT) == "b"
    assert Child.lookup("sup-dynamic-b") == ref
    with pytest.raises(lunatic.StartFailed, match="exists already"):
        sup.start_child(child("b"))
    with pytest.raises(lunatic.StartFailed, match="cannot start"):
        sup.start_child(child("c", "fail init"))
    assert list(refs(sup)) == ["a", "b"]
    assert sup.terminate_child("b") is True
    assert events(mailbox, 1) == [("stop", "b")]
    assert not ref.is_alive()
    assert sup.terminate_child("b") is False
    assert list(refs(sup)) == ["a"]
    # A config travels with a dynamic child's spec (as its values).
    limited = sup.start_child(child("d", config=lunatic.ProcessConfig(stack_size=1 << 20)))
    assert events(mailbox, 1) == [("start", "d")]
    assert limited.request(Get(), timeout=TIMEOUT) == "d"
    sup.shutdown(timeout=TIMEOUT)
    assert events(mailbox, 2) == [("stop", "d"), ("stop", "a")]


def test_a_child_that_fails_to_start_fails_the_supervisor_start(mailbox):
    with pytest.raises(lunatic.StartFailed, match="c cannot start"):
        lunatic.Supervisor.start(SupervisorSpec(children=[child("a"), child("b"), child("c", "fail init")]))
    assert events(mailbox, 4) == [("start", "a"), ("start", "b"), ("stop", "b"), ("stop", "a")]
    no_more_events(mailbox, 0.1)


def test_a_nested_supervisor_and_start_as(mailbox):
    inner = SupervisorSpec(children=[child("x")])
    outer = lunatic.Supervisor.start_as("sup-outer", SupervisorSpec(
        strategy=Strategy.ONE_FOR_ALL, intensity=(3, 5.0),
        children=[ChildSpec(lunatic.Supervisor, inner, id="inner"), child("y")]))
    assert events(mailbox, 2) == [("start", "x"), ("start", "y")]
    assert lunatic.Supervisor.start_as("sup-outer", SupervisorSpec()) == outer
    inner_ref = refs(outer)["inner"]
    assert isinstance(inner_ref, lunatic.SupervisorRef)
    kill_and_wait(refs(outer)["y"])  # one_for_all: the inner supervisor (and its child) restart
    assert events(mailbox, 3) == [("stop", "x"), ("start", "x"), ("start", "y")]
    assert refs(outer)["inner"] != inner_ref
    outer.shutdown(timeout=TIMEOUT)
    assert events(mailbox, 2) == [("stop", "y"), ("stop", "x")]


@dataclasses.dataclass
class TrySpawn:
    pass


def _noop(capture, mailbox):
    pass


class Spawner(lunatic.AbstractProcess):
    """Answers TrySpawn with what a spawn from inside it gives."""

    def init(self, arg):
        pass

    @lunatic.handle_request
    def try_spawn(self, query: TrySpawn):
        try:
            lunatic.spawn(_noop, None)
            return "spawned"
        except PermissionError as e:
            return f"PermissionError: {e}"


class Stubborn(lunatic.AbstractProcess):
    """Its terminate never ends on its own: only a kill stops it."""

    def init(self, observer):
        self.observer = observer

    @lunatic.handle_request
    def get(self, query: Get):
        return "stubborn"

    def terminate(self):
        self.observer.tag_send(EVENTS, ("ignoring", "shutdown"))
        lunatic.sleep(60)
        self.observer.tag_send(EVENTS, ("woke", "up"))  # never: the kill ends the sleep


def test_a_child_with_its_own_config_runs_under_it(mailbox):
    no_spawning = lunatic.ProcessConfig(can_spawn_processes=False)
    sup = lunatic.Supervisor.start(SupervisorSpec(intensity=(10, 5.0), children=[
        ChildSpec(Spawner, id="limited", config=no_spawning),
        ChildSpec(Spawner, id="free"),
    ]))
    kids = refs(sup)
    answer = kids["limited"].request(TrySpawn(), timeout=TIMEOUT)
    assert answer.startswith("PermissionError") and "can_spawn_processes" in answer, answer
    assert kids["free"].request(TrySpawn(), timeout=TIMEOUT) == "spawned"
    # Still under it after a restart.
    kill_and_wait(kids["limited"])
    deadline = time.monotonic() + TIMEOUT
    while refs(sup)["limited"] in (None, kids["limited"]):
        assert time.monotonic() < deadline, "not restarted"
        lunatic.sleep(0.005)
    assert refs(sup)["limited"].request(TrySpawn(), timeout=TIMEOUT).startswith("PermissionError")
    sup.shutdown(timeout=TIMEOUT)


def test_a_child_that_ignores_shutdown_is_killed_after_its_shutdown_timeout(mailbox):
    sup = lunatic.Supervisor.start(SupervisorSpec(children=[
        child("polite"),
        ChildSpec(Stubborn, lunatic.this_process(), id="stubborn", shutdown=0.3),
    ]))
    assert events(mailbox, 1) == [("start", "polite")]
    stubborn = refs(sup)["stubborn"]
    watcher = lunatic.Mailbox()
    watcher.monitor(stubborn.process)
    start = time.monotonic()
    assert sup.shutdown(timeout=20.0) == ExitReason.NORMAL
    took = time.monotonic() - start
    died = watcher.receive(timeout=TIMEOUT)
    assert isinstance(died, lunatic.ProcessDied) and died.reason == ExitReason.KILLED, died
    # Killed once its 0.3 s were up: not before (generous margin: not after 10 s).
    assert 0.25 <= took < 10.0, took
    # Reverse order: the stubborn one (killed), then the polite one.
    assert events(mailbox, 2) == [("ignoring", "shutdown"), ("stop", "polite")]
    no_more_events(mailbox, 0.1)
