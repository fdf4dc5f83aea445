"""Nodes from Python (issue 8): this interpreter and a second OS process running Python
(tests/python/node_peer.py) form a two-node cluster; Python functions of this module are
spawned on the other node by name, reply by remote send, and links and monitors cross the
connection (a killed peer turns into `noconnection`).

Two runtimes cannot live in one Python process, so the second node is a subprocess; it
reads its stdin and ends when it closes, and every fixture kills it in the end.
"""

import os
import subprocess
import sys
import time

import pytest

import lunatic

HERE = os.path.dirname(os.path.abspath(__file__))
COOKIE = "test-nodes-cookie"
TIMEOUT = 15.0  # generous: the machine may be busy


# --------------------------------------------------------------- the second node

class Peer:
    """A node_peer.py subprocess: its port and node id, and a way to end it."""

    def __init__(self, name, cookie=COOKIE, attributes=()):
        env = dict(os.environ)
        env["LUNATIC_WORKERS"] = "2"
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "node_peer.py"), name, cookie,
                                      *attributes], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=HERE)
        line = self._read_line()
        words = line.split()
        if len(words) != 4 or words[0] != "port":
            self.kill()
            pytest.fail(f"node_peer.py printed {line!r}; stderr:\n{self.proc.stderr.read().decode()}")
        self.port, self.id = int(words[1]), int(words[3])

    def _read_line(self):
        import select

        deadline = time.monotonic() + TIMEOUT
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left))
            if not ready:
                self.kill()
                pytest.fail("node_peer.py did not start its node in time")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                err = self.proc.stderr.read().decode(errors="replace")
                pytest.fail(f"node_peer.py ended early; stderr:\n{err}")
            buf += chunk
        return buf.split(b"\n", 1)[0].decode()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


_started = {}


@pytest.fixture(scope="module")
def this_node():
    """This interpreter as a node (once per test session: a runtime starts its node once)."""
    if "port" not in _started:
        _started["port"] = lunatic.node_start("pytest", COOKIE, attributes={"role": "tests"})
    return _started["port"]


@pytest.fixture(scope="module")
def peer(this_node):
    p = Peer("peer-a", attributes=("role=worker", "zone=1"))
    try:
        assert lunatic.connect("127.0.0.1", p.port, timeout=TIMEOUT) == p.id
        yield p
    finally:
        p.kill()


# --------------------------------------------- functions the other node runs by name

def greet(parent, mailbox):
    parent.send(("hello from", lunatic.node_id(), lunatic.this_process()))


def echo(_, mailbox):
    while True:
        msg = mailbox.receive_message()
        if msg.value == "stop":
            return
        msg.sender.send(("echo", msg.value))


def fail_after_go(_, mailbox):
    raise ValueError("boom on the other node")


def wait_forever(parent, mailbox):
    parent.send("running")
    mailbox.receive()


def register_and_wait(name, mailbox):
    lunatic.this_process().register(name)
    mailbox.receive()


not_a_function = 42


def nested_maker():
    def nested(_, mailbox):
        pass

    return nested


# ------------------------------------------------------------------- the tests

def test_spawn_on_the_other_node_and_reply(peer, mailbox):
    me = lunatic.this_process()
    child = lunatic.spawn_node(peer.id, greet, me)
    assert child.node_id == peer.id
    what, node, sender = mailbox.receive(timeout=TIMEOUT)
    assert (what, node) == ("hello from", peer.id)
    assert sender == child  # the handle spawn_node returned is the process that runs


def test_ping_pong_across_nodes(peer, mailbox):
    child = lunatic.spawn_node(peer.id, "test_nodes:echo")  # by "module:qualname" too
    for i in range(20):
        assert child.send(i) is True
        assert mailbox.receive(timeout=TIMEOUT) == ("echo", i)
    mailbox.monitor(child)
    child.send("stop")
    died = mailbox.receive_signal(timeout=TIMEOUT)
    assert isinstance(died, lunatic.ProcessDied)
    assert died.process == child and died.reason == lunatic.ExitReason.NORMAL


def link_driver(peer_id, mailbox):
    """Traps links, spawns a failing function on the other node linked, reports the signal."""
    lunatic.trap_links()
    child = lunatic.spawn_node(peer_id, fail_after_go, link=True)
    signal = mailbox.receive_signal(timeout=TIMEOUT)
    return_to = lunatic.lookup("test-nodes-parent")
    return_to.send((signal.reason, signal.text, signal.process == child))


def test_link_across_nodes_shows_the_failure(peer, mailbox):
    lunatic.this_process().register("test-nodes-parent")
    try:
        lunatic.spawn(link_driver, peer.id)
        reason, text, same = mailbox.receive(timeout=TIMEOUT)
    finally:
        lunatic.unregister("test-nodes-parent")
    assert reason == lunatic.ExitReason.FAILED
    assert "ValueError: boom on the other node" in text
    assert same


