"""Model readiness, validation stage: run the whole model on a target (forward, and a training step), compare it
with the same model in float64 on the CPU, and record whether it ran and how far its outputs drift."""

from __future__ import annotations

import functools
import time
import traceback
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from opcoverage.types import Target

# A model "runs" when its drift from float64 is at most SPREAD times the drift of the same model computed by an
# ideal backend of that dtype (models/emulate.py: each op exact, then rounded once to the dtype), or SPREAD unit
# roundoffs where that is larger. The ideal run measures the model's own sensitivity: a random-weight MobileNetV2
# drifts by 1.0 in float16 however correct its kernels are, a small transformer by 1e-3. Real kernels also round
# inside their reductions, which the ideal run does not: over the zoo on torch:cpu and onnxruntime:cpu
# (benchmarks/validation_spread.py), float32 kernels, accumulating in float32, drift up to 14x the ideal run
# (ResNet's training step: batch-norm and convolution reductions thousands long), and float16 ones up to 4.8x
# (accumulating in float32 except torch's float16 convolution backward). SPREAD doubles the largest ratio, and
# still catches a float16 path inside a float32 model (over 100x) or TF32 matmuls (about 8000x).
SPREAD = 32.0
UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24, "float16": 2.0 ** -11, "bfloat16": 2.0 ** -8}
# Largest drift for a jax function (no ideal run of a jaxpr yet): a few layers amplify one op's rounding by far less
# than 10x in float32, while a wrong kernel or a lower-precision path shows as drift of order 1.
JAX_RUN_TOLERANCE = {"float64": 1e-9, "float32": 1e-3, "float16": 3e-2, "bfloat16": 1e-1}
# Each output's drift is relative to its own scale, floored at this share of the largest reference value.
SCALE_FLOOR = 1e-3


@dataclass(frozen=True)
class Validation:
    model: str
    target: str
    mode: str
    dtype: str
    observed: str  # runs, wrong (ran, drift above the tolerance or non-finite), fails (raised), fallback, n/a
    drift: float | None = None
    tolerance: float | None = None
    ideal_drift: float | None = None  # the drift of an ideal backend of this dtype (each op rounded once)
    message: str = ""
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Validation":
        return cls(**record)

    def line(self) -> str:
        bound = f" (tolerance {self.tolerance:.2e})" if self.tolerance is not None else ""
        drift = f", drift {self.drift:.2e}{bound}" if self.drift is not None else ""
        why = f": {self.message}" if self.message else ""
        return f"{self.model} {self.mode} {self.dtype} on {self.target}: {self.observed}{drift}{why}"


def drift(outputs: list[np.ndarray], references: list[np.ndarray]) -> float:
    """The largest difference over paired arrays, each relative to its own largest reference value, but never to less
    than SCALE_FLOOR of the largest value of all of them: a gradient that is zero in exact arithmetic (the bias of
    a key projection before a softmax) is rounding noise in any precision and says nothing about the kernels.
    inf when a shape differs or a value is not finite."""
    pairs = [(np.asarray(o, np.float64), np.asarray(r, np.float64)) for o, r in zip(outputs, references, strict=True)]
    overall = max((float(np.max(np.abs(r))) for _, r in pairs if r.size), default=0.0)
    worst = 0.0
    for out, ref in pairs:
        if out.shape != ref.shape or not np.all(np.isfinite(out)):
            return float("inf")
        if not ref.size:
            continue
        scale = max(float(np.max(np.abs(ref))), SCALE_FLOOR * overall)
        diff = float(np.max(np.abs(out - ref)))
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def _numpy(t) -> np.ndarray:
    import torch

    t = t.detach().cpu()
    return (t.float() if t.dtype in (torch.bfloat16, torch.float16) else t).numpy()


