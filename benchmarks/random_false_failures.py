"""False-failure rate of the random-op oracle: every random op, in every dtype, on each target, at many seeds.

A correct generator should fail the goodness-of-fit test at significance compare.DRAWS_ALPHA (1e-6) about once in a
million cases; this counts how often it does, and lists the cases.

    python benchmarks/random_false_failures.py --targets torch:cpu,jax:cpu,onnxruntime:cpu --seeds 20
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="torch:cpu,jax:cpu,onnxruntime:cpu")
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()

    from opcoverage.backends import get_backend, resolve_targets
    from opcoverage.catalog.loader import load_catalog
    from opcoverage.execute.runner import plan_cases, run_case

    targets = resolve_targets(args.targets.split(","))
    catalog = load_catalog(frameworks=tuple({get_backend(t.framework).binding for t in targets}))
    ops = [spec.name for spec in catalog if spec.category == "random" and spec.source.endswith("random.toml")]
    cases = plan_cases(catalog, targets, ops)
    tally: Counter = Counter()
    failing = []
    for seed in range(args.seeds):
        for case in cases:
            result = run_case(catalog, case, seed)
            tally[(result.target, result.status.value)] += 1
            if result.status.value == "mismatch":
                failing.append((seed, result.id, result.message[:120]))
    for (target, status), n in sorted(tally.items()):
        print(f"{target:18s} {status:12s} {n}")
    print(f"{len(failing)} mismatches in {len(cases) * args.seeds} cases ({args.seeds} seeds):")
    for seed, case, message in failing:
        print(f"  seed {seed}: {case}: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
