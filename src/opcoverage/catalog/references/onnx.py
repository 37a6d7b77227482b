"""References for the ai.onnx operators without a NumPy/SciPy counterpart, in float64 NumPy (ONNX's definitions)."""

import itertools
import math
import struct
import zlib

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


def _window(like, window_length, periodic, coefficients):
    n = window_length if periodic else window_length - 1
    k = np.arange(window_length, dtype=np.float64)
    out = np.zeros(window_length)
    for i, a in enumerate(coefficients):
        out += a * np.cos(2 * np.pi * i * k / n) if n else (a if i == 0 else 0.0)
    return out.astype(like.dtype)


def hann_window(like, window_length, periodic=True):
    return _window(like, window_length, periodic, (0.5, -0.5))


def hamming_window(like, window_length, periodic=True, alpha=0.54, beta=0.46):
    return _window(like, window_length, periodic, (alpha, -beta))


def blackman_window(like, window_length, periodic=True):
    return _window(like, window_length, periodic, (0.42, -0.5, 0.08))


def global_lp_pool(x, p=2):
    axes = tuple(range(2, x.ndim))
    return np.power(np.sum(np.power(np.abs(x), p), axis=axes, keepdims=True), 1.0 / p)


def swiglu(a, b, alpha=1.0):
    return a / (1.0 + np.exp(-alpha * a)) * b


# ---------------------------------------------------------------- quantization


def _saturate(values, dtype):
    info = np.iinfo(dtype)
    return np.clip(values, info.min, info.max).astype(dtype)


def _along(value, axis, ndim):
    """A per-axis (1-D) quantization parameter shaped to broadcast along ``axis``; a 0-d one stays as it is."""
    value = np.asarray(value)
    if value.ndim == 0:
        return value
    shape = [1] * ndim
    shape[axis] = -1
    return value.reshape(shape)


def quantize_linear(x, scale, zero_point, axis=1):
    """saturate(round_half_even(x / scale) + zero_point), in the zero point's integer type."""
    q = np.rint(x / _along(scale, axis, x.ndim)) + _along(zero_point, axis, x.ndim).astype(np.int64)
    return _saturate(q, zero_point.dtype)


def dequantize_linear(x, scale, zero_point, axis=1):
    """(x - zero_point) * scale: exact in float64 (a small integer times a float32), then rounded once to
    float32, the scale's type, as a float32 multiply rounds it."""
    shifted = x.astype(np.int64) - _along(zero_point, axis, x.ndim).astype(np.int64)
    return (shifted * _along(scale, axis, x.ndim)).astype(np.float32)


def dynamic_quantize_linear(x):
    """uint8 quantization with the scale and zero point of x's range widened to include 0 (ONNX's formula;
    the scale is a float32 output, so it is computed and rounded in float32)."""
    x32 = x.astype(np.float32)
    low, high = min(np.float32(0), x32.min()), max(np.float32(0), x32.max())
    scale = np.float32((high - low) / np.float32(255))
    zero_point = _saturate(np.rint(-np.float64(low) / np.float64(scale)), np.uint8)
    y = _saturate(np.rint(x / np.float64(scale)) + zero_point.astype(np.int64), np.uint8)
    return y, np.asarray(scale), np.asarray(zero_point)


def _shifted(x, zero_point):
    return x.astype(np.int64) - (0 if zero_point is None else np.asarray(zero_point).astype(np.int64))


def matmul_integer(a, b, a_zero_point=None, b_zero_point=None):
    return np.matmul(_shifted(a, a_zero_point), _shifted(b, b_zero_point)).astype(np.int32)


def _conv_int(x, w, stride, padding, dilation, groups):
    """An integer convolution, computed in float64 (exact for these small integers) and rounded back."""
    from opcoverage.catalog.references.convolution import conv2d

    out = conv2d(x.astype(np.float64), w.astype(np.float64), None, stride, padding, dilation, groups)
    return np.rint(out).astype(np.int64)


def conv_integer(x, w, x_zero_point=None, w_zero_point=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv_int(_shifted(x, x_zero_point), _shifted(w, w_zero_point), stride, padding, dilation,
                     groups).astype(np.int32)


def qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    accumulated = np.matmul(_shifted(a, a_zero_point), _shifted(b, b_zero_point))
    y = np.rint(accumulated * (a_scale * b_scale / y_scale)) + np.int64(y_zero_point)
    return _saturate(y, y_zero_point.dtype)


def qlinear_conv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, bias=None,
                 stride=1, padding=0, dilation=1, groups=1):
    """The int32 bias is in units of x_scale * w_scale; w_scale may be per output channel."""
    accumulated = _conv_int(_shifted(x, x_zero_point), _shifted(w, _along(w_zero_point, 0, w.ndim)),
                            stride, padding, dilation, groups)
    if bias is not None:
        accumulated = accumulated + bias.astype(np.int64).reshape(1, -1, 1, 1)
    multiplier = np.asarray(x_scale * w_scale / y_scale).reshape(1, -1, 1, 1)
    return _saturate(np.rint(accumulated * multiplier) + np.int64(y_zero_point), y_zero_point.dtype)


