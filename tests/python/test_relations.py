"""Links, monitors, kill, the registry and timers (issue 5) from Python.

The main thread (an attached process) never links to anything here without
trapping: a link failure would kill it for the rest of the session. Tests that
need an untrapped or trapping process run it in a spawned process
(:func:`in_process`), which the main thread monitors.
"""

import collections
import functools
import itertools
import pickle
import threading
import time
import traceback

import pytest

import lunatic
from lunatic import ExitReason, LinkDied, ProcessDied

helper = pytest.importorskip("_lunatic_testhelper")

TIMEOUT = 10.0

# Python processes share this interpreter: what a process's `finally` block
# records here, the test sees (keyed by a token unique to each test).
unwound = collections.Counter()
_tokens = itertools.count()


def token():
    return f"t{next(_tokens)}"


def _runner(fn, spec, mailbox):
    arg, reply = spec
    assert mailbox.receive(timeout=TIMEOUT) == "go"  # the spawner monitors us by now
    try:
        result = ("ok", fn(arg, mailbox))
    except Exception:
        result = ("error", traceback.format_exc())
    reply.send(result)


def in_process(fn, arg=None, timeout=TIMEOUT):
    """Runs fn(arg, mailbox) in a new process and returns what it returned (or fails with its traceback)."""
    mb = lunatic.Mailbox()
    runner = lunatic.spawn(functools.partial(_runner, fn), (arg, lunatic.this_process()))
    mb.monitor(runner)
    runner.send("go")
    result = died = None
    while result is None or died is None:
        got = mb.receive(timeout=timeout)  # this view returns ProcessDied signals (it monitored)
        if isinstance(got, ProcessDied):
            assert got.process == runner, got
            died = got
            if result is None and got.reason != ExitReason.NORMAL:
                pytest.fail(f"the process running {fn.__name__} ended: {got}")
        else:
            result = got
    kind, value = result
    if kind == "error":
        pytest.fail(f"{fn.__name__} raised in its process:\n{value}")
    return value


def wait_until_gone(process):
    for _ in range(2000):
        if not process.is_alive():
            return
        lunatic.sleep(0.005)
    pytest.fail(f"{process} is still alive")


# ---------------------------------------------------------------- processes used below

def fail_with(capture, mailbox):
    raise ValueError(f"boom {capture}")


def fail_on_go(capture, mailbox):
    mailbox.receive(timeout=TIMEOUT)
    raise ValueError(f"boom {capture}")


def return_on_go(capture, mailbox):
    mailbox.receive(timeout=TIMEOUT)


def returns(capture, mailbox):
    return None


def wait_then_record(tok, mailbox):
    try:
        mailbox.receive(timeout=TIMEOUT)
    finally:
        unwound[tok] += 1


# ---------------------------------------------------------------- exit reasons, signal values

def test_exit_reason_matches_the_c_abi():
    c = lunatic._lunatic
    assert [(r.name, int(r)) for r in ExitReason] == [
        ("NORMAL", c.EXIT_NORMAL), ("FAILED", c.EXIT_FAILED), ("KILLED", c.EXIT_KILLED),
        ("NOPROC", c.EXIT_NOPROC), ("NOCONNECTION", c.EXIT_NOCONNECTION),
        ("MEMORY_LIMIT", c.EXIT_MEMORY_LIMIT), ("FUEL_EXHAUSTED", c.EXIT_FUEL_EXHAUSTED)]
    assert [int(r) for r in ExitReason] == list(range(7))


def test_signal_values_compare_pickle_and_match():
    p = lunatic.Process(1, 2)
    link = LinkDied(5, p, ExitReason.FAILED, "failed: x")
    died = ProcessDied(p, ExitReason.KILLED, "killed")
    assert isinstance(link, lunatic.Signal) and isinstance(died, lunatic.Signal)
    assert pickle.loads(pickle.dumps(link)) == link
    assert pickle.loads(pickle.dumps(died)) == died
    match died:
        case ProcessDied(process, ExitReason.KILLED, text):
            assert process == p and text == "killed"
        case _:
            pytest.fail("no match")
    with pytest.raises(Exception):
        link.tag = 6  # frozen
    timer = lunatic.Timer(3, 4)
    assert pickle.loads(pickle.dumps(timer)) == timer and hash(timer) == hash(lunatic.Timer(3, 4))
    assert "3.4" in repr(timer)


