"""Binding adapters for the jax.lax primitive ops: catalog samples onto jax.lax, torch and ONNX calls."""

from __future__ import annotations

import numpy as np

from opcoverage.catalog.spec import OnnxCall

# Integer dtypes to the float dtype of the same width (a bitcast target).
_FLOAT_OF_WIDTH = {2: "float16", 4: "float32", 8: "float64"}
_ONNX_FLOAT_OF_WIDTH = {2: "FLOAT16", 4: "FLOAT", 8: "DOUBLE"}
# The one-member mesh axis that collectives run over (see _on_one_member_mesh).
AXIS = "i"


def _float_of_width(x) -> str:
    # torch dtypes print as "torch.int32", jax's as "int32": both name a NumPy integer type once stripped.
    return _FLOAT_OF_WIDTH[np.dtype(str(x.dtype).replace("torch.", "")).itemsize]


# ---------------------------------------------------------------- elementwise and bit ops


def jax_clip(x, min, max):
    from jax import lax

    return lax.clamp(min, x, max)


def torch_view_as_float(x):
    import torch

    return x.view(getattr(torch, _float_of_width(x)))


def jax_view_as_float(x):
    from jax import lax

    return lax.bitcast_convert_type(x, np.dtype(_float_of_width(x)))


def onnx_view_as_float(args, kwargs):
    from onnx import TensorProto

    x = args[0]
    return OnnxCall((x,), {"to": getattr(TensorProto, _ONNX_FLOAT_OF_WIDTH[x.dtype.itemsize])})


def onnx_shift_left(args, kwargs):
    return OnnxCall(tuple(args), {"direction": "LEFT"})


def onnx_shift_right(args, kwargs):
    return OnnxCall(tuple(args), {"direction": "RIGHT"})


def torch_nextafter_bits(x, other):
    # The float32 result as its bit pattern, so that a one-ulp step is compared exactly.
    import torch

    return torch.nextafter(x, other).view(torch.int32)


def jax_nextafter_bits(x, other):
    import jax.numpy as jnp
    from jax import lax

    return lax.bitcast_convert_type(jnp.nextafter(x, other), jnp.int32)


def jax_mulhi(x, y):
    from jax import lax

    return lax.mulhi(x, y)


def torch_reduce_precision(x, exponent_bits, mantissa_bits):
    """torch has no reduce_precision; a round trip through the 16-bit float type of that format is its equivalent."""
    import torch

    formats = {(8, 7): torch.bfloat16, (5, 10): torch.float16}
    return x.to(formats[(exponent_bits, mantissa_bits)]).to(x.dtype)


def jax_reduce_xor(x, dim, keepdim=False):
    import jax.numpy as jnp

    return jnp.bitwise_xor.reduce(x, axis=dim, keepdims=keepdim)


def jax_max_with_index(x, dim, keepdim=False):
    """(max, index of the first max) in one variadic lax.reduce: the general reduce primitive, not a monoid one."""
    import jax.numpy as jnp
    from jax import lax

    axis = dim % x.ndim
    index = lax.broadcasted_iota(jnp.int64, x.shape, axis)

    def better(a, b):
        (va, ia), (vb, ib) = a, b
        take_a = (va > vb) | ((va == vb) & (ia < ib))  # ties keep the lower index, which makes it commutative
        return jnp.where(take_a, va, vb), jnp.where(take_a, ia, ib)

    lowest = jnp.array(-jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min, x.dtype)
    values, indices = lax.reduce((x, index), (lowest, jnp.array(x.shape[axis], jnp.int64)), better, (axis,))
    if keepdim:
        values, indices = jnp.expand_dims(values, axis), jnp.expand_dims(indices, axis)
    return values, indices


def jax_cummax(x, dim):
    """torch.cummax's (values, indices) from lax.cummax: the index is the last position holding the running max,
    which is where it was reached when no two elements tie (torch leaves ties unspecified)."""
    return _jax_cum_extreme(x, dim, "cummax")


def jax_cummin(x, dim):
    return _jax_cum_extreme(x, dim, "cummin")


def _jax_cum_extreme(x, dim, which):
    import jax.numpy as jnp
    from jax import lax

    axis = dim % x.ndim
    values = getattr(lax, which)(x, axis)
    position = lax.broadcasted_iota(jnp.int64, x.shape, axis)
    return values, lax.cummax(jnp.where(x == values, position, 0), axis)


