"""Python processes vs threading and asyncio, the same work each way.

    PYTHONPATH=build/bindings/python /usr/bin/python3 bench/bench_python.py [--quick]
    PYTHONPATH=build/bindings/python /usr/bin/python3 bench/bench_python.py WORKLOAD N [RUNS]

The second form runs one workload of the peer suite (bench/run.py,
bench/README.md: skynet, spawn, pingpong, ring, fanin, parked) on lunatic
processes and prints one `RESULT ...` line per run;
bench/peers/python/peers.py runs the same ones with threading and asyncio.
The first form prints the table below.

Workloads (per item, best of 3 runs):
  spawn+rt   spawn a worker, send it one message, get one reply, worker ends
  one-way    ping-pong between two long-lived workers; round trip / 2
lunatic runs both inside a process (Python processes share one worker
thread); threading uses queue.Queue; asyncio uses tasks and asyncio.Queue.
"""

import asyncio
import queue
import sys
import threading
import time

import lunatic

from bench_python_workloads import run_workload  # noqa: E402  (beside this file)

QUICK = "--quick" in sys.argv
N_SPAWN = 2000 if QUICK else 20000
N_PING = 5000 if QUICK else 50000


def best(f, n):
    return min(f(n) for _ in range(3)) / n * 1e6


# ------------------------------------------------------------------ lunatic

def lun_child(parent, mailbox):
    parent.send(mailbox.receive() + 1)


def lun_pong(capture, mailbox):
    while True:
        m = mailbox.receive()
        if m is None:
            return
        m.send(0)


def lun_driver(capture, mailbox):
    parent, kind, n = capture
    me = lunatic.this_process()
    t = time.perf_counter()
    if kind == "spawn":
        for i in range(n):
            lunatic.spawn(lun_child, me).send(i)
            mailbox.receive()
    else:
        p = lunatic.spawn(lun_pong, None)
        for _ in range(n):
            p.send(me)
            mailbox.receive()
        p.send(None)
    parent.send(time.perf_counter() - t)


def lun(kind):
    def run(n):
        lunatic.spawn(lun_driver, (lunatic.this_process(), kind, n))
        return lunatic.Mailbox().receive(timeout=600)
    return run


# ---------------------------------------------------------------- threading

def thr_spawn(n):
    replies = queue.Queue()
    t = time.perf_counter()
    for i in range(n):
        inbox = queue.Queue()
        th = threading.Thread(target=lambda q=inbox: replies.put(q.get() + 1))
        th.start()
        inbox.put(i)
        replies.get()
        th.join()
    return time.perf_counter() - t


def thr_ping(n):
    a, b = queue.Queue(), queue.Queue()

    def pong():
        while (m := a.get()) is not None:
            b.put(m)

    th = threading.Thread(target=pong)
    th.start()
    t = time.perf_counter()
    for i in range(n):
        a.put(i)
        b.get()
    dt = time.perf_counter() - t
    a.put(None)
    th.join()
    return dt


# ------------------------------------------------------------------ asyncio

def aio_spawn(n):
    async def child(inbox, replies):
        await replies.put(await inbox.get() + 1)

    async def main():
        replies = asyncio.Queue()
        t = time.perf_counter()
        for i in range(n):
            inbox = asyncio.Queue()
            task = asyncio.create_task(child(inbox, replies))
            await inbox.put(i)
            await replies.get()
            await task
        return time.perf_counter() - t

    return asyncio.run(main())


def aio_ping(n):
    async def pong(a, b):
        while (m := await a.get()) is not None:
            await b.put(m)

    async def main():
        a, b = asyncio.Queue(), asyncio.Queue()
        task = asyncio.create_task(pong(a, b))
        t = time.perf_counter()
        for i in range(n):
            await a.put(i)
            await b.get()
        dt = time.perf_counter() - t
        await a.put(None)
        await task
        return dt

    return asyncio.run(main())


def main():
    rows = [
        ("spawn + 1 round trip", best(lun("spawn"), N_SPAWN), best(thr_spawn, N_SPAWN // 4), best(aio_spawn, N_SPAWN)),
        ("one-way message (ping-pong / 2)", best(lun("ping"), N_PING) / 2, best(thr_ping, N_PING) / 2,
         best(aio_ping, N_PING) / 2),
    ]
    print(f"Python {sys.version.split()[0]}, liblunatic {lunatic.__version__}, {lunatic.workers()} workers")
    print("| workload (µs per item) | lunatic processes | threading + queue.Queue | asyncio tasks + asyncio.Queue |")
    print("| --- | ---: | ---: | ---: |")
    for name, a, b, c in rows:
        print(f"| {name} | {a:.2f} | {b:.2f} | {c:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        sys.exit(run_workload(sys.argv[1:]))
    main()
