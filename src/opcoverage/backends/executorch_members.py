"""ExecuTorch backend, group members: which nodes, delegates, kernels and run-time failures of a program built for
several cases (opcoverage.execute.groups) are each case's own, so each is judged as its own program would be."""

from __future__ import annotations

import contextlib
import re
from typing import Any, Iterator

import numpy as np

from opcoverage.backends.base import as_output_tuple
from opcoverage.types import Stage

# Graph nodes that move values around a delegate call rather than compute.
PLUMBING = ("executorch_call_delegate", "getitem")


# The runtime's log line for a kernel that failed at run time (Error::InvalidArgument 0x12, ...), and the source
# location each log line starts with.
KERNEL_FAILED = re.compile(r"KernelCall failed at instruction \d+:(?P<instruction>\d+) in operator (?P<operator>\S+):")
KERNEL_CHECK = re.compile(r"Check failed|Unhandled dtype|[Ee]xpected|must be|not supported|invalid", re.IGNORECASE)
LOG_PREFIX = re.compile(r"^\[[^\]]*\]\s*")


@contextlib.contextmanager
def verified_per_member(spans: list[list[int]], found: dict[str, Any]) -> Iterator[None]:
    """While lowering a group: when the edge dialect's verifier refuses the group's program (SpecViolationError),
    run the same verifier again on each member's own nodes (the cone of its outputs, as a graph of its own) and put
    in ``found`` the refusal and, per refused member's place, the verifier's own error for it. Both of the
    verifier's checks are per node (the op is Core ATen or allowed; its tensors' dtypes are ones the op takes), so
    a member's own check is the check of the program it would be alone. A member check that cannot run leaves
    ``found`` empty, and the group's members then build alone."""
    from torch._export.verifier import SpecViolationError, Verifier

    check = Verifier.check

    def check_per_member(verifier, program) -> None:
        try:
            check(verifier, program)
        except SpecViolationError as exc:
            if len(spans) > 1 and "error" not in found:
                try:
                    found["members"] = _refused_members(verifier, program.graph_module, spans, SpecViolationError)
                    found["error"] = exc
                except Exception:  # noqa: BLE001 - the group's members build alone instead
                    found.clear()
            raise

    Verifier.check = check_per_member
    try:
        yield
    finally:
        Verifier.check = check


def _refused_members(verifier, graph_module, spans: list[list[int]], refusal: type) -> dict[int, Exception]:
    """Each member's place -> the verifier's error on a graph of that member's nodes alone (members it takes are
    left out)."""
    import torch

    output = next(n for n in graph_module.graph.nodes if n.op == "output")
    values = list(as_output_tuple(output.args[0]))
    refused = {}
    for slot, (cone, (lo, hi)) in enumerate(zip(cones(graph_module, spans), spans)):
        graph = torch.fx.Graph()
        copies: dict[Any, Any] = {}
        for node in (n for n in cone if n.graph is graph_module.graph):
            copies[node] = graph.node_copy(node, lambda n: copies[n])
        graph.output(tuple(copies[v] if v in copies else v for v in values[lo:hi]))
        try:
            verifier._check_graph_module(torch.fx.GraphModule(graph_module, graph))
        except refusal as exc:
            refused[slot] = exc
    return refused


def output_spans(counts: list[int]) -> list[list[int]]:
    """Each call's [first, last) places among the program's outputs."""
    ends = list(np.cumsum(counts, dtype=int))
    return [[int(end - n), int(end)] for n, end in zip(counts, ends)]


def cones(graph_module, spans: list[list[int]]) -> list[list[Any]]:
    """For each span of the program's outputs, the nodes they are computed from: the graph's own in graph order,
    then those inside its delegates. XNNPACK's partitioner may put the calls of several members in one delegate, so
    through a delegate's output only that output's nodes inside the delegate and the delegate's inputs they read are
    followed: a member's cone is what its own program runs. Calls whose results nothing uses go with the member
    whose nodes they read."""
    graph = graph_module.graph
    output = next(n for n in graph.nodes if n.op == "output")
    values = list(as_output_tuple(output.args[0]))
    if spans and spans[-1][1] != len(values):
        raise RuntimeError(f"the program has {len(values)} outputs where its calls returned {spans[-1][1]}")
    cones = []
    for lo, hi in spans:
        seen: set = set()
        inside: set = set()
        stack = [v for v in values[lo:hi] if hasattr(v, "all_input_nodes")]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if _is_delegate_call(node.args[0] if node.args else None) and _name(node.target) == "getitem":
                call = node.args[0]
                seen.update((call, call.args[0]))
                nodes, inputs = _delegate_part(graph_module, call, node.args[1])
                inside.update(nodes)
                stack.extend(inputs)
            elif _is_delegate_call(node):  # read whole: every input and every node inside
                nodes, inputs = _delegate_part(graph_module, node, None)
                inside.update(nodes)
                stack.extend(inputs)
            else:
                stack.extend(node.all_input_nodes)
        # calls whose results nothing uses (torch.export's _assert_tensor_metadata on an input) are the member's
        # whose nodes they read
        seen.update(n for n in graph.nodes if n.op == "call_function" and not n.users and n not in seen
                    and n.all_input_nodes and all(i in seen for i in n.all_input_nodes))
        cones.append([n for n in graph.nodes if n in seen]
                     + [n for module in _lowered_modules(graph_module, seen) for n in module.graph.nodes
                        if n in inside])
    return cones


