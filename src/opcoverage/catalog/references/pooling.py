"""References for pooling, resampling and pixel shuffles, in float64 NumPy (torch's channels-first layout)."""

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from opcoverage.catalog.references.convolution import ntuple


def pool_output_size(length, kernel, stride, padding, dilation, ceil_mode):
    """torch's pooling output length: with ceil_mode a last window that would start in the right padding is dropped."""
    span = dilation * (kernel - 1) + 1
    numerator = length + 2 * padding - span + (stride - 1 if ceil_mode else 0)
    out = numerator // stride + 1
    if ceil_mode and (out - 1) * stride >= length + padding:
        out -= 1
    return out


def pool_geometry(shape, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """Per spatial axis: (kernel, stride, padding, dilation, output length, padding needed on the right)."""
    kernel = ntuple(kernel_size, nd)
    # torch's default stride (None or an empty list) is the kernel size.
    stride = kernel if stride is None or stride == [] else ntuple(stride, nd)
    padding, dilation = ntuple(padding, nd), ntuple(dilation, nd)
    axes = []
    for length, k, s, p, d in zip(shape[-nd:], kernel, stride, padding, dilation):
        out = pool_output_size(length, k, s, p, d, bool(ceil_mode))
        right = max(0, (out - 1) * s + d * (k - 1) + 1 - length - p)
        axes.append((k, s, p, d, out, right))
    return axes


def _windows(x, nd, axes, fill):
    """Every pooling window: shape (*leading, *out, *kernel), with out-of-range positions set to ``fill``."""
    pad = [(0, 0)] * (x.ndim - nd) + [(p, right) for _, _, p, _, _, right in axes]
    padded = np.pad(x, pad, constant_values=fill)
    span = tuple(d * (k - 1) + 1 for k, _, _, d, _, _ in axes)
    windows = sliding_window_view(padded, span, axis=tuple(range(x.ndim - nd, x.ndim)))
    lead = (slice(None),) * (x.ndim - nd)
    pick = lead + tuple(slice(None, out * s, s) for _, s, _, _, out, _ in axes) \
        + tuple(slice(None, None, d) for _, _, _, d, _, _ in axes)
    return windows[pick]


def _lowest(dtype):
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _max_pool(x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    axes = pool_geometry(x.shape, nd, kernel_size, stride, padding, dilation, ceil_mode)
    windows = _windows(x, nd, axes, _lowest(x.dtype))
    return windows.max(axis=tuple(range(-nd, 0)))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _max_pool(input, 1, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _max_pool(input, 2, kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool_divisors(shape, nd, axes, count_include_pad):
    """torch's divisor per output position: the window clipped to the padded input (count_include_pad) or to the
    input itself; a ceil_mode window that runs past the right padding never counts the overhang."""
    per_axis = []
    for length, (k, s, p, _, out, _) in zip(shape[-nd:], axes):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, length + p)
        if count_include_pad:
            per_axis.append(end - start)
        else:
            per_axis.append(np.minimum(end, length) - np.maximum(start, 0))
    divisor = per_axis[0]
    for counts in per_axis[1:]:
        divisor = np.multiply.outer(divisor, counts)
    return divisor.astype(np.float64)


def _avg_pool(x, nd, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    axes = pool_geometry(x.shape, nd, kernel_size, stride, padding, 1, ceil_mode)
    sums = _windows(x, nd, axes, 0.0).sum(axis=tuple(range(-nd, 0)))
    if divisor_override:
        return sums / divisor_override
    return sums / avg_pool_divisors(x.shape, nd, axes, count_include_pad)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool(input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool(input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool(input, 3, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    axes = pool_geometry(input.shape, 2, kernel_size, stride, 0, 1, ceil_mode)
    sums = (_windows(input, 2, axes, 0.0) ** norm_type).sum(axis=(-2, -1))
    return sums ** (1.0 / norm_type)


def adaptive_bins(length, out):
    """torch's adaptive bins: bin i covers [floor(i*L/out), ceil((i+1)*L/out)), so bins may overlap."""
    return [(i * length // out, -(-(i + 1) * length // out)) for i in range(out)]


def _adaptive(x, nd, output_size, reduce):
    sizes = ntuple(output_size, nd)
    # None in output_size keeps that axis's input size.
    sizes = tuple(x.shape[x.ndim - nd + i] if s is None else s for i, s in enumerate(sizes))
    bins = [adaptive_bins(length, out) for length, out in zip(x.shape[-nd:], sizes)]
    out = np.empty(x.shape[:-nd] + sizes, dtype=x.dtype)
    lead = (slice(None),) * (x.ndim - nd)
    for index in itertools.product(*[range(s) for s in sizes]):
        box = tuple(slice(*bins[axis][i]) for axis, i in enumerate(index))
        out[lead + index] = reduce(x[lead + box], axis=tuple(range(-nd, 0)))
    return out


def adaptive_avg_pool1d(input, output_size):
    return _adaptive(input, 1, output_size, np.mean)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive(input, 2, output_size, np.mean)


def adaptive_max_pool2d(input, output_size):
    return _adaptive(input, 2, output_size, np.max)


def _resize_axis(x, axis, out_size, weights_for):
    """Apply a per-axis interpolation matrix (out_size x in_size) along one axis."""
    matrix = weights_for(x.shape[axis], out_size)
    moved = np.moveaxis(x, axis, -1)
    return np.moveaxis(moved @ matrix.T, -1, axis)


def _nearest_matrix(exact):
    def weights(length, out):
        dst = np.arange(out)
        # Integer arithmetic: floor(dst * L / out) (legacy) or floor((dst + 0.5) * L / out) (exact).
        src = ((2 * dst + 1) * length) // (2 * out) if exact else (dst * length) // out
        matrix = np.zeros((out, length))
        matrix[dst, np.minimum(src, length - 1)] = 1.0
        return matrix
    return weights


def _source_coordinates(length, out, align_corners, clamp):
    dst = np.arange(out, dtype=np.float64)
    if align_corners:
        return dst * ((length - 1) / (out - 1)) if out > 1 else np.zeros(out)
    src = (dst + 0.5) * (length / out) - 0.5
    return np.maximum(src, 0.0) if clamp else src


def _linear_matrix(align_corners):
    def weights(length, out):
        src = _source_coordinates(length, out, align_corners, clamp=True)
        low = np.minimum(np.floor(src).astype(np.int64), length - 1)
        high = np.minimum(low + 1, length - 1)
        frac = src - low
        matrix = np.zeros((out, length))
        np.add.at(matrix, (np.arange(out), low), 1.0 - frac)
        np.add.at(matrix, (np.arange(out), high), frac)
        return matrix
    return weights


def _cubic_weights(t, a=-0.75):
    """Keys cubic convolution weights for the four taps at offsets -1, 0, 1, 2 (torch uses a = -0.75)."""
    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def _cubic_matrix(align_corners):
    def weights(length, out):
        src = _source_coordinates(length, out, align_corners, clamp=False)
        base = np.floor(src).astype(np.int64)
        taps = _cubic_weights(src - base)
        matrix = np.zeros((out, length))
        for offset in range(4):
            # Taps outside the input read the nearest edge value, as torch's bicubic does.
            index = np.clip(base - 1 + offset, 0, length - 1)
            np.add.at(matrix, (np.arange(out), index), taps[:, offset])
        return matrix
    return weights


def _resize(x, size, weights_for):
    sizes = ntuple(size, x.ndim - 2)
    for i, out in enumerate(sizes):
        x = _resize_axis(x, 2 + i, out, weights_for)
    return x


def upsample_nearest2d(input, size):
    return _resize(input, size, _nearest_matrix(exact=False)).astype(input.dtype)


def upsample_nearest_exact2d(input, size):
    return _resize(input, size, _nearest_matrix(exact=True)).astype(input.dtype)


def upsample_bilinear2d(input, size, align_corners=False):
    return _resize(input, size, _linear_matrix(bool(align_corners)))


def upsample_bicubic2d(input, size, align_corners=False):
    return _resize(input, size, _cubic_matrix(bool(align_corners)))


def pixel_shuffle(input, upscale_factor):
    r = upscale_factor
    *lead, c, h, w = input.shape
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    n = len(lead)
    x = x.transpose(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    r = downscale_factor
    *lead, c, h, w = input.shape
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    n = len(lead)
    x = x.transpose(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)
