"""Binding adapters for normalization layers: catalog samples (tensors first, sizes as keywords) onto framework calls."""

from __future__ import annotations

import numpy as np

from opcoverage.catalog.spec import OnnxCall

# torch: the functional API puts sizes (normalized_shape, num_groups) between the tensors, so samples that list
# the tensors first need a reorder.


def torch_layer_norm(x, weight, bias, normalized_shape, eps=1e-5):
    import torch.nn.functional as F

    return F.layer_norm(x, normalized_shape, weight, bias, eps)


def torch_rms_norm(x, weight, normalized_shape, eps=1e-6):
    import torch.nn.functional as F

    return F.rms_norm(x, normalized_shape, weight, eps)


def torch_group_norm(x, weight, bias, num_groups, eps=1e-5):
    import torch.nn.functional as F

    return F.group_norm(x, num_groups, weight, bias, eps)


def torch_instance_norm(x, weight, bias, eps=1e-5):
    import torch.nn.functional as F

    return F.instance_norm(x, weight=weight, bias=bias, eps=eps)


# ONNX

_ONNX_FLOAT, _ONNX_DOUBLE = 1, 11  # TensorProto element types


def _stash_type(x: np.ndarray) -> int:
    """The precision of the statistics: ONNX defaults stash_type to float32, which would compute a float64
    normalization in float32; float64 inputs ask for float64, narrower ones keep the float32 default."""
    return _ONNX_DOUBLE if x.dtype == np.float64 else _ONNX_FLOAT


def onnx_layer_norm(args: list[np.ndarray], kwargs: dict) -> OnnxCall:
    # LayerNormalization normalizes from `axis` to the last dim, so the axis is minus the normalized rank.
    attributes = {"axis": -len(kwargs["normalized_shape"]), "epsilon": float(kwargs.get("eps", 1e-5)),
                  "stash_type": _stash_type(args[0])}
    return OnnxCall(tuple(args), attributes)


def onnx_rms_norm(args: list[np.ndarray], kwargs: dict) -> OnnxCall:
    attributes = {"axis": -len(kwargs["normalized_shape"]), "epsilon": float(kwargs.get("eps", 1e-6)),
                  "stash_type": _stash_type(args[0])}
    return OnnxCall(tuple(args), attributes)


def onnx_group_norm(args: list[np.ndarray], kwargs: dict) -> OnnxCall:
    attributes = {"num_groups": int(kwargs["num_groups"]), "epsilon": float(kwargs.get("eps", 1e-5)),
                  "stash_type": _stash_type(args[0])}
    return OnnxCall(tuple(args), attributes)


def onnx_normalize(args: list[np.ndarray], kwargs: dict) -> OnnxCall:
    # LpNormalization's p is an integer attribute (1 or 2); torch's is a float.
    return OnnxCall(tuple(args), {"axis": int(kwargs.get("dim", 1)), "p": int(kwargs.get("p", 2.0))})
