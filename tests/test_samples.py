"""Sample generation: deterministic per seed, values inside their domains, stable sample ids."""

from __future__ import annotations

import numpy as np

from opcoverage.catalog.loader import load_catalog
from opcoverage.catalog.samples import generate, make_tensor


def test_same_seed_same_samples_other_seed_other_values():
    spec = load_catalog()["add"]
    a = generate(spec, "float32", seed=0)
    b = generate(spec, "float32", seed=0)
    c = generate(spec, "float32", seed=1)
    assert [s.id for s in a] == [s.id for s in b]
    for x, y in zip(a, b):
        for u, v in zip(x.args, y.args):
            np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0].args[0], c[0].args[0])


def test_full_mode_adds_samples_without_renumbering_quick_ones():
    spec = load_catalog()["add"]
    quick = generate(spec, "float32", 0, "quick")
    full = generate(spec, "float32", 0, "full")
    assert len(full) > len(quick)
    assert [s.id for s in full[: len(quick)]] == [s.id for s in quick]


def test_domains_are_respected_for_every_dtype():
    rng = np.random.default_rng(0)
    assert (make_tensor((1000,), "float16", rng, "positive") > 0).all()
    assert (np.abs(make_tensor((1000,), "float32", rng, "unit")) < 1).all()
    assert (make_tensor((1000,), "int8", rng, "nonzero") != 0).all()
    assert make_tensor((1000,), "uint8", rng, "real").dtype == np.uint8
    assert make_tensor((3,), "bool", rng).dtype == np.bool_
    assert make_tensor((), "float64", rng).shape == ()
