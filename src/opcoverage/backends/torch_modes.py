"""torch backend, modes beyond forward: grad (autograd's VJP), compile (torch.compile with dynamo's counters) and
export (torch.export lowered to the Core ATen opset), each returning an Execution for the comparison stage."""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any

from opcoverage.backends.base import Execution, Unsupported, as_output_tuple, at_stage, reached
from opcoverage.backends.torch import fallback_warnings, from_torch, synchronize, to_torch
from opcoverage.catalog.spec import CallBinding, OpSpec
from opcoverage.types import Sample, Stage

REASON_LIMIT = 300


def _call(spec: OpSpec, sample: Sample):
    binding = spec.bindings["torch"]
    assert isinstance(binding, CallBinding)
    fn, kwargs = binding.resolve(), binding.rename(sample.kwargs)
    return lambda *xs: fn(*xs, **kwargs)


def _recorder(torch, names: list[str]):
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            names.append(func.name())
            return func(*args, **(kwargs or {}))

    return Recorder()


def run_grad(torch, spec: OpSpec, sample: Sample, device: str, request: Any) -> Execution:
    """J^T v for the inputs in ``request.wrt``: autograd.grad of the outputs in ``request.outputs`` with the
    cotangents v. Where no output requires grad the gradient is zeros and extra.no_derivative says so (the oracle
    tells a constant op from a derivative torch does not have). The backward's aten ops are
    recorded (extra.backward) and count toward op-set coverage like the forward's."""
    call = _call(spec, sample)

    def vjp(record: list[str] | None):
        leaves = {i: to_torch(sample.args[i], device).requires_grad_(True) for i in request.wrt}
        args = [to_torch(a, device, sample.layout) for a in sample.args]
        for i, leaf in leaves.items():  # a transposed sample stays a non-contiguous view of its leaf
            args[i] = leaf.t().contiguous().t() if sample.layout == "transposed" and leaf.ndim == 2 else leaf
        outputs = as_output_tuple(call(*args))
        if record is not None:
            record.append("--backward--")
        pairs = [(outputs[j], to_torch(v, device).to(outputs[j].dtype))
                 for j, v in zip(request.outputs, request.cotangents)
                 if isinstance(outputs[j], torch.Tensor) and outputs[j].requires_grad]
        if not pairs:  # torch recorded no derivative: the oracle tells a constant op from a missing derivative
            untracked.append(f"torch records no derivative for {spec.name} (its output does not require grad)")
            return tuple(torch.zeros_like(leaf) for leaf in leaves.values())
        grads = torch.autograd.grad([o for o, _ in pairs], list(leaves.values()), [v for _, v in pairs],
                                    allow_unused=True, materialize_grads=True)
        synchronize(torch, device)
        return grads

    fell_back: list[str] = []
    recorded: list[str] = []
    untracked: list[str] = []
    with fallback_warnings(fell_back), reached(lambda: _split(recorded)[0] + _split(recorded)[1]):
        grads = vjp(None)
        with contextlib.suppress(Exception), _recorder(torch, recorded):
            vjp(recorded)  # only to record the aten ops, forward and backward; no verdict uses it
    forward_ops, backward_ops = _split(recorded)
    fallback = fell_back[0] if fell_back else None
    if fallback is None and device != "cpu":
        strays = {g.device.type for g in grads} - {device}
        fallback = f"gradients were produced on {', '.join(sorted(strays))}, not {device}" if strays else None
    extra: dict[str, Any] = {"backward": list(dict.fromkeys(backward_ops))}
    if untracked:
        extra["no_derivative"] = untracked[0]
    return Execution(tuple(from_torch(g) for g in grads), tuple(dict.fromkeys(forward_ops + backward_ops)), fallback,
                     extra)


def _split(recorded: list[str]) -> tuple[list[str], list[str]]:
    if "--backward--" not in recorded:
        return list(recorded), []
    cut = recorded.index("--backward--")
    return recorded[:cut], recorded[cut + 1:]


def _compile_stage(exc: BaseException) -> Stage:
    """Where torch.compile failed: dynamo's trace (capture), the backend's lowering to its IR (lower), code
    generation and the C++/Triton compile (compile), or the compiled code itself (run)."""
    import torch._dynamo.exc as dynamo_exc

    if isinstance(exc, dynamo_exc.BackendCompilerFailed):
        inner = getattr(exc, "inner_exception", None) or exc.__cause__
        text = f"{type(inner).__name__} {inner}"
        return Stage.LOWER if "Lowering" in text or "lowering" in text else Stage.COMPILE
    capture = tuple(getattr(dynamo_exc, n) for n in ("Unsupported", "TorchRuntimeError", "UserError",
                                                       "InternalTorchDynamoError", "UncapturedHigherOrderOpError")
                    if hasattr(dynamo_exc, n))
    return Stage.CAPTURE if isinstance(exc, capture) else Stage.RUN


