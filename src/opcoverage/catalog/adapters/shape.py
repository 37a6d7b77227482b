"""Binding adapters for shape and layout ops: torch's arguments onto torch methods, jax and single ONNX nodes."""

import numpy as np

from opcoverage.catalog.references.shape import (chunk_sizes, expand_shape, numpy_pad_width, split_sizes)
from opcoverage.catalog.spec import OnnxCall

# Slice's "to the very beginning" end for a negative step.
_INT64_MIN = np.iinfo(np.int64).min


def _dims(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


# --- torch: sequence arguments, methods and F.pad modes


def torch_cat(*tensors, dim=0):
    import torch

    return torch.cat(tensors, dim=dim)


def torch_stack(*tensors, dim=0):
    import torch

    return torch.stack(tensors, dim=dim)


def torch_slice(input, dim=0, start=None, end=None, step=1):
    index = [slice(None)] * input.ndim
    index[dim] = slice(start, end, step)
    return input[tuple(index)]


def torch_expand(input, size):
    return input.expand(*size)


def torch_repeat(input, repeats):
    return input.repeat(*repeats)


def torch_reflection_pad(input, pad):
    import torch.nn.functional as F

    return F.pad(input, pad, mode="reflect")


def torch_replication_pad(input, pad):
    import torch.nn.functional as F

    return F.pad(input, pad, mode="replicate")


def torch_circular_pad(input, pad):
    import torch.nn.functional as F

    return F.pad(input, pad, mode="circular")


# --- jax


def jax_flatten(input, start_dim=0, end_dim=-1):
    from jax import lax

    if input.ndim == 0:
        return input.reshape(1)
    return lax.collapse(input, start_dim % input.ndim, end_dim % input.ndim + 1)


def jax_squeeze(input, dim=None):
    import jax.numpy as jnp

    return jnp.squeeze(input, axis=None if dim is None else tuple(_dims(dim)))


def jax_cat(*tensors, dim=0):
    import jax.numpy as jnp

    return jnp.concatenate(tensors, axis=dim)


def jax_stack(*tensors, dim=0):
    import jax.numpy as jnp

    return jnp.stack(tensors, axis=dim)


def _jax_split_at(input, sizes, dim):
    import jax.numpy as jnp

    return tuple(jnp.split(input, np.cumsum(sizes)[:-1].tolist(), axis=dim))


def jax_split(input, split_size_or_sections, dim=0):
    return _jax_split_at(input, split_sizes(input.shape[dim], split_size_or_sections), dim)


def jax_chunk(input, chunks, dim=0):
    """jnp.array_split spreads the remainder over the first pieces; torch.chunk uses ceil-sized pieces."""
    return _jax_split_at(input, chunk_sizes(input.shape[dim], chunks), dim)


def jax_narrow(input, dim, start, length):
    from jax import lax

    start = start % input.shape[dim]
    return lax.slice_in_dim(input, start, start + length, axis=dim)


def jax_slice(input, dim=0, start=None, end=None, step=1):
    index = [slice(None)] * input.ndim
    index[dim] = slice(start, end, step)
    return input[tuple(index)]


def jax_expand(input, size):
    import jax.numpy as jnp

    return jnp.broadcast_to(input, expand_shape(input.shape, size))


def jax_flip(input, dims):
    import jax.numpy as jnp

    return jnp.flip(input, axis=tuple(_dims(dims)))


def jax_roll(input, shifts, dims=None):
    import jax.numpy as jnp

    if dims is None:
        return jnp.roll(input, shifts)
    return jnp.roll(input, tuple(_dims(shifts)), axis=tuple(_dims(dims)))


def jax_rot90(input, k=1, dims=(0, 1)):
    import jax.numpy as jnp

    return jnp.rot90(input, k, axes=tuple(dims))


def jax_pad(input, pad, value=None):
    """lax.pad, which also takes torch's negative (cropping) pads."""
    import jax.numpy as jnp
    from jax import lax

    fill = jnp.array(0 if value is None else value).astype(input.dtype)
    return lax.pad(input, fill, [(lo, hi, 0) for lo, hi in numpy_pad_width(input.ndim, pad)])


def _jax_pad_mode(input, pad, mode):
    import jax.numpy as jnp

    return jnp.pad(input, numpy_pad_width(input.ndim, pad), mode=mode)


def jax_reflection_pad(input, pad):
    return _jax_pad_mode(input, pad, "reflect")


def jax_replication_pad(input, pad):
    return _jax_pad_mode(input, pad, "edge")


def jax_circular_pad(input, pad):
    return _jax_pad_mode(input, pad, "wrap")


# --- ONNX


def _int64(values):
    return np.asarray(values, dtype=np.int64)


def onnx_flatten(args, kwargs):
    """ONNX Flatten always gives 2-D (dims before axis, dims from axis); other torch flattens are a Reshape."""
    x = args[0]
    start = kwargs.get("start_dim", 0) % max(x.ndim, 1)
    end = kwargs.get("end_dim", -1) % max(x.ndim, 1)
    if start == 1 and end == x.ndim - 1:
        return OnnxCall((x,), {"axis": 1}, op_type="Flatten")
    shape = list(x.shape[:start]) + [-1] + list(x.shape[end + 1:])
    return OnnxCall((x, _int64(shape)), {}, constants=frozenset({1}), op_type="Reshape")


def onnx_transpose(args, kwargs):
    x = args[0]
    perm = list(range(x.ndim))
    a, b = kwargs["dim0"] % x.ndim, kwargs["dim1"] % x.ndim
    perm[a], perm[b] = perm[b], perm[a]
    return OnnxCall((x,), {"perm": perm})


def onnx_movedim(args, kwargs):
    x = args[0]
    source = [d % x.ndim for d in _dims(kwargs["source"])]
    destination = [d % x.ndim for d in _dims(kwargs["destination"])]
    perm = [d for d in range(x.ndim) if d not in source]
    for dest, src in sorted(zip(destination, source)):
        perm.insert(dest, src)
    return OnnxCall((x,), {"perm": perm}, op_type="Transpose")


def onnx_split(args, kwargs):
    x = args[0]
    dim = kwargs.get("dim", 0)
    sizes = split_sizes(x.shape[dim], kwargs["split_size_or_sections"])
    return OnnxCall((x, _int64(sizes)), {"axis": dim}, constants=frozenset({1}), n_outputs=len(sizes))


def _slice_call(x, starts, ends, axes, steps):
    return OnnxCall((x, _int64(starts), _int64(ends), _int64(axes), _int64(steps)), {},
                    constants=frozenset({1, 2, 3, 4}), op_type="Slice")


def onnx_narrow(args, kwargs):
    x = args[0]
    dim = kwargs["dim"]
    start = kwargs["start"] % x.shape[dim]
    return _slice_call(x, [start], [start + kwargs["length"]], [dim], [1])


def onnx_slice(args, kwargs):
    x = args[0]
    dim, step = kwargs.get("dim", 0), kwargs.get("step", 1)
    start = kwargs.get("start")
    end = kwargs.get("end")
    start = 0 if start is None else start
    end = np.iinfo(np.int64).max if end is None else end
    return _slice_call(x, [start], [end], [dim], [step])


def onnx_flip(args, kwargs):
    x = args[0]
    dims = _dims(kwargs["dims"])
    return _slice_call(x, [-1] * len(dims), [_INT64_MIN] * len(dims), dims, [-1] * len(dims))


def onnx_expand(args, kwargs):
    x = args[0]
    return OnnxCall((x, _int64(expand_shape(x.shape, kwargs["size"]))), {}, constants=frozenset({1}))


def onnx_repeat(args, kwargs):
    """Tile needs one repeat per input dim; torch's repeat may add leading dims, given here as size-1 dims."""
    x, repeats = args[0], list(kwargs["repeats"])
    x = x.reshape((1,) * (len(repeats) - x.ndim) + x.shape)
    return OnnxCall((x, _int64(repeats)), {}, constants=frozenset({1}))


def onnx_tile(args, kwargs):
    """torch.tile pads dims with leading 1s when it has fewer entries than the input has dims."""
    x, dims = args[0], list(kwargs["dims"])
    if len(dims) < x.ndim:
        dims = [1] * (x.ndim - len(dims)) + dims
    x = x.reshape((1,) * (len(dims) - x.ndim) + x.shape)
    return OnnxCall((x, _int64(dims)), {}, constants=frozenset({1}))


def _onnx_pad(x, pad, mode, value=None):
    pairs = numpy_pad_width(x.ndim, pad)
    pads = [b for b, _ in pairs] + [e for _, e in pairs]
    inputs = [x, _int64(pads)]
    constants = {1}
    if mode == "constant":
        inputs.append(np.asarray(0 if value is None else value).astype(x.dtype))
        constants.add(2)
    return OnnxCall(tuple(inputs), {"mode": mode}, constants=frozenset(constants), op_type="Pad")


def onnx_pad(args, kwargs):
    return _onnx_pad(args[0], kwargs["pad"], "constant", kwargs.get("value"))


def onnx_reflection_pad(args, kwargs):
    return _onnx_pad(args[0], kwargs["pad"], "reflect")


def onnx_replication_pad(args, kwargs):
    return _onnx_pad(args[0], kwargs["pad"], "edge")


def onnx_circular_pad(args, kwargs):
    return _onnx_pad(args[0], kwargs["pad"], "wrap")


def _trilu(args, kwargs, upper):
    k = np.asarray(kwargs.get("diagonal", 0), dtype=np.int64)  # Trilu's k is a 0-d tensor
    return OnnxCall((args[0], k), {"upper": upper}, constants=frozenset({1}), op_type="Trilu")


def onnx_tril(args, kwargs):
    return _trilu(args, kwargs, 0)


def onnx_triu(args, kwargs):
    return _trilu(args, kwargs, 1)


def _constant_of_shape(x, fill):
    """ONNX has no *_like ops; an exporter emits ConstantOfShape(Shape(x)). The shape is fed as a graph input so
    the node runs on the target rather than being folded away when the session is built."""
    from onnx import TensorProto, helper

    if x.dtype.name == "bfloat16":
        elem = TensorProto.BFLOAT16
    else:
        elem = helper.np_dtype_to_tensor_dtype(x.dtype)
    cast = np.asarray(fill).astype(x.dtype)
    scalar = cast.item() if x.dtype.kind in "biu" else float(cast)
    tensor = helper.make_tensor("value", elem, [1], [scalar])
    return OnnxCall((_int64(x.shape),), {"value": tensor}, op_type="ConstantOfShape")


def onnx_zeros_like(args, kwargs):
    return _constant_of_shape(args[0], 0)


def onnx_ones_like(args, kwargs):
    return _constant_of_shape(args[0], 1)


def onnx_full_like(args, kwargs):
    return _constant_of_shape(args[0], kwargs["fill_value"])
