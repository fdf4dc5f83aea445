"""ProcessConfig (limits and permissions) and blocking() from Python (issue 7).

The processes below report to the main thread with messages; the main thread
itself has every permission and no limit (it is an attached thread).
"""

import threading
import time

import pytest

import lunatic
from lunatic import ExitReason, LinkDied, ProcessDied

TIMEOUT = 10.0
MiB = 1 << 20


def outcome(fn, *args, **kwargs):
    """What calling fn did, as a picklable value: ("ok", result) or (exception class name, message)."""
    try:
        return ("ok", fn(*args, **kwargs))
    except lunatic.Error as e:
        return (type(e).__name__, str(e))


def noop(capture, mailbox):
    pass


# ---------------------------------------------------------------- the config object

def test_a_new_config_grants_nothing():
    c = lunatic.ProcessConfig()
    assert c.max_memory == 0
    assert c.max_fuel == 0
    assert c.can_spawn_processes is False
    assert c.can_create_configs is False
    assert c.stack_size == 0
    assert c.guard_page is False


def test_every_field_has_a_getter_and_a_setter():
    c = lunatic.ProcessConfig()
    c.max_memory = 3 * MiB
    c.max_fuel = 20_000
    c.can_spawn_processes = True
    c.can_create_configs = True
    c.stack_size = 512 << 10
    c.guard_page = True
    assert (c.max_memory, c.max_fuel, c.can_spawn_processes, c.can_create_configs, c.stack_size,
            c.guard_page) == (3 * MiB, 20_000, True, True, 512 << 10, True)
    c.can_spawn_processes = False
    c.guard_page = False
    assert c.can_spawn_processes is False and c.guard_page is False
    # Keywords, and the chained setters of C++.
    k = lunatic.ProcessConfig(max_memory=MiB, stack_size=256 << 10, guard_page=True)
    assert (k.max_memory, k.stack_size, k.guard_page, k.can_spawn_processes) == (MiB, 256 << 10, True, False)
    chained = lunatic.ProcessConfig().set_max_fuel(7).set_can_create_configs(True).set_stack_size(1 << 20)
    assert (chained.max_fuel, chained.can_create_configs, chained.stack_size) == (7, True, 1 << 20)
    assert "max_fuel=7" in repr(chained)


def test_a_config_pickles_as_its_values():
    import pickle

    c = lunatic.ProcessConfig(max_memory=5 * MiB, can_spawn_processes=True, guard_page=True)
    again = pickle.loads(pickle.dumps(c))
    assert again == c and again is not c
    again.max_fuel = 1
    assert again != c


def test_bad_values_are_rejected():
    c = lunatic.ProcessConfig()
    with pytest.raises(TypeError):
        c.max_memory = "1 MiB"
    with pytest.raises(ValueError):
        c.max_fuel = -1
    with pytest.raises(TypeError):
        lunatic.spawn(noop, None, config="not a config")


# ---------------------------------------------------------------- permissions

def try_permissions(parent, mailbox):
    parent.send(("spawn", outcome(lambda: lunatic.spawn(noop, None) and "spawned")))
    parent.send(("config", outcome(lambda: lunatic.ProcessConfig() and "created")))
    try:
        lunatic.ProcessConfig()
    except PermissionError:  # the builtin class catches it too
        parent.send(("builtin", True))
    except Exception as e:
        parent.send(("builtin", repr(e)))
    else:
        parent.send(("builtin", "no error"))


def reports(mailbox, n):
    return dict(mailbox.receive(timeout=TIMEOUT) for _ in range(n))


def test_spawn_and_config_creation_are_denied_until_granted(mailbox):
    me = lunatic.this_process()
    lunatic.spawn(try_permissions, me, config=lunatic.ProcessConfig())
    got = reports(mailbox, 3)
    assert got["spawn"][0] == "PermissionError" and "can_spawn_processes" in got["spawn"][1], got
    assert got["config"][0] == "PermissionError" and "can_create_configs" in got["config"][1], got
    assert got["builtin"] is True

    lunatic.spawn(try_permissions, me, config=lunatic.ProcessConfig(can_spawn_processes=True))
    got = reports(mailbox, 3)
    assert got["spawn"] == ("ok", "spawned")
    assert got["config"][0] == "PermissionError"

    lunatic.spawn(try_permissions, me,
                  config=lunatic.ProcessConfig(can_spawn_processes=True, can_create_configs=True))
    got = reports(mailbox, 3)
    assert got["spawn"] == ("ok", "spawned")
    assert got["config"] == ("ok", "created")
    assert got["builtin"] == "no error"


