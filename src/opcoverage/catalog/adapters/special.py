"""Binding adapters for special functions: catalog samples (the order n as a keyword) onto torch and jax calls."""

from __future__ import annotations


def torch_polygamma(x, n):
    import torch

    return torch.polygamma(n, x)


def jax_polygamma(x, n):
    import jax.scipy.special as special

    return special.polygamma(n, x)


def jax_bessel_j0(x):
    import jax.scipy.special as special

    # bessel_jn gives orders 0..v stacked on a new leading axis.
    return special.bessel_jn(x, v=0)[0]


def jax_bessel_j1(x):
    import jax.scipy.special as special

    return special.bessel_jn(x, v=1)[1]
