"""Binding adapters for the quantization ops: torch's quantized tensors and kernels, jax's integer and fp8 dots, and
the ONNX nodes whose weights need packing (MatMulNBits)."""

import numpy as np

from opcoverage.backends.base import NotApplicable, Unsupported
from opcoverage.catalog.adapters.onnx import conv_attributes
from opcoverage.catalog.spec import OnnxCall

# The torch quantized dtype that holds each catalog integer dtype; torch has no 16-bit one.
_TORCH_QUANTIZED = {"int8": "qint8", "uint8": "quint8", "int32": "qint32"}


def _torch_qdtype(integers):
    import torch

    name = _TORCH_QUANTIZED.get(str(integers.dtype).replace("torch.", ""))
    if name is None:
        raise Unsupported(f"torch has no quantized dtype for {integers.dtype}")
    return getattr(torch, name)


def _quantized(x, scale, zero_point, axis=0):
    """A torch quantized tensor holding the integers ``x``: per tensor for a 0-d scale, else per channel along
    ``axis``; a missing zero point is 0 (symmetric weights)."""
    import torch

    _torch_qdtype(x)
    if scale.ndim == 0:
        return torch._make_per_tensor_quantized_tensor(x, float(scale), 0 if zero_point is None else int(zero_point))
    zero_point = torch.zeros(scale.shape, dtype=torch.int64) if zero_point is None else zero_point.long()
    return torch._make_per_channel_quantized_tensor(x, scale.double(), zero_point, axis)


# ---------------------------------------------------------------- quantize and dequantize


def torch_quantize_per_tensor(x, scale, zero_point):
    import torch

    return torch.quantize_per_tensor(x, float(scale), int(zero_point), _torch_qdtype(zero_point)).int_repr()


def torch_quantize_per_channel(x, scale, zero_point, axis=1):
    import torch

    return torch.quantize_per_channel(x, scale.double(), zero_point.long(), axis, _torch_qdtype(zero_point)).int_repr()


def torch_dequantize_per_tensor(x, scale, zero_point):
    return _quantized(x, scale, zero_point).dequantize()


def torch_dequantize_per_channel(x, scale, zero_point, axis=1):
    return _quantized(x, scale, zero_point, axis).dequantize()


def torch_dynamic_quantize_linear(x):
    """torch.quantize_per_tensor_dynamic to quint8 without reduce_range: (values, scale, zero point) as ONNX's
    DynamicQuantizeLinear returns them."""
    import torch

    q = torch.quantize_per_tensor_dynamic(x, torch.quint8, False)
    return q.int_repr(), torch.tensor(q.q_scale(), dtype=torch.float32), torch.tensor(q.q_zero_point(),
                                                                                     dtype=torch.uint8)


def onnx_dynamic_quantize_linear(args, kwargs):
    return OnnxCall(tuple(args), n_outputs=3)


# ---------------------------------------------------------------- integer matmul and convolution


def _jax_shifted(x, zero_point):
    import jax.numpy as jnp

    x = x.astype(jnp.int32)
    return x if zero_point is None else x - zero_point.astype(jnp.int32)


def jax_matmul_integer(a, b, a_zero_point=None, b_zero_point=None):
    """An int32-accumulating matmul (preferred_element_type); zero points are subtracted first."""
    import jax.numpy as jnp

    if a_zero_point is None and b_zero_point is None:
        return jnp.matmul(a, b, preferred_element_type=jnp.int32)
    return jnp.matmul(_jax_shifted(a, a_zero_point), _jax_shifted(b, b_zero_point), preferred_element_type=jnp.int32)


def torch_matmul_integer(a, b, a_zero_point=None, b_zero_point=None):
    """torch._int_mm: 8-bit x 8-bit -> int32 for 2-D operands, without zero points (torch decides the dtypes)."""
    import torch

    if a_zero_point is not None or b_zero_point is not None or a.ndim != 2:
        raise NotApplicable("torch._int_mm multiplies 2-D matrices without zero points")
    return torch._int_mm(a, b)


def jax_conv_integer(x, w, x_zero_point=None, w_zero_point=None, stride=1, padding=0, dilation=1, groups=1):
    import jax.numpy as jnp
    from jax import lax

    from opcoverage.catalog.references.convolution import ntuple

    if x_zero_point is not None or w_zero_point is not None:
        x, w = _jax_shifted(x, x_zero_point), _jax_shifted(w, w_zero_point)
    return lax.conv_general_dilated(
        x, w, window_strides=ntuple(stride, 2), padding=[(p, p) for p in ntuple(padding, 2)],
        rhs_dilation=ntuple(dilation, 2), dimension_numbers=("NCHW", "OIHW", "NCHW"),
        feature_group_count=groups, preferred_element_type=jnp.int32)


def onnx_conv_integer(args, kwargs):
    return OnnxCall(tuple(args), conv_attributes(kwargs))


def onnx_qlinear_conv(args, kwargs):
    return OnnxCall(tuple(args), conv_attributes(kwargs))


# ---------------------------------------------------------------- torch's quantized kernels (the engine's)


def torch_qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    """torch.ops.quantized.matmul of two per-tensor quantized tensors, requantized to y_scale and y_zero_point."""
    import torch

    qa, qb = _quantized(a, a_scale, a_zero_point), _quantized(b, b_scale, b_zero_point)
    return torch.ops.quantized.matmul(qa, qb, float(y_scale), int(y_zero_point)).int_repr()