def protocol_child(capture, protocol):
    end = protocol.send(outcome(lambda: lunatic.spawn(noop, None) and "spawned"))
    end.close()


def test_protocol_and_link_spawns_take_a_config(mailbox):
    end, result = lunatic.spawn(protocol_child, None, protocol=lunatic.Send[object, lunatic.End],
                                config=lunatic.ProcessConfig()).receive(timeout=TIMEOUT)
    assert result[0] == "PermissionError", result
    child = lunatic.spawn_link(noop, None, config=lunatic.ProcessConfig())  # ends normally: no harm
    mailbox.monitor(child)
    died = mailbox.receive(timeout=TIMEOUT)
    assert isinstance(died, ProcessDied) and died.reason in (ExitReason.NORMAL, ExitReason.NOPROC), died


def test_a_stack_over_max_memory_is_a_resource_error():
    with pytest.raises(lunatic.ResourceError):
        lunatic.spawn(noop, None, config=lunatic.ProcessConfig(max_memory=MiB))  # 8 MiB default stack
    with pytest.raises(lunatic.ResourceError):
        lunatic.spawn(noop, None, stack_size=2 * MiB,
                      config=lunatic.ProcessConfig(max_memory=MiB, stack_size=512 << 10))


# ---------------------------------------------------------------- inheritance

def generation(spec, mailbox):
    root, depth = spec
    report = {
        "depth": depth,
        # inherited: no can_create_configs
        "config": outcome(lambda: lunatic.ProcessConfig() and "created")[0],
        # inherited max_memory (4 MiB): an 8 MiB stack is over it
        "big_stack": outcome(lambda: lunatic.spawn(noop, None, stack_size=8 * MiB) and "spawned")[0],
    }
    if depth < 3:
        # Without a config and a stack size: the inherited config's 1 MiB stack (Python's own
        # 8 MiB default would be over max_memory), and its can_spawn_processes.
        report["next"] = outcome(lambda: lunatic.spawn(generation, (root, depth + 1)) and "spawned")[0]
    else:
        report["next"] = outcome(lambda: lunatic.spawn(noop, None) and "spawned")[0]
    root.send(report)


def test_a_config_is_inherited_through_three_generations(mailbox):
    config = lunatic.ProcessConfig(can_spawn_processes=True, max_memory=4 * MiB, stack_size=MiB)
    lunatic.spawn(generation, (lunatic.this_process(), 1), config=config)
    del config  # the spawn took its own copy
    got = sorted((mailbox.receive(timeout=TIMEOUT) for _ in range(3)), key=lambda r: r["depth"])
    assert [r["depth"] for r in got] == [1, 2, 3]
    for r in got:
        assert r["config"] == "PermissionError", r
        assert r["big_stack"] == "ResourceError", r
        assert r["next"] == "ok", r


# ---------------------------------------------------------------- limits

def sink(capture, mailbox):
    lunatic.sleep(60)  # never receives: its mailbox fills up


def flood_and_watch(parent, mailbox):
    mailbox.catch_link_failure()
    config = lunatic.ProcessConfig(max_memory=MiB + (512 << 10), stack_size=MiB)
    target = lunatic.spawn_link(sink, None, tag=77, config=config)
    kib = b"x" * 1024
    sent = 0
    for _ in range(4096):  # 4 MiB: far over the 512 KiB left beside the stack
        if not target.send(kib):
            break
        sent += 1
    died = mailbox.receive(timeout=TIMEOUT)
    lunatic.sleep(0)
    parent.send((died, target, sent, target.send(kib)))


def test_a_mailbox_over_max_memory_fails_its_process_and_the_link_partner_learns_why(mailbox):
    lunatic.spawn(flood_and_watch, lunatic.this_process())
    died, target, sent, send_after = mailbox.receive(timeout=TIMEOUT)
    assert isinstance(died, LinkDied), died
    assert died.process == target
    assert died.tag == 77
    assert died.reason is ExitReason.MEMORY_LIMIT
    assert "memory limit" in died.text
    assert sent > 100  # the sends before the limit went through
    assert send_after is False  # it has ended: it takes no more messages


def busy(capture, mailbox):
    assert mailbox.receive(timeout=TIMEOUT) == "go"
    deadline = time.monotonic() + 30  # without fuel, this would end normally after 30 s
    while time.monotonic() < deadline:
        x = 0
        for i in range(10_000):
            x += i
        lunatic.yield_()