def test_signals_argument_is_checked(mailbox):
    with pytest.raises(TypeError):
        mailbox.receive(timeout=0, signals=42)
    with pytest.raises(TypeError):
        mailbox.try_receive(signals=(LinkDied, int))
    with pytest.raises(ValueError):
        mailbox.receive_signal(timeout=0, signals=False)
    assert lunatic.Mailbox(signals=ProcessDied).signals == (ProcessDied,)
    assert lunatic.Mailbox(signals=True).signals == (LinkDied, ProcessDied)
    assert lunatic.Mailbox().signals == ()


# ---------------------------------------------------------------- links

def trapping_parent(tag, mailbox):
    assert mailbox.catch_link_failure() is mailbox
    child = lunatic.spawn_link(fail_with, 7, tag)
    return mailbox.receive(timeout=TIMEOUT), child


def test_trapped_link_failure_arrives_as_link_died(mailbox, capfd):
    signal, child = in_process(trapping_parent, lunatic.Tag(5))
    assert isinstance(signal, LinkDied)
    assert signal.tag == 5
    assert signal.process == child
    assert signal.reason is ExitReason.FAILED
    assert signal.text == "failed: ValueError: boom 7"
    assert not child.is_alive()
    capfd.readouterr()


def trap_links_parent(_, mailbox):
    lunatic.trap_links()
    child = lunatic.spawn(fail_with, 8, link_tag=lunatic.Tag(6))
    # A view that did not ask for signals leaves them queued...
    with pytest.raises(lunatic.TimeoutError):
        mailbox.receive(timeout=0.1)
    with pytest.raises(lunatic.TimeoutError):
        mailbox.tag_receive(6, timeout=0)
    # ...for a receive that asks.
    signal = mailbox.receive_signal(timeout=TIMEOUT)
    assert len(mailbox) == 0
    return signal, child


def test_trap_links_and_spawn_with_a_link_tag(mailbox, capfd):
    signal, child = in_process(trap_links_parent)
    assert signal == LinkDied(6, child, ExitReason.FAILED, "failed: ValueError: boom 8")
    capfd.readouterr()


def untrapped_middle(spec, mailbox):
    parent, tok = spec
    try:
        mailbox.receive(timeout=TIMEOUT)  # go: the parent monitors us by now
        lunatic.spawn_link(fail_with, "x")
        mailbox.receive(timeout=TIMEOUT)  # the link kills us here (or at the spawn)
        parent.send("WRONG: survived its linked child's failure")
    finally:
        unwound[tok] += 1


def test_untrapped_link_failure_kills_and_unwinds(mailbox, capfd):
    tok = token()
    middle = lunatic.spawn(untrapped_middle, (lunatic.this_process(), tok))
    mailbox.monitor(middle)
    middle.send("go")
    died = mailbox.receive(timeout=TIMEOUT)
    assert died == ProcessDied(middle, ExitReason.FAILED, "failed: ValueError: boom x")  # the reason travels on
    assert unwound[tok] == 1
    assert len(mailbox) == 0
    capfd.readouterr()


def normal_exit_untrapped(_, mailbox):
    child = lunatic.spawn_link(return_on_go, None)
    mailbox.monitor(child)
    child.send("go")
    died = mailbox.receive(timeout=TIMEOUT)
    return died, child  # still alive to return: the normal end did not kill us


def normal_exit_trapped(_, mailbox):
    mailbox.catch_link_failure()
    child = lunatic.spawn_link(return_on_go, None)
    mailbox.monitor(child)
    child.send("go")
    died = mailbox.receive(timeout=TIMEOUT)
    # A LinkDied would have been queued before the ProcessDied: there is none.
    with pytest.raises(lunatic.TimeoutError):
        mailbox.try_receive(signals=True)
    return died, child


@pytest.mark.parametrize("parent", [normal_exit_untrapped, normal_exit_trapped])
def test_normal_exit_does_not_propagate(mailbox, parent):
    died, child = in_process(parent)
    assert died == ProcessDied(child, ExitReason.NORMAL, "normal")


CHAIN = 200


