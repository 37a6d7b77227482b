"""Sample generation: named families turn an OpSpec's sample parameters and a dtype into Samples."""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import ml_dtypes
import numpy as np

from opcoverage.catalog.dtypes import (LOW_BIT_FLOATS, STRING, WIDE_UNSIGNED, complex_from_parts, dtype_name,
                                      is_complex, is_floating, numpy_dtype, real_part)
from opcoverage.catalog.spec import OpSpec
from opcoverage.types import Sample

SAMPLE_MODES = ("quick", "full")

# Value ranges by domain. Floats are drawn uniformly; integers too, clipped to the dtype.
# Integer ranges stay small so sums and products of a sample do not overflow any dtype.
_FLOAT_DOMAINS: dict[str, tuple[float, float]] = {
    "real": (-3.0, 3.0),
    "small": (-1.0, 1.0),
    "unit": (-0.95, 0.95),
    "positive": (0.1, 3.0),
    "nonneg": (0.0, 3.0),
    "gt1": (1.05, 4.0),
    "nonzero": (0.5, 3.0),  # with a random sign
    "prob": (0.02, 0.98),
}
_INT_DOMAINS: dict[str, tuple[int, int]] = {
    "real": (-5, 5),
    "small": (-2, 2),
    "unit": (-1, 1),
    "positive": (1, 5),
    "nonneg": (0, 5),
    "gt1": (2, 5),
    "nonzero": (1, 5),  # with a random sign
    "prob": (0, 1),
}
DOMAINS = tuple(_FLOAT_DOMAINS)
_WORDS = ("alpha", "Beta", "GAMMA", "delta epsilon", "", "zeta-eta", "Théta", "iota  kappa", "LAMBDA mu", "42")
DEFAULT_REDUCTION_CASES = ({"dim": 1, "keepdim": False}, {"dim": -1, "keepdim": True})