def test_a_busy_loop_that_yields_is_stopped_by_its_fuel(mailbox):
    hog = lunatic.spawn(busy, None, config=lunatic.ProcessConfig(max_fuel=20_000))  # 20 ms
    mailbox.monitor(hog)
    start = time.monotonic()
    hog.send("go")
    died = mailbox.receive(timeout=TIMEOUT)
    assert isinstance(died, ProcessDied) and died.process == hog, died
    assert died.reason is ExitReason.FUEL_EXHAUSTED, died
    assert died.text == "fuel exhausted"
    assert time.monotonic() - start < TIMEOUT


def small_stack_child(parent, mailbox):
    parent.send(sum(range(1000)))


def test_a_config_stack_size_and_guard_page_run_a_process(mailbox):
    config = lunatic.ProcessConfig(stack_size=512 << 10, guard_page=True)
    lunatic.spawn(small_stack_child, lunatic.this_process(), config=config)
    assert mailbox.receive(timeout=TIMEOUT) == 499500


# ---------------------------------------------------------------- blocking()

def sleeper(parent, mailbox):
    parent.send("sleeping")
    result = lunatic.blocking(time.sleep, 3.0)
    parent.send(("slept", result))


def echo(capture, mailbox):
    sender, value = mailbox.receive(timeout=TIMEOUT)
    sender.send(("echo", value))


def test_blocking_sleep_does_not_stall_the_other_processes(mailbox):
    me = lunatic.this_process()
    lunatic.spawn(sleeper, me)
    assert mailbox.receive(timeout=TIMEOUT) == "sleeping"
    start = time.monotonic()
    # Python processes share one worker: had the sleeper's time.sleep held it, the echo
    # could only answer after the sleeper's "slept".
    lunatic.spawn(echo, None).send((me, 1))
    assert mailbox.receive(timeout=TIMEOUT) == ("echo", 1)
    assert time.monotonic() - start < 2.5  # well before the sleeper's 3 s
    assert mailbox.receive(timeout=TIMEOUT) == ("slept", None)


def thread_facts(a, b=0):
    facts = {"sum": a + b, "thread": threading.get_ident()}
    try:
        lunatic.this_process()
        facts["process"] = "yes"
    except lunatic.NotAProcessError:
        facts["process"] = "no"
    return facts


def raise_value_error(text):
    raise ValueError(text)


def blocking_calls(parent, mailbox):
    facts = lunatic.blocking(thread_facts, 1, b=2)
    try:
        lunatic.blocking(raise_value_error, "boom")
        raised = None
    except ValueError as e:
        raised = (str(e), e.__traceback__ is not None)
    parent.send((facts, threading.get_ident(), raised))


def test_blocking_returns_the_result_and_raises_the_exception(mailbox):
    lunatic.spawn(blocking_calls, lunatic.this_process())
    facts, worker_thread, raised = mailbox.receive(timeout=TIMEOUT)
    assert facts["sum"] == 3
    assert facts["thread"] != worker_thread  # a helper thread, not the Python worker
    assert facts["process"] == "no"  # which is no process
    assert raised == ("boom", True)


def test_blocking_on_the_main_thread_runs_in_place():
    facts = lunatic.blocking(thread_facts, 2)
    assert facts == {"sum": 2, "thread": threading.get_ident(), "process": "yes"}
    with pytest.raises(ValueError, match="main"):
        lunatic.blocking(raise_value_error, "main")
    with pytest.raises(TypeError):
        lunatic.blocking(42)


def sort_through_c(values):
    """libc's qsort calling back into Python through ctypes (which takes the GIL with
    PyGILState_Ensure: that deadlocks inside a process, and works on a helper thread)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    compare_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
    compare = compare_type(lambda a, b: a[0] - b[0])
    array = (ctypes.c_int * len(values))(*values)
    libc.qsort(array, len(values), ctypes.sizeof(ctypes.c_int), compare)
    return list(array)


def c_callbacks(parent, mailbox):
    parent.send([lunatic.blocking(sort_through_c, [5, 3, 9, 1, i]) for i in range(3)])


def test_blocking_runs_code_that_uses_the_gilstate_api(mailbox):
    lunatic.spawn(c_callbacks, lunatic.this_process())
    assert mailbox.receive(timeout=TIMEOUT) == [[0, 1, 3, 5, 9], [1, 1, 3, 5, 9], [1, 2, 3, 5, 9]]


def many_blockers(spec, mailbox):
    parent, i = spec
    parent.send(lunatic.blocking(lambda: (time.sleep(0.3), i)[1]))


def test_many_blocking_calls_at_once(mailbox):
    n = 12  # more than the helper pool's 8 threads: the rest queue
    me = lunatic.this_process()
    for i in range(n):
        lunatic.spawn(many_blockers, (me, i))
    assert sorted(mailbox.receive(timeout=TIMEOUT) for _ in range(n)) == list(range(n))
