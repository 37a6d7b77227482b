"""References for gathers, scatters and masked indexing, in NumPy (torch's argument conventions)."""

import numpy as np

_REDUCE_AT = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def element_index(index, dim):
    """The full index tuple of a torch gather/scatter: ``index`` along ``dim``, the element's own position elsewhere."""
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


def gather(input, index, dim):
    # torch.gather reads input[..., index[i, j], ...] at index's own positions; index may be smaller than input
    # along the other dims (take_along_axis would broadcast instead).
    return input[element_index(index, dim % input.ndim)]


def _scatter_into(input, index, src, dim, ufunc=None):
    out = input.copy()
    where = element_index(index, dim % input.ndim)
    values = src[tuple(slice(0, s) for s in index.shape)]
    if ufunc is None:
        out[where] = values
    else:
        ufunc.at(out, where, values)
    return out


def scatter(input, index, src, dim):
    return _scatter_into(input, index, src, dim)


def scatter_add(input, index, src, dim):
    return _scatter_into(input, index, src, dim, np.add)


def scatter_reduce(input, index, src, dim, reduce, include_self=True):
    if not include_self:
        raise ValueError("the reference implements include_self=True only")
    return _scatter_into(input, index, src, dim, _REDUCE_AT[reduce])


def index_add(input, index, source, dim):
    out = np.moveaxis(input.copy(), dim, 0)
    np.add.at(out, index, np.moveaxis(source, dim, 0))
    return np.moveaxis(out, 0, dim)


def index_put(input, *indices_and_values, accumulate=False):
    *indices, values = indices_and_values
    out = input.copy()
    if accumulate:
        np.add.at(out, tuple(indices), values)
    else:
        out[tuple(indices)] = values
    return out


def masked_fill(input, mask, value):
    return np.where(mask, np.asarray(value).astype(input.dtype), input)


def masked_select(input, mask):
    input, mask = np.broadcast_arrays(input, mask)
    return input[mask]


def embedding(input, weight):
    return weight[input]


def one_hot(tensor, num_classes):
    return (tensor[..., None] == np.arange(num_classes)).astype(np.int64)


def take(input, index):
    return input.reshape(-1)[index]


def nonzero(input):
    return np.argwhere(input).astype(np.int64)


def nonzero_static(input, size, fill_value=-1):
    found = np.argwhere(input).astype(np.int64)[:size]
    padding = np.full((size - len(found), input.ndim), fill_value, dtype=np.int64)
    return np.concatenate([found, padding])
