"""Comparison: tolerances per dtype, exact integers, NaN/inf handling, and shape and dtype mismatches."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from opcoverage.catalog.loader import load_catalog
from opcoverage.compare import compare, expected_dtype_ok
from opcoverage.types import Status


def _spec(name="add"):
    return load_catalog()[name]


def test_within_tolerance_passes_and_reports_errors():
    want = np.array([1.0, 2.0, 3.0])
    got = (want + 1e-7).astype(np.float32)
    result = compare(_spec(), "float32", (got,), (want,))
    assert result.status is Status.PASS
    assert 0 < result.max_abs_err < 1e-6


def test_wrong_values_are_a_mismatch_with_errors_and_position():
    want = np.array([1.0, 2.0, 3.0])
    got = np.array([1.0, 2.5, 3.0], dtype=np.float32)
    result = compare(_spec(), "float32", (got,), (want,))
    assert result.status is Status.MISMATCH
    assert result.max_abs_err == 0.5
    assert "1 of 3 values differ" in result.message and "[1]" in result.message


def test_integers_compare_exactly():
    result = compare(_spec(), "int32", (np.array([1, 2], np.int32),), (np.array([1, 3]),))
    assert result.status is Status.MISMATCH


def test_nan_must_match_nan_and_inf_must_match_inf():
    want = np.array([np.nan, np.inf, 1.0])
    assert compare(_spec(), "float32", (want.astype(np.float32),), (want,)).status is Status.PASS
    got = np.array([0.0, np.inf, 1.0], np.float32)
    assert compare(_spec(), "float32", (got,), (want,)).status is Status.MISMATCH
    got = np.array([np.nan, -np.inf, 1.0], np.float32)
    assert compare(_spec(), "float32", (got,), (want,)).status is Status.MISMATCH


def test_shape_dtype_and_output_count_mismatches():
    want = np.zeros((2, 3))
    assert "shape" in compare(_spec(), "float32", (np.zeros((3, 2), np.float32),), (want,)).message
    assert "dtype float64" in compare(_spec(), "float32", (np.zeros((2, 3)),), (want,)).message
    assert "2 output(s)" in compare(_spec(), "float32", (want, want), (want,)).message


def test_bfloat16_uses_its_looser_tolerance():
    want = np.array([1.0, 3.0])
    got = want.astype(ml_dtypes.bfloat16)
    assert compare(_spec(), "bfloat16", (got,), (want + 0.004,)).status is Status.PASS


def test_result_dtype_rules():
    assert expected_dtype_ok("same", "float16", "float16")
    assert not expected_dtype_ok("same", "float16", "float32")
    assert expected_dtype_ok("accumulate", "int8", "int64")
    assert expected_dtype_ok("accumulate", "int8", "int8")
    assert not expected_dtype_ok("accumulate", "float16", "float32")
    assert expected_dtype_ok("index", "float32", "int32")
    assert expected_dtype_ok("bool", "float32", "bool")