def chain_member(spec, mailbox):
    n, root, tok = spec
    try:
        if n > 1:
            lunatic.spawn_link(chain_member, (n - 1, root, tok))
        else:
            root.send(mailbox.this_process())
        mailbox.receive(timeout=60)
    finally:
        unwound[tok] += 1


def chain_root(tok, mailbox):
    mailbox.catch_link_failure()
    first = lunatic.spawn_link(chain_member, (CHAIN, mailbox.this_process(), tok), 9)
    last = mailbox.receive(timeout=TIMEOUT)
    assert isinstance(last, lunatic.Process) and last != first
    assert last.is_alive()
    assert last.kill()
    signal = mailbox.receive(timeout=TIMEOUT)
    # The cascade reached us through `first`, so every member has unwound already.
    members_unwound = unwound[tok]
    with pytest.raises(lunatic.TimeoutError):
        mailbox.receive(timeout=0.05)  # exactly one LinkDied
    return signal, first, last, members_unwound


def test_kill_cascades_through_a_chain_of_linked_processes(mailbox):
    tok = token()
    signal, first, last, members_unwound = in_process(chain_root, tok, timeout=60)
    assert signal == LinkDied(9, first, ExitReason.KILLED, "killed")
    assert members_unwound == CHAIN
    assert not first.is_alive() and not last.is_alive()
    assert not last.kill()


def unlink_then_fail(_, mailbox):
    child = lunatic.spawn_link(fail_on_go, "unlinked")
    child.unlink()
    child.unlink()  # twice is fine
    mailbox.monitor(child)
    child.send("go")
    return mailbox.receive(timeout=TIMEOUT), child


def test_unlink_removes_the_link(mailbox, capfd):
    died, child = in_process(unlink_then_fail)
    assert died == ProcessDied(child, ExitReason.FAILED, "failed: ValueError: boom unlinked")
    capfd.readouterr()


def link_existing(_, mailbox):
    mailbox.catch_link_failure()
    child = lunatic.spawn(fail_on_go, "late")
    child.link(lunatic.Tag(11))
    child.link(lunatic.Tag(12))  # linking twice keeps one link (with the newer tag)
    child.send("go")
    signal = mailbox.receive(timeout=TIMEOUT)
    with pytest.raises(lunatic.TimeoutError):
        mailbox.receive(timeout=0.05)
    return signal, child


def test_link_to_a_running_process(mailbox, capfd):
    signal, child = in_process(link_existing)
    assert signal == LinkDied(12, child, ExitReason.FAILED, "failed: ValueError: boom late")
    capfd.readouterr()


def link_to_dead_trapped(dead, mailbox):
    mailbox.catch_link_failure()
    dead.link(3)
    return mailbox.try_receive()  # queued at once


def link_to_dead_untrapped(spec, mailbox):
    dead, tok = spec
    mailbox.receive(timeout=TIMEOUT)  # go
    try:
        dead.link()
    except lunatic.Killed:
        unwound[tok] += 1
        raise


def test_link_to_a_dead_process_acts_as_noproc(mailbox):
    dead = lunatic.spawn(returns, None)
    wait_until_gone(dead)
    assert in_process(link_to_dead_trapped, dead) == LinkDied(3, dead, ExitReason.NOPROC, "noproc")

    tok = token()
    p = lunatic.spawn(link_to_dead_untrapped, (dead, tok))
    mailbox.monitor(p)
    p.send("go")
    assert mailbox.receive(timeout=TIMEOUT) == ProcessDied(p, ExitReason.NOPROC, "noproc")
    assert unwound[tok] == 1


def cpp_child_fails(_, mailbox):
    mailbox.catch_link_failure()
    child = lunatic.spawn_named("lunatic_test.echo_msgpack", "not a number", link_tag=4)
    return mailbox.receive(timeout=TIMEOUT), child


def test_spawn_named_links_to_a_cpp_process(mailbox, capfd):
    signal, child = in_process(cpp_child_fails)
    assert isinstance(signal, LinkDied) and signal.tag == 4 and signal.process == child
    assert signal.reason is ExitReason.FAILED and signal.text.startswith("failed: ")
    capfd.readouterr()


# ---------------------------------------------------------------- kill and monitors

