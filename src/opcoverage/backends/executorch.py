"""ExecuTorch backend: exports each case's torch call, lowers it (to XNNPACK, or to nothing), and runs the program.

It consumes the ``torch`` binding: ``torch.export`` (stage ``export``) -> ``to_edge_transform_and_lower`` with the
XNNPACK partitioner for ``executorch:xnnpack`` and none for ``executorch:portable`` (``convert`` when the edge
dialect's verifier refuses the program, e.g. an op outside Core ATen; ``lower`` otherwise) -> ``to_executorch``
(``compile``) -> the ExecuTorch runtime loads and executes the program (``run``). A failure at export, convert or
lower, and an operator the runtime has no kernel for ("Missing operator: aten::sort.values"), is ``unsupported``.

Where the work ran is data: on ``executorch:xnnpack`` every call the partitioner left outside its delegates runs
on ExecuTorch's portable kernels instead, and the case is a ``fallback`` naming them. ``extra.delegate_calls``
counts the ``executorch_call_delegate`` nodes and ``extra.portable_ops`` names what the portable kernels ran.

Building is the slow part (about half a second per program, nearly all of it fixed cost), so the cases of one op
are exported and lowered as one program that calls the op once per case on that case's own inputs
(``build_group``, opcoverage.execute.groups); each case feeds its inputs, reads its own outputs, and is judged on
the graph nodes that compute them (which ran in a delegate, which on the portable kernels). Three failures are
found per member, since the stack makes them node by node (opcoverage.backends.executorch_members): when the edge
dialect's verifier refuses a group's program, the same verifier checks each member's own nodes; when the runtime
cannot load it for want of a kernel, each member's own operators are looked up in the runtime's kernels; when a
kernel fails at run time, the instruction the runtime logs is the member's whose node it is. The members refused
get that refusal (what their own program gets), and the others are built together again. A group that fails in any
other way leaves each case to build its own program. Programs (.pte) are cached on disk by op, dtype and signature
(``opcoverage.cache.CompileCache``, under ``OPCOV_CACHE_DIR``), with what lowering reported, and so are failed
builds (never a kernel's failure at run time: it depends on the inputs' values).
"""

from __future__ import annotations

import functools
import json
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from opcoverage.backends.base import (ArrayInfo, DeviceInfo, Execution, Prepared, Unsupported, as_output_tuple,
                                     at_stage, classify_by_message, failed_stage, missing_packages, reached,
                                     thread_budget)
from opcoverage.backends import executorch_members
from opcoverage.backends.executorch_members import (cones, kernel_failure, kernel_name, op_names, output_spans,
                                                   placement, runtime_log, verified_per_member)
from opcoverage.cache import digest
from opcoverage.catalog.spec import CallBinding, OpSpec
from opcoverage.types import Sample, Stage, Status

DEVICES = {
    "xnnpack": "the XNNPACK delegate (XnnpackPartitioner); what it does not take runs on the portable kernels",
    "portable": "ExecuTorch's portable CPU kernels alone (no partitioner)",
}
INSTALL = "pip install executorch (or pip install 'opcoverage[executorch]'; install torch first)"
# Seconds of torch.export per call past which an op's lowering grows faster than its number of calls (lstm: one
# call 0.2 s to export and 10 s to lower, two calls 30 s to lower): such an op's cases gain nothing from a group,
# and a group of them may reach --timeout, so each is built alone. Typical ops export in 0.02 to 0.07 s per call.
HEAVY_EXPORT_S = 0.15


class _TooHeavy(RuntimeError):
    """A group whose op exports slower than HEAVY_EXPORT_S per call: its members build alone."""
# The runtime's error for a program whose instructions name an operator it has no kernel for (Error::OperatorMissing).
OPERATOR_MISSING = re.compile(r"error: 0x:?14\b|OperatorMissing|Missing operator")


