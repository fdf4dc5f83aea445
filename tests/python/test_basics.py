"""Spawning, sending, receiving, timeouts, tags: the core of `import lunatic`."""

import pickle
import threading

import pytest

import lunatic

TIMEOUT = 10.0


def readme_child(capture, mailbox):
    assert capture == 1
    assert mailbox.receive() == 2


def test_readme_example():
    p = lunatic.spawn(readme_child, 1)
    p.send(2)
    assert isinstance(p, lunatic.Process)


def checked_child(capture, mailbox):
    parent, expected = capture
    got = mailbox.receive(timeout=TIMEOUT)
    parent.send(("checked", got == expected, got))


def test_readme_example_checked(mailbox):
    me = lunatic.this_process()
    p = lunatic.spawn(checked_child, (me, 2))
    assert p.send(2) is True
    assert mailbox.receive(timeout=TIMEOUT) == ("checked", True, 2)


def echo(parent, mailbox):
    while True:
        msg = mailbox.receive(timeout=TIMEOUT)
        if msg == "stop":
            return
        parent.send(msg)


def test_send_receive_in_order(mailbox):
    p = lunatic.spawn(echo, lunatic.this_process())
    values = [1, "two", 3.0, None, [4, {"five": 5}], b"\x00six", (7,)]
    for v in values:
        p.send(v)
    assert [mailbox.receive(timeout=TIMEOUT) for _ in values] == values
    p.send("stop")


def test_receive_timeout(mailbox):
    with pytest.raises(lunatic.TimeoutError) as info:
        mailbox.receive(timeout=0.05)
    assert isinstance(info.value, TimeoutError)  # the builtin one too
    assert isinstance(info.value, lunatic.Error)
    assert info.value.code == lunatic._lunatic.ETIMEDOUT


def test_try_receive(mailbox):
    with pytest.raises(lunatic.TimeoutError):
        mailbox.try_receive()
    lunatic.this_process().send("queued")
    assert mailbox.try_receive() == "queued"


def test_tag_receive_is_selective(mailbox):
    me = lunatic.this_process()
    a, b = lunatic.Tag(), lunatic.Tag()
    me.tag_send(a, "a1")
    me.send("untagged")
    me.tag_send(b, "b1")
    me.tag_send(a, "a2")
    assert mailbox.tag_receive([b], timeout=TIMEOUT) == "b1"
    assert mailbox.tag_receive(a, timeout=TIMEOUT) == "a1"
    with pytest.raises(lunatic.TimeoutError):
        mailbox.tag_receive([b], timeout=0.05)
    # the rest stay queued in order
    assert mailbox.receive(timeout=TIMEOUT) == "untagged"
    assert mailbox.receive(timeout=TIMEOUT) == "a2"


def test_receive_message_envelope(mailbox):
    me = lunatic.this_process()
    tag = lunatic.Tag()
    me.tag_send(tag, {"k": 1})
    msg = mailbox.receive_message(timeout=TIMEOUT)
    assert msg.value == {"k": 1}
    assert msg.tag == tag
    assert msg.sender == me


def test_tags():
    t1, t2 = lunatic.Tag(), lunatic.Tag.fresh()
    assert t1 != t2 and t1 >= 2**62 and t2 >= 2**62
    assert lunatic.Tag(5) == 5 and lunatic.Tag.none() == 0
    assert repr(lunatic.Tag(5)) == "lunatic.Tag(5)"
    assert pickle.loads(pickle.dumps(t1)) == t1
    with pytest.raises(ValueError):
        lunatic.Tag(-1)
    with pytest.raises(TypeError):
        lunatic.this_process().tag_send("x", 1)


def test_process_handle_value_semantics(mailbox):
    me = lunatic.this_process()
    same = lunatic.Process(me.node_id, me.id)
    other = lunatic.Process(me.node_id, me.id + 10**9)
    assert me == same and hash(me) == hash(same)
    assert me != other
    assert {me: 1}[same] == 1
    assert me.node_id == lunatic.node_id()
    assert f"{me.node_id:x}.{me.id}" in repr(me)
    assert str(me) == f"<{me.node_id:x}.{me.id}>"
    with pytest.raises(AttributeError):
        me.id = 3
    copy = pickle.loads(pickle.dumps(me))
    assert copy == me and copy.serializer is lunatic.Pickle
    with pytest.raises(ValueError):
        lunatic.Process(-1, 0)


def forwarder(capture, mailbox):
    target = mailbox.receive(timeout=TIMEOUT)  # a Process inside a (pickled) message
    target.send(("from", lunatic.this_process()))


def test_process_handles_travel_in_messages(mailbox):
    p = lunatic.spawn(forwarder, None)
    p.send(lunatic.this_process())
    kind, who = mailbox.receive(timeout=TIMEOUT)
    assert kind == "from" and who == p


def test_send_to_finished_process_returns_false(mailbox):
    p = lunatic.spawn(checked_child, (lunatic.this_process(), 1))
    p.send(1)
    assert mailbox.receive(timeout=TIMEOUT) == ("checked", True, 1)
    for _ in range(1000):  # it ends right after its send
        if not p.is_alive():
            break
        lunatic.sleep(0.01)
    assert not p.is_alive()
    assert p.send("late") is False


