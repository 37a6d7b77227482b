"""JAX collective adapters: what each device of a one-axis mesh (axis "x") runs inside shard_map for a catalog op.

Each takes this device's block of the stacked input (a leading axis of 1) and the sample's keyword arguments, and
returns this device's block of the result; opcoverage.backends.jax_dist maps it over the mesh.
"""

from __future__ import annotations

import jax

AXIS = "x"
_REDUCERS = {"sum": jax.lax.psum, "min": jax.lax.pmin, "max": jax.lax.pmax, "avg": jax.lax.pmean}


def all_reduce(x, op: str = "sum", world_size: int = 2):
    if op not in _REDUCERS:
        raise NotImplementedError(f"jax.lax has no collective for reduce op {op!r}")
    return _REDUCERS[op](x, AXIS)


def all_gather(x, world_size: int = 2):
    return jax.lax.all_gather(x[0], AXIS)[None]


def all_gather_into_tensor(x, world_size: int = 2):
    return jax.lax.all_gather(x[0], AXIS, tiled=True)[None]


def reduce_scatter(x, op: str = "sum", world_size: int = 2):
    if op != "sum":
        raise NotImplementedError(f"jax.lax.psum_scatter sums; it has no reduce op {op!r}")
    return jax.lax.psum_scatter(x[0], AXIS, scatter_dimension=0, tiled=True)[None]


def all_to_all(x, world_size: int = 2):
    return jax.lax.all_to_all(x[0], AXIS, split_axis=0, concat_axis=0, tiled=True)[None]


def send_recv_ring(x, world_size: int = 2):
    return jax.lax.ppermute(x, AXIS, perm=[(i, (i + 1) % world_size) for i in range(world_size)])
