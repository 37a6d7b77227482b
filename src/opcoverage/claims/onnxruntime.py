"""ONNX Runtime claims (results -> audit): does the kernel registry hold a kernel for the case's node on the EP?

The registry is ``onnxruntime.capi.onnxruntime_pybind11_state.get_all_opkernel_def()`` (what
OperatorKernels.md is generated from): one record per kernel with op_name, domain, provider,
version_range and type_constraints. A case's claim is decided the way ONNX Runtime itself picks a kernel
for a node: same op, domain and provider, a version range that admits the node's schema since-version, and
every type constraint of the kernel admitting the type the node binds to it. The node is rebuilt from the
case's sample, so every input and output type counts (Cast's T2, an int64 axes input), not only the
case's dtype.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from opcoverage.claims import CaseSource, Claim
from opcoverage.types import CaseResult, Status, Target

INT_MAX = 2**31 - 1  # an open-ended kernel version range ends here


def version_admits(start: int, end: int, since: int) -> bool:
    """onnxruntime/core/framework/kernel_registry.cc (VerifyKernelDef): a kernel fits a node whose schema is
    since-version ``since`` if it starts there, or starts earlier and has a closed range that reaches it."""
    return start == since or (start < since and end != INT_MAX and end >= since)


@dataclass(frozen=True)
class Node:
    """The case's single node as ONNX Runtime sees it: its schema version and the type bound to each constraint."""

    op_type: str
    domain: str
    since: int
    bound: dict[str, str]  # type parameter (and formal argument) name -> "tensor(float16)"
    schema: Any
    model: bytes


class OnnxRuntimeClaims:
    per_dtype = True

    def __init__(self, target: Target, cases: CaseSource):
        import onnxruntime
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        from opcoverage.backends.onnxruntime import PROVIDERS

        self.cases = cases
        self.provider = PROVIDERS.get(target.device, target.device)
        self.kernels: dict[tuple[str, str], list[Any]] = defaultdict(list)
        self.source = (f"onnxruntime {onnxruntime.__version__} kernel registry (get_all_opkernel_def) for "
                       f"{self.provider}: per op, opset and type")
        crash = _registry_crash()
        if crash:
            self.missing = (f"this onnxruntime build ({onnxruntime.__version__}) cannot list its kernels: "
                            f"get_all_opkernel_def() dies from {crash}")
            return
        for kernel in state.get_all_opkernel_def():
            if kernel.provider == self.provider:
                self.kernels[(_domain(kernel.domain), kernel.op_name)].append(kernel)
        self.missing = "" if self.kernels else (
            f"this onnxruntime build ({onnxruntime.__version__}) registers no {self.provider} kernels; "
            "audit where the run's execution provider is installed")

    def claims_for(self, record: CaseResult) -> Claim:
        if self.missing:
            return Claim(None, self.missing)
        node = self._node(record)
        if isinstance(node, str):
            return Claim(None, node)
        name = f"{node.op_type}-{node.since}" + (f" ({node.domain})" if node.domain else "")
        type_params = {c.type_param_str for c in node.schema.type_constraints}
        bound_text = ", ".join(f"{k}={_short(v)}" for k, v in sorted(node.bound.items()) if k in type_params)
        registered = self.kernels.get((node.domain, node.op_type), [])
        in_version = [k for k in registered if version_admits(*k.version_range, node.since)]
        matching = [k for k in in_version if _types_admit(k.type_constraints, node.bound)]
        if matching:
            return Claim(True, f"{self.provider} kernel for {name} with {bound_text or 'no type constraint'}")
        if not registered:
            why = f"no {self.provider} kernel for {node.op_type} in any opset"
        elif not in_version:
            ranges = sorted({_range(k.version_range) for k in registered})
            why = f"no {self.provider} kernel for {name}: kernels only for opsets {', '.join(ranges)}"
        else:
            why = f"no {self.provider} kernel for {name} with {bound_text}; registered: {_registered_types(in_version)}"
        # It ran all the same: onnxruntime's optimized graph shows what it ran instead.
        if record.status is not Status.PASS:
            return Claim(False, why)
        cause, hint = self._how_it_ran(node)
        return Claim(False, why, hint, cause)

    def _how_it_ran(self, node: Node) -> tuple[str, str]:
        """(cause, explanation) of how an unlisted node ran, read from the graph onnxruntime optimized."""
        op_type, since, schema = node.op_type, node.since, node.schema
        try:
            nodes = realized_graph(node.model, self.provider)
        except Exception as exc:
            return "runs without a listed kernel", f"onnxruntime's optimized graph could not be read ({exc!r:.120})"
        if not nodes:
            return "folded away at session creation", (
                "onnxruntime folded the node away when it created the session (a Constant becomes an initializer, "
                "a node of constants is evaluated once): no node is left to run")
        ran = ", ".join(nodes[:10]) + (", ..." if len(nodes) > 10 else "")
        how, causes = [], []
        inlined = op_type not in nodes
        if inlined:
            if schema.has_function or schema.has_context_dependent_function:
                how.append(f"it inlined the ONNX function body of {op_type}-{since}")
                causes.append("ONNX function body inlined")
            else:
                how.append(f"a graph optimizer rewrote {op_type} into other ops")
                causes.append("rewritten into other ops")
        # Casts it added: around the node (only its float16 tensors: a bool or int64 output is left alone), or
        # wrapping an inlined body (whose own ops may include Casts, as CastLike's does).
        added = (nodes.count("Cast") > (op_type == "Cast") if not inlined
                 else len(nodes) > 2 and nodes[0] == nodes[-1] == "Cast")
        if added and "tensor(float16)" in node.bound.values():
            how.append("its InsertCastTransformer computes a float16 node that has no float16 CPU kernel in float32, "
                       "between Casts")
            causes.append("float16 computed in float32 (InsertCastTransformer)")
        elif added and not inlined:
            how.append("it put Casts around the node")
            causes.append("Casts inserted around the node")
        if not how:
            how.append("the node itself ran, on a kernel that get_all_opkernel_def does not list")
            causes.append("runs on an unlisted kernel")
        return ", then ".join(causes), f"onnxruntime ran {ran}: {'; '.join(how)}"

    def _node(self, record: CaseResult) -> Node | str:
        """The case's node rebuilt from its sample, or why it cannot be."""
        import onnx

        from opcoverage.backends.onnxruntime import build_model

        looked = self.cases.lookup(record)
        if isinstance(looked, str):
            return looked
        spec, sample = looked
        binding = spec.bindings.get("onnx")
        if binding is None:
            return f"op {record.op} has no onnx binding in the catalog the audit loaded"
        try:
            model_bytes, _, _ = build_model(binding, sample, spec.result_dtype)
        except Exception as exc:  # the run recorded the same failure, or skipped the case
            return (f"the case's model cannot be built, so no kernel is ever looked up "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})")
        model = onnx.load_from_string(model_bytes)
        node = model.graph.node[0]
        domain = _domain(node.domain)
        opset = next(o.version for o in model.opset_import if _domain(o.domain) == domain)
        try:
            schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
        except onnx.defs.SchemaError:
            return f"onnx {onnx.__version__} has no schema for {node.op_type} at opset {opset}"
        types = {v.name: v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)}
        types.update({t.name: t.data_type for t in model.graph.initializer})
        bound: dict[str, str] = {}
        for formals, actuals in ((schema.inputs, node.input), (schema.outputs, node.output)):
            for i, arg in enumerate(actuals):
                if not arg or arg not in types or not formals:
                    continue
                formal = formals[min(i, len(formals) - 1)]  # a trailing variadic parameter takes the rest
                type_str = f"tensor({onnx.TensorProto.DataType.Name(types[arg]).lower()})"
                # ORT resolves a kernel constraint by type-parameter name, or by the formal argument's name.
                bound.setdefault(formal.type_str, type_str)
                bound.setdefault(formal.name, type_str)
        return Node(node.op_type, domain, schema.since_version, bound, schema, model_bytes)


