"""Failures stay inside their process; kills unwind; bad messages lose nothing."""

import json
import re

import pytest

import lunatic

TIMEOUT = 10.0


def raiser(capture, mailbox):
    raise ValueError(f"boom {capture}")


def survivor(parent, mailbox):
    parent.send(("alive", mailbox.receive(timeout=TIMEOUT)))


def test_exception_fails_only_that_process(mailbox, capfd):
    bad = lunatic.spawn(raiser, 7)
    for _ in range(1000):
        if not bad.is_alive():
            break
        lunatic.sleep(0.01)
    assert not bad.is_alive()
    # the runtime and other processes carry on
    ok = lunatic.spawn(survivor, lunatic.this_process())
    ok.send(1)
    assert mailbox.receive(timeout=TIMEOUT) == ("alive", 1)
    err = capfd.readouterr().err
    pid = f"<{bad.node_id:x}.{bad.id}>"
    assert f"process {pid} failed with an uncaught exception" in err
    assert "Traceback (most recent call last)" in err and "ValueError: boom 7" in err
    assert "in raiser" in err
    # the runtime's own log line carries the failure message
    assert re.search(rf"process {re.escape(pid)} failed: ValueError: boom 7", err)


def many_raisers(capture, mailbox):
    raise RuntimeError("x")


def test_many_failures_do_not_hurt(mailbox, capfd):
    for _ in range(200):
        lunatic.spawn(many_raisers, None)
    lunatic.spawn(survivor, lunatic.this_process()).send(2)
    assert mailbox.receive(timeout=TIMEOUT) == ("alive", 2)
    capfd.readouterr()


def test_killed_is_a_base_exception():
    assert issubclass(lunatic.Killed, BaseException)
    assert not issubclass(lunatic.Killed, Exception)
    assert lunatic.Killed().code == lunatic._lunatic.EKILLED


def exiting(capture, mailbox):
    raise SystemExit(0)


def test_system_exit_zero_is_a_normal_end(mailbox, capfd):
    p = lunatic.spawn(exiting, None)
    for _ in range(1000):
        if not p.is_alive():
            break
        lunatic.sleep(0.01)
    assert not p.is_alive()
    assert "failed" not in capfd.readouterr().err


def deep(parent, mailbox):
    nested = []
    for _ in range(800):
        nested = [nested]
    text = json.dumps(nested)  # C recursion in the json encoder, 800 levels

    def r(n):  # recursion through a C function (map/sum) at every level
        return 1 + sum(map(r, [n - 1])) if n else 0

    try:
        r(10**6)
        outcome = "no RecursionError"
    except RecursionError:
        outcome = "RecursionError"
    parent.send((len(text), r(800), outcome))


def test_deep_recursion_in_a_process(mailbox):
    lunatic.spawn(deep, lunatic.this_process())
    assert mailbox.receive(timeout=30) == (1602, 800, "RecursionError")


def wrong_then_right(parent, mailbox):
    results = []
    for _ in range(3):
        try:
            results.append(("ok", mailbox.receive(timeout=TIMEOUT)))
        except lunatic.DeserializationError as e:
            results.append(("bad", e.payload, e.tag, e.sender == parent))
    parent.send(results)


def test_decode_failure_raises_and_loses_nothing(mailbox):
    me = lunatic.this_process()
    p = lunatic.spawn(wrong_then_right, me)
    p.send("first")
    raw = p.with_serializer(lunatic.Json)  # the child reads Pickle: Json bytes do not decode
    raw.tag_send(5, {"not": "pickle"})
    p.send("third")
    assert mailbox.receive(timeout=TIMEOUT) == [
        ("ok", "first"),
        ("bad", b'{"not":"pickle"}', 5, True),
        ("ok", "third"),
    ]


def test_decode_failure_on_main_thread(mailbox):
    me = lunatic.this_process()
    me.with_serializer(lunatic.MessagePack).send([1, 2])
    me.send("after")
    with pytest.raises(lunatic.DeserializationError) as info:
        mailbox.receive(timeout=TIMEOUT)
    assert info.value.payload == b"\x92\x01\x02"
    assert info.value.code == lunatic._lunatic.EDECODE
    assert mailbox.receive(timeout=TIMEOUT) == "after"


def test_unencodable_message_raises_at_the_sender(mailbox):
    me = lunatic.this_process()
    with pytest.raises(lunatic.SerializationError):
        me.send(lambda: 1)
    with pytest.raises(lunatic.SerializationError):
        me.with_serializer(lunatic.Json).send(float("nan"))
    with pytest.raises(lunatic.SerializationError):
        me.with_serializer(lunatic.MessagePack).send(object())
    with pytest.raises(lunatic.TimeoutError):
        mailbox.try_receive()  # nothing was sent


def catches_everything(parent, mailbox):
    try:
        mailbox.receive(timeout=0.01)
    except Exception:  # a TimeoutError: an ordinary exception
        parent.send("caught ordinary")


def test_ordinary_errors_are_exceptions(mailbox):
    lunatic.spawn(catches_everything, lunatic.this_process())
    assert mailbox.receive(timeout=TIMEOUT) == "caught ordinary"


class Strict:
    """A user serializer whose decode raises a plain ValueError."""

    @staticmethod
    def encode(value):
        return repr(value).encode()

    @staticmethod
    def decode(data):
        if not data.startswith(b"'"):
            raise ValueError("not a quoted string")
        return data[1:-1].decode()


def test_user_serializer_errors_become_deserialization_errors(mailbox):
    reader = lunatic.Mailbox(Strict)
    me = lunatic.this_process(Strict)
    me.send(5)
    me.send("ok")
    with pytest.raises(lunatic.DeserializationError) as info:
        reader.receive(timeout=TIMEOUT)
    assert info.value.payload == b"5"
    assert isinstance(info.value.__cause__, ValueError)
    assert reader.receive(timeout=TIMEOUT) == "ok"


def test_pickle_decode_error_keeps_its_cause(mailbox):
    me = lunatic.this_process()
    me.with_serializer(lunatic.Json).send([1])
    with pytest.raises(lunatic.DeserializationError) as info:
        mailbox.receive(timeout=TIMEOUT)
    assert info.value.__cause__ is not None
    assert info.value.sender == me
