"""Binding adapters for Core ATen ops: torch.ops.aten calls and their jax and ONNX counterparts."""

import numpy as np

from opcoverage.backends.base import NotApplicable
from opcoverage.catalog.references.convolution import ntuple
from opcoverage.catalog.references.pooling import avg_pool_divisors, pool_geometry
from opcoverage.catalog.spec import OnnxCall

# --- torch: creation ops take their dtype (and device) from the ``like`` input, which holds no values.


def torch_full(like, size, fill_value):
    import torch

    return torch.full(list(size), fill_value, dtype=like.dtype, device=like.device)


def torch_scalar_tensor(like, s):
    import torch

    return torch.scalar_tensor(s, dtype=like.dtype, device=like.device)


def torch_arange(like, start, end, step=1):
    import torch

    return torch.arange(start, end, step, dtype=like.dtype, device=like.device)


def torch_empty_strided(like, size, stride):
    """Only the size and strides of an uninitialized tensor are defined, so they are the op's checked output."""
    import torch

    out = torch.empty_strided(list(size), list(stride), dtype=like.dtype, device=like.device)
    return torch.tensor(list(out.size()) + list(out.stride()), dtype=torch.int64, device=like.device)


def torch_rand(like, size):
    import torch

    generator = torch.Generator(device=like.device).manual_seed(0)
    values = torch.rand(list(size), dtype=like.dtype, device=like.device, generator=generator)
    return (values >= 0) & (values < 1)


def _moments_ok(values, n):
    """Mean within 5 standard errors of 0 and variance within 5 standard errors of 1 (a normal sample's)."""
    mean = values.mean()
    var = ((values - mean) ** 2).mean()
    return (abs(mean) < 5 / n ** 0.5) & (abs(var - 1) < 5 * (2 / n) ** 0.5)


def torch_randn(like, size):
    import torch

    generator = torch.Generator(device=like.device).manual_seed(0)
    values = torch.randn(list(size), dtype=like.dtype, device=like.device, generator=generator)
    return torch.isfinite(values), _moments_ok(values.double(), values.numel())


def torch_randperm(like, n):
    import torch

    generator = torch.Generator(device=like.device).manual_seed(0)
    return torch.sort(torch.randperm(n, dtype=like.dtype, device=like.device, generator=generator)).values


# --- torch: direct aten calls (ops that no torch.* function reaches by itself in eager mode)


def torch_alias(input):
    import torch

    return torch.ops.aten.alias.default(input)


def torch_copy(input, src):
    import torch

    return torch.ops.aten.copy.default(input, src)


def torch_index(input, *indices, start_dim=0):
    import torch

    return torch.ops.aten.index.Tensor(input, [None] * start_dim + list(indices))


def _below_autograd(op, *args):
    """Run a CompositeImplicitAutograd op as one aten call, as a backend that registers it receives it: below the
    autograd keys, where torch would otherwise decompose it before any backend sees it."""
    import torch

    with torch._C._AutoDispatchBelowAutograd():
        return op(*args)


def torch_avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    import torch

    kernel = list(ntuple(kernel_size, 1))
    stride = kernel if stride is None else list(ntuple(stride, 1))
    return _below_autograd(torch.ops.aten.avg_pool1d.default, input, kernel, stride, list(ntuple(padding, 1)),
                           ceil_mode, count_include_pad)


def torch_adaptive_avg_pool1d(input, output_size):
    import torch

    return _below_autograd(torch.ops.aten.adaptive_avg_pool1d.default, input, list(ntuple(output_size, 1)))


def torch_adaptive_avg_pool2d_backward(grad_output, input):
    import torch

    return torch.ops.aten._adaptive_avg_pool2d_backward.default(grad_output, input)


def torch_avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                              count_include_pad=True, divisor_override=None):
    import torch

    kernel = list(ntuple(kernel_size, 2))
    stride = kernel if stride is None else list(ntuple(stride, 2))
    return torch.ops.aten.avg_pool2d_backward.default(grad_output, input, kernel, stride, list(ntuple(padding, 2)),
                                                      ceil_mode, count_include_pad, divisor_override)


