"""Model readiness, ONNX source: an ONNX model's nodes (op_type, opset, input dtypes and shapes, counts, subgraphs
included) into a manifest usage, each op_type mapped through the catalog's ONNX bindings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from opcoverage.errors import UsageError

_FLOATING = {"float32", "float16", "bfloat16", "float64", "complex64", "complex128"}


def load(path: str | Path):
    import onnx

    try:
        return onnx.load(str(path))
    except FileNotFoundError:
        raise UsageError(f"ONNX model {path} does not exist; pass the path of a .onnx file") from None
    except Exception as exc:  # onnx raises DecodeError and others for a file that is not a model
        raise UsageError(f"cannot read ONNX model {path}: {type(exc).__name__}: {str(exc)[:200]}") from None


def _dtype_name(elem_type: int) -> str:
    from onnx import helper

    try:
        return str(helper.tensor_dtype_to_np_dtype(elem_type).name)
    except Exception:  # a type NumPy cannot spell (string, float8 variants in older onnx)
        return helper.tensor_dtype_to_string(elem_type).removeprefix("TensorProto.").lower()


def _value_types(model) -> dict[str, tuple[str, tuple[int, ...] | None]]:
    """Every value's (dtype, shape) that ONNX shape inference knows; unknown dims are -1."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # a model inference rejects still has its declared inputs and initializers
        inferred = model
    graph = inferred.graph
    out: dict[str, tuple[str, tuple[int, ...] | None]] = {}
    for init in graph.initializer:
        out[init.name] = (_dtype_name(init.data_type), tuple(init.dims))
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        kind = value.type.WhichOneof("value")
        if kind != "tensor_type":
            continue
        tensor = value.type.tensor_type
        elem = tensor.elem_type
        if not elem:
            continue
        name = _dtype_name(elem)
        shape = None
        if tensor.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
        out[value.name] = (name, shape)
    return out


def _nodes(graph) -> Iterator[Any]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and attr.HasField("g"):
                yield from _nodes(attr.g)
            for sub in attr.graphs:
                yield from _nodes(sub)


def node_calls(model) -> tuple[list, dict[str, int]]:
    """(name, judged dtype, input dtypes, input shapes) per node, and the opset each op name was imported at."""
    types = _value_types(model)
    opset_of = {imp.domain or "": imp.version for imp in model.opset_import}
    calls, opsets = [], {}
    for node in _nodes(model.graph):
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        name = node.op_type if not domain else f"{domain}.{node.op_type}"
        inputs = [types.get(i) for i in node.input if i]
        known = [t for t in inputs if t is not None]
        floating = [t[0] for t in known if t[0] in _FLOATING]
        data = [t[0] for t in known if t[0] != "bool"]  # Where(cond, x, y) is about x and y
        if floating:
            dtype = floating[0]
        elif data or known:
            dtype = (data or [t[0] for t in known])[0]
        else:  # Constant, RandomNormal: judged at what they make
            made = [types.get(o) for o in node.output if types.get(o)]
            dtype = made[0][0] if made else "float32"
        shapes = tuple(t[1] if t[1] is not None else () for t in known)
        calls.append((name, dtype, tuple(sorted({t[0] for t in known})), shapes))
        if domain in opset_of:
            opsets[name] = opset_of[domain]
    return calls, opsets


def usage(model, mapper, note: str = ""):
    from opcoverage.models.manifest import usage_from_calls

    calls, opsets = node_calls(model)
    return usage_from_calls("onnx", calls, mapper, opsets, note)
