"""Comparison: a backend's outputs against the reference's, giving pass or mismatch with the errors that matter."""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from opcoverage.catalog.dtypes import (LOW_BIT_FLOATS, bits, dtype_name, is_complex, is_floating, is_integer,
                                      numpy_dtype, real_part, rounded)
from opcoverage.catalog.spec import OpSpec, Tolerance
from opcoverage.types import Seq, Status

# Defaults follow torch.testing's for float32/float16/bfloat16, with a float16/bfloat16 atol that admits one
# rounding of a value of magnitude ~1 (a reference in float64 is exact where the backend must round).
# float64 is set from measured spread instead (`python benchmarks/float64_spread.py`, the whole catalog on torch,
# jax and onnxruntime CPU): 2,151 of 2,198 float64 cases agree with the reference to 1e-13 relative; the rest are
# float32 arithmetic (6e-8 and up), named per-op overrides, or outputs that cancel to about zero, where ONNX
# Runtime's float64 normalizations are off by up to 4.5e-11 absolute. rtol 1e-10 sits far above float64
# agreement and 600x below float32's rounding (2^-24 = 6e-8); atol 1e-10 admits that cancellation while a float32
# result, wrong by about 6e-8 at magnitude 1, still fails.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(1e-10, 1e-10),
    "float32": Tolerance(1.3e-6, 1e-5),
    "float16": Tolerance(1e-3, 1e-3),
    "bfloat16": Tolerance(1.6e-2, 1e-2),
    # Complex numbers hold two parts of the real dtype: its tolerance, on the modulus of the difference relative
    # to the modulus of the reference (as numpy.isclose and torch.isclose compare complex values).
    "complex128": Tolerance(1e-10, 1e-10),
    "complex64": Tolerance(1.3e-6, 1e-5),
}
# 8- and 4-bit floats, from their precision: the reference is correctly rounded to the output dtype first, and a
# result computed in more bits and rounded once differs from that by at most one ULP (where an intermediate that
# is a hair off crosses a rounding boundary). One ULP of a value w is at most eps * |w| (eps = 2^-mantissa bits:
# 0.125 for float8_e4m3fn, 0.25 for float8_e5m2, 0.5 for float4_e2m1fn), and among the subnormals it is the
# smallest subnormal: rtol eps and atol the smallest subnormal admit one ULP everywhere, and two just above the
# subnormals, where both add up. A result rounded more than once (a sum kept in 8 bits) errs by more, and fails.
DEFAULT_TOLERANCES.update({name: Tolerance(float(info.eps), float(info.smallest_subnormal))
                           for name, info in ((n, ml_dtypes.finfo(numpy_dtype(n))) for n in LOW_BIT_FLOATS)})
EXACT = Tolerance(0.0, 0.0)


@dataclass(frozen=True)
class Comparison:
    status: Status
    message: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None


def tolerance_for(spec: OpSpec, dtype: str) -> Tolerance:
    if dtype in spec.tolerances:
        return spec.tolerances[dtype]
    return DEFAULT_TOLERANCES.get(dtype, EXACT)


def expected_dtype_ok(rule: str, input_dtype: str, actual: str) -> bool:
    """Whether an output's dtype satisfies the spec's result_dtype rule for this input dtype."""
    if rule == "same":
        return actual == input_dtype
    if rule == "index":
        return actual in ("int32", "int64")
    if rule == "accumulate":
        # Integer reductions may widen (torch, NumPy) or keep the input dtype (ONNX); floats keep theirs.
        if is_floating(input_dtype) or is_complex(input_dtype):
            return actual == input_dtype
        widened = is_integer(actual) and bits(actual) >= bits("int8" if input_dtype == "bool" else input_dtype)
        return actual == input_dtype or widened
    if rule == "complex":  # FFTs: complex64 from 32-bit and narrower floats, complex128 from float64
        return actual == ("complex128" if input_dtype in ("float64", "int64") else "complex64")
    if rule == "float":
        if is_floating(input_dtype) or is_complex(input_dtype):
            return actual == input_dtype
        return is_floating(actual)
    if rule == "real":  # abs, a real view: complex64 gives float32, complex128 float64, other dtypes themselves
        return actual == real_part(input_dtype)
    return actual == rule  # an exact dtype name, "bool" and "int64" included


