"""Binding adapters for the ai.onnx-specific ops: ONNX nodes, and the torch and jax calls that match them."""

import numpy as np

from opcoverage.backends.base import NotApplicable, Unsupported
from opcoverage.catalog.dtypes import dtype_name
from opcoverage.catalog.spec import OnnxCall


def _onnx_dtype(dtype) -> int:
    from onnx import TensorProto, helper

    if dtype_name(dtype) == "bfloat16":
        return TensorProto.BFLOAT16
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _scalar(value, dtype) -> np.ndarray:
    """A 0-d constant: ONNX takes sizes, bounds and thresholds of several ops as scalars, not 1-D tensors."""
    return np.asarray(value).astype(dtype).reshape(())


def _tensor_proto(array: np.ndarray):
    from onnx import helper, numpy_helper

    if dtype_name(array.dtype) == "bfloat16":
        return helper.make_tensor("value", _onnx_dtype(array.dtype), array.shape,
                                  np.require(array, requirements="C").view(np.uint16).tobytes(), raw=True)
    return numpy_helper.from_array(np.require(array, requirements="C"), "value")


# ---------------------------------------------------------------- plain tensors


def onnx_constant(args, kwargs):
    """Constant has no inputs: the sample's tensor becomes its ``value`` attribute."""
    return OnnxCall((), {"value": _tensor_proto(args[0])})


def torch_numel(x):
    import torch

    return torch.tensor(torch.numel(x), dtype=torch.int64)


def jax_numel(x):
    import jax.numpy as jnp

    return jnp.asarray(jnp.size(x), dtype=jnp.int64)


def torch_eye_like(x, k=0):
    """torch.eye has no diagonal offset: take the offset diagonal out of a larger identity."""
    import torch

    n, m = x.shape
    if k >= 0:
        return torch.eye(n + k, m, dtype=x.dtype)[k:, :]
    return torch.eye(n, m - k, dtype=x.dtype)[:, -k:]


def jax_eye_like(x, k=0):
    import jax.numpy as jnp

    return jnp.eye(x.shape[0], x.shape[1], k, dtype=x.dtype)


def jax_type_as(x, other):
    return x.astype(other.dtype)


def torch_shrink(input, lambd=0.5, bias=0.0):
    """torch has ONNX Shrink's two common cases: hardshrink (bias 0) and softshrink (bias = lambd)."""
    import torch.nn.functional as F

    if bias == 0:
        return F.hardshrink(input, lambd)
    if bias == lambd:
        return F.softshrink(input, lambd)
    raise NotApplicable("torch has hardshrink (bias 0) and softshrink (bias = lambd) only")


def torch_gather_nd(data, indices):
    return data[tuple(indices.unbind(-1))]


def jax_gather_nd(data, indices):
    import jax.numpy as jnp

    return data[tuple(jnp.moveaxis(indices, -1, 0))]


def torch_nonzero_by_axis(x):
    import torch

    return torch.stack(torch.nonzero(x, as_tuple=True))


def onnx_dropout(args, kwargs):
    """Dropout's ratio and training_mode are scalar inputs; training with ratio 0 keeps every value."""
    x = args[0]
    ratio = _scalar(kwargs.get("p", 0.5), x.dtype)
    training = _scalar(bool(kwargs.get("training", False)), np.bool_)
    return OnnxCall((x, ratio, training), constants=frozenset({1, 2}))


# ---------------------------------------------------------------- creation ops: the empty `like` input carries the dtype


def torch_arange(like, start, end, step):
    import torch

    return torch.arange(start, end, step, dtype=like.dtype)


def onnx_range(args, kwargs):
    dtype = args[0].dtype
    bounds = tuple(_scalar(kwargs[k], dtype) for k in ("start", "end", "step"))
    return OnnxCall(bounds, constants=frozenset({0, 1, 2}))


def _torch_window(name, like, window_length, periodic, **extra):
    import torch

    return getattr(torch, name)(window_length, periodic=periodic, dtype=like.dtype, **extra)


def torch_hann_window(like, window_length, periodic=True):
    return _torch_window("hann_window", like, window_length, periodic)


def torch_hamming_window(like, window_length, periodic=True, alpha=0.54, beta=0.46):
    return _torch_window("hamming_window", like, window_length, periodic, alpha=alpha, beta=beta)


def torch_blackman_window(like, window_length, periodic=True):
    return _torch_window("blackman_window", like, window_length, periodic)


def _jax_window(fn, like, window_length, periodic):
    """NumPy-style windows are symmetric; the periodic one is the symmetric window one longer, truncated."""
    import jax.numpy as jnp

    window = getattr(jnp, fn)(window_length + 1)[:-1] if periodic else getattr(jnp, fn)(window_length)
    return window.astype(like.dtype)


def jax_hann_window(like, window_length, periodic=True):
    return _jax_window("hanning", like, window_length, periodic)


def jax_hamming_window(like, window_length, periodic=True, alpha=0.54, beta=0.46):
    if (alpha, beta) != (0.54, 0.46):
        raise NotApplicable("jax.numpy.hamming fixes alpha = 0.54, beta = 0.46")
    return _jax_window("hamming", like, window_length, periodic)


def jax_blackman_window(like, window_length, periodic=True):
    return _jax_window("blackman", like, window_length, periodic)


def _onnx_window(args, kwargs):
    like = args[0]
    attributes = {"periodic": int(kwargs.get("periodic", True)), "output_datatype": _onnx_dtype(like.dtype)}
    return OnnxCall((_scalar(kwargs["window_length"], np.int64),), attributes, frozenset({0}))


def onnx_hann_window(args, kwargs):
    return _onnx_window(args, kwargs)


def onnx_blackman_window(args, kwargs):
    return _onnx_window(args, kwargs)


def onnx_hamming_window(args, kwargs):
    # ONNX HammingWindow fixes alpha = 25/46 and beta = 21/46 (the equiripple choice), not torch's 0.54/0.46.
    if not (np.isclose(kwargs.get("alpha", 0.54), 25 / 46) and np.isclose(kwargs.get("beta", 0.46), 21 / 46)):
        raise NotApplicable("ONNX HammingWindow fixes alpha = 25/46, beta = 21/46")
    return _onnx_window(args, kwargs)


# ---------------------------------------------------------------- bit casts


def torch_bitcast_to_int32(x):
    import torch

    return x.view(torch.int32)


def torch_bitcast_to_int16(x):
    import torch

    return x.view(torch.int16)


def jax_bitcast_to_int32(x):
    import jax.numpy as jnp
    from jax import lax

    return lax.bitcast_convert_type(x, jnp.int32)


def jax_bitcast_to_int16(x):
    import jax.numpy as jnp
    from jax import lax

    return lax.bitcast_convert_type(x, jnp.int16)


# ---------------------------------------------------------------- pooling


def torch_global_lp_pool(input, p=2):
    """torch's lp_pool over a window that covers the whole spatial extent (it does not take |x|: samples with
    an odd p are positive)."""
    import torch.nn.functional as F

    spatial = tuple(input.shape[2:])
    if len(spatial) == 1:
        return F.lp_pool1d(input, p, spatial[0])
    return {2: F.lp_pool2d, 3: F.lp_pool3d}[len(spatial)](input, p, spatial)
