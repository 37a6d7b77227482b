"""References for the ai.onnx operators without a NumPy/SciPy counterpart, in float64 NumPy (ONNX's definitions)."""

import itertools
import math
import struct
import zlib

import numpy as np

from opcoverage.catalog.dtypes import numpy_dtype

# ---------------------------------------------------------------- plain tensors


def copy(x, **_ignored):
    """Identity, Constant, and dropout where it keeps every value (inference mode, or p = 0)."""
    return np.array(x, copy=True)


def shape_as_tensor(x):
    return np.array(x.shape, dtype=np.int64)


def numel(x):
    return np.array(x.size, dtype=np.int64)


def eye_like(x, k=0):
    n, m = x.shape
    return np.eye(n, m, k, dtype=x.dtype)


def type_as(x, other):
    return x.astype(other.dtype)


def hardmax(x, axis=-1):
    """1 at the first maximum along ``axis``, 0 elsewhere."""
    index = np.expand_dims(np.argmax(x, axis=axis), axis)
    out = np.zeros_like(x)
    np.put_along_axis(out, index, 1, axis=axis)
    return out


def reduce_log_sum(x, dim=None, keepdim=False):
    return np.log(np.sum(x, axis=dim, keepdims=keepdim))


def reduce_sum_square(x, dim=None, keepdim=False):
    return np.sum(np.square(x), axis=dim, keepdims=keepdim)


def mean_variance_normalization(x, axes=(0, 2, 3)):
    """(x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9): ONNX's function body, epsilon included."""
    axes = tuple(axes)
    mean = np.mean(x, axis=axes, keepdims=True)
    variance = np.mean(np.square(x), axis=axes, keepdims=True) - np.square(mean)
    return (x - mean) / (np.sqrt(variance) + 1e-9)


def elementwise_sum(*xs):
    return sum(np.broadcast_arrays(*xs))


def elementwise_mean(*xs):
    return elementwise_sum(*xs) / len(xs)


def shrink(x, lambd=0.5, bias=0.0):
    zero = np.zeros_like(x)
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, zero)).astype(x.dtype)


def space_to_depth(x, blocksize):
    """ONNX SpaceToDepth: output channel (by * b + bx) * C + c (block-major, DCR)."""
    n, c, h, w = x.shape
    b = blocksize
    tmp = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return tmp.reshape(n, c * b * b, h // b, w // b)


def reverse_sequence(x, sequence_lens, time_axis=0, batch_axis=1):
    out = x.copy()
    for batch, length in enumerate(sequence_lens):
        src = [slice(None)] * x.ndim
        src[batch_axis] = batch
        src[time_axis] = slice(0, int(length))
        dst = list(src)
        dst[time_axis] = slice(int(length) - 1, None, -1) if length > 0 else slice(0, 0)
        out[tuple(src)] = x[tuple(dst)]
    return out


def center_crop_pad(x, shape, axes=None):
    """Crop windows start at floor((in - out) / 2); padding puts the odd extra element on the right."""
    axes = list(range(x.ndim)) if axes is None else [a % x.ndim for a in axes]
    out = x
    for axis, size in zip(axes, shape):
        length = out.shape[axis]
        if size < length:
            start = (length - size) // 2
            out = np.take(out, np.arange(start, start + size), axis=axis)
        elif size > length:
            before = (size - length) // 2
            widths = [(0, 0)] * out.ndim
            widths[axis] = (before, size - length - before)
            out = np.pad(out, widths)
    return out


def gather_nd(data, indices):
    return data[tuple(np.moveaxis(indices, -1, 0))]


def nonzero_by_axis(x):
    return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


def arange(like, start, end, step):
    count = max(0, math.ceil((end - start) / step))
    return (start + step * np.arange(count)).astype(like.dtype)


def _window(like, window_length, periodic, coefficients):
    n = window_length if periodic else window_length - 1
    k = np.arange(window_length, dtype=np.float64)
    out = np.zeros(window_length)
    for i, a in enumerate(coefficients):
        out += a * np.cos(2 * np.pi * i * k / n) if n else (a if i == 0 else 0.0)
    return out.astype(like.dtype)


def hann_window(like, window_length, periodic=True):
    return _window(like, window_length, periodic, (0.5, -0.5))


def hamming_window(like, window_length, periodic=True, alpha=0.54, beta=0.46):
    return _window(like, window_length, periodic, (alpha, -beta))


def blackman_window(like, window_length, periodic=True):
    return _window(like, window_length, periodic, (0.42, -0.5, 0.08))


def bitcast_to_int32(x):
    # The sample is float32, upcast (exactly) to float64 for the reference: recover its bits.
    return x.astype(np.float32).view(np.int32)


def bitcast_to_int16(x):
    return x.astype(np.float16).view(np.int16)


def global_lp_pool(x, p=2):
    axes = tuple(range(2, x.ndim))
    return np.power(np.sum(np.power(np.abs(x), p), axis=axes, keepdims=True), 1.0 / p)


def swiglu(a, b, alpha=1.0):
    return a / (1.0 + np.exp(-alpha * a)) * b
