"""Binding adapters for gathers, scatters and masked indexing: torch, jax .at[] updates and ONNX nodes."""

import numpy as np

from opcoverage.backends.base import NotApplicable
from opcoverage.catalog.spec import OnnxCall

# ScatterElements' reduction attribute for torch.scatter_reduce's reduce argument.
_ONNX_REDUCTION = {"sum": "add", "prod": "mul", "amax": "max", "amin": "min"}

# --- torch: these take dim before the index tensors, so the sample's positional order needs a wrapper.


def torch_gather(input, index, dim):
    import torch

    return torch.gather(input, dim, index)


def torch_scatter(input, index, src, dim):
    import torch

    return torch.scatter(input, dim, index, src)


def torch_scatter_add(input, index, src, dim):
    import torch

    return torch.scatter_add(input, dim, index, src)


def torch_scatter_reduce(input, index, src, dim, reduce, include_self=True):
    import torch

    return torch.scatter_reduce(input, dim, index, src, reduce, include_self=include_self)


def torch_index_select(input, index, dim):
    import torch

    return torch.index_select(input, dim, index)


def torch_index_add(input, index, source, dim):
    import torch

    return torch.index_add(input, dim, index, source)


def torch_index_put(input, *indices_and_values, accumulate=False):
    import torch

    *indices, values = indices_and_values
    return torch.index_put(input, tuple(indices), values, accumulate=accumulate)


def torch_embedding(input, weight):
    import torch.nn.functional as F

    return F.embedding(input, weight)


# --- jax


def _jax_element_index(index, dim):
    import jax.numpy as jnp

    grid = list(jnp.indices(index.shape, sparse=True))
    grid[dim % index.ndim] = index
    return tuple(grid)


def jax_gather(input, index, dim):
    return input[_jax_element_index(index, dim)]


def _jax_scatter(input, index, src, dim, method):
    values = src[tuple(slice(0, s) for s in index.shape)]
    return getattr(input.at[_jax_element_index(index, dim)], method)(values)


def jax_scatter(input, index, src, dim):
    return _jax_scatter(input, index, src, dim, "set")


def jax_scatter_add(input, index, src, dim):
    return _jax_scatter(input, index, src, dim, "add")


def jax_scatter_reduce(input, index, src, dim, reduce, include_self=True):
    if not include_self:
        raise NotApplicable("jax's .at[] updates always combine with the existing values (include_self=True)")
    method = {"sum": "add", "prod": "multiply", "amax": "max", "amin": "min"}[reduce]
    return _jax_scatter(input, index, src, dim, method)


def jax_select(input, dim, index):
    from jax import lax

    return lax.index_in_dim(input, index % input.shape[dim], axis=dim, keepdims=False)


def jax_index_add(input, index, source, dim):
    where = (slice(None),) * (dim % input.ndim) + (index,)
    return input.at[where].add(source)


def jax_index_put(input, *indices_and_values, accumulate=False):
    *indices, values = indices_and_values
    at = input.at[tuple(indices)]
    return at.add(values) if accumulate else at.set(values)


def jax_masked_fill(input, mask, value):
    import jax.numpy as jnp

    # A Python scalar would promote a bool input to int; keep the input's dtype as masked_fill does.
    return jnp.where(mask, jnp.asarray(value).astype(input.dtype), input)


def jax_embedding(input, weight):
    import jax.numpy as jnp

    return jnp.take(weight, input, axis=0)


def jax_one_hot(tensor, num_classes):
    import jax
    import jax.numpy as jnp

    return jax.nn.one_hot(tensor, num_classes, dtype=jnp.int64)


def jax_nonzero_static(input, size, fill_value=-1):
    import jax.numpy as jnp

    return jnp.argwhere(input, size=size, fill_value=fill_value)


# --- ONNX


def onnx_gather_elements(args, kwargs):
    return OnnxCall((args[0], args[1]), {"axis": kwargs["dim"]}, op_type="GatherElements")


def onnx_take_along_dim(args, kwargs):
    x, index = args
    dim = kwargs["dim"] % x.ndim
    if any(i != s for axis, (i, s) in enumerate(zip(index.shape, x.shape)) if axis != dim):
        raise NotApplicable("GatherElements does not broadcast the indices against the input as take_along_dim does")
    return OnnxCall((x, index), {"axis": dim}, op_type="GatherElements")


def _scatter_elements(args, kwargs, reduction):
    x, index, src = args
    return OnnxCall((x, index, src), {"axis": kwargs["dim"], "reduction": reduction}, op_type="ScatterElements")


def onnx_scatter(args, kwargs):
    return _scatter_elements(args, kwargs, "none")


def onnx_scatter_add(args, kwargs):
    return _scatter_elements(args, kwargs, "add")


def onnx_scatter_reduce(args, kwargs):
    if not kwargs.get("include_self", True):
        raise NotApplicable("ONNX ScatterElements always combines with the existing values (include_self=True)")
    return _scatter_elements(args, kwargs, _ONNX_REDUCTION[kwargs["reduce"]])


def onnx_select(args, kwargs):
    """Gather with a 0-d index drops the axis, as select does."""
    index = np.asarray(kwargs["index"], dtype=np.int64)
    return OnnxCall((args[0], index), {"axis": kwargs["dim"]}, constants=frozenset({1}), op_type="Gather")


def onnx_index_add(args, kwargs):
    """index_add is ScatterElements(add) with the 1-D index laid out along dim over the source's shape."""
    x, index, source = args
    dim = kwargs["dim"] % x.ndim
    shape = [1] * source.ndim
    shape[dim] = -1
    indices = np.broadcast_to(index.reshape(shape), source.shape).copy()
    return OnnxCall((x, indices, source), {"axis": dim, "reduction": "add"}, op_type="ScatterElements")


def onnx_index_put(args, kwargs):
    """index_put with k index tensors is ScatterND with the indices stacked on a last axis of size k."""
    x, *indices, values = args
    stacked = np.stack(np.broadcast_arrays(*indices), axis=-1)
    updates = np.broadcast_to(values, stacked.shape[:-1] + x.shape[len(indices):]).copy()
    reduction = "add" if kwargs.get("accumulate") else "none"
    return OnnxCall((x, stacked, updates), {"reduction": reduction}, op_type="ScatterND")


def onnx_masked_fill(args, kwargs):
    x, mask = args
    value = np.asarray(kwargs["value"]).astype(x.dtype)
    return OnnxCall((mask, value, x), {}, constants=frozenset({1}), op_type="Where")


def onnx_masked_select(args, kwargs):
    """Compress without an axis selects from the flattened input by a 1-D condition: the mask, flattened."""
    x, mask = args
    if mask.shape != x.shape:
        raise NotApplicable("Compress does not broadcast the mask against the input")
    return OnnxCall((x, mask.reshape(-1)), {}, op_type="Compress")


def onnx_one_hot(args, kwargs):
    depth = np.asarray(kwargs["num_classes"], dtype=np.int64)
    values = np.array([0, 1], dtype=np.int64)  # (off, on); their dtype sets the output's
    return OnnxCall((args[0], depth, values), {"axis": -1}, constants=frozenset({1, 2}), op_type="OneHot")


def onnx_take(args, kwargs):
    """torch.take indexes the flattened input; Gather on the input given as 1-D."""
    x, index = args
    return OnnxCall((x.reshape(-1), index), {"axis": 0}, op_type="Gather")