class ExecuTorchBackend:
    framework = "executorch"
    binding = "torch"
    group_size = 24  # cases lowered as one program: XNNPACK's partitioner adds about 0.08 s per call

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
        """Import the exporter, the partitioner and the runtime, and export once (the first export in a process
        takes seconds), outside any case's time."""
        import torch

        _runtime()
        _lowering()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.export.export(torch.nn.ReLU(), (torch.ones(2),))

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        grouped = _grouped(spec, sample, device)
        if grouped is not None:
            outputs, meta = grouped
        else:
            program, meta = _program(spec, sample, device)
            with reached(lambda: tuple(meta["exported"])), at_stage(Stage.RUN):
                outputs = _execute(program, meta, _inputs(sample))
        exported = tuple(meta["exported"])
        extra = {"delegate_calls": meta["delegate_calls"], "delegated_ops": meta["delegated_ops"],
                 "portable_ops": meta["portable_ops"], "cache": meta["cache"]}
        if "group" in meta:
            extra["group"] = meta["group"]
        if sample.layout != "contiguous":  # ExecuTorch tensors have a dim order, not arbitrary strides
            extra["layout"] = f"the {sample.layout} inputs were run as contiguous copies"
        fallback = None
        if device == "xnnpack" and meta["portable_ops"]:
            taken = "took nothing" if not meta["delegate_calls"] else f"took {meta['delegate_calls']} subgraph(s)"
            fallback = (f"XNNPACK {taken}; ExecuTorch's portable kernels ran {', '.join(meta['portable_ops'])}")
        return Execution(outputs, exported, fallback, extra)

    def build_group(self, spec: OpSpec, samples: list[Sample], device: str) -> bool:
        """Export and lower one program calling the op on every sample's inputs in turn, and run it once; each
        sample's case then runs it (``extra.group``: how many were built together). When the edge dialect's
        verifier refuses the program, it is run again on each member's own nodes (``verified_per_member``); when
        the runtime cannot load it, each member's own operators are looked up in its kernels (``_execute``). The
        members refused get that refusal as their verdict (kept in the compile cache under their own key, as if
        built alone), and the rest are built again. Raises, building nothing, when the group does not build or
        run for any other reason (its members then build alone)."""
        if _REFUSED and next(iter(_REFUSED))[0] != spec.name:
            _REFUSED.clear()  # kept for the op whose groups are being run
        cache = _cache()
        chosen = [s for s in samples if _makes_inputs(s)  # the others' own cases say why not
                  and not cache.failed(_alone_key(spec, s, device), _BUILDER)]  # these replay their kept failure
        while True:
            if len(chosen) < 2:
                raise RuntimeError("fewer than two members of the group build")
            key = cache.key(op=spec.name, dtype=",".join(sorted({s.dtype for s in chosen})), device=device,
                            signature=json.dumps([_signature(spec, s) for s in chosen]), group=len(chosen), meta=4)
            try:
                program, meta = _cached(key, lambda: _build(spec, chosen, device))
                _execute(program, meta, [t for s in chosen for t in _inputs(s)])  # a member may fail it at run time
            except Exception as exc:
                refused = getattr(exc, "opcov_members", None)
                if not refused:
                    raise
                for slot, error in refused.items():
                    sample = chosen[slot]
                    error.opcov_extra = {"group": len(chosen)}  # type: ignore[attr-defined]
                    _REFUSED[(spec.name, device, sample.dtype, sample.id)] = error
                    if not hasattr(error, "opcov_kernel"):  # a kernel failing at run time judged these values
                        cache.put_failure(_alone_key(spec, sample, device), error, _BUILDER)
                chosen = [s for slot, s in enumerate(chosen) if slot not in refused]
                continue
            _GROUPED.clear()  # one group at a time: the worker runs a group's cases in a row
            for slot, sample in enumerate(chosen):
                _GROUPED[(spec.name, device, sample.dtype, sample.id)] = (program, meta, slot, chosen)
            return True

    def prepare(self, spec: OpSpec, sample: Sample, device: str) -> Prepared:
        """The loaded method as a zero-argument call on inputs made once; ``first_call_s`` covers export, lowering,
        emitting the program, loading it and the first run (never the disk cache: it is built afresh)."""
        start = time.perf_counter()
        program, meta = _build(spec, [sample], device)
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

    _memoize_preservable_ops()
    _cache_callable_annotations()
    return to_edge_transform_and_lower, XnnpackPartitioner


