"""The Python workloads of the suite with threading + queue.Queue and asyncio.

    /usr/bin/python3 bench/peers/python/peers.py SYSTEM WORKLOAD N RUNS

SYSTEM is `threading` (a process is a threading.Thread, its mailbox a
queue.Queue) or `asyncio` (a task with an asyncio.Queue, one event loop).
Workloads and output are those of bench/bench_workloads.c (bench/README.md);
bench/bench_python.py runs the same ones on lunatic processes.
Prints one `RESULT ...` line per run; exit 3 = workload not supported here.
"""

import asyncio
import queue
import sys
import threading
import time

RING_SIZE = 1000
FANIN_SENDERS = 4


def vmrss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


# ---------------------------------------------------------------- threading

def thr_spawn(n):
    threads = []
    t = time.perf_counter()
    for _ in range(n):
        th = threading.Thread(target=lambda: None)
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    return (time.perf_counter() - t) / n * 1e9, "ok"


def thr_pingpong(n):
    a, b = queue.Queue(), queue.Queue()

    def pong():
        while (m := a.get()) is not None:
            b.put(m)

    th = threading.Thread(target=pong)
    th.start()
    ok = 0
    t = time.perf_counter()
    for i in range(n):
        a.put(i)
        ok += b.get() == i
    dt = time.perf_counter() - t
    a.put(None)
    th.join()
    return dt / (2 * n) * 1e9, "ok" if ok == n else "fail:wrong replies"


def thr_ring(n):
    boxes = [queue.Queue() for _ in range(RING_SIZE)]
    done = queue.Queue()

    def node(i):
        inbox, nxt = boxes[i], boxes[(i + 1) % RING_SIZE]
        while (v := inbox.get()) is not None:
            if v == 0:
                done.put(i)
            else:
                nxt.put(v - 1)

    threads = [threading.Thread(target=node, args=(i,)) for i in range(RING_SIZE)]
    for th in threads:
        th.start()
    t = time.perf_counter()
    boxes[0].put(n)
    last = done.get()
    dt = time.perf_counter() - t
    for b in boxes:
        b.put(None)
    for th in threads:
        th.join()
    return dt / n * 1e9, "ok" if last == n % RING_SIZE else "fail:token ended at the wrong node"


def thr_fanin(n):
    per = n // FANIN_SENDERS
    inbox = queue.Queue()

    def sender(s):
        for i in range(per):
            inbox.put((s, i))

    t = time.perf_counter()
    threads = [threading.Thread(target=sender, args=(s,)) for s in range(FANIN_SENDERS)]
    for th in threads:
        th.start()
    nxt, bad = [0] * FANIN_SENDERS, 0
    for _ in range(per * FANIN_SENDERS):
        s, i = inbox.get()
        bad += nxt[s] != i
        nxt[s] = i + 1
    dt = time.perf_counter() - t
    for th in threads:
        th.join()
    return dt / (per * FANIN_SENDERS) * 1e9, "fail:lost or reordered" if bad else "ok"


# ------------------------------------------------------------------ asyncio

def aio_skynet(n):
    async def node(out, num, size):
        if size == 1:
            out.put_nowait(num)
            return
        inbox = asyncio.Queue()
        child = size // 10
        for i in range(10):
            asyncio.create_task(node(inbox, num + i * child, child))
        total = 0
        for _ in range(10):
            total += await inbox.get()
        out.put_nowait(total)

    async def main():
        out = asyncio.Queue()
        t = time.perf_counter()
        asyncio.create_task(node(out, 0, n))
        total = await out.get()
        return time.perf_counter() - t, total

    dt, total = asyncio.run(main())
    return dt / n * 1e9, "ok" if total == n * (n - 1) // 2 else f"fail:sum={total}"


def aio_spawn(n):
    async def child():
        pass

    async def main():
        t = time.perf_counter()
        tasks = [asyncio.create_task(child()) for _ in range(n)]
        await asyncio.gather(*tasks)
        return time.perf_counter() - t

    return asyncio.run(main()) / n * 1e9, "ok"


