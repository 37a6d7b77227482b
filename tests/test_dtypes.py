"""The dtypes beyond "all" (wide unsigned, complex, 8- and 4-bit): groups, samples, references, comparison, each
backend's conversion at its boundary, and a small real run with a pass and a failure."""

from __future__ import annotations

import importlib.util

import ml_dtypes
import numpy as np
import pytest

from opcoverage.backends import resolve_targets
from opcoverage.catalog import dtypes as dt
from opcoverage.catalog.loader import load_catalog
from opcoverage.catalog.references.elementwise import cast
from opcoverage.catalog.samples import generate, make_tensor, special_values
from opcoverage.compare import compare, expected_dtype_ok
from opcoverage.execute.runner import plan_cases, run_case
from opcoverage.types import Status

NEW = dt.EXTENDED
# Between 1 and 1.125 in float8_e4m3fn, a hair above the midpoint: float32 rounds it onto the midpoint, whose tie
# then goes to even (1), while the correctly rounded answer is 1.125.
ABOVE_MIDPOINT = 1 + 2.0 ** -4 + 2.0 ** -40
SPECS = """
[add]
category = "elementwise_binary"
samples = "binary"
dtypes = ["uint16", "float8_e4m3fn", "complex64", "int4", "float4_e2m1fn"]
reference = "numpy.add"
torch = "torch.add"
jax = "jax.numpy.add"
onnx = { op_type = "Add" }

[abs]
category = "elementwise_unary"
samples = "unary"
dtypes = ["complex64"]
result_dtype = "real"
reference = "numpy.abs"
torch = "torch.abs"
"""


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(frameworks=[])


def _run(catalog, targets, **kw):
    return {r.id: r for r in (run_case(catalog, c) for c in plan_cases(catalog, resolve_targets(targets), **kw))}


def test_existing_groups_expand_as_before_and_new_groups_hold_the_new_names():
    assert dt.expand(["all"]) == ("float32", "float64", "float16", "bfloat16", "int8", "uint8", "int16", "int32",
                                  "int64", "bool")
    assert dt.expand(["numeric"]) == dt.expand(["floating", "integral"])
    assert not set(NEW) & set(dt.expand(["all", "numeric", "signed", "floating", "integral"]))
    assert dt.expand(["complex", "float8"]) == ("complex64", "complex128", "float8_e4m3fn", "float8_e5m2")
    assert dt.expand(["extended"]) == NEW and len(NEW) == 10
    assert [n for n in dt.ARRAY_DTYPES if n in NEW] == list(NEW)  # reports show them after the others


def test_kinds_and_widths_of_the_new_names():
    assert dt.is_floating("float8_e5m2") and dt.is_floating("float4_e2m1fn") and not dt.is_floating("complex64")
    assert dt.is_complex("complex128") and dt.is_integer("uint64") and dt.is_integer("int4")
    assert not dt.is_integer("float8_e5m2")  # ml_dtypes gives it NumPy kind "f", int4 kind "V"
    assert dt.bits("int4") == dt.bits("float4_e2m1fn") == 4 and dt.bits("uint64") == 64
    assert dt.real_part("complex64") == "float32"
    assert dt.dtype_name(np.dtype(ml_dtypes.float8_e4m3fn)) == "float8_e4m3fn"


def test_complex_reference_input_keeps_its_imaginary_part():
    z = np.array([1 + 2j, -3j], np.complex64)
    assert dt.reference_input(z).dtype == np.complex128
    np.testing.assert_array_equal(dt.reference_input(z).imag, [2, -3])
    big = np.array([2 ** 64 - 1], np.uint64)
    assert dt.reference_input(big)[0] == 2 ** 64 - 1  # exact, not through float64


def test_rounding_to_low_bit_floats_is_correct_where_ml_dtypes_rounds_twice():
    x = np.array([ABOVE_MIDPOINT])  # ml_dtypes 0.6 casts it through float32 and gives 1.0; 0.7 gives 1.125
    assert dt.rounded(x, np.dtype(ml_dtypes.float8_e4m3fn))[0] == 1.125
    assert float(cast(x, "float8_e4m3fn")[0]) == 1.125
    assert dt.rounded(np.array([2.5 + 2.0 ** -38]), np.dtype(ml_dtypes.float4_e2m1fn))[0] == 3.0