def test_monitor_and_kill_across_nodes(peer, mailbox):
    child = lunatic.spawn_node(peer.id, wait_forever, lunatic.this_process())
    assert mailbox.receive(timeout=TIMEOUT) == "running"
    mailbox.monitor(child)
    child.kill()
    died = mailbox.receive_signal(timeout=TIMEOUT)
    assert died.process == child and died.reason == lunatic.ExitReason.KILLED


def test_nodes_and_lookup_nodes(peer):
    # Attributes follow the handshake in a frame of their own.
    deadline = time.monotonic() + TIMEOUT
    while not lunatic.lookup_nodes("role=worker") and time.monotonic() < deadline:
        lunatic.sleep(0.01)
    listed = {n.id: n for n in lunatic.nodes()}
    assert peer.id in listed
    node = listed[peer.id]
    assert node.name == "peer-a"
    assert node.address.endswith(f":{peer.port}")
    assert node.attributes == {"role": "worker", "zone": "1"}
    assert [n.id for n in lunatic.lookup_nodes("role=worker")] == [peer.id]
    assert [n.id for n in lunatic.lookup_nodes("zone")] == [peer.id]
    assert lunatic.lookup_nodes("role=nobody") == []


def test_lookup_on_the_other_node(peer, mailbox):
    node = next(n for n in lunatic.nodes() if n.id == peer.id)
    child = lunatic.spawn_node(node, register_and_wait, "remote-name")  # a Node works as well
    deadline = time.monotonic() + TIMEOUT
    found = None
    while found is None and time.monotonic() < deadline:
        found = lunatic.lookup("remote-name", node=node)
        if found is None:
            lunatic.sleep(0.02)
    assert found == child
    assert lunatic.Process.lookup("remote-name", node=peer.id) == child
    assert lunatic.lookup("remote-name") is None  # not in this node's registry
    assert lunatic.lookup("remote-name", node=peer.id, serializer=lunatic.Json) is None  # typed
    child.send("bye")


def test_names_that_do_not_resolve_there(peer):
    with pytest.raises(lunatic.NotFoundError, match="no_such_module"):
        lunatic.spawn_node(peer.id, "no_such_module:f")
    with pytest.raises(lunatic.NotFoundError, match="no_such_function"):
        lunatic.spawn_node(peer.id, "test_nodes:no_such_function")
    with pytest.raises(lunatic.NotFoundError, match="not callable"):
        lunatic.spawn_node(peer.id, "test_nodes:not_a_function")


@pytest.mark.parametrize("fn, error", [
    (lambda _, mailbox: None, ValueError),
    (nested_maker(), ValueError),
    ("no colon", ValueError),
    ("mod:not an identifier", ValueError),
    (42, TypeError),
])
def test_functions_not_importable_by_name_are_refused_here(this_node, fn, error):
    with pytest.raises(error):
        lunatic.spawn_node(lunatic.node_id(), fn)


def test_main_functions_are_refused_here(this_node):
    def fake():
        pass

    fake.__module__ = "__main__"
    fake.__qualname__ = "fake"
    with pytest.raises(ValueError, match="__main__"):
        lunatic.spawn_node(lunatic.node_id(), fake)


def test_unknown_node(this_node):
    with pytest.raises(lunatic.NoNodeError):
        lunatic.spawn_node(0x1234567, greet, None)
    with pytest.raises(lunatic.NoNodeError):
        lunatic.lookup("anything", node=0x1234567)


def test_wrong_cookie_is_refused(this_node):
    other = Peer("peer-other-cookie", cookie="another-cookie")
    try:
        with pytest.raises(lunatic.PermissionError):
            lunatic.connect("127.0.0.1", other.port, timeout=TIMEOUT)
        assert other.id not in [n.id for n in lunatic.nodes()]
    finally:
        other.kill()


def crash_driver(peer_id, mailbox):
    """Links to and monitors a process on the other node, then reports the signals it gets."""
    lunatic.trap_links()
    child = lunatic.spawn_node(peer_id, wait_forever, lunatic.this_process(), link=True)
    mailbox.monitor(child)
    assert mailbox.receive(timeout=TIMEOUT) == "running"
    parent = lunatic.lookup("test-nodes-crash")
    parent.send("ready")
    signals = [mailbox.receive_signal(timeout=TIMEOUT)]
    signals.append(mailbox.receive_signal(timeout=TIMEOUT))
    extra = mailbox.try_receive(signals=True) if mailbox.size() else None
    lunatic.sleep(0.3)  # exactly once: nothing more arrives later
    if extra is None and mailbox.size():
        extra = mailbox.try_receive(signals=True)
    parent.send(([(type(s).__name__, s.reason, s.process == child) for s in signals], repr(extra)))


