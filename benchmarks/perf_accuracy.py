"""Benchmark: opcoverage's timing against torch.utils.benchmark on the same statement, shape and dtype.

    python benchmarks/perf_accuracy.py [--ops add,relu] [--dtype float32] [--rounds 5] [--budget 0.5] [--threads N]

For each op, at the op's first catalog sample (tiny: dispatch-bound) and at that sample scaled until its inputs
and outputs are four times the last-level cache (beyond cache: memory-bound), both tools time the same torch call
on the same tensors: opcoverage through the torch backend's ``prepare`` and ``opcoverage.perf.timing.measure``,
torch.utils.benchmark through ``Timer(stmt).blocked_autorange``, each given the same time. The two alternate for
``--rounds`` rounds so that a change in the machine's load hits both; each tool's figure is the median of its
per-round medians. Printed: both medians, the ratio opcoverage / torch.utils.benchmark, and what each tool spent
measuring (wall time, warm-up and block sizing included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _shapes(sample) -> str:
    return " & ".join("x".join(map(str, a.shape)) for a in sample.args)


def _beyond_cache(sample, spec, backend, llc: int):
    """The sample scaled (as the perf pass scales it) until inputs plus outputs reach 4x the LLC."""
    from opcoverage.perf import shapes

    prepared = backend.prepare(spec, sample, "cpu")
    footprint = sum(a.nbytes for a in sample.args) + sum(o.nbytes for o in prepared.outputs)
    factor = shapes.grid_ceil((4 * llc / footprint) ** 0.5)  # 2-D samples: bytes grow as factor**2
    return shapes.scale_sample(sample, factor, "uniform")


def _timer_statement(fn, tensors, kwargs):
    names = [f"x{i}" for i in range(len(tensors))]
    arguments = names + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"fn({', '.join(arguments)})", {"fn": fn, **dict(zip(names, tensors))}


def compare(op: str, dtype: str, size: str, sample, spec, backend, budget: float, rounds: int) -> dict:
    import torch
    from torch.utils.benchmark import Timer

    from opcoverage.backends.torch import to_torch
    from opcoverage.perf.timing import measure

    binding = spec.bindings["torch"]
    prepared = backend.prepare(spec, sample, "cpu")
    stmt, globals_ = _timer_statement(binding.resolve(), [to_torch(a, "cpu") for a in sample.args],
                                      binding.rename(sample.kwargs))
    timer = Timer(stmt, globals=globals_, num_threads=torch.get_num_threads())
    ours, theirs, our_cost, their_cost, our_iqr, their_iqr = [], [], [], [], [], []
    for _ in range(rounds):
        timing = measure(prepared.call, budget)
        ours.append(timing.median_s)
        our_iqr.append(timing.iqr_s / timing.median_s)
        our_cost.append(timing.spent_s)
        start = time.perf_counter()
        result = timer.blocked_autorange(min_run_time=budget)
        their_cost.append(time.perf_counter() - start)
        theirs.append(result.median)
        their_iqr.append(result.iqr / result.median)
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    return {"op": op, "dtype": dtype, "size": size, "shape": _shapes(sample), "opcoverage": ours_median,
            "torch.utils.benchmark": theirs_median, "ratio": ours_median / theirs_median,
            "round ratios": [o / t for o, t in zip(ours, theirs)],
            "iqr": (statistics.median(our_iqr), statistics.median(their_iqr)),
            "cost": (statistics.median(our_cost), statistics.median(their_cost))}


def _time(seconds: float) -> str:
    from opcoverage.report.perf import seconds as fmt

    return fmt(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", default="add,relu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.5, help="seconds each tool gets per round")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's own)")
    args = parser.parse_args()
    import torch

    from opcoverage.backends import get_backend
    from opcoverage.catalog.loader import load_catalog
    from opcoverage.catalog.samples import generate
    from opcoverage.perf import llc_bytes

    if args.threads:
        torch.set_num_threads(args.threads)
    catalog, backend = load_catalog(), get_backend("torch")
    rows = []
    for op in args.ops.split(","):
        spec = catalog[op]
        tiny = generate(spec, args.dtype, 0)[0]
        for size, sample in (("tiny", tiny), ("beyond cache", _beyond_cache(tiny, spec, backend, llc_bytes()))):
            rows.append(compare(op, args.dtype, size, sample, spec, backend, args.budget, args.rounds))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, LLC {llc_bytes() / 2**20:g} MiB, "
          f"{os.cpu_count()} cores, load average {load:.1f}; {args.rounds} alternating rounds of {args.budget:g} s "
          "each")
    header = (f"{'op':<6} {'size':<13} {'shape':<24} {'opcoverage':>11} {'IQR':>5} {'t.u.benchmark':>13} {'IQR':>5} "
              f"{'ratio':>6}  {'round ratios':<34} {'cost: ours':>10} {'theirs':>8}")
    print(header)
    for r in rows:
        rounds = " ".join(f"{x:.2f}" for x in r["round ratios"])
        print(f"{r['op']:<6} {r['size']:<13} {r['shape']:<24} {_time(r['opcoverage']):>11} {r['iqr'][0]:>5.0%} "
              f"{_time(r['torch.utils.benchmark']):>13} {r['iqr'][1]:>5.0%} {r['ratio']:>6.3f}  {rounds:<34} "
              f"{_time(r['cost'][0]):>10} {_time(r['cost'][1]):>8}")
    inside = sum(0.9 <= r["ratio"] <= 1.1 for r in rows)
    print(f"{inside}/{len(rows)} ratios within 0.9x-1.1x")


if __name__ == "__main__":
    main()
