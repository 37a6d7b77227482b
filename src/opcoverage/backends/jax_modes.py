"""JAX backend, modes beyond forward: grad (jax.vjp), vmap (the batching rules) and export (jax.export serialized,
deserialized and called), each returning an Execution for the comparison stage."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from opcoverage.backends.base import Execution, as_output_tuple, at_stage, reached
from opcoverage.backends.jax import _primitives, executable_inputs, misplaced
from opcoverage.catalog.spec import CallBinding, OpSpec
from opcoverage.types import Sample, Stage

# The platforms jax.export lowers for from any machine; each export case records the custom calls every one of
# them needs (a LAPACK call on cpu, cusolver on cuda), or why it does not lower there.
EXPORT_PLATFORMS = ("cpu", "cuda", "rocm", "tpu")
_CUSTOM_CALL = re.compile(r"stablehlo\.custom_call @([\w.$-]+)")


def _call(spec: OpSpec, sample: Sample):
    binding = spec.bindings["jax"]
    assert isinstance(binding, CallBinding)
    fn, kwargs = binding.resolve(), binding.rename(sample.kwargs)
    return lambda *xs: fn(*xs, **kwargs)


def _leaves(jax, result: Any) -> tuple[Any, ...]:
    return tuple(jax.tree_util.tree_leaves(result)) if isinstance(result, dict) else as_output_tuple(result)


def _run(jax, program, args: list[Any], host: Any = ()) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """Trace (for the jaxpr's primitives), compile and run a jitted program on ``args``, placed (of ``host`` arrays,
    where given: see jax.executable_inputs); the primitives are attached to a failure, so an op that was attempted
    still counts toward op-set coverage."""
    with at_stage(Stage.CAPTURE):
        traced = program.trace(*args)
    primitives = tuple(dict.fromkeys(_primitives(traced.jaxpr.jaxpr)))
    with reached(lambda: primitives):
        with at_stage(Stage.COMPILE):
            compiled = traced.lower().compile()
        with at_stage(Stage.RUN):
            result = jax.block_until_ready(compiled(*(executable_inputs(args, host) if host else args)))
    return _leaves(jax, result), primitives


def run_grad(jax, spec: OpSpec, sample: Sample, device: str, request: Any) -> Execution:
    """J^T v for the inputs in ``request.wrt``, from jax.vjp of the outputs in ``request.outputs``, jitted."""
    call = _call(spec, sample)
    target = jax.devices(device)[0]
    args = [jax.device_put(np.asarray(a), target) for a in sample.args]

    def selected(*wrt_values):
        full = list(args)
        for i, value in zip(request.wrt, wrt_values):
            full[i] = value
        outputs = _leaves(jax, call(*full))
        return tuple(outputs[j] for j in request.outputs)

    def pullback(primals, cotangents):
        outputs, vjp = jax.vjp(selected, *primals)
        return vjp(tuple(c.astype(o.dtype) for c, o in zip(cotangents, outputs)))

    primals = tuple(args[i] for i in request.wrt)
    cotangents = tuple(jax.device_put(np.asarray(v), target) for v in request.cotangents)
    grads, primitives = _run(jax, jax.jit(pullback), [primals, cotangents])
    return Execution(tuple(np.asarray(g) for g in grads), primitives, misplaced(grads, target, device))


def run_vmapped(jax, spec: OpSpec, batch: Sample, device: str) -> Execution:
    """jax.vmap of the call over the leading axis of every input of ``batch``, jitted."""
    target = jax.devices(device)[0]
    args = [jax.device_put(np.asarray(a), target) for a in batch.args]
    outputs, primitives = _run(jax, jax.jit(jax.vmap(_call(spec, batch))), args, batch.args)
    return Execution(tuple(np.asarray(o) for o in outputs), primitives, misplaced(outputs, target, device))


def export_platform(jax, device: str) -> str:
    """jax.export's name for a device's platform (jax calls an NVIDIA GPU's platform gpu, export calls it cuda)."""
    platform = str(getattr(jax.devices(device)[0].client, "platform", device)).lower()
    return {"gpu": "cuda"}.get(platform, platform)


def run_exported(jax, spec: OpSpec, sample: Sample, device: str) -> Execution:
    """jax.export of the jitted call for the device's platform, serialized, deserialized and called; the custom
    calls the exported module needs on each platform jax lowers for are recorded (extra.custom_calls)."""
    from jax import export

    target = jax.devices(device)[0]
    call = jax.jit(_call(spec, sample))
    args = [jax.device_put(np.asarray(a), target) for a in sample.args]
    shapes = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in args]
    platform = export_platform(jax, device)
    primitives = tuple(dict.fromkeys(_primitives(call.trace(*args).jaxpr.jaxpr)))
    with reached(lambda: primitives):
        with at_stage(Stage.EXPORT):
            exported = export.export(call, platforms=(platform,))(*shapes)
            restored = export.deserialize(exported.serialize())
        with at_stage(Stage.RUN):
            result = jax.block_until_ready(restored.call(*args))
    outputs = _leaves(jax, result)
    custom_calls = {platform: sorted(set(_CUSTOM_CALL.findall(exported.mlir_module())))}
    for other in EXPORT_PLATFORMS:
        if other != platform:
            custom_calls[other] = _lowers_for(export, call, shapes, other)
    return Execution(tuple(np.asarray(o) for o in outputs), primitives, misplaced(outputs, target, device),
                     {"custom_calls": custom_calls})


def _lowers_for(export, call, shapes, platform: str) -> list[str] | str:
    """The custom calls of the op lowered for another platform, or the first line of why it does not lower."""
    try:
        module = export.export(call, platforms=(platform,))(*shapes).mlir_module()
    except Exception as exc:  # a lowering that fails for a platform is data about that platform, not this case
        return f"does not lower: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc) else ''}"
    return sorted(set(_CUSTOM_CALL.findall(module)))

