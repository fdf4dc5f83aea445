"""The peer suite's workloads on lunatic Python processes (see bench_python.py).

Each workload runs inside a driver process spawned by the main thread (itself
a process once `import lunatic` ran); the driver sends (value, check) back.
Python processes share one worker thread (bindings/python/README.md).
"""

import sys
import time

import lunatic

RING_SIZE = 1000
FANIN_SENDERS = 4
UNITS = {"skynet": "ns/leaf", "spawn": "ns/process", "pingpong": "ns/message", "ring": "ns/hop",
         "fanin": "ns/message", "parked": "B/process"}


def vmrss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def skynet_node(capture, mailbox):
    parent, num, size = capture
    if size == 1:
        parent.send(num)
        return
    me = lunatic.this_process()
    child = size // 10
    for i in range(10):
        lunatic.spawn(skynet_node, (me, num + i * child, child))
    parent.send(sum(mailbox.receive() for _ in range(10)))


def skynet(n, mailbox):
    t = time.perf_counter()
    lunatic.spawn(skynet_node, (lunatic.this_process(), 0, n))
    total = mailbox.receive()
    return (time.perf_counter() - t) / n * 1e9, "ok" if total == n * (n - 1) // 2 else f"fail:sum={total}"


def empty(capture, mailbox):
    pass


def spawn(n, mailbox):
    base = lunatic.process_count()
    t = time.perf_counter()
    for _ in range(n):
        lunatic.spawn(empty)
    while lunatic.process_count() > base:
        lunatic.yield_()
    return (time.perf_counter() - t) / n * 1e9, "ok"


def pong(capture, mailbox):
    while (m := mailbox.receive()) is not None:
        capture.send(m)


def pingpong(n, mailbox):
    other = lunatic.spawn(pong, lunatic.this_process())
    ok = 0
    t = time.perf_counter()
    for i in range(n):
        other.send(i)
        ok += mailbox.receive() == i
    dt = time.perf_counter() - t
    other.send(None)
    return dt / (2 * n) * 1e9, "ok" if ok == n else "fail:wrong replies"


def ring_node(capture, mailbox):
    driver, index = capture
    nxt = mailbox.receive()
    while (v := mailbox.receive()) is not None:
        if v == 0:
            driver.send(index)
        else:
            nxt.send(v - 1)


def ring(n, mailbox):
    me = lunatic.this_process()
    nodes = [lunatic.spawn(ring_node, (me, i)) for i in range(RING_SIZE)]
    for i, p in enumerate(nodes):
        p.send(nodes[(i + 1) % RING_SIZE])
    t = time.perf_counter()
    nodes[0].send(n)
    last = mailbox.receive()
    dt = time.perf_counter() - t
    for p in nodes:
        p.send(None)
    return dt / n * 1e9, "ok" if last == n % RING_SIZE else "fail:token ended at the wrong node"


def fanin_sender(capture, mailbox):
    to, s, per = capture
    for i in range(per):
        to.send((s, i))


def fanin(n, mailbox):
    per = n // FANIN_SENDERS
    me = lunatic.this_process()
    t = time.perf_counter()
    for s in range(FANIN_SENDERS):
        lunatic.spawn(fanin_sender, (me, s, per))
    nxt, bad = [0] * FANIN_SENDERS, 0
    for _ in range(per * FANIN_SENDERS):
        s, i = mailbox.receive()
        bad += nxt[s] != i
        nxt[s] = i + 1
    return (time.perf_counter() - t) / (per * FANIN_SENDERS) * 1e9, "fail:lost or reordered" if bad else "ok"


def parked_node(capture, mailbox):
    capture.send("parked")
    mailbox.receive()


def parked(n, mailbox):
    me = lunatic.this_process()
    base = lunatic.process_count()
    before = vmrss_kib()
    nodes = [lunatic.spawn(parked_node, me) for _ in range(n)]
    for _ in range(n):
        mailbox.receive()
    after = vmrss_kib()
    for i, p in enumerate(nodes):
        p.send(i)
    while lunatic.process_count() > base:
        lunatic.yield_()
    return (after - before) * 1024 / n, "ok"


WORKLOADS = {"skynet": skynet, "spawn": spawn, "pingpong": pingpong, "ring": ring, "fanin": fanin,
             "parked": parked}


def driver(capture, mailbox):
    main, workload, n = capture
    try:
        main.send(WORKLOADS[workload](n, mailbox))
    except BaseException as e:  # report instead of leaving the main thread waiting
        main.send((0.0, f"fail:{type(e).__name__}"))
        raise


def run_workload(args):
    workload, n = args[0], int(args[1])
    runs = int(args[2]) if len(args) > 2 else 1
    if workload not in WORKLOADS:
        print(f"unknown workload {workload}", file=sys.stderr)
        return 2
    failed = False
    inbox = lunatic.Mailbox()
    for _ in range(runs):
        lunatic.spawn(driver, (lunatic.this_process(), workload, n))
        value, check = inbox.receive(timeout=900)
        failed |= check != "ok"
        print(f"RESULT workload={workload} n={n} value={value:.1f} unit={UNITS[workload]} check={check}",
              flush=True)
    return 1 if failed else 0
