"""References for reductions, scans and sorting, in float64 NumPy, written with the torch keyword names."""

import warnings

import numpy as np
import scipy.special


def _axes(dim):
    # TOML gives a list for several dims; NumPy wants a tuple (None reduces everything).
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def sum(x, dim=None, keepdim=False):
    return np.sum(x, axis=_axes(dim), keepdims=keepdim)


def mean(x, dim=None, keepdim=False):
    return np.mean(x, axis=_axes(dim), keepdims=keepdim)


def amax(x, dim=None, keepdim=False):
    return np.amax(x, axis=_axes(dim), keepdims=keepdim)


def amin(x, dim=None, keepdim=False):
    return np.amin(x, axis=_axes(dim), keepdims=keepdim)


def logsumexp(x, dim=None, keepdim=False):
    return scipy.special.logsumexp(x, axis=_axes(dim), keepdims=keepdim)


def max_dim(x, dim, keepdim=False):
    # np.argmax picks the first of equal maxima, which is what torch.max(x, dim) documents.
    return (np.amax(x, axis=dim, keepdims=keepdim), np.argmax(x, axis=dim, keepdims=keepdim))


def min_dim(x, dim, keepdim=False):
    return (np.amin(x, axis=dim, keepdims=keepdim), np.argmin(x, axis=dim, keepdims=keepdim))


def aminmax(x, dim=None, keepdim=False):
    return (np.amin(x, axis=dim, keepdims=keepdim), np.amax(x, axis=dim, keepdims=keepdim))


def var(x, dim=None, keepdim=False, correction=1):
    # A size-1 dim with correction=1 has no degrees of freedom: NaN is the answer, NumPy's warning is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.var(x, axis=_axes(dim), keepdims=keepdim, ddof=correction)


def std(x, dim=None, keepdim=False, correction=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.std(x, axis=_axes(dim), keepdims=keepdim, ddof=correction)


def var_mean(x, dim=None, keepdim=False, correction=1):
    return var(x, dim, keepdim, correction), np.mean(x, axis=_axes(dim), keepdims=keepdim)


def std_mean(x, dim=None, keepdim=False, correction=1):
    return std(x, dim, keepdim, correction), np.mean(x, axis=_axes(dim), keepdims=keepdim)


def vector_norm(x, ord=2, dim=None, keepdim=False):
    return np.linalg.norm(x, ord=ord, axis=dim, keepdims=keepdim)


# Scans


def logcumsumexp(x, dim):
    return np.logaddexp.accumulate(x, axis=dim)


def _cumulative_extreme(x, dim, better):
    """Running extreme along ``dim`` and the index where it was reached; a tie moves the index forward."""
    moved = np.moveaxis(x, dim, -1)
    values = np.empty_like(moved)
    indices = np.empty(moved.shape, dtype=np.int64)
    values[..., 0], indices[..., 0] = moved[..., 0], 0
    for i in range(1, moved.shape[-1]):
        take = better(moved[..., i], values[..., i - 1]) | (moved[..., i] == values[..., i - 1])
        values[..., i] = np.where(take, moved[..., i], values[..., i - 1])
        indices[..., i] = np.where(take, i, indices[..., i - 1])
    return np.moveaxis(values, -1, dim), np.moveaxis(indices, -1, dim)


def cummax(x, dim):
    return _cumulative_extreme(x, dim, np.greater)


def cummin(x, dim):
    return _cumulative_extreme(x, dim, np.less)


# Sorting


def argsort(x, dim=-1, descending=False, stable=True):
    """Stable order: equal values keep their input order, ascending or descending."""
    if descending:
        # Sorting the reversed axis ascending and reversing back puts equal values in input order.
        flipped = np.flip(x, axis=dim)
        order = np.flip(np.argsort(flipped, axis=dim, kind="stable"), axis=dim)
        return (x.shape[dim] - 1 - order).astype(np.int64)
    return np.argsort(x, axis=dim, kind="stable").astype(np.int64)


def sort(x, dim=-1, descending=False, stable=True):
    order = argsort(x, dim, descending, stable)
    return np.take_along_axis(x, order, axis=dim), order


def msort(x):
    return np.sort(x, axis=0, kind="stable")


def topk(x, k, dim=-1, largest=True, sorted=True):
    values, indices = sort(x, dim, descending=largest)
    index = np.arange(k)
    return np.take(values, index, axis=dim), np.take(indices, index, axis=dim)


def kthvalue(x, k, dim=-1, keepdim=False):
    values, indices = sort(x, dim)
    value, index = np.take(values, [k - 1], axis=dim), np.take(indices, [k - 1], axis=dim)
    if not keepdim:
        value, index = np.squeeze(value, axis=dim), np.squeeze(index, axis=dim)
    return value, index