def test_killing_the_other_os_process_gives_noconnection(this_node, mailbox):
    doomed = Peer("peer-doomed")
    try:
        assert lunatic.connect("127.0.0.1", doomed.port, timeout=TIMEOUT) == doomed.id
        lunatic.this_process().register("test-nodes-crash")
        lunatic.spawn(crash_driver, doomed.id)
        assert mailbox.receive(timeout=TIMEOUT) == "ready"
        doomed.proc.kill()  # SIGKILL: the socket closes, the node is lost
        signals, extra = mailbox.receive(timeout=TIMEOUT)
    finally:
        lunatic.unregister("test-nodes-crash")
        doomed.kill()
    assert sorted(signals) == [("LinkDied", lunatic.ExitReason.NOCONNECTION, True),
                               ("ProcessDied", lunatic.ExitReason.NOCONNECTION, True)]
    assert extra == "None"
    deadline = time.monotonic() + TIMEOUT
    while doomed.id in [n.id for n in lunatic.nodes()] and time.monotonic() < deadline:
        lunatic.sleep(0.02)
    assert doomed.id not in [n.id for n in lunatic.nodes()]


@pytest.mark.parametrize("kwargs", [
    {"port": 1.5}, {"port": -1}, {"port": 70000}, {"heartbeat": 0}, {"heartbeat": "1"},
    {"attributes": ["a=b"]}, {"attributes": {"a=b": "c"}}, {"attributes": {"a": 1}},
])
def test_node_start_bad_arguments(kwargs):
    with pytest.raises((TypeError, ValueError)):
        lunatic.node_start("x", "cookie", **kwargs)


@pytest.mark.parametrize("args", [("127.0.0.1", 0), ("127.0.0.1", 1.5), (1, 80), ("127.0.0.1", 70000)])
def test_connect_bad_arguments(args):
    with pytest.raises((TypeError, ValueError)):
        lunatic.connect(*args)


def test_spawn_node_with_a_config(peer, mailbox):
    config = lunatic.ProcessConfig(can_spawn_processes=True, max_memory=1 << 30)
    child = lunatic.spawn_node(peer.id, greet, lunatic.this_process(), config=config)
    what, node, sender = mailbox.receive(timeout=TIMEOUT)
    assert (what, node, sender) == ("hello from", peer.id, child)
    # The starter on the other node is a process of that config: it must be allowed to spawn.
    with pytest.raises(lunatic.PermissionError, match="cannot start the Python process"):
        lunatic.spawn_node(peer.id, greet, None, config=lunatic.ProcessConfig())


@pytest.mark.parametrize("stack_size", [1.5, -1, 1 << 64, "big"])
def test_spawn_node_bad_stack_sizes(this_node, stack_size):
    with pytest.raises((TypeError, ValueError)):
        lunatic.spawn_node(lunatic.node_id(), greet, None, stack_size=stack_size)


def test_spawn_node_on_this_node(this_node, mailbox):
    child = lunatic.spawn_node(lunatic.node_id(), greet, lunatic.this_process())
    what, node, sender = mailbox.receive(timeout=TIMEOUT)
    assert (what, node, sender) == ("hello from", lunatic.node_id(), child)


def connect_from_a_process(port, mailbox):
    parent = lunatic.lookup("test-nodes-connect")
    parent.send(lunatic.connect("127.0.0.1", port, timeout=TIMEOUT))


def test_connect_from_a_process(peer, mailbox):
    # Connected already: not an error, and from a process it waits on a helper thread.
    lunatic.this_process().register("test-nodes-connect")
    try:
        lunatic.spawn(connect_from_a_process, peer.port)
        assert mailbox.receive(timeout=TIMEOUT) == peer.id
    finally:
        lunatic.unregister("test-nodes-connect")


def _c_node_binary():
    """tests/nodes_multiprocess of the build this lunatic comes from (a C node: `child` mode)."""
    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(lunatic.__file__)))))
    path = os.path.join(build, "tests", "nodes_multiprocess")
    return path if os.access(path, os.X_OK) else None


def test_a_node_without_python(script):
    """spawn_node to a node that does not run Python: NotFoundError naming the entry."""
    binary = _c_node_binary()
    if binary is None:
        pytest.skip("the C node program (build/tests/nodes_multiprocess) is not built")
    c_node = subprocess.Popen([binary, "child"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        line = c_node.stdout.readline().decode()
        assert line.startswith("PORT "), line
        # A fresh interpreter with the C node's cookie (this one's node has another).
        s = script(f"""
import lunatic
lunatic.node_start("py", "multiprocess-cookie")
c = lunatic.connect("127.0.0.1", {int(line.split()[1])}, timeout={TIMEOUT})
try:
    lunatic.spawn_node(c, "test_nodes:greet")
except lunatic.NotFoundError as e:
    print("NotFoundError:", e)
""", env={"LUNATIC_WORKERS": "2"})
        rc, out, err = s.finish(timeout=TIMEOUT)
    finally:
        c_node.kill()
        c_node.communicate()
    assert rc == 0, err
    assert "NotFoundError:" in out and "does not run Python" in out and "lunatic.python" in out, out
