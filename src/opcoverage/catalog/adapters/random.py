"""Random-op adapters: torch and jax draw twice from the same seed (the oracle checks both are equal), ONNX once.

Every op takes a tensor of the case's dtype first (the draws' template: a 0-size one where the shape is a keyword)
and a seed tensor second, drawn from the sample seed, so that `--seed N` gives other draws.
"""

from __future__ import annotations

import numpy as np

from opcoverage.catalog.spec import OnnxCall


def _seed(seed) -> int:
    return int(np.asarray(seed).reshape(-1)[0])


# --------------------------------------------------------------------------------------------------- torch


def _torch_twice(seed, draw):
    import torch

    return tuple(draw(torch.Generator().manual_seed(_seed(seed))) for _ in range(2))


def torch_uniform(like, seed, size=None, low=0.0, high=1.0):
    shape = list(size) if size is not None else list(like.shape)
    return _torch_twice(seed, lambda g: like.new_empty(shape).uniform_(low, high, generator=g))


def torch_normal(like, seed, size=None, mean=0.0, std=1.0):
    shape = list(size) if size is not None else list(like.shape)
    return _torch_twice(seed, lambda g: like.new_empty(shape).normal_(mean, std, generator=g))


def torch_bernoulli(p, seed):
    import torch

    return _torch_twice(seed, lambda g: torch.bernoulli(p, generator=g))


def torch_multinomial(like, seed, probs, draws=4096):
    import torch

    weights = torch.tensor([probs], dtype=like.dtype)  # one batch of class weights, as ONNX takes them
    return _torch_twice(seed, lambda g: torch.multinomial(weights, draws, replacement=True, generator=g))


# --------------------------------------------------------------------------------------------------- jax


def _jax_twice(seed, draw):
    import jax
    import jax.numpy as jnp

    key = jnp.asarray(seed).reshape(-1)[0]  # traced under jit: a key from the value, not a Python int
    return tuple(draw(jax.random.key(key)) for _ in range(2))


def jax_uniform(like, seed, size=None, low=0.0, high=1.0):
    import jax

    shape = tuple(size) if size is not None else like.shape
    return _jax_twice(seed, lambda k: jax.random.uniform(k, shape, dtype=like.dtype, minval=low, maxval=high))


def jax_normal(like, seed, size=None, mean=0.0, std=1.0):
    import jax

    shape = tuple(size) if size is not None else like.shape
    return _jax_twice(seed, lambda k: mean + std * jax.random.normal(k, shape, dtype=like.dtype))


def jax_bernoulli(p, seed):
    import jax

    return _jax_twice(seed, lambda k: jax.random.bernoulli(k, p).astype(p.dtype))


def jax_multinomial(like, seed, probs, draws=4096):
    import jax
    import jax.numpy as jnp

    logits = jnp.log(jnp.asarray([probs], dtype=like.dtype))
    return _jax_twice(seed, lambda k: jax.random.categorical(k, logits, shape=(1, draws)).astype(jnp.int64))


# --------------------------------------------------------------------------------------------------- onnx
# ONNX's random ops take their seed as an attribute; the sample's seed tensor gives it.


def _onnx_dtype(like) -> int:
    from opcoverage.catalog.adapters.onnx import _onnx_dtype as onnx_dtype

    return onnx_dtype(like.dtype)


def onnx_uniform(args, kwargs):
    like, seed = args
    attributes = {"low": float(kwargs.get("low", 0.0)), "high": float(kwargs.get("high", 1.0)),
                  "seed": float(_seed(seed))}
    if kwargs.get("size") is None:
        return OnnxCall((like,), attributes, op_type="RandomUniformLike")
    return OnnxCall((), {**attributes, "shape": list(kwargs["size"]), "dtype": _onnx_dtype(like)})


def onnx_normal(args, kwargs):
    like, seed = args
    attributes = {"mean": float(kwargs.get("mean", 0.0)), "scale": float(kwargs.get("std", 1.0)),
                  "seed": float(_seed(seed))}
    if kwargs.get("size") is None:
        return OnnxCall((like,), attributes, op_type="RandomNormalLike")
    return OnnxCall((), {**attributes, "shape": list(kwargs["size"]), "dtype": _onnx_dtype(like)})


def onnx_bernoulli(args, kwargs):
    p, seed = args
    return OnnxCall((p,), {"seed": float(_seed(seed)), "dtype": _onnx_dtype(p)})


def onnx_multinomial(args, kwargs):
    like, seed = args
    logits = np.log(np.asarray([kwargs["probs"]], dtype=like.dtype))
    return OnnxCall((logits,), {"sample_size": int(kwargs.get("draws", 4096)), "seed": float(_seed(seed)),
                                "dtype": 7}, frozenset({0}))  # 7: INT64
