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
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
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
}
FAMILY_OF = {b: fam for fam, benches in FAMILIES.items() for b in benches}
BENCH_ORDER = [b for benches in FAMILIES.values() for b in benches]

# --quick: N per family, small enough for a smoke run of a few seconds per program.
QUICK_N = {"callsoon": 20000, "spawn": 20000, "pingpong": 20000, "timers": 20000,
           "mem": 10000, "jsawait": 20000}

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
              "jsawait": "awaits/s"}
TIMER_METRIC = Metric("cpu_ns_per_timer", "cpu ns/timer", False)
MEM_METRIC = Metric("bytes_per_task", "bytes/task", False)


def metric_of(bench):
    fam = FAMILY_OF[bench]
    if fam == "timers":
        return TIMER_METRIC
    if fam == "mem":
        return MEM_METRIC
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


def duet_wasm(bench):
    js = "build/bench-wasm/bench/duet_bench.js"
    # Emscripten 3.1.6's loader would fetch() the .wasm by path when node has fetch; the
    # flag makes it read the file (as ctest and scripts/examples.sh run wasm programs).
    return program(f"duet-wasm:{bench}", "duet", bench,
                   ["node", "--no-experimental-fetch", js, bench], REPO, [js], runtime="wasm-node")


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
        Row("wasm-node", "callsoon_batch", w("callsoon_batch"), [node("immediate_batch")]),
        Row("wasm-node", "callsoon_chain", w("callsoon_chain"), [
            node("nexttick_chain"), node("immediate_chain")]),
        Row("wasm-node", "spawn", w("spawn"), [node("spawn")]),
        Row("wasm-node", "spawn_yield", w("spawn_yield"), [node("spawn_yield")]),
        Row("wasm-node", "pingpong_future", w("pingpong_future"), [node("pingpong_promise")]),
        Row("wasm-node", "jsawait", w("jsawait"), [plain_js("jsawait")]),
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
    Target("wasm-node", "callsoon_chain", "node:nexttick_chain", ">=", 1.0,
           "wasm callsoon_chain ≥ 1.0× node nexttick_chain"),
    Target("wasm-node", "jsawait", "js:jsawait", ">=", 0.25,
           "wasm jsawait: duet ≤ 4× plain JS await time (rate ≥ 0.25×)"),
]


def select_rows(rows, only, impls, targets):
    """The rows --only and --targets pick that have at least one program --impls wants."""
    benches = set()
    for name in only:
        if name in FAMILIES:
            benches.update(FAMILIES[name])
        elif name in FAMILY_OF:
            benches.add(name)
        else:
            sys.exit(f"--only: unknown family or benchmark {name!r} "
                     f"(families: {', '.join(FAMILIES)}; benchmarks: {', '.join(BENCH_ORDER)})")
    picked = []
    for row in rows:
        if benches and row.bench not in benches:
            continue
        if targets and row.target not in targets:
            continue
        if any(wanted(p, impls) for p in row.programs()):
            picked.append(row)
    known = {p.impl for r in rows for p in r.programs()}
    unknown = set(impls) - known
    if unknown:
        sys.exit(f"--impls: unknown {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
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


def run_all(rows, args, raw_path, meta):
    """Runs every repetition; returns the raw records (also appended to raw_path as they come)."""
    groups = run_groups(rows, args.impls)
    skipped = {}
    for _, progs in groups:
        for p in progs:
            reason = missing_reason(p)
            if reason:
                skipped[p.pid] = reason
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


def markdown(rows, stats, info, raw_files):
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
    return "\n".join(out)


def write_report(rows, records, raw_files, out_dir):
    info = run_info(records)
    stats = collect(records)
    text = markdown(rows, stats, info, raw_files)
    print()
    print(text)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "latest.jsonl"), "w") as f:
        for obj in jsonl_objects(rows, stats, info.skipped, info.quick):
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
                    help=f"comma-separated families ({','.join(FAMILIES)}) or benchmark names")
    ap.add_argument("--impls", default="",
                    help="comma-separated implementations: duet,asio,node,tokio,asyncio,uvloop,"
                         "libuv_c,ref_cpp20_uv,js")
    ap.add_argument("--targets", default="", help="native,wasm-node (default both)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: small N, 1 repetition; numbers are not meaningful")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run (default 300)")
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
            records = [r for r in records if r.get("kind") != "run" or r["impl"] in args.impls]
        write_report(rows, records, args.from_raw, args.out_dir)
        return
    rows = select_rows(rows, args.only, args.impls, args.targets)
    if not rows:
        sys.exit("nothing selected")
    if args.reps < 5 and not args.quick:
        print(f"note: {args.reps} repetitions; medians of at least 5 are what the method asks for",
              file=sys.stderr)
    os.makedirs(args.out_dir, exist_ok=True)
    raw_path = os.path.join(args.out_dir, time.strftime("raw_%Y%m%d_%H%M%S.jsonl"))
    meta = dict(kind="meta", started=time.strftime("%Y-%m-%d %H:%M:%S %Z"), reps=args.reps,
                quick=args.quick, argv=sys.argv[1:], machine=machine_info())
    records = run_all(rows, args, raw_path, meta)
    write_report(rows, records, [os.path.relpath(raw_path, REPO)], args.out_dir)


if __name__ == "__main__":
    main()
