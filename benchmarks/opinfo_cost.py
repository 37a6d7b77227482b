"""Benchmark: the whole `opinfo` suite on torch:cpu through the CLI, timed against its 15-minute budget.

    python benchmarks/opinfo_cost.py [--jobs 2] [--out reports/opinfo-cpu.json] [--ops abs,add]
    python benchmarks/opinfo_cost.py --summary reports/opinfo-cpu.json   # the figures of a finished run only

Runs `opcoverage run --suite opinfo --targets torch:cpu -j N --out OUT` as one process (worker start-up and the
op_db import included) and prints the wall time, the cases, their statuses, the slowest OpInfos and whether the
run fits the budget. On a shared machine the wall time measures the other users too, so it also prints the CPU
time the cases themselves took (``extra.cpu_s``, summed) over N workers: the run's wall time on an idle machine,
less worker start-up. The results file it writes is the committed report's input (see the README).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time

BUDGET_S = 15 * 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="reports/opinfo-cpu.json")
    parser.add_argument("--ops", default="")
    parser.add_argument("--summary", metavar="RESULTS.json", help="print the figures of this results file; run nothing")
    args = parser.parse_args()
    if args.summary:
        summarize(args.summary, args.jobs, None)
        return 0
    command = [sys.executable, "-m", "opcoverage", "run", "--suite", "opinfo", "--targets", "torch:cpu",
               "-j", str(args.jobs), "--out", args.out] + (["--ops", args.ops] if args.ops else [])
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(f"opcoverage run exited with {done.returncode}: {done.stdout[-500:]}")
        return done.returncode
    summarize(args.out, args.jobs, wall)
    return 0


def summarize(path: str, jobs: int, wall: float | None) -> None:
    with open(path, encoding="utf-8") as f:
        results = json.load(f)["results"]
    statuses = collections.Counter(r["status"] for r in results)
    by_op = collections.Counter()
    for r in results:
        by_op[r["op"]] += r.get("duration_s") or 0.0
    cpu = sum((r.get("extra") or {}).get("cpu_s") or 0.0 for r in results)
    timed = f"in {wall:.1f} s wall ({'within' if wall <= BUDGET_S else 'OVER'} the {BUDGET_S // 60}-minute budget)" \
        if wall is not None else "(wall time not measured here)"
    print(f"cores: {os.cpu_count()}, load average now: {os.getloadavg()[0]:.1f}; workers: {jobs}; {len(results)} cases "
          f"of {len({r['op'] for r in results})} OpInfos {timed}")
    print(f"CPU time of the cases: {cpu:.1f} s, {cpu / jobs:.1f} s per worker "
          f"({'within' if cpu / jobs <= BUDGET_S else 'OVER'} the budget on an idle machine, worker start-up aside)")
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in statuses.most_common()))
    print("case time summed over workers: %.1f s; slowest OpInfos: %s" % (
        sum(by_op.values()), ", ".join(f"{op} {s:.1f} s" for op, s in by_op.most_common(8))))


if __name__ == "__main__":
    sys.exit(main())
