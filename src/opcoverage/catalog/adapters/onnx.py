"""Binding adapters for the ai.onnx-specific ops: ONNX nodes, and the torch and jax calls that match them."""

import numpy as np

from opcoverage.backends.base import NotApplicable
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


def torch_nonzero_by_axis(x):
    import torch

    return torch.stack(torch.nonzero(x, as_tuple=True))


# ---------------------------------------------------------------- windows: the empty `like` input carries the dtype


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


# ---------------------------------------------------------------- pooling


def torch_global_lp_pool(input, p=2):
    """torch's lp_pool over a window that covers the whole spatial extent (it does not take |x|: samples with
    an odd p are positive)."""
    import torch.nn.functional as F

    spatial = tuple(input.shape[2:])
    if len(spatial) == 1:
        return F.lp_pool1d(input, p, spatial[0])
    return {2: F.lp_pool2d, 3: F.lp_pool3d}[len(spatial)](input, p, spatial)


# ---------------------------------------------------------------- convolutions


def conv_attributes(kwargs, nd=2):
    """Conv's ONNX attributes from torch's keyword arguments (stride, padding, dilation, groups)."""
    from opcoverage.catalog.references.convolution import ntuple

    padding = ntuple(kwargs.get("padding", 0), nd)
    return {"strides": list(ntuple(kwargs.get("stride", 1), nd)), "pads": list(padding) * 2,
            "dilations": list(ntuple(kwargs.get("dilation", 1), nd)), "group": int(kwargs.get("groups", 1))}


# ---------------------------------------------------------------- recurrent layers

# Rows of ONNX's stacked gate weights, reordered into torch's gate order.
_TORCH_GATES = {"lstm": (0, 2, 3, 1), "gru": (1, 0, 2), "rnn_tanh": (0,)}  # iofc -> ifgo, zrh -> rzn


def _torch_rnn(kind, X, W, R, B, initial_states, direction, **extra):
    import torch

    if direction not in ("forward", "bidirectional"):
        raise NotApplicable(f"torch's recurrent layers run forward or bidirectional, not {direction}")
    order = _TORCH_GATES[kind]
    hidden = R.shape[-1]

    def reorder(t):
        return torch.cat([t[g * hidden:(g + 1) * hidden] for g in order])

    params = []
    for d in range(W.shape[0]):
        gates = len(order) * hidden
        params += [reorder(W[d]), reorder(R[d]), reorder(B[d, :gates]), reorder(B[d, gates:])]
    batch = X.shape[1]
    states = [s if s is not None else X.new_zeros(W.shape[0], batch, hidden) for s in initial_states]
    hx = tuple(states) if kind == "lstm" else states[0]
    results = getattr(torch, kind)(X, hx, params, True, 1, 0.0, False, direction == "bidirectional", False, **extra)
    output, finals = results[0], results[1:]
    seq = X.shape[0]
    y = output.reshape(seq, batch, W.shape[0], hidden).permute(0, 2, 1, 3)  # ONNX: [seq, directions, batch, hidden]
    return (y,) + tuple(finals)


def torch_rnn_tanh(X, W, R, B, initial_h=None, direction="forward"):
    return _torch_rnn("rnn_tanh", X, W, R, B, [initial_h], direction)


def torch_gru(X, W, R, B, initial_h=None, direction="forward", linear_before_reset=0):
    if not linear_before_reset:
        raise NotApplicable("torch's GRU applies the reset gate after the recurrent matmul (linear_before_reset=1) only")
    return _torch_rnn("gru", X, W, R, B, [initial_h], direction)


def torch_lstm(X, W, R, B, initial_h=None, initial_c=None, direction="forward"):
    return _torch_rnn("lstm", X, W, R, B, [initial_h, initial_c], direction)


