"""Benchmark: wall time of `opcoverage run -j 1` against `-j N` on the same cases, printed as a ratio.

    python benchmarks/parallel_speedup.py --targets torch:cpu,jax:cpu,onnxruntime:cpu [--jobs 2] [--ops a,b] [--repeat 3]

Both runs go through the real CLI (worker start-up included) and must give identical verdicts. With --repeat,
the two alternate and each ratio is printed, then the median (a shared VM's speed drifts from minute to minute).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(args: list[str], jobs: int, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "opcoverage", "run", *args, "-j", str(jobs), "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def verdicts(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text())
    return {f"{r['op']}-{r['target']}-{r['dtype']}-{r['sample']}": r["status"] for r in data["results"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="torch:cpu,jax:cpu,onnxruntime:cpu")
    parser.add_argument("--ops", default="")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    run_args = ["--targets", args.targets] + (["--ops", args.ops] if args.ops else [])
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp) / "j1.json", Path(tmp) / f"j{args.jobs}.json"
        for _ in range(args.repeat):
            t1 = timed_run(run_args, 1, one)
            tn = timed_run(run_args, args.jobs, many)
            same = verdicts(one) == verdicts(many)
            ratios.append(t1 / tn)
            print(f"cases: {len(verdicts(one))} on {args.targets} ({os.cpu_count()} cores)   -j 1: {t1:.1f} s   "
                  f"-j {args.jobs}: {tn:.1f} s   speed-up: {t1 / tn:.2f}x   identical verdicts: {same}", flush=True)
    if args.repeat > 1:
        print(f"median speed-up over {args.repeat} pairs: {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
