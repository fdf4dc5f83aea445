"""Bad input at every surface of `import lunatic` (issue 10): wrong types, absurd sizes and
values, dead processes and garbage payloads raise Python exceptions — never a crash, never a
hang — and the runtime keeps working afterwards."""

import math

import pytest

import lunatic
from lunatic import _lunatic

# What a wrong argument may raise: the binding's own checks or pybind11's conversions.
WRONG = (TypeError, ValueError, OverflowError, lunatic.Error)

TIMEOUT = 10.0


def still_works(mailbox):
    """The runtime survived: a message to ourselves comes back."""
    me = lunatic.this_process()
    assert me.send(("alive", 1)) is True
    assert mailbox.receive(timeout=TIMEOUT) == ("alive", 1)


def child(capture, mailbox):
    return None


@pytest.mark.parametrize("fn", [None, 42, "child", b"bytes"])
def test_spawn_something_not_callable(fn, mailbox):
    with pytest.raises(WRONG):
        lunatic.spawn(fn)
    still_works(mailbox)


@pytest.mark.parametrize("size", ["big", 1.5, -1, 1 << 45, 1 << 64, 1 << 200])
def test_spawn_absurd_stack_sizes(size, mailbox):
    with pytest.raises(WRONG):
        lunatic.spawn(child, stack_size=size)
    still_works(mailbox)


@pytest.mark.parametrize("config", [
    {"max_memory": -1},
    {"max_memory": 1 << 64},
    {"max_memory": "lots"},
    {"max_fuel": -5},
    {"max_fuel": 1 << 100},
    {"stack_size": 1 << 70},
    {"stack_size": -4096},
])
def test_config_wrong_values(config, mailbox):
    with pytest.raises(WRONG):
        cfg = lunatic.ProcessConfig(**config)
        lunatic.spawn(child, config=cfg)
    still_works(mailbox)


def test_config_stack_over_max_memory_is_refused(mailbox):
    cfg = lunatic.ProcessConfig(max_memory=1024, can_spawn_processes=True)
    with pytest.raises(lunatic.Error):
        lunatic.spawn(child, config=cfg)
    still_works(mailbox)


@pytest.mark.parametrize("timeout", ["soon", -1, -0.5, math.nan])
def test_receive_wrong_timeouts(timeout, mailbox):
    with pytest.raises(WRONG):
        mailbox.receive(timeout=timeout)
    still_works(mailbox)


@pytest.mark.parametrize("tags", [["x"], [1 << 70], "abc", 3.5])
def test_receive_wrong_tags(tags, mailbox):
    with pytest.raises(WRONG):
        mailbox.receive_message(timeout=0.01, tags=tags)
    still_works(mailbox)


@pytest.mark.parametrize("seconds", ["1", -1, math.nan, None])
def test_sleep_wrong_durations(seconds, mailbox):
    with pytest.raises(WRONG):
        lunatic.sleep(seconds)
    still_works(mailbox)


@pytest.mark.parametrize("value", [
    "x",
    1.5,
    2.0,
    True,
    "7",
    1 << 80,
    -(1 << 80),
])
def test_tag_wrong_values(value, mailbox):
    with pytest.raises(WRONG):
        lunatic.Tag(value)
    still_works(mailbox)


@pytest.mark.parametrize("value", [1.5, 2.0, True, False, "7", b"7"])
def test_tag_non_integers_are_type_errors(value):
    # Not truncated (int(1.5) == 1), not parsed (int("7") == 7), not read as 0/1 (bool).
    with pytest.raises(TypeError, match="a tag is an int"):
        lunatic.Tag(value)


def _child(capture, mailbox):
    return None


# Every integer argument of the API refuses a float (even a whole one) instead of
# truncating it; durations in seconds are floats on purpose and are not here.
@pytest.mark.parametrize("call", [
    lambda me: lunatic.Process(1.0, 1),
    lambda me: lunatic.Process(1, 2.0),
    lambda me: lunatic.spawn(_child, stack_size=65536.0),
    lambda me: lunatic.spawn(_child, link_tag=1.0),
    lambda me: lunatic.spawn_link(_child, None, 1.0),
    lambda me: lunatic.spawn_named("x", worker=1.0),
    lambda me: lunatic.spawn_named("x", stack_size=65536.0),
    lambda me: lunatic.ProcessConfig(max_memory=1.0),
    lambda me: lunatic.ProcessConfig(max_fuel=1.0),
    lambda me: lunatic.ProcessConfig(stack_size=65536.0),
    lambda me: me.tag_send(1.0, "x"),
    lambda me: me.send_after("x", 0.01, tag=1.0),
    lambda me: me.link(1.0),
    lambda me: lunatic.Mailbox().tag_receive(1.0, timeout=0),
    lambda me: lunatic.Mailbox().tag_receive([2.0], timeout=0),
    lambda me: lunatic.node_start("x", "cookie", port=1.0),
    lambda me: lunatic.connect("127.0.0.1", 80.0),
    lambda me: lunatic.spawn_node(1.0, _child),
    lambda me: lunatic.spawn_node(lunatic.node_id(), _child, stack_size=65536.0),
])
def test_integer_arguments_refuse_floats(call, mailbox):
    with pytest.raises((TypeError, ValueError), match="int|integer|tag|Process node_id|Process id"):
        call(lunatic.this_process())
    still_works(mailbox)


