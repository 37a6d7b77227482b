"""References for softmax and normalization layers, in float64 NumPy, written with the torch argument names."""

import numpy as np


def _standardize(x, axes, eps):
    """(x - mean) / sqrt(biased variance + eps) over ``axes``: what every normalization layer computes."""
    mean = np.mean(x, axis=axes, keepdims=True)
    var = np.var(x, axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def _per_channel(v, ndim):
    """A per-channel vector shaped to broadcast against an (N, C, ...) input."""
    return np.reshape(v, (1, -1) + (1,) * (ndim - 2))


def layer_norm(x, weight, bias, normalized_shape, eps=1e-5):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    return _standardize(x, axes, eps) * weight + bias


def rms_norm(x, weight, normalized_shape, eps=1e-6):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    return x / np.sqrt(np.mean(x * x, axis=axes, keepdims=True) + eps) * weight


def batch_norm(x, running_mean, running_var, weight, bias, training=False, eps=1e-5):
    """Inference-mode batch norm: the running statistics, not the batch's, normalize the input."""
    if training:
        raise ValueError("the reference covers inference mode (training=False) only")
    n = x.ndim
    scale = _per_channel(weight, n) / np.sqrt(_per_channel(running_var, n) + eps)
    return (x - _per_channel(running_mean, n)) * scale + _per_channel(bias, n)


def group_norm(x, weight, bias, num_groups, eps=1e-5):
    n, c = x.shape[:2]
    grouped = np.reshape(x, (n, num_groups, -1))
    normalized = np.reshape(_standardize(grouped, (2,), eps), x.shape)
    return normalized * _per_channel(weight, x.ndim) + _per_channel(bias, x.ndim)


def instance_norm(x, weight, bias, eps=1e-5):
    normalized = _standardize(x, tuple(range(2, x.ndim)), eps)
    return normalized * _per_channel(weight, x.ndim) + _per_channel(bias, x.ndim)


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha/size * sum of squares over a window of channels)^beta, the window zero-padded
    by size//2 channels before and (size-1)//2 after (torch's padding; ONNX's agrees for odd sizes)."""
    channels = x.shape[1]
    squares = x * x
    before, after = size // 2, (size - 1) // 2
    padded = np.pad(squares, [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
    window = np.stack([padded[:, c:c + size].sum(axis=1) for c in range(channels)], axis=1)
    return x / (k + alpha / size * window) ** beta


def normalize(x, p=2.0, dim=1, eps=1e-12):
    norm = np.linalg.norm(x, ord=p, axis=dim, keepdims=True)
    return x / np.maximum(norm, eps)
