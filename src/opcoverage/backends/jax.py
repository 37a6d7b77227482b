"""JAX backend: jits a jax binding on an XLA platform, records the jaxpr's primitives, and blocks until ready."""

from __future__ import annotations

import functools
import importlib.util
import os
import time
from typing import Any

import numpy as np

from opcoverage.backends.base import (ArrayInfo, DeviceInfo, Execution, NotApplicable, Prepared, as_output_tuple,
                                     classify_by_message, reached, thread_budget)
from opcoverage.catalog.dtypes import bits, dtype_name
from opcoverage.catalog.spec import CallBinding, OpSpec
from opcoverage.types import Sample, Status

KNOWN_DEVICES = ("cpu", "gpu", "tpu")
_ALIASES = {"cuda": "gpu", "rocm": "gpu"}


@functools.lru_cache(maxsize=None)
def _jax():
    # By default JAX takes 75% of a GPU's memory when its client starts (here, in the parent process that lists
    # devices, and in a worker beside torch:cuda cases): allocate on demand instead.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    # float64 and int64 samples must stay 64-bit; without this JAX silently narrows them.
    jax.config.update("jax_enable_x64", True)
    return jax


class JaxBackend:
    framework = "jax"
    binding = "jax"
    modes = ("forward", "grad", "vmap", "export")
    modes_not_applicable = {"compile": "torch.compile is a torch mode; every jax case is already jit-compiled by XLA"}

    def devices(self) -> list[DeviceInfo]:
        if importlib.util.find_spec("jax") is None:
            return [DeviceInfo(d, False, "package jax is not installed (pip install jax jaxlib)") for d in KNOWN_DEVICES]
        jax = _jax()
        out = []
        for platform in KNOWN_DEVICES:
            try:
                devs = jax.devices(platform)
            except RuntimeError as exc:
                out.append(DeviceInfo(platform, False, f"no {platform} platform in this jaxlib ({str(exc).splitlines()[0][:120]})"))
                continue
            d = devs[0]
            name = getattr(d, "device_kind", "") or str(d)
            out.append(DeviceInfo(platform, True, name=name, driver=f"{len(devs)} device(s)"))
        return out

    def normalize_device(self, device: str) -> str:
        device = device.lower()
        return _ALIASES.get(device, device)

    def version(self) -> dict[str, str]:
        jax = _jax()
        import jaxlib

        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}

    def warm_up(self, device: str) -> None:
        """Pay backend initialisation and the first compile outside any case's time."""
        jax = _jax()
        x = jax.device_put(np.ones(4, np.float32), jax.devices(device)[0])
        jax.block_until_ready(jax.jit(lambda a: a + 1)(x))

    def dispatched(self, spec: OpSpec, sample: Sample) -> tuple[str, ...]:
        """The jaxpr primitives of a sample's program (traced, not compiled or run)."""
        jax = _jax()
        binding = spec.bindings["jax"]
        assert isinstance(binding, CallBinding)
        fn, kwargs = binding.resolve(), binding.rename(sample.kwargs)
        traced = jax.jit(lambda *xs: fn(*xs, **kwargs)).trace(*[np.asarray(a) for a in sample.args])
        return tuple(dict.fromkeys(_primitives(traced.jaxpr.jaxpr)))

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        jax = _jax()
        binding = spec.bindings["jax"]
        assert isinstance(binding, CallBinding)
        fn = binding.resolve()
        kwargs = binding.rename(sample.kwargs)
        target_device = jax.devices(device)[0]
        args = [jax.device_put(np.asarray(a), target_device) for a in sample.args]

        def call(*xs):
            return fn(*xs, **kwargs)

        traced = jax.jit(call).trace(*args)  # one trace gives both the jaxpr and the program to compile
        primitives = tuple(dict.fromkeys(_primitives(traced.jaxpr.jaxpr)))
        with reached(lambda: primitives):
            result = traced.lower().compile()(*executable_inputs(args, sample.args))
            leaves = jax.tree_util.tree_leaves(result)
            jax.block_until_ready(leaves)
        fallback = misplaced(leaves, target_device, device)
        outputs = tuple(np.asarray(x) for x in as_output_tuple(result if not isinstance(result, dict) else leaves))
        return Execution(outputs, primitives, fallback)

    def run_mode(self, spec: OpSpec, sample: Sample, device: str, mode: Any, request: Any = None) -> Execution:
        """``spec`` in ``mode`` (an opcoverage.modes.Mode): grad returns J^T v for ``request`` (a GradRequest);
        vmap runs the batched ``sample``; export runs the deserialized export."""
        from opcoverage.backends import jax_modes

        jax = _jax()
        if mode.name == "grad":
            return jax_modes.run_grad(jax, spec, sample, device, request)
        if mode.name == "vmap":
            return jax_modes.run_vmapped(jax, spec, sample, device)
        if mode.name == "export":
            return jax_modes.run_exported(jax, spec, sample, device)
        raise NotApplicable(f"jax runs no {mode} mode")

    def classify(self, error: BaseException) -> Status:
        return classify_by_message(error)

    def prepare(self, spec: OpSpec, sample: Sample, device: str) -> Prepared:
        """The compiled executable as a zero-argument call that blocks until its results are ready, on inputs already
        placed on ``device``; ``first_call_s`` covers tracing, compiling and the first run."""
        jax = _jax()
        binding = spec.bindings["jax"]
        assert isinstance(binding, CallBinding)
        fn, kwargs = binding.resolve(), binding.rename(sample.kwargs)
        args = jax.block_until_ready([jax.device_put(np.asarray(a), jax.devices(device)[0]) for a in sample.args])
        start = time.perf_counter()
        compiled = jax.jit(lambda *xs: fn(*xs, **kwargs)).lower(*args).compile()
        call_args = executable_inputs(args, sample.args)
        leaves = jax.block_until_ready(jax.tree_util.tree_leaves(compiled(*call_args)))
        first = time.perf_counter() - start

        def call():
            jax.block_until_ready(compiled(*call_args))

        inputs = {_pointer(a) for a in args} - {None}
        outputs = tuple(ArrayInfo(tuple(x.shape), str(x.dtype), int(x.nbytes), _pointer(x) in inputs) for x in leaves)
        flush = _cache_flush(jax, jax.devices(device)[0]) if device != "cpu" else None
        return Prepared(call, outputs, first, (thread_budget() or os.cpu_count()) if device == "cpu" else None, flush)


