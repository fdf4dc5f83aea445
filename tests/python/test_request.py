"""Request/reply, AbstractProcess and ProcessRef from Python (issue 11)."""

import dataclasses
import time

import pytest

import lunatic
from lunatic import ExitReason, ProcessDied

TIMEOUT = 10.0


def assert_empty(mailbox, settle=0.0):
    if settle:
        lunatic.sleep(settle)
    left = []
    while len(mailbox):
        left.append(mailbox.try_receive(signals=True))
    assert not left, f"left in the mailbox: {left!r}"


# ---------------------------------------------------------------- plain processes as servers

def doubler(_, mailbox):
    while True:
        req = mailbox.receive()
        req.reply(req.body * 2)


def test_request_to_a_plain_process(mailbox):
    server = lunatic.spawn(doubler)
    assert lunatic.request(server, 21, timeout=TIMEOUT) == 42
    assert lunatic.request(server, "ab") == "abab"  # no timeout: still ends if the server dies
    server.kill()
    assert_empty(mailbox)


def test_request_to_a_dead_server_is_a_prompt_error(mailbox):
    server = lunatic.spawn(doubler)
    server.kill()
    while server.is_alive():
        lunatic.sleep(0.001)
    start = time.monotonic()
    with pytest.raises(lunatic.ServerDied) as info:
        lunatic.request(server, 1, timeout=30)
    assert time.monotonic() - start < 5
    assert isinstance(info.value, lunatic.NoProcessError)
    assert info.value.process == server
    assert info.value.reason is ExitReason.NOPROC
    assert_empty(mailbox)


def dies_on_request(_, mailbox):
    mailbox.receive()
    raise RuntimeError("server crashed mid-request")


def test_a_server_that_dies_mid_request_is_a_prompt_error(mailbox):
    server = lunatic.spawn(dies_on_request)
    start = time.monotonic()
    with pytest.raises(lunatic.ServerDied) as info:
        lunatic.request(server, "hello", timeout=30)
    assert time.monotonic() - start < 5
    assert info.value.reason is ExitReason.FAILED
    assert "server crashed mid-request" in info.value.text
    assert_empty(mailbox)


def slow_replier(spec, mailbox):
    observer, delay = spec
    req = mailbox.receive()
    lunatic.sleep(delay)
    observer.tag_send(99, ("replied", req.reply(req.body)))


def test_a_late_reply_is_discarded(mailbox):
    server = lunatic.spawn(slow_replier, (lunatic.this_process(), 0.5))
    with pytest.raises(lunatic.TimeoutError):
        lunatic.request(server, "late", timeout=0.05)
    # The server did send the reply (to a live process)...
    assert mailbox.tag_receive(99, timeout=TIMEOUT) == ("replied", True)
    # ...and it never shows up here, nor does the monitor's ProcessDied when the server ends.
    assert_empty(mailbox, settle=0.2)


def test_a_reply_after_a_timeout_does_not_reach_a_later_request(mailbox):
    slow = lunatic.spawn(slow_replier, (lunatic.this_process(), 0.3))
    with pytest.raises(lunatic.TimeoutError):
        lunatic.request(slow, "old", timeout=0.05)
    fast = lunatic.spawn(doubler)
    assert lunatic.request(fast, 5, timeout=TIMEOUT) == 10  # not "old"
    assert mailbox.tag_receive(99, timeout=TIMEOUT) == ("replied", True)
    assert lunatic.request(fast, 6, timeout=TIMEOUT) == 12
    fast.kill()
    assert_empty(mailbox, settle=0.1)


def client(spec, mailbox):
    parent, server, value = spec
    parent.send((value, lunatic.request(server, value, timeout=TIMEOUT)))


def delayed_doubler(delay, mailbox):
    while True:
        req = mailbox.receive()
        lunatic.sleep(delay)
        req.reply(req.body * 2)


def test_requests_to_several_servers_are_outstanding_at_once(mailbox):
    me = lunatic.this_process()
    servers = [lunatic.spawn(delayed_doubler, d) for d in (0.3, 0.2, 0.1, 0.0)]
    for i, s in enumerate(servers):
        lunatic.spawn(client, (me, s, i + 1))
    # Unrelated messages queued meanwhile are not taken by the requests.
    me.tag_send(7, "unrelated")
    got = dict(mailbox.tag_receive(0, timeout=TIMEOUT) for _ in servers)
    assert got == {1: 2, 2: 4, 3: 6, 4: 8}
    # The main thread with requests outstanding on the others' servers too.
    assert lunatic.request(servers[3], 50, timeout=TIMEOUT) == 100
    assert mailbox.tag_receive(7, timeout=TIMEOUT) == "unrelated"
    for s in servers:
        s.kill()
    assert_empty(mailbox)


# ---------------------------------------------------------------- AbstractProcess

@dataclasses.dataclass
class Add:
    n: int


@dataclasses.dataclass
class Get:
    pass


@dataclasses.dataclass
class GetLater:
    via: lunatic.Process


@dataclasses.dataclass
class Crash:
    text: str


