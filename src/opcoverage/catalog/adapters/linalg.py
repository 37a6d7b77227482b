"""Binding adapters for linear algebra: catalog samples onto torch, jax and ONNX calls."""

from __future__ import annotations

import numpy as np

from opcoverage.catalog.spec import OnnxCall


def torch_einsum(*operands, equation):
    import torch

    return torch.einsum(equation, *operands)


def jax_einsum(*operands, equation):
    import jax.numpy as jnp

    return jnp.einsum(equation, *operands)


def onnx_linear(args: list[np.ndarray], kwargs: dict) -> OnnxCall:
    """2-D input: Gemm(x, weight, bias, transB=1). Other ranks: MatMul with the weight fed transposed, as
    exporters store it (Gemm is 2-D only, and a bias would need a second node)."""
    x, weight = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    if x.ndim == 2:
        return OnnxCall((x, weight, bias), {"transB": 1}, op_type="Gemm")
    if bias is not None:
        raise ValueError("a linear layer on a non-2-D input with a bias is two ONNX nodes; samples give it no bias")
    return OnnxCall((x, np.ascontiguousarray(weight.T)), {}, op_type="MatMul")