def executable_inputs(placed: list[Any], host: Any) -> list[Any]:
    """What an AOT-compiled executable is called with: the placed arrays, except those of a sub-byte dtype (int4,
    uint4, float4_e2m1fn), which jax 0.10.2's device_put lays out one to a byte while the executable requires them
    packed (sub_byte_element_size_in_bits=4) and rejects them; their host arrays it places itself, on its own
    device, as jax.jit does."""
    return [h if isinstance(h, np.ndarray) and bits(dtype_name(h.dtype)) < 8 else p for p, h in zip(placed, host)]


def _primitives(jaxpr: Any):
    from jax.extend.core import jaxprs_in_params

    for eqn in jaxpr.eqns:
        yield eqn.primitive.name
        for sub in jaxprs_in_params(eqn.params):
            yield from _primitives(getattr(sub, "jaxpr", sub))


def misplaced(values: Any, target: Any, device: str) -> str | None:
    """Why a result is not on the target device (a fallback), or None: the platforms its arrays were placed on."""
    for value in values:
        placed = {d.platform for d in getattr(value, "devices", lambda: set())()}
        if placed and placed != {target.platform}:
            return f"result placed on {', '.join(sorted(placed))}, not {device}"
    return None


def _pointer(array: Any) -> int | None:
    """The device buffer's address, to tell an output that merely forwards an input (no data moved)."""
    try:
        return array.unsafe_buffer_pointer() if array.size else None
    except Exception:  # sharded or deleted arrays have no single buffer
        return None


def _cache_flush(jax, device: Any):
    """Rewrite a buffer larger than any accelerator's L2 (128 MiB; an H100 has 50) so repetitions start cold."""
    scratch = jax.device_put(np.zeros(32 * 2**20, np.float32), device)
    rewrite = jax.jit(lambda x: x + 1)
    return lambda: jax.block_until_ready(rewrite(scratch))