def test_tag_takes_ints_tags_and_index_types():
    class Index:
        def __index__(self):
            return 9

    assert lunatic.Tag(5) == 5 and type(lunatic.Tag(5)) is lunatic.Tag
    assert lunatic.Tag(lunatic.Tag(6)) == 6
    assert lunatic.Tag(Index()) == 9
    assert lunatic.Tag(0) == lunatic.Tag.none()


@pytest.mark.parametrize("node, pid", [(-1, 1), (1 << 64, 1), ("node", 1), (1, None)])
def test_process_handles_out_of_range(node, pid, mailbox):
    with pytest.raises(WRONG):
        lunatic.Process(node, pid).send("hello")
    still_works(mailbox)


def test_dead_and_unknown_processes(mailbox):
    me = lunatic.this_process()
    unknown = lunatic.Process(me.node_id, me.id + 10_000_000)
    assert unknown.send("lost") is False  # ENOPROC: not delivered, no exception
    assert unknown.kill() is False
    stranger = lunatic.Process(me.node_id ^ 1, me.id)  # another node: not reachable
    with pytest.raises(lunatic.Error):
        stranger.register("bad_input.stranger")
    assert lunatic.lookup("bad_input.never_registered") is None
    still_works(mailbox)


@pytest.mark.parametrize("name", [None, 5, b"bytes"])
def test_registry_wrong_names(name, mailbox):
    with pytest.raises(WRONG):
        lunatic.lookup(name)
    with pytest.raises(WRONG):
        lunatic.this_process().register(name)
    still_works(mailbox)


def test_registry_absurdly_long_name(mailbox):
    name = "n" * (4 << 20)
    me = lunatic.this_process()
    try:
        me.register(name)
    except lunatic.Error:
        pass  # refusing it is fine too
    else:
        assert lunatic.lookup(name) == me
        assert lunatic.unregister(name) is True
    still_works(mailbox)


@pytest.mark.parametrize("seconds", [-1, math.nan, "later"])
def test_send_after_wrong_delays(seconds, mailbox):
    with pytest.raises(WRONG):
        lunatic.this_process().send_after("x", seconds)
    still_works(mailbox)


def test_garbage_payloads_are_deserialization_errors(mailbox):
    me = lunatic.this_process()
    for serializer, garbage in [(lunatic.Pickle, b"\x80\x05garbage"),
                                (lunatic.MessagePack, b"\xc1"),
                                (lunatic.MessagePack, b"\xdd\xff\xff\xff\xff"),  # 4G elements
                                (lunatic.Json, b"{\"unterminated\": "),
                                (lunatic.Json, b"[" * 100000)]:
        assert _lunatic.send(me.node_id, me.id, 0, garbage) is True
        with pytest.raises(lunatic.DeserializationError):
            lunatic.Mailbox(serializer).receive(timeout=TIMEOUT)
    still_works(mailbox)


def test_values_a_serializer_cannot_encode(mailbox):
    me = lunatic.this_process()
    with pytest.raises(lunatic.SerializationError):
        lunatic.Process(me.node_id, me.id, lunatic.Json).send(object())
    with pytest.raises(lunatic.SerializationError):
        lunatic.Process(me.node_id, me.id, lunatic.MessagePack).send(object())
    with pytest.raises((lunatic.SerializationError, RecursionError)):
        nested = []
        for _ in range(100000):
            nested = [nested]
        lunatic.Process(me.node_id, me.id, lunatic.Json).send(nested)
    still_works(mailbox)


@pytest.mark.parametrize("call", [
    lambda: _lunatic.send("node", 1, 0, b""),
    lambda: _lunatic.send(1, 1, 0, "not bytes"),
    lambda: _lunatic.send(1 << 64, 1, 0, b""),
    lambda: _lunatic.receive(["x"], 0),
    lambda: _lunatic.receive(None, "0"),
    lambda: _lunatic.receive(None, 0, 1 << 40),
    lambda: _lunatic.sleep(-1),
    lambda: _lunatic.kill(-1, 1),
    lambda: _lunatic.link(1, 1, "tag"),
    lambda: _lunatic.monitor(None, 1),
    lambda: _lunatic.tag_discard(0),
    lambda: _lunatic.register(None, "", 1, 1),
    lambda: _lunatic.send_after(1, 1, 0, b"", -5),
    lambda: _lunatic.timer_cancel("x", 1),
    lambda: _lunatic.config_get("not a capsule", 0),
    lambda: _lunatic.config_set(_lunatic.config_new(), 999, 1),
    lambda: _lunatic.config_set(_lunatic.config_new(), _lunatic.CONFIG_MAX_MEMORY, -1),
    lambda: _lunatic.spawn(None, None, b"", None),
    lambda: _lunatic.spawn_named("bad_input.no_such_entry", b"", -1, 0),
    lambda: _lunatic.blocking(None, (), None),
    lambda: _lunatic.strerror("x"),
])
def test_low_level_module_wrong_arguments(call, mailbox):
    with pytest.raises(WRONG):
        call()
    still_works(mailbox)
