"""Shared helpers for the Python binding tests (run by meson: suite 'python').

PYTHONPATH points at build/bindings/python, where the built package
(lunatic/ with _lunatic*.so) and the C++ helper extension live.
"""

import os
import select
import subprocess
import sys
import time

import pytest

import lunatic

PYTHON = sys.executable


class Script:
    """A Python script in a child interpreter (same PYTHONPATH), read line by line with deadlines."""

    def __init__(self, tmp_path, code, env=None, args=()):
        path = tmp_path / "script.py"
        path.write_text(code)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([PYTHON, *args, str(path)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=full_env)
        self._buffer = b""

    def wait_for_line(self, expected, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            if b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                if line.decode().strip() == expected:
                    return
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                pytest.fail(f"no line {expected!r} from the script within {timeout} s")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace")
                    pytest.fail(f"script ended before printing {expected!r}; stderr:\n{err}")
                self._buffer += chunk

    def finish(self, timeout=20.0):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"script did not end within {timeout} s")
        return self.proc.returncode, (self._buffer + out).decode(errors="replace"), err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def script(tmp_path):
    made = []

    def make(code, env=None, args=()):
        s = Script(tmp_path, code, env, args)
        made.append(s)
        return s

    yield make
    for s in made:
        s.kill()


@pytest.fixture
def mailbox():
    """The main thread's mailbox, checked empty (of messages and signals) before the test."""
    mb = lunatic.Mailbox()
    stale = []
    while len(mb):
        stale.append(mb.try_receive(signals=True))
    assert not stale, f"messages left over by an earlier test: {stale!r}"
    yield mb
