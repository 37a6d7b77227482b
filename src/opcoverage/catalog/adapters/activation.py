"""Binding adapters for activations: catalog samples onto torch, JAX and ONNX calls."""

from __future__ import annotations

import numpy as np

from opcoverage.catalog.spec import OnnxCall


def jax_gelu(x, approximate="none"):
    """jax.nn.gelu takes a bool where torch takes the name of the approximation."""
    import jax

    return jax.nn.gelu(x, approximate=approximate == "tanh")


def _clip(x, low, high):
    return OnnxCall((x, np.asarray(low, dtype=x.dtype), np.asarray(high, dtype=x.dtype)), {}, frozenset({1, 2}))


def onnx_relu6(args, kwargs):
    """ONNX has no Relu6; exporters emit Clip(x, 0, 6), which is the same function."""
    return _clip(args[0], 0.0, 6.0)


def onnx_hardtanh(args, kwargs):
    """ONNX has no HardTanh; exporters emit Clip(x, min_val, max_val), which is the same function."""
    return _clip(args[0], kwargs.get("min_val", -1.0), kwargs.get("max_val", 1.0))


def onnx_prelu(args, kwargs):
    """torch applies a per-channel slope along dim 1; ONNX broadcasts the slope from the right."""
    x, weight = args
    if weight.size != 1 and x.ndim >= 2:
        weight = weight.reshape((-1,) + (1,) * (x.ndim - 2))
    return OnnxCall((x, weight))


def onnx_threshold(args, kwargs):
    """ThresholdedRelu is torch's threshold with a replacement value of 0; ONNX defines no other value."""
    from opcoverage.backends.base import NotApplicable

    if kwargs["value"] != 0:
        raise NotApplicable(f"ONNX ThresholdedRelu replaces values <= alpha with 0 only, not {kwargs['value']}")
    return OnnxCall((args[0],), {"alpha": float(kwargs["threshold"])})