def blocked_in_receive(spec, mailbox):
    parent, tok = spec
    try:
        parent.send("ready")
        mailbox.receive(timeout=60)
    finally:
        unwound[tok] += 1


def sleeping(spec, mailbox):
    parent, tok = spec
    try:
        parent.send("ready")
        lunatic.sleep(60)
    finally:
        unwound[tok] += 1


def test_kill_wakes_a_receiving_and_a_sleeping_process(mailbox):
    tok = token()
    started = time.monotonic()
    victims = [lunatic.spawn(fn, (lunatic.this_process(), tok)) for fn in (blocked_in_receive, sleeping)]
    assert [mailbox.receive(timeout=TIMEOUT) for _ in victims] == ["ready", "ready"]
    for v in victims:
        mailbox.monitor(v)
    for v in victims:
        assert v.kill() is True
    deaths = {mailbox.receive(timeout=TIMEOUT) for _ in victims}
    assert deaths == {ProcessDied(v, ExitReason.KILLED, "killed") for v in victims}
    assert time.monotonic() - started < 30  # far less than the 60 s they would have waited
    assert unwound[tok] == 2  # their finally blocks ran
    for v in victims:
        assert not v.is_alive()
        assert v.kill() is False


def test_monitor_of_a_dead_process_reports_noproc_at_once(mailbox):
    dead = lunatic.spawn(returns, None)
    wait_until_gone(dead)
    mailbox.monitor(dead)
    assert mailbox.try_receive() == ProcessDied(dead, ExitReason.NOPROC, "noproc")
    never = lunatic.Process(lunatic.node_id(), 2**62)
    mailbox.monitor(never)
    assert mailbox.receive_signal(timeout=0) == ProcessDied(never, ExitReason.NOPROC, "noproc")


def test_monitor_twice_is_one_monitor_and_demonitor_stops_it(mailbox):
    tok = token()
    a = lunatic.spawn(wait_then_record, tok)
    b = lunatic.spawn(wait_then_record, tok)
    mailbox.monitor(a)
    mailbox.monitor(a)
    mailbox.monitor(b)
    mailbox.demonitor(b)
    a.send("end")
    b.send("end")
    assert mailbox.receive(timeout=TIMEOUT) == ProcessDied(a, ExitReason.NORMAL, "normal")
    wait_until_gone(b)
    with pytest.raises(lunatic.TimeoutError):
        mailbox.receive_signal(timeout=0.05)  # one for a, none for b


def flooded(_, mailbox):
    me = mailbox.this_process()
    for i in range(5000):
        me.send(i)
    child = lunatic.spawn(return_on_go, None)
    mailbox.monitor(child)
    child.send("go")
    first = mailbox.receive_signal(timeout=TIMEOUT)  # found behind 5,000 data messages
    queued = len(mailbox)
    mailbox.monitor(child)  # gone now: a NOPROC signal, before any data
    second = mailbox.receive(timeout=TIMEOUT)
    data = [mailbox.receive(timeout=0, signals=False) for _ in range(5000)]
    return first, second, queued, data == list(range(5000)), child


def test_signals_are_not_starved_by_data(mailbox):
    first, second, queued, in_order, child = in_process(flooded)
    assert first == ProcessDied(child, ExitReason.NORMAL, "normal")
    assert second == ProcessDied(child, ExitReason.NOPROC, "noproc")
    assert queued == 5000 and in_order


def kills_itself(_, mailbox):
    mailbox.receive(timeout=TIMEOUT)  # go
    assert mailbox.this_process().kill() is True
    mailbox.receive(timeout=TIMEOUT)  # raises Killed


def test_a_process_can_kill_itself(mailbox):
    p = lunatic.spawn(kills_itself, None)
    mailbox.monitor(p)
    p.send("go")
    assert mailbox.receive(timeout=TIMEOUT) == ProcessDied(p, ExitReason.KILLED, "killed")


def test_relations_need_a_process():
    p = lunatic.spawn(returns, None)
    errors = []

    def thread():
        for call in (p.kill, p.link, p.unlink, lambda: p.register("x"), lambda: lunatic.lookup("x"),
                     lambda: p.send_after(1, 0), lunatic.trap_links):
            try:
                call()
                errors.append("no error")
            except lunatic.NotAProcessError:
                pass
            except BaseException as e:  # noqa: B036
                errors.append(repr(e))

    t = threading.Thread(target=thread)
    t.start()
    t.join()
    assert errors == []


