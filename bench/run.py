#!/usr/bin/env python3
"""Runs duet's benchmark programs alternately with its peers' and reports the comparison.

usage: bench/run.py [--reps 5] [--only FAMILIES|BENCHES] [--impls duet,tokio,...]
                    [--targets native,wasm-node] [--quick] [--timeout 300]
       bench/run.py --from-raw bench/results/raw_*.jsonl

Normally started by scripts/bench.sh, which builds everything first. Every repetition runs
every (benchmark, implementation) program once, grouped by benchmark, with the order rotated
between repetitions, so duet and each peer alternate on a noisy machine. Every program is
pinned to CPU 0 and prints one JSON line. Writes bench/results/latest.md (also printed),
bench/results/latest.jsonl (one object per benchmark x implementation) and the per-run
records to bench/results/raw_<timestamp>.jsonl, from which --from-raw rebuilds the tables.
Python 3 standard library only.

Network families (native only; see "Network families" below): echo (TCP echo servers, bench-
peers' load generator at 1 and 50 connections, server on CPU 0, client on CPU 1), echo_mt
(examples/echo_server --threads 1 vs 2), bulk (1 GiB over one connection), memconn (RSS per
idle connection pair) and soak (only when named: --only soak).
"""
import argparse
import functools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(REPO, "build", "bench-peers")
RESULTS = os.path.join(REPO, "bench", "results")

PY = "/usr/bin/python3.11"  # Debian's; a pyenv python3 on PATH is ~3x slower (BASELINES.md)
PIN = ["taskset", "-c", "0"]  # single-threaded benchmarks: one core, as the peers' runner
TIME = ["/usr/bin/time", "-f", "MAXRSS_KB=%M"]  # peak RSS for the memory benchmarks

FAMILIES = {  # --only accepts these names or single benchmark names
    "callsoon": ("callsoon_batch", "callsoon_chain"),
    "spawn": ("spawn", "spawn_yield"),
    "pingpong": ("pingpong_future", "pingpong_queue"),
    "timers": ("timers",),
    "mem": ("mem_event", "mem_sleep"),
    "jsawait": ("jsawait",),
    "subproc": ("subproc_seq", "subproc_conc"),
    "fiber": ("fiber_pingpong", "fiber_spawn"),  # bench/fiber.cpp (duet_fiber_bench)
}
FAMILY_OF = {b: fam for fam, benches in FAMILIES.items() for b in benches}
BENCH_ORDER = [b for benches in FAMILIES.values() for b in benches]

# --quick: N per family, small enough for a smoke run of a few seconds per program.
QUICK_N = {"callsoon": 20000, "spawn": 20000, "pingpong": 20000, "timers": 20000,
           "mem": 10000, "jsawait": 20000, "subproc": 50, "fiber": 20000}

TARGET_TITLES = {
    "native": "duet natively (libuv) against the peers",
    "wasm-node": "duet compiled to WebAssembly, under node, against node itself",
}


@dataclass(frozen=True)
class Metric:
    key: str          # field of the program's JSON line
    unit: str
    higher_is_better: bool


RATE_UNITS = {"callsoon": "callbacks/s", "spawn": "tasks/s", "pingpong": "switches/s",
              "jsawait": "awaits/s", "subproc": "processes/s", "fiber": "switches/s"}
TIMER_METRIC = Metric("cpu_ns_per_timer", "cpu ns/timer", False)
MEM_METRIC = Metric("bytes_per_task", "bytes/task", False)


def metric_of(bench):
    fam = FAMILY_OF[bench]
    if fam == "timers":
        return TIMER_METRIC
    if fam == "mem":
        return MEM_METRIC
    if bench == "fiber_spawn":
        return Metric("rate", "tasks/s", True)
    return Metric("rate", RATE_UNITS[fam], True)


# ---------------------------------------------------------------------------------------
# Programs and comparison rows


@dataclass
class Program:
    pid: str            # unique key across targets, e.g. "asio:post_chain", "duet-wasm:spawn"
    impl: str           # duet, asio, node, tokio, asyncio, uvloop, libuv_c, ref_cpp20_uv, js
    variant: str        # the program's own benchmark name
    argv: list          # without the optional trailing N
    cwd: str
    needs: list         # files that must exist (the binary or script); checked before running
    runtime: str = "native"   # "native" or "wasm-node" for duet; peers are not tagged


_programs = {}  # pid -> Program, so that rows sharing a peer program share its runs


def program(pid, impl, variant, argv, cwd, needs, runtime="native"):
    if pid not in _programs:
        if variant.startswith("mem_"):
            # Peak RSS from /usr/bin/time, and a full GC before node reads its RSS.
            if argv[0] == "node":
                argv = ["node", "--expose-gc"] + argv[1:]
            argv = TIME + PIN + argv
        else:
            argv = PIN + argv
        _programs[pid] = Program(pid, impl, variant, argv, cwd, needs, runtime)
    return _programs[pid]


def duet_native(bench):
    exe = "build/bench-native/bench/duet_bench"
    return program(f"duet-native:{bench}", "duet", bench, [exe, bench], REPO, [exe])


def duet_fiber_native(bench):
    exe = "build/bench-native/bench/duet_fiber_bench"
    return program(f"duet-native:{bench}", "duet", bench, [exe, bench], REPO, [exe])


def duet_fiber_wasm(bench, exe="duet_fiber_bench"):
    # Fibers need ASYNCIFY, which needs JS-based exceptions: scripts/bench.sh builds them
    # (and duet_bench, the coroutine version to compare with) in build/bench-wasm-fibers.
    js = f"build/bench-wasm-fibers/bench/{exe}.js"
    return program(f"duet-wasm-fibers:{exe}:{bench}", "duet", bench,
                   ["node", "--no-experimental-fetch", js, bench], REPO, [js], runtime="wasm-node")


def duet_wasm(bench):
    js = "build/bench-wasm/bench/duet_bench.js"
    # Emscripten 3.1.6's loader would fetch() the .wasm by path when node has fetch; the
    # flag makes it read the file (as ctest and scripts/examples.sh run wasm programs).
    return program(f"duet-wasm:{bench}", "duet", bench,
                   ["node", "--no-experimental-fetch", js, bench], REPO, [js], runtime="wasm-node")


# The child watchers, the default (pidfd) first: subproc_seq / subproc_conc run once per
# watcher; the default's program is the row's duet program, the others sit beside the peers.
WATCHERS = ("pidfd", "threaded", "safe", "fast", "multi_loop")


def duet_subproc(bench, watcher):
    exe = "build/bench-native/bench/subproc"
    return program(f"duet-native:{bench}:{watcher}", "duet", f"{bench}[{watcher}]", [exe, bench, watcher],
                   REPO, [exe])


def subproc_row(bench):
    # Not pinned: children run on any CPU, as bench-peers ran table 7.
    progs = [duet_subproc(bench, w) for w in WATCHERS]
    peers = progs[1:] + both_pythons(bench) + [node(bench), libuv_c(bench), tokio(bench)]
    if bench == "subproc_seq":
        peers.append(libuv_c("sys_posix_spawn"))
    for p in [progs[0]] + peers:
        if p.argv[:len(PIN)] == PIN:
            p.argv = p.argv[len(PIN):]
    return Row("native", bench, progs[0], peers)


