"""Binding adapters for elementwise, selection and cast ops: catalog samples onto torch, JAX and ONNX calls."""

from __future__ import annotations

import numpy as np

from opcoverage.catalog.dtypes import numpy_dtype
from opcoverage.catalog.spec import OnnxCall

# Catalog dtype names to onnx.TensorProto data type names (the Cast node's `to` attribute).
_ONNX_TYPES = {
    "float32": "FLOAT", "float64": "DOUBLE", "float16": "FLOAT16", "bfloat16": "BFLOAT16",
    "int8": "INT8", "uint8": "UINT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "bool": "BOOL",
}


def torch_to(x, dtype):
    """``x.to(dtype)`` with the dtype given by its catalog name (which is also its torch name)."""
    import torch

    return x.to(getattr(torch, dtype))


def jax_astype(x, dtype):
    return x.astype(numpy_dtype(dtype))


def onnx_cast(args, kwargs):
    from onnx import TensorProto

    return OnnxCall((args[0],), {"to": getattr(TensorProto, _ONNX_TYPES[kwargs["dtype"]])})


def onnx_clamp(args, kwargs):
    """Clip takes its bounds as optional 0-d inputs of the data's own type, not as attributes."""
    x = args[0]
    inputs, constants = [x], set()
    for name in ("min", "max"):
        value = kwargs.get(name)
        if value is None:
            inputs.append(None)
        else:
            constants.add(len(inputs))
            inputs.append(np.asarray(value, dtype=x.dtype))
    return OnnxCall(tuple(inputs), {}, frozenset(constants))
