"""Model readiness, jax source: a jax function's jaxpr primitives (forward, and the gradient's for train), with
the dtypes and shapes of their operands, into manifest usages."""

from __future__ import annotations

from typing import Any, Callable

from opcoverage.errors import UsageError
from opcoverage.models.mapping import JAX_STRUCTURAL


def _leaf_calls(jaxpr) -> list:
    from jax.extend.core import jaxprs_in_params

    calls = []
    for eqn in jaxpr.eqns:
        subs = list(jaxprs_in_params(eqn.params))
        if subs or eqn.primitive.name in JAX_STRUCTURAL:  # what runs is inside
            for sub in subs:
                calls.extend(_leaf_calls(getattr(sub, "jaxpr", sub)))
            continue
        avals = [getattr(v, "aval", None) for v in eqn.invars]
        avals = [a for a in avals if a is not None and hasattr(a, "dtype")]
        floating = [a for a in avals if a.dtype.kind in "fcV"]  # V: bfloat16 and other ml_dtypes
        chosen = floating[0] if floating else (avals[0] if avals else eqn.outvars[0].aval)
        calls.append((eqn.primitive.name, str(chosen.dtype), tuple(sorted({str(a.dtype) for a in avals})),
                      tuple(tuple(int(d) for d in a.shape) for a in avals)))
    return calls


def cast_args(args: tuple, dtype: str) -> tuple:
    import jax
    import jax.numpy as jnp

    def cast(x):
        return x.astype(dtype) if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating) else x

    return jax.tree_util.tree_map(cast, args)


def usages(factory: Callable[[], tuple[Callable, Any]], dtype: str, mapper, modes=("forward", "train")) -> dict:
    """Per mode, the usage of ``fn(*args)`` (forward) and of its gradient with respect to the first argument
    (train: the forward and backward pass of a training step)."""
    import jax
    import jax.numpy as jnp

    from opcoverage.models.manifest import usage_from_calls

    jax.config.update("jax_enable_x64", True)
    result = factory()
    if not (isinstance(result, tuple) and len(result) == 2 and callable(result[0])):
        raise UsageError("a jax factory must return (function, example_args); "
                         f"it returned {type(result).__name__}")
    fn, args = result
    args = cast_args(tuple(args) if isinstance(args, (tuple, list)) else (args,), dtype)

    def loss(*xs):
        leaves = jax.tree_util.tree_leaves(fn(*xs))
        return sum(jnp.sum(x).astype(jnp.float32) for x in leaves)

    out = {}
    for mode in modes:
        program = fn if mode == "forward" else jax.value_and_grad(loss)
        out[mode] = usage_from_calls("jax", _leaf_calls(jax.make_jaxpr(program)(*args).jaxpr), mapper)
    return out
