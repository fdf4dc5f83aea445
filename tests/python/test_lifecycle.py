"""Interpreter-level behaviour, each in a fresh interpreter: exit, Ctrl-C, fork."""

import os
import signal
import sys
import time

import pytest


def test_exit_kills_blocked_processes_and_runs_finally(script):
    s = script("""
import lunatic

def blocked(capture, mailbox):
    try:
        mailbox.receive()
    except lunatic.Killed:
        print("killed", capture, flush=True)
        raise
    finally:
        print("finally", capture, flush=True)

def swallow(capture, mailbox):
    try:
        mailbox.receive()
    except Exception:
        print("WRONG: except Exception caught the kill", flush=True)

for i in range(3):
    lunatic.spawn(blocked, i)
lunatic.spawn(swallow, None)
lunatic.sleep(0.1)
print("main done", flush=True)
""")
    rc, out, err = s.finish(timeout=30)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "main done"
    for i in range(3):
        assert f"killed {i}" in lines and f"finally {i}" in lines
    assert "WRONG" not in out
    assert "Fatal" not in err and "Traceback" not in err


def test_exit_with_never_started_and_sleeping_processes(script):
    s = script("""
import lunatic

def sleeper(capture, mailbox):
    lunatic.sleep(3600)

def spawner(capture, mailbox):
    for _ in range(100):
        lunatic.spawn(sleeper, None)
    mailbox.receive()

for _ in range(50):
    lunatic.spawn(spawner, None)
print("bye", flush=True)
""")
    rc, out, err = s.finish(timeout=30)
    assert rc == 0, err
    assert out.strip() == "bye"


CTRL_C = """
import lunatic, time

def background(capture, mailbox):
    mailbox.receive()

lunatic.spawn(background, None)
print("ready", flush=True)
try:
    {call}
    print("returned", flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    raise SystemExit(42)
"""


@pytest.mark.parametrize("call", [
    "lunatic.Mailbox().receive()",
    "lunatic.Mailbox().receive(timeout=3600)",
    "lunatic.Mailbox().tag_receive([lunatic.Tag()])",
    "lunatic.sleep(3600)",
])
def test_ctrl_c_interrupts_a_blocked_main_thread(script, call):
    s = script(CTRL_C.format(call=call))
    s.wait_for_line("ready")
    time.sleep(0.2)  # let it block
    sent = time.monotonic()
    s.proc.send_signal(signal.SIGINT)
    rc, out, err = s.finish(timeout=10)
    elapsed = time.monotonic() - sent
    assert rc == 42, (out, err)
    assert "KeyboardInterrupt" in out and "returned" not in out
    print(f"KeyboardInterrupt after {elapsed * 1000:.0f} ms (informative)")


def test_fork_child_does_not_deadlock(script):
    s = script("""
import os, sys, lunatic

def blocked(capture, mailbox):
    mailbox.receive()

for _ in range(10):
    lunatic.spawn(blocked, None)
lunatic.sleep(0.05)
pid = os.fork()
if pid == 0:
    try:
        lunatic.Mailbox().receive(timeout=1)
        print("child: WRONG, lunatic worked", flush=True)
    except lunatic.NotAProcessError as e:
        print("child: refused", "os.fork" in str(e), flush=True)
    print("child: plain python works", sum(range(10)), flush=True)
    sys.exit(7)  # a normal interpreter exit: the atexit hook must not hang
_, status = os.waitpid(pid, 0)
print("parent: child exit", os.waitstatus_to_exitcode(status), flush=True)
me = lunatic.this_process()
me.send("still fine")
print("parent:", lunatic.Mailbox().receive(timeout=5), flush=True)
""")
    rc, out, err = s.finish(timeout=30)
    assert rc == 0, err
    assert "child: refused True" in out
    assert "child: plain python works 45" in out
    assert "parent: child exit 7" in out
    assert "parent: still fine" in out
    assert "WRONG" not in out


def test_workers_can_be_set_before_first_use(script):
    s = script("import lunatic; print(lunatic.workers(), flush=True)", env={"LUNATIC_WORKERS": "3"})
    rc, out, err = s.finish(timeout=30)
    assert rc == 0, err
    assert out.strip() == "3"


def test_uncaught_exception_in_main_still_exits_cleanly(script):
    s = script("""
import lunatic

def blocked(capture, mailbox):
    try:
        mailbox.receive()
    finally:
        print("finally", flush=True)

lunatic.spawn(blocked, None)
lunatic.sleep(0.05)
raise RuntimeError("main failed")
""")
    rc, out, err = s.finish(timeout=30)
    assert rc == 1
    assert "RuntimeError: main failed" in err
    assert out.strip() == "finally"
    assert "Fatal" not in err