def compare(spec: OpSpec, dtype: str, actual: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...],
            check_dtypes: bool = True) -> Comparison:
    """Each output against its reference: dtype (by the spec's result rule, unless ``check_dtypes`` is off), shape,
    then values at the dtype's tolerance (strings and integers exactly). A sequence (Seq) is compared tensor by
    tensor, each by its output's rule, after its length; an empty optional (None) matches only None. A random op's
    reference is the distribution of its draws (Draws)."""
    draws = _draws(expected)
    if draws is not None:
        return compare_draws(spec, dtype, actual, draws)
    if len(actual) != len(expected):
        return Comparison(Status.MISMATCH, f"returned {len(actual)} output(s), expected {len(expected)}")
    rules = spec.result_dtype if len(spec.result_dtype) == len(expected) else spec.result_dtype[:1] * len(expected)
    worst = [0.0, 0.0]  # max abs err, max rel err
    problems: list[str] = []
    for i, (got, want, rule) in enumerate(zip(actual, expected, rules)):
        label = f"output {i}" if len(expected) > 1 else ""
        problems += _compare_value(spec, dtype, got, want, rule, check_dtypes, label, worst)
    if problems:
        return Comparison(Status.MISMATCH, "; ".join(problems), worst[0], worst[1])
    return Comparison(Status.PASS, "", worst[0], worst[1])


def _compare_value(spec: OpSpec, dtype: str, got, want, rule: str, check_dtypes: bool, label: str,
                   worst: list[float]) -> list[str]:
    """The problems of one output (an array, a Seq of arrays, or None), raising ``worst`` to its errors."""
    prefix = f"{label}: " if label else ""
    if want is None or got is None:
        if want is None and got is None:
            return []
        return [f"{prefix}{_kind(got)}, expected {_kind(want)}"]
    if isinstance(want, Seq) or isinstance(got, Seq):
        if not (isinstance(want, Seq) and isinstance(got, Seq)) or len(got) != len(want):
            return [f"{prefix}{_kind(got)}, expected {_kind(want)}"]
        if check_dtypes and got.dtype and not expected_dtype_ok(rule, dtype, got.dtype):  # an empty one too
            return [f"{prefix}a sequence of {got.dtype}, expected one of {rule if rule != 'same' else dtype}"]
        problems = []
        for k, (g, w) in enumerate(zip(got, want)):
            problems += _compare_value(spec, dtype, g, w, rule, check_dtypes, f"{label or 'sequence'}[{k}]", worst)
        return problems
    got_name = dtype_name(got.dtype)
    if check_dtypes and not expected_dtype_ok(rule, dtype, got_name):
        return [f"{prefix}dtype {got_name}, expected {rule if rule != 'same' else dtype}"]
    if got.shape != want.shape:
        return [f"{prefix}shape {list(got.shape)}, expected {list(want.shape)}"]
    if got.dtype.kind == "U" or want.dtype.kind == "U":  # strings: equal or not
        differ = np.asarray(got != want)
        if not differ.any():
            return []
        idx = tuple(int(i) for i in np.argwhere(differ)[0]) if differ.ndim else ()
        return [f"{prefix}{int(differ.sum())} of {want.size} strings differ (first at {list(idx)}: got "
                f"{str(got[idx])!r}, expected {str(want[idx])!r})"]
    exact = _is_exact(got) and _is_exact(want)  # bfloat16's kind is "V" too, but it is no integer
    if (is_floating(got_name) and got_name != "float64" and want.dtype == np.float64) or (
            got_name == "complex64" and want.dtype == np.complex128):
        # The ideal answer in the output dtype is the float64 reference correctly rounded to it; that is
        # also where values beyond the dtype's range become inf and tiny ones subnormal or zero.
        want = rounded(want, got.dtype)
    tol = EXACT if exact else tolerance_for(spec, dtype)
    abs_err, rel_err, bad, first = _errors(got, want, tol)
    worst[0], worst[1] = max(worst[0], abs_err), max(worst[1], rel_err)
    if bad:
        return [f"{prefix}{bad} of {want.size} values differ ({first}); "
                f"max abs err {abs_err:.3g}, max rel err {rel_err:.3g} at rtol={tol.rtol:g} atol={tol.atol:g}"]
    return []


