"""Sample generation: named families turn an OpSpec's sample parameters and a dtype into Samples."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import ml_dtypes
import numpy as np

from opcoverage.catalog.dtypes import dtype_name, is_floating, numpy_dtype
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
    """A random array of a catalog dtype whose values lie in ``domain`` (or in [low, high])."""
    if domain not in _FLOAT_DOMAINS:
        raise KeyError(domain)
    shape = tuple(int(s) for s in shape)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if is_floating(dtype):
        lo, hi = _FLOAT_DOMAINS[domain]
        lo = lo if low is None else low
        hi = hi if high is None else high
        values = rng.uniform(lo, hi, size=shape)
    else:
        lo, hi = _INT_DOMAINS[domain]
        lo = lo if low is None else int(low)
        hi = hi if high is None else int(high)
        info = np.iinfo(numpy_dtype(dtype))
        lo, hi = max(lo, int(info.min)), min(hi, int(info.max))
        values = rng.integers(lo, hi, size=shape, endpoint=True)
    if domain == "nonzero" and dtype != "uint8":
        values = values * rng.choice(np.array([-1, 1]), size=shape)
    return np.asarray(values).astype(numpy_dtype(dtype))


def special_values(dtype: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Edge values of a dtype, tiled over ``shape`` in a shuffled order: NaN, +-inf, -0.0, the largest finite
    and smallest normal and subnormal numbers for floats; min, max, 0, +-1 and their neighbours for integers."""
    np_dtype = numpy_dtype(dtype)
    if dtype == "bool":
        values = np.array([True, False])
    elif is_floating(dtype):
        info = ml_dtypes.finfo(np_dtype)  # NumPy's finfo does not know bfloat16
        values = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 0.5, -2.5, float(info.max),
                           -float(info.max), float(info.tiny), float(info.smallest_subnormal)], dtype=np.float64)
    else:
        info = np.iinfo(np_dtype)
        candidates = {int(info.min), int(info.min) + 1, -1, 0, 1, int(info.max) - 1, int(info.max)}
        values = np.array(sorted(v for v in candidates if info.min <= v <= info.max))
    count = int(np.prod(shape)) if shape else 1
    picked = np.resize(values, count)
    rng.shuffle(picked)
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
    """Fully declared samples: each case lists its inputs (a shape, or a table with shape, dtype, domain, low, high)."""
    out = []
    for case in params["cases"]:
        args, shapes = [], []
        for spec in case["inputs"]:
            spec = {"shape": spec} if isinstance(spec, list) else spec
            in_dtype = spec.get("dtype", dtype)
            if in_dtype == "same_kind":
                in_dtype = dtype
            shape = tuple(spec["shape"])
            shapes.append(shape)
            args.append(make_tensor(shape, in_dtype, rng, spec.get("domain", case.get("domain", "real")),
                                    spec.get("low"), spec.get("high")))
        label = case.get("label") or _shapes_label(shapes)
        out.append(SampleInput(tuple(args), dict(case.get("kwargs", {})), label, bool(case.get("full_only", False))))
    return out


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
}


def call_signatures(family: Family, params: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """Each (positional count, keyword arguments) a family's samples can call a binding with, for load-time checks."""
    if family.arity is None:
        return [(len(c["inputs"]), dict(c.get("kwargs", {}))) for c in params["cases"]]
    if "cases" in params or family.name == "reduction":
        return [(family.arity, dict(c)) for c in params.get("cases", DEFAULT_REDUCTION_CASES)]
    return [(family.arity, dict(params.get("kwargs", {})))]


def seed_for(op: str, dtype: str, seed: int) -> int:
    return zlib.crc32(f"{op}/{dtype}/{seed}".encode())


def generate(spec: OpSpec, dtype: str, seed: int, mode: str = "quick") -> list[Sample]:
    """The samples of one op in one dtype; the same (op, dtype, seed, mode) always gives the same arrays."""
    family = FAMILIES[spec.samples.family]
    op_seed = seed_for(spec.name, dtype, seed)
    inputs = family.generate(spec.samples.params, dtype, np.random.default_rng(op_seed))
    samples = []
    for index, item in enumerate(inputs):
        if item.full_only and mode != "full":
            continue
        samples.append(Sample(spec.name, dtype, index, tuple(item.args), dict(item.kwargs), item.label, op_seed,
                              item.layout))
    return samples


def describe_arrays(arrays: tuple[np.ndarray, ...]) -> str:
    return ", ".join(f"{dtype_name(a.dtype)}{list(a.shape)}" for a in arrays)
