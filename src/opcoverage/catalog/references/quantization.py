"""References for ONNX's quantized operators (QuantizeLinear, QLinear*, *Integer), in float64/int64 NumPy."""

import numpy as np


def _saturate(values, dtype):
    info = np.iinfo(dtype)
    return np.clip(values, info.min, info.max).astype(dtype)


def _along(value, axis, ndim):
    """A per-axis (1-D) quantization parameter shaped to broadcast along ``axis``; a 0-d one stays as it is."""
    value = np.asarray(value)
    if value.ndim == 0:
        return value
    shape = [1] * ndim
    shape[axis] = -1
    return value.reshape(shape)


def quantize_linear(x, scale, zero_point, axis=1):
    """saturate(round_half_even(x / scale) + zero_point), in the zero point's integer type."""
    q = np.rint(x / _along(scale, axis, x.ndim)) + _along(zero_point, axis, x.ndim).astype(np.int64)
    return _saturate(q, zero_point.dtype)


def dequantize_linear(x, scale, zero_point, axis=1):
    """(x - zero_point) * scale: exact in float64 (a small integer times a float32), then rounded once to
    float32, the scale's type, as a float32 multiply rounds it."""
    shifted = x.astype(np.int64) - _along(zero_point, axis, x.ndim).astype(np.int64)
    return (shifted * _along(scale, axis, x.ndim)).astype(np.float32)


def dynamic_quantize_linear(x):
    """uint8 quantization with the scale and zero point of x's range widened to include 0 (ONNX's formula;
    the scale is a float32 output, so it is computed and rounded in float32)."""
    x32 = x.astype(np.float32)
    low, high = min(np.float32(0), x32.min()), max(np.float32(0), x32.max())
    scale = np.float32((high - low) / np.float32(255))
    zero_point = _saturate(np.rint(-np.float64(low) / np.float64(scale)), np.uint8)
    y = _saturate(np.rint(x / np.float64(scale)) + zero_point.astype(np.int64), np.uint8)
    return y, np.asarray(scale), np.asarray(zero_point)


def _shifted(x, zero_point):
    return x.astype(np.int64) - (0 if zero_point is None else np.asarray(zero_point).astype(np.int64))


def matmul_integer(a, b, a_zero_point=None, b_zero_point=None):
    return np.matmul(_shifted(a, a_zero_point), _shifted(b, b_zero_point)).astype(np.int32)


def _conv_int(x, w, stride, padding, dilation, groups):
    """An integer convolution, computed in float64 (exact for these small integers) and rounded back."""
    from opcoverage.catalog.references.convolution import conv2d

    out = conv2d(x.astype(np.float64), w.astype(np.float64), None, stride, padding, dilation, groups)
    return np.rint(out).astype(np.int64)


def conv_integer(x, w, x_zero_point=None, w_zero_point=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_int(_shifted(x, x_zero_point), _shifted(w, w_zero_point), stride, padding, dilation,
                     groups).astype(np.int32)


def qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    accumulated = np.matmul(_shifted(a, a_zero_point), _shifted(b, b_zero_point))
    y = np.rint(accumulated * (a_scale * b_scale / y_scale)) + np.int64(y_zero_point)
    return _saturate(y, y_zero_point.dtype)


def qlinear_conv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, bias=None,
                 stride=1, padding=0, dilation=1, groups=1):
    """The int32 bias is in units of x_scale * w_scale; w_scale may be per output channel."""
    accumulated = _conv_int(_shifted(x, x_zero_point), _shifted(w, _along(w_zero_point, 0, w.ndim)),
                            stride, padding, dilation, groups)
    if bias is not None:
        accumulated = accumulated + bias.astype(np.int64).reshape(1, -1, 1, 1)
    multiplier = np.asarray(x_scale * w_scale / y_scale).reshape(1, -1, 1, 1)
    return _saturate(np.rint(accumulated * multiplier) + np.int64(y_zero_point), y_zero_point.dtype)