def torch_quantized_linear(x, x_scale, x_zero_point, w, w_scale, bias, y_scale, y_zero_point):
    """torch.ops.quantized.linear with weights prepacked by the current engine (linear_prepack), the activation a
    per-tensor quantized tensor of x's type, the weights qint8 per tensor or per output channel."""
    import torch

    packed = torch.ops.quantized.linear_prepack(_quantized(w, w_scale, None), bias)
    qx = _quantized(x, x_scale, x_zero_point)
    return torch.ops.quantized.linear(qx, packed, float(y_scale), int(y_zero_point)).int_repr()


def torch_quantized_conv2d(x, x_scale, x_zero_point, w, w_scale, bias, y_scale, y_zero_point, stride=1, padding=0,
                           dilation=1, groups=1):
    """torch.ops.quantized.conv2d with weights prepacked by the current engine (conv2d_prepack)."""
    import torch

    from opcoverage.catalog.references.convolution import ntuple

    packed = torch.ops.quantized.conv2d_prepack(_quantized(w, w_scale, None), bias, list(ntuple(stride, 2)),
                                                list(ntuple(padding, 2)), list(ntuple(dilation, 2)), groups)
    qx = _quantized(x, x_scale, x_zero_point)
    return torch.ops.quantized.conv2d(qx, packed, float(y_scale), int(y_zero_point)).int_repr()


# ---------------------------------------------------------------- fp8 scaled matmul (inputs as uint8 bits)


def torch_scaled_mm(a_bits, b_bits, scale_a, scale_b, like):
    """torch._scaled_mm on float8_e4m3fn views of the bits, per-tensor float32 scales, out_dtype ``like``'s."""
    import torch

    a, b = a_bits.view(torch.float8_e4m3fn), b_bits.view(torch.float8_e4m3fn)
    return torch._scaled_mm(a, b, scale_a, scale_b, out_dtype=like.dtype)


def jax_scaled_mm(a_bits, b_bits, scale_a, scale_b, like):
    """jax.nn.scaled_matmul (block-scaled, [batch, rows, K] operands) with one block spanning K: its per-row
    scales all equal the per-tensor scale."""
    import jax
    import jax.numpy as jnp

    a = jax.lax.bitcast_convert_type(a_bits, jnp.float8_e4m3fn)
    b = jax.lax.bitcast_convert_type(b_bits, jnp.float8_e4m3fn)
    rows, cols = a.shape[0], b.shape[1]
    scales_a = jnp.broadcast_to(scale_a.astype(jnp.float32), (1, rows, 1))
    scales_b = jnp.broadcast_to(scale_b.astype(jnp.float32), (1, cols, 1))
    return jax.nn.scaled_matmul(a[None], b.T[None], scales_a, scales_b, preferred_element_type=like.dtype)[0]


# ---------------------------------------------------------------- weight-only linear (int8 and int4 weights)


def torch_weight_int8_linear(x, w, scales):
    import torch

    return torch._weight_int8pack_mm(x, w, scales)


def torch_weight_int4_linear(x, w, scales):
    """torch's tinygemm int4 linear: codes w + 8 (0..15) and scales_and_zeros [groups, N, 2] with zeros 0 (torch
    dequantizes (code - 8) * scale + zero). On the CPU the codes go as int32 [N, K] to
    _convert_weight_to_int4pack_for_cpu and _weight_int4pack_mm_for_cpu; elsewhere two codes a byte, the even one in
    the high nibble, uint8 [N, K / 2], to _convert_weight_to_int4pack (2 inner K tiles) and _weight_int4pack_mm."""
    import torch

    codes = (w + 8).to(torch.int32)
    scales = scales.t().contiguous()
    scales_and_zeros = torch.stack([scales, torch.zeros_like(scales)], dim=2).contiguous()
    group = w.shape[1] // scales.shape[0]
    if x.device.type == "cpu":
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1)
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, group, scales_and_zeros)
    packed = torch.ops.aten._convert_weight_to_int4pack((codes[:, ::2] << 4 | codes[:, 1::2]).to(torch.uint8), 2)
    return torch.ops.aten._weight_int4pack_mm(x, packed, group, scales_and_zeros)


def _matmul_nbits(x, codes, scales, bits):
    """A com.microsoft MatMulNBits node: unsigned ``codes`` [N, K] (the default zero point 2^(bits-1) subtracted
    back), packed low bits first along K into [N, blocks, block_size * bits / 8] bytes; one block per scale."""
    n, k = codes.shape
    blocks = scales.shape[1]
    block_size = k // blocks
    if bits == 4:
        codes = codes[:, 0::2] | (codes[:, 1::2] << 4)
    packed = np.ascontiguousarray(codes.astype(np.uint8).reshape(n, blocks, -1))
    attributes = {"K": k, "N": n, "bits": bits, "block_size": block_size}
    return OnnxCall((x, packed, np.ascontiguousarray(scales)), attributes, frozenset({1, 2}), n_outputs=1)


def onnx_weight_int8_linear(args, kwargs):
    """MatMulNBits with bits=8 and one block spanning K: a scale per output channel, zero point 128."""
    x, w, scales = args
    return _matmul_nbits(x, w.astype(np.int16) + 128, scales.reshape(-1, 1), 8)


def onnx_weight_int4_linear(args, kwargs):
    """MatMulNBits with bits=4 and block_size = K / groups: a scale per group, zero point 8."""
    x, w, scales = args
    return _matmul_nbits(x, w.astype(np.int16) + 8, scales, 4)
