"""Binding adapters for convolutions: torch's conv arguments onto jax.lax and ONNX Conv/ConvTranspose."""

from opcoverage.catalog.references.convolution import ntuple
from opcoverage.catalog.spec import OnnxCall

# lax.conv_general_dilated dimension numbers for torch's channels-first layouts.
_LAYOUTS = {1: ("NCH", "OIH", "NCH"), 2: ("NCHW", "OIHW", "NCHW"), 3: ("NCDHW", "OIDHW", "NCDHW")}


def _add_bias(out, bias, nd):
    if bias is None:
        return out
    return out + bias.reshape((1, -1) + (1,) * nd)


def _jax_conv(x, weight, bias, stride, padding, dilation, groups, nd):
    from jax import lax

    out = lax.conv_general_dilated(
        x, weight,
        window_strides=ntuple(stride, nd),
        padding=[(p, p) for p in ntuple(padding, nd)],
        rhs_dilation=ntuple(dilation, nd),
        dimension_numbers=_LAYOUTS[nd],
        feature_group_count=groups,
    )
    return _add_bias(out, bias, nd)


def _jax_conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, nd):
    """A transposed convolution is the convolution of the stride-dilated input with the flipped, I/O-swapped
    kernel (how lax.conv_transpose is built); conv_general_dilated is used directly because it takes groups."""
    import jax.numpy as jnp
    from jax import lax

    stride, padding, dilation = ntuple(stride, nd), ntuple(padding, nd), ntuple(dilation, nd)
    output_padding = ntuple(output_padding, nd)
    in_channels, group_out = weight.shape[:2]
    kernel = weight.shape[2:]
    w = weight.reshape((groups, in_channels // groups, group_out) + kernel)
    w = jnp.swapaxes(w, 1, 2).reshape((groups * group_out, in_channels // groups) + kernel)
    w = jnp.flip(w, axis=tuple(range(2, 2 + nd)))
    pads = [(d * (k - 1) - p, d * (k - 1) - p + op) for d, k, p, op in zip(dilation, kernel, padding, output_padding)]
    out = lax.conv_general_dilated(
        x, w,
        window_strides=(1,) * nd,
        padding=pads,
        lhs_dilation=stride,
        rhs_dilation=dilation,
        dimension_numbers=_LAYOUTS[nd],
        feature_group_count=groups,
    )
    return _add_bias(out, bias, nd)


def jax_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _jax_conv(input, weight, bias, stride, padding, dilation, groups, 1)


def jax_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _jax_conv(input, weight, bias, stride, padding, dilation, groups, 2)


def jax_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _jax_conv(input, weight, bias, stride, padding, dilation, groups, 3)


def jax_conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _jax_conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def jax_conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _jax_conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2)


def onnx_conv(args, kwargs):
    """ONNX Conv takes pads as [begin..., end...]; torch's symmetric padding gives the same value at both ends."""
    x, weight = args[0], args[1]
    nd = x.ndim - 2
    padding = ntuple(kwargs.get("padding", 0), nd)
    attributes = {
        "kernel_shape": list(weight.shape[2:]),
        "strides": list(ntuple(kwargs.get("stride", 1), nd)),
        "pads": list(padding) * 2,
        "dilations": list(ntuple(kwargs.get("dilation", 1), nd)),
        "group": int(kwargs.get("groups", 1)),
    }
    return OnnxCall(tuple(args), attributes)


def onnx_conv_transpose(args, kwargs):
    x, weight = args[0], args[1]
    nd = x.ndim - 2
    padding = ntuple(kwargs.get("padding", 0), nd)
    attributes = {
        "kernel_shape": list(weight.shape[2:]),
        "strides": list(ntuple(kwargs.get("stride", 1), nd)),
        "pads": list(padding) * 2,
        "output_padding": list(ntuple(kwargs.get("output_padding", 0), nd)),
        "dilations": list(ntuple(kwargs.get("dilation", 1), nd)),
        "group": int(kwargs.get("groups", 1)),
    }
    return OnnxCall(tuple(args), attributes)
