"""Modes, grad: the framework-neutral gradient oracle (JAX's check_vjp, torch gradcheck's fast mode).

For a random tangent u (one per differentiable input, float64) and cotangent v (one per floating output, in the
case's dtype), a backend returns J^T v; the oracle compares <J^T v, u> with <v, J u>, where J u comes from central
differences of the float64 reference along u (Richardson-extrapolated from steps h and h/2). Both sides are scaled by
the sum of the absolute terms of their inner products, so a sum that cancels to about zero does not inflate the
error. Where the two steps disagree the reference is not smooth there (a kink, a tie, a jump): the sample cannot
judge a gradient and the case is skipped with that reason, whatever the backend returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from opcoverage.catalog.dtypes import dtype_name, is_floating, numpy_dtype
from opcoverage.catalog.spec import OpSpec
from opcoverage.compare import Comparison
from opcoverage.types import Sample, Status

GRAD_DTYPES = ("float64", "float32", "float16", "bfloat16")
# Categories whose ops have no gradient to check unless the catalog names differentiable inputs (``grad = [...]``):
# their outputs are booleans, integers, bits or draws.
NOT_DIFFERENTIABLE = ("comparison", "logical", "bitwise", "random", "collective")
# Relative error of the projection check, per dtype, from measured spread: `python benchmarks/grad_spread.py` runs
# every grad case of the catalog on torch:cpu and jax:cpu and prints the distribution. See that script's docstring
# for the figures each bound sits above.
GRAD_TOLERANCES = {"float64": 1e-6, "float32": 1e-3, "float16": 2e-2, "bfloat16": 1e-1}
STEP = 1e-6  # times max(1, |x|max): central differences of float64 then carry ~1e-10 of rounding
KINK = 1e-4  # a relative change of <v, J u> between steps h and h/2 past this means the reference is not smooth


@dataclass(frozen=True)
class GradRequest:
    """What a backend needs to return J^T v: which positional inputs to differentiate (``wrt``), which outputs
    receive cotangents, and the cotangents v; ``tangents`` (u) stay on the oracle's side."""

    wrt: tuple[int, ...]
    outputs: tuple[int, ...]
    cotangents: tuple[np.ndarray, ...]
    tangents: tuple[np.ndarray, ...]


def differentiable_inputs(spec: OpSpec, sample: Sample) -> tuple[int, ...]:
    """The positional inputs the gradient is taken of: the catalog's ``grad`` list where it has one, else every
    real floating input, leaving out empty ones (nothing to differentiate)."""
    candidates = spec.grad if spec.grad is not None else range(len(sample.args))
    return tuple(i for i in candidates if i < len(sample.args) and sample.args[i].size
                 and is_floating(dtype_name(sample.args[i].dtype)) and sample.args[i].dtype.kind != "c")


def applies(spec: OpSpec, dtype: str, sample: Sample) -> bool:
    """Whether a grad case is planned for this sample: a real floating dtype, an op with differentiable inputs,
    and finite inputs (the special-value and precision-probe samples test forward edge cases, not gradients)."""
    if dtype not in GRAD_DTYPES or spec.grad == () or (spec.grad is None and spec.category in NOT_DIFFERENTIABLE):
        return False
    if sample.label.startswith("precision probe"):
        return False
    wrt = differentiable_inputs(spec, sample)
    return bool(wrt) and all(np.isfinite(sample.args[i].astype(np.float64)).all() for i in wrt)


def request(spec: OpSpec, sample: Sample, expected: tuple[np.ndarray, ...]) -> GradRequest | None:
    """Random u and v for a sample, the same on every target (seeded by the sample); None when no output is real
    floating (an op whose outputs are indices has no gradient)."""
    rng = np.random.default_rng([sample.seed, sample.index, 0x67726164])
    outputs = tuple(j for j, out in enumerate(expected) if out.dtype.kind == "f" and out.size)
    if not outputs:
        return None
    cast = numpy_dtype(sample.dtype)
    cotangents = tuple(rng.standard_normal(expected[j].shape).astype(cast) for j in outputs)
    wrt = differentiable_inputs(spec, sample)
    tangents = tuple(rng.standard_normal(sample.args[i].shape) for i in wrt)
    return GradRequest(wrt, outputs, cotangents, tangents)