def _onnx_recurrent(args, kwargs, n_outputs, extra=()):
    X, W, R, B, *states = args
    attributes = {"hidden_size": int(R.shape[-1]), "direction": kwargs.get("direction", "forward")}
    for name in extra:
        if name in kwargs:
            attributes[name] = int(kwargs[name])
    return OnnxCall((X, W, R, B, None, *states), attributes, n_outputs=n_outputs)


def onnx_rnn(args, kwargs):
    return _onnx_recurrent(args, kwargs, 2)


def onnx_gru(args, kwargs):
    return _onnx_recurrent(args, kwargs, 2, ("linear_before_reset",))


def onnx_lstm(args, kwargs):
    return _onnx_recurrent(args, kwargs, 3)


# ---------------------------------------------------------------- attention blocks


def onnx_rotary_embedding(args, kwargs):
    inputs = tuple(args) if len(args) == 4 else tuple(args[:3])
    attributes = {k: int(kwargs[k]) for k in ("interleaved", "num_heads", "rotary_embedding_dim") if k in kwargs}
    return OnnxCall(inputs, attributes)


# ---------------------------------------------------------------- signal processing


def onnx_mel_weight_matrix(args, kwargs):
    integers = tuple(_scalar(kwargs[k], np.int64) for k in ("num_mel_bins", "dft_length", "sample_rate"))
    edges = tuple(_scalar(kwargs[k], np.float32) for k in ("lower_edge_hertz", "upper_edge_hertz"))
    return OnnxCall(integers + edges, {"output_datatype": _onnx_dtype(args[0].dtype)}, frozenset(range(5)))


# ---------------------------------------------------------------- images and detection


def onnx_image_decoder(args, kwargs):
    from opcoverage.catalog.references.vision import encode_png

    return OnnxCall((encode_png(args[0]),), {"pixel_format": kwargs.get("pixel_format", "RGB")})


def onnx_deform_conv2d(args, kwargs):
    x, weight, offset, *rest = args
    attributes = conv_attributes(kwargs)
    attributes["group"] = x.shape[1] // weight.shape[1]
    attributes["offset_group"] = offset.shape[1] // (2 * weight.shape[2] * weight.shape[3])
    attributes["kernel_shape"] = list(weight.shape[2:])
    return OnnxCall((x, weight, offset, *rest), attributes)


def onnx_roi_align(args, kwargs):
    from opcoverage.catalog.references.vision import roi_boxes

    x, low, high, batch_indices = args
    attributes = {k: kwargs[k] for k in ("output_height", "output_width", "sampling_ratio", "spatial_scale",
                                         "coordinate_transformation_mode") if k in kwargs}
    attributes["mode"] = "avg"
    return OnnxCall((x, roi_boxes(low, high), batch_indices), attributes)


def onnx_max_roi_pool(args, kwargs):
    """MaxRoiPool takes boxes as [batch_index, x1, y1, x2, y2] rows of the input's float type."""
    from opcoverage.catalog.references.vision import roi_boxes

    x, low, high, batch_indices = args
    rois = np.concatenate([batch_indices.astype(x.dtype)[:, None], roi_boxes(low, high)], axis=1)
    attributes = {"pooled_shape": list(kwargs["pooled_shape"]), "spatial_scale": float(kwargs.get("spatial_scale", 1.0))}
    return OnnxCall((x, rois), attributes)


def onnx_non_max_suppression(args, kwargs):
    boxes, scores = args
    threshold = kwargs.get("score_threshold")
    inputs = (boxes, scores, _scalar(kwargs["max_output_boxes_per_class"], np.int64),
              _scalar(kwargs.get("iou_threshold", 0.0), np.float32),
              None if threshold is None else _scalar(threshold, np.float32))
    return OnnxCall(inputs, {"center_point_box": int(kwargs.get("center_point_box", 0))}, frozenset({2, 3, 4}))


