"""The `weboslb bench` command line: argument parsing and the text / JSON reports."""
from __future__ import annotations

import argparse
import json
import sys

from weboslb.bench import adversarial, fastpath, lookup, mirror, replay
from weboslb.table import KeyKind

DEFAULT_SIZES = [1_000, 100_000, 1_000_000, 10_000_000]
QUICK_SIZES = [1_000, 100_000]
DEFAULT_KINDS = ["ipv4", "sslid", "cookie"]
BENCH_KINDS = ["ipv4", "ipv6", "sslid", "cookie"]
SUFFIXES = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}
MAX_ENTRIES = 20_000_000  # the Python baselines need ~0.5 KB an entry: stay within RAM

# (key, ops/s, ratio to dict, bytes per entry) expected at 1M entries: issue 2 / performance.md
TARGETS = {"ipv4": (60e6, 50.0, 40.0), "sslid": (25e6, 20.0, 112.0)}


def entries_arg(text: str) -> int:
    """'1000', '100K', '1M', '1_000_000'."""
    t = text.strip().upper().replace("_", "")
    mult = SUFFIXES.get(t[-1:], 1)
    digits = t[:-1] if t[-1:] in SUFFIXES else t
    try:
        value = int(float(digits) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of entries: {text!r}") from None
    if not 1 <= value <= MAX_ENTRIES:
        raise argparse.ArgumentTypeError(f"entries {text} out of range 1..{MAX_ENTRIES:,}")
    return value


def power_of_two_arg(text: str) -> int:
    """'4096', '4K' (= 4096), '64K': a power of two, K and M binary."""
    t = text.strip().upper().replace("_", "")
    mult = {"K": 1 << 10, "M": 1 << 20}.get(t[-1:], 1)
    try:
        value = int(t[:-1] if mult > 1 else t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of entries: {text!r}") from None
    if value < 2 or value & (value - 1):
        raise argparse.ArgumentTypeError(f"entries {text}: not a power of two of at least 2")
    return value


def add_parser(sub) -> None:
    bench = sub.add_parser("bench", help="measure persistence-table throughput and memory",
                           description="Benchmarks, run side by side with their baselines.")
    bench.set_defaults(run=run_lookup, entries=None, key=None, json=False, quick=False,
                       batch=4096, repeat=3, queries=None, hash="auto")
    bench.add_argument("--quick", action="store_true", help="a few-second lookup run")
    subs = bench.add_subparsers(dest="bench_command", metavar="BENCH")
    p = subs.add_parser("lookup", help="lookup and insert throughput, C vs Python vs dict",
                        description=lookup.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=entries_arg, nargs="+", metavar="N",
                   help="table sizes (default 1K 100K 1M 10M; --quick: 1K 100K)")
    p.add_argument("--key", choices=BENCH_KINDS, nargs="+",
                   help="key kinds (default ipv4 sslid cookie; --quick: ipv4)")
    p.add_argument("--json", action="store_true", help="print one JSON list of records")
    p.add_argument("--quick", action="store_true", help="small sizes and fewer queries")
    p.add_argument("--batch", type=int, default=4096, help="keys per C call (default 4096)")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure; median (default 3)")
    p.add_argument("--hash", choices=["auto", "siphash", "aes"], default="auto",
                   help="the C table's keyed hash (default auto: AES-NI if the CPU has it)")
    p.add_argument("--queries", type=entries_arg,
                   help="lookups per run (default 1M; --quick: 64K)")
    p.set_defaults(run=run_lookup)
    f = subs.add_parser("fastpath", help="the switch's C fast path over batches of frames, "
                        "beside a Python struct-parsing loop", description=fastpath.run.__doc__)
    f.add_argument("--frames", type=entries_arg, default=1_000_000, metavar="N",
                   help="frames in the run (default 1M)")
    f.add_argument("--connections", type=entries_arg, nargs="+", default=[10_000, 100_000],
                   metavar="N", help="established connections the frames belong to "
                   "(default 10K 100K)")
    f.add_argument("--batch", type=int, default=4096, help="frames per C call (default 4096)")
    f.add_argument("--repeat", type=int, default=5, help="runs per figure; median (default 5)")
    f.add_argument("--json", action="store_true", help="print one JSON list of records")
    f.set_defaults(run=run_fastpath)
    r = subs.add_parser("replay", help="end-to-end replay of a generated 1M-packet capture, "
                        "beside a Python struct-parsing loop", description=replay.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--packets", type=entries_arg, default=1_000_000, metavar="N",
                   help="packets in the generated capture (default 1M; cached)")
    r.add_argument("--repeat", type=int, default=3, help="runs per figure; median (default 3)")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(run=run_replay)
    m = subs.add_parser("mirror", help="stateful failover between two processes over loopback: "
                        "bulk sync entries/s and immediate-mode lag, beside the per-entry "
                        "Python path", description=mirror.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--entries", type=entries_arg, default=1_000_000, metavar="N",
                   help="bindings the active holds and bulk-copies (default 1M)")
    m.add_argument("--baseline-entries", type=entries_arg, default=100_000, metavar="N",
                   help="bindings the per-entry baseline copies (default 100K)")
    m.add_argument("--repeat", type=int, default=3, help="bulk copies and baselines; median "
                   "(default 3)")
    m.add_argument("--rate", type=entries_arg, default=100_000, metavar="N",
                   help="bindings written a second in the immediate-mode run (default 100K)")
    m.add_argument("--seconds", type=float, default=2.0,
                   help="length of the immediate-mode run (default 2)")
    m.add_argument("--batch", type=int, default=8192,
                   help="records per RECORDS message, at most 65536 (default 8192)")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(run=run_mirror)
    a = subs.add_parser("adversarial", help="keys crafted to collide under an unkeyed hash "
                        "beside random keys: the keyed table's slowdown (target <= 2x)",
                        description=adversarial.__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--entries", type=power_of_two_arg, default=adversarial.MAX_ENTRIES,
                   metavar="N", help="keys in each table, a power of two: 1024, 4K (4096) ... "
                   "64K, the default and most")
    a.add_argument("--key", choices=adversarial.KINDS, nargs="+",
                   default=list(adversarial.KINDS), help="key kinds (default: all three)")
    a.add_argument("--queries", type=entries_arg, default=1 << 20,
                   help="lookups per run (default 1M)")
    a.add_argument("--batch", type=int, default=4096, help="keys per C call (default 4096)")
    a.add_argument("--repeat", type=int, default=7, help="runs per figure, crafted and random "
                   "in turns; the best (default 7)")
    a.add_argument("--hash", choices=["auto", "siphash", "aes"], default="auto",
                   help="the C table's keyed hash (default auto: AES-NI if the CPU has it)")
    a.add_argument("--json", action="store_true", help="print one JSON list of records")
    a.set_defaults(run=run_adversarial)


def run_lookup(args) -> int:
    from weboslb.main import UsageError

    if args.batch < 1 or args.repeat < 1:
        raise UsageError("--batch and --repeat must be at least 1")
    sizes = args.entries or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    kinds = [KeyKind.parse(k) for k in (args.key or (["ipv4"] if args.quick else DEFAULT_KINDS))]
    queries = args.queries or (1 << 16 if args.quick else 1 << 20)
    show = sys.stderr.isatty() and not args.quick

    def progress(msg: str) -> None:
        if show:
            print(f"\r\033[Kbench: {msg}", end="", file=sys.stderr, flush=True)

    if args.hash == "aes" and not aes_available():
        raise UsageError("--hash aes needs a CPU with AES-NI and an x86-64 build")
    hash_fn = args.hash if args.hash != "auto" else ("aes" if aes_available() else "siphash")
    records = lookup.run(kinds, sizes, queries=queries, batch=args.batch, repeat=args.repeat,
                         hash_fn=hash_fn, progress=progress)
    if show:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps([r.as_json() for r in records], indent=1))
    else:
        print(render(records, batch=args.batch, queries=queries, repeat=args.repeat,
                     hash_fn=hash_fn))
    return 0


def run_fastpath(args) -> int:
    records = []
    for m in args.connections:
        records += fastpath.run(args.frames, m, batch=args.batch, repeat=args.repeat)
    if args.json:
        print(json.dumps([r.as_json() for r in records], indent=1))
        return 0
    print(f"{'path':8} {'frames':>9} {'conns':>8} {'frames/s':>10} {'ns':>7} {'x python':>9}")
    for r in records:
        ratio = f"{r.ratio_vs_python:.1f}x" if r.ratio_vs_python else "1.0x"
        print(f"{r.path:8} {r.frames:>9,} {r.connections:>8,} {_si(r.frames_per_s):>10} "
              f"{r.ns_per_frame:>7.1f} {ratio:>9}")
    return 0


def run_replay(args) -> int:
    from weboslb.main import UsageError

    if args.repeat < 1 or args.packets < 1:
        raise UsageError("--packets and --repeat must be at least 1")
    r = replay.run(args.packets, repeat=args.repeat)
    if args.json:
        print(json.dumps(r.as_json(), indent=1))
        return 0
    print(f"capture   {r.capture}: {r.packets:,} packets, {r.connections:,} connections, "
          f"{r.fast_share:.0%} of frames on the C fast path")
    print(f"replay    {_si(r.pps):>8} packets/s  (persistence table: {r.table_entries:,} "
          f"entries)")
    print(f"baseline  {_si(r.baseline_pps):>8} packets/s  (Python struct parse only)")
    print(f"ratio     {r.ratio:>8.2f}x  (target: 4x, >= 4 M packets/s)")
    return 0


def run_mirror(args) -> int:
    from weboslb.main import UsageError

    if args.repeat < 1 or not 1 <= args.batch <= 1 << 16:
        raise UsageError("--repeat must be at least 1 and --batch within 1..65536")
    if not 0 < args.seconds <= 600 or args.rate * args.seconds < 1:
        raise UsageError("--seconds must be within 0..600 and write at least one binding")
    show = sys.stderr.isatty() and not args.json

    def progress(msg: str) -> None:
        if show:
            print(f"\r\033[Kbench mirror: {msg}", end="", file=sys.stderr, flush=True)

    try:
        r = mirror.run(args.entries, baseline_entries=args.baseline_entries,
                       repeat=args.repeat, rate=args.rate, seconds=args.seconds,
                       batch=args.batch, progress=progress)
    except mirror.BenchError as e:
        print(f"weboslb bench mirror: {e}", file=sys.stderr)
        return 1
    finally:
        if show:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(r.as_json(), indent=1))
        return 0
    print(f"bulk sync  {_si(r.bulk_eps):>8} entries/s  ({r.bulk_entries:,} persistent "
          f"entries, A -> B over loopback TCP, median of {r.repeat}; target: >= 1 M/s)")
    print(f"baseline   {_si(r.baseline_eps):>8} entries/s  ({r.baseline_entries:,} entries, "
          f"per-entry Python path)")
    print(f"ratio      {r.ratio:>8.1f}x")
    print(f"lag        p50 {r.lag_p50_ms:.2f} ms, p99 {r.lag_p99_ms:.2f} ms, max "
          f"{r.lag_max_ms:.2f} ms  ({r.lag_updates:,} bindings at {r.lag_rate:,}/s, "
          f"immediate mode; target: p99 <= 5 ms)")
    return 0