class Counter(lunatic.AbstractProcess):
    def init(self, arg):
        start, observer = arg
        if start < 0:
            raise ValueError(f"negative start {start}")
        self.count = start
        self.observer = observer
        if observer is not None:
            observer.tag_send(50, ("init", start))

    @lunatic.handle_message
    def add(self, message: Add):
        self.count += message.n

    @lunatic.handle_message
    def crash(self, message: Crash):
        raise RuntimeError(message.text)

    @lunatic.handle_request
    def get(self, query: Get):
        return self.count

    @lunatic.handle_deferred_request
    def get_later(self, query: GetLater, response: lunatic.DeferredResponse):
        query.via.send((response, self.count))  # a third process answers

    def terminate(self):
        if self.observer is not None:
            self.observer.tag_send(50, ("terminate", self.count))


def test_a_server_handles_messages_and_requests(mailbox):
    ref = Counter.start((10, None))
    assert isinstance(ref, lunatic.ProcessRef)
    assert ref.send(Add(5)) is True
    assert ref.request(Get(), timeout=TIMEOUT) == 15
    with pytest.raises(TypeError, match="no message handler for str"):
        ref.send("not an Add")
    with pytest.raises(TypeError, match="no request handler for Add"):
        ref.request(Add(1))
    assert ref.shutdown(timeout=TIMEOUT) is ExitReason.NORMAL
    assert ref.send(Add(1)) is False
    with pytest.raises(lunatic.ServerDied):
        ref.request(Get(), timeout=TIMEOUT)
    assert ref.shutdown(timeout=TIMEOUT) is ExitReason.NOPROC
    assert_empty(mailbox)


def test_shutdown_runs_terminate_after_what_was_queued(mailbox):
    ref = Counter.start((1, lunatic.this_process()))
    assert mailbox.tag_receive(50, timeout=TIMEOUT) == ("init", 1)
    ref.send(Add(2))
    ref.send(Add(3))
    assert ref.shutdown(timeout=TIMEOUT) is ExitReason.NORMAL
    assert mailbox.tag_receive(50, timeout=TIMEOUT) == ("terminate", 6)
    assert not ref.is_alive()
    assert_empty(mailbox)


def forwarder(_, mailbox):
    while True:
        response, value = mailbox.receive()
        lunatic.sleep(0.01)
        response.send_response(value * 100)


def test_a_deferred_reply_is_forwarded_through_a_third_process(mailbox):
    ref = Counter.start((7, None))
    third = lunatic.spawn(forwarder)
    assert ref.request(GetLater(third), timeout=TIMEOUT) == 700
    assert ref.request(Get(), timeout=TIMEOUT) == 7  # the server went on meanwhile
    third.kill()
    ref.shutdown(timeout=TIMEOUT)
    assert_empty(mailbox)


def test_a_handler_exception_fails_the_server_and_its_requesters_hear_it(mailbox):
    ref = Counter.start((0, None))
    mailbox.monitor(ref.process)
    ref.send(Crash("handler boom"))
    with pytest.raises(lunatic.ServerDied) as info:
        ref.request(Get(), timeout=TIMEOUT)
    assert "handler boom" in info.value.text
    died = mailbox.receive(timeout=TIMEOUT)
    assert isinstance(died, ProcessDied) and died.reason is ExitReason.FAILED
    assert_empty(mailbox)


def test_startup_errors_come_back_to_the_starter(mailbox):
    with pytest.raises(lunatic.StartFailed, match="ValueError: negative start -1"):
        Counter.start((-1, None))
    # Linked: the starter learns from the error, it is not killed (init's failure is a normal end).
    with pytest.raises(lunatic.StartFailed):
        Counter.start_link((-2, None))
    # A failed start_as frees its name.
    with pytest.raises(lunatic.StartFailed):
        Counter.start_as("counter-bad-start", (-3, None))
    assert Counter.lookup("counter-bad-start") is None
    ref = Counter.start_as("counter-bad-start", (3, None))
    assert ref.request(Get(), timeout=TIMEOUT) == 3
    ref.shutdown(timeout=TIMEOUT)
    assert_empty(mailbox)


class NeverReady(lunatic.AbstractProcess):
    def init(self, arg):
        lunatic.this_process().kill()
        lunatic.sleep(10)


def test_a_server_that_dies_during_init_does_not_hang_its_starter(mailbox):
    start = time.monotonic()
    with pytest.raises(lunatic.StartFailed, match="ended during init"):
        NeverReady.start()
    assert time.monotonic() - start < 5
    assert_empty(mailbox)


def race_starter(spec, mailbox):
    parent, name = spec
    assert mailbox.receive(timeout=TIMEOUT) == "go"
    ref = Counter.start_as(name, (5, parent))
    parent.send(("ref", ref))


