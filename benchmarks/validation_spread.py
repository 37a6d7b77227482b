"""Measured spread of whole-model validation: where models.validate.SPREAD comes from.

Reads validation files (`opcoverage model zoo --validate --targets T --dtype D --out FILE`) and prints, per dtype
and target, each validated pair's drift from float64 divided by the drift of an ideal backend of its dtype (the
float64 run with every op's result rounded once: models/emulate.py). Real, correct kernels round inside their
reductions too, so they drift somewhat further than the ideal run; a lower-precision path drifts much further.

    python benchmarks/validation_spread.py reports/models/validation-cpu.json reports/models/validation-cpu-float16.json

Measured on this project's 2-core VM (torch 2.13.0+cpu, onnxruntime 1.32; the committed validation files, the
zoo's 13 runnable models; jax:cpu runs no torch model), one line per dtype and target:

    float16  onnxruntime:cpu    11 pairs  median 0.685 max 1.19  swin forward
    float16  torch:cpu          26 pairs  median 1     max 4.75  convnext train
    float32  onnxruntime:cpu    13 pairs  median 2.76  max 6.46  convnext forward
    float32  torch:cpu          26 pairs  median 3.22  max 13.7  resnet train

float16 kernels accumulate in float32 (so often beat the ideal run, which rounds every op), except torch's float16
convolution backward (convnext, wav2vec2 train); float32 kernels accumulate in float32, so long reductions (ResNet's
batch norms and convolutions in training) drift past the ideal run. models.validate.SPREAD doubles the largest.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict


def main(paths: list[str]) -> int:
    groups: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    for path in paths:
        for r in json.load(open(path))["validations"]:
            if r.get("drift") is None or not r.get("ideal_drift"):
                continue
            groups[(r["dtype"], r["target"])].append((r["drift"] / r["ideal_drift"], f"{r['model']} {r['mode']}"))
    for (dtype, target), ratios in sorted(groups.items()):
        worst = max(ratios)
        print(f"{dtype:8s} {target:17s} {len(ratios):3d} pairs  median {statistics.median(x for x, _ in ratios):<5.3g}"
              f" max {worst[0]:<5.3g} {worst[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