def plain_js(bench):
    script = f"bench/js/{bench}.mjs"
    return program(f"js:{bench}", "js", bench, ["node", script], REPO, [script])


def py(loop, variant):
    return program(f"{loop}:{variant}", loop, variant,
                   [PY, "py/bench_py.py", loop, variant], PEERS, ["py/bench_py.py", PY])


def node(variant):
    return program(f"node:{variant}", "node", variant, ["node", "node/bench.mjs", variant],
                   PEERS, ["node/bench.mjs"])


def native_peer(impl, exe):
    return lambda variant: program(f"{impl}:{variant}", impl, variant, [exe, variant],
                                   PEERS, [exe])


asio = native_peer("asio", "asio/bench_asio")
libuv_c = native_peer("libuv_c", "uv/bench_uv")
tokio = native_peer("tokio", "tokio/target/release/bench_tokio")
refcoro = native_peer("ref_cpp20_uv", "refcoro/bench_refcoro")


def both_pythons(variant):
    return [py("asyncio", variant), py("uvloop", variant)]


@dataclass
class Row:
    """One comparison: a duet program against the peer programs measuring the same thing."""
    target: str
    bench: str
    duet: Program
    peers: list
    metric: Metric = field(init=False)

    def __post_init__(self):
        self.metric = metric_of(self.bench)

    def programs(self):
        return [self.duet] + self.peers


def all_rows():
    n, w = duet_native, duet_wasm
    return [
        Row("native", "callsoon_batch", n("callsoon_batch"), both_pythons("callsoon_batch") + [
            node("immediate_batch"), asio("post_batch"), libuv_c("readyq_batch")]),
        Row("native", "callsoon_chain", n("callsoon_chain"), both_pythons("callsoon_chain") + [
            node("immediate_chain"), node("nexttick_chain"), asio("post_chain"),
            libuv_c("readyq_chain")]),
        Row("native", "spawn", n("spawn"), both_pythons("spawn") + [
            node("spawn"), asio("spawn"), tokio("spawn"), refcoro("spawn")]),
        Row("native", "spawn_yield", n("spawn_yield"), both_pythons("spawn_yield") + [
            node("spawn_yield"), asio("spawn_yield"), tokio("spawn_yield"), refcoro("spawn_yield")]),
        Row("native", "pingpong_future", n("pingpong_future"), both_pythons("pingpong_future") + [
            node("pingpong_promise"), asio("pingpong_channel"), tokio("pingpong_mpsc"),
            refcoro("pingpong")]),
        Row("native", "pingpong_queue", n("pingpong_queue"), both_pythons("pingpong_queue") + [
            tokio("pingpong_mpsc")]),
        Row("native", "timers", n("timers"), both_pythons("timers") + [
            node("timers"), asio("timers"), libuv_c("timers"), tokio("timers")]),
        Row("native", "mem_event", n("mem_event"), both_pythons("mem_event") + [
            node("mem_event"), asio("mem_event"), tokio("mem_event"), refcoro("mem_event")]),
        Row("native", "mem_sleep", n("mem_sleep"), both_pythons("mem_sleep") + [
            node("mem_sleep"), asio("mem_sleep"), tokio("mem_sleep"), refcoro("mem_sleep"),
            libuv_c("mem_timer")]),
        subproc_row("subproc_seq"),
        subproc_row("subproc_conc"),
        Row("wasm-node", "callsoon_batch", w("callsoon_batch"), [node("immediate_batch")]),
        Row("wasm-node", "callsoon_chain", w("callsoon_chain"), [
            node("nexttick_chain"), node("immediate_chain")]),
        Row("wasm-node", "spawn", w("spawn"), [node("spawn")]),
        Row("wasm-node", "spawn_yield", w("spawn_yield"), [node("spawn_yield")]),
        Row("wasm-node", "pingpong_future", w("pingpong_future"), [node("pingpong_promise")]),
        Row("wasm-node", "jsawait", w("jsawait"), [plain_js("jsawait")]),
        # Fibers against duet's own coroutine version and Asio's spawn (stackless).
        Row("native", "fiber_pingpong", duet_fiber_native("fiber_pingpong"), [n("pingpong_future")]),
        Row("native", "fiber_spawn", duet_fiber_native("fiber_spawn"), [n("spawn"), asio("spawn")]),
        # Against the coroutine version from the same ASYNCIFY, JS-exceptions build.
        Row("wasm-node", "fiber_pingpong", duet_fiber_wasm("fiber_pingpong"),
            [duet_fiber_wasm("pingpong_future", "duet_bench")]),
    ]


@dataclass(frozen=True)
class Target:
    """An issue target, evaluated from the medians: duet/peer ratio, or duet's own value."""
    target: str
    bench: str
    peer: str        # pid of the peer, or "" for an absolute bound on duet's value
    op: str          # ">=" or "<="
    bound: float
    label: str


TARGETS = [
    Target("native", "callsoon_chain", "asio:post_chain", ">=", 1.0, "callsoon_chain ≥ 1.0× asio post_chain"),
    Target("native", "spawn", "tokio:spawn", ">=", 3.0, "spawn ≥ 3× tokio"),
    Target("native", "spawn_yield", "tokio:spawn_yield", ">=", 3.0, "spawn_yield ≥ 3× tokio"),
    Target("native", "pingpong_future", "node:pingpong_promise", ">=", 1.0,
           "pingpong_future ≥ 1.0× node pingpong_promise"),
    Target("native", "pingpong_future", "tokio:pingpong_mpsc", ">=", 2.0,
           "pingpong_future ≥ 2× tokio pingpong_mpsc"),
    Target("native", "timers", "asio:timers", "<=", 0.7, "timers: CPU per timer ≤ 0.7× asio"),
    Target("native", "mem_event", "", "<=", 128, "mem_event ≤ 128 bytes/task"),
    Target("native", "mem_sleep", "", "<=", 256, "mem_sleep ≤ 256 bytes/task"),
    Target("native", "subproc_seq", "libuv_c:sys_posix_spawn", ">=", 0.95,
           "subproc_seq (pidfd) ≥ 0.95× the posix_spawn + waitpid floor"),
    Target("native", "subproc_conc", "tokio:subproc_conc", ">=", 1.0, "subproc_conc (pidfd) ≥ 1.0× tokio"),
    Target("wasm-node", "callsoon_chain", "node:nexttick_chain", ">=", 1.0,
           "wasm callsoon_chain ≥ 1.0× node nexttick_chain"),
    Target("wasm-node", "spawn", "node:spawn", ">=", 1.5, "wasm spawn ≥ 1.5× node spawn"),
    Target("wasm-node", "spawn_yield", "node:spawn_yield", ">=", 1.5, "wasm spawn_yield ≥ 1.5× node spawn_yield"),
    Target("native", "fiber_pingpong", "duet-native:pingpong_future", ">=", 0.5,
           "fiber_pingpong ≥ 0.5× duet's coroutine pingpong_future"),
    Target("native", "fiber_spawn", "asio:spawn", ">=", 1.0, "fiber_spawn ≥ 1.0× asio spawn (stackless)"),
    Target("wasm-node", "jsawait", "js:jsawait", ">=", 0.25,
           "wasm jsawait: duet ≤ 4× plain JS await time (rate ≥ 0.25×)"),
]


