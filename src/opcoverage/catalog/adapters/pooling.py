"""Binding adapters for pooling and resampling: torch's arguments onto jax.lax, jax.image and ONNX nodes."""

import numpy as np

from opcoverage.backends.base import NotApplicable
from opcoverage.catalog.references.convolution import ntuple
from opcoverage.catalog.references.pooling import avg_pool_divisors, pool_geometry
from opcoverage.catalog.spec import OnnxCall

# --- torch: F.interpolate takes the mode as an argument; each catalog op fixes one.


def torch_upsample_nearest2d(input, size):
    import torch.nn.functional as F

    return F.interpolate(input, size=size, mode="nearest")


def torch_upsample_nearest_exact2d(input, size):
    import torch.nn.functional as F

    return F.interpolate(input, size=size, mode="nearest-exact")


def torch_upsample_bilinear2d(input, size, align_corners=False):
    import torch.nn.functional as F

    return F.interpolate(input, size=size, mode="bilinear", align_corners=align_corners)


def torch_upsample_bicubic2d(input, size, align_corners=False):
    import torch.nn.functional as F

    return F.interpolate(input, size=size, mode="bicubic", align_corners=align_corners)


# --- jax: pooling is lax.reduce_window (what flax's max_pool/avg_pool call); padding on the right grows
# by what torch's ceil_mode needs.


def _reduce_window_args(x, nd, axes):
    lead = x.ndim - nd
    return dict(
        window_dimensions=(1,) * lead + tuple(k for k, *_ in axes),
        window_strides=(1,) * lead + tuple(s for _, s, *_ in axes),
        padding=((0, 0),) * lead + tuple((p, right) for _, _, p, _, _, right in axes),
        window_dilation=(1,) * lead + tuple(d for _, _, _, d, _, _ in axes),
    )


