"""ONNX adapters for ai.onnx's sequence and optional operators: the sample's tensors grouped into the node's
sequence and optional inputs (the convention of references/onnx_sequence.py), with the types they cannot show."""

import numpy as np

from opcoverage.catalog.adapters.onnx import _onnx_dtype, _scalar
from opcoverage.catalog.spec import OnnxCall
from opcoverage.types import Seq


def _tensor_type(array) -> str:
    """``tensor(float)``: the ONNX type of an array, as OnnxCall.types spells it."""
    from onnx import helper

    return f"tensor({helper.tensor_dtype_to_string(_onnx_dtype(array.dtype)).split('.')[-1].lower()})"


def _sequence(tensors, empty=False) -> tuple[Seq, str]:
    """The tensors as a sequence input (none of them when ``empty``), and its type, from the first tensor."""
    return Seq(() if empty else tuple(tensors)), f"seq({_tensor_type(tensors[0])})"


def onnx_split_to_sequence(args, kwargs):
    """``split`` as ONNX takes it: an int is a 0-d tensor (chunks of that length), a list a 1-D one (the lengths)."""
    attributes = {k: kwargs[k] for k in ("axis", "keepdims") if k in kwargs}
    split = kwargs.get("split")
    if split is None:
        return OnnxCall((args[0],), attributes)
    split = _scalar(split, np.int64) if isinstance(split, int) else np.asarray(split, dtype=np.int64)
    return OnnxCall((args[0], split), attributes, frozenset({1}))


def onnx_sequence_empty(args, kwargs):
    """No inputs: the template tensor gives the ``dtype`` attribute."""
    return OnnxCall((), {"dtype": _onnx_dtype(args[0].dtype)})


def onnx_sequence_length(args, kwargs):
    sequence, kind = _sequence(args, kwargs.get("empty", False))
    return OnnxCall((sequence,), types={0: kind})


def onnx_sequence_at(args, kwargs):
    return OnnxCall((Seq(args), _scalar(kwargs["position"], np.int64)), constants=frozenset({1}))


def onnx_sequence_erase(args, kwargs):
    if "position" not in kwargs:
        return OnnxCall((Seq(args),))
    return OnnxCall((Seq(args), _scalar(kwargs["position"], np.int64)), constants=frozenset({1}))


def onnx_sequence_insert(args, kwargs):
    sequence, kind = _sequence(args[:-1], kwargs.get("empty", False))
    position = kwargs.get("position")
    inputs = (sequence, args[-1]) if position is None else (sequence, args[-1], _scalar(position, np.int64))
    return OnnxCall(inputs, constants=frozenset({2}) if position is not None else frozenset(), types={0: kind})


def onnx_concat_from_sequence(args, kwargs):
    return OnnxCall((Seq(args),), {k: kwargs[k] for k in ("axis", "new_axis") if k in kwargs})


def onnx_sequence_map(args, kwargs):
    """The body, a one-node graph (Abs of the element, or Add of the element and the additional input), takes each
    tensor of the sequence input with every additional input passed whole."""
    from onnx import helper

    additional = kwargs.get("additional", 0)
    items, extra = args[:len(args) - additional], args[len(args) - additional:]
    elem = _onnx_dtype(args[0].dtype)
    names = ["element"] + [f"extra{k}" for k in range(additional)]
    node = helper.make_node({"abs": "Abs", "add": "Add"}[kwargs["body"]], names, ["out"])
    body = helper.make_graph([node], "sequence_map_body", [helper.make_tensor_value_info(n, elem, None) for n in names],
                             [helper.make_tensor_value_info("out", elem, None)])
    return OnnxCall((Seq(items), *extra), {"body": body})


def _optional_value(args, holds):
    """The value an optional holds and the optional's type: a tensor, a sequence of the tensors, or none (None)."""
    if holds == "sequence":
        sequence, kind = _sequence(args)
        return sequence, f"optional({kind})"
    return (None if holds == "none" else args[0]), f"optional({_tensor_type(args[0])})"


def onnx_optional(args, kwargs):
    """Optional of the value; an empty one has no input and names its ``type`` instead."""
    from onnx import helper

    holds = kwargs["holds"]
    if holds == "none":
        return OnnxCall((), {"type": helper.make_tensor_type_proto(_onnx_dtype(args[0].dtype), None)})
    return OnnxCall((Seq(args) if holds == "sequence" else args[0],))


def onnx_optional_input(args, kwargs):
    """The input of OptionalHasElement / OptionalGetElement: an optional ("tensor", "sequence", "none"), a plain
    tensor ("plain", which opset 18 accepts too), or no input at all ("absent")."""
    holds = kwargs["holds"]
    if holds == "absent":
        return OnnxCall(())
    if holds == "plain":
        return OnnxCall((args[0],))
    value, kind = _optional_value(args, holds)
    return OnnxCall((value,), types={0: kind})