def torch_max_pool2d_with_indices_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                                           ceil_mode=False):
    """The indices come from torch's own forward on the same input, as autograd would save them."""
    import torch

    kernel = list(ntuple(kernel_size, 2))
    stride = kernel if stride is None else list(ntuple(stride, 2))
    args = (kernel, stride, list(ntuple(padding, 2)), list(ntuple(dilation, 2)), ceil_mode)
    _, indices = torch.ops.aten.max_pool2d_with_indices.default(input, *args)
    return torch.ops.aten.max_pool2d_with_indices_backward.default(grad_output, input, *args, indices)


def torch_max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    import torch.nn.functional as F

    return F.max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def torch_convolution_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1,
                               transposed=False, output_padding=0):
    """(grad_input, grad_weight, grad_bias) of a convolution with a bias."""
    import torch

    nd = input.dim() - 2
    bias_size = weight.shape[1] * groups if transposed else weight.shape[0]
    return torch.ops.aten.convolution_backward.default(
        grad_output, input, weight, [bias_size], list(ntuple(stride, nd)), list(ntuple(padding, nd)),
        list(ntuple(dilation, nd)), transposed, list(ntuple(output_padding, nd)), groups, [True, True, True])


def torch_embedding_dense_backward(grad_output, indices, num_weights, padding_idx=-1, scale_grad_by_freq=False):
    import torch

    return torch.ops.aten.embedding_dense_backward.default(grad_output, indices, num_weights, padding_idx,
                                                           scale_grad_by_freq)


_BAG_MODES = {"sum": 0, "mean": 1, "max": 2}


def torch_embedding_bag(input, weight, per_sample_weights=None, *, offsets, mode="mean", include_last_offset=False,
                        padding_idx=None):
    """aten::_embedding_bag (what F.embedding_bag reaches when the weight needs a gradient); its first output is
    the bags' values, the others are bookkeeping for the backward."""
    import torch

    offsets = torch.tensor(offsets, dtype=input.dtype, device=input.device)
    out = torch.ops.aten._embedding_bag.default(weight, input, offsets, False, _BAG_MODES[mode], False,
                                                per_sample_weights, include_last_offset,
                                                -1 if padding_idx is None else padding_idx)
    return out[0]


def torch_cdist_forward(x1, x2, p=2.0):
    import torch

    return torch.ops.aten._cdist_forward.default(x1, x2, p, None)


def torch_native_batch_norm_legit(input, weight, bias, running_mean, running_var, momentum=0.1, eps=1e-5):
    """Training mode: the op updates the running statistics in place, so they are copies and extra outputs."""
    import torch

    running_mean, running_var = running_mean.clone(), running_var.clone()
    out, mean, rstd = torch.ops.aten._native_batch_norm_legit.default(input, weight, bias, running_mean,
                                                                       running_var, True, momentum, eps)
    return out, mean, rstd, running_mean, running_var


def torch_native_batch_norm_legit_no_training(input, weight, bias, running_mean, running_var, momentum=0.1,
                                              eps=1e-5):
    """The op's second and third outputs are empty in inference mode; the normalized input is the result."""
    import torch

    return torch.ops.aten._native_batch_norm_legit_no_training.default(input, weight, bias, running_mean,
                                                                       running_var, momentum, eps)[0]


def torch_native_layer_norm_backward(grad_out, input, weight, bias, normalized_shape, eps=1e-5):
    """The mean and rstd that the backward takes come from torch's own forward, as autograd would save them."""
    import torch

    _, mean, rstd = torch.ops.aten.native_layer_norm.default(input, list(normalized_shape), weight, bias, eps)
    return torch.ops.aten.native_layer_norm_backward.default(grad_out, input, list(normalized_shape), mean, rstd,
                                                             weight, bias, [True, True, True])


