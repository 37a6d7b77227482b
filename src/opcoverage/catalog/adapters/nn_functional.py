"""Binding adapters for torch.nn.functional losses, attention and patch ops: catalog samples onto torch,
jax and ONNX calls (ONNX loss and attention nodes, jax layouts)."""

from __future__ import annotations

from opcoverage.catalog.spec import OnnxCall

# ---------------------------------------------------------------- torch


def torch_ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean"):
    import torch

    return torch.nn.functional.ctc_loss(log_probs, targets, tuple(input_lengths), tuple(target_lengths),
                                        blank=blank, reduction=reduction)


def torch_bce_with_logits(input, target, pos_weight=None, reduction="mean"):
    import torch

    return torch.nn.functional.binary_cross_entropy_with_logits(input, target, pos_weight=pos_weight,
                                                                reduction=reduction)


def torch_rrelu_eval(x, lower=0.125, upper=1.0 / 3.0):
    import torch

    return torch.nn.functional.rrelu(x, lower, upper, training=False)


# ---------------------------------------------------------------- jax


def jax_unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    from jax import lax

    def pair(v):
        return tuple(v) if isinstance(v, (list, tuple)) else (v, v)

    (ph, pw) = pair(padding)
    patches = lax.conv_general_dilated_patches(x, pair(kernel_size), pair(stride), [(ph, ph), (pw, pw)],
                                               rhs_dilation=pair(dilation))
    # [N, C*kh*kw, out_h, out_w], features ordered (channel, kernel row, kernel column) as torch's unfold.
    return patches.reshape(patches.shape[0], patches.shape[1], -1)


def jax_scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False, scale=None):
    import jax
    import jax.numpy as jnp

    # jax.nn.dot_product_attention takes [batch, seq, heads, dim]; torch and ONNX use [batch, heads, seq, dim].
    def to_jax(t):
        return jnp.swapaxes(t, -3, -2)

    out = jax.nn.dot_product_attention(to_jax(query), to_jax(key), to_jax(value), bias=attn_mask, scale=scale,
                                       is_causal=is_causal)
    return jnp.swapaxes(out, -3, -2)


# ---------------------------------------------------------------- ONNX


def _loss_attributes(kwargs):
    attributes = {"reduction": kwargs.get("reduction", "mean")}
    if "ignore_index" in kwargs:
        attributes["ignore_index"] = int(kwargs["ignore_index"])
    return attributes


def onnx_cross_entropy(args, kwargs):
    from opcoverage.backends.base import NotApplicable

    if kwargs.get("label_smoothing"):
        raise NotApplicable("ONNX SoftmaxCrossEntropyLoss has no label smoothing")
    return OnnxCall(tuple(args), _loss_attributes(kwargs), n_outputs=1)


def onnx_nll_loss(args, kwargs):
    return OnnxCall(tuple(args), _loss_attributes(kwargs))


def onnx_scaled_dot_product_attention(args, kwargs):
    query, key, value = args[:3]
    attributes = {"is_causal": int(bool(kwargs.get("is_causal", False)))}
    if kwargs.get("scale") is not None:
        attributes["scale"] = float(kwargs["scale"])
    mask = args[3] if len(args) > 3 else None
    return OnnxCall((query, key, value, mask), attributes, n_outputs=1)
