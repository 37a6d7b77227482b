"""Modes, grad: the framework-neutral gradient oracle (JAX's check_vjp, torch gradcheck's fast mode).

For a random tangent u (one per differentiable input, float64) and cotangent v (one per floating output, in the
case's dtype), a backend returns J^T v; the oracle compares <J^T v, u> with <v, J u>, where J u comes from central
differences of the float64 reference along u (Richardson-extrapolated from steps h and h/2). The error is relative to
the larger Euclidean norm of the two inner products' terms: a sum that cancels to about zero does not inflate it, and
unlike the sum of absolute terms it does not shrink with the number of terms, so a gradient 1% off shows as about 1%
(times |<J^T v, u>| / norm, a standard normal's size for random u and v) on a scalar and on a 4x33 sample alike.
Where the differences at two steps disagree the reference is not smooth there (a kink, a tie, a jump): the sample cannot
judge a gradient and the case is skipped with that reason, whatever the backend returned; so is a sample whose exact
derivative overflows the case's dtype (tan next to pi/2 in float16), where no backward can return a finite one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import ml_dtypes
import numpy as np

from opcoverage.catalog.dtypes import dtype_name, is_floating, numpy_dtype, reference_input
from opcoverage.catalog.spec import OpSpec
from opcoverage.compare import Comparison
from opcoverage.types import Sample, Status

GRAD_DTYPES = ("float64", "float32", "float16", "bfloat16")
# Categories whose ops have no gradient to check unless the catalog names differentiable inputs (``grad = [...]``):
# their outputs are booleans, integers, bits or draws, or (creation) built from shapes and keyword values alone.
NOT_DIFFERENTIABLE = ("comparison", "logical", "bitwise", "random", "collective", "creation")
# Relative error of the projection check, per dtype, from measured spread: `python benchmarks/grad_spread.py
# --targets torch:cpu,jax:cpu --jobs 2` (every grad case of the catalog, torch 2.13 and jax 0.10.2 on CPU) measured,
# over the cases judged right: float64 p99 4e-8, max 4e-8 (central-difference noise of the reference, not the
# backends); float32 p99 2.7e-5, max 6.6e-5 (special_erfcx); float16 p99 2.8e-3, max 1.2e-2 (jax softmax);
# bfloat16 p99 5.7e-2, max 7.5e-2 (torch grid_sampler_2d). Each bound sits above its widest right case (float64 25x,
# float32 4.5x, float16 1.7x, bfloat16 1.3x) and about 2 to 25 eps of the dtype above the p99. float64 and float32
# stay far below 1e-2: a gradient 1% off errs by 1e-2 |Z| (Z about standard normal for random u and v), caught
# unless |Z| < 0.03. The float16 and bfloat16 mismatches the run found (tanh, i0e, i1e: 3 to 90% off, where the
# derivative cancels in the low precision) sit past their bounds by more than the spread, and stay mismatches.
GRAD_TOLERANCES = {"float64": 1e-6, "float32": 3e-4, "float16": 2e-2, "bfloat16": 1e-1}
STEP = 1e-6  # times max(1, |x|max): central differences of float64 then carry ~1e-10 of rounding
KINK = 1e-4  # past this relative disagreement of the differences at steps h and h/2 the reference is not smooth


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
    a real floating output by the catalog's result_dtype, and finite inputs (the special-value and precision-probe
    samples test forward edge cases, not gradients)."""
    if dtype not in GRAD_DTYPES or spec.grad == () or (spec.grad is None and spec.category in NOT_DIFFERENTIABLE):
        return False
    if not any(_real_floating_rule(rule, dtype) for rule in spec.result_dtype):
        return False  # every output is an index, a count, a flag or bits: nothing to differentiate
    if sample.label.startswith("precision probe"):
        return False
    wrt = differentiable_inputs(spec, sample)
    return bool(wrt) and all(np.isfinite(sample.args[i].astype(np.float64)).all() for i in wrt)


def _real_floating_rule(rule: str, dtype: str) -> bool:
    """Whether an output with this result_dtype rule is real floating for a real floating input dtype."""
    if rule in ("same", "real", "accumulate", "float"):
        return True
    return rule in GRAD_DTYPES


def request(spec: OpSpec, sample: Sample, expected: tuple[np.ndarray, ...]) -> GradRequest | None:
    """Random u and v for a sample, the same on every target (seeded by the sample); None when no output is real
    floating (an op whose outputs are indices has no gradient)."""
    rng = np.random.default_rng([sample.seed, sample.index, 0x67726164])
    outputs = tuple(j for j, out in enumerate(expected) if _real_floating(out) and out.size
                    and (spec.grad_outputs is None or j in spec.grad_outputs))
    if not outputs:
        return None
    cast = numpy_dtype(sample.dtype)
    cotangents = tuple(rng.standard_normal(expected[j].shape).astype(cast) for j in outputs)
    wrt = differentiable_inputs(spec, sample)
    tangents = tuple(_symmetric(u) if i in spec.grad_symmetric else u
                     for i, u in zip(wrt, (rng.standard_normal(sample.args[i].shape) for i in wrt)))
    return GradRequest(wrt, outputs, cotangents, tangents)


def _real_floating(array: np.ndarray) -> bool:
    return is_floating(dtype_name(array.dtype)) and array.dtype.kind != "c"  # bfloat16's kind is V, not f


def _symmetric(u: np.ndarray) -> np.ndarray:
    """A tangent in the space of symmetric matrices (its last two axes), with the same scale as ``u``."""
    return (u + np.swapaxes(u, -1, -2)) / np.sqrt(2.0) if u.ndim >= 2 and u.shape[-1] == u.shape[-2] else u