def torch_native_group_norm_backward(grad_out, input, weight, bias, num_groups, eps=1e-5):
    import torch

    n, c = input.shape[:2]
    hw = input[0, 0].numel()
    _, mean, rstd = torch.ops.aten.native_group_norm.default(input, weight, bias, n, c, hw, num_groups, eps)
    return torch.ops.aten.native_group_norm_backward.default(grad_out, input, mean, rstd, weight, n, c, hw,
                                                             num_groups, [True, True, True])


def torch_native_dropout(input, p, train=True):
    import torch

    return torch.ops.aten.native_dropout.default(input, p, train)


def torch_grid_sampler_2d(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    import torch.nn.functional as F

    return F.grid_sample(input, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)


# --- jax


def jax_full(like, size, fill_value):
    import jax.numpy as jnp

    return jnp.full(tuple(size), fill_value, dtype=like.dtype)


def jax_fill(input, value):
    import jax.numpy as jnp

    return jnp.full_like(input, value)


def jax_scalar_tensor(like, s):
    import jax.numpy as jnp

    return jnp.asarray(s, dtype=like.dtype)


def jax_arange(like, start, end, step=1):
    import jax.numpy as jnp

    return jnp.arange(start, end, step, dtype=like.dtype)


def jax_rand(like, size):
    import jax

    values = jax.random.uniform(jax.random.key(0), tuple(size), dtype=like.dtype)
    return (values >= 0) & (values < 1)


def jax_randn(like, size):
    import jax
    import jax.numpy as jnp

    values = jax.random.normal(jax.random.key(0), tuple(size), dtype=like.dtype)
    return jnp.isfinite(values), _moments_ok(values.astype(jnp.float64), values.size)


def jax_randperm(like, n):
    import jax
    import jax.numpy as jnp

    return jnp.sort(jax.random.permutation(jax.random.key(0), jnp.arange(n, dtype=like.dtype)))


def jax_index(input, *indices, start_dim=0):
    return input[(slice(None),) * start_dim + tuple(indices)]


def jax_select_scatter(input, src, dim, index):
    """lax.dynamic_update_slice writes the source, given a size-1 dim where the index selects."""
    from jax import lax

    dim = dim % input.ndim
    start = [0] * input.ndim
    start[dim] = index % input.shape[dim]
    return lax.dynamic_update_slice(input, lax.expand_dims(src, (dim,)), start)


def jax_slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """Contiguous slices are lax.dynamic_update_slice; strided ones a scatter (.at[].set)."""
    from jax import lax

    dim = dim % input.ndim
    if step == 1:
        begin = [0] * input.ndim
        begin[dim] = slice(start, end).indices(input.shape[dim])[0]
        return lax.dynamic_update_slice(input, src, begin)
    return input.at[(slice(None),) * dim + (slice(start, end, step),)].set(src)


def _jax_pool(x, nd, kind, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad=True,
              divisor_override=None):
    """Pooling as lax.reduce_window with a concrete identity as the initial value, which jax recognises as the
    differentiable reduce_window_sum / reduce_window_max primitives."""
    import jax.numpy as jnp
    from jax import lax

    axes = pool_geometry(x.shape, nd, kernel_size, stride, padding, dilation, ceil_mode)
    lead = x.ndim - nd
    window = dict(
        window_dimensions=(1,) * lead + tuple(a[0] for a in axes),
        window_strides=(1,) * lead + tuple(a[1] for a in axes),
        padding=((0, 0),) * lead + tuple((a[2], a[5]) for a in axes),
        window_dilation=(1,) * lead + tuple(a[3] for a in axes),
    )
    if kind == "max":
        return lax.reduce_window(x, np.array(-np.inf, x.dtype), lax.max, **window)
    sums = lax.reduce_window(x, np.array(0, x.dtype), lax.add, **window)
    if divisor_override:
        return sums / jnp.asarray(divisor_override, x.dtype)
    return sums / jnp.asarray(avg_pool_divisors(x.shape, nd, axes, count_include_pad), x.dtype)


def jax_avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                            count_include_pad=True, divisor_override=None):
    import jax

    _, vjp = jax.vjp(lambda x: _jax_pool(x, 2, "avg", kernel_size, stride, padding, 1, ceil_mode, count_include_pad,
                                         divisor_override), input)
    return vjp(grad_output)[0]