def torch_max_unpool(input, offsets, kernel_size, stride=None, output_size=None):
    import torch
    import torch.nn.functional as F

    from opcoverage.catalog.references.vision import unpool_output_size, unpool_positions

    stride = stride or kernel_size
    out_w = unpool_output_size(input.shape, kernel_size, stride, output_size)[1]
    indices = torch.from_numpy(unpool_positions(offsets.cpu().numpy(), kernel_size, stride, out_w)).to(input.device)
    return F.max_unpool2d(input, indices, kernel_size, stride, output_size=output_size)


def onnx_max_unpool(args, kwargs):
    """MaxUnpool's indices run over the whole flattened output, batch and channel included."""
    from opcoverage.catalog.references.vision import unpool_output_size, unpool_positions

    x, offsets = args
    kernel = kwargs["kernel_size"]
    stride = kwargs.get("stride") or kernel
    out_h, out_w = unpool_output_size(x.shape, kernel, stride, kwargs.get("output_size"))
    batch, channels = x.shape[:2]
    planes = (np.arange(batch * channels).reshape(batch, channels, 1, 1) * out_h * out_w).astype(np.int64)
    indices = unpool_positions(offsets, kernel, stride, out_w) + planes
    shape = None if kwargs.get("output_size") is None else np.array([batch, channels, out_h, out_w], np.int64)
    attributes = {"kernel_shape": [kernel, kernel], "strides": [stride, stride]}
    return OnnxCall((x, indices, shape), attributes, frozenset({2}))


# ---------------------------------------------------------------- sets


def torch_unique_all(x, dim=None):
    """torch.unique gives values, inverse and counts; the first index of each value is the least position
    that maps to it."""
    import torch

    values, inverse, counts = torch.unique(x, sorted=True, return_inverse=True, return_counts=True, dim=dim)
    inverse = inverse.reshape(-1)
    positions = torch.arange(inverse.numel(), device=x.device)
    first = torch.full((counts.numel(),), inverse.numel(), dtype=torch.int64, device=x.device)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    return values, first, inverse, counts


def onnx_unique_all(args, kwargs):
    attributes = {"sorted": 1}
    if kwargs.get("dim") is not None:
        attributes["axis"] = int(kwargs["dim"])
    return OnnxCall(tuple(args), attributes, n_outputs=4)


# ---------------------------------------------------------------- control flow


def jax_cond(x, pred):
    import jax.numpy as jnp
    from jax import lax

    return lax.cond(jnp.asarray(pred), lambda v: v * v, lambda v: -v, x)


def onnx_cond(args, kwargs):
    """If has no data inputs: the tensor reaches each branch as a Constant, and only the condition is fed."""
    from onnx import helper

    x = args[0]
    elem = _onnx_dtype(x.dtype)

    def branch(name, op, inputs):
        nodes = [helper.make_node("Constant", [], ["v"], value=_tensor_proto(x)), helper.make_node(op, inputs, ["out"])]
        return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info("out", elem, list(x.shape))])

    attributes = {"then_branch": branch("then", "Mul", ["v", "v"]), "else_branch": branch("else", "Neg", ["v"])}
    return OnnxCall((np.array(bool(kwargs["pred"])),), attributes)


def jax_fori_loop(x, upper):
    from jax import lax

    return lax.fori_loop(0, upper, lambda i, v: lax.cos(v) + i.astype(v.dtype), x)


def onnx_fori_loop(args, kwargs):
    """Loop with a trip count and one carried value; the body reads the iteration number."""
    from onnx import TensorProto, helper

    x = args[0]
    elem = _onnx_dtype(x.dtype)
    nodes = [helper.make_node("Cos", ["v_in"], ["cos"]),
             helper.make_node("Cast", ["i"], ["i_cast"], to=elem),
             helper.make_node("Add", ["cos", "i_cast"], ["v_out"]),
             helper.make_node("Identity", ["cond_in"], ["cond_out"])]
    body = helper.make_graph(
        nodes, "fori_body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", elem, list(x.shape))],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", elem, list(x.shape))])
    return OnnxCall((_scalar(kwargs["upper"], np.int64), None, x), {"body": body}, frozenset({0}))