# ---------------------------------------------------------------- recurrent layers (ONNX layout: X is [seq, batch, input])


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _recurrence(X, W, R, B, initial_states, direction, step):
    """Run ``step(x_t, states, W, R, Wb, Rb) -> states`` over time for each direction; gather Y and finals."""
    seq, batch = X.shape[:2]
    dirs, hidden = W.shape[0], R.shape[-1]
    gates = W.shape[1]
    reverse = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[direction]
    Y = np.zeros((seq, dirs, batch, hidden))
    finals = []
    for d, backwards in enumerate(reverse):
        bias = B[d] if B is not None else np.zeros(2 * gates)
        states = [s[d] if s is not None else np.zeros((batch, hidden)) for s in initial_states]
        for t in (range(seq - 1, -1, -1) if backwards else range(seq)):
            states = step(X[t], states, W[d], R[d], bias[:gates], bias[gates:])
            Y[t, d] = states[0]
        finals.append(states)
    return (Y,) + tuple(np.stack([f[i] for f in finals]) for i in range(len(initial_states)))


def rnn_tanh(X, W, R, B=None, initial_h=None, direction="forward"):
    def step(x, states, w, r, wb, rb):
        return [np.tanh(x @ w.T + wb + states[0] @ r.T + rb)]

    return _recurrence(X, W, R, B, [initial_h], direction, step)


def gru(X, W, R, B=None, initial_h=None, direction="forward", linear_before_reset=0):
    """ONNX gate order z, r, h."""
    def step(x, states, w, r, wb, rb):
        h = states[0]
        hidden = h.shape[-1]
        xw = x @ w.T + wb
        z = _sigmoid(xw[:, :hidden] + h @ r[:hidden].T + rb[:hidden])
        reset = _sigmoid(xw[:, hidden:2 * hidden] + h @ r[hidden:2 * hidden].T + rb[hidden:2 * hidden])
        if linear_before_reset:
            candidate = np.tanh(xw[:, 2 * hidden:] + reset * (h @ r[2 * hidden:].T + rb[2 * hidden:]))
        else:
            candidate = np.tanh(xw[:, 2 * hidden:] + (reset * h) @ r[2 * hidden:].T + rb[2 * hidden:])
        return [(1 - z) * candidate + z * h]

    return _recurrence(X, W, R, B, [initial_h], direction, step)


def lstm(X, W, R, B=None, initial_h=None, initial_c=None, direction="forward"):
    """ONNX gate order i, o, f, c (no peepholes)."""
    def step(x, states, w, r, wb, rb):
        h, c = states
        hidden = h.shape[-1]
        g = x @ w.T + wb + h @ r.T + rb
        i, o, f = (_sigmoid(g[:, k * hidden:(k + 1) * hidden]) for k in range(3))
        c = f * c + i * np.tanh(g[:, 3 * hidden:])
        return [o * np.tanh(c), c]

    return _recurrence(X, W, R, B, [initial_h, initial_c], direction, step)


# ---------------------------------------------------------------- attention blocks and KV caches


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
        out = out * _sigmoid(out)
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


# ---------------------------------------------------------------- signal processing