def select_rows(rows, only, impls, targets):
    """The rows --only and --targets pick that have at least one program --impls wants."""
    benches = set()
    for name in only:
        if name in NET_FAMILIES:
            continue  # select_net's
        if name in FAMILIES:
            benches.update(FAMILIES[name])
        elif name in FAMILY_OF:
            benches.add(name)
        else:
            sys.exit(f"--only: unknown family or benchmark {name!r} "
                     f"(families: {', '.join(list(FAMILIES) + list(NET_FAMILIES))}; "
                     f"benchmarks: {', '.join(BENCH_ORDER)})")
    known = {p.impl for r in rows for p in r.programs()} | NET_IMPLS
    unknown = set(impls) - known
    if unknown:
        sys.exit(f"--impls: unknown {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    if only and not benches:
        return []  # only network families
    picked = []
    for row in rows:
        if benches and row.bench not in benches:
            continue
        if targets and row.target not in targets:
            continue
        if any(wanted(p, impls) for p in row.programs()):
            picked.append(row)
    return picked


def wanted(prog, impls):
    return not impls or prog.impl in impls


# ---------------------------------------------------------------------------------------
# Running


def missing_reason(prog):
    """Why a program cannot run, or None. Checked once before the first repetition, so that a
    peer that was not built is reported once and skipped, not failed in every repetition."""
    for f in prog.needs:
        path = f if os.path.isabs(f) else os.path.join(prog.cwd, f)
        if not os.path.exists(path):
            return f"missing {f if os.path.isabs(f) else os.path.relpath(path, REPO)}"
    for tool in ("taskset", "/usr/bin/time", "node"):
        if tool in prog.argv and shutil.which(tool) is None:
            return f"{tool} not found"
    return None


def parse_output(stdout):
    """The program's JSON line (the first line that parses as a JSON object), or None."""
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
    return None


def run_once(prog, metric, n, timeout):
    """Runs a program once; returns the raw record (with "result" or "error")."""
    argv = prog.argv + ([str(n)] if n else [])
    rec = dict(kind="run", pid=prog.pid, impl=prog.impl, variant=prog.variant,
               runtime=prog.runtime, metric=metric.key, unit=metric.unit,
               higher_is_better=metric.higher_is_better, cmd=shlex.join(argv),
               cwd=os.path.relpath(prog.cwd, REPO), n_arg=n, ts=round(time.time(), 1))
    t0 = time.monotonic()
    # Own session: on a timeout the whole tree goes (/usr/bin/time forks the real program).
    proc = subprocess.Popen(argv, cwd=prog.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        rec.update(secs=round(time.monotonic() - t0, 2), error=f"timeout after {timeout} s")
        return rec
    except BaseException:  # Ctrl-C: take the child down with us
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    rec["secs"] = round(time.monotonic() - t0, 2)
    rec["rc"] = proc.returncode
    result = parse_output(out)
    m = re.search(r"MAXRSS_KB=(\d+)", err)
    if m:
        rec["time_maxrss_kb"] = int(m.group(1))
    tail = err.strip()[-600:]
    if proc.returncode != 0:
        rec["error"] = f"exit status {proc.returncode}: {tail}"
    elif result is None:
        rec["error"] = f"no JSON line on stdout: {tail or out.strip()[-300:]}"
    elif not isinstance(result.get(metric.key), (int, float)):
        rec["error"] = f"no numeric {metric.key!r} in {json.dumps(result)[:300]}"
    if result is not None:
        rec["result"] = result
    return rec


def rotate(items, k):
    if not items:
        return items
    k %= len(items)
    return items[k:] + items[:k]


def run_groups(rows, impls):
    """Benchmark groups in run order: each is (bench, [programs]) over all selected targets,
    so that duet's native and wasm programs alternate with the same peers."""
    groups = []
    for bench in BENCH_ORDER:
        progs = []
        for row in rows:
            if row.bench == bench:
                progs += [p for p in row.programs() if wanted(p, impls) and p not in progs]
        if progs:
            groups.append((bench, progs))
    return groups


def run_all(rows, net, args, raw_path, meta):
    """Runs every repetition; returns the raw records (also appended to raw_path as they come)."""
    groups = run_groups(rows, args.impls)
    skipped = {}
    for _, progs in groups:
        for p in progs:
            reason = missing_reason(p)
            if reason:
                skipped[p.pid] = reason
    args.net_skipped = set()
    for progs in net.values():
        for p in progs:
            reason = net_missing(p)
            if reason:
                skipped[p.pid] = reason
                args.net_skipped.add(p.pid)
    for pid, reason in skipped.items():
        print(f"skipping {pid}: {reason}", file=sys.stderr)
    meta["skipped"] = skipped
    records = [meta]
    with open(raw_path, "w") as raw:
        def keep(rec):
            records.append(rec)
            raw.write(json.dumps(rec) + "\n")
            raw.flush()

        raw.write(json.dumps(meta) + "\n")
        started = time.monotonic()
        try:
            for rep in range(args.reps):
                rep_start = time.monotonic()
                done = set()  # a peer program shared by two groups runs once per repetition
                for bench, progs in groups:
                    fam = FAMILY_OF[bench]
                    for p in rotate(progs, rep):
                        if p.pid in skipped or p.pid in done:
                            continue
                        done.add(p.pid)
                        metric = metric_of(bench)
                        rec = run_once(p, metric, QUICK_N[fam] if args.quick else None, args.timeout)
                        rec.update(rep=rep, quick=args.quick)
                        keep(rec)
                        report_progress(rep, args.reps, bench, rec)
                run_net_rep(net, rep, args, keep)
                if rep == 0 and args.reps > 1:
                    left = (time.monotonic() - rep_start) * (args.reps - 1)
                    print(f"-- one repetition took {time.monotonic() - rep_start:.0f} s; "
                          f"about {left / 60:.0f} min to go", flush=True)
        except KeyboardInterrupt:
            print("\ninterrupted: reporting the runs so far", file=sys.stderr)
            keep(dict(kind="note", interrupted=True))
        print(f"-- ran {time.monotonic() - started:.0f} s; raw records in "
              f"{os.path.relpath(raw_path, REPO)}", flush=True)
    return records


def report_progress(rep, reps, bench, rec):
    head = f"[{rep + 1}/{reps}] {bench:15s} {rec['impl']:12s} {rec['variant']:17s}"
    if "error" in rec:
        print(f"{head} FAILED ({rec['error'][:200]})", file=sys.stderr, flush=True)
    else:
        value = rec["result"][rec["metric"]]
        print(f"{head} {human(value):>7s} {rec['unit']}  ({rec['secs']:.1f} s)", flush=True)


# ---------------------------------------------------------------------------------------
# Network families (issue 11): echo, echo_mt, bulk, memconn, soak. Native only. An echo run
# is a server (pinned to CPU 0) and bench-peers' load generator client/echo_client.c (pinned
# to CPU 1) at 1 and 50 connections; the server's CPU time comes from /proc/PID/stat around
# each client run, as bench-peers' run_all.py does. The others are one program printing one
# JSON line.

NET_FAMILIES = ("echo", "echo_mt", "bulk", "memconn", "soak")
NET_DEFAULT = ("echo", "echo_mt", "bulk", "memconn")  # soak (30 s+) only when asked for
DUET_BIN = "build/bench-native/bench"
MEMCONN_TOKIO = "build/bench-native/memconn_tokio/release/memconn_tokio"
ECHO_CONNS = (1, 50)
ECHO_MT_CONNS = (50,)


@dataclass
class NetProgram:
    family: str
    name: str       # the table's label: duet_protocol, libuv_c, uvloop_streams, ...
    impl: str       # for --impls: duet, libuv_c, epoll_c, asio, tokio, uvloop, asyncio, node
    argv: list      # an echo server's argv has "PORT" where the port goes
    cwd: str
    needs: list
    cpus: str = "0"  # taskset's CPU list for the server / the program

    @property
    def pid(self):
        return f"{self.family}:{self.name}"


def net_programs():
    """family -> its programs, duet's first."""
    d = os.path.join(DUET_BIN, "echo_server")

    def echo_srv(name, impl, argv, cwd, needs, cpus="0"):
        return NetProgram("echo", name, impl, argv, cwd, needs, cpus)

    pyecho = lambda loop, kind: [PY, "py/echo_server.py", loop, kind, "PORT"]
    echo = [
        echo_srv("duet_protocol", "duet", [d, "--port", "PORT"], REPO, [d]),
        echo_srv("duet_streams", "duet", [d, "--port", "PORT", "--streams"], REPO, [d]),
        echo_srv("libuv_c", "libuv_c", ["uv/echo_server", "PORT"], PEERS, ["uv/echo_server"]),
        echo_srv("epoll_c", "epoll_c", ["uv/epoll_echo", "PORT"], PEERS, ["uv/epoll_echo"]),
        echo_srv("asio", "asio", ["asio/echo_server", "PORT"], PEERS, ["asio/echo_server"]),
        echo_srv("tokio", "tokio", ["tokio/target/release/echo_tokio", "PORT"], PEERS,
                 ["tokio/target/release/echo_tokio"]),
        echo_srv("uvloop_protocol", "uvloop", pyecho("uvloop", "protocol"), PEERS, ["py/echo_server.py", PY]),
        echo_srv("uvloop_streams", "uvloop", pyecho("uvloop", "streams"), PEERS, ["py/echo_server.py", PY]),
        echo_srv("asyncio_streams", "asyncio", pyecho("asyncio", "streams"), PEERS, ["py/echo_server.py", PY]),
        echo_srv("node", "node", ["node", "node/echo_server.mjs", "PORT"], PEERS, ["node/echo_server.mjs"]),
    ]
    # Scale-out: the server may use both cores (the client still needs CPU 1: see RESULTS.md).
    mt = []
    for kind, extra in (("protocol", []), ("streams", ["--streams"])):
        for n in (1, 2):
            mt.append(NetProgram("echo_mt", f"duet_{kind}_t{n}", "duet",
                                 [d, "--port", "PORT", "--threads", str(n)] + extra, REPO, [d], "0,1"))
    mt.append(NetProgram("echo_mt", "libuv_c", "libuv_c", ["uv/echo_server", "PORT"], PEERS,
                         ["uv/echo_server"], "0,1"))
    bd, bu = os.path.join(DUET_BIN, "bulk_duet"), os.path.join(DUET_BIN, "bulk_uv")
    bulk = [
        NetProgram("bulk", "duet_streams", "duet", [bd, "streams"], REPO, [bd]),
        NetProgram("bulk", "duet_writer_to_buffered", "duet", [bd, "writer_to_buffered"], REPO, [bd]),
        NetProgram("bulk", "duet_protocol", "duet", [bd, "protocol"], REPO, [bd]),
        NetProgram("bulk", "libuv_c", "libuv_c", [bu], REPO, [bu]),
    ]
    md, mu = os.path.join(DUET_BIN, "memconn_duet"), os.path.join(DUET_BIN, "memconn_uv")
    memconn = [
        NetProgram("memconn", "duet_streams", "duet", [md, "streams"], REPO, [md]),
        NetProgram("memconn", "duet_protocol", "duet", [md, "protocol"], REPO, [md]),
        NetProgram("memconn", "libuv_c", "libuv_c", [mu], REPO, [mu]),
        NetProgram("memconn", "tokio", "tokio", [MEMCONN_TOKIO], REPO, [MEMCONN_TOKIO]),
    ]
    so = os.path.join(DUET_BIN, "soak")
    soak = [
        NetProgram("soak", "duet_streams", "duet", [so], REPO, [so], "0,1"),
        NetProgram("soak", "duet_protocol", "duet", [so, "--protocol"], REPO, [so], "0,1"),
    ]
    return {"echo": echo, "echo_mt": mt, "bulk": bulk, "memconn": memconn, "soak": soak}


NET_IMPLS = {p.impl for progs in net_programs().values() for p in progs}


def select_net(only, impls, targets):
    """family -> programs that --only / --impls / --targets pick."""
    if targets and "native" not in targets:
        return {}
    fams = [f for f in only if f in NET_FAMILIES] if only else list(NET_DEFAULT)
    return {f: [p for p in progs if not impls or p.impl in impls]
            for f, progs in net_programs().items() if f in fams}


def net_missing(prog):
    for f in prog.needs:
        path = f if os.path.isabs(f) else os.path.join(prog.cwd, f)
        if not os.path.exists(path):
            return f"missing {os.path.relpath(path, REPO)}"
    if "uvloop" in prog.argv and not have_uvloop():
        return "python3-uvloop not installed"
    if prog.argv[0] == "node" and shutil.which("node") is None:
        return "node not found"
    if prog.family in ("echo", "echo_mt") and not os.path.exists(os.path.join(PEERS, "client/echo_client")):
        return "missing build/bench-peers/client/echo_client (the load generator)"
    return None


@functools.lru_cache(maxsize=None)
def have_uvloop():
    return subprocess.run([PY, "-c", "import uvloop"], capture_output=True).returncode == 0


def proc_cpu_s(pid):
    """utime + stime of a whole process (all its threads), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=15.0):
    """True once 127.0.0.1:port accepts a connection (False if the server died or never did)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop_server(proc):
    """SIGTERM (duet's echo_server stops through its signal handler), SIGKILL after 5 s;
    returns the exit status (negative: killed by that signal)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def run_echo(prog, rep, secs, conns_list):
    """Runs one echo server through the client at each connection count; the records."""
    port = free_port()
    argv = ["taskset", "-c", prog.cpus] + [str(port) if a == "PORT" else a for a in prog.argv]
    base = dict(kind="net", family=prog.family, pid=prog.pid, name=prog.name, impl=prog.impl, rep=rep)
    err_file = tempfile.TemporaryFile("w+")
    srv = subprocess.Popen(argv, cwd=prog.cwd, stdout=subprocess.DEVNULL, stderr=err_file,
                           start_new_session=True)
    recs = []
    try:
        if not wait_listening(port, srv):
            err_file.seek(0)
            return [dict(base, conns=c, cmd=shlex.join(argv),
                         error=f"server did not listen: {err_file.read()[-400:]}") for c in conns_list]
        time.sleep(0.2)  # start-up work (interpreters) out of the measured window
        for conns in conns_list:
            ccmd = ["taskset", "-c", "1", "client/echo_client", str(port), str(conns), str(secs), "1024",
                    "0.5", prog.name]
            rec = dict(base, conns=conns, ts=round(time.time(), 1),
                       cmd=f"{shlex.join(argv)}  &  {shlex.join(ccmd)}")
            s0 = proc_cpu_s(srv.pid)
            p = subprocess.run(ccmd, cwd=PEERS, capture_output=True, text=True, timeout=secs + 40)
            s1 = proc_cpu_s(srv.pid)
            result = parse_output(p.stdout)
            if p.returncode != 0 or result is None:
                rec["error"] = f"client exit {p.returncode}: {p.stderr.strip()[-300:]}"
            else:
                if s0 is not None and s1 is not None and result.get("requests_total"):
                    result["server_cpu_pct"] = round(100 * (s1 - s0) / result["wall_total_s"], 1)
                    result["server_cpu_us_per_req"] = round((s1 - s0) * 1e6 / result["requests_total"], 3)
                rec["result"] = result
            recs.append(rec)
    finally:
        rc = stop_server(srv)
        err_file.seek(0)
        tail = err_file.read()[-300:]
        err_file.close()
    for r in recs:
        r["server_rc"] = rc
        if prog.impl == "duet" and rc != 0:
            # duet's server must stop cleanly on SIGTERM: say so next to the figures.
            r["server_note"] = f"exit status {rc} after SIGTERM: {tail}"
    return recs


def net_argv_extra(prog, quick):
    if not quick:
        return []
    return {"bulk": [str(64 << 20)], "memconn": ["1000"], "soak": ["--connections", "100", "--seconds", "5"]}.get(prog.family, [])


def run_net_program(prog, rep, quick, timeout):
    extra = net_argv_extra(prog, quick)
    argv = ["taskset", "-c", prog.cpus] + prog.argv + extra
    rec = dict(kind="net", family=prog.family, pid=prog.pid, name=prog.name, impl=prog.impl, rep=rep,
               cmd=shlex.join(argv), ts=round(time.time(), 1))
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=prog.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        rec["error"] = f"timeout after {timeout} s"
        return rec
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    rec["secs"] = round(time.monotonic() - t0, 2)
    result = parse_output(out)
    if result is not None:
        rec["result"] = result
    if proc.returncode != 0 or result is None:
        rec["error"] = f"exit status {proc.returncode}: {err.strip()[-400:] or out.strip()[-400:]}"
    if prog.family == "soak":
        rec["output"] = out[-4000:]
    return rec


def net_progress(rep, reps, rec):
    head = f"[{rep + 1}/{reps}] {rec['family']:8s} {rec['name']:16s}"
    if "conns" in rec:
        head += f" c{rec['conns']:<3d}"
    if "error" in rec and "result" not in rec:
        print(f"{head} FAILED ({rec['error'][:200]})", file=sys.stderr, flush=True)
        return
    r = rec["result"]
    if rec["family"] in ("echo", "echo_mt"):
        msg = (f"{human(r.get('rate'))} req/s  srv {r.get('server_cpu_us_per_req')} us/req "
               f"({r.get('server_cpu_pct')}%)  cli {r.get('client_cpu_pct')}%  p50 {r.get('p50_us')} us")
    elif rec["family"] == "bulk":
        msg = f"{human(r.get('rate'))}B/s ({r.get('gbit_per_s')} Gbit/s)"
    elif rec["family"] == "memconn":
        msg = (f"{r.get('bytes_per_pair')} B/pair (server {r.get('server_bytes_per_conn')}, "
               f"client {r.get('client_bytes_per_conn')})")
    else:
        msg = (f"fds {r.get('fds_start')}->{r.get('fds_end')} handles {r.get('handles_start')}->"
               f"{r.get('handles_end')} rss {r.get('rss_warm')}->{r.get('rss_end')} flat={r.get('flat')}")
    if "error" in rec:
        msg += f"  ERROR {rec['error'][:150]}"
    if rec.get("server_note"):
        msg += f"  (server: {rec['server_note'][:150]})"
    print(f"{head} {msg}", flush=True)


def run_net_rep(net, rep, args, keep):
    """One repetition of every selected network family, program order rotated per rep."""
    secs = 1.0 if args.quick else args.echo_seconds
    for fam in NET_FAMILIES:
        for prog in rotate(net.get(fam, []), rep):
            if prog.pid in args.net_skipped:
                continue
            if fam in ("echo", "echo_mt"):
                recs = run_echo(prog, rep, secs, ECHO_CONNS if fam == "echo" else ECHO_MT_CONNS)
            else:
                recs = [run_net_program(prog, rep, args.quick, args.timeout)]
            for rec in recs:
                rec["quick"] = args.quick
                keep(rec)
                net_progress(rep, args.reps, rec)


# ---- the network report


def net_values(records, family, name, key, conns=None):
    vals = []
    for r in records:
        if r.get("kind") != "net" or r["family"] != family or r["name"] != name or "result" not in r:
            continue
        if conns is not None and r.get("conns") != conns:
            continue
        v = r["result"].get(key)
        if isinstance(v, (int, float)):
            vals.append(v)
    return vals


def med(vals):
    return statistics.median(vals) if vals else None


def over(a, b):
    return None if a is None or not b else a / b


NET_TARGETS = [  # (label, family, conns, key, duet, op, bound, kind): kind "ratio" to libuv_c, "diff" in units
    ("echo c1: protocol server CPU/request ≤ 1.0× libuv C", "echo", 1, "server_cpu_us_per_req",
     "duet_protocol", "<=", 1.0, "ratio"),
    ("echo c1: streams server CPU/request ≤ 1.05× libuv C", "echo", 1, "server_cpu_us_per_req",
     "duet_streams", "<=", 1.05, "ratio"),
    ("echo c50: protocol requests/s ≥ 0.97× libuv C", "echo", 50, "rate", "duet_protocol", ">=", 0.97, "ratio"),
    ("echo c50: streams requests/s ≥ 0.97× libuv C", "echo", 50, "rate", "duet_streams", ">=", 0.97, "ratio"),
    ("echo c50: protocol server CPU/request ≤ 1.05× libuv C", "echo", 50, "server_cpu_us_per_req",
     "duet_protocol", "<=", 1.05, "ratio"),
    ("echo c50: streams server CPU/request ≤ 1.05× libuv C", "echo", 50, "server_cpu_us_per_req",
     "duet_streams", "<=", 1.05, "ratio"),
    ("bulk: streams throughput ≥ 0.9× libuv C", "bulk", None, "rate", "duet_streams", ">=", 0.9, "ratio"),
    ("bulk: stream_writer into a buffered_protocol ≥ 0.9× libuv C", "bulk", None, "rate",
     "duet_writer_to_buffered", ">=", 0.9, "ratio"),
    ("memconn: streams bytes/pair ≤ libuv C + 512 B", "memconn", None, "bytes_per_pair", "duet_streams", "<=",
     512, "diff"),
    ("memconn: protocol bytes/pair ≤ libuv C + 512 B", "memconn", None, "bytes_per_pair", "duet_protocol", "<=",
     512, "diff"),
]


def net_target_rows(records):
    out = []
    for label, fam, conns, key, duet, op, bound, kind in NET_TARGETS:
        d = med(net_values(records, fam, duet, key, conns))
        p = med(net_values(records, fam, "libuv_c", key, conns))
        if d is None and p is None:
            continue
        if kind == "ratio":
            value = over(d, p)
            shown = ratio_text(value)
            req = f"{op.replace('>=', '≥').replace('<=', '≤')} {bound:g}×"
        else:
            value = None if d is None or p is None else d - p
            shown = "—" if value is None else f"{value:+.0f} B ({human(d)} vs {human(p)})"
            req = f"≤ +{bound:g} B"
        verdict = "no data" if value is None else (
            "met" if (value >= bound if op == ">=" else value <= bound) else "**NOT met**")
        out.append([label, shown, req, verdict])
    return out


def net_errors(records, family, name):
    errs = [r for r in records if r.get("kind") == "net" and r["family"] == family and r["name"] == name
            and ("error" in r or r.get("server_note"))]
    if not errs:
        return ""
    last = errs[-1]
    text = last.get("error") or last.get("server_note")
    return f"{len(errs)} with errors: {text[:120]}".replace("|", "/").replace("\n", " ")


def net_markdown(records, net_names):
    """The network sections of the report; net_names: family -> program names in table order."""
    out = []
    trows = net_target_rows(records)
    if trows:
        out += ["## Network targets (issue 11)", "",
                "Ratios of medians from this one run; libuv C = bench-peers' `uv/echo_server` for echo, "
                "`bench/bulk_uv.c` for bulk, `bench/memconn_uv.c` for memconn.", "",
                md_table(["target", "measured", "required", "result"], trows), ""]
    cmds = {}
    if "echo" in net_names or "echo_mt" in net_names:
        out += ["## echo: TCP echo over 127.0.0.1, 1 KiB messages, closed loop", "",
                "bench-peers' load generator `client/echo_client` (one epoll thread) pinned to CPU 1; "
                "`echo` servers pinned to CPU 0, `echo_mt` servers allowed both CPUs (`taskset -c 0,1`). "
                "Server CPU from /proc/PID/stat around each client run (warm-up included) ÷ all requests. "
                "Ratios: duet-or-peer median ÷ libuv_c's median in the same family and connection count "
                "(req/s: above 1 is faster; CPU/request: below 1 is cheaper).", ""]
    for fam in ("echo", "echo_mt"):
        if fam not in net_names:
            continue
        table = []
        for conns in (ECHO_CONNS if fam == "echo" else ECHO_MT_CONNS):
            ref_rate = med(net_values(records, fam, "libuv_c", "rate", conns))
            ref_cpu = med(net_values(records, fam, "libuv_c", "server_cpu_us_per_req", conns))
            for name in net_names[fam]:
                rates = net_values(records, fam, name, "rate", conns)
                cpu = net_values(records, fam, name, "server_cpu_us_per_req", conns)
                note = net_errors(records, fam, name)
                if not rates and not note:
                    continue
                g = lambda k: med(net_values(records, fam, name, k, conns))
                table.append([f"**{name}**" if name.startswith("duet") else name, conns, len(rates),
                              spread(rates), ratio_text(over(med(rates), ref_rate)), spread(cpu),
                              ratio_text(over(med(cpu), ref_cpu)), human(g("p50_us")), human(g("p99_us")),
                              human(g("server_cpu_pct")), human(g("client_cpu_pct")), note])
        for r in records:
            if r.get("kind") == "net" and r["family"] == fam:
                cmds.setdefault(f"{fam}:{r['name']}:c{r.get('conns')}", r["cmd"])
        if table:
            out += [f"### {fam}", "",
                    md_table(["server", "conns", "runs", "req/s median [min–max]", "req/s ÷ libuv_c",
                              "server CPU µs/req", "CPU/req ÷ libuv_c", "p50 µs", "p99 µs", "server CPU %",
                              "client CPU %", "note"], table), ""]
        if fam == "echo_mt":
            t1 = med(net_values(records, fam, "duet_protocol_t1", "rate", 50))
            t2 = med(net_values(records, fam, "duet_protocol_t2", "rate", 50))
            s1 = med(net_values(records, fam, "duet_streams_t1", "rate", 50))
            s2 = med(net_values(records, fam, "duet_streams_t2", "rate", 50))
            out += [f"2 threads ÷ 1 thread at 50 connections: protocol {ratio_text(over(t2, t1))}, "
                    f"streams {ratio_text(over(s2, s1))}.", ""]
    for fam, key, unit, title in (
            ("bulk", "rate", "bytes/s", "bulk: 1 GiB through one TCP connection on 127.0.0.1, 64 KiB writes, "
                                        "both ends on one loop pinned to CPU 0"),
            ("memconn", "bytes_per_pair", "bytes/pair", "memconn: RSS per idle connected TCP pair "
                                                        "(10,000 pairs; server ends + client ends)")):
        if fam not in net_names:
            continue
        ref = med(net_values(records, fam, "libuv_c", key))
        table = []
        for name in net_names[fam]:
            vals = net_values(records, fam, name, key)
            note = net_errors(records, fam, name)
            if not vals and not note:
                continue
            row = [f"**{name}**" if name.startswith("duet") else name, len(vals), spread(vals), unit,
                   ratio_text(over(med(vals), ref))]
            if fam == "memconn":
                row += [human(med(net_values(records, fam, name, "server_bytes_per_conn"))),
                        human(med(net_values(records, fam, name, "client_bytes_per_conn"))),
                        "—" if ref is None or not vals else f"{med(vals) - ref:+.0f}"]
            else:
                row += [human(med(net_values(records, fam, name, "gbit_per_s"))),
                        human(med(net_values(records, fam, name, "cpu_s")))]
            table.append(row + [note])
        for r in records:
            if r.get("kind") == "net" and r["family"] == fam:
                cmds.setdefault(f"{fam}:{r['name']}", r["cmd"])
        head = ["impl", "runs", "median [min–max]", "unit", "÷ libuv_c"]
        head += (["server B/conn", "client B/conn", "− libuv_c (B)"] if fam == "memconn"
                 else ["Gbit/s", "CPU s"])
        if table:
            out += [f"## {title}", "", md_table(head + ["note"], table), ""]
    if "soak" in net_names:
        soaks = [r for r in records if r.get("kind") == "net" and r["family"] == "soak"]
        table = []
        for r in soaks:
            x = r.get("result", {})
            cmds.setdefault(f"soak:{r['name']}", r["cmd"])
            table.append([r["name"], x.get("connections"), x.get("seconds"), x.get("opened"), x.get("echoes"),
                          x.get("client_errors"), f"{x.get('fds_start')} → {x.get('fds_end')}",
                          f"{x.get('handles_start')} → {x.get('handles_end')}",
                          f"{x.get('active_handles_start')} → {x.get('active_handles_end')}",
                          f"{x.get('tasks_start')} → {x.get('tasks_end')}",
                          "—" if not x.get("rss_warm") else
                          f"{x['rss_warm'] / 2**20:.1f} → {x['rss_end'] / 2**20:.1f} MiB",
                          x.get("flat"), (r.get("error") or "")[:100]])
        if table:
            out += ["## soak: connections opened, echoed and closed continuously (bench/soak.cpp)", "",
                    md_table(["server", "conns", "s", "opened", "echoes", "client errors", "fds", "uv handles",
                              "active handles", "tasks", "RSS warm → end", "flat", "error"], table), ""]
    if cmds:
        out += ["## Network commands", "",
                "duet's from the repository root; the peers (and the echo client) from `build/bench-peers`.", ""]
        out += [f"- {k}: `{v}`" for k, v in cmds.items()]
        out.append("")
    return out


def net_names_in(records):
    """family -> program names, in net_programs() order, for the families the records hold."""
    seen = {(r["family"], r["name"]) for r in records if r.get("kind") == "net"}
    out = {}
    for fam, progs in net_programs().items():
        names = [p.name for p in progs if (fam, p.name) in seen]
        if names:
            out[fam] = names
    return out


def net_jsonl(records):
    objs = []
    for fam, names in net_names_in(records).items():
        for name in names:
            for conns in ((ECHO_CONNS if fam == "echo" else ECHO_MT_CONNS)
                          if fam in ("echo", "echo_mt") else (None,)):
                keys = {"echo": ["rate", "server_cpu_us_per_req", "p50_us", "p99_us"],
                        "echo_mt": ["rate", "server_cpu_us_per_req"], "bulk": ["rate", "gbit_per_s"],
                        "memconn": ["bytes_per_pair", "server_bytes_per_conn", "client_bytes_per_conn"],
                        "soak": ["opened", "echoes", "client_errors", "fds_start", "fds_end",
                                 "handles_start", "handles_end", "rss_warm", "rss_end"]}[fam]
                obj = dict(target="native", family=fam, impl=name, conns=conns)
                for k in keys:
                    vals = net_values(records, fam, name, k, conns)
                    ref = med(net_values(records, fam, "libuv_c", k, conns))
                    obj[k] = med(vals)
                    obj[k + "_runs"] = len(vals)
                    if ref and fam != "soak" and name != "libuv_c" and vals:
                        obj[k + "_over_libuv_c"] = med(vals) / ref
                objs.append(obj)
    return objs


# ---------------------------------------------------------------------------------------
# Machine information (top of the report)


def first_line(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def machine_info():
    commit = first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "nproc": first_line(["nproc"]),
        "kernel": os.uname().release,
        "cpu": cpu_model(),
        "node": first_line(["node", "--version"]),
        "g++": first_line(["g++", "--version"]),
        "python (peers)": first_line([PY, "--version"]),
        "emcc": first_line(["emcc", "--version"]),
        "duet commit": commit + (" (with local changes)" if dirty else ""),
        # Other work on the machine skews every figure; the network families most.
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# ---------------------------------------------------------------------------------------
# Report


def human(x):
    """3 significant digits with k/M/G: 60.8M, 1.41k, 84.9, 0.412."""
    if x is None:
        return "—"
    scales = [(1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]
    for i, (div, suffix) in enumerate(scales):
        if abs(x) >= div or div == 1.0:
            v = float(f"{x / div:.3g}")
            if abs(v) >= 1000 and i > 0:  # 999.96k rounds up to the next unit
                div, suffix = scales[i - 1]
                v = float(f"{x / div:.3g}")
            return f"{v:g}{suffix}"


def spread(vals):
    """median [min–max]; a single run is just its value."""
    if not vals:
        return "—"
    if len(vals) == 1:
        return human(vals[0])
    return f"{human(statistics.median(vals))} [{human(min(vals))}–{human(max(vals))}]"


def ratio_text(r):
    return "—" if r is None else f"{r:.3g}×"


@dataclass
class Stats:
    values: list
    failed: int
    errors: list
    n: object
    cmd: str

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None


def collect(records):
    """pid -> Stats over all runs in the records."""
    by_pid = {}
    for rec in records:
        if rec.get("kind") != "run":
            continue
        st = by_pid.setdefault(rec["pid"], Stats([], 0, [], None, rec["cmd"]))
        if "error" in rec:
            st.failed += 1
            st.errors.append(rec["error"])
            continue
        st.values.append(rec["result"][rec["metric"]])
        st.n = rec["result"].get("n", st.n)
    return by_pid


def row_entries(row, stats, skipped):
    """(program, Stats or None, note) for duet and each peer of a row."""
    out = []
    for p in row.programs():
        st = stats.get(p.pid)
        note = ""
        if p.pid in skipped and not st:  # (another raw file may hold its runs)
            note = f"skipped: {skipped[p.pid]}"
        elif st and st.failed:
            note = f"{st.failed} failed: {st.errors[-1][:120]}".replace("|", "/").replace("\n", " ")
        if st or note:
            out.append((p, st, note))
    return out


def duet_over(row, stats, peer_pid):
    d, p = stats.get(row.duet.pid), stats.get(peer_pid)
    if not d or not p or d.median is None or not p.median:
        return None
    return d.median / p.median


def md_table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def target_rows(rows, stats):
    present = {(r.target, r.bench): r for r in rows}
    out = []
    for t in TARGETS:
        row = present.get((t.target, t.bench))
        if row is None:
            continue
        bound = f"{t.op.replace('>=', '≥').replace('<=', '≤')} {t.bound:g}"
        if t.peer:
            value = duet_over(row, stats, t.peer)
            shown = ratio_text(value)
            bound += "×"
        else:
            d = stats.get(row.duet.pid)
            value = d.median if d else None
            shown = "—" if value is None else f"{human(value)} {row.metric.unit}"
            bound += f" {row.metric.unit}"
        if value is None:
            verdict = "no data"
        else:
            ok = value >= t.bound if t.op == ">=" else value <= t.bound
            verdict = "met" if ok else "**NOT met**"
        out.append(dict(label=t.label, measured=shown, required=bound, verdict=verdict,
                        value=value))
    return out


def jsonl_objects(rows, stats, skipped, quick):
    objs = []
    for row in rows:
        for p, st, note in row_entries(row, stats, skipped):
            vals = st.values if st else []
            objs.append(dict(
                target=row.target, bench=row.bench, impl=p.impl, variant=p.variant,
                metric=row.metric.key, unit=row.metric.unit,
                higher_is_better=row.metric.higher_is_better,
                median=statistics.median(vals) if vals else None,
                min=min(vals) if vals else None, max=max(vals) if vals else None,
                runs=len(vals), failed=st.failed if st else 0, n=st.n if st else None,
                ratio_duet_over_peer=None if p is row.duet else duet_over(row, stats, p.pid),
                cmd=st.cmd if st else shlex.join(p.argv), quick=quick,
                **({"note": note} if note else {})))
    return objs


@dataclass
class RunInfo:
    """What the raw files say about their runs as a whole (one meta record per run)."""
    metas: list
    quick: bool
    interrupted: bool
    skipped: dict


def run_info(records):
    metas = [r for r in records if r.get("kind") == "meta"]
    return RunInfo(metas=metas,
                   quick=any(m.get("quick") for m in metas),
                   interrupted=any(r.get("interrupted") for r in records),
                   skipped={k: v for m in metas for k, v in m.get("skipped", {}).items()})


def markdown(rows, stats, info, raw_files, records=()):
    metas, skipped = info.metas, info.skipped
    machine = metas[0].get("machine", {}) if metas else {}
    reps = " + ".join(str(m.get("reps", "?")) for m in metas)
    out = ["# duet benchmarks against its peers", ""]
    if info.quick:
        out += ["**QUICK SMOKE RUN** (`--quick`: small N, 1 repetition). These numbers only show "
                "that everything runs; do not compare them.", ""]
    if info.interrupted:
        out += ["**Interrupted run**: some repetitions are incomplete.", ""]
    started = ", ".join(m.get("started", "?") for m in metas)
    out += [f"Run {started}; repetitions: {reps or '?'}; raw records: "
            + ", ".join(f"`{f}`" for f in raw_files), ""]
    out += [md_table(["machine", ""], [[k, f"`{v}`"] for k, v in machine.items()]), ""]
    if skipped:
        out += ["Skipped: " + "; ".join(f"{pid} ({why})" for pid, why in skipped.items()), ""]
    net_part = net_markdown(records, net_names_in(records))
    if not rows:
        return "\n".join(out + net_part)
    out += ["Method: every repetition runs every (benchmark, implementation) program once, grouped "
            "by benchmark, in an order rotated between repetitions; all are pinned to CPU 0 "
            "(`taskset -c 0`). Values are median [min–max] over the runs. "
            "**duet/peer** = duet's median ÷ the peer's median: for rates (…/s) above 1 means "
            "duet is faster; for costs (ns, bytes) below 1 means duet is cheaper.", ""]

    targets = target_rows(rows, stats)
    if targets:
        out += ["## Targets", ""]
        out += [md_table(["target", "measured", "required", "result"],
                         [[t["label"], t["measured"], t["required"], t["verdict"]] for t in targets]), ""]

    for target, title in TARGET_TITLES.items():
        trows = [r for r in rows if r.target == target]
        if not trows:
            continue
        out += [f"## {target}: {title}", ""]
        table = []
        for row in trows:
            first = True
            for p, st, note in row_entries(row, stats, skipped):
                vals = st.values if st else []
                table_cell = spread(vals)
                ratio = "—" if p is row.duet else ratio_text(duet_over(row, stats, p.pid))
                table.append([row.bench if first else "", f"**{p.impl}**" if p is row.duet else p.impl,
                              p.variant, human(st.n) if st and st.n else "—", len(vals), table_cell,
                              row.metric.unit, ratio, note])
                first = False
        out += [md_table(["bench", "impl", "variant", "N", "runs", "median [min–max]", "unit",
                          "duet/peer", "note"], table), ""]

    cmds = {}  # one line per program, in table order; a shared peer program once
    for row in rows:
        for p, st, _ in row_entries(row, stats, skipped):
            cmds[p.pid] = st.cmd if st else shlex.join(p.argv)
    if cmds:
        out += ["## Commands", "",
                "duet's and `bench/js` from the repository root; the peers from `build/bench-peers` "
                "(a copy of `../shared/bench-peers`).", ""]
        out += [f"- {pid}: `{cmd}`" for pid, cmd in cmds.items()]
        out.append("")
    return "\n".join(out + net_part)


def write_report(rows, records, raw_files, out_dir):
    info = run_info(records)
    stats = collect(records)
    text = markdown(rows, stats, info, raw_files, records)
    print()
    print(text)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "latest.jsonl"), "w") as f:
        for obj in jsonl_objects(rows, stats, info.skipped, info.quick) + net_jsonl(records):
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
    print(f"wrote {os.path.relpath(os.path.join(out_dir, 'latest.md'), REPO)} and latest.jsonl",
          file=sys.stderr)


def load_raw(files):
    records = []
    for fn in files:
        with open(fn) as f:
            for line in f:
                line = line.strip()
                if line:
                    records.append(json.loads(line))
    return records


def rows_with_data(rows, records):
    """For --from-raw: the rows for which the raw files hold at least one run."""
    seen = {r["pid"] for r in records if r.get("kind") == "run"}
    seen |= {pid for r in records if r.get("kind") == "meta" for pid in r.get("skipped", {})}
    return [row for row in rows if any(p.pid in seen for p in row.programs())]


# ---------------------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions (default 5; 1 with --quick)")
    ap.add_argument("--only", default="",
                    help=f"comma-separated families ({','.join(list(FAMILIES) + list(NET_FAMILIES))}) "
                         "or benchmark names; soak runs only when named")
    ap.add_argument("--impls", default="",
                    help="comma-separated implementations: duet,asio,node,tokio,asyncio,uvloop,"
                         "libuv_c,ref_cpp20_uv,js,epoll_c")
    ap.add_argument("--targets", default="", help="native,wasm-node (default both)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: small N, 1 repetition; numbers are not meaningful")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run (default 300)")
    ap.add_argument("--echo-seconds", type=float, default=5.0,
                    help="measured seconds per echo client run (default 5, after 0.5 s warm-up; 1 with --quick)")
    ap.add_argument("--out-dir", default=RESULTS, help="where latest.md/.jsonl and raw_*.jsonl go")
    ap.add_argument("--from-raw", nargs="+", metavar="FILE",
                    help="rebuild the report from raw files; runs nothing")
    a = ap.parse_args()
    split = lambda s: [x for x in s.split(",") if x]
    a.only, a.impls, a.targets = split(a.only), split(a.impls), split(a.targets)
    for t in a.targets:
        if t not in TARGET_TITLES:
            ap.error(f"--targets: unknown {t!r} (native, wasm-node)")
    if a.reps is None:
        a.reps = 1 if a.quick else 5
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    return a


def main():
    args = parse_args()
    rows = all_rows()
    if args.from_raw:
        records = load_raw(args.from_raw)
        rows = select_rows(rows_with_data(rows, records), args.only, args.impls, args.targets)
        if args.impls:
            records = [r for r in records if r.get("kind") not in ("run", "net") or r["impl"] in args.impls]
        if args.only:
            records = [r for r in records if r.get("kind") != "net" or r["family"] in args.only]
        write_report(rows, records, args.from_raw, args.out_dir)
        return
    rows = select_rows(rows, args.only, args.impls, args.targets)
    net = {f: progs for f, progs in select_net(args.only, args.impls, args.targets).items() if progs}
    if not rows and not net:
        sys.exit("nothing selected")
    if args.reps < 5 and not args.quick:
        print(f"note: {args.reps} repetitions; medians of at least 5 are what the method asks for",
              file=sys.stderr)
    os.makedirs(args.out_dir, exist_ok=True)
    raw_path = os.path.join(args.out_dir, time.strftime("raw_%Y%m%d_%H%M%S.jsonl"))
    meta = dict(kind="meta", started=time.strftime("%Y-%m-%d %H:%M:%S %Z"), reps=args.reps,
                quick=args.quick, argv=sys.argv[1:], machine=machine_info())
    records = run_all(rows, net, args, raw_path, meta)
    write_report(rows, records, [os.path.relpath(raw_path, REPO)], args.out_dir)


if __name__ == "__main__":
    main()
