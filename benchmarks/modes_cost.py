"""Cost of each mode against forward, per case, measured interleaved in one process, and the whole-catalog time
it implies: what `--modes` costs a CI job before it runs.

For a fixed set of ops (one sample each, float32), every round runs each case once in every mode on its target,
in turn (forward, then each other mode), so a noisy machine slows all modes alike. The first round is cold (a new
cache folder: what a first CI run pays per case, after each worker's one-time start); later rounds hit the caches
kept in OPCOV_CACHE_DIR and in memory (what a rerun pays). Prints per target and mode the median seconds per case,
cold and warm, the cold ratio to forward, and the catalog's planned case count times the cold median over the
workers: an estimate of the whole-catalog wall time of that mode.

    python benchmarks/modes_cost.py [--targets torch:cpu,jax:cpu] [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

OPS = ("sin", "exp", "add", "mul", "matmul", "relu", "softmax", "sum", "layer_norm", "where", "cumsum", "tanh")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="torch:cpu,jax:cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="workers of the whole-catalog estimate")
    args = parser.parse_args()
    os.environ["OPCOV_CACHE_DIR"] = tempfile.mkdtemp(prefix="opcov-modes-cost-")  # a cold inductor cache
    os.environ["OPCOV_THREADS"] = "1"

    from opcoverage.backends import get_backend
    from opcoverage.catalog.loader import load_catalog
    from opcoverage.execute.runner import plan_cases, run_case
    from opcoverage.modes import backend_modes, parse_modes
    from opcoverage.types import Target

    catalog = load_catalog()
    targets = [Target.parse(t) for t in args.targets.split(",")]
    rows = []
    for target in targets:
        modes = parse_modes(",".join(backend_modes(get_backend(target.framework))))
        binding = getattr(get_backend(target.framework), "binding", target.framework)
        planned = [c for c in plan_cases(catalog, [target], modes=modes)  # the cases that run: bound, not excluded
                   if binding in catalog[c.op].bindings and not catalog[c.op].excluded(binding, c.dtype)]
        counts = {str(m): sum(str(c.mode) == str(m) for c in planned) for m in modes}
        cases = {str(m): [c for c in plan_cases(catalog, [target], ops=list(OPS), dtypes=["float32"], modes=[m])
                          if c.sample == "s0"] for m in modes}
        for mode_cases in cases.values():  # warm-up: imports, the first compile of each worker
            run_case(catalog, mode_cases[0])
        cold: dict[str, list[float]] = {m: [] for m in cases}
        warm: dict[str, list[float]] = {m: [] for m in cases}
        for round_index in range(args.rounds):
            for index in range(len(OPS)):
                for mode, mode_cases in cases.items():
                    if index < len(mode_cases):
                        start = time.perf_counter()
                        run_case(catalog, mode_cases[index])
                        (warm if round_index else cold)[mode].append(time.perf_counter() - start)
        forward = statistics.median(cold["forward"])
        for mode in cases:
            median = statistics.median(cold[mode])
            again = statistics.median(warm[mode]) if warm[mode] else float("nan")
            estimate = counts[mode] * median / args.workers
            rows.append((str(target), mode, len(cold[mode]), median, again, median / forward, counts[mode],
                         estimate / 60))
    print(f"{'target':<12} {'mode':<9} {'ops':>4} {'cold s':>8} {'warm s':>8} {'x fwd':>7} {'catalog cases':>14} "
          f"{'est. min':>9}  (cold, whole catalog on {args.workers} workers)")
    for target, mode, runs, median, again, ratio, count, minutes in rows:
        print(f"{target:<12} {mode:<9} {runs:>4} {median:>8.3f} {again:>8.3f} {ratio:>7.1f} {count:>14} "
              f"{minutes:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