def check(spec: OpSpec, sample: Sample, req: GradRequest, got: tuple[np.ndarray, ...],
          reference: Callable[..., tuple[np.ndarray, ...]]) -> Comparison:
    """The backend's J^T v (one array per ``req.wrt``) against the reference's directional derivative."""
    if len(got) != len(req.wrt):
        return Comparison(Status.MISMATCH, f"returned {len(got)} input gradients for {len(req.wrt)} inputs")
    for i, g, u in zip(req.wrt, got, req.tangents):
        if g.shape != u.shape:
            return Comparison(Status.MISMATCH, f"the gradient of input {i} has shape {list(g.shape)}, "
                                               f"expected {list(u.shape)}")
    terms = [np.asarray(g, np.float64) * u for g, u in zip(got, req.tangents)]
    if not all(np.isfinite(t).all() for t in terms):
        return Comparison(Status.MISMATCH, "the input gradient is not finite")
    vjp_u = float(sum(t.sum() for t in terms))
    vjp_scale = float(sum(np.abs(t).sum() for t in terms))
    jvp, jvp_scale, kink = directional(spec, sample, req, reference)
    scale = max(vjp_scale, jvp_scale, np.finfo(np.float64).tiny)
    if kink > KINK:
        return Comparison(Status.SKIPPED, f"the float64 reference is not smooth at this sample (central differences "
                                          f"at h and h/2 differ by {kink:.2g} relative): it cannot judge a gradient")
    error = abs(vjp_u - jvp)
    relative = error / scale
    tolerance = GRAD_TOLERANCES[sample.dtype]
    if relative <= tolerance:
        return Comparison(Status.PASS, max_abs_err=error, max_rel_err=relative)
    return Comparison(Status.MISMATCH, f"<J^T v, u> = {vjp_u:.9g} but <v, J u> = {jvp:.9g} by central differences of "
                                       f"the float64 reference: relative error {relative:.3g} > {tolerance:g} "
                                       f"({sample.dtype} gradient tolerance)", error, relative)


def directional(spec: OpSpec, sample: Sample, req: GradRequest,
                reference: Callable[..., tuple[np.ndarray, ...]]) -> tuple[float, float, float]:
    """<v, J u> from the float64 reference, the sum of its absolute terms, and how far steps h and h/2 disagree."""
    base = [np.asarray(a, np.float64) if is_floating(dtype_name(a.dtype)) else a for a in sample.args]
    size = max(float(np.abs(base[i]).max()) for i in req.wrt)
    h = STEP * max(1.0, size)
    v = [np.asarray(c, np.float64) for c in req.cotangents]

    def derivative(step: float) -> list[np.ndarray]:
        def at(t: float) -> tuple[np.ndarray, ...]:
            args = list(base)
            for i, u in zip(req.wrt, req.tangents):
                args[i] = base[i] + t * u
            outs = reference(*args)
            return tuple(np.asarray(outs[j], np.float64) for j in req.outputs)

        plus, minus = at(step), at(-step)
        return [(p - m) / (2 * step) for p, m in zip(plus, minus)]

    coarse, fine = derivative(h), derivative(h / 2)
    extrapolated = [(4 * f - c) / 3 for f, c in zip(fine, coarse)]
    with np.errstate(all="ignore"):
        jvp = float(sum((vj * d).sum() for vj, d in zip(v, extrapolated)))
        scale = float(sum(np.abs(vj * d).sum() for vj, d in zip(v, extrapolated)))
        coarse_sum = float(sum((vj * d).sum() for vj, d in zip(v, coarse)))
        fine_sum = float(sum((vj * d).sum() for vj, d in zip(v, fine)))
    if not np.isfinite(jvp) or not np.isfinite(scale):
        return jvp, scale, float("inf")
    kink = abs(coarse_sum - fine_sum) / max(scale, np.finfo(np.float64).tiny)
    return jvp, scale, kink
