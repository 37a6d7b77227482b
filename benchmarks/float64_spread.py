"""Measured spread of float64 results against the float64 references: where the default float64 tolerance comes from.

For every float64 case of the catalog on the given targets, the relative error each output element needs to pass
at a fixed absolute floor (``--atol``): max over elements of (|got - want| - atol) / |want|. A float32 computation
needs about 6e-8; float64 kernels need about 1e-15 unless their algorithm differs from the reference's.

    python benchmarks/float64_spread.py --targets torch:cpu,jax:cpu,onnxruntime:cpu [--json spread.json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def needed_rtol(got: np.ndarray, want: np.ndarray, atol: float) -> float:
    g, w = np.asarray(got), np.asarray(want)
    if np.iscomplexobj(g) or np.iscomplexobj(w):
        g, w = np.stack([g.real, g.imag], -1), np.stack([w.real, w.imag], -1)
    g, w = g.astype(np.float64), w.astype(np.float64)
    finite = np.isfinite(g) & np.isfinite(w)
    if not finite.any():
        return 0.0
    excess = np.abs(g[finite] - w[finite]) - atol
    excess = np.where(excess > 0, excess, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(excess > 0, excess / np.abs(w[finite]), 0.0)
    return float(need.max())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="torch:cpu,jax:cpu,onnxruntime:cpu")
    parser.add_argument("--atol", type=float, default=1e-13)
    parser.add_argument("--ops", default="")
    parser.add_argument("--json", help="write every (op, target, sample) figure here")
    args = parser.parse_args()

    from opcoverage.backends import get_backend, resolve_targets
    from opcoverage.catalog.loader import load_catalog
    from opcoverage.execute.runner import _reference, _samples

    targets = resolve_targets(args.targets.split(","))
    catalog = load_catalog(frameworks=tuple({getattr(get_backend(t.framework), "binding", t.framework) for t in targets}))
    rows = []
    for spec in catalog.select(args.ops.split(",") if args.ops else None):
        if "float64" not in spec.dtypes:
            continue
        for sample in _samples(spec, "float64", 0, "quick"):
            try:
                want = _reference(spec, "float64", 0, "quick", sample.index)
            except Exception:
                continue
            for target in targets:
                backend = get_backend(target.framework)
                if backend.binding not in spec.bindings or spec.excluded(backend.binding, "float64"):
                    continue
                try:
                    got = backend.run(spec, sample, target.device).outputs
                except Exception:
                    continue
                if len(got) != len(want) or any(np.shape(g) != np.shape(w) for g, w in zip(got, want)):
                    continue
                floats = [(g, w) for g, w in zip(got, want) if np.asarray(w).dtype.kind in "fc"]
                if not floats:
                    continue
                need = max(needed_rtol(g, w, args.atol) for g, w in floats)
                rows.append({"op": spec.name, "target": str(target), "sample": sample.id, "label": sample.label,
                             "rtol_needed": need})
    needs = np.array([r["rtol_needed"] for r in rows])
    print(f"{len(rows)} float64 cases at atol={args.atol:g}")
    for q in (50, 90, 99, 99.5, 99.9, 100):
        print(f"  p{q}: rtol needed {np.percentile(needs, q):.3g}")
    for bound in (1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8):
        print(f"  cases needing more than {bound:g}: {int((needs > bound).sum())}")
    worst = sorted(rows, key=lambda r: -r["rtol_needed"])[:40]
    print("widest:")
    for r in worst:
        print(f"  {r['op']:32s} {r['target']:16s} {r['sample']:4s} {r['rtol_needed']:.3g}  {r['label']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