def _torch_run(factory, dtype: str, device: str, mode: str, rounded: bool = False) -> list[np.ndarray]:
    """The forward outputs, or the loss and every parameter's gradient after one backward pass. ``rounded``: the
    ``dtype`` build run in float64 on the CPU with each op's result rounded to ``dtype`` (models/emulate.py)."""
    import contextlib

    import torch

    from opcoverage.models import emulate
    from opcoverage.models import torch_source as ts

    module, args, kwargs = ts.build(factory, dtype)
    context = contextlib.nullcontext()
    if rounded:
        module, args, kwargs = emulate.widened(module, args, kwargs)
        context = emulate.rounding_mode(dtype)
    module = module.to(device)
    move = (lambda v: v.to(device) if isinstance(v, torch.Tensor) else v)
    args = tuple(move(a) for a in args)
    kwargs = {k: move(v) for k, v in kwargs.items()}
    if mode == "forward":
        module.eval()
        with torch.no_grad(), context:
            out = module(*args, **kwargs)
        from torch.utils._pytree import tree_leaves

        leaves = out.to_tuple() if hasattr(out, "to_tuple") else out
        arrays = [_numpy(t) for t in tree_leaves(leaves) if isinstance(t, torch.Tensor) and t.is_floating_point()]
    else:
        module.train()
        module.zero_grad(set_to_none=True)
        with context:
            loss = ts.scalar_loss(module(*args, **kwargs))
            loss.backward()
        arrays = [_numpy(loss)] + [_numpy(p.grad) for p in module.parameters() if p.grad is not None]
        module.zero_grad(set_to_none=True)
    if device != "cpu" and hasattr(getattr(torch, device, None), "synchronize"):
        getattr(torch, device).synchronize()
    return arrays


def _onnx_run(factory, dtype: str, target: Target) -> tuple[list[np.ndarray], str | None]:
    import onnx

    from opcoverage.backends import get_backend
    from opcoverage.models import torch_source as ts

    model_bytes = ts.onnx_export(factory, dtype)
    _, args, _ = ts.build(factory, dtype)
    graph = onnx.load_from_string(model_bytes).graph
    initializers = {i.name for i in graph.initializer}
    wanted = [i.name for i in graph.input if i.name not in initializers]
    feeds = {}
    for i, arg in enumerate(args):
        name = f"input_{i}"
        if name in wanted:
            array = _numpy(arg)
            if array.dtype.kind == "f" and dtype == "bfloat16":  # token ids stay integers
                import ml_dtypes

                array = array.astype(ml_dtypes.bfloat16)
            elif array.dtype.kind == "f" and dtype == "float16":
                array = array.astype(np.float16)
            feeds[name] = array
    execution = get_backend(target.framework).run_model(model_bytes, feeds, target.device)
    return [np.asarray(o, np.float64) if np.asarray(o).dtype.kind in "fV" else np.asarray(o)
            for o in execution.outputs], execution.fallback


@functools.lru_cache(maxsize=4)
def _baseline(factory, dtype: str, mode: str) -> tuple[list[np.ndarray], float]:
    """The float64 CPU run and the ideal run's drift from it: the same for every target a model is validated on,
    so computed once per (model, dtype, mode)."""
    reference = _torch_run(factory, "float64", "cpu", mode)
    return reference, drift(_torch_run(factory, dtype, "cpu", mode, rounded=True), reference)


def tolerance_for(dtype: str, ideal_drift: float) -> float:
    """The largest drift of a model that runs: SPREAD times the ideal run's, or SPREAD unit roundoffs if more."""
    return SPREAD * max(UNIT_ROUNDOFF.get(dtype, 2.0 ** -24), ideal_drift)


