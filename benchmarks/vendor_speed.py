"""Benchmark: how long the vendor targets take per case: every case built alone, cases built in groups (the
default), and grouped again on the warm compile cache; the ratio alone / grouped; the whole catalog extrapolated.

    python benchmarks/vendor_speed.py [--targets openvino:cpu,iree:llvm-cpu,...] [--ops add,relu,...] [--dtypes ...]
                                      [--jobs N] [--repeat N] [--python onnxruntime:openvino=/path/to/venv/bin/python]

Each target's selection runs through the CLI (worker start-up included): with ``--group-size 1`` (each case its own
program: ONNX model, .vmfb, .pte) and with the backend's own group size (opcoverage.execute.groups), each with an
empty OPCOV_CACHE_DIR (a fresh clone's first run), the two interleaved and their order alternated over
``--repeat`` rounds, since the machine is a shared VM; then grouped once more on the grouped run's cache (a later
run, which loads the built programs). The medians are printed, with the cases that ran (not skipped), seconds per
case and the whole catalog's minutes extrapolated from the grouped seconds per case. A target whose packages
conflict with the others' (onnxruntime:openvino) is run by the interpreter given with --python.

Wall-clock figures depend on the machine and on what else runs on it: say so when you quote them.
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

DEFAULT_TARGETS = "openvino:cpu,iree:llvm-cpu,executorch:xnnpack,executorch:portable"
DEFAULT_OPS = "add,mul,matmul,relu,softmax,sum,exp,tanh,linalg_det,erf"


def run(python: str, target: str, args: argparse.Namespace, cache: Path, out: Path, alone: bool) -> tuple[float, dict]:
    argv = [python, "-m", "opcoverage", "run", "--targets", target, "--out", str(out)]
    argv += ["--ops", args.ops] if args.ops else []
    argv += ["--dtypes", args.dtypes] if args.dtypes else []
    argv += ["--jobs", str(args.jobs)] if args.jobs else []
    argv += ["--group-size", "1"] if alone else []
    env = {**os.environ, "OPCOV_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, json.loads(out.read_text())


def catalog_cases(python: str, target: str) -> int:
    """How many cases of the whole catalog run on the target (its binding exists and defines the dtype)."""
    code = (
        "from opcoverage.backends import get_backend\n"
        "from opcoverage.catalog.loader import load_catalog\n"
        "from opcoverage.execute.runner import plan_cases\n"
        "from opcoverage.types import Target\n"
        f"t = Target.parse({target!r}); b = get_backend(t.framework).binding; c = load_catalog()\n"
        "print(sum(1 for x in plan_cases(c, [t]) if b in c[x.op].bindings and not c[x.op].excluded(b, x.dtype)))\n"
    )
    return int(subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout.split()[-1])


def verdicts(results: dict) -> dict[str, str]:
    return {f"{r['op']}-{r['dtype']}-{r['sample']}": r["status"] for r in results["results"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=DEFAULT_TARGETS)
    parser.add_argument("--ops", default=DEFAULT_OPS, help="ops to time ('' for the whole catalog)")
    parser.add_argument("--dtypes", default="")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the alone and grouped cold runs")
    parser.add_argument("--python", action="append", default=[], metavar="TARGET=PYTHON",
                        help="the interpreter that runs a target (its own environment)")
    args = parser.parse_args()
    pythons = dict(item.split("=", 1) for item in args.python)
    rows = []
    for target in args.targets.split(","):
        python = pythons.get(target, sys.executable)
        times: dict[bool, list[float]] = {True: [], False: []}
        with tempfile.TemporaryDirectory(prefix="opcov-bench-") as tmp:
            for round_ in range(args.repeat):
                for alone in ((True, False) if round_ % 2 == 0 else (False, True)):
                    cache = Path(tmp) / f"cache-{round_}-{alone}"
                    seconds, results = run(python, target, args, cache, Path(tmp) / f"r-{alone}.json", alone)
                    times[alone].append(seconds)
            same = verdicts(json.loads((Path(tmp) / "r-True.json").read_text())) == verdicts(results)
            warm, _ = run(python, target, args, Path(tmp) / f"cache-{args.repeat - 1}-False", Path(tmp) / "w.json",
                          False)
        ran = sum(1 for r in results["results"] if r["status"] != "skipped")
        alone_s, grouped_s = statistics.median(times[True]), statistics.median(times[False])
        total = catalog_cases(python, target)
        per_case = grouped_s / max(ran, 1)
        rows.append((target, ran, alone_s, grouped_s, alone_s / grouped_s, warm, per_case, "yes" if same else "NO",
                     total, per_case * total / 60, warm / max(ran, 1) * total / 60))
    header = ("target", "cases", "alone s", "grouped s", "alone/grouped", "warm s", "s/case grouped",
              "same verdicts", "catalog cases", "catalog min cold", "catalog min warm")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))


if __name__ == "__main__":
    main()