def run_adversarial(args) -> int:
    from weboslb.main import UsageError

    if args.entries > adversarial.MAX_ENTRIES:
        raise UsageError(f"--entries {args.entries:,}: at most {adversarial.MAX_ENTRIES:,}")
    if args.batch < 1 or args.repeat < 1:
        raise UsageError("--batch and --repeat must be at least 1")
    if args.hash == "aes" and not aes_available():
        raise UsageError("--hash aes needs a CPU with AES-NI and an x86-64 build")
    hash_fn = args.hash if args.hash != "auto" else ("aes" if aes_available() else "siphash")
    show = sys.stderr.isatty() and not args.json

    def progress(msg: str) -> None:
        if show:
            print(f"\r\033[Kbench adversarial: {msg}", end="", file=sys.stderr, flush=True)

    records = adversarial.run(args.key, args.entries, queries=args.queries, batch=args.batch,
                              repeat=args.repeat, hash_fn=hash_fn, progress=progress)
    if show:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps([r.as_json() for r in records], indent=1))
    else:
        print(render_adversarial(records, queries=args.queries, repeat=args.repeat,
                                 hash_fn=hash_fn))
    return 0


def render_adversarial(records: list[adversarial.Record], *, queries: int, repeat: int,
                       hash_fn: str) -> str:
    lines = [f"weboslb bench adversarial: crafted vs random keys, C table hash {hash_fn} "
             f"(random seed), {queries:,} lookups, best of {repeat} in turns",
             f"{'key':<7}{'entries':>9}  {'op':<7}{'random ns':>10}{'crafted ns':>11}"
             f"{'slowdown':>9}  {'probes random/crafted':>21}{'max':>5}  {'naive probes':>12}"
             f"  crafted against"]
    for r in records:
        probes = f"{r.probe_mean_random:.2f}/{r.probe_mean_crafted:.2f}"
        lines.append(f"{r.key:<7}{r.entries:>9,}  {r.op:<7}{r.random_ns:>10.1f}"
                     f"{r.crafted_ns:>11.1f}{r.slowdown:>8.2f}x  {probes:>21}"
                     f"{r.probe_max_crafted:>5}  {r.naive_probe_mean:>12,.1f}  "
                     f"{r.crafted_against}")
    lines.append("(probes: mean probes a hit takes in the keyed table, 1 = its home slot; max: "
                 "the crafted keys' longest distance from home; naive: the mean under the "
                 "unkeyed hash, same index size)")
    worst = max(records, key=lambda r: r.slowdown)
    lines += ["", f"Target (issue 8): crafted keys at most {adversarial.TARGET:.0f}x slower "
                  f"than random ones with the keyed hash: worst {worst.slowdown:.2f}x "
                  f"({worst.key} {worst.op})  {'met' if worst.met else 'NOT met'}"]
    return "\n".join(lines)