def _kind(value) -> str:
    """What a value is, for a message: "an empty optional", "a sequence of 3 tensors", "a float32 tensor [2, 3]"."""
    if value is None:
        return "an empty optional"
    if isinstance(value, Seq):
        return f"a sequence of {len(value)} tensor{'s' if len(value) != 1 else ''}"
    return f"a {dtype_name(value.dtype)} tensor {list(value.shape)}"


def _is_exact(array: np.ndarray) -> bool:
    return array.dtype == np.bool_ or is_integer(dtype_name(array.dtype))


def _fmt(value) -> str:
    if isinstance(value, (complex, np.complexfloating)):
        return f"{value.real:.6g}{value.imag:+.6g}j"
    return f"{float(value):.6g}"


def _errors(got: np.ndarray, want: np.ndarray, tol: Tolerance) -> tuple[float, float, int, str]:
    """(max abs err, max rel err, count of values out of tolerance, first offending value). Integers compare as
    Python ints (float64 would merge uint64 neighbours past 2^53); complex values by the modulus of the difference."""
    if want.size == 0:
        return 0.0, 0.0, 0, ""
    if _is_exact(got) and _is_exact(want):
        g, w = _python_ints(got), _python_ints(want)
        diff = np.abs(g - w)
        bad_at = diff != 0
        first = ""
        if bad_at.any():
            idx = tuple(int(i) for i in np.argwhere(bad_at)[0])
            first = f"first at {list(idx)}: got {g[idx]}, expected {w[idx]}"
        rel = np.where(bad_at, diff / np.where(w == 0, 1, np.abs(w)), 0)
        rel = np.where(bad_at & (w == 0), np.inf, rel).astype(np.float64)
        return float(diff.max()), float(rel.max()), int(bad_at.sum()), first
    complex_values = np.iscomplexobj(got) or np.iscomplexobj(want)
    g = got.astype(np.complex128 if complex_values else np.float64)
    w = want.astype(np.complex128 if complex_values else np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        nan_ok = np.isnan(g) == np.isnan(w)
        both_nan = np.isnan(g) & np.isnan(w)
        same_inf = np.isinf(w) & (g == w)
        finite = np.isfinite(g) & np.isfinite(w)
        diff = np.where(finite, np.abs(g - w), 0.0)
        rel = np.where(finite & (w != 0), diff / np.abs(np.where(w == 0, 1.0, w)), np.where(diff > 0, np.inf, 0.0))
        ok = both_nan | same_inf | (finite & (diff <= tol.atol + tol.rtol * np.abs(w)))
        ok &= nan_ok
    abs_err = float(diff.max()) if diff.size else 0.0
    rel_err = float(rel[finite].max()) if finite.any() else 0.0
    nonfinite_mismatch = ~(ok | finite)
    if nonfinite_mismatch.any():
        abs_err = rel_err = float("inf")
    bad = int((~ok).sum())
    first = ""
    if bad:
        idx = tuple(int(i) for i in np.argwhere(~ok)[0])
        first = f"first at {list(idx)}: got {_fmt(g[idx])}, expected {_fmt(w[idx])}"
    return abs_err, rel_err, bad, first


def _python_ints(array: np.ndarray) -> np.ndarray:
    """An object array of Python ints (bools as 0 and 1; int4 and uint4 through int8): exact at any width."""
    return (array if array.dtype.kind in "iu" else array.astype(np.int8)).astype(object)


def sides_with_lower_precision(spec: OpSpec, dtype: str, lower: str, actual: tuple[np.ndarray, ...],
                               lower_expected: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...]) -> bool:
    """Whether a failing output is what computing in ``lower`` gives: it passes against the reference computed in
    ``lower`` (``lower_expected``, at that dtype's tolerance), and where the two references differ by more than
    ``dtype``'s tolerance, it lies nearer the lower one at nine places in ten or more. The second half tells a
    downcast from a float64 kernel that is merely inaccurate (float32 constants, a poor approximation): that one
    passes at float32's tolerance too, but lies nearer the float64 answer about as often as not (ONNX Runtime's
    float64 Gelu(tanh) at 68-78% of places, torch's airy_ai at 56-68%; its float64 Shrink, a real downcast, 100%).

    ``actual`` and ``lower_expected`` come narrowed to ``lower``; ``expected`` is the float64 reference."""
    if compare(spec, lower, actual, lower_expected, check_dtypes=False).status is not Status.PASS or \
            len(actual) != len(expected):
        return False
    tol = tolerance_for(spec, dtype)
    nearer = apart = 0
    for got, low, full in zip(actual, lower_expected, expected):
        if got.shape != full.shape:  # a data-dependent shape (nonzero, unique) that the lower precision explains
            apart, nearer = apart + full.size + 1, nearer + (full.size + 1) * (got.shape == low.shape)
            continue
        if low.shape != full.shape:
            return False
        g, lo, f = (_as_float(a) for a in (got, low, full))
        with np.errstate(invalid="ignore", over="ignore"):
            differ = np.isfinite(lo) & np.isfinite(f) & (np.abs(lo - f) > tol.atol + tol.rtol * np.abs(f))
            apart += int(differ.sum())
            nearer += int((differ & (np.abs(g - lo) <= np.abs(g - f))).sum())
    return apart > 0 and nearer >= 0.9 * apart