@dataclass(frozen=True)
class SampleInput:
    """One generated input before it is tied to an op: arguments, keyword arguments and a label."""

    args: tuple[np.ndarray, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    full_only: bool = False
    layout: str = "contiguous"  # "transposed": backends that have strides pass a non-contiguous view


def make_tensor(shape: tuple[int, ...], dtype: str, rng: np.random.Generator, domain: str = "real",
                low: float | None = None, high: float | None = None) -> np.ndarray:
    """A random array of a catalog dtype whose values lie in ``domain`` (or in [low, high]); a complex array's real
    and imaginary parts are drawn apart, each from the domain."""
    if domain not in _FLOAT_DOMAINS:
        raise KeyError(domain)
    shape = tuple(int(s) for s in shape)
    if dtype == STRING:  # words of mixed case, with spaces and non-ASCII letters; content that matters is declared
        return rng.choice(np.array(_WORDS), size=shape)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if is_complex(dtype):
        parts = [make_tensor(shape, real_part(dtype), rng, domain, low, high) for _ in range(2)]
        return complex_from_parts(*parts).astype(numpy_dtype(dtype))
    if is_floating(dtype):
        lo, hi = _FLOAT_DOMAINS[domain]
        lo = lo if low is None else low
        hi = hi if high is None else high
        values = rng.uniform(lo, hi, size=shape)
        if dtype in LOW_BIT_FLOATS:
            values = _representable_within(values, dtype, lo, hi)
    else:
        lo, hi = _INT_DOMAINS[domain]
        lo = lo if low is None else int(low)
        hi = hi if high is None else int(high)
        info = ml_dtypes.iinfo(numpy_dtype(dtype))  # NumPy's iinfo does not know int4
        bound = math.isqrt(int(info.max))
        if bound < 5:  # int4, uint4: sums and products of two values stay in range, as they do for 8 bits and up
            lo, hi = max(lo, -bound), min(hi, bound)
        lo, hi = max(lo, int(info.min)), min(hi, int(info.max))
        values = rng.integers(lo, hi, size=shape, endpoint=True)
    if domain == "nonzero" and not dtype.startswith("uint"):
        values = values * rng.choice(np.array([-1, 1]), size=shape)
    return np.asarray(values).astype(numpy_dtype(dtype))


@functools.lru_cache(maxsize=None)
def _finite_values(dtype: str) -> np.ndarray:
    """Every finite value of a float dtype of at most 8 bits, ascending, in float64."""
    bits = int(ml_dtypes.finfo(numpy_dtype(dtype)).bits)
    values = np.arange(2 ** bits, dtype=np.uint8).view(numpy_dtype(dtype)).astype(np.float64)
    return np.unique(values[np.isfinite(values)])


def _midpoints(dtype: str) -> np.ndarray:
    """The points halfway between consecutive finite values of a low-bit float: where rounding to it decides."""
    values = _finite_values(dtype)
    return (values[:-1] + values[1:]) / 2


def _representable_within(values: np.ndarray, dtype: str, lo: float, hi: float) -> np.ndarray:
    """Float64 draws moved to the nearest values of a low-bit float that lie in [lo, hi]: its finite range holds
    them (float4_e2m1fn ends at 6), and rounding never leaves the domain (0.1 is 0 in float4_e2m1fn, which a
    positive domain excludes)."""
    grid = _finite_values(dtype)
    inside = grid[(grid >= lo) & (grid <= hi)]
    if not inside.size:
        raise ValueError(f"{dtype} has no value in [{lo}, {hi}]; widen the sample's range")
    # Rounding is monotone and both ends are representable, so clipped values round to values in between.
    return np.clip(values, inside[0], inside[-1]).astype(numpy_dtype(dtype)).astype(np.float64)


def _survive(values: np.ndarray, dtype: str) -> np.ndarray:
    """Which float64 edge values a float dtype holds: all finite ones (rounded), NaN and infinities only where the
    dtype has them (float8_e4m3fn has no infinity, float4_e2m1fn no infinity and no NaN)."""
    with np.errstate(invalid="ignore", over="ignore"):
        back = values.astype(numpy_dtype(dtype)).astype(np.float64)
    return np.isfinite(values) | (np.isnan(values) & np.isnan(back)) | (np.isinf(values) & (back == values))


def special_values(dtype: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Edge values of a dtype, tiled over ``shape`` in a shuffled order: NaN, +-inf, -0.0, the largest finite
    and smallest normal and subnormal numbers for floats (those the dtype has); each of them as the real part and
    as the imaginary part of a complex number; min, max, 0, +-1 and their neighbours for integers."""
    np_dtype = numpy_dtype(dtype)
    if dtype == "bool":
        values = np.array([True, False])
    elif is_floating(dtype) or is_complex(dtype):
        part = real_part(dtype)
        info = ml_dtypes.finfo(numpy_dtype(part))  # NumPy's finfo does not know bfloat16
        values = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 0.5, -2.5, float(info.max),
                           -float(info.max), float(info.tiny), float(info.smallest_subnormal)], dtype=np.float64)
        values = values[_survive(values, part)]
        if is_complex(dtype):
            plain = np.resize(np.array([0.0, 1.0, -0.5]), values.size)
            values = np.concatenate([complex_from_parts(values, plain), complex_from_parts(plain, values)])
    else:
        info = ml_dtypes.iinfo(np_dtype)
        candidates = {int(info.min), int(info.min) + 1, -1, 0, 1, int(info.max) - 1, int(info.max)}
        holder = np_dtype if np_dtype.kind in "iu" else np.int8  # exact: uint64's top values would go through float64
        values = np.array(sorted(v for v in candidates if info.min <= v <= info.max), dtype=holder)
    count = int(np.prod(shape)) if shape else 1
    picked = np.resize(values, count)
    rng.shuffle(picked)
    with np.errstate(invalid="ignore", over="ignore"):
        return picked.reshape(shape).astype(np_dtype)


def _shapes_label(shapes: list[tuple[int, ...]]) -> str:
    return " & ".join("x".join(map(str, s)) if s else "scalar" for s in shapes)


def _unary(params: Mapping[str, Any], dtype: str, rng: np.random.Generator) -> list[SampleInput]:
    domain = params.get("domain", "real")
    kwargs = dict(params.get("kwargs", {}))
    shapes = [((4, 33), "2-D 4x33", False), ((), "0-d scalar", False), ((0, 5), "empty 0x5", True),
              ((1025,), "odd length 1025", True), ((1,), "one element", True), ((7,), "length 7", True)]
    samples = [SampleInput((make_tensor(s, dtype, rng, domain),), kwargs, label, full_only)
               for s, label, full_only in shapes]
    samples.append(SampleInput((special_values(dtype, (3, 13), rng),), kwargs, "special values 3x13", True))
    samples.append(SampleInput((make_tensor((9, 33), dtype, rng, domain),), kwargs, "non-contiguous 9x33 (column-major)", True,
                               layout="transposed"))
    return samples


def _binary(params: Mapping[str, Any], dtype: str, rng: np.random.Generator) -> list[SampleInput]:
    lhs, rhs = params.get("lhs", "real"), params.get("rhs", "real")
    kwargs = dict(params.get("kwargs", {}))
    pairs = [(((4, 33), (4, 33)), "same shape 4x33", False),
             (((4, 1), (1, 33)), "broadcast 4x1 & 1x33", False),
             (((), (9,)), "0-d & 9", True),
             (((0, 3), (3,)), "empty 0x3 & 3", True),
             (((1, 7), (9, 1)), "size-1 dims 1x7 & 9x1", True),
             (((1025,), (1025,)), "odd length 1025", True)]
    samples = [SampleInput((make_tensor(a, dtype, rng, lhs), make_tensor(b, dtype, rng, rhs)), kwargs, label, full_only)
               for (a, b), label, full_only in pairs]
    # Edge values on the left only: the right keeps its domain (a zero divisor is a separate question).
    samples.append(SampleInput((special_values(dtype, (3, 13), rng), make_tensor((3, 13), dtype, rng, rhs)), kwargs,
                               "special values 3x13 (lhs)", True))
    samples.append(SampleInput((make_tensor((9, 33), dtype, rng, lhs), make_tensor((9, 33), dtype, rng, rhs)), kwargs,
                               "non-contiguous 9x33 (column-major)", True, layout="transposed"))
    return samples


def _reduction(params: Mapping[str, Any], dtype: str, rng: np.random.Generator) -> list[SampleInput]:
    domain = params.get("domain", "real")
    shape = tuple(params.get("shape", (4, 5, 6)))
    cases = params.get("cases", DEFAULT_REDUCTION_CASES)
    out = []
    for kwargs in cases:
        label = f"{_shapes_label([shape])} " + (", ".join(f"{k}={v}" for k, v in kwargs.items()) or "all dims")
        out.append(SampleInput((make_tensor(shape, dtype, rng, domain),), dict(kwargs), label))
    if "shape" not in params:  # a declared shape may be the only one the op takes
        last = dict(cases[-1])
        if "dim" in last:
            last["dim"] = -1
        out.append(SampleInput((make_tensor((3, 4099), dtype, rng, domain),), last, "large 3x4099 over the last dim",
                               True))
        out.append(SampleInput((make_tensor((4, 1, 6), dtype, rng, domain),), dict(cases[0]), "size-1 dim 4x1x6",
                               True))
    return out


def _tensors(params: Mapping[str, Any], dtype: str, rng: np.random.Generator) -> list[SampleInput]:
    """Fully declared samples: each case lists its inputs (a shape, or a table with shape, dtype, domain, low, high,
    or with ``values``: the tensor's elements as a nested list, for inputs whose content matters, such as strings)."""
    out = []
    for case in params["cases"]:
        args, shapes = [], []
        for spec in case["inputs"]:
            spec = {"shape": spec} if isinstance(spec, list) else spec
            in_dtype = spec.get("dtype", dtype)
            if in_dtype == "same_kind":
                in_dtype = dtype
            if "values" in spec:
                args.append(np.asarray(spec["values"], dtype=numpy_dtype(in_dtype)))
                shapes.append(args[-1].shape)
                continue
            shape = tuple(spec["shape"])
            shapes.append(shape)
            args.append(make_tensor(shape, in_dtype, rng, spec.get("domain", case.get("domain", "real")),
                                    spec.get("low"), spec.get("high")))
        label = case.get("label") or _shapes_label(shapes)
        out.append(SampleInput(tuple(args), dict(case.get("kwargs", {})), label, bool(case.get("full_only", False))))
    return out


WORLD_SIZES = (2, 4)


def _collective(params: Mapping[str, Any], dtype: str, rng: np.random.Generator) -> list[SampleInput]:
    """One sample per world size: every rank's input stacked on a leading axis of that size (inputs that differ by
    rank), and ``world_size`` among the keyword arguments. The reference maps the stack to every rank's result."""
    shape = tuple(params.get("shape", (4, 6)))
    domain = params.get("domain", "real")
    kwargs = dict(params.get("kwargs", {}))
    return [SampleInput((make_tensor((world,) + shape, dtype, rng, domain),), {**kwargs, "world_size": world},
                        f"world size {world}, {_shapes_label([shape])} per rank")
            for world in params.get("world_sizes", WORLD_SIZES)]


@dataclass(frozen=True)
class Family:
    name: str
    generate: Callable[[Mapping[str, Any], str, np.random.Generator], list[SampleInput]]
    params: frozenset[str]
    arity: int | None  # positional inputs of every sample; None: each case declares its own


FAMILIES: dict[str, Family] = {
    "unary": Family("unary", _unary, frozenset({"domain", "kwargs"}), 1),
    "binary": Family("binary", _binary, frozenset({"lhs", "rhs", "kwargs"}), 2),
    "reduction": Family("reduction", _reduction, frozenset({"domain", "shape", "cases"}), 1),
    "tensors": Family("tensors", _tensors, frozenset({"cases"}), None),
    "collective": Family("collective", _collective, frozenset({"shape", "domain", "kwargs", "world_sizes"}), 1),
}


def call_signatures(family: Family, params: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """Each (positional count, keyword arguments) a family's samples can call a binding with, for load-time checks."""
    if family.arity is None:
        return [(len(c["inputs"]), dict(c.get("kwargs", {}))) for c in params["cases"]]
    if "cases" in params or family.name == "reduction":
        return [(family.arity, dict(c)) for c in params.get("cases", DEFAULT_REDUCTION_CASES)]
    if family.name == "collective":
        return [(family.arity, {**params.get("kwargs", {}), "world_size": 2})]
    return [(family.arity, dict(params.get("kwargs", {})))]


def seed_for(op: str, dtype: str, seed: int) -> int:
    return zlib.crc32(f"{op}/{dtype}/{seed}".encode())


# Precision probes: a float64 sample whose result differs when computed in float32, and an int64 sample whose
# values do not fit in int32, so that a backend computing in the next lower precision never passes (OpenVINO's CPU
# plugin runs f64 as f32 and i64 as i32; IREE demotes f64 to f32); a uint16/32/64 sample whose values do not fit
# the signed type of their width (nor, for uint64, float64).
PROBE_STEP = 2.0 ** -40  # a relative offset far above float64's resolution (2^-52), far below float32's (2^-24)
PROBE_TINY = 1e-50  # a normal float64 that float32 flushes to zero
NO_TWINS = frozenset({"linalg"})
# int64 offsets by multiples of these leave int32's range; the first whose result fits in int64 is used, since
# what an integer overflow gives is the implementation's choice (NumPy and torch wrap, ONNX Runtime's Pow saturates).
PROBE_INT_SPANS = (2 ** 32, 2 ** 31)
# Result rules under which int64 values beyond int32 keep their meaning (no float conversion, no sizes).
_WIDE_INT_RESULTS = frozenset({"same", "real", "accumulate", "bool", "index", "int64", "float64", "float32",
                               "float16", "bfloat16", "complex128", "complex64"})
# The same for unsigned values past their signed range (2^63 and up for uint64): not int64 (which they leave),
# nor float16 (whose range they leave; converting them there is undefined in C).
_WIDE_UNSIGNED_RESULTS = frozenset({"same", "real", "accumulate", "bool", "index", "float64", "float32",
                                    "bfloat16"})


def _twins(values: np.ndarray) -> np.ndarray:
    """Each value copied to its neighbour along every axis (x[i, j] = drawn[2(i//2), 2(j//2)]): with the distinct
    offsets below, every value has a near-twin in every slice, which float32 makes a tie, so argmax, sort, unique
    and max-pool indices see what float64 keeps apart."""
    index = tuple(np.arange(n) // 2 * 2 for n in values.shape)
    return values[np.ix_(*index)] if values.ndim else values


def _probe_float(values: np.ndarray, rng: np.random.Generator, twins: bool = False,
                 grid: np.ndarray | None = None) -> np.ndarray:
    """Half the values moved a hair (2^-40, relative) off the nearest half-integer (or point of ``grid``), and,
    where the values span zero, a few tiny ones: float32 rounds the first onto the half-integer and flushes the
    second to zero, so floor, round, sign, comparisons and cancelling sums see what float64 keeps apart. A moved
    value must stay inside the span of the drawn values, by sign and magnitude, so the sample keeps the op's
    domain. With ``twins``, values come in near-equal pairs along every axis, all apart by distinct offsets of about
    2^-40."""
    if values.size == 0:
        return values
    flat = (_twins(values) if twins else values).astype(np.float64).ravel().copy()
    if grid is None:
        snapped = np.round(flat * 2) / 2
    else:
        right = np.clip(np.searchsorted(grid, flat), 1, grid.size - 1)
        snapped = np.where(flat - grid[right - 1] < grid[right] - flat, grid[right - 1], grid[right])
    # Offsets of 2^-40 times (1 + a distinct fraction): no two moved values tie, so sorts and argmax stay defined.
    scale = PROBE_STEP * (1 + rng.permutation(flat.size) / flat.size) * np.maximum(1.0, np.abs(snapped))
    moved = snapped + rng.choice(np.array([-1.0, 1.0]), size=flat.size) * scale
    mag, low, high = np.abs(flat), flat.min(), flat.max()
    inside = ((moved >= low) & (moved <= high) & (np.abs(moved) >= mag.min()) & (np.abs(moved) <= mag.max())
              & (np.sign(moved) == np.sign(flat)))
    pick = inside & (rng.random(flat.size) < 0.5)
    flat[pick] = moved[pick]
    if twins:  # apart by distinct relative offsets, so no two values tie in float64
        unmoved = ~pick
        flat[unmoved] *= 1 + rng.choice(np.array([-1.0, 1.0]), size=int(unmoved.sum())) * PROBE_STEP * (
            1 + rng.permutation(int(unmoved.sum())) / max(1, int(unmoved.sum())))
    if low < 0 < high and mag.min() < 0.1 and flat.size >= 4:
        spots = rng.choice(flat.size, size=max(1, flat.size // 16), replace=False)
        flat[spots] = np.sign(flat[spots]) * PROBE_TINY * (1 + np.arange(spots.size) / spots.size)
    return flat.reshape(values.shape)


def _probe_pairs(first: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A second operand equal to the first up to a relative 2^-40 on a quarter of its elements (where that stays
    in its own span): float32 makes the pair equal, so comparisons, maximum, subtraction tell the precisions apart."""
    flat, base = other.ravel().copy(), first.ravel()
    near = base * (1 + rng.choice(np.array([-1.0, 1.0]), size=flat.size) * PROBE_STEP)
    pick = (near >= flat.min()) & (near <= flat.max()) & (np.sign(near) == np.sign(flat)) & (rng.random(flat.size) < 0.25)
    flat[pick] = near[pick]
    return flat.reshape(other.shape)


def _probe_wide(values: np.ndarray, rng: np.random.Generator, span: int) -> np.ndarray:
    """Half the values offset by a random multiple of ``span`` (1..255 of 2^32, or one 2^31): they need int64, and
    wrapped to int32 they land elsewhere, so an int32 computation gives another answer."""
    most = 256 if span == 2 ** 32 else 2
    offsets = rng.integers(1, most, size=values.shape) * rng.choice(np.array([-1, 1]), size=values.shape)
    draw = rng.random(values.shape)
    base = np.where(draw < 0.1, 0, values.astype(np.int64))  # some wrap to exactly zero: logical ops see them
    return np.where(draw < 0.5, base + offsets * span, values).astype(values.dtype)


def _probe_unsigned(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half the values raised past the signed range of their width, to 2^(bits-1) + k*2^(bits/2) + the drawn value
    (k from 1 to 255, or 127 for uint16, so they still fit): read as signed they are negative, and a uint64 one is
    past 2^53, where float64 drops the drawn value, so a backend computing them in int64 or float64 answers
    otherwise (and so would a comparison that went through float64)."""
    bits = 8 * values.dtype.itemsize
    k = rng.integers(1, min(256, 2 ** (bits // 2 - 1)), size=values.shape).astype(np.uint64)
    wide = values.astype(np.uint64) + np.uint64(2 ** (bits - 1)) + k * np.uint64(2 ** (bits // 2))
    return np.where(rng.random(values.shape) < 0.5, wide, values).astype(values.dtype)


def _overflows(spec: OpSpec, args: list[np.ndarray], kwargs: Mapping[str, Any], low: float = -2.0 ** 63,
               high: float = 2.0 ** 63) -> bool:
    """Whether the op's result on these integers leaves [low, high), by default int64's range: the reference
    evaluated in float64 (exact enough to see magnitudes) reaches past it. A reference that takes no floats
    (bitwise ops) cannot overflow so."""
    try:
        with np.errstate(all="ignore"):
            result = spec.reference.resolve()(*[a.astype(np.float64) for a in args], **spec.reference.rename(kwargs))
        outputs = [np.asarray(o) for o in (result if isinstance(result, (tuple, list)) else (result,))]
        parts = [p.astype(np.float64) for o in outputs for p in ((o.real, o.imag) if np.iscomplexobj(o) else (o,))]
        return any(np.any((p < low) | (p >= high)) for p in parts)
    except Exception:
        return False


def _probe_inputs(spec: OpSpec) -> list[str]:
    """Which inputs of the op's first sample may take probe values: "any" for data inputs, "float" for inputs
    whose values are held to a declared range (a float stays inside it; an integer there may be an index or a
    count), "" for inputs of another dtype than the case's."""
    params, family = spec.samples.params, spec.samples.family
    if family != "tensors":
        return ["any"] * (family.arity if (family := FAMILIES[family]).arity else 0)
    case = params["cases"][0]
    out = []
    for item in case["inputs"]:
        item = {"shape": item} if isinstance(item, list) else item
        if item.get("dtype", "same_kind") != "same_kind":
            out.append("")
        else:
            out.append("float" if "low" in item or "high" in item else "any")
    return out


def precision_probe(spec: OpSpec, dtype: str, first: SampleInput, rng: np.random.Generator) -> SampleInput | None:
    """The precision probe of an op's float64, int64 or wide unsigned samples: its first sample with probe values,
    or None where the op's inputs leave no room for them."""
    kinds = _probe_inputs(spec) + [""] * len(first.args)
    args = list(first.args)
    if dtype == "float64":
        # A result in a low-bit float (a cast to float8, say): values just off the midpoints between its values,
        # which a conversion through float32 lands on and rounds to even, the wrong way half the time.
        narrow = spec.result_dtype[0] if spec.result_dtype[0] in LOW_BIT_FLOATS else None
        grid = None if narrow is None else _midpoints(narrow)
        free = [i for i, a in enumerate(args) if a.dtype == np.float64 and kinds[i]]
        for i in free:  # twins only among data: not in declared ranges (targets of exactly +-1), nor in matrices
            # whose inverse or factors the op computes (near-equal rows would make them near-singular)
            args[i] = _probe_float(args[i], rng, twins=kinds[i] == "any" and spec.category not in NO_TWINS, grid=grid)
        data = [i for i in free if kinds[i] == "any"]  # a declared range (targets of +-1, say) is kept as it is
        for i in data[1:]:
            if args[i].shape == args[data[0]].shape:
                args[i] = _probe_pairs(args[data[0]], args[i], rng)
        label = (f"precision probe: values 2^-40 off {narrow}'s rounding midpoints, tiny 1e-50" if narrow else
                 "precision probe: values 2^-40 off half-integers, tiny 1e-50")
    elif dtype == "int64" and set(spec.result_dtype) <= _WIDE_INT_RESULTS:
        free = [i for i, a in enumerate(args) if a.dtype == np.int64 and kinds[i] == "any"]
        # The widest values whose result still fits in int64: every free input, else the first one alone (a
        # product of two wide operands would overflow, of a wide and a small one does not).
        for wide, span in [(w, span) for w in (free, free[:1]) for span in PROBE_INT_SPANS]:
            args = list(first.args)
            for i in wide:
                args[i] = _probe_wide(first.args[i], rng, span)
            if not _overflows(spec, args, first.kwargs):
                break
        else:
            return None
        label = f"precision probe: int64 values beyond int32 (offsets of k*2^{int(np.log2(span))})"
    elif dtype in WIDE_UNSIGNED and set(spec.result_dtype) <= _WIDE_UNSIGNED_RESULTS:
        free = [i for i, a in enumerate(args) if a.dtype == numpy_dtype(dtype) and kinds[i] == "any"]
        bits = 8 * numpy_dtype(dtype).itemsize
        for wide in (free, free[:1]):  # every free input, else the first alone (as for int64)
            args = list(first.args)
            for i in wide:
                args[i] = _probe_unsigned(first.args[i], rng)
            # Below zero is no overflow: unsigned differences wrap modulo 2^bits everywhere, as the drawn ones do.
            if not _overflows(spec, args, first.kwargs, -2.0 ** bits, 2.0 ** bits):
                break
        else:
            return None
        label = f"precision probe: {dtype} values past int{bits} (2^{bits - 1} + k*2^{bits // 2} + drawn)"
    else:
        return None
    if all(a is b for a, b in zip(args, first.args)):
        return None
    return SampleInput(tuple(args), first.kwargs, label)


def generate(spec: OpSpec, dtype: str, seed: int, mode: str = "quick") -> list[Sample]:
    """The samples of one op in one dtype; the same (op, dtype, seed, mode) always gives the same arrays."""
    family = FAMILIES[spec.samples.family]
    op_seed = seed_for(spec.name, dtype, seed)
    rng = np.random.default_rng(op_seed)
    inputs = family.generate(spec.samples.params, dtype, rng)
    probe = precision_probe(spec, dtype, inputs[0], rng) if inputs else None
    if probe is not None:  # last, so the other samples keep their ids
        inputs.append(probe)
    samples = []
    for index, item in enumerate(inputs):
        if item.full_only and mode != "full":
            continue
        samples.append(Sample(spec.name, dtype, index, tuple(item.args), dict(item.kwargs), item.label, op_seed,
                              item.layout))
    return samples


def describe_arrays(arrays: tuple[np.ndarray, ...]) -> str:
    return ", ".join(f"{dtype_name(a.dtype)}{list(a.shape)}" for a in arrays)
