"""limits.py: sandboxed processes from Python — ProcessConfig and blocking().

Run it with the built module on the path:

    PYTHONPATH=build/bindings/python /usr/bin/python3 examples/python/limits.py
"""

import time

import lunatic

MiB = 1 << 20


def untrusted(capture, mailbox):
    """Runs with a config that grants nothing: it may not spawn."""
    try:
        lunatic.spawn(untrusted, None)
    except lunatic.PermissionError as e:
        capture.send(f"untrusted: {e}")


def spinner(capture, mailbox):
    """Burns CPU (politely: it yields) until its fuel runs out."""
    while True:
        sum(range(10_000))
        lunatic.yield_()


def hoarder(capture, mailbox):
    """Never reads its mailbox."""
    lunatic.sleep(3600)


def fetcher(capture, mailbox):
    """Calls something that blocks the OS thread, without stalling the other processes."""
    parent, seconds = capture
    started = time.monotonic()
    lunatic.blocking(time.sleep, seconds)  # stands in for file/socket I/O, a C library, ...
    parent.send(f"fetcher: blocked {time.monotonic() - started:.2f} s on a helper thread")


def ticker(capture, mailbox):
    parent, n = capture
    for _ in range(n):
        lunatic.sleep(0.01)
    parent.send(f"ticker: ticked {n} times meanwhile")


def main():
    me = lunatic.this_process()
    mailbox = lunatic.Mailbox()

    # Permissions: a new config grants nothing.
    lunatic.spawn(untrusted, me, config=lunatic.ProcessConfig())
    print(mailbox.receive(timeout=5))

    # Fuel: 20 ms of CPU time, then the process fails with FUEL_EXHAUSTED.
    hog = lunatic.spawn(spinner, None, config=lunatic.ProcessConfig(max_fuel=20_000))
    mailbox.monitor(hog)
    died = mailbox.receive(timeout=10)
    print(f"spinner: ended with {died.reason.name} ({died.text})")

    # Memory: 1 MiB of stack and 256 KiB of queued messages at most.
    config = lunatic.ProcessConfig(stack_size=MiB, max_memory=MiB + (256 << 10))
    sink = lunatic.spawn(hoarder, None, config=config)
    mailbox.monitor(sink)
    sent = 0
    while sink.send(b"x" * 4096) and sent < 10_000:
        sent += 1
        if sent % 64 == 0:
            lunatic.yield_()  # let it fail and end
    died = mailbox.receive(timeout=10)
    print(f"hoarder: ended with {died.reason.name} after {sent} messages of 4 KiB ({died.text})")

    # blocking(): time.sleep on a helper thread while the ticker keeps running.
    lunatic.spawn(fetcher, (me, 0.5))
    lunatic.spawn(ticker, (me, 20))
    for _ in range(2):
        print(mailbox.receive(timeout=10))


if __name__ == "__main__":
    main()
