#!/usr/bin/python3
"""liblunatic against its peers: same workloads, same machine, same run.

    /usr/bin/python3 bench/run.py [--quick] [--build-dir build] [--runs N]
                                  [--only skynet,ring,...] [--systems go,erlang,...]
                                  [--idle-spins 0,256,2048] [--out bench/results]

`make bench` / `make bench QUICK=1` call this after building the library.
It builds the peer programs under bench/peers/ into BUILD_DIR/bench/peers/,
runs every (workload, system) pair, takes the median of the runs, prints a
Markdown table (the ratio column is the system's cost ÷ liblunatic's, so
above 1 means liblunatic is faster or smaller), checks the issue's targets,
and writes OUT/latest.md, latest.json and latest.png (quick runs:
latest-quick.*). Standard library only; matplotlib draws the chart when it is
installed (python3-matplotlib), else the PNG is skipped with a note.

Every program prints one line per run:
    RESULT workload=<name> n=<size> value=<number> unit=<unit> check=ok|fail:<why>
A program that fails to build or run, times out, or fails its check is shown
as "n/a (why)" and the rest goes on. bench/README.md explains how to add a
workload or a system.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

# --------------------------------------------------------------- workloads
# key: the row's name; prog: the workload name the programs take; n: full size
# (QUICK: a tenth); fresh: one OS process per run (memory is measured);
# runs: fixed run count (else --runs); group: which systems run it (below).
WORKLOADS = [
    {"key": "skynet", "n": 1_000_000, "group": "native",
     "what": "10-ary tree of N leaf processes; leaves send their ordinal, parents sum"},
    {"key": "spawn", "n": 1_000_000, "group": "native",
     "what": "spawn N processes that exit at once, wait for all; per spawn"},
    {"key": "pingpong", "n": 1_000_000, "group": "native",
     "what": "N round trips between two processes; one-way"},
    {"key": "ring", "n": 1_000_000, "group": "native",
     "what": "1,000 processes pass a token N hops; per hop"},
    {"key": "fanin", "n": 1_000_000, "group": "native",
     "what": "4 senders (other worker) flood one receiver, N messages in all, none lost; per message"},
    {"key": "parked-100k", "prog": "parked", "n": 100_000, "group": "native", "fresh": True,
     "what": "N processes blocked in receive; RSS growth per process"},
    {"key": "parked-1m", "prog": "parked", "n": 1_000_000, "group": "native", "fresh": True,
     "runs": 1, "what": "the same with 1,000,000 (one run: it takes GiBs)"},
    {"key": "py-skynet", "prog": "skynet", "n": 100_000, "group": "python",
     "what": "skynet in Python (N = 10^5 leaves)"},
    {"key": "py-spawn", "prog": "spawn", "n": 20_000, "group": "python",
     "what": "spawn in Python"},
    {"key": "py-pingpong", "prog": "pingpong", "n": 100_000, "group": "python",
     "what": "ping-pong in Python; one-way"},
    {"key": "py-ring", "prog": "ring", "n": 100_000, "group": "python",
     "what": "ring of 1,000 in Python; per hop"},
    {"key": "py-fanin", "prog": "fanin", "n": 100_000, "group": "python",
     "what": "fan-in of 4 senders in Python; per message"},
    {"key": "py-parked", "prog": "parked", "n": 20_000, "group": "python", "fresh": True,
     "what": "parked processes in Python; RSS growth per process"},
]

# Two nodes on loopback, two OS processes (bench/bench_nodes.c and
# peers/erlang/nodes.erl, which print `RESULT <name> <value> <unit>`): added by
# nodes_group() when those programs exist. CAF's middleman would be one more
# system there.
NODES_WORKLOADS = [
    {"key": "nodes-pingpong", "n": 20_000, "group": "nodes", "fresh": True,
     "what": "round trips of an 8-byte message between processes on two nodes; per round trip"},
    {"key": "nodes-throughput", "n": 1_000_000, "group": "nodes", "fresh": True,
     "what": "one-way 8-byte messages from one node to the other; per message"},
]

# Another developer's request/reply workload (issue 11) joins when its
# programs exist: bench/bench_request.cpp, peers/erlang/request.erl,
# peers/caf/request.cpp (each printing RESULT lines like the others).
REQUEST_WORKLOAD = {"key": "request", "n": 1_000_000, "group": "request",
                    "what": "request/reply round trips to one server process; per round trip "
                            "(liblunatic: AbstractProcess request; Erlang: gen_server:call; "
                            "CAF: request/receive)"}

# ----------------------------------------------------------------- systems
# Each system: name (the baseline of its group first), build() -> None or
# raises Unavailable, cmd(workload, n, runs) -> argv (None: not supported).


class Unavailable(Exception):
    pass


def newer(src_paths, target):
    if not os.path.exists(target):
        return True
    t = os.path.getmtime(target)
    return any(os.path.getmtime(s) > t for s in src_paths)


def run_build(argv, cwd=None, env=None, what=""):
    print(f"  build: {what or argv[0]}", file=sys.stderr, flush=True)
    p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-3000:])
        raise Unavailable(f"{what or argv[0]} did not build")


def need_tool(tool, package):
    if shutil.which(tool) is None:
        raise Unavailable(f"{tool} missing: apt-get install {package}")


class System:
    name = "?"
    label = "?"

    def build(self, ctx):
        pass

    def cmd(self, ctx, prog, n, runs):
        return None


class Lunatic(System):
    name, label = "liblunatic", "liblunatic (C ABI)"

    def __init__(self, idle_spins=None):
        self.idle_spins = idle_spins
        if idle_spins is not None:
            self.name = f"liblunatic idle_spins={idle_spins}"
            self.label = self.name

    def build(self, ctx):
        self.exe = os.path.join(ctx.build_dir, "bench", "bench_workloads")
        if not os.path.exists(self.exe):
            run_build(["ninja", "-C", ctx.build_dir, "-j", str(ctx.jobs),
                       "bench/bench_workloads"], what="meson compile bench_workloads")

    def cmd(self, ctx, prog, n, runs):
        argv = [self.exe, prog, str(n), str(runs)]
        if self.idle_spins is not None:
            argv += ["--idle-spins", str(self.idle_spins)]
        return argv


class CxxPeer(System):
    """A C++ peer compiled with g++ from one source file."""

    def __init__(self, name, label, src, libs, package, header):
        self.name, self.label, self.src, self.libs = name, label, src, libs
        self.package, self.header = package, header

    def build(self, ctx):
        need_tool("g++", "g++")
        if not os.path.exists(self.header):
            raise Unavailable(f"{self.header} missing: apt-get install {self.package}")
        src = os.path.join(HERE, "peers", self.src)
        self.exe = os.path.join(ctx.peer_dir, getattr(self, "exe_name", None)
                                or "bench_" + self.name.lower().replace(".", "_"))
        if newer([src], self.exe):
            run_build(["g++", "-O2", "-DNDEBUG", "-std=c++17", "-Wall", "-Wextra", src, "-o",
                       self.exe] + self.libs + ["-pthread"], what=f"g++ {self.src}")

    def cmd(self, ctx, prog, n, runs):
        return [self.exe, prog, str(n), str(runs)]


class Go(System):
    name, label = "Go", "Go goroutines + channels"

    def build(self, ctx):
        need_tool("go", "golang-go")
        src_dir = os.path.join(HERE, "peers", "go")
        self.exe = os.path.join(ctx.peer_dir, "bench_go")
        srcs = [os.path.join(src_dir, f) for f in os.listdir(src_dir)]
        if newer(srcs, self.exe):
            cache = os.path.join(ctx.peer_dir, "go-cache")
            env = dict(os.environ, GOCACHE=os.path.join(cache, "build"),
                       GOPATH=os.path.join(cache, "path"), GOPROXY="off", GOFLAGS="-mod=mod",
                       GO111MODULE="on")
            run_build(["go", "build", "-o", self.exe, "."], cwd=src_dir, env=env, what="go build")

    def cmd(self, ctx, prog, n, runs):
        return [self.exe, prog, str(n), str(runs)]


class Erlang(System):
    name, label = "Erlang", "Erlang/OTP processes"

    def build(self, ctx):
        need_tool("erlc", "erlang-nox")
        self.out = os.path.join(ctx.peer_dir, "erlang")
        os.makedirs(self.out, exist_ok=True)
        src_dir = os.path.join(HERE, "peers", "erlang")
        for f in sorted(os.listdir(src_dir)):
            if f.endswith(".erl"):
                beam = os.path.join(self.out, f[:-4] + ".beam")
                if newer([os.path.join(src_dir, f)], beam):
                    run_build(["erlc", "-o", self.out, os.path.join(src_dir, f)], what=f"erlc {f}")
        self.env = self.build_env(ctx)

    def build_env(self, ctx):
        return dict(os.environ, ERL_CRASH_DUMP=os.path.join(ctx.peer_dir, "erl_crash.dump"))

    def cmd(self, ctx, prog, n, runs):
        # +P: room for skynet's 1,111,111 processes; the rest is Erlang's default
        return ["erl", "-noshell", "+P", "4000000", "-pa", self.out, "-run", "bench", "main", prog,
                str(n), str(runs)]


class LunaticPython(System):
    name, label = "lunatic-python", "lunatic (Python processes)"

    def build(self, ctx):
        mod = os.path.join(ctx.build_dir, "bindings", "python")
        if not os.path.isdir(os.path.join(mod, "lunatic")):
            raise Unavailable("Python module not built")
        self.env = dict(os.environ, PYTHONPATH=mod + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def cmd(self, ctx, prog, n, runs):
        return [PYTHON, os.path.join(HERE, "bench_python.py"), prog, str(n), str(runs)]


class PythonPeer(System):
    def __init__(self, name, label):
        self.name, self.label = name, label

    def cmd(self, ctx, prog, n, runs):
        return [PYTHON, os.path.join(HERE, "peers", "python", "peers.py"), self.name, prog, str(n),
                str(runs)]


def make_groups(idle_spins):
    native = [Lunatic()]
    native += [Lunatic(s) for s in idle_spins]
    native += [
        CxxPeer("Boost.Fiber", "raw Boost.Fiber 1.74 (the floor)", "boost_fiber/bench.cpp",
                ["-lboost_fiber", "-lboost_context"], "libboost-fiber-dev",
                "/usr/include/boost/fiber/all.hpp"),
        Go(),
        Erlang(),
        CxxPeer("CAF", "CAF 0.17 actors", "caf/bench.cpp", ["-lcaf_core"], "libcaf-dev",
                "/usr/include/caf/all.hpp"),
    ]
    python = [LunaticPython(), PythonPeer("asyncio", "asyncio tasks + asyncio.Queue"),
              PythonPeer("threading", "threading + queue.Queue")]
    return {"native": native, "python": python}


def request_group():
    """The request/reply workload (issue 11), when its programs are there."""
    if not os.path.exists(os.path.join(HERE, "bench_request.cpp")):
        return None, None

    class LunaticRequest(Lunatic):
        def __init__(self, prog, name):
            super().__init__()
            self.prog, self.name, self.label = prog, name, name

        def build(self, ctx):
            self.exe = os.path.join(ctx.build_dir, "bench", "bench_request")
            if not os.path.exists(self.exe):
                run_build(["ninja", "-C", ctx.build_dir, "-j", str(ctx.jobs),
                           "bench/bench_request"], what="meson compile bench_request")

        def cmd(self, ctx, prog, n, runs):
            return [self.exe, self.prog, str(n), str(runs)]

    class ErlangRequest(Erlang):
        def cmd(self, ctx, prog, n, runs):
            return ["erl", "-noshell", "-pa", self.out, "-run", "request", "main", prog, str(n),
                    str(runs)]

    # the AbstractProcess request (the gen_server:call analogue) is the baseline
    systems = [LunaticRequest("request", "liblunatic"),
               LunaticRequest("request_plain", "liblunatic plain request")]
    if os.path.exists(os.path.join(HERE, "peers", "erlang", "request.erl")):
        systems.append(ErlangRequest())
    if os.path.exists(os.path.join(HERE, "peers", "caf", "request.cpp")):
        systems.append(CxxPeer("CAF", "CAF 0.17 request/response", "caf/request.cpp",
                               ["-lcaf_core"], "libcaf-dev", "/usr/include/caf/all.hpp"))
        systems[-1].exe_name = "bench_caf_request"
    return REQUEST_WORKLOAD, systems


def nodes_to_result(text, kind, n):
    """bench_nodes / nodes.erl lines `RESULT <name> <value> us|msg/s` -> our format."""
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == "RESULT" and "=" not in f[1]:
            if kind == "nodes-pingpong" and f[1].endswith("pingpong_rtt") and f[3] == "us":
                value, unit = float(f[2]) * 1e3, "ns/round-trip"
            elif kind == "nodes-throughput" and f[1].endswith("throughput") and f[3] == "msg/s":
                value, unit = 1e9 / float(f[2]), "ns/message"
            else:
                continue
            return f"RESULT workload={kind} n={n} value={value:.1f} unit={unit} check=ok\n"
    return ""


class LunaticNodes(System):
    name, label = "liblunatic", "liblunatic, two runtimes in two OS processes"

    def build(self, ctx):
        self.exe = os.path.join(ctx.build_dir, "bench", "bench_nodes")
        if not os.path.exists(self.exe):
            run_build(["ninja", "-C", ctx.build_dir, "-j", str(ctx.jobs),
                       "bench/bench_nodes"], what="meson compile bench_nodes")

    def run_once(self, ctx, kind, n):
        trips, msgs = (n, 1000) if kind == "nodes-pingpong" else (1000, n)
        # Read until the wanted line: the program (and its child node) is then ended, so a
        # slow shutdown does not count or hang the run.
        p = subprocess.Popen([self.exe, str(trips), str(msgs)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        deadline, out = time.monotonic() + ctx.timeout, ""
        try:
            for line in p.stdout:
                out += line
                if nodes_to_result(out, kind, n) or time.monotonic() > deadline:
                    break
        finally:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            p.wait()
        if not nodes_to_result(out, kind, n) and time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(self.exe, ctx.timeout)
        return nodes_to_result(out, kind, n), "bench_nodes printed no result"


class ErlangNodes(Erlang):
    name, label = "Erlang", "Erlang distribution, two nodes"

    def run_once(self, ctx, kind, n):
        trips, msgs = (n, 1000) if kind == "nodes-pingpong" else (1000, n)
        host = platform.node().split(".")[0]
        tag = str(os.getpid())
        b = subprocess.Popen(["erl", "-sname", "lunbench_b" + tag, "-setcookie", "lunbench",
                              "-noshell", "-pa", self.out], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=self.env)
        try:
            time.sleep(1.5)
            p = subprocess.run(["erl", "-sname", "lunbench_a" + tag, "-setcookie", "lunbench",
                                "-noshell", "-pa", self.out, "-eval",
                                f"nodes:main('lunbench_b{tag}@{host}', {trips}, {msgs}), halt()."],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=ctx.timeout, env=self.env)
        finally:
            b.kill()
            b.wait()
        return nodes_to_result(p.stdout, kind, n), p.stderr


def nodes_group():
    if not os.path.exists(os.path.join(HERE, "bench_nodes.c")):
        return []
    systems = [LunaticNodes()]
    if os.path.exists(os.path.join(HERE, "peers", "erlang", "nodes.erl")):
        systems.append(ErlangNodes())
    return systems


# ------------------------------------------------------------------ running

RESULT_RE = re.compile(r"^RESULT\s+(.*)$")


def parse_results(text):
    out = []
    for line in text.splitlines():
        m = RESULT_RE.match(line.strip())
        if m:
            fields = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
            out.append(fields)
    return out


def run_one(ctx, system, w, n, runs):
    """Runs system on workload w; returns dict(values, unit, error)."""
    prog = w.get("prog", w["key"])
    custom = getattr(system, "run_once", None)  # systems with their own way to run (nodes)
    argv = None if custom else system.cmd(ctx, prog, n, runs if not w.get("fresh") else 1)
    if argv is None and not custom:
        return {"error": "not implemented"}
    invocations = runs if w.get("fresh") else 1
    values, unit, checks = [], None, []
    env = getattr(system, "env", None)
    for _ in range(invocations):
        t0 = time.monotonic()
        try:
            if custom:
                out, err = custom(ctx, prog, n)
                p = subprocess.CompletedProcess([], 0, out, err)
            else:
                p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, timeout=ctx.timeout, env=env)
        except subprocess.TimeoutExpired:
            return {"error": f"timeout after {ctx.timeout} s"}
        except OSError as e:
            return {"error": str(e)}
        results = parse_results(p.stdout)
        if p.returncode == 3 and not results:
            return {"error": (p.stderr.strip().splitlines() or ["not supported"])[-1]}
        if not results:
            why = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1][:80]
            return {"error": f"no result ({why})"}
        for r in results:
            checks.append(r.get("check", "?"))
            values.append(float(r["value"]))
            unit = r.get("unit")
        print(f"    {system.name:28} {w['key']:12} {[round(v, 1) for v in values]} "
              f"({time.monotonic() - t0:.1f} s)", file=sys.stderr, flush=True)
    bad = [c for c in checks if c != "ok"]
    if bad:
        return {"error": f"check failed: {bad[0]}", "values": values, "unit": unit}
    return {"values": values, "unit": unit, "median": statistics.median(values)}


# ------------------------------------------------------------------ machine


def sh(argv):
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def first_touch_us():
    """What touching a fresh 4 KiB page costs here (µs), over 16 MiB: on a VM whose host
    zeroes pages on demand this dominates every workload that allocates."""
    import mmap
    pages = 4096
    try:
        m = mmap.mmap(-1, pages * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, ValueError):
        return None
    t = time.perf_counter()
    for i in range(pages):
        m[i * 4096] = 1
    dt = time.perf_counter() - t
    m.close()
    return round(dt / pages * 1e6, 2)


def machine_info():
    model = ""
    for line in sh(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    mem_gib = 0.0
    try:
        with open("/proc/meminfo") as f:
            mem_gib = int(f.readline().split()[1]) / 1024 / 1024
    except OSError:
        pass

    def deb(pkg):
        return sh(["dpkg-query", "-W", "-f=${Version}", pkg]) or "?"

    return {
        "cpu": model or platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "first_touch_us": first_touch_us(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": {
            "gcc": sh(["gcc", "-dumpfullversion"]),
            "boost": deb("libboost-fiber-dev"),
            "go": sh(["go", "env", "GOVERSION"]),
            "erlang/otp": deb("erlang-nox"),
            "caf": deb("libcaf-dev"),
            "python": platform.python_version() if PYTHON == sys.executable else
            sh([PYTHON, "-c", "import platform; print(platform.python_version())"]),
        },
    }


# ------------------------------------------------------------------- output

TARGETS = [
    # (workload, description, predicate(medians) -> bool or None)
    ("skynet", "skynet ≤ Go's time", lambda m: ratio_ok(m, "Go", 1.0)),
    ("skynet", "skynet ≤ 0.5× Erlang's", lambda m: ratio_ok(m, "Erlang", 2.0)),
    ("spawn", "spawn ≤ 0.5 µs", lambda m: None if "liblunatic" not in m else m["liblunatic"] <= 500),
    ("pingpong", "pingpong one-way ≤ 1.5× raw Boost.Fiber",
     lambda m: ratio_ok(m, "Boost.Fiber", 1 / 1.5)),
    ("pingpong", "pingpong one-way ≤ 0.5× CAF", lambda m: ratio_ok(m, "CAF", 2.0)),
    ("ring", "ring ≤ 1.5× raw Boost.Fiber", lambda m: ratio_ok(m, "Boost.Fiber", 1 / 1.5)),
    ("parked-1m", "parked ≤ 5 KiB per process at 1,000,000",
     lambda m: None if "liblunatic" not in m else m["liblunatic"] <= 5 * 1024),
]


def ratio_ok(medians, peer, at_least):
    """liblunatic meets "≤ peer / at_least" when peer / liblunatic ≥ at_least."""
    if "liblunatic" not in medians or peer not in medians:
        return None
    return medians[peer] / medians["liblunatic"] >= at_least


def fmt_value(v, unit):
    if v >= 100:
        s = f"{v:,.0f}"
    elif v >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    if unit == "ns/message" and v > 0:
        s += f" ({1e3 / v:.2f} M/s)"
    return s


def markdown(ctx, info, rows, target_lines):
    v = info["versions"]
    out = [f"## liblunatic vs peers ({'QUICK: a tenth of the sizes' if ctx.quick else 'full sizes'})",
           "",
           f"Machine: {info['cpu']}, {info['cpus']} CPUs, {info['memory_gib']} GiB, Linux "
           f"{info['kernel']}; {info['date']}; load average at the start {ctx.load_start}, at "
           f"the end {info['load']}; first touch of a fresh 4 KiB page: "
           f"{info['first_touch_us']} µs.",
           f"Versions: gcc {v['gcc']}, Boost {v['boost']}, {v['go']}, Erlang/OTP "
           f"{v['erlang/otp']}, CAF {v['caf']}, Python {v['python']}.",
           f"Median of {ctx.runs} runs (parked-1m: 1). Ratio = the system's median ÷ liblunatic's "
           "(Python rows: ÷ lunatic-python's); above 1 means liblunatic is faster or smaller.",
           "",
           "| workload | n | system | median | unit | ratio |",
           "| --- | ---: | --- | ---: | --- | ---: |"]
    for r in rows:
        if "median" in r:
            med = fmt_value(r["median"], r["unit"])
            ratio = f"{r['ratio']:.2f}×" if r.get("ratio") is not None else "–"
            unit = r["unit"]
        else:
            med, ratio, unit = f"n/a ({r['error']})", "–", r.get("unit") or ""
        out.append(f"| {r['workload']} | {r['n']:,} | {r['system']} | {med} | {unit} | {ratio} |")
    if target_lines:
        out += ["", "Targets (issue 9) in this run:", ""] + [f"- {t}" for t in target_lines]
    return "\n".join(out) + "\n"


def plot(rows, path, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed (apt-get install python3-matplotlib): no PNG",
              file=sys.stderr)
        return False
    workloads = []
    for r in rows:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    systems = []
    for r in rows:
        if r.get("ratio") is not None and r["system"] not in systems:
            systems.append(r["system"])
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(workloads) + 3), 5))
    colors = {s: plt.cm.tab10(i % 10) for i, s in enumerate(systems)}
    labelled = set()
    for j, w in enumerate(workloads):
        here = [r for r in rows if r["workload"] == w and r.get("ratio") is not None]
        width = 0.8 / max(1, len(here))
        for i, r in enumerate(here):
            s = r["system"]
            ax.bar(j + (i - (len(here) - 1) / 2) * width, r["ratio"], width, color=colors[s],
                   label=None if s in labelled else s)
            labelled.add(s)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(workloads, rotation=30, ha="right")
    ax.set_ylabel("system's cost ÷ liblunatic's (log; > 1: liblunatic better)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --------------------------------------------------------------------- main


class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of every size")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--runs", type=int, default=3, help="runs per pair (median); default 3")
    ap.add_argument("--only", default="", help="workloads, comma-separated (default all)")
    ap.add_argument("--systems", default="", help="systems, comma-separated (default all; "
                    "liblunatic and lunatic-python always run)")
    ap.add_argument("--idle-spins", default="",
                    help="also run liblunatic with these idle_spins values (comma-separated)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--timeout", type=int, default=0, help="seconds per program run")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()

    ctx = Ctx()
    ctx.quick, ctx.runs, ctx.jobs = args.quick, max(1, args.runs), args.jobs
    ctx.build_dir = os.path.abspath(args.build_dir)
    ctx.peer_dir = os.path.join(ctx.build_dir, "bench", "peers")
    ctx.timeout = args.timeout or (180 if args.quick else 900)
    ctx.load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    os.makedirs(ctx.peer_dir, exist_ok=True)

    spins = [int(s) for s in args.idle_spins.split(",") if s.strip()]
    groups = make_groups(spins)
    workloads = list(WORKLOADS)
    req_w, req_systems = request_group()
    if req_w:
        workloads.append(req_w)
        groups["request"] = req_systems
    if nodes_group():
        workloads += NODES_WORKLOADS
        groups["nodes"] = nodes_group()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if only:
        workloads = [w for w in workloads if w["key"] in only]
    wanted = {s.strip() for s in args.systems.split(",") if s.strip()}

    built = {}
    print("building the programs", file=sys.stderr)
    for group in {w["group"] for w in workloads}:
        for s in groups[group]:
            keep = (not wanted or s.name in wanted or s.name.startswith("liblunatic")
                    or s.name == "lunatic-python")
            if not keep or id(s) in built:
                continue
            try:
                s.build(ctx)
                built[id(s)] = None
            except Unavailable as e:
                built[id(s)] = str(e)

    rows = []
    for w in workloads:
        n = max(1, w["n"] // 10) if ctx.quick else w["n"]
        runs = w.get("runs", ctx.runs)
        print(f"  {w['key']} (n = {n:,}, {runs} run(s))", file=sys.stderr, flush=True)
        base = None
        for s in groups[w["group"]]:
            if id(s) not in built:
                continue
            if built[id(s)]:
                res = {"error": built[id(s)]}
            else:
                res = run_one(ctx, s, w, n, runs)
            row = {"workload": w["key"], "n": n, "system": s.name, **res}
            if base is None:
                base = row  # the group's first system is the baseline
            if "median" in row and "median" in base and base["median"] > 0:
                row["ratio"] = row["median"] / base["median"]
            rows.append(row)

    medians = {}
    for r in rows:
        if "median" in r:
            medians.setdefault(r["workload"], {})[r["system"]] = r["median"]
    target_lines = []
    for wk, text, pred in TARGETS:
        if wk not in medians:
            continue
        ok = pred(medians[wk])
        mark = "n/a" if ok is None else ("✓ met" if ok else "✗ missed")
        target_lines.append(f"{text}: {mark}" + (" (QUICK sizes)" if ctx.quick else ""))

    info = machine_info()
    md = markdown(ctx, info, rows, target_lines)
    print(md)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "latest-quick" if ctx.quick else "latest")
    with open(stem + ".md", "w") as f:
        f.write(md)
    with open(stem + ".json", "w") as f:
        json.dump({"machine": info, "quick": ctx.quick, "runs": ctx.runs,
                   "load_start": ctx.load_start, "rows": rows}, f, indent=1)
    title = (f"liblunatic vs peers — {info['cpu']}, {info['cpus']} CPUs, {info['date']}, "
             f"load {ctx.load_start}{' (QUICK)' if ctx.quick else ''}")
    drew = plot(rows, stem + ".png", title)
    print(f"wrote {stem}.md, {stem}.json" + (f", {stem}.png" if drew else ""), file=sys.stderr)
    # only the suite's own workloads decide the exit status, not the request or nodes rows
    # other work adds
    failed = [r for r in rows if r["system"].startswith(("liblunatic", "lunatic-python"))
              and "median" not in r and not r["workload"].startswith(("request", "nodes"))]
    if failed:
        print("liblunatic's own workloads failed: "
              + ", ".join(f"{r['workload']} ({r['error']})" for r in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