def _is_delegate_call(node: Any) -> bool:
    return getattr(node, "op", None) == "call_function" and _name(node.target) == "executorch_call_delegate"


def _lowered_modules(graph_module, nodes) -> list[Any]:
    """The original programs of the delegates called among ``nodes``, in graph order."""
    return [getattr(graph_module, str(n.args[0].target)).original_module for n in graph_module.graph.nodes
            if n in nodes and _is_delegate_call(n)]


def _delegate_part(graph_module, call, index: int | None) -> tuple[list[Any], list[Any]]:
    """The call_function nodes inside a delegate call's lowered program that compute its output ``index`` (None:
    all of them), and the call's inputs they read (every input when the program's inputs do not line up with the
    call's)."""
    inner = getattr(graph_module, str(call.args[0].target)).original_module.graph
    placeholders = [n for n in inner.nodes if n.op == "placeholder"]
    outputs = list(as_output_tuple(next(n for n in inner.nodes if n.op == "output").args[0]))
    if index is None or len(placeholders) != len(call.args) - 1:
        return [n for n in inner.nodes if n.op == "call_function"], list(call.all_input_nodes)
    seen: set = set()
    stack = [outputs[index]] if hasattr(outputs[index], "all_input_nodes") else []
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.all_input_nodes)
    read = [arg for arg, p in zip(call.args[1:], placeholders) if p in seen and hasattr(arg, "all_input_nodes")]
    return [n for n in inner.nodes if n in seen and n.op == "call_function"], read


def placement(graph, cone: list[Any]) -> dict[str, Any]:
    """Where the cone's work ran: the delegate calls, the ops inside their delegates, and the portable ops."""
    own = [n for n in cone if n.graph is graph]
    portable = [name for name in op_names(own) if name not in PLUMBING]
    delegates = sum(1 for n in own if _is_delegate_call(n))
    delegated = op_names(n for n in cone if n.graph is not graph)
    # sorted: a group's passes may order a member's nodes (a constant's copy, say) apart from its own program's
    return {"portable_ops": sorted(set(portable)), "delegated_ops": sorted(set(delegated)), "delegate_calls": delegates}


@contextlib.contextmanager
def runtime_log(lines: list[str]) -> Iterator[None]:
    """Put in ``lines`` what the runtime logs inside (to file descriptor 2, or to ``sys.stderr``, where the
    pybindings may redirect its C++ stream), which then still reaches fd 2 (the worker's log)."""
    import os
    import sys
    import tempfile

    sys.stderr.flush()
    saved, saved_stream = os.dup(2), sys.stderr
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        sys.stderr = stream = open(2, "w", closefd=False)
        try:
            yield
        finally:
            stream.flush()
            sys.stderr = saved_stream
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            data = log.read()
            if data:
                os.write(2, data)
            lines.extend(data.decode("utf-8", "replace").splitlines())


def kernel_failure(error: Exception, log: list[str], members: list[dict[str, Any]]) -> RuntimeError | None:
    """The runtime's failed execution with the kernel that failed and its reason, as the runtime logged them
    ("KernelCall failed at instruction 0:15 in operator aten::constant_pad_nd.out", after the kernel's own check);
    in a group, the member that instruction belongs to gets it too (``opcov_members``): instructions run in order
    and stop at the first failure, which is then that member's own. None when the log names no kernel."""
    for at, line in enumerate(log):
        found = KERNEL_FAILED.search(line)
        if found:
            break
    else:
        return None
    block: list[str] = []  # the lines logged since the previous instruction's report
    for line in reversed(log[:at]):
        text = LOG_PREFIX.sub("", line).strip().rstrip(":").strip()
        if text.startswith(("arg ", "KernelCall failed")):
            break
        if text:
            block.insert(0, text)
    # the kernel's own checks, innermost first (the runtime's first run also logs what it reads of the CPU)
    reasons = [t for t in block if KERNEL_CHECK.search(t)] or block[-1:]
    operator, instruction = found.group("operator"), int(found.group("instruction"))
    failure = RuntimeError(f"{error}: {operator} failed" + (f": {reasons[0]}" if reasons else ""))
    message = str(failure)
    owners = [slot for slot, m in enumerate(members) if instruction in m.get("instructions", ())]
    if len(members) > 1 and len(owners) == 1:
        own = RuntimeError(message)
        own.opcov_stage = Stage.RUN  # type: ignore[attr-defined]
        own.opcov_kernel = operator  # type: ignore[attr-defined]  # on these inputs' values: never kept in the cache
        own.opcov_dispatched = tuple(members[owners[0]]["exported"])  # type: ignore[attr-defined]
        failure.opcov_members = {owners[0]: own}  # type: ignore[attr-defined]
    return failure


def op_names(nodes) -> list[str]:
    return list(dict.fromkeys(_name(n.target) for n in nodes if n.op == "call_function"))


def kernel_name(target: Any) -> str | None:
    """``aten::add.out``: the name the program's operator table gives the kernel a node calls (None: not a kernel)."""
    schema = getattr(target, "_schema", None)
    if schema is None:
        return None
    return f"{schema.name}.{schema.overload_name}" if schema.overload_name else str(schema.name)


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