def test_new_dtypes_draw_within_their_domains_and_ranges():
    rng = np.random.default_rng(0)
    z = make_tensor((500,), "complex64", rng, "positive")
    assert z.dtype == np.complex64 and (z.real > 0).all() and (z.imag > 0).all() and np.ptp(z.imag) > 1
    assert (make_tensor((500,), "float4_e2m1fn", rng, "positive").astype(np.float64) > 0).all()  # 0.1 would be 0
    assert np.isfinite(make_tensor((500,), "float8_e4m3fn", rng, low=-1e4, high=1e4).astype(np.float64)).all()
    small = make_tensor((500,), "int4", rng).astype(np.int64)
    assert small.min() == -2 and small.max() == 2  # sums and products of two stay inside int4
    assert (make_tensor((500,), "uint16", rng, "nonzero") != 0).all()


def test_special_values_are_those_each_dtype_has():
    rng = np.random.default_rng(0)
    e4m3 = special_values("float8_e4m3fn", (40,), rng).astype(np.float64)
    assert np.isnan(e4m3).any() and not np.isinf(e4m3).any() and np.nanmax(e4m3) == 448
    assert np.isfinite(special_values("float4_e2m1fn", (40,), rng).astype(np.float64)).all()
    assert np.isinf(special_values("float8_e5m2", (40,), rng).astype(np.float64)).any()
    z = special_values("complex64", (60,), rng)
    assert np.isinf(z.imag).any() and np.isnan(z.real).any() and not np.isnan(z[np.isinf(z.imag)].real).any()
    wide = set(special_values("uint64", (20,), rng).tolist())
    assert {2 ** 64 - 1, 2 ** 64 - 2, 0, 1} == wide


def test_unsigned_probe_goes_past_the_signed_range(catalog):
    probe = generate(catalog["lt"], "uint64", 0)[-1]
    assert probe.label.startswith("precision probe: uint64 values past int64")
    assert any((a >= np.uint64(2 ** 63)).any() for a in probe.args)
    assert not generate(catalog["mul"], "uint64", 0)[-1].label.startswith("precision")  # it would overflow
    for name in ("complex128", "float8_e4m3fn", "int4"):  # no lower precision to tell apart: no probe
        assert not any(s.label.startswith("precision") for s in generate(catalog["add"], name, 0, "full"))
    cast = generate(catalog["cast_to_float4_e2m1fn"], "float64", 0)[-1]
    assert "float4_e2m1fn's rounding midpoints" in cast.label
    assert np.isin(np.round(cast.args[0] * 4) / 4, [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, -0.25, -0.75, -1.25, -1.75,
                                                   -2.5, -3.5, 0.0]).mean() > 0.4


def test_complex_comparison_sees_the_imaginary_part(catalog):
    spec = catalog["add"]
    want = np.array([1 + 2j, 3 - 1j])
    assert compare(spec, "complex64", (want.astype(np.complex64),), (want,)).status is Status.PASS
    wrong = compare(spec, "complex64", (want.real.astype(np.complex64),), (want,))
    assert wrong.status is Status.MISMATCH and "2 of 2" in wrong.message and "+2j" in wrong.message
    assert compare(spec, "complex64", (want.real.astype(np.float32),), (want,)).status is Status.MISMATCH  # dtype
    nan = np.array([complex(np.nan, 0), 1j])
    assert compare(spec, "complex64", (nan.astype(np.complex64),), (nan,)).status is Status.PASS


def test_float8_results_pass_within_one_ulp_of_the_correctly_rounded_reference(catalog):
    spec, want = catalog["add"], np.array([ABOVE_MIDPOINT, 3.0])
    exact = np.array([1.125, 3.0]).astype(ml_dtypes.float8_e4m3fn)
    assert compare(spec, "float8_e4m3fn", (exact,), (want,)).status is Status.PASS
    one_ulp = np.array([1.0, 3.25]).astype(ml_dtypes.float8_e4m3fn)
    assert compare(spec, "float8_e4m3fn", (one_ulp,), (want,)).status is Status.PASS
    three_ulps = np.array([1.125, 3.75]).astype(ml_dtypes.float8_e4m3fn)
    result = compare(spec, "float8_e4m3fn", (three_ulps,), (want,))
    assert result.status is Status.MISMATCH and "rtol=0.125" in result.message
    # The case dtype sets the tolerance: a float64 cast to float8 must round exactly once.
    assert compare(catalog["cast_to_float8_e4m3fn"], "float64", (one_ulp[:1],), (cast(want[:1], "float8_e4m3fn"),)
                   ).status is Status.MISMATCH