def jax_max_pool2d_with_indices_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                                         ceil_mode=False):
    import jax

    _, vjp = jax.vjp(lambda x: _jax_pool(x, 2, "max", kernel_size, stride, padding, dilation, ceil_mode), input)
    return vjp(grad_output)[0]


def jax_avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    from opcoverage.catalog.adapters.pooling import jax_avg_pool1d as pool

    return pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def jax_convolution_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, transposed=False,
                             output_padding=0):
    import jax
    import jax.numpy as jnp

    from opcoverage.catalog.adapters import convolution as conv

    nd = input.ndim - 2
    if transposed:
        forward = {1: conv.jax_conv_transpose1d, 2: conv.jax_conv_transpose2d}[nd]
        bias = jnp.zeros(weight.shape[1] * groups, input.dtype)
        _, vjp = jax.vjp(lambda x, w, b: forward(x, w, b, stride, padding, output_padding, groups, dilation),
                         input, weight, bias)
    else:
        forward = {1: conv.jax_conv1d, 2: conv.jax_conv2d, 3: conv.jax_conv3d}[nd]
        bias = jnp.zeros(weight.shape[0], input.dtype)
        _, vjp = jax.vjp(lambda x, w, b: forward(x, w, b, stride, padding, dilation, groups), input, weight, bias)
    return vjp(grad_output)


def jax_embedding_dense_backward(grad_output, indices, num_weights, padding_idx=-1, scale_grad_by_freq=False):
    """The weight's gradient of a row gather (jnp.take), which jax transposes into a scatter-add."""
    import jax
    import jax.numpy as jnp

    if (padding_idx is not None and padding_idx >= 0) or scale_grad_by_freq:
        raise NotApplicable("jax's embedding lookup (jnp.take) has no padding_idx or scale_grad_by_freq")
    weight = jnp.zeros((num_weights, grad_output.shape[-1]), grad_output.dtype)
    _, vjp = jax.vjp(lambda w: jnp.take(w, indices, axis=0), weight)
    return vjp(grad_output)[0]


# --- ONNX


def _int64(values):
    return np.asarray(list(values), dtype=np.int64)


def _onnx_elem(dtype):
    from onnx import TensorProto, helper

    return TensorProto.BFLOAT16 if dtype.name == "bfloat16" else helper.np_dtype_to_tensor_dtype(dtype)


def _value_tensor(dtype, value, shape):
    """A TensorProto attribute (ConstantOfShape's value, Constant's value) of a catalog dtype."""
    from onnx import helper

    cast = np.asarray(value).astype(dtype)
    if dtype.name == "bfloat16":
        return helper.make_tensor("value", _onnx_elem(dtype), list(shape), cast.view(np.uint16).tobytes(), raw=True)
    return helper.make_tensor("value", _onnx_elem(dtype), list(shape), cast.reshape(-1).tolist())


def onnx_full(args, kwargs):
    """ConstantOfShape; the shape is a graph input so the node runs on the target instead of being folded away."""
    return OnnxCall((_int64(kwargs["size"]),), {"value": _value_tensor(args[0].dtype, kwargs["fill_value"], [1])},
                    op_type="ConstantOfShape")


def onnx_fill(args, kwargs):
    return OnnxCall((_int64(args[0].shape),), {"value": _value_tensor(args[0].dtype, kwargs["value"], [1])},
                    op_type="ConstantOfShape")


def onnx_scalar_tensor(args, kwargs):
    return OnnxCall((), {"value": _value_tensor(args[0].dtype, kwargs["s"], [])}, op_type="Constant", n_outputs=1)


def onnx_arange(args, kwargs):
    """Range(start, limit, delta), each a 0-d tensor of the output's type, fed as graph inputs."""
    dtype = args[0].dtype
    values = (kwargs["start"], kwargs["end"], kwargs.get("step", 1))
    return OnnxCall(tuple(np.asarray(v).astype(dtype) for v in values), {}, op_type="Range")