def mel_weight_matrix(like, num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz):
    """Triangular mel filters over the onesided DFT bins, each peaking at 1 ([dft_length // 2 + 1, num_mel_bins]);
    band edges fall on the DFT bins floor((dft_length + 1) * f / sample_rate), as ONNX defines them."""
    def to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    low, high = to_mel(lower_edge_hertz), to_mel(upper_edge_hertz)
    mels = low + np.arange(num_mel_bins + 2) * (high - low) / (num_mel_bins + 2)
    hertz = 700.0 * (np.power(10.0, mels / 2595.0) - 1.0)
    bins = np.floor((dft_length + 1) * hertz / sample_rate).astype(np.int64)
    out = np.zeros((dft_length // 2 + 1, num_mel_bins))
    for m in range(num_mel_bins):
        left, center, right = bins[m], bins[m + 1], bins[m + 2]
        if center == left:
            out[center, m] = 1.0
        else:
            for j in range(left, center + 1):
                out[j, m] = (j - left) / (center - left)
        for j in range(center, right):
            out[j, m] = (right - j) / (right - center)
    return out.astype(like.dtype)


# ---------------------------------------------------------------- images and detection


def image_decoder(image, pixel_format="RGB"):
    """Decoding a losslessly encoded image (the adapter encodes the sample as PNG) gives the pixels back."""
    return image[..., ::-1].copy() if pixel_format == "BGR" else image.copy()


def encode_png(image: np.ndarray) -> np.ndarray:
    """A minimal 8-bit PNG (grey for one channel, RGB for three) of an [H, W, C] uint8 array, as uint8 bytes."""
    height, width, channels = image.shape
    color_type = {1: 0, 3: 2}[channels]
    raw = b"".join(b"\x00" + np.ascontiguousarray(image[row]).tobytes() for row in range(height))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    stream = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return np.frombuffer(stream, dtype=np.uint8).copy()


def _bilinear_zero(plane, y, x):
    """Bilinear samples of a 2-D plane at float coordinates, with zeros outside the plane."""
    height, width = plane.shape
    y0, x0 = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    out = np.zeros(np.broadcast(y, x).shape)
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            weight = (1 - np.abs(y - yy)) * (1 - np.abs(x - xx))
            inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
            out += np.where(inside, weight * plane[np.clip(yy, 0, height - 1), np.clip(xx, 0, width - 1)], 0.0)
    return out


def deform_conv2d(input, weight, offset, bias=None, mask=None, stride=1, padding=0, dilation=1):
    """Each kernel tap (i, j) of each output position reads the input bilinearly at its regular position plus
    its (dy, dx) offset, times its mask; offsets are [batch, offset_groups * kh * kw * 2, out_h, out_w]."""
    from opcoverage.catalog.references.convolution import ntuple

    (sh, sw), (ph, pw), (dh, dw) = ntuple(stride, 2), ntuple(padding, 2), ntuple(dilation, 2)
    batch, channels = input.shape[:2]
    out_channels, group_channels, kh, kw = weight.shape
    groups = channels // group_channels
    out_h, out_w = offset.shape[-2:]
    offset_groups = offset.shape[1] // (2 * kh * kw)
    off = offset.reshape(batch, offset_groups, kh, kw, 2, out_h, out_w)
    m = np.ones((batch, offset_groups, kh, kw, out_h, out_w)) if mask is None \
        else mask.reshape(batch, offset_groups, kh, kw, out_h, out_w)
    base_y = (np.arange(out_h) * sh - ph)[None, None, :, None] + (np.arange(kh) * dh)[:, None, None, None]
    base_x = (np.arange(out_w) * sw - pw)[None, None, None, :] + (np.arange(kw) * dw)[None, :, None, None]
    columns = np.zeros((batch, channels, kh, kw, out_h, out_w))
    for n in range(batch):
        for c in range(channels):
            g = c // (channels // offset_groups)
            sampled = _bilinear_zero(input[n, c], base_y + off[n, g, :, :, 0], base_x + off[n, g, :, :, 1])
            columns[n, c] = sampled * m[n, g]
    columns = columns.reshape(batch, groups, group_channels, kh, kw, out_h, out_w)
    w = weight.reshape(groups, out_channels // groups, group_channels, kh, kw)
    out = np.einsum("ngcijyx,gocij->ngoyx", columns, w).reshape(batch, out_channels, out_h, out_w)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def roi_boxes(low_corner, high_corner):
    """[x1, y1, x2, y2] boxes from their two corners, which samples draw from separate ranges."""
    return np.concatenate([low_corner, high_corner], axis=1)


def _roi_align_sample(plane, y, x):
    """ONNX/Caffe2 RoiAlign bilinear sampling: zero beyond one pixel outside, edge-clamped within."""
    height, width = plane.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * plane[y_low, x_low] + hy * lx * plane[y_low, x_high]
            + ly * hx * plane[y_high, x_low] + ly * lx * plane[y_high, x_high])


def roi_align(input, low_corner, high_corner, batch_indices, output_height=1, output_width=1, sampling_ratio=0,
              spatial_scale=1.0, coordinate_transformation_mode="half_pixel"):
    """Average RoiAlign: each output bin averages a grid of bilinear samples (sampling_ratio per axis, or
    ceil(roi size / bins) when 0); half_pixel shifts the box by -0.5, output_half_pixel clamps its size to >= 1."""
    boxes = roi_boxes(low_corner, high_corner)
    channels = input.shape[1]
    out = np.zeros((boxes.shape[0], channels, output_height, output_width))
    shift = 0.5 if coordinate_transformation_mode == "half_pixel" else 0.0
    for r, box in enumerate(boxes):
        x1, y1, x2, y2 = box * spatial_scale - shift
        roi_w, roi_h = x2 - x1, y2 - y1
        if coordinate_transformation_mode == "output_half_pixel":
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / output_height, roi_w / output_width
        grid_h = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_h / output_height))
        grid_w = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_w / output_width))
        count = max(grid_h * grid_w, 1)
        for c in range(channels):
            plane = input[int(batch_indices[r]), c]
            for ph, pw in itertools.product(range(output_height), range(output_width)):
                total = 0.0
                for iy, ix in itertools.product(range(grid_h), range(grid_w)):
                    y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    x = x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                    total += _roi_align_sample(plane, y, x)
                out[r, c, ph, pw] = total / count
    return out


