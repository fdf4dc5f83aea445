"""supervisor.py: servers and supervisors from Python — AbstractProcess, request, Supervisor.

Run it with the built module on the path:

    PYTHONPATH=build/bindings/python /usr/bin/python3 examples/python/supervisor.py
"""

import dataclasses

import lunatic


@dataclasses.dataclass
class Add:
    n: int


@dataclasses.dataclass
class Get:
    pass


@dataclasses.dataclass
class Crash:
    pass


class Counter(lunatic.AbstractProcess):
    """A server: its state lives in its own process."""

    def init(self, start):
        self.count = start
        print(f"counter: started at {start} in {self.this_process().process}")

    @lunatic.handle_message
    def add(self, message: Add):
        self.count += message.n

    @lunatic.handle_request
    def get(self, query: Get):
        return self.count

    @lunatic.handle_message
    def crash(self, message: Crash):
        raise RuntimeError("the counter crashed (on purpose)")


def doubler(_, mailbox):
    """A plain process serving requests."""
    while True:
        req = mailbox.receive()
        req.reply(req.body * 2)


def main():
    # Request/reply with a plain process; a dead server is an error at once, not a hang.
    server = lunatic.spawn(doubler)
    print(f"request: 21 doubled is {lunatic.request(server, 21, timeout=5)}")
    server.kill()
    try:
        lunatic.request(server, 1, timeout=60)
    except lunatic.ServerDied as e:
        print(f"request to a dead server: {e}")

    # A supervised, named server: restarted (and registered again) when it crashes.
    sup = lunatic.Supervisor.start(lunatic.SupervisorSpec(
        strategy=lunatic.Strategy.ONE_FOR_ONE, intensity=(3, 5.0),
        children=[lunatic.ChildSpec(Counter, 10, name="counter")]))
    counter = Counter.lookup("counter")
    counter.send(Add(5))
    print(f"counter: {counter.request(Get(), timeout=5)}")
    counter.send(Crash())
    while (again := Counter.lookup("counter")) in (None, counter):
        lunatic.sleep(0.01)
    print(f"counter after the restart: {again.request(Get(), timeout=5)} (a fresh state)")
    print(f"supervisor shut down: {sup.shutdown(timeout=5).name}")


if __name__ == "__main__":
    main()
