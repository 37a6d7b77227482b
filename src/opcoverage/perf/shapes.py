"""Perf stage, shapes: the cache size to beat, and how an op's first sample is scaled up to a perf shape.

The small perf shape is the op's first sample as declared (dispatch-bound latency). The large one scales that
sample by an integer factor until its working set is a multiple of the last-level cache, so memory-bound ops
stream from DRAM. How a sample may be scaled depends on where its shapes come from:

- ``unary``, ``binary`` and ``reduction`` samples are generic shapes: every dim larger than 1 is scaled (size-1
  dims stay, so broadcasting still holds) and keyword arguments such as ``dim`` keep their meaning;
- ``tensors`` samples declare their inputs by hand, so they are scaled only for categories whose inputs relate
  by equal dims (elementwise, reductions, products: ``uniform``) or carry a batch in dim 0 of the first input
  and parameters elsewhere (convolution, pooling, normalization: ``batch``). Other categories (shapes, indexing,
  creation, ...) carry sizes in keyword arguments or index ranges, so they are timed at the declared sample only.

Scaled inputs repeat the declared sample's values, so value domains and index ranges stay valid.
"""

from __future__ import annotations

import functools
import glob
import math
import os
from dataclasses import dataclass

import numpy as np

from opcoverage.backends.base import as_output_tuple
from opcoverage.catalog.dtypes import reference_input
from opcoverage.catalog.spec import OpSpec
from opcoverage.types import Sample

DEFAULT_LLC_BYTES = 32 * 2**20
GENERIC_FAMILIES = frozenset({"unary", "binary", "reduction"})
# Losses are left out on purpose: some (nll_loss) read one element per row, which the cost model cannot tell.
UNIFORM_CATEGORIES = frozenset({"elementwise_unary", "elementwise_binary", "activation", "cast", "comparison",
                                "logical", "bitwise", "special", "complex", "reduction", "scan", "sort", "linalg"})
BATCH_CATEGORIES = frozenset({"convolution", "pooling", "normalization"})


@functools.lru_cache(maxsize=None)
def llc_bytes() -> int:
    """The largest CPU cache (sysfs on Linux; OPCOV_LLC_BYTES overrides; 32 MiB when neither says)."""
    override = os.environ.get("OPCOV_LLC_BYTES", "")
    if override.isdigit():
        return int(override)
    sizes = []
    for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            text = open(path, encoding="ascii").read().strip().upper()
        except OSError:
            continue
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        if text and text[-1] in units and text[:-1].isdigit():
            sizes.append(int(text[:-1]) * units[text[-1]])
        elif text.isdigit():
            sizes.append(int(text))
    return max(sizes, default=DEFAULT_LLC_BYTES)


@dataclass(frozen=True)
class ScalePlan:
    """How the first sample grows: ``uniform``, ``batch``, or None (timed as declared, for ``reason``)."""

    mode: str | None
    reason: str = ""


def scale_plan(spec: OpSpec) -> ScalePlan:
    """Generic sample families scale uniformly; hand-declared ones by category (see the module docstring)."""
    if spec.samples.family in GENERIC_FAMILIES:
        return ScalePlan("uniform")
    if spec.category in UNIFORM_CATEGORIES:
        return ScalePlan("uniform")
    if spec.category in BATCH_CATEGORIES:
        return ScalePlan("batch")
    return ScalePlan(None, f"declared sample only: a {spec.category} op's declared inputs carry sizes in keyword "
                           "arguments or index ranges, so scaling them could change what the op computes")


def scaled_shape(shape: tuple[int, ...], factor: int, mode: str, first: bool) -> tuple[int, ...]:
    if mode == "batch":
        return (shape[0] * factor, *shape[1:]) if first and shape else shape
    return tuple(d * factor if d > 1 else d for d in shape)


def scale_sample(sample: Sample, factor: int, mode: str) -> Sample:
    """The sample with every input grown by ``factor`` (see the module docstring), values repeated cyclically."""
    args = tuple(tile(a, scaled_shape(a.shape, factor, mode, i == 0)) for i, a in enumerate(sample.args))
    return Sample(sample.op, sample.dtype, sample.index, args, sample.kwargs, f"{sample.label} scaled x{factor}",
                  sample.seed, "contiguous")