def _jax_max_pool(x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    import jax.numpy as jnp
    from jax import lax

    axes = pool_geometry(x.shape, nd, kernel_size, stride, padding, dilation, ceil_mode)
    if jnp.issubdtype(x.dtype, jnp.floating):
        init = jnp.array(-jnp.inf, x.dtype)
    else:
        init = jnp.array(jnp.iinfo(x.dtype).min, x.dtype)
    return lax.reduce_window(x, init, lax.max, **_reduce_window_args(x, nd, axes))


def jax_max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _jax_max_pool(input, 1, kernel_size, stride, padding, dilation, ceil_mode)


def jax_max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _jax_max_pool(input, 2, kernel_size, stride, padding, dilation, ceil_mode)


def _jax_avg_pool(x, nd, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Window sums from lax.reduce_window; the divisor is torch's window count, a constant of the shapes."""
    import jax.numpy as jnp
    from jax import lax

    axes = pool_geometry(x.shape, nd, kernel_size, stride, padding, 1, ceil_mode)
    sums = lax.reduce_window(x, jnp.array(0, x.dtype), lax.add, **_reduce_window_args(x, nd, axes))
    if divisor_override:
        return sums / jnp.array(divisor_override, x.dtype)
    return sums / jnp.asarray(avg_pool_divisors(x.shape, nd, axes, count_include_pad), x.dtype)


def jax_avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _jax_avg_pool(input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def jax_avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                   divisor_override=None):
    return _jax_avg_pool(input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def jax_avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                   divisor_override=None):
    return _jax_avg_pool(input, 3, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def jax_upsample_nearest_exact2d(input, size):
    """jax.image.resize's nearest uses half-pixel centers, which is torch's nearest-exact."""
    import jax

    return jax.image.resize(input, tuple(input.shape[:2]) + tuple(ntuple(size, 2)), method="nearest")


def jax_upsample_bilinear2d(input, size, align_corners=False):
    import jax

    if align_corners:
        raise NotApplicable("jax.image.resize has no align_corners coordinate mapping")
    # Without antialias, downsampling interpolates between the two nearest inputs, as torch's bilinear does.
    return jax.image.resize(input, tuple(input.shape[:2]) + tuple(ntuple(size, 2)), method="linear", antialias=False)


# --- ONNX


def _pool_attributes(nd, kwargs, with_dilation):
    kernel = ntuple(kwargs["kernel_size"], nd)
    stride = kwargs.get("stride")
    stride = kernel if stride is None or stride == [] else ntuple(stride, nd)
    attributes = {
        "kernel_shape": list(kernel),
        "strides": list(stride),
        "pads": list(ntuple(kwargs.get("padding", 0), nd)) * 2,
        "ceil_mode": int(bool(kwargs.get("ceil_mode", False))),
    }
    if with_dilation:
        attributes["dilations"] = list(ntuple(kwargs.get("dilation", 1), nd))
    return attributes


def onnx_max_pool(args, kwargs):
    x = args[0]
    return OnnxCall((x,), _pool_attributes(x.ndim - 2, kwargs, with_dilation=True))


def onnx_avg_pool(args, kwargs):
    x = args[0]
    if kwargs.get("divisor_override"):
        raise NotApplicable("ONNX AveragePool has no divisor_override")
    attributes = _pool_attributes(x.ndim - 2, kwargs, with_dilation=False)
    attributes["count_include_pad"] = int(bool(kwargs.get("count_include_pad", True)))
    return OnnxCall((x,), attributes)


def onnx_lp_pool(args, kwargs):
    x = args[0]
    attributes = _pool_attributes(x.ndim - 2, {**kwargs, "padding": 0}, with_dilation=False)
    attributes["p"] = int(kwargs["norm_type"])
    return OnnxCall((x,), attributes)


def _onnx_adaptive(args, kwargs, global_op, pool_op):
    """Adaptive pooling is a Global*Pool for output size 1 and a plain pool when every size divides evenly;
    ONNX has no node for the uneven, overlapping bins."""
    x = args[0]
    nd = x.ndim - 2
    sizes = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(ntuple(kwargs["output_size"], nd)))
    if all(s == 1 for s in sizes):
        return OnnxCall((x,), {}, op_type=global_op)
    lengths = x.shape[2:]
    if any(length % out for length, out in zip(lengths, sizes)):
        raise NotApplicable(f"ONNX has no adaptive pooling: output size {list(sizes)} does not divide input "
                            f"size {list(lengths)}, so the bins are uneven")
    kernel = [length // out for length, out in zip(lengths, sizes)]
    return OnnxCall((x,), {"kernel_shape": kernel, "strides": kernel}, op_type=pool_op)


def onnx_adaptive_avg_pool(args, kwargs):
    return _onnx_adaptive(args, kwargs, "GlobalAveragePool", "AveragePool")


def onnx_adaptive_max_pool(args, kwargs):
    return _onnx_adaptive(args, kwargs, "GlobalMaxPool", "MaxPool")


def _onnx_resize(x, size, attributes):
    sizes = np.array(list(x.shape[:2]) + list(ntuple(size, x.ndim - 2)), dtype=np.int64)
    return OnnxCall((x, None, None, sizes), attributes, constants=frozenset({3}))


def onnx_upsample_nearest2d(args, kwargs):
    """torch's legacy nearest: source index floor(dst * in / out)."""
    return _onnx_resize(args[0], kwargs["size"], {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                                  "nearest_mode": "floor"})


def onnx_upsample_nearest_exact2d(args, kwargs):
    """torch's nearest-exact: source index floor((dst + 0.5) * in / out), i.e. half_pixel rounded half up."""
    return _onnx_resize(args[0], kwargs["size"], {"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                                                  "nearest_mode": "round_prefer_ceil"})


def _transform(kwargs):
    return "align_corners" if kwargs.get("align_corners") else "pytorch_half_pixel"


def onnx_upsample_bilinear2d(args, kwargs):
    return _onnx_resize(args[0], kwargs["size"], {"mode": "linear", "coordinate_transformation_mode": _transform(kwargs)})


def onnx_upsample_bicubic2d(args, kwargs):
    return _onnx_resize(args[0], kwargs["size"], {"mode": "cubic", "coordinate_transformation_mode": _transform(kwargs),
                                                  "cubic_coeff_a": -0.75})
