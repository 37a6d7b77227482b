"""ExecuTorch backend: exports each case's torch call, lowers it (to XNNPACK, or to nothing), and runs the program.

It consumes the ``torch`` binding: ``torch.export`` (stage ``export``) -> ``to_edge_transform_and_lower`` with the
XNNPACK partitioner for ``executorch:xnnpack`` and none for ``executorch:portable`` (``convert`` when the edge
dialect's verifier refuses the program, e.g. an op outside Core ATen; ``lower`` otherwise) -> ``to_executorch``
(``compile``) -> the ExecuTorch runtime loads and executes the program (``run``). A failure at export, convert or
lower, and an operator the runtime has no kernel for ("Missing operator: aten::sort.values"), is ``unsupported``.

Where the work ran is data: on ``executorch:xnnpack`` every call the partitioner left outside its delegates runs
on ExecuTorch's portable kernels instead, and the case is a ``fallback`` naming them. ``extra.delegate_calls``
counts the ``executorch_call_delegate`` nodes and ``extra.portable_ops`` names what the portable kernels ran.

Building is the slow part (about a second per case), so the program (.pte) is cached on disk by op, dtype and
signature (``opcoverage.cache.CompileCache``, under ``OPCOV_CACHE_DIR``), together with what lowering reported.
"""

from __future__ import annotations

import functools
import json
import re
import time
import warnings
from typing import Any

import numpy as np

from opcoverage.backends.base import (ArrayInfo, DeviceInfo, Execution, Prepared, Unsupported, as_output_tuple,
                                     at_stage, classify_by_message, failed_stage, missing_packages, reached,
                                     thread_budget)
from opcoverage.catalog.spec import CallBinding, OpSpec
from opcoverage.types import Sample, Stage, Status

DEVICES = {
    "xnnpack": "the XNNPACK delegate (XnnpackPartitioner); what it does not take runs on the portable kernels",
    "portable": "ExecuTorch's portable CPU kernels alone (no partitioner)",
}
INSTALL = "pip install executorch (or pip install 'opcoverage[executorch]'; install torch first)"
# Graph nodes that move values around a delegate call rather than compute.
PLUMBING = ("executorch_call_delegate", "getitem")
# The runtime's error for a program whose instructions name an operator it has no kernel for (Error::OperatorMissing).
OPERATOR_MISSING = re.compile(r"error: 0x:?14\b|OperatorMissing|Missing operator")


class ExecuTorchBackend:
    framework = "executorch"
    binding = "torch"

    def devices(self) -> list[DeviceInfo]:
        unavailable = missing_packages(("torch", "executorch"), INSTALL, DEVICES)
        if unavailable:
            return unavailable
        return [DeviceInfo(device, True, name=_cpu_name(), driver=what) for device, what in DEVICES.items()]

    def normalize_device(self, device: str) -> str:
        return device.lower()

    def version(self) -> dict[str, str]:
        from importlib.metadata import version

        import torch

        return {"executorch": version("executorch"), "torch": torch.__version__}

    def warm_up(self, device: str) -> None:
        """Import the exporter, the partitioner and the runtime outside any case's time."""
        _runtime()
        _lowering()

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        program, meta = _program(spec, sample, device)
        exported = tuple(meta["exported"])
        with reached(lambda: exported), at_stage(Stage.RUN):
            outputs = _execute(program, meta, sample)
        extra = {"delegate_calls": meta["delegate_calls"], "delegated_ops": meta["delegated_ops"],
                 "portable_ops": meta["portable_ops"], "cache": meta["cache"]}
        if sample.layout != "contiguous":  # ExecuTorch tensors have a dim order, not arbitrary strides
            extra["layout"] = f"the {sample.layout} inputs were run as contiguous copies"
        fallback = None
        if device == "xnnpack" and meta["portable_ops"]:
            taken = "took nothing" if not meta["delegate_calls"] else f"took {meta['delegate_calls']} subgraph(s)"
            fallback = (f"XNNPACK {taken}; ExecuTorch's portable kernels ran {', '.join(meta['portable_ops'])}")
        return Execution(outputs, exported, fallback, extra)

    def prepare(self, spec: OpSpec, sample: Sample, device: str) -> Prepared:
        """The loaded method as a zero-argument call on inputs made once; ``first_call_s`` covers export, lowering,
        emitting the program, loading it and the first run (never the disk cache: it is built afresh)."""
        start = time.perf_counter()
        program, meta = _build(spec, sample, device)
        method = _runtime().load_program(program).load_method("forward")
        inputs = _inputs(sample)
        outputs = method.execute(inputs)
        first = time.perf_counter() - start
        infos = tuple(ArrayInfo(tuple(o.shape), str(o.dtype).removeprefix("torch."), o.numel() * o.element_size())
                      for o in outputs)
        threads = _thread_count()
        return Prepared(functools.partial(method.execute, inputs), infos, first, threads)

    def classify(self, error: BaseException) -> Status:
        if failed_stage(error) in (Stage.EXPORT, Stage.CONVERT, Stage.LOWER):
            return Status.UNSUPPORTED  # the stack cannot take the program at all
        return classify_by_message(error)


@functools.lru_cache(maxsize=None)
def _runtime():
    from executorch.runtime import Runtime

    threads = thread_budget()
    if threads:  # XNNPACK's pool otherwise starts one thread per core in every worker
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(threads)
    return Runtime.get()


def _thread_count() -> int | None:
    from executorch.extension.pybindings import portable_lib

    try:
        return int(portable_lib._threadpool_get_thread_count())
    except Exception:
        return thread_budget()


@functools.lru_cache(maxsize=None)
def _lowering():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    return to_edge_transform_and_lower, XnnpackPartitioner


