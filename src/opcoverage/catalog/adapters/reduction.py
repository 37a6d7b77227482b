"""Binding adapters for reductions, scans and sorting: catalog samples onto jax and ONNX calls."""

from __future__ import annotations

import numpy as np

from opcoverage.catalog.spec import OnnxCall


def _axes(dim):
    # TOML gives a list for several dims; jax.numpy wants a tuple.
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


# jax


def jax_sum(x, dim=None, keepdim=False):
    import jax.numpy as jnp

    return jnp.sum(x, axis=_axes(dim), keepdims=keepdim)


def jax_mean(x, dim=None, keepdim=False):
    import jax.numpy as jnp

    return jnp.mean(x, axis=_axes(dim), keepdims=keepdim)


def jax_amax(x, dim=None, keepdim=False):
    import jax.numpy as jnp

    return jnp.max(x, axis=_axes(dim), keepdims=keepdim)


def jax_amin(x, dim=None, keepdim=False):
    import jax.numpy as jnp

    return jnp.min(x, axis=_axes(dim), keepdims=keepdim)


def jax_logsumexp(x, dim=None, keepdim=False):
    import jax

    return jax.nn.logsumexp(x, axis=_axes(dim), keepdims=keepdim)


def jax_max_dim(x, dim, keepdim=False):
    import jax.numpy as jnp

    return jnp.max(x, axis=dim, keepdims=keepdim), jnp.argmax(x, axis=dim, keepdims=keepdim)


def jax_min_dim(x, dim, keepdim=False):
    import jax.numpy as jnp

    return jnp.min(x, axis=dim, keepdims=keepdim), jnp.argmin(x, axis=dim, keepdims=keepdim)


def jax_aminmax(x, dim=None, keepdim=False):
    import jax.numpy as jnp

    return jnp.min(x, axis=dim, keepdims=keepdim), jnp.max(x, axis=dim, keepdims=keepdim)


def jax_var_mean(x, dim=None, keepdim=False, correction=1):
    import jax.numpy as jnp

    axis = _axes(dim)
    return jnp.var(x, axis=axis, keepdims=keepdim, correction=correction), jnp.mean(x, axis=axis, keepdims=keepdim)


def jax_std_mean(x, dim=None, keepdim=False, correction=1):
    import jax.numpy as jnp

    axis = _axes(dim)
    return jnp.std(x, axis=axis, keepdims=keepdim, correction=correction), jnp.mean(x, axis=axis, keepdims=keepdim)


def jax_logcumsumexp(x, dim):
    import jax

    # lax-level scans take no negative axes (a documented restriction, not a failure of the op).
    return jax.lax.cumlogsumexp(x, axis=dim % x.ndim)


def jax_sort(x, dim=-1, descending=False, stable=True):
    import jax.numpy as jnp

    order = jnp.argsort(x, axis=dim, stable=stable, descending=descending)
    return jnp.take_along_axis(x, order, axis=dim), order


def jax_msort(x):
    import jax.numpy as jnp

    return jnp.sort(x, axis=0)


def jax_topk(x, k, dim=-1, largest=True, sorted=True):
    import jax

    # lax.top_k only finds the largest; the smallest are the largest of the negation (signed dtypes only).
    if largest:
        return jax.lax.top_k(x, k, axis=dim)
    values, indices = jax.lax.top_k(-x, k, axis=dim)
    return -values, indices


# ONNX


def onnx_reduce(args: list[np.ndarray], kwargs: dict) -> OnnxCall:
    return _reduce(args, kwargs)


def _reduce(args: list[np.ndarray], kwargs: dict, op_type: str | None = None) -> OnnxCall:
    """A Reduce* node: axes as a constant input (absent means every axis), keepdims as an attribute."""
    dim = kwargs.get("dim")
    axes = None if dim is None else np.atleast_1d(np.asarray(dim, dtype=np.int64))
    return OnnxCall((args[0], axes), {"keepdims": int(bool(kwargs.get("keepdim", False)))},
                    frozenset({1}) if axes is not None else frozenset(), op_type)


def onnx_vector_norm(args: list[np.ndarray], kwargs: dict) -> OnnxCall:
    from opcoverage.backends.base import NotApplicable

    ord = kwargs.get("ord", 2)
    if ord not in (1, 2):
        raise NotApplicable(f"ONNX defines the 1- and 2-norm reductions (ReduceL1, ReduceL2), not ord={ord}")
    return _reduce(args, kwargs, "ReduceL1" if ord == 1 else "ReduceL2")


def onnx_cumulative(args: list[np.ndarray], kwargs: dict) -> OnnxCall:
    # CumSum/CumProd take the axis as a 0-d tensor input.
    return OnnxCall((args[0], np.asarray(kwargs["dim"], dtype=np.int64)), {}, frozenset({1}))


def onnx_sort(args: list[np.ndarray], kwargs: dict) -> OnnxCall:
    """A full sort is TopK with k the axis length; TopK puts equal values in index order, as a stable sort does."""
    dim = kwargs.get("dim", -1)
    k = np.asarray([args[0].shape[dim]], dtype=np.int64)
    return OnnxCall((args[0], k), {"axis": dim, "largest": int(bool(kwargs.get("descending", False))), "sorted": 1},
                    frozenset({1}), "TopK")