def test_uint64_compares_exactly_past_float64s_resolution(catalog):
    want = np.array([2 ** 64 - 1, 2 ** 63 + 1], np.uint64)
    got = np.array([2 ** 64 - 2, 2 ** 63], np.uint64)  # equal in float64
    result = compare(catalog["add"], "uint64", (got,), (want,))
    assert result.status is Status.MISMATCH and "2 of 2" in result.message and "18446744073709551615" in result.message


def test_result_rules_for_the_new_dtypes():
    assert expected_dtype_ok("real", "complex64", "float32") and not expected_dtype_ok("real", "complex64", "complex64")
    assert expected_dtype_ok("real", "int4", "int4")
    assert expected_dtype_ok("accumulate", "uint32", "uint64") and not expected_dtype_ok("accumulate", "int16", "int4")
    assert expected_dtype_ok("accumulate", "complex64", "complex64")


@pytest.mark.parametrize("name", NEW)
def test_torch_and_onnxruntime_conversions_round_trip(name):
    from opcoverage.backends.onnxruntime import _from_ortvalue, _to_ortvalue
    from opcoverage.backends.torch import from_torch, to_torch

    array = make_tensor((3, 5), name, np.random.default_rng(1), "nonneg")
    same = (lambda a, b: np.array_equal(a.view(np.uint8), b.view(np.uint8))) if array.dtype.isbuiltin == 2 else \
        np.array_equal
    if name not in ("int4", "uint4", "float4_e2m1fn"):  # torch 2.13 has no tensors of these (test below)
        for layout in ("contiguous", "transposed"):
            back = from_torch(to_torch(array, "cpu", layout))
            assert back.dtype == array.dtype and same(back, array)
    if not dt.is_complex(name):  # onnxruntime has no complex tensors at all
        back = _from_ortvalue(_to_ortvalue(array))
        assert back.dtype == array.dtype and back.shape == array.shape and same(back, array)


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino is not installed")
def test_openvino_conversion_round_trips_ml_dtypes_types():
    from opcoverage.backends.openvino import _from_tensor, _to_tensor

    for name in ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "int4", "uint4", "uint64"):
        for shape in ((3, 5), (), (7,)):
            array = make_tensor(shape, name, np.random.default_rng(2), "nonneg")
            back = _from_tensor(_to_tensor(array))
            assert back.dtype == array.dtype and back.shape == array.shape
            np.testing.assert_array_equal(back.astype(np.float64), array.astype(np.float64))


def test_a_small_run_passes_and_fails_new_dtypes_for_real_reasons(spec_dir):
    catalog = load_catalog([spec_dir("ops.toml", SPECS)])
    results = _run(catalog, ["torch:cpu", "jax:cpu", "onnxruntime:cpu"], cases=["*-s0"])
    status = {key: r.status for key, r in results.items()}
    assert status["add-jax:cpu-uint16-s0"] is status["add-onnxruntime:cpu-uint16-s0"] is Status.PASS
    assert status["add-torch:cpu-complex64-s0"] is status["abs-torch:cpu-complex64-s0"] is Status.PASS
    assert status["add-jax:cpu-float8_e4m3fn-s0"] is status["add-jax:cpu-int4-s0"] is Status.PASS
    assert status["add-onnxruntime:cpu-float8_e4m3fn-s0"] is Status.SKIPPED  # not in ONNX Add's schema
    for key, word in (("add-torch:cpu-uint16-s0", "'UInt16'"), ("add-torch:cpu-float8_e4m3fn-s0", "Float8_e4m3fn"),
                      ("add-torch:cpu-int4-s0", "cannot make a torch.int4 tensor"),
                      ("add-torch:cpu-float4_e2m1fn-s0", "has no float4_e2m1fn dtype")):
        assert status[key] is Status.UNSUPPORTED and word in results[key].message, results[key]
