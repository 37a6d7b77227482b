"""References for the quantization ops (op_specs/quantization.toml), in exact integer NumPy.

The rules every function here follows, named in each docstring:

- round: to nearest, ties to even (``np.rint``), as ONNX specifies for QuantizeLinear and the requantizing QLinear
  ops; 0.5 -> 0, 1.5 -> 2, -2.5 -> -2.
- saturate: clip to the output integer type's range, then cast; a value never wraps.
- integer products and sums accumulate in int64, exact for every sample (8-bit x 8-bit x K stays far below 2^63).
- scales are float32. A quotient x / scale or a requantization (acc * scale_x * scale_w + bias) / scale_y is computed
  in float64 from exact operands and rounds once at 2^-53 relative, far below the half LSB that decides a rounding.
- float outputs are returned in float64, exact or within 2^-50; the comparison rounds them once to the output dtype.
"""

import ml_dtypes
import numpy as np

from opcoverage.catalog import dtypes as dt


def _saturate(values, dtype):
    """Clip to the output type's range, then cast: integers (int4 and uint16 included) exactly; the 8- and 4-bit
    floats (QuantizeLinear's float8/float4 outputs, saturate=1) to their largest finite value, rounded once to
    nearest even, NaN kept."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" or dt.is_integer(dt.dtype_name(dtype)):
        info = ml_dtypes.iinfo(dtype)
        return np.clip(values, info.min, info.max).astype(dtype)
    largest = float(ml_dtypes.finfo(dtype).max)
    return dt.rounded(np.clip(np.asarray(values, np.float64), -largest, largest), dtype).astype(dtype)


def _is_float(dtype) -> bool:
    return dt.is_floating(dt.dtype_name(np.dtype(dtype)))


def _along(value, axis, ndim):
    """A per-axis (1-D) quantization parameter shaped to broadcast along ``axis``; a 0-d one stays as it is."""
    value = np.asarray(value)
    if value.ndim == 0:
        return value
    shape = [1] * ndim
    shape[axis] = -1
    return value.reshape(shape)


def _per_block(value, axis, block_size):
    """A per-block parameter (x's shape with ``axis`` divided into blocks of ``block_size``) repeated to x's shape."""
    return np.repeat(np.asarray(value), block_size, axis=axis)


def _shifted(x, zero_point):
    """x - zero_point in int64 (exact); no zero point means 0. Float8/float4 values subtract in float64 (exact:
    both have at most 4 significant bits)."""
    wide = np.float64 if _is_float(x.dtype) else np.int64
    return x.astype(wide) - (0 if zero_point is None else np.asarray(zero_point).astype(wide))


def _quantize(x, scale, zero_point):
    """saturate(round(x / scale) + zero_point) into the zero point's type: ONNX QuantizeLinear rounds before it
    adds the zero point (torch rounds x / scale + zero_point; the two differ at ties when the zero point is odd)."""
    zero_point = np.asarray(zero_point)
    return _saturate(np.rint(x / scale) + zero_point.astype(np.int64), zero_point.dtype)


def quantize_float(x, scale, zero_point, dtype):
    """saturate(x / scale) into the float8/float4 ``dtype``: QuantizeLinear rounds the quotient once to the type's
    nearest value (ties to even), not to an integer, and clips to its largest finite value (saturate=1); the zero
    point must be 0 and is not added (as in ONNX's reference implementation)."""
    return _saturate(x / np.asarray(scale, np.float64), dt.numpy_dtype(dtype))


def dequantize_float(x, scale, zero_point):
    """x * scale from a float8/float4 type: exact in float64 (x has at most 4 significant bits); the zero point
    must be 0."""
    return x.astype(np.float64) * np.asarray(scale, dtype=np.float64)


def quantize_per_tensor(x, scale, zero_point):
    """saturate(round(x / scale) + zero_point), one scale and zero point (0-d) for the whole tensor."""
    return _quantize(x, scale, zero_point)


def quantize_per_channel(x, scale, zero_point, axis=1):
    """saturate(round(x / scale) + zero_point) with a scale and zero point per index of ``axis``."""
    return _quantize(x, _along(scale, axis, x.ndim), _along(zero_point, axis, x.ndim).astype(zero_point.dtype))


def quantize_per_block(x, scale, zero_point, axis=1, block_size=16):
    """saturate(round(x / scale) + zero_point) with a scale and zero point per block of ``block_size`` consecutive
    elements along ``axis`` (ONNX QuantizeLinear-21's blocked form: scale has x's shape with that axis divided)."""
    return _quantize(x, _per_block(scale, axis, block_size), _per_block(zero_point, axis, block_size))


def _dequantize(x, scale, zero_point):
    """(x - zero_point) * scale: an exact integer times a float32, exact in float64; float32 rounds it once."""
    return _shifted(x, zero_point) * np.asarray(scale, dtype=np.float64)


def dequantize_per_tensor(x, scale, zero_point):
    """(x - zero_point) * scale, one scale and zero point for the whole tensor."""
    return _dequantize(x, scale, zero_point)


def dequantize_per_channel(x, scale, zero_point, axis=1):
    """(x - zero_point) * scale with a scale and zero point per index of ``axis``."""
    return _dequantize(x, _along(scale, axis, x.ndim), _along(zero_point, axis, x.ndim))


def dequantize_per_block(x, scale, zero_point, axis=1, block_size=16):
    """(x - zero_point) * scale with a scale and zero point per block of ``block_size`` elements along ``axis``."""
    return _dequantize(x, _per_block(scale, axis, block_size), _per_block(zero_point, axis, block_size))


def dynamic_quantize_linear(x):
    """uint8 quantization with the scale and zero point of x's range widened to include 0 (ONNX
    DynamicQuantizeLinear): scale = (max - min) / 255 in float32 (a float32 output, computed as ONNX writes it),
    zero point = saturate(round(-min / scale)), y = saturate(round(x / scale) + zero point)."""
    x32 = x.astype(np.float32)
    low, high = min(np.float32(0), x32.min()), max(np.float32(0), x32.max())
    scale = np.float32((high - low) / np.float32(255))
    zero_point = _saturate(np.rint(-np.float64(low) / np.float64(scale)), np.uint8)
    y = _quantize(x, np.float64(scale), zero_point)
    return y, np.asarray(scale), np.asarray(zero_point)


def _requantize(real, y_scale, y_zero_point):
    """saturate(round(real / y_scale) + y_zero_point) into the output zero point's type."""
    return _quantize(real, np.asarray(y_scale, dtype=np.float64), y_zero_point)


def _conv_int(x, w, stride, padding, dilation, groups):
    """A 2-D convolution of int64 arrays in int64 arithmetic (exact); padding adds zeros, i.e. the zero point."""
    from opcoverage.catalog.references.convolution import conv2d

    return conv2d(x, w, None, stride, padding, dilation, groups)


def matmul_integer(a, b, a_zero_point=None, b_zero_point=None):
    """(a - a_zero_point) @ (b - b_zero_point), accumulated in int64 and returned as int32 (it fits)."""
    return np.matmul(_shifted(a, a_zero_point), _shifted(b, b_zero_point)).astype(np.int32)


def conv_integer(x, w, x_zero_point=None, w_zero_point=None, stride=1, padding=0, dilation=1, groups=1):
    """conv2d(x - x_zero_point, w - w_zero_point), accumulated in int64 and returned as int32 (it fits)."""
    return _conv_int(_shifted(x, x_zero_point), _shifted(w, w_zero_point), stride, padding, dilation,
                     groups).astype(np.int32)


def qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    """saturate(round((a - a_zp) @ (b - b_zp) * a_scale * b_scale / y_scale) + y_zp), the integer product exact."""
    accumulated = np.matmul(_shifted(a, a_zero_point), _shifted(b, b_zero_point))
    return _requantize(accumulated * (np.float64(a_scale) * b_scale), y_scale, y_zero_point)


def qlinear_conv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, bias=None,
                 stride=1, padding=0, dilation=1, groups=1):
    """ONNX QLinearConv: the int32 bias is in units of x_scale * w_scale and joins the exact integer sum; w_scale
    and w_zero_point may be per output channel; then round and saturate as qlinear_matmul."""
    accumulated = _conv_int(_shifted(x, x_zero_point), _shifted(w, _along(w_zero_point, 0, w.ndim)),
                            stride, padding, dilation, groups)
    if bias is not None:
        accumulated = accumulated + bias.astype(np.int64).reshape(1, -1, 1, 1)
    real = accumulated * (np.float64(x_scale) * np.asarray(w_scale, dtype=np.float64).reshape(1, -1, 1, 1))
    return _requantize(real, y_scale, y_zero_point)


def quantized_linear(x, x_scale, x_zero_point, w, w_scale, bias, y_scale, y_zero_point):
    """torch.ops.quantized.linear: acc = (x - x_zp) @ w^T exact in int64 (w symmetric: zero point 0, a scale per
    tensor or per output channel), real = acc * x_scale * w_scale + bias (float32 bias, exact in float64), then
    saturate(round(real / y_scale) + y_zp) into x's type."""
    accumulated = _shifted(x, x_zero_point) @ w.astype(np.int64).T
    real = accumulated * (np.float64(x_scale) * np.asarray(w_scale, dtype=np.float64)) + bias
    return _requantize(real, y_scale, y_zero_point)


def quantized_conv2d(x, x_scale, x_zero_point, w, w_scale, bias, y_scale, y_zero_point, stride=1, padding=0,
                     dilation=1, groups=1):
    """torch.ops.quantized.conv2d: quantized_linear's rules over a 2-D convolution (padding holds x's zero point)."""
    accumulated = _conv_int(_shifted(x, x_zero_point), w.astype(np.int64), stride, padding, dilation, groups)
    channel = (1, -1, 1, 1)
    real = accumulated * (np.float64(x_scale) * np.asarray(w_scale, dtype=np.float64).reshape(channel)) \
        + bias.reshape(channel)
    return _requantize(real, y_scale, y_zero_point)


def fp8_e4m3(bits):
    """float8_e4m3fn values from their uint8 bit patterns, exact in float64 (4-bit exponent, 3-bit mantissa)."""
    import ml_dtypes

    return np.asarray(bits, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float64)


def scaled_mm(a_bits, b_bits, scale_a, scale_b, like):
    """(a @ b) * scale_a * scale_b for float8_e4m3fn a and b given as bits: each product of two fp8 values is exact
    (8 significant bits) and so is their float64 sum here (the exponents span 2^-18..2^17); ``like`` (empty) names
    the output dtype, to which the comparison rounds once."""
    return fp8_e4m3(a_bits) @ fp8_e4m3(b_bits) * (np.float64(scale_a) * scale_b)


def weight_int8_linear(x, w, scales):
    """x @ (w * scales)^T: int8 weights [N, K] with a scale per output channel, in float64 (each product rounds at
    2^-53); the comparison rounds the result once to x's dtype."""
    return x @ (w.astype(np.float64) * scales[:, None]).T


def weight_int4_linear(x, w, scales):
    """x @ (w * scales)^T: int4 weights w in [-8, 7] (held in int8, [N, K]) with a scale per group of
    K / scales.shape[1] consecutive weights along K (symmetric: no zero point), in float64."""
    group = w.shape[1] // scales.shape[1]
    return x @ (w.astype(np.float64) * np.repeat(scales, group, axis=1)).T