# ---------------------------------------------------------------- slicing


def torch_dynamic_slice(x, start, sizes):
    for axis, size in enumerate(sizes):
        x = x.narrow(axis, start[axis], size)  # narrow takes a 0-d tensor start: no host round trip
    return x


def jax_dynamic_slice(x, start, sizes):
    from jax import lax

    return lax.dynamic_slice(x, [start[i] for i in range(len(sizes))], list(sizes))


def onnx_dynamic_slice(args, kwargs):
    """Slice with the starts as a runtime input; the ends (starts + sizes) are what an exporter's Add would feed."""
    x, start = args
    sizes = np.asarray(kwargs["sizes"], np.int64)
    ends = start.astype(np.int64) + sizes
    axes = np.arange(len(sizes), dtype=np.int64)
    return OnnxCall((x, start.astype(np.int64), ends, axes), {}, frozenset({2, 3}))


def torch_dynamic_update_slice(x, update, start):
    import torch

    begin = int(start)
    return torch.slice_scatter(x, update, dim=0, start=begin, end=begin + update.shape[0])


def jax_dynamic_update_slice(x, update, start):
    from jax import lax

    return lax.dynamic_update_slice(x, update, (start,) + (0,) * (x.ndim - 1))


# ---------------------------------------------------------------- complex numbers (real views in and out)


def torch_complex(real, imag):
    import torch

    return torch.view_as_real(torch.complex(real, imag))


def jax_complex(real, imag):
    from jax import lax

    return _jax_real_view(lax.complex(real, imag))


def torch_conj(x):
    import torch

    return torch.view_as_real(torch.conj(torch.view_as_complex(x)).resolve_conj())


def jax_conj(x):
    from jax import lax

    return _jax_real_view(lax.conj(lax.complex(x[..., 0], x[..., 1])))


def _jax_real_view(z):
    import jax.numpy as jnp
    from jax import lax

    return jnp.stack([lax.real(z), lax.imag(z)], axis=-1)


# ---------------------------------------------------------------- higher-order primitives


def jax_optimization_barrier(x):
    from jax import lax

    return lax.optimization_barrier(x)


def jax_silu_composite(x):
    """silu wrapped as a lax.composite: the compiler may use a kernel for the name or inline the decomposition."""
    import jax
    from jax import lax

    return lax.composite(lambda v: v * jax.nn.sigmoid(v), name="opcoverage.silu")(x)


def torch_linear_recurrence(x, a):
    import torch

    state = torch.zeros_like(x[0])
    states = []
    for t in range(x.shape[0]):
        state = a[t] * state + x[t]
        states.append(state)
    return state, torch.stack(states)


def jax_linear_recurrence(x, a):
    import jax.numpy as jnp
    from jax import lax

    def step(state, inputs):
        x_t, a_t = inputs
        state = a_t * state + x_t
        return state, state

    return lax.scan(step, jnp.zeros_like(x[0]), (x, a))


def onnx_linear_recurrence(args, kwargs):
    """One Scan node whose body is y = a_t * y + x_t; outputs (final state, every state)."""
    from onnx import helper

    x, a = args
    elem = helper.np_dtype_to_tensor_dtype(x.dtype)
    row = [x.shape[1]]
    body = helper.make_graph(
        [helper.make_node("Mul", ["a_t", "y_in"], ["ay"]),
         helper.make_node("Add", ["ay", "x_t"], ["y_out"]),
         helper.make_node("Identity", ["y_out"], ["y_scan"])],
        "linear_recurrence_step",
        [helper.make_tensor_value_info(n, elem, row) for n in ("y_in", "x_t", "a_t")],
        [helper.make_tensor_value_info(n, elem, row) for n in ("y_out", "y_scan")],
    )
    initial = np.zeros(row, dtype=x.dtype)
    return OnnxCall((initial, x, a), {"body": body, "num_scan_inputs": 2}, frozenset({0}), n_outputs=2)


def torch_ragged_dot(lhs, rhs, group_sizes):
    import torch

    offsets = torch.cumsum(torch.tensor(group_sizes), 0).to(torch.int32)
    return torch.nn.functional.grouped_mm(lhs, rhs, offs=offsets)


def jax_ragged_dot(lhs, rhs, group_sizes):
    import jax.numpy as jnp
    from jax import lax

    return lax.ragged_dot(lhs, rhs, jnp.asarray(group_sizes, jnp.int32))


