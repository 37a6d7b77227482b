"""Benchmark: how long the vendor targets take per case, with a cold and a warm compile cache, and the whole catalog.

    python benchmarks/vendor_speed.py [--targets openvino:cpu,iree:llvm-cpu,...] [--ops add,relu,...] [--dtypes float32]
                                      [--jobs N] [--python onnxruntime:openvino=/path/to/venv/bin/python]

For each target, runs `opcoverage run` through the CLI (worker start-up included) twice on the same selection: first
with an empty OPCOV_CACHE_DIR (every program is built: the first run of a fresh clone), then again with that cache
(a later run: compile-per-case stacks load their .vmfb / .pte instead of building it). Prints the wall time, the
cases that ran (not skipped), the seconds per case, and the whole catalog's time extrapolated from the seconds per
case and the number of its cases that run on the target. A target whose packages conflict with the others'
(onnxruntime:openvino) is run by the interpreter given with --python.

Wall-clock figures depend on the machine and on what else runs on it: say so when you quote them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_TARGETS = "openvino:cpu,iree:llvm-cpu,executorch:xnnpack,executorch:portable"
DEFAULT_OPS = "add,mul,matmul,relu,softmax,sum,exp,tanh,linalg_det,erf"


def run(python: str, target: str, ops: str, dtypes: str, jobs: int | None, cache: Path, out: Path) -> tuple[float, dict]:
    argv = [python, "-m", "opcoverage", "run", "--targets", target, "--out", str(out)]
    argv += ["--ops", ops] if ops else []
    argv += ["--dtypes", dtypes] if dtypes else []
    argv += ["--jobs", str(jobs)] if jobs else []
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=DEFAULT_TARGETS)
    parser.add_argument("--ops", default=DEFAULT_OPS, help="ops to time ('' for the whole catalog)")
    parser.add_argument("--dtypes", default="")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--python", action="append", default=[], metavar="TARGET=PYTHON",
                        help="the interpreter that runs a target (its own environment)")
    args = parser.parse_args()
    pythons = dict(item.split("=", 1) for item in args.python)
    rows = []
    for target in args.targets.split(","):
        python = pythons.get(target, sys.executable)
        with tempfile.TemporaryDirectory(prefix="opcov-bench-") as tmp:
            cache, out = Path(tmp) / "cache", Path(tmp) / "r.json"
            cold, results = run(python, target, args.ops, args.dtypes, args.jobs, cache, out)
            warm, _ = run(python, target, args.ops, args.dtypes, args.jobs, cache, out)
        ran = sum(1 for r in results["results"] if r["status"] != "skipped")
        total = catalog_cases(python, target)
        per_cold, per_warm = cold / max(ran, 1), warm / max(ran, 1)
        rows.append((target, ran, cold, warm, per_cold, per_warm, total, per_cold * total / 60, per_warm * total / 60))
    header = ("target", "cases", "cold s", "warm s", "s/case cold", "s/case warm", "catalog cases",
              "catalog min cold", "catalog min warm")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))


if __name__ == "__main__":
    main()