def test_start_as_races_give_one_server(mailbox):
    me = lunatic.this_process()
    starters = [lunatic.spawn(race_starter, (me, "counter-race")) for _ in range(4)]
    for s in starters:
        s.send("go")
    refs = [mailbox.tag_receive(0, timeout=TIMEOUT) for _ in starters]
    assert {r[0] for r in refs} == {"ref"}
    assert len({r[1] for r in refs}) == 1, refs
    ref = refs[0][1]
    assert Counter.lookup("counter-race") == ref
    assert mailbox.tag_receive(50, timeout=TIMEOUT) == ("init", 5)  # one init only
    ref.shutdown(timeout=TIMEOUT)
    assert mailbox.tag_receive(50, timeout=TIMEOUT) == ("terminate", 5)
    assert_empty(mailbox, settle=0.1)


def test_a_process_ref_pickles_and_travels(mailbox):
    import pickle

    ref = Counter.start((4, None))
    again = pickle.loads(pickle.dumps(ref))
    assert again == ref and hash(again) == hash(ref)
    assert again.request(Get(), timeout=TIMEOUT) == 4
    ref.shutdown(timeout=TIMEOUT)


class Watcher(lunatic.AbstractProcess):
    def init(self, observer):
        self.observer = observer
        self.die_if_link_dies(False)

    @lunatic.handle_request
    def link_to(self, process: lunatic.Process):
        process.link(lunatic.Tag(5))
        return "linked"

    def handle_link_death(self, died):
        self.observer.send(("link died", died.tag, died.reason))


def fail_later(_, mailbox):
    mailbox.receive(timeout=TIMEOUT)
    raise ValueError("linked one fails")


def test_handle_link_death(mailbox):
    ref = Watcher.start(lunatic.this_process())
    victim = lunatic.spawn(fail_later)
    assert ref.request(victim, timeout=TIMEOUT) == "linked"
    victim.send("go")
    assert mailbox.receive(timeout=TIMEOUT) == ("link died", 5, ExitReason.FAILED)
    assert ref.is_alive()
    ref.shutdown(timeout=TIMEOUT)
    assert_empty(mailbox)


# ---------------------------------------------------------------- with C++ (the same wire format)

@pytest.fixture
def cpp():
    return pytest.importorskip("_lunatic_testhelper")


@pytest.mark.parametrize("serializer", [lunatic.MessagePack, lunatic.Json])
def test_python_requests_a_cpp_server(mailbox, cpp, serializer):
    kind = "msgpack" if serializer is lunatic.MessagePack else "json"
    server = lunatic.spawn_named(f"lunatic_test.doubler_{kind}", 2, serializer=serializer)
    assert lunatic.request(server, 21, timeout=TIMEOUT) == 42
    assert lunatic.request(server, -4, timeout=TIMEOUT) == -8
    assert_empty(mailbox)


def python_doubler(kind, mailbox):
    serializer = lunatic.MessagePack if kind == "msgpack" else lunatic.Json
    while True:
        req = lunatic.Request.from_wire(mailbox.receive(), serializer)
        if req.body < 0:
            raise ValueError("negative")
        req.reply(req.body * 2)


@pytest.mark.parametrize("serializer", [lunatic.MessagePack, lunatic.Json])
def test_a_cpp_client_requests_a_python_server(mailbox, cpp, serializer):
    kind = "msgpack" if serializer is lunatic.MessagePack else "json"
    me = lunatic.this_process(serializer)
    server = lunatic.spawn(python_doubler, kind, serializer=serializer)
    report = mailbox.__class__(serializer)
    lunatic.spawn_named(f"lunatic_test.requester_{kind}", [server, 21, me], serializer=serializer)
    assert report.receive(timeout=TIMEOUT) == "ok:42"
    lunatic.spawn_named(f"lunatic_test.requester_{kind}", [server, -1, me], serializer=serializer)
    died = report.receive(timeout=TIMEOUT)
    assert died.startswith("died:") and "ValueError: negative" in died, died
    assert_empty(mailbox)


class CAdd:
    def __init__(self, n):
        self.n = n

    def _lunatic_fields(self):
        return (self.n,)


class CGet:
    def _lunatic_fields(self):
        return (0,)


class CppCounter(lunatic.AbstractProcess):
    """The Python face of the helper's C++ CppCounter: handlers in the same order, MessagePack."""

    serializer = lunatic.MessagePack

    @lunatic.handle_message
    def add(self, message: CAdd):
        raise NotImplementedError  # runs in C++

    @lunatic.handle_request
    def get(self, query: CGet):
        raise NotImplementedError


def test_a_python_process_ref_talks_to_a_cpp_server(mailbox, cpp):
    me = lunatic.this_process(lunatic.MessagePack)
    lunatic.spawn_named("lunatic_test.counter_server_msgpack", me, serializer=lunatic.MessagePack)
    pid = lunatic.Mailbox(lunatic.MessagePack).receive(timeout=TIMEOUT)
    ref = lunatic.ProcessRef(CppCounter, lunatic.Process.from_wire(pid))
    assert ref.send(CAdd(5))
    assert ref.request(CGet(), timeout=TIMEOUT) == 15
    assert ref.shutdown(timeout=TIMEOUT) is ExitReason.NORMAL
    assert_empty(mailbox)