def aio_pingpong(n):
    async def pong(a, b):
        while (m := await a.get()) is not None:
            b.put_nowait(m)

    async def main():
        a, b = asyncio.Queue(), asyncio.Queue()
        task = asyncio.create_task(pong(a, b))
        ok = 0
        t = time.perf_counter()
        for i in range(n):
            a.put_nowait(i)
            ok += await b.get() == i
        dt = time.perf_counter() - t
        a.put_nowait(None)
        await task
        return dt, ok

    dt, ok = asyncio.run(main())
    return dt / (2 * n) * 1e9, "ok" if ok == n else "fail:wrong replies"


def aio_ring(n):
    async def node(i, boxes, done):
        inbox, nxt = boxes[i], boxes[(i + 1) % RING_SIZE]
        while (v := await inbox.get()) is not None:
            if v == 0:
                done.put_nowait(i)
            else:
                nxt.put_nowait(v - 1)

    async def main():
        boxes = [asyncio.Queue() for _ in range(RING_SIZE)]
        done = asyncio.Queue()
        tasks = [asyncio.create_task(node(i, boxes, done)) for i in range(RING_SIZE)]
        t = time.perf_counter()
        boxes[0].put_nowait(n)
        last = await done.get()
        dt = time.perf_counter() - t
        for b in boxes:
            b.put_nowait(None)
        await asyncio.gather(*tasks)
        return dt, last

    dt, last = asyncio.run(main())
    return dt / n * 1e9, "ok" if last == n % RING_SIZE else "fail:token ended at the wrong node"


def aio_fanin(n):
    per = n // FANIN_SENDERS

    async def sender(inbox, s):
        for i in range(per):
            inbox.put_nowait((s, i))
            if i % 64 == 63:
                await asyncio.sleep(0)  # let the others run, as senders on other threads would

    async def main():
        inbox = asyncio.Queue()
        t = time.perf_counter()
        tasks = [asyncio.create_task(sender(inbox, s)) for s in range(FANIN_SENDERS)]
        nxt, bad = [0] * FANIN_SENDERS, 0
        for _ in range(per * FANIN_SENDERS):
            s, i = await inbox.get()
            bad += nxt[s] != i
            nxt[s] = i + 1
        dt = time.perf_counter() - t
        await asyncio.gather(*tasks)
        return dt, bad

    dt, bad = asyncio.run(main())
    return dt / (per * FANIN_SENDERS) * 1e9, "fail:lost or reordered" if bad else "ok"


def aio_parked(n):
    async def node(inbox, counter):
        counter[0] += 1
        await inbox.get()

    async def main():
        before = vmrss_kib()
        counter = [0]
        boxes = [asyncio.Queue() for _ in range(n)]
        tasks = [asyncio.create_task(node(b, counter)) for b in boxes]
        while counter[0] < n:
            await asyncio.sleep(0)
        after = vmrss_kib()
        for i, b in enumerate(boxes):
            b.put_nowait(i)
        await asyncio.gather(*tasks)
        return (after - before) * 1024 / n

    return asyncio.run(main()), "ok"


UNITS = {"skynet": "ns/leaf", "spawn": "ns/process", "pingpong": "ns/message", "ring": "ns/hop",
         "fanin": "ns/message", "parked": "B/process"}
SYSTEMS = {
    "threading": {"spawn": thr_spawn, "pingpong": thr_pingpong, "ring": thr_ring, "fanin": thr_fanin},
    "asyncio": {"skynet": aio_skynet, "spawn": aio_spawn, "pingpong": aio_pingpong, "ring": aio_ring,
                "fanin": aio_fanin, "parked": aio_parked},
}


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: peers.py SYSTEM WORKLOAD N [RUNS]")
    system, workload, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    fn = SYSTEMS.get(system, {}).get(workload)
    if fn is None:
        print(f"{system} has no {workload} workload (one OS thread per process)", file=sys.stderr)
        sys.exit(3)
    failed = False
    for _ in range(runs):
        value, check = fn(n)
        failed |= check != "ok"
        print(f"RESULT workload={workload} n={n} value={value:.1f} unit={UNITS[workload]} check={check}",
              flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
