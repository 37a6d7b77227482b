"""References for ONNX's attention blocks and KV-cache operators, in float64 NumPy."""

import math

import numpy as np

from opcoverage.catalog.references.activation import sigmoid


def rotary_embedding(x, cos_cache, sin_cache, position_ids=None, interleaved=0, num_heads=0,
                     rotary_embedding_dim=0):
    """RoPE as the ONNX operator defines it: 4-D x is [batch, heads, seq, head_size], 3-D x is
    [batch, seq, heads * head_size]; the caches are indexed by position_ids when given."""
    shape = x.shape
    if x.ndim == 4:
        x = np.transpose(x, (0, 2, 1, 3))
    else:
        x = x.reshape(shape[0], shape[1], num_heads, shape[2] // num_heads)
    rotary = rotary_embedding_dim or x.shape[-1]
    x_rotate, x_keep = x[..., :rotary], x[..., rotary:]
    if position_ids is not None:
        cos_cache, sin_cache = cos_cache[position_ids], sin_cache[position_ids]
    cos, sin = cos_cache[:, :, None, :], sin_cache[:, :, None, :]
    if interleaved:
        x1, x2 = x_rotate[..., 0::2], x_rotate[..., 1::2]
    else:
        x1, x2 = np.split(x_rotate, 2, axis=-1)
    real, imag = cos * x1 - sin * x2, sin * x1 + cos * x2
    if interleaved:
        rotated = np.stack([real, imag], axis=-1).reshape(x_rotate.shape)
    else:
        rotated = np.concatenate([real, imag], axis=-1)
    out = np.concatenate([rotated, x_keep], axis=-1)
    return out.reshape(shape) if len(shape) == 3 else np.transpose(out, (0, 2, 1, 3))


def linear_attention(query, key, value, past_state=None, decay=None, beta=None, q_num_heads=1, kv_num_heads=1,
                     update_rule="gated_delta", scale=0.0):
    """The token-by-token recurrence of ONNX LinearAttention: S is [batch, kv_heads, d_k, d_v]; decay (log space)
    scales S, the delta rules write beta * (v - S^T k), and query head h reads kv head h // (q_heads / kv_heads)."""
    batch, steps = query.shape[:2]
    d_k = query.shape[-1] // q_num_heads
    d_v = value.shape[-1] // kv_num_heads
    group = q_num_heads // kv_num_heads
    q = query.reshape(batch, steps, q_num_heads, d_k)
    k = key.reshape(batch, steps, kv_num_heads, d_k)
    v = value.reshape(batch, steps, kv_num_heads, d_v)
    state = np.zeros((batch, kv_num_heads, d_k, d_v)) if past_state is None else past_state.copy()
    scale = scale or 1.0 / math.sqrt(d_k)
    out = np.zeros((batch, steps, q_num_heads, d_v))
    for t in range(steps):
        k_t, v_t = k[:, t], v[:, t]
        if update_rule in ("gated", "gated_delta"):
            g = decay[:, t].reshape(batch, kv_num_heads, -1)  # per head (1) or per key dimension (d_k)
            state = state * np.exp(g)[..., None]
        if update_rule in ("delta", "gated_delta"):
            retrieved = np.einsum("bhkv,bhk->bhv", state, k_t)
            v_t = beta[:, t].reshape(batch, -1, 1) * (v_t - retrieved)
        state = state + k_t[..., :, None] * v_t[..., None, :]
        out[:, t] = scale * np.einsum("bhk,bhkv->bhv", q[:, t], np.repeat(state, group, axis=1))
    return out.reshape(batch, steps, q_num_heads * d_v), state


def causal_conv_with_state(input, weight, bias=None, past_state=None, activation="none"):
    """Depthwise conv over [past_state (or zeros), input] along time; the new state is the last k - 1 steps."""
    batch, channels, length = input.shape
    k = weight.shape[-1]
    past = np.zeros((batch, channels, k - 1)) if past_state is None else past_state
    padded = np.concatenate([past, input], axis=-1)
    out = sum(weight[None, :, 0, j, None] * padded[:, :, j:j + length] for j in range(k))
    if bias is not None:
        out = out + bias[None, :, None]
    if activation in ("silu", "swish"):
        out = out * sigmoid(out)
    return out, padded[:, :, padded.shape[-1] - (k - 1):]


def tensor_scatter(past_cache, update, write_indices=None, mode="linear", axis=-2):
    """Write update into the cache along axis, from write_indices[batch] on (wrapping when circular)."""
    out = past_cache.copy()
    axis %= past_cache.ndim
    capacity, length = past_cache.shape[axis], update.shape[axis]
    for prefix in np.ndindex(*past_cache.shape[:axis]):
        start = 0 if write_indices is None else int(write_indices[prefix[0]])
        for step in range(length):
            position = start + step
            if mode == "circular":
                position %= capacity
            out[prefix + (position,)] = update[prefix + (step,)]
    return out
