"""Random ops under their statistical oracle: correct generators pass at every seed, wrong draws are caught."""

from __future__ import annotations

import numpy as np
import pytest

from opcoverage.catalog.loader import load_catalog
from opcoverage.catalog.references.random import Draws, normal, uniform
from opcoverage.compare import compare_draws
from opcoverage.execute.runner import plan_cases, run_case
from opcoverage.types import Status, Target

@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_ten_seeds_give_no_false_mismatch(framework):
    """A generator that is right must pass at every seed: 10 seeds of a continuous and a discrete random op
    (benchmarks/random_false_failures.py measures every random op in every dtype, at 20 seeds by default)."""
    pytest.importorskip(framework)
    catalog = load_catalog(frameworks=(framework,))
    cases = plan_cases(catalog, [Target(framework, "cpu")], ["random_normal", "bernoulli"], ["float32"])
    verdicts = [run_case(catalog, case, seed) for seed in range(10) for case in cases]
    assert len(verdicts) == 20
    assert [(r.op, r.dtype, r.message) for r in verdicts if r.status is not Status.PASS] == []


class _Spec:  # the two fields compare_draws reads
    result_dtype = ("same",)


def test_the_oracle_rejects_wrong_draws():
    rng = np.random.default_rng(0)
    spec = _Spec()
    right = rng.uniform(-2, 3, (64, 64))
    expect = uniform(None, None, size=[64, 64], low=-2.0, high=3.0)
    assert compare_draws(spec, "float64", (right, right.copy()), expect).status is Status.PASS
    shifted = compare_draws(spec, "float64", (right * 0.9,), expect)  # inside the support, wrong distribution
    assert shifted.status is Status.MISMATCH and "Kolmogorov-Smirnov test rejects uniform(loc=-2, scale=5)" in \
        shifted.message
    outside = compare_draws(spec, "float64", (right + 0.5,), expect)
    assert "outside the support" in outside.message
    again = compare_draws(spec, "float64", (right, rng.uniform(-2, 3, (64, 64))), expect)
    assert "not deterministic" in again.message
    moments = normal(None, None, size=[64, 64], mean=0.5, std=2.0)
    assert compare_draws(spec, "float64", (rng.normal(0.5, 2.5, (64, 64)),), moments).status is Status.MISMATCH
    flipped = Draws(__import__("scipy").stats.bernoulli(0.3), (64, 64), discrete=True)
    inverted = (rng.random((64, 64)) < 0.7).astype(np.float32)  # ONNX Runtime 1.32's Bernoulli, measured
    assert "chi-square test rejects bernoulli" in compare_draws(spec, "float32", (inverted,), flipped).message