def validate_torch_model(name: str, factory, target: str, mode: str, dtype: str) -> Validation:
    """Run a torch model factory's model on ``target`` and compare it with its float64 CPU run, against the drift of
    an ideal ``dtype`` backend (the float64 run with each op's result rounded to ``dtype``)."""
    parsed = Target.parse(target)
    base = dict(model=name, target=target, mode=mode, dtype=dtype)
    from opcoverage.backends import get_backend

    binding = getattr(get_backend(parsed.framework), "binding", parsed.framework)
    if binding == "jax":
        return Validation(**base, observed="n/a", message="a torch model does not run on a jax target; its readiness "
                                                           "there is predicted from the catalog ops alone")
    if binding == "onnx" and mode != "forward":
        return Validation(**base, observed="n/a", message="the ONNX export has no training step")
    reference, ideal = _baseline(factory, dtype, mode if binding == "torch" else "forward")
    start = time.perf_counter()
    fallback = None
    try:
        if binding == "torch":
            outputs = _torch_run(factory, dtype, parsed.device, mode)
        elif binding == "onnx":
            outputs, fallback = _onnx_run(factory, dtype, parsed)
            outputs = outputs[:len(reference)]
        else:
            return Validation(**base, observed="n/a", message=f"no way to run a torch model on {binding} targets")
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        first = (str(exc).strip().splitlines() or [""])[0][:240]
        return Validation(**base, observed="fails", message=f"{type(exc).__name__}: {first} "
                                                            f"(at {frame.name} in {frame.filename.rsplit('/', 1)[-1]})",
                          seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if len(outputs) != len(reference):
        return Validation(**base, observed="wrong", message=f"{len(outputs)} outputs where float64 gives "
                                                            f"{len(reference)}", seconds=seconds)
    measured = drift(outputs, reference)
    if ideal == float("inf"):
        observed = "runs"
        message = f"an ideal {dtype} run is not finite either: the model overflows in {dtype} on any backend"
        tolerance = None
    else:
        tolerance = tolerance_for(dtype, ideal)
        observed = "runs" if measured <= tolerance else "wrong"
        message = "" if observed == "runs" else ("non-finite or misshapen output" if measured == float("inf") else
                                                 f"outputs drift {measured / ideal if ideal else float('inf'):.1f}x "
                                                 f"as far as an ideal {dtype} run's")
    if fallback and observed == "runs":
        observed, message = "fallback", fallback
    return Validation(**base, observed=observed, drift=None if measured == float("inf") else measured,
                      tolerance=tolerance, ideal_drift=None if ideal == float("inf") else ideal, message=message,
                      seconds=seconds)


def validate_jax_model(name: str, factory, target: str, mode: str, dtype: str) -> Validation:
    """Run a jax factory's function jitted on a jax ``target`` (train: its value_and_grad with respect to the first
    argument) and compare it with float64 on the CPU; other targets do not run jax functions (n/a)."""
    parsed = Target.parse(target)
    base = dict(model=name, target=target, mode=mode, dtype=dtype)
    if parsed.framework != "jax":
        return Validation(**base, observed="n/a", message=f"a jax function does not run on {parsed.framework} targets")
    from opcoverage.backends.jax import _jax
    from opcoverage.models.jax_source import cast_args

    jax = _jax()  # float64 enabled, GPU memory not preallocated
    import jax.numpy as jnp

    fn, args = factory()
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)

    def program(device_kind: str, precision: str):
        def loss(*xs):
            return sum(jnp.sum(x).astype(jnp.float64 if precision == "float64" else jnp.float32)
                       for x in jax.tree_util.tree_leaves(fn(*xs)))

        body = fn if mode == "forward" else jax.value_and_grad(loss)
        device = jax.devices(device_kind)[0]
        placed = jax.device_put(cast_args(args, precision), device)
        return [np.asarray(jnp.asarray(x, jnp.float32) if x.dtype.kind == "V" else x)
                for x in jax.tree_util.tree_leaves(jax.block_until_ready(jax.jit(body)(*placed)))]

    reference = program("cpu", "float64")
    start = time.perf_counter()
    try:
        outputs = program(parsed.device if parsed.device != "cuda" else "gpu", dtype)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:240]
        return Validation(**base, observed="fails", message=f"{type(exc).__name__}: {first}",
                          seconds=time.perf_counter() - start)
    tolerance = JAX_RUN_TOLERANCE.get(dtype, 1e-3)
    measured = drift(outputs, reference)
    observed = "runs" if measured <= tolerance else "wrong"
    return Validation(**base, observed=observed, drift=None if measured == float("inf") else measured,
                      tolerance=tolerance, message="" if observed == "runs" else "outputs drift beyond the tolerance",
                      seconds=time.perf_counter() - start)