def _round_half_away(value):
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def max_roi_pool(input, low_corner, high_corner, batch_indices, pooled_shape, spatial_scale=1.0):
    """Caffe's RoIPool: box corners rounded to pixels (half away from zero), bins of (size + 1) / pooled pixels,
    each bin's maximum (0 for an empty bin)."""
    boxes = roi_boxes(low_corner, high_corner)
    height, width = input.shape[2:]
    pooled_h, pooled_w = pooled_shape
    out = np.zeros((boxes.shape[0], input.shape[1], pooled_h, pooled_w))
    for r, box in enumerate(boxes):
        x1, y1, x2, y2 = (_round_half_away(v * spatial_scale) for v in box)
        roi_h, roi_w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        for ph, pw in itertools.product(range(pooled_h), range(pooled_w)):
            h0 = min(max(math.floor(ph * roi_h / pooled_h) + y1, 0), height)
            h1 = min(max(math.ceil((ph + 1) * roi_h / pooled_h) + y1, 0), height)
            w0 = min(max(math.floor(pw * roi_w / pooled_w) + x1, 0), width)
            w1 = min(max(math.ceil((pw + 1) * roi_w / pooled_w) + x1, 0), width)
            if h1 > h0 and w1 > w0:
                out[r, :, ph, pw] = input[int(batch_indices[r]), :, h0:h1, w0:w1].max(axis=(1, 2))
    return out


def _box_corners(box, center_point_box):
    if center_point_box:
        xc, yc, w, h = box
        return yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2
    y1, x1, y2, x2 = box
    return min(y1, y2), min(x1, x2), max(y1, y2), max(x1, x2)


def _iou(a, b):
    height = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    width = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = height * width
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def non_max_suppression(boxes, scores, max_output_boxes_per_class=0, iou_threshold=0.0, score_threshold=None,
                        center_point_box=0):
    """Per batch and class, greedily keep the best-scoring boxes (score above score_threshold) whose IoU with
    every kept box is at most iou_threshold; rows are (batch, class, box)."""
    selected = []
    for b in range(scores.shape[0]):
        corners = [_box_corners(box, center_point_box) for box in boxes[b]]
        for c in range(scores.shape[1]):
            kept = []
            for i in np.argsort(-scores[b, c], kind="stable"):
                if len(kept) >= max_output_boxes_per_class:
                    break
                if score_threshold is not None and not scores[b, c, i] > score_threshold:
                    continue
                if all(_iou(corners[i], corners[j]) <= iou_threshold for j in kept):
                    kept.append(int(i))
            selected.extend((b, c, i) for i in kept)
    return np.array(selected, dtype=np.int64).reshape(-1, 3)


def unpool_positions(offsets, kernel_size, stride, output_width):
    """Sample encoding for max unpooling: each pooled value's index is an offset inside its window (0..k*k-1);
    this turns it into the flat position in its [H_out * W_out] output plane, as max_pool2d's indices are."""
    rows = np.arange(offsets.shape[-2]).reshape(-1, 1) * stride + offsets // kernel_size
    cols = np.arange(offsets.shape[-1]).reshape(1, -1) * stride + offsets % kernel_size
    return (rows * output_width + cols).astype(np.int64)


def unpool_output_size(input_shape, kernel_size, stride, output_size=None):
    if output_size is not None:
        return tuple(output_size[-2:])
    return tuple((length - 1) * stride + kernel_size for length in input_shape[-2:])


def max_unpool(input, offsets, kernel_size, stride=None, output_size=None):
    stride = stride or kernel_size
    out_h, out_w = unpool_output_size(input.shape, kernel_size, stride, output_size)
    batch, channels = input.shape[:2]
    positions = unpool_positions(offsets, kernel_size, stride, out_w).reshape(batch, channels, -1)
    out = np.zeros((batch, channels, out_h * out_w))
    np.put_along_axis(out, positions, input.reshape(batch, channels, -1), axis=2)
    return out.reshape(batch, channels, out_h, out_w)


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