def sleeper(parent, mailbox):
    lunatic.sleep(0.02)
    lunatic.yield_()
    parent.send("slept")


def test_sleep_and_yield_in_process(mailbox):
    lunatic.spawn(sleeper, lunatic.this_process())
    assert mailbox.receive(timeout=TIMEOUT) == "slept"
    lunatic.sleep(0)
    lunatic.yield_()
    with pytest.raises(ValueError):
        lunatic.sleep(-1)


def ping(capture, mailbox):
    parent, partner_count = capture
    pong = lunatic.spawn(pong_proc, None)
    for i in range(partner_count):
        pong.send((lunatic.this_process(), i))
        assert mailbox.receive(timeout=TIMEOUT) == i + 1
    pong.send(None)
    parent.send(("done", partner_count))


def pong_proc(capture, mailbox):
    while True:
        msg = mailbox.receive(timeout=TIMEOUT)
        if msg is None:
            return
        sender, i = msg
        sender.send(i + 1)


def test_ping_pong_between_python_processes(mailbox):
    lunatic.spawn(ping, (lunatic.this_process(), 2000))
    assert mailbox.receive(timeout=30) == ("done", 2000)


def relay(parent, mailbox):
    value = mailbox.receive(timeout=60)
    parent.send(value * 2)


def test_ten_thousand_processes_alive_at_once(mailbox):
    n = 10_000
    me = lunatic.this_process()
    procs = [lunatic.spawn(relay, me) for _ in range(n)]
    assert len(set(procs)) == n
    # all alive and blocked in receive before anyone gets a message
    lunatic.sleep(0.05)
    assert lunatic.process_count() >= n + 1  # they and the main thread
    for i, p in enumerate(procs):
        assert p.send(i)
    got = sorted(mailbox.receive(timeout=60) for _ in range(n))
    assert got == [2 * i for i in range(n)]


def test_non_process_thread_gets_clear_error_and_can_attach():
    result = {}

    def body():
        try:
            lunatic.Mailbox()
        except lunatic.NotAProcessError as e:
            result["error"] = str(e)
        with lunatic.attached() as me:
            mb = lunatic.Mailbox()
            lunatic.spawn(checked_child, (me, "x")).send("x")
            result["reply"] = mb.receive(timeout=TIMEOUT)
            result["me"] = me == lunatic.this_process()

    t = threading.Thread(target=body)
    t.start()
    t.join(30)
    assert not t.is_alive()
    assert "lunatic.attached()" in result["error"]
    assert result["reply"] == ("checked", True, "x")
    assert result["me"] is True


def test_spawn_argument_errors():
    with pytest.raises(TypeError):
        lunatic.spawn(42, None)
    with pytest.raises(lunatic.SerializationError):
        lunatic.spawn(echo, lambda: None)  # a lambda does not pickle
    with pytest.raises(lunatic.NotFoundError):
        lunatic.spawn_named("no such entry", None)


def test_version_and_runtime_info():
    assert lunatic.__version__.count(".") == 2
    import os
    expected = int(os.environ.get("LUNATIC_WORKERS") or 0) or max(2, os.cpu_count() or 1)
    assert lunatic.workers() == expected
    assert lunatic.process_count() >= 1


_local = threading.local()
_var = __import__("contextvars").ContextVar("lunatic_test_var", default="unset")


def leaves_state_behind(parent, mailbox):
    _local.value = "leaked"
    _var.set("leaked")
    try:
        raise KeyError("pending")
    except KeyError:
        parent.send(("set", threading.get_ident()))
        mailbox.receive(timeout=TIMEOUT)  # suspended inside an except block


def looks_for_state(parent, mailbox):
    import sys
    parent.send(("seen", getattr(_local, "value", "unset"), _var.get(), sys.exc_info()[0],
                 threading.get_ident()))


def test_processes_share_no_interpreter_state(mailbox):
    """Thread states are per process (and reused ones are cleared): nothing leaks between processes."""
    me = lunatic.this_process()
    a = lunatic.spawn(leaves_state_behind, me)
    kind, thread_a = mailbox.receive(timeout=TIMEOUT)
    assert kind == "set"
    # while a is suspended inside its except block
    lunatic.spawn(looks_for_state, me)
    assert mailbox.receive(timeout=TIMEOUT)[1:4] == ("unset", "unset", None)
    a.send("end")
    lunatic.sleep(0.05)
    # after a ended (its thread state may now be reused)
    seen = []
    for _ in range(20):
        lunatic.spawn(looks_for_state, me)
        seen.append(mailbox.receive(timeout=TIMEOUT))
    assert all(s[1:4] == ("unset", "unset", None) for s in seen)
    assert getattr(_local, "value", "unset") == "unset" and _var.get() == "unset"
    # all Python processes run on one worker thread, never the main thread
    threads = {s[4] for s in seen} | {thread_a}
    assert len(threads) == 1 and threading.get_ident() not in threads
