"""References for convolutions and transposed convolutions, in float64 NumPy (torch's NC<spatial> layout)."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_SPATIAL = "xyz"
_KERNEL = "ijk"


def ntuple(value, n):
    """torch accepts an int or a sequence for stride, padding and dilation; expand it to n entries."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"expected {n} values, got {value!r}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def _conv(x, weight, bias, stride, padding, dilation, groups, nd):
    stride, padding, dilation = ntuple(stride, nd), ntuple(padding, nd), ntuple(dilation, nd)
    n, channels = x.shape[:2]
    out_channels, group_channels = weight.shape[:2]
    kernel = weight.shape[2:]
    padded = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    windows = sliding_window_view(padded, span, axis=tuple(range(2, 2 + nd)))  # (n, c, *positions, *span)
    # Keep every stride-th window position and every dilation-th tap inside a window.
    pick = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) \
        + tuple(slice(None, None, d) for d in dilation)
    windows = windows[pick]
    out_size = windows.shape[2:2 + nd]
    windows = windows.reshape(n, groups, channels // groups, *out_size, *kernel)
    w = weight.reshape(groups, out_channels // groups, group_channels, *kernel)
    pos, ker = _SPATIAL[:nd], _KERNEL[:nd]
    out = np.einsum(f"ngc{pos}{ker},goc{ker}->ngo{pos}", windows, w).reshape(n, out_channels, *out_size)
    if bias is not None:
        out = out + bias.reshape(1, -1, *([1] * nd))
    return out


def _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, nd):
    """Scatter form: input position i and kernel tap t add into output position i*stride + t*dilation - padding."""
    stride, padding, dilation = ntuple(stride, nd), ntuple(padding, nd), ntuple(dilation, nd)
    output_padding = ntuple(output_padding, nd)
    n, in_channels = x.shape[:2]
    size = x.shape[2:]
    group_out, kernel = weight.shape[1], weight.shape[2:]
    full = tuple((l - 1) * s + d * (k - 1) + 1 + op
                 for l, s, d, k, op in zip(size, stride, dilation, kernel, output_padding))
    buffer = np.zeros((n, groups * group_out) + full)
    xg = x.reshape(n, groups, in_channels // groups, *size)
    wg = weight.reshape(groups, in_channels // groups, group_out, *kernel)
    pos = _SPATIAL[:nd]
    for tap in np.ndindex(*kernel):
        contribution = np.einsum(f"ngc{pos},gco->ngo{pos}", xg, wg[(Ellipsis,) + tap])
        target = tuple(slice(t * d, t * d + (l - 1) * s + 1, s) for t, d, l, s in zip(tap, dilation, size, stride))
        buffer[(slice(None), slice(None)) + target] += contribution.reshape(n, groups * group_out, *size)
    crop = tuple(slice(p, f - p) for p, f in zip(padding, full))
    out = buffer[(slice(None), slice(None)) + crop]
    if bias is not None:
        out = out + bias.reshape(1, -1, *([1] * nd))
    return out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, 3)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2)