def configure_caches() -> None:
    """Keep inductor's compiled kernels and FX graphs across runs in OPCOV_CACHE_DIR (a later run of the same
    cases compiles in ~50 ms instead of ~1 s), unless the user points torch at its own cache. torch writes its
    default (/tmp/torchinductor_<user>) into TORCHINDUCTOR_CACHE_DIR the first time it asks for the folder, often
    while it is imported, so that value counts as unset; inductor reads the variable again at every lookup."""
    from torch._inductor.runtime.runtime_utils import default_cache_dir

    from opcoverage.cache import cache_root

    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if current is None or os.path.abspath(current) == os.path.abspath(default_cache_dir()):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_root() / "inductor")


def run_compiled(torch, spec: OpSpec, sample: Sample, device: str, backend_name: str) -> Execution:
    """The op under ``torch.compile(backend=...)`` on fresh dynamo state, so its counters describe this case only:
    a graph break, or no graph at all (an eager run), is a fallback with dynamo's reason; ATen extern kernels left
    inside an inductor graph are counted (extra.extern_calls)."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    configure_caches()
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(_call(spec, sample), backend=backend_name)
    args = [to_torch(a, device, sample.layout) for a in sample.args]
    fell_back: list[str] = []
    try:
        with fallback_warnings(fell_back):
            result = compiled(*args)
            synchronize(torch, device)
    except Exception as exc:
        exc.opcov_stage = _compile_stage(exc)  # type: ignore[attr-defined]
        raise
    breaks = [reason.strip().splitlines()[0][:REASON_LIMIT] for reason in counters["graph_break"]]
    graphs = int(counters["stats"].get("unique_graphs", 0))
    extra: dict[str, Any] = {"compile_backend": backend_name, "graphs": graphs,
                             "extern_calls": int(counters["inductor"].get("extern_calls", 0))}
    fallback = fell_back[0] if fell_back else None
    if breaks:
        extra["graph_breaks"] = breaks
        extra["stage"] = Stage.GRAPH_BREAK.value
        fallback = f"graph break: {_reason(counters['graph_break'])}"
    elif graphs == 0:
        fallback = "ran eager under torch.compile: dynamo captured no graph"
    return Execution(tuple(from_torch(t) for t in as_output_tuple(result)), (), fallback, extra)


def _reason(graph_breaks: Any) -> str:
    """Dynamo's first break reason in one line: its headline and its explanation."""
    lines = [line.strip() for line in next(iter(graph_breaks)).splitlines() if line.strip()]
    explanation = next((line for line in lines if line.startswith("Explanation:")), "")
    return " ".join([lines[0], explanation]).strip()[:REASON_LIMIT]


def run_exported(torch, spec: OpSpec, sample: Sample, device: str) -> Execution:
    """torch.export of the call, run_decompositions() to the Core ATen opset, then the exported program is run.
    An op left outside Core ATen is unsupported at the lower stage, naming it (the export target's contract)."""
    call = _call(spec, sample)

    class Call(torch.nn.Module):
        def forward(self, *xs):
            return call(*xs)

    args = tuple(to_torch(a, device, sample.layout) for a in sample.args)
    with at_stage(Stage.CAPTURE):
        program = torch.export.export(Call(), args)
    with at_stage(Stage.LOWER):
        program = program.run_decompositions(decomp_table=_core_aten_table())
    ops = [node.target for node in program.graph.nodes
           if node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload)]
    names = tuple(dict.fromkeys(op.name() for op in ops))
    non_core = sorted({op.name() for op in ops if torch.Tag.core not in op.tags and not _is_view_or_meta(torch, op)})
    with reached(lambda: names), at_stage(Stage.RUN):
        result = program.module()(*args)
        synchronize(torch, device)
    outputs = tuple(from_torch(t) for t in as_output_tuple(result))
    if non_core:
        error = Unsupported(f"left outside the Core ATen opset after run_decompositions(): {', '.join(non_core)}")
        error.opcov_stage = Stage.LOWER  # type: ignore[attr-defined]
        error.opcov_dispatched = names  # type: ignore[attr-defined]
        raise error
    return Execution(outputs, names, None, {"exported_ops": len(names)})


@functools.lru_cache(maxsize=1)
def _core_aten_table() -> Any:
    """torch.export's default (Core ATen) decomposition table, materialised once per worker (a third of
    run_decompositions()'s time on a one-op program); run_decompositions copies it before it edits it."""
    from torch.export import default_decompositions

    return default_decompositions().materialize()


def _is_view_or_meta(torch, op: Any) -> bool:
    """Ops every Core ATen consumer accepts though they carry no core tag: symbolic sizes and runtime asserts."""
    return op.name().startswith(("aten::sym_", "aten::_assert", "aten::_local_scalar_dense"))