# ---------------------------------------------------------------- registry

def test_registry_register_lookup_unregister(mailbox):
    name = "relations." + token()
    tok = token()
    p = lunatic.spawn(wait_then_record, tok)
    q = lunatic.spawn(wait_then_record, tok)
    try:
        assert lunatic.lookup(name) is None
        p.register(name)
        p.register(name)  # the same process again: nothing changes
        assert lunatic.lookup(name) == p
        assert lunatic.Process.lookup(name) == p
        assert lunatic.lookup(name, type="py/pickle") == p  # the documented key
        assert lunatic.lookup(name, serializer=lunatic.MessagePack) is None  # another key
        with pytest.raises(lunatic.NameTakenError) as e:
            q.register(name)
        assert isinstance(e.value, lunatic.ExistsError) and e.value.code == lunatic._lunatic.EEXIST
        assert name in str(e.value)
        # The same name with another type is another key.
        q.with_serializer(lunatic.Json).register(name)
        found = lunatic.lookup(name, serializer=lunatic.Json)
        assert found == q and found.serializer is lunatic.Json
        assert lunatic.unregister(name) is True
        assert lunatic.unregister(name) is False
        assert lunatic.lookup(name) is None
        q.register(name)  # free again
        assert lunatic.Process.lookup(name) == q
        assert lunatic.Process.unregister(name) is True
        assert lunatic.unregister(name, serializer=lunatic.Json) is True
    finally:
        p.kill()
        q.kill()


def test_registry_type_strings():
    assert lunatic.registry_type() == "py/pickle"
    assert lunatic.registry_type(lunatic.MessagePack) == "py/msgpack"
    assert lunatic.registry_type(lunatic.Json) == "py/json"

    class Mine:
        @staticmethod
        def encode(v):
            return b""

    assert lunatic.registry_type(Mine) == "py/" + Mine.__qualname__
    # The C++ side's documented keys (registry_type<M, S>()), which `type=` takes.
    for expected, cpp in helper.registry_types().items():
        assert cpp == expected


def test_registry_misuse(mailbox):
    dead = lunatic.spawn(returns, None)
    wait_until_gone(dead)
    with pytest.raises(lunatic.NoProcessError):
        dead.register("relations.dead")
    me = lunatic.this_process()
    with pytest.raises(ValueError):
        me.register("")
    with pytest.raises(ValueError):
        me.register("a\0b")
    with pytest.raises(TypeError):
        me.register(b"bytes")
    with pytest.raises(TypeError):
        lunatic.lookup("x", type=1)


@pytest.mark.parametrize("end", ["return", "kill", "fail"])
def test_a_name_is_freed_when_its_process_ends(mailbox, end, capfd):
    name = "relations." + token()
    p = lunatic.spawn(fail_on_go if end == "fail" else return_on_go, None)
    p.register(name)
    mailbox.monitor(p)
    if end == "kill":
        p.kill()
    else:
        p.send("go")
    died = mailbox.receive(timeout=TIMEOUT)
    assert isinstance(died, ProcessDied) and died.process == p
    assert lunatic.lookup(name) is None  # freed before the monitors heard of it
    lunatic.this_process().register(name)  # and free for others
    assert lunatic.unregister(name)
    capfd.readouterr()


def python_registered_as_i32(spec, mailbox):
    name, parent = spec
    parent = lunatic.Process.from_wire(parent, lunatic.MessagePack)
    mailbox.this_process().register(name, type="i32/msgpack")
    parent.send("ready")
    parent.send(mailbox.receive(timeout=TIMEOUT))


def test_cpp_typed_lookup_finds_a_python_process(mailbox):
    name = "relations." + token()
    mb = lunatic.Mailbox(lunatic.MessagePack)
    me = lunatic.this_process(lunatic.MessagePack)
    # Registered with the Python key ("py/msgpack"), C++ does not find it.
    me.register(name)
    assert helper.lookup_send_i32(name, 1) is False
    assert lunatic.unregister(name, serializer=lunatic.MessagePack)
    # Registered with the C++ key of Process<int32_t, MessagePack>, it does.
    p = lunatic.spawn(python_registered_as_i32, [name, me], serializer=lunatic.MessagePack)
    assert mb.receive(timeout=TIMEOUT) == "ready"
    assert lunatic.lookup(name, serializer=lunatic.MessagePack, type="i32/msgpack") == p
    assert helper.lookup_send_i32(name, 41) is True
    assert mb.receive(timeout=TIMEOUT) == 41
    wait_until_gone(p)
    assert helper.lookup_send_i32(name, 2) is False  # freed with its process


