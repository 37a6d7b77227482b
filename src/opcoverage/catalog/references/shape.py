"""References for shape and layout ops, in NumPy (torch's argument conventions)."""

import numpy as np


def axes_tuple(value):
    """torch takes an int or a list for dims; NumPy wants an int or a tuple."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return input.reshape(1)
    start, end = start_dim % input.ndim, end_dim % input.ndim
    shape = input.shape[:start] + (-1,) + input.shape[end + 1:]
    return input.reshape(shape)


def squeeze(input, dim=None):
    if dim is None:
        return np.squeeze(input)
    # torch leaves a dim that is not of size 1 alone where NumPy raises.
    dims = [d % max(input.ndim, 1) for d in (dim if isinstance(dim, (list, tuple)) else [dim])]
    return np.squeeze(input, axis=tuple(d for d in dims if input.ndim and input.shape[d] == 1))


def cat(*tensors, dim=0):
    return np.concatenate(tensors, axis=dim)


def stack(*tensors, dim=0):
    return np.stack(tensors, axis=dim)


def split_sizes(length, split_size_or_sections):
    """torch.split: an int gives chunks of that size (the last may be smaller); a list gives the sizes."""
    if isinstance(split_size_or_sections, (list, tuple)):
        return list(split_size_or_sections)
    size = int(split_size_or_sections)
    return [min(size, length - start) for start in range(0, length, size)]


def chunk_sizes(length, chunks):
    """torch.chunk: chunks of ceil(length / chunks), so fewer than ``chunks`` pieces may come back."""
    return split_sizes(length, -(-length // chunks))


def _split_at(input, sizes, dim):
    return tuple(np.split(input, np.cumsum(sizes)[:-1], axis=dim))


def split(input, split_size_or_sections, dim=0):
    return _split_at(input, split_sizes(input.shape[dim], split_size_or_sections), dim)


def chunk(input, chunks, dim=0):
    return _split_at(input, chunk_sizes(input.shape[dim], chunks), dim)


def unbind(input, dim=0):
    return tuple(np.moveaxis(input, dim, 0))


def narrow(input, dim, start, length):
    start = start % input.shape[dim]
    index = [slice(None)] * input.ndim
    index[dim] = slice(start, start + length)
    return input[tuple(index)]


def strided_slice(input, dim=0, start=None, end=None, step=1):
    """input[..., start:end:step, ...] along dim (torch's x[:, a:b:c])."""
    index = [slice(None)] * input.ndim
    index[dim] = slice(start, end, step)
    return input[tuple(index)]


def expand_shape(shape, size):
    """torch.expand's target shape: -1 keeps the existing size; new dims are added at the front."""
    lead = len(size) - len(shape)
    return tuple(shape[i - lead] if s == -1 else s for i, s in enumerate(size))


def expand(input, size):
    return np.broadcast_to(input, expand_shape(input.shape, size))


def repeat(input, repeats):
    return np.tile(input, tuple(repeats))


def flip(input, dims):
    return np.flip(input, axis=axes_tuple(dims))


def roll(input, shifts, dims=None):
    return np.roll(input, axes_tuple(shifts), axis=axes_tuple(dims))


def rot90(input, k=1, dims=(0, 1)):
    return np.rot90(input, k, axes=tuple(dims))


def numpy_pad_width(ndim, pad):
    """torch's pad lists (begin, end) pairs starting from the last dim; NumPy wants one pair per dim, first dim first."""
    pairs = [(0, 0)] * ndim
    for i in range(len(pad) // 2):
        pairs[ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return pairs


def _pad(input, pad, mode, **extra):
    pairs = numpy_pad_width(input.ndim, pad)
    # Negative padding crops; NumPy's pad only grows, so crop first.
    crop = tuple(np.s_[max(-b, 0):input.shape[i] - max(-e, 0)] for i, (b, e) in enumerate(pairs))
    return np.pad(input[crop], [(max(b, 0), max(e, 0)) for b, e in pairs], mode=mode, **extra)


def pad(input, pad, value=None):
    return _pad(input, pad, "constant", constant_values=0 if value is None else value)


def reflection_pad(input, pad):
    return _pad(input, pad, "reflect")


def replication_pad(input, pad):
    return _pad(input, pad, "edge")


def circular_pad(input, pad):
    return _pad(input, pad, "wrap")


def movedim(input, source, destination):
    return np.moveaxis(input, source, destination)


def full_like(input, fill_value):
    return np.full_like(input, fill_value)