def _as_float(a: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(a):
        return np.stack([np.real(a), np.imag(a)], axis=-1).astype(np.float64)
    return a.astype(np.float64)


# Random ops: a goodness-of-fit test at this significance rejects a correct generator once in a million cases.
DRAWS_ALPHA = 1e-6


def _draws(expected: tuple[np.ndarray, ...]):
    from opcoverage.catalog.references.random import Draws

    if len(expected) == 1 and isinstance(expected[0], np.ndarray) and expected[0].dtype == object and \
            isinstance(expected[0].item(), Draws):
        return expected[0].item()
    return None


def compare_draws(spec: OpSpec, dtype: str, actual: tuple[np.ndarray, ...], draws) -> Comparison:
    """A random op's draws against the distribution they must follow: dtype, shape, support, a goodness-of-fit test
    (Kolmogorov-Smirnov, or chi-square over a discrete support) at DRAWS_ALPHA, and, where the binding drew twice
    from one seed, that both draws are equal."""
    from scipy import stats

    if not actual:
        return Comparison(Status.MISMATCH, "returned no draws")
    got = actual[0]
    if not expected_dtype_ok(spec.result_dtype[0], dtype, dtype_name(got.dtype)):
        return Comparison(Status.MISMATCH, f"dtype {dtype_name(got.dtype)}, expected {spec.result_dtype[0]}")
    if got.shape != draws.shape:
        return Comparison(Status.MISMATCH, f"shape {list(got.shape)}, expected {list(draws.shape)}")
    values = got.astype(np.float64).ravel()
    low, high = draws.dist.support()
    if not np.isfinite(values).all():
        return Comparison(Status.MISMATCH, f"{int((~np.isfinite(values)).sum())} of {values.size} draws are not finite")
    outside = (values < low) | (values > high) | ((values != np.round(values)) if draws.discrete else False)
    if outside.any():
        return Comparison(Status.MISMATCH, f"{int(outside.sum())} of {values.size} draws lie outside the support of "
                                           f"{draws.describe()} (first {values[outside][0]:.6g})")
    if draws.discrete:
        support = np.arange(int(low), int(high) + 1)
        observed = np.array([(values == k).sum() for k in support])
        expected = draws.dist.pmf(support) * values.size
        statistic, p = stats.chisquare(observed, expected * observed.sum() / expected.sum())
        test = "chi-square"
    else:
        statistic, p = stats.kstest(values, draws.dist.cdf)
        test = "Kolmogorov-Smirnov"
    if p < DRAWS_ALPHA:
        return Comparison(Status.MISMATCH, f"a {test} test rejects {draws.describe()} for these {values.size} draws "
                                           f"(statistic {statistic:.4g}, p = {p:.2g} < {DRAWS_ALPHA:g})")
    if len(actual) > 1 and not np.array_equal(actual[0], actual[1]):
        return Comparison(Status.MISMATCH, "two draws from the same seed differ: the generator is not deterministic")
    return Comparison(Status.PASS)