def test_python_lookup_finds_a_cpp_process(mailbox):
    name = "relations." + token()
    mb = lunatic.Mailbox(lunatic.MessagePack)
    cpp = lunatic.spawn_named("lunatic_test.registered_i32_msgpack",
                              [name, lunatic.this_process(lunatic.MessagePack)])
    assert mb.receive(timeout=TIMEOUT) == 0  # registered
    assert lunatic.lookup(name, serializer=lunatic.MessagePack) is None  # "py/msgpack": not it
    found = lunatic.lookup(name, serializer=lunatic.MessagePack, type="i32/msgpack")
    assert found == cpp and found.serializer is lunatic.MessagePack
    mb.monitor(found)
    assert found.send(41)
    assert mb.receive(timeout=TIMEOUT, signals=False) == 42
    assert mb.receive_signal(timeout=TIMEOUT) == ProcessDied(cpp.with_serializer(lunatic.MessagePack),
                                                              ExitReason.NORMAL, "normal")
    assert lunatic.lookup(name, type="i32/msgpack") is None


# ---------------------------------------------------------------- timers

def test_timers_fire_in_order(mailbox):
    me = lunatic.this_process()
    me.send_after("late", 0.2)
    me.send_after("early", 0.05)
    timers = [me.send_after(i, 0.1) for i in range(50)]
    assert len(set(timers)) == 50
    got = [mailbox.receive(timeout=TIMEOUT) for _ in range(52)]
    assert got == ["early", *range(50), "late"]


def test_timer_cancel_before_and_after_firing(mailbox):
    me = lunatic.this_process()
    cancelled = me.send_after("cancelled", 0.5)
    marker = me.send_after("marker", 0.55)
    assert cancelled.cancel() is True
    assert cancelled.cancel() is False  # once
    assert mailbox.receive(timeout=TIMEOUT) == "marker"  # the cancelled one, due earlier, never came
    assert marker.cancel() is False  # fired already
    fired = me.send_after("now", 0)
    assert mailbox.receive(timeout=TIMEOUT) == "now"
    assert fired.cancel() is False


def test_many_pending_timers_cancel(mailbox):
    me = lunatic.this_process()
    timers = [me.send_after(i, 60) for i in range(2000)]
    assert all(t.cancel() for t in timers)
    assert len(mailbox) == 0


def timers_in_a_process(_, mailbox):
    me = mailbox.this_process()
    me.send_after("plain", 0.01)
    me.send_after("tagged", 0.01, tag=77)
    me.tag_send_after(78, "tag first", 0.01)
    tagged = mailbox.receive_message(timeout=TIMEOUT, tags=[77])
    other = mailbox.tag_receive(78, timeout=TIMEOUT)
    plain = mailbox.receive(timeout=TIMEOUT)
    return tagged, other, plain, me


def test_tagged_timers_in_a_process(mailbox):
    tagged, other, plain, me = in_process(timers_in_a_process)
    assert tagged == lunatic.Message("tagged", 77, me)  # the sender is who set the timer
    assert (other, plain) == ("tag first", "plain")


def test_timer_misuse(mailbox):
    me = lunatic.this_process()
    with pytest.raises(ValueError):
        me.send_after(1, -1)
    with pytest.raises(ValueError):
        me.send_after(1, float("nan"))
    with pytest.raises(TypeError):
        me.send_after(1, "1")
    with pytest.raises(lunatic.NoNodeError):
        lunatic.Process(lunatic.node_id() ^ 1, me.id).send_after(1, 0)
    with pytest.raises(lunatic.SerializationError):
        me.send_after(lambda: None, 0)
    dead = lunatic.spawn(returns, None)
    wait_until_gone(dead)
    assert dead.send_after("dropped", 0).cancel() in (True, False)  # no error: the message is dropped
