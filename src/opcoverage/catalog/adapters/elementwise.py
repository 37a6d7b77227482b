"""Binding adapters for elementwise, selection and cast ops: catalog samples onto torch, JAX and ONNX calls."""

from __future__ import annotations

import numpy as np

from opcoverage.catalog.dtypes import numpy_dtype
from opcoverage.catalog.spec import OnnxCall


def torch_to(x, dtype):
    """``x.to(dtype)`` with the dtype given by its catalog name (which is also its torch name)."""
    from opcoverage.backends.torch import torch_dtype

    return x.to(torch_dtype(dtype))


def jax_astype(x, dtype):
    return x.astype(numpy_dtype(dtype))


def onnx_cast(args, kwargs):
    from onnx import helper

    return OnnxCall((args[0],), {"to": helper.np_dtype_to_tensor_dtype(numpy_dtype(kwargs["dtype"]))})


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
