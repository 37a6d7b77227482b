"""References for the remaining ai.onnx operators without a NumPy/SciPy counterpart, in float64 NumPy (ONNX's definitions)."""

import numpy as np


# ---------------------------------------------------------------- plain tensors


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


def nonzero_by_axis(x):
    return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


def global_lp_pool(x, p=2):
    axes = tuple(range(2, x.ndim))
    return np.power(np.sum(np.power(np.abs(x), p), axis=axes, keepdims=True), 1.0 / p)


def swiglu(a, b, alpha=1.0):
    return a / (1.0 + np.exp(-alpha * a)) * b


# ---------------------------------------------------------------- text features and sets


def tfidf_vectorizer(x, mode, min_gram_length, max_gram_length, max_skip_count, ngram_counts, ngram_indexes,
                     pool_int64s, weights=None):
    """Counts of the pool's n-grams (n in [min, max]) taken with every skip up to max_skip_count (1-grams once),
    at ngram_indexes positions; IDF turns counts into presence, IDF and TFIDF multiply by the weights."""
    ordinal, pool = {}, list(pool_int64s)
    bounds = list(ngram_counts) + [len(pool)]
    number = 0
    for size, (begin, end) in enumerate(zip(bounds[:-1], bounds[1:]), start=1):
        for start in range(begin, end, size):
            ordinal[tuple(pool[start:start + size])] = number
            number += 1
    rows = np.atleast_2d(x)
    out = np.zeros((rows.shape[0], max(ngram_indexes) + 1))
    for r, row in enumerate(rows):
        for skip in range(max_skip_count + 1):
            step = skip + 1
            for size in range(max(min_gram_length, 1 if skip == 0 else 2), max_gram_length + 1):
                for start in range(len(row) - (size - 1) * step):
                    gram = tuple(int(v) for v in row[start:start + (size - 1) * step + 1:step])
                    if gram in ordinal:
                        out[r, ngram_indexes[ordinal[gram]]] += 1
    w = np.ones(out.shape[1]) if weights is None else np.zeros(out.shape[1])
    if weights is not None:
        w[list(ngram_indexes)] = weights
    if mode == "IDF":
        out = (out > 0) * w
    elif mode == "TFIDF":
        out = out * w
    return (out if x.ndim == 2 else out[0]).astype(np.float32)


def unique_all(x, dim=None):
    """Sorted unique values (or slices along dim), the first index of each, the flat inverse, and the counts."""
    values, index, inverse, counts = np.unique(x.reshape(-1) if dim is None else x, return_index=True,
                                               return_inverse=True, return_counts=True, axis=dim)
    return values, index.astype(np.int64), inverse.reshape(-1).astype(np.int64), counts.astype(np.int64)


# ---------------------------------------------------------------- control flow


def cond(x, pred):
    """x * x where pred holds, else -x (both branches see the whole tensor)."""
    return x * x if pred else -x


def fori_loop(x, upper):
    """v = cos(v) + i for i in range(upper), from v = x: uses the carried value and the iteration number."""
    v = x.copy()
    for i in range(upper):
        v = np.cos(v) + i
    return v