def onnx_index(args, kwargs):
    """One index tensor is Gather along its dim; several, from dim 0, are GatherND over their stacked
    (broadcast) coordinates."""
    input, indices, start_dim = args[0], args[1:], kwargs.get("start_dim", 0)
    if len(indices) == 1:
        return OnnxCall((input, indices[0]), {"axis": start_dim}, op_type="Gather")
    if start_dim:
        raise NotApplicable("GatherND's batch_dims pairs index rows with batch entries; torch applies the same "
                            "indices to every entry of the leading dims")
    stacked = np.stack(np.broadcast_arrays(*indices), axis=-1)
    return OnnxCall((input, stacked), {}, op_type="GatherND")


def onnx_avg_pool1d(args, kwargs):
    from opcoverage.catalog.adapters.pooling import onnx_avg_pool

    return onnx_avg_pool(args, kwargs)


def onnx_adaptive_avg_pool(args, kwargs):
    from opcoverage.catalog.adapters.pooling import onnx_adaptive_avg_pool as adaptive

    return adaptive(args, kwargs)


def onnx_col2im(args, kwargs):
    """Col2Im(input, image_shape, block_shape); pads are (begin h, begin w, end h, end w)."""
    padding = list(ntuple(kwargs.get("padding", 0), 2))
    if args[0].ndim != 3:
        raise NotApplicable("ONNX Col2Im takes a batched (N, C*kernel, L) input")
    attributes = {"dilations": list(ntuple(kwargs.get("dilation", 1), 2)), "pads": padding * 2,
                  "strides": list(ntuple(kwargs.get("stride", 1), 2))}
    return OnnxCall((args[0], _int64(ntuple(kwargs["output_size"], 2)), _int64(ntuple(kwargs["kernel_size"], 2))),
                    attributes, constants=frozenset({1, 2}), op_type="Col2Im")


_GRID_MODES = {"bilinear": "linear", "nearest": "nearest", "bicubic": "cubic"}


def onnx_grid_sampler_2d(args, kwargs):
    attributes = {"mode": _GRID_MODES[kwargs.get("mode", "bilinear")],
                  "padding_mode": kwargs.get("padding_mode", "zeros"),
                  "align_corners": int(bool(kwargs.get("align_corners", False)))}
    return OnnxCall((args[0], args[1]), attributes, op_type="GridSample")


def onnx_native_batch_norm_legit_no_training(args, kwargs):
    input, weight, bias, mean, var = args
    return OnnxCall((input, weight, bias, mean, var), {"epsilon": float(kwargs.get("eps", 1e-5))},
                    op_type="BatchNormalization", n_outputs=1)


def onnx_native_dropout(args, kwargs):
    """Dropout(data, ratio, training_mode) with its mask output; ONNX defines ratio in [0, 1)."""
    p, train = float(kwargs["p"]), bool(kwargs.get("train", True))
    if train and p >= 1:
        raise NotApplicable("ONNX Dropout defines ratio in [0, 1); ratio 1 scales by 1/(1 - ratio)")
    x = args[0]
    ratio = np.asarray(p, dtype=x.dtype if x.dtype.kind == "f" else np.float32)
    return OnnxCall((x, ratio, np.asarray(train)), {}, constants=frozenset({1, 2}), op_type="Dropout", n_outputs=2)


def onnx_embedding_dense_backward(args, kwargs):
    """ScatterND with reduction add of each gradient row into a zero weight gradient at its index."""
    grad_output, indices = args
    padding_idx = kwargs.get("padding_idx", -1)
    if (padding_idx is not None and padding_idx >= 0) or kwargs.get("scale_grad_by_freq"):
        raise NotApplicable("ScatterND has no padding_idx or scale_grad_by_freq")
    zeros = np.zeros((kwargs["num_weights"], grad_output.shape[-1]), dtype=grad_output.dtype)
    return OnnxCall((zeros, indices[..., None], grad_output), {"reduction": "add"}, constants=frozenset({0}),
                    op_type="ScatterND")


def onnx_alias(args, kwargs):
    return OnnxCall((args[0],), {}, op_type="Identity")