def _cache_callable_annotations() -> None:
    """``torch._ops.OperatorBase.py_impl`` defines an inner function annotated ``Callable[_P, _T]`` on every call,
    and each decomposition pass calls it about 6,000 times (once per CompositeImplicitAutograd op and dispatch key);
    ``collections.abc.Callable[...]`` builds a new alias each time, about 15% of a one-op lowering. ``typing.Callable``
    is the same type for every use in that module (annotations, ``isinstance``) and caches its subscriptions."""
    import typing

    import torch._ops

    if getattr(torch._ops, "Callable", None) is not typing.Callable:
        torch._ops.Callable = typing.Callable  # type: ignore[attr-defined]


def _memoize_preservable_ops() -> None:
    """torch.export's ``_collect_all_valid_cia_ops`` walks every op namespace, re-reading the dispatcher's whole
    CompositeImplicitAutograd table once per namespace (about 200 times), on every ``run_decompositions``: about
    half of a one-op program's lowering. Its answer depends only on the namespaces and that table, so it is kept
    while both are unchanged (a newly registered op changes the key and the set is collected again)."""
    import torch
    import torch._export.utils as export_utils
    import torch.export.decomp_utils as decomp_utils
    import torch.export.exported_program as exported_program

    collect = export_utils._collect_all_valid_cia_ops
    if getattr(collect, "opcov_memoized", False):
        return
    memo: dict[tuple, frozenset] = {}

    def memoized():
        table = torch._C._dispatch_get_registrations_for_dispatch_key("CompositeImplicitAutograd")
        key = (tuple(torch.ops._dir), len(table))
        if key not in memo:
            memo.clear()
            memo[key] = frozenset(collect())
        return set(memo[key])

    memoized.opcov_memoized = True  # type: ignore[attr-defined]
    for module in (export_utils, decomp_utils, exported_program):
        if getattr(module, "_collect_all_valid_cia_ops", None) is collect:
            module._collect_all_valid_cia_ops = memoized


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


def _alone_key(spec: OpSpec, sample: Sample, device: str) -> str:
    """The compile cache's key of the case's own program."""
    return _cache().key(op=spec.name, dtype=sample.dtype, signature=_signature(spec, sample), device=device, meta=4)


def _program(spec: OpSpec, sample: Sample, device: str) -> tuple[bytes, dict[str, Any]]:
    """The case's own program and what lowering reported for it, from the disk cache or built now."""
    program, meta = _cached(_alone_key(spec, sample, device), lambda: _build(spec, [sample], device))
    return program, {**meta["members"][0], "operators": meta["operators"], "cache": meta["cache"]}


def _cached(key: str, build) -> tuple[bytes, dict[str, Any]]:
    """The program and its report from the disk cache, or built now; a build that failed before (same key, same
    versions, same backend code) fails again from the cache without rebuilding (its record says ``cache: hit``)."""
    cache = _cache()
    program, meta_bytes = cache.get(key), cache.get(key + "-meta")
    if program is not None and meta_bytes is not None:
        return program, {**json.loads(meta_bytes), "cache": "hit"}
    failure = cache.failure(key, _BUILDER)
    if failure is not None:
        raise failure
    try:
        program, meta = build()
    except Exception as exc:
        if not isinstance(exc, _TooHeavy):  # that depends on the machine's speed, not on the stack
            cache.put_failure(key, exc, _BUILDER)
        raise
    cache.put(key + "-meta", json.dumps(meta).encode())
    cache.put(key, program)  # written last: a program on disk always has its report beside it
    return program, {**meta, "cache": "built"}


# This backend's code (both modules), in the key of a kept failure: a changed backend builds again what failed
# before.
_BUILDER = digest(Path(__file__).read_bytes() + Path(executorch_members.__file__).read_bytes())[:12]