def jax_scaled_dot(lhs, rhs, lhs_scale_exponent, rhs_scale_exponent):
    """Scales are powers of two given by their exponents, as the e8m0 block-scale format stores them."""
    import jax.numpy as jnp
    from jax import lax

    lhs_scale = jnp.ldexp(jnp.ones((), lhs.dtype), lhs_scale_exponent.astype(jnp.int32))
    rhs_scale = jnp.ldexp(jnp.ones((), rhs.dtype), rhs_scale_exponent.astype(jnp.int32))
    return lax.scaled_dot(lhs, rhs, lhs_scale=lhs_scale, rhs_scale=rhs_scale,
                          dimension_numbers=(((2,), (1,)), ((0,), (0,))), preferred_element_type=lhs.dtype)


# ---------------------------------------------------------------- collectives over a one-member mesh axis


def _on_one_member_mesh(body):
    """Run ``body`` under jax.shard_map over an abstract one-device mesh with axis ``AXIS``.

    The collective stays a primitive in the jaxpr and is lowered and run for real; over one member its
    result is fully determined (psum of one value is the value, and so on). An abstract mesh lets the
    jitted call run on whichever device holds the inputs."""
    import jax
    from jax.sharding import AbstractMesh, PartitionSpec

    mesh = AbstractMesh((1,), (AXIS,))
    # check_vma=False keeps the plain psum/pmax/pmin primitives (with it, JAX rewrites psum of a
    # device-varying value into psum_invariant).
    return jax.shard_map(body, mesh=mesh, in_specs=PartitionSpec(AXIS), out_specs=PartitionSpec(AXIS),
                         check_vma=False)


def jax_psum(x):
    from jax import lax

    return _on_one_member_mesh(lambda v: lax.psum(v, AXIS))(x)


def jax_pmax(x):
    from jax import lax

    return _on_one_member_mesh(lambda v: lax.pmax(v, AXIS))(x)


def jax_pmin(x):
    from jax import lax

    return _on_one_member_mesh(lambda v: lax.pmin(v, AXIS))(x)


def jax_all_gather(x):
    import jax
    from jax import lax
    from jax.sharding import AbstractMesh, PartitionSpec

    # The gathered axis is new and leading; the operand's own axes stay sharded as they came in.
    return jax.shard_map(lambda v: lax.all_gather(v, AXIS), mesh=AbstractMesh((1,), (AXIS,)),
                         in_specs=PartitionSpec(AXIS), out_specs=PartitionSpec(None, AXIS), check_vma=False)(x)


def jax_all_to_all(x):
    from jax import lax

    return _on_one_member_mesh(lambda v: lax.all_to_all(v, AXIS, split_axis=0, concat_axis=1, tiled=True))(x)


def jax_axis_index(x):
    from jax import lax

    return _on_one_member_mesh(lambda v: lax.axis_index(AXIS)[None])(x)


def jax_ppermute(x):
    from jax import lax

    return _on_one_member_mesh(lambda v: lax.ppermute(v, AXIS, perm=[(0, 0)]))(x)


def jax_pbroadcast(x):
    from jax import lax

    return _on_one_member_mesh(lambda v: lax.pbroadcast(v, AXIS, source=0))(x)


def jax_psend_precv(x):
    import jax
    from jax import lax

    def body(v):
        token = lax.psend(v, AXIS, perm=[(0, 0)])
        return lax.precv(token, jax.ShapeDtypeStruct(v.shape, v.dtype), AXIS, perm=[(0, 0)])

    return _on_one_member_mesh(body)(x)


def jax_ragged_all_to_all(operand, output, input_offset, send_size, output_offset):
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.sharding import AbstractMesh, PartitionSpec

    def sizes(value):
        return jnp.array([value], jnp.int32)

    def body(src, dst):
        # One member sends one chunk to itself, so what it receives is what it sends.
        return lax.ragged_all_to_all(src, dst, sizes(input_offset), sizes(send_size), sizes(output_offset),
                                     sizes(send_size), axis_name=AXIS)

    spec = PartitionSpec(AXIS)
    return jax.shard_map(body, mesh=AbstractMesh((1,), (AXIS,)), in_specs=(spec, spec), out_specs=spec,
                         check_vma=False)(operand, output)