def check(spec: OpSpec, sample: Sample, req: GradRequest, got: tuple[np.ndarray, ...],
          reference: Callable[..., tuple[np.ndarray, ...]], no_derivative: str | None = None) -> Comparison:
    """The backend's J^T v (one array per ``req.wrt``) against the reference's directional derivative.

    ``no_derivative`` is the backend's word that it recorded no derivative for the op (torch's output that does not
    require grad; ``got`` is then zeros): right where the reference is constant too, unsupported where it is not."""
    if len(got) != len(req.wrt):
        return Comparison(Status.MISMATCH, f"returned {len(got)} input gradients for {len(req.wrt)} inputs")
    for i, g, u in zip(req.wrt, got, req.tangents):
        if g.shape != u.shape:
            return Comparison(Status.MISMATCH, f"the gradient of input {i} has shape {list(g.shape)}, "
                                               f"expected {list(u.shape)}")
    # The reference first: a sample where it is not finite or not smooth judges no gradient, whatever came back.
    jvp, jvp_scale, kink = directional(spec, sample, req, reference)
    if not np.isfinite(kink) or kink > KINK:
        how = "not finite" if not np.isfinite(kink) else (f"not smooth (its differences at steps h and h/2 disagree "
                                                          f"by {kink:.2g} relative: a kink, a tie or a jump)")
        return Comparison(Status.SKIPPED, f"the float64 reference is {how} at this sample: it cannot judge a gradient")
    terms = [np.asarray(g, np.float64) * u for g, u in zip(got, req.tangents)]
    if not all(np.isfinite(t).all() for t in terms):
        if jvp_scale > float(ml_dtypes.finfo(numpy_dtype(sample.dtype)).max):
            return Comparison(Status.SKIPPED, f"the exact derivative is past the {sample.dtype} range at this sample "
                                              f"(|<v, J u>| terms sum to {jvp_scale:.3g}): it overflows in any "
                                              f"{sample.dtype} backward")
        return Comparison(Status.MISMATCH, "the input gradient is not finite")
    vjp_u = float(sum(t.sum() for t in terms))
    vjp_scale = _norm(terms)
    scale = max(vjp_scale, jvp_scale, np.finfo(np.float64).tiny)
    error = abs(vjp_u - jvp)
    relative = error / scale
    tolerance = GRAD_TOLERANCES[sample.dtype]
    if relative <= tolerance:
        return Comparison(Status.PASS, max_abs_err=error, max_rel_err=relative)
    if no_derivative:
        return Comparison(Status.UNSUPPORTED, f"{no_derivative}, but the float64 reference is not constant here "
                                              f"(<v, J u> = {jvp:.6g}): no derivative", error, relative)
    return Comparison(Status.MISMATCH, f"<J^T v, u> = {vjp_u:.9g} but <v, J u> = {jvp:.9g} by central differences of "
                                       f"the float64 reference: relative error {relative:.3g} > {tolerance:g} "
                                       f"({sample.dtype} gradient tolerance)", error, relative)


def directional(spec: OpSpec, sample: Sample, req: GradRequest,
                reference: Callable[..., tuple[np.ndarray, ...]]) -> tuple[float, float, float]:
    """<v, J u> from the float64 reference, the Euclidean norm of its terms, and how far the reference is from
    smooth along u, relative to that norm: the larger of

    - the disagreement of the central differences at steps h and h/2 (a jump, or a kink central differences feel);
    - the second-difference quotient q(t) = <v, f(x+tu) - 2f(x) + f(x-tu)> / t failing to halve from t = h to h/2:
      smooth, q(t) is about t <v, f'' u u> and halves; at a kink or a tie (max of two equal values, abs at 0),
      q(t) stays at the jump of the one-sided slopes, which central differences average away unseen."""
    base = [reference_input(a) for a in sample.args]
    size = max(float(np.abs(base[i]).max()) for i in req.wrt)
    h = STEP * max(1.0, size)
    v = [np.asarray(c, np.float64) for c in req.cotangents]

    def at(t: float) -> list[np.ndarray]:
        args = list(base)
        for i, u in zip(req.wrt, req.tangents):
            args[i] = base[i] + t * u
        outs = reference(*args)
        return [np.asarray(outs[j], np.float64) for j in req.outputs]

    def inner(values: list[np.ndarray]) -> float:
        return float(sum((vj * d).sum() for vj, d in zip(v, values)))

    f = {t: at(t) for t in (-h, -h / 2, 0.0, h / 2, h)}
    with np.errstate(all="ignore"):
        coarse = [(p - m) / (2 * h) for p, m in zip(f[h], f[-h])]
        fine = [(p - m) / h for p, m in zip(f[h / 2], f[-h / 2])]
        extrapolated = [(4 * fi - c) / 3 for fi, c in zip(fine, coarse)]
        jvp = inner(extrapolated)
        scale = _norm([vj * d for vj, d in zip(v, extrapolated)])
        curvature = [inner([(p - 2 * z + m) / t for p, z, m in zip(f[t], f[0.0], f[-t])]) for t in (h, h / 2)]
        central = abs(inner(coarse) - inner(fine))
        one_sided = abs(curvature[1] - curvature[0] / 2)
    if not np.isfinite(jvp) or not np.isfinite(scale) or not np.isfinite(one_sided):
        return jvp, scale, float("inf")
    kink = max(central, one_sided) / max(scale, np.finfo(np.float64).tiny)
    return jvp, scale, kink


def _norm(terms: list[np.ndarray]) -> float:
    """The Euclidean norm of an inner product's terms: the size of the rounding error of the sum (each term off by
    about eps of itself), whatever the number of terms, and of the sum itself for random u and v."""
    return float(np.sqrt(sum(float(np.square(t).sum()) for t in terms)))