# The cases of the group being run: (op, device, dtype, sample id) -> (the group's program, its report, the case's
# place in it, every member's sample).
_GROUPED: dict[tuple[str, str, str, str], tuple[bytes, dict[str, Any], int, list[Sample]]] = {}
# The members of the op's groups that the edge verifier refused on their own nodes -> that refusal.
_REFUSED: dict[tuple[str, str, str, str], Exception] = {}


def _grouped(spec: OpSpec, sample: Sample, device: str) -> tuple[tuple[np.ndarray, ...], dict[str, Any]] | None:
    """The case's outputs from its group's program, fed its own inputs (and fresh copies of the other members'),
    with the report of the nodes that computed them; None when it has no group or the group's program fails.
    Raises the verifier's refusal of the case's own nodes when its group found one."""
    refused = _REFUSED.get((spec.name, device, sample.dtype, sample.id))
    if refused is not None:
        raise refused
    entry = _GROUPED.get((spec.name, device, sample.dtype, sample.id))
    if entry is None:
        return None
    program, meta, slot, members = entry
    feed = [t for i, member in enumerate(members) for t in _inputs(sample if i == slot else member)]
    try:
        outputs = _execute(program, meta, feed)
    except Exception:  # it ran when built: these inputs fail it, so the case builds and runs its own program
        return None
    own = meta["members"][slot]
    lo, hi = own["outputs"]
    return outputs[lo:hi], {**own, "operators": meta["operators"], "cache": meta["cache"], "group": len(members)}


def _build(spec: OpSpec, samples: list[Sample], device: str) -> tuple[bytes, dict[str, Any]]:
    """One program calling the op on each sample's inputs in turn, and per sample what its outputs' nodes were:
    exported as which aten ops, run in which delegates, left to which portable kernels."""
    import torch

    binding = spec.bindings["torch"]
    assert isinstance(binding, CallBinding)
    fn = binding.resolve()
    calls = [(binding.rename(s.kwargs), len(s.args)) for s in samples]
    counts = [0] * len(samples)

    class Case(torch.nn.Module):
        def forward(self, *args):
            outputs, at = [], 0
            for i, (kwargs, n) in enumerate(calls):
                result = as_output_tuple(fn(*args[at:at + n], **kwargs))
                at, counts[i] = at + n, len(result)
                outputs.extend(result)
            return tuple(outputs)

    to_edge_transform_and_lower, XnnpackPartitioner = _lowering()
    exported_names: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # export and lowering warn about deprecations on every call
        with reached(lambda: exported_names), at_stage(Stage.EXPORT):
            start = time.perf_counter()
            exported = torch.export.export(Case(), tuple(t for s in samples for t in _inputs(s)))
            if len(samples) > 1 and (time.perf_counter() - start) / len(samples) > HEAVY_EXPORT_S:
                raise _TooHeavy(f"{len(samples)} calls took {time.perf_counter() - start:.2f} s to export")
        spans = output_spans(counts)
        exported_names = op_names(exported.graph.nodes)
        with reached(lambda: exported_names), at_stage(Stage.LOWER):
            per_member: dict[str, Any] = {}
            try:
                partitioner = [XnnpackPartitioner()] if device == "xnnpack" else []
                with verified_per_member(spans, per_member):
                    edge = to_edge_transform_and_lower(exported, partitioner=partitioner)
            except Exception as exc:
                if type(exc).__name__ == "SpecViolationError":  # the edge dialect's verifier: not Core ATen
                    exc.opcov_stage = Stage.CONVERT  # type: ignore[attr-defined]
                    if per_member.get("error") is exc and per_member["members"]:
                        exported_cones = cones(exported.graph_module, spans)
                        for slot, error in per_member["members"].items():
                            error.opcov_stage = Stage.CONVERT
                            error.opcov_dispatched = tuple(op_names(exported_cones[slot]))
                        exc.opcov_members = per_member["members"]  # type: ignore[attr-defined]
                raise
        lowered = edge.exported_program()
        members = [{"outputs": span, "exported": op_names(exported_cone)} | placement(lowered.graph, cone)
                   for span, exported_cone, cone in zip(spans, cones(exported.graph_module, spans),
                                                        cones(lowered.graph_module, spans))]
        with reached(lambda: exported_names), at_stage(Stage.COMPILE):
            program = edge.to_executorch()
    plan = program.executorch_program.execution_plan[0]
    operators = [f"{o.name}.{o.overload}" if o.overload else o.name for o in plan.operators]
    try:  # each member's own operators: the kernels the runtime must have to load the member's program alone
        final = program.exported_program().graph_module
        for member, cone in zip(members, cones(final, spans)):
            names = [kernel_name(n.target) for n in cone if n.op == "call_function" and n.graph is final.graph]
            member["operators"] = [name for name in dict.fromkeys(names) if name in operators]
            # the emitter numbered each node with its instruction's place in the chain (its debug handle)
            member["instructions"] = sorted({n.meta["debug_handle"] for n in cone if n.op == "call_function"
                                             and isinstance(n.meta.get("debug_handle"), int)})
    except Exception:  # noqa: BLE001 - without them, a group the runtime cannot load has its members built alone
        pass
    return program.buffer, {"members": members, "operators": operators}