def _si(x: float) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if x >= div:
            return f"{x / div:.2f} {unit}"
    return f"{x:.0f}"


def aes_available() -> bool:
    from weboslb._native import lib

    return bool(lib.pst_aes_available())


def render(records: list[lookup.Record], *, batch: int, queries: int, repeat: int,
           hash_fn: str) -> str:
    lines = [f"weboslb bench lookup: batches of {batch}, {queries:,} random-hit lookups, "
             f"median of {repeat}, C table hash {hash_fn}",
             f"{'key':<7}{'entries':>11}  {'table':<10}{'op':<7}{'ops/s':>10}{'ns/op':>9}"
             f"{'x dict':>8}{'B/entry':>9}"]
    for r in records:
        ratio = f"{r.ratio_vs_dict:.1f}" if r.ratio_vs_dict is not None else "-"
        mem = f"{r.bytes_per_entry:.1f}" if r.bytes_per_entry is not None else "-"
        lines.append(f"{r.key:<7}{r.entries:>11,}  {r.table:<10}{r.op:<7}{_si(r.ops_per_s):>10}"
                     f"{r.ns_per_op:>9.1f}{ratio:>8}{mem:>9}")
    checks = target_lines(records)
    if checks:
        lines += ["", "Targets at 1M entries (issue 2): batched lookups and memory"] + checks
    return "\n".join(lines)


def target_lines(records: list[lookup.Record]) -> list[str]:
    out = []
    for r in records:
        if r.table != "c-batch" or r.op != "lookup" or r.entries != 1_000_000:
            continue
        if r.key not in TARGETS:
            continue
        rate, ratio, mem = TARGETS[r.key]
        got_ratio = r.ratio_vs_dict or 0.0
        got_mem = r.bytes_per_entry if r.bytes_per_entry is not None else float("nan")
        ok = r.ops_per_s >= rate and got_ratio >= ratio and got_mem <= mem
        out.append(f"  {r.key:<7}{_si(r.ops_per_s)}/s (>= {_si(rate)}/s), {got_ratio:.1f}x dict "
                   f"(>= {ratio:.0f}x), {got_mem:.1f} B/entry (<= {mem:.0f})  "
                   f"{'met' if ok else 'NOT met'}")
    return out