def _registry_crash() -> str:
    """Why reading the kernel registry would kill this process, asked of a child first: onnxruntime-openvino 1.24's
    get_all_opkernel_def() segfaults. "" when it reads fine."""
    import signal
    import subprocess
    import sys

    probe = "from onnxruntime.capi import onnxruntime_pybind11_state as s; s.get_all_opkernel_def()"
    code = subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode
    if code >= 0:
        return ""
    try:
        return f"signal {-code} ({signal.Signals(-code).name})"
    except ValueError:
        return f"signal {-code}"


def _domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def _types_admit(constraints: dict[str, list[str]], bound: dict[str, str]) -> bool:
    return all(bound.get(name) is None or bound[name] in allowed for name, allowed in constraints.items())


def _short(type_str: str) -> str:
    return type_str.removeprefix("tensor(").removesuffix(")")


def _range(version_range: tuple[int, int]) -> str:
    start, end = version_range
    return f"{start}+" if end == INT_MAX else (f"{start}" if start == end else f"{start}-{end}")


def _registered_types(kernels: list[Any]) -> str:
    by_name: dict[str, set[str]] = defaultdict(set)
    for kernel in kernels:
        for name, allowed in kernel.type_constraints.items():
            by_name[name].update(_short(t) for t in allowed)
    return "; ".join(f"{name} in {{{', '.join(sorted(types))}}}" for name, types in sorted(by_name.items()))


def realized_graph(model: bytes, provider: str) -> list[str]:
    """The op_types onnxruntime actually runs for a model: the graph it saves after its session-time optimizations
    (function inlining, InsertCastTransformer, constant folding)."""
    import os
    import tempfile

    import onnx
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="opcov-ort-") as tmp:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 4
        options.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        providers = [provider]
        if provider != "CPUExecutionProvider":  # as the backend runs it: no silent fallback to the CPU
            options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
        onnxruntime.InferenceSession(model, options, providers=providers)
        return [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