MIXED_DTYPES = "inputs of mixed dtypes, whose order may differ between the framework call and the catalog binding"


def retile(sample: Sample, inputs: tuple[tuple[int, ...], ...], label: str) -> tuple[Sample | None, str]:
    """The sample with its inputs re-tiled to ``inputs`` (a model's call of the op), or None and why: only when the
    sample has as many inputs as the call, all of one dtype (with mixed dtypes, embedding's weight and indices, the
    framework call and the catalog binding may order them differently). Whether the op accepts the new shapes with
    the sample's keyword arguments is for the run to say."""
    if len(sample.args) != len(inputs):
        return None, f"the catalog sample has {len(sample.args)} inputs, the call {len(inputs)}"
    if len({a.dtype for a in sample.args}) > 1:
        return None, MIXED_DTYPES
    args = tuple(tile(a, tuple(s)) for a, s in zip(sample.args, inputs))
    return Sample(sample.op, sample.dtype, sample.index, args, sample.kwargs, label, sample.seed, "contiguous"), ""


def tile(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An array of ``shape`` filled with ``array``'s values, repeated in order."""
    if shape == array.shape:
        return array
    out = np.empty(shape, dtype=array.dtype)
    flat, values = out.reshape(-1), np.ascontiguousarray(array).reshape(-1)
    if flat.size == 0 or values.size == 0:
        return out
    filled = min(values.size, flat.size)
    flat[:filled] = values[:filled]
    while filled < flat.size:  # doubling copies: a few memcpy passes instead of one Python step per repeat
        step = min(filled, flat.size - filled)
        flat[filled:filled + step] = flat[:step]
        filled += step
    return out


def grid_floor(value: float) -> int:
    """Round a scale factor down onto 2^(k/4): targets that land on the same factor time identical shapes."""
    if value < 2:
        return 1
    k = math.floor(4 * math.log2(min(value, 2.0 ** 40)) + 1e-9)  # an unbounded limit (inf) is no limit
    return max(2, int(2 ** (k / 4)))


def grid_ceil(value: float) -> int:
    """Round a scale factor up onto the same grid as grid_floor."""
    floor = grid_floor(value)
    if floor >= value:
        return floor
    k = math.floor(4 * math.log2(max(floor, 1)) + 1e-9) + 1
    while int(2 ** (k / 4)) < value:
        k += 1
    return max(2, int(2 ** (k / 4)))


def input_exponent(sample: Sample, mode: str) -> int:
    """How fast the largest input grows with the factor: the count of its dims that scale."""
    if mode == "batch":
        return 1 if sample.args and sample.args[0].ndim else 0
    return max((sum(1 for d in a.shape if d > 1) for a in sample.args), default=0)


def growth_exponent(spec: OpSpec, sample: Sample, mode: str, output_itemsizes: list[int]) -> float:
    """How bytes (inputs + outputs) grow with the factor: ``bytes(f) ~ bytes(1) * f**exponent``.

    Read from the op's NumPy reference at x1 and x2 (tiny, so cheap), whose output shapes are the backend's (the
    case passed); output sizes use the backend's own itemsizes. An op whose output outgrows its inputs (outer,
    kron) is therefore known before anything large is allocated. Raises when the reference rejects the scaled
    inputs: they are then not a valid sample of the op.
    """
    reference, kwargs = spec.reference.resolve(), spec.reference.rename(sample.kwargs)

    def total_bytes(factor: int) -> int:
        scaled = scale_sample(sample, factor, mode) if factor > 1 else sample
        with np.errstate(all="ignore"):
            outputs = as_output_tuple(reference(*[reference_input(a) for a in scaled.args], **kwargs))
        itemsizes = output_itemsizes + [8] * (len(outputs) - len(output_itemsizes))
        return sum(a.nbytes for a in scaled.args) + sum(np.size(o) * i for o, i in zip(outputs, itemsizes))

    once, twice = total_bytes(1), total_bytes(2)
    return max(math.log2(twice / once), 0.25) if once and twice > once else 0.0