def _makes_inputs(sample: Sample) -> bool:
    try:
        _inputs(sample)
    except Exception:  # torch cannot hold the dtype (int4, float4_e2m1fn)
        return False
    return True


def _inputs(sample: Sample) -> list[Any]:
    from opcoverage.backends.torch import to_torch

    return [to_torch(a, "cpu") for a in sample.args]


@functools.lru_cache(maxsize=64)
def _method(program: bytes):
    return _runtime().load_program(program).load_method("forward")


def _execute(program: bytes, meta: dict[str, Any], inputs: list[Any]) -> tuple[np.ndarray, ...]:
    from opcoverage.backends.torch import from_torch

    try:
        method = _method(program)
    except RuntimeError as exc:
        if not OPERATOR_MISSING.search(str(exc)):
            raise
        error = _missing_operator(meta["operators"], exc) or Unsupported(
            f"Missing operator: {', '.join(meta['operators'])} (no kernel registered in this ExecuTorch runtime; {exc})")
        members = meta.get("members", [])
        if len(members) > 1 and all("operators" in m for m in members):  # a group: whose own operators lack one
            refused = {slot: _missing_operator(m["operators"], exc) for slot, m in enumerate(members)}
            error.opcov_members = {slot: e for slot, e in refused.items() if e is not None}  # type: ignore
            for slot, member_error in error.opcov_members.items():  # type: ignore[attr-defined]
                member_error.opcov_stage = Stage.RUN  # type: ignore[attr-defined]
                member_error.opcov_dispatched = tuple(members[slot]["exported"])  # type: ignore[attr-defined]
        raise error from exc
    log: list[str] = []
    try:
        with runtime_log(log):
            outputs = method.execute(inputs)
    except RuntimeError as exc:
        failure = kernel_failure(exc, log, meta.get("members", []))
        if failure is None:
            raise
        raise failure from exc
    return tuple(from_torch(o) for o in as_output_tuple(outputs))


def _missing_operator(operators: list[str], load_error: Exception) -> Unsupported | None:
    """The runtime's refusal to load a program with these operators, naming those it has no kernel for (the
    runtime resolves each instruction's kernel when it loads the method); None when it has every one."""
    registered = set(registered_kernels())
    missing = [o for o in operators if o not in registered]
    if not missing:
        return None
    return Unsupported(f"Missing operator: {', '.join(missing)} (no kernel registered in this ExecuTorch runtime; "
                       f"{load_error})")


@functools.lru_cache(maxsize=None)
def registered_kernels() -> tuple[str, ...]:
    """Every operator the runtime has a kernel for (``aten::add.out``): the portable kernels and the prim ops."""
    from executorch.extension.pybindings import portable_lib

    return tuple(sorted(portable_lib._get_operator_names()))


def _cpu_name() -> str:
    from opcoverage.environment import cpu_model

    return cpu_model()