@functools.lru_cache(maxsize=None)
def _cache():
    from opcoverage.cache import CompileCache

    backend = ExecuTorchBackend()
    return CompileCache("executorch", backend.version(), suffix=".pte")


def _signature(spec: OpSpec, sample: Sample) -> str:
    """What decides the exported program: the call, each input's shape and dtype, and the keyword arguments (baked
    into the program as constants). Input values are not part of it: export traces shapes, not data."""
    binding = spec.bindings["torch"]
    assert isinstance(binding, CallBinding)
    inputs = [(list(a.shape), str(a.dtype)) for a in sample.args]
    return json.dumps({"call": binding.call, "inputs": inputs, "kwargs": repr(sorted(sample.kwargs.items()))})


def _program(spec: OpSpec, sample: Sample, device: str) -> tuple[bytes, dict[str, Any]]:
    """The program and what lowering reported, from the disk cache or built now."""
    cache = _cache()
    key = cache.key(op=spec.name, dtype=sample.dtype, signature=_signature(spec, sample), device=device)
    program, meta_bytes = cache.get(key), cache.get(key + "-meta")
    if program is not None and meta_bytes is not None:
        return program, {**json.loads(meta_bytes), "cache": "hit"}
    program, meta = _build(spec, sample, device)
    cache.put(key + "-meta", json.dumps(meta).encode())
    cache.put(key, program)  # written last: a program on disk always has its report beside it
    return program, {**meta, "cache": "built"}


def _build(spec: OpSpec, sample: Sample, device: str) -> tuple[bytes, dict[str, Any]]:
    import torch

    binding = spec.bindings["torch"]
    assert isinstance(binding, CallBinding)
    fn, kwargs = binding.resolve(), binding.rename(sample.kwargs)

    class Case(torch.nn.Module):
        def forward(self, *args):
            return fn(*args, **kwargs)

    to_edge_transform_and_lower, XnnpackPartitioner = _lowering()
    exported_names: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # export and lowering warn about deprecations on every call
        with reached(lambda: exported_names), at_stage(Stage.EXPORT):
            exported = torch.export.export(Case(), tuple(_inputs(sample)))
        exported_names = _op_names(exported.graph)
        with reached(lambda: exported_names), at_stage(Stage.LOWER):
            try:
                partitioner = [XnnpackPartitioner()] if device == "xnnpack" else []
                edge = to_edge_transform_and_lower(exported, partitioner=partitioner)
            except Exception as exc:
                if type(exc).__name__ == "SpecViolationError":  # the edge dialect's verifier: not Core ATen
                    exc.opcov_stage = Stage.CONVERT  # type: ignore[attr-defined]
                raise
        lowered = edge.exported_program().graph
        portable = [name for name in _op_names(lowered) if name not in PLUMBING]
        delegate_calls = sum(1 for n in lowered.nodes if _name(n.target) == "executorch_call_delegate")
        delegated = [name for module in _lowered_modules(edge) for name in _op_names(module.original_module.graph)]
        with reached(lambda: exported_names), at_stage(Stage.COMPILE):
            program = edge.to_executorch()
    plan = program.executorch_program.execution_plan[0]
    operators = [f"{o.name}.{o.overload}" if o.overload else o.name for o in plan.operators]
    meta = {"exported": exported_names, "portable_ops": list(dict.fromkeys(portable)),
            "delegated_ops": list(dict.fromkeys(delegated)), "delegate_calls": delegate_calls,
            "operators": operators}
    return program.buffer, meta


def _lowered_modules(edge) -> list[Any]:
    """The delegates' lowered modules: each keeps the edge graph it took (``original_module``)."""
    program = edge.exported_program()
    found = []
    for node in program.graph.nodes:
        if node.op == "get_attr":
            module = getattr(program.graph_module, str(node.target), None)
            if module is not None and hasattr(module, "original_module"):
                found.append(module)
    return found


def _inputs(sample: Sample) -> list[Any]:
    from opcoverage.backends.torch import to_torch

    return [to_torch(a, "cpu") for a in sample.args]


@functools.lru_cache(maxsize=64)
def _method(program: bytes):
    return _runtime().load_program(program).load_method("forward")


def _execute(program: bytes, meta: dict[str, Any], sample: Sample) -> tuple[np.ndarray, ...]:
    from opcoverage.backends.torch import from_torch

    try:
        method = _method(program)
    except RuntimeError as exc:
        if not OPERATOR_MISSING.search(str(exc)):
            raise
        registered = set(registered_kernels())
        missing = [o for o in meta["operators"] if o not in registered] or meta["operators"]
        raise Unsupported(f"Missing operator: {', '.join(missing)} (no kernel registered in this ExecuTorch "
                          f"runtime; {exc})") from exc
    return tuple(from_torch(o) for o in as_output_tuple(method.execute(_inputs(sample))))


@functools.lru_cache(maxsize=None)
def registered_kernels() -> tuple[str, ...]:
    """Every operator the runtime has a kernel for (``aten::add.out``): the portable kernels and the prim ops."""
    from executorch.extension.pybindings import portable_lib

    return tuple(sorted(portable_lib._get_operator_names()))


def _op_names(graph) -> list[str]:
    return list(dict.fromkeys(_name(n.target) for n in graph.nodes if n.op == "call_function"))


def _name(target: Any) -> str:
    """``aten::add.Tensor`` for an op overload (edge or ATen), the plain name for anything else."""
    op = getattr(target, "_op", target)
    name = getattr(op, "name", None)
    if callable(name):
        try:
            return str(name())
        except Exception:
            pass
    return getattr(target, "__name__", str(target))


def _cpu_name() -> str:
    from opcoverage.environment import cpu_model

    return cpu_model()
