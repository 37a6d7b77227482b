"""Binding adapters for decompositions, norms and structured solves: torch and jax calls shaped like the
references (sign-normalized vectors, SPD inputs built from the sample, solutions out of result tuples)."""

from __future__ import annotations


# ---------------------------------------------------------------- shared constructions


def _torch_spd(a):
    import torch

    n = a.shape[-1]
    return a @ a.mT + n * torch.eye(n, dtype=a.dtype)


def _jax_spd(a):
    import jax.numpy as jnp

    n = a.shape[-1]
    return a @ jnp.swapaxes(a, -1, -2) + n * jnp.eye(n, dtype=a.dtype)


def _torch_sign_normalized_columns(v):
    """Flip each column so that its entry of largest magnitude is positive (as the reference does)."""
    import torch

    signs = torch.sign(v.gather(-2, v.abs().argmax(dim=-2, keepdim=True)))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return v * signs, signs


def _jax_sign_normalized_columns(v):
    import jax.numpy as jnp

    signs = jnp.sign(jnp.take_along_axis(v, jnp.argmax(jnp.abs(v), axis=-2, keepdims=True), axis=-2))
    signs = jnp.where(signs == 0, 1, signs)
    return v * signs, signs


# ---------------------------------------------------------------- torch


def torch_slogdet(a):
    import torch

    sign, logabsdet = torch.linalg.slogdet(a)
    return sign, logabsdet


def torch_cholesky(a, upper=False):
    import torch

    return torch.linalg.cholesky(_torch_spd(a), upper=upper)


def torch_qr(a):
    import torch

    q, r = torch.linalg.qr(a)
    d = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    d = torch.where(d == 0, torch.ones_like(d), d)
    return q * d[..., None, :], r * d[..., :, None]


def torch_eigh(a, UPLO="L"):
    import torch

    w, v = torch.linalg.eigh(a, UPLO=UPLO)
    return w, _torch_sign_normalized_columns(v)[0]


def torch_svd(a):
    import torch

    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    u, signs = _torch_sign_normalized_columns(u)
    return u, s, vh * signs.mT


def torch_lstsq(a, b):
    import torch

    return torch.linalg.lstsq(a, b).solution


def torch_multi_dot(a, b, c):
    import torch

    return torch.linalg.multi_dot([a, b, c])


def torch_lu(a):
    import torch

    p, l, u = torch.linalg.lu(a)
    return p, l, u


def torch_cholesky_solve(b, l):
    import torch

    return torch.cholesky_solve(b, torch.tril(l))


def torch_cholesky_inverse(l):
    import torch

    return torch.cholesky_inverse(torch.tril(l))


# ---------------------------------------------------------------- jax


def jax_cholesky(a, upper=False):
    import jax.numpy as jnp

    return jnp.linalg.cholesky(_jax_spd(a), upper=upper)


def jax_qr(a):
    import jax.numpy as jnp

    q, r = jnp.linalg.qr(a)
    d = jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))
    d = jnp.where(d == 0, 1, d)
    return q * d[..., None, :], r * d[..., :, None]


def jax_eigh(a, UPLO="L"):
    import jax.numpy as jnp

    # symmetrize_input=False: use only the UPLO triangle, as torch and LAPACK do.
    w, v = jnp.linalg.eigh(a, UPLO=UPLO, symmetrize_input=False)
    return w, _jax_sign_normalized_columns(v)[0]


def jax_eigvalsh(a, UPLO="L"):
    import jax.numpy as jnp

    return jnp.linalg.eigvalsh(a, UPLO=UPLO, symmetrize_input=False)


def jax_svd(a):
    import jax.numpy as jnp

    u, s, vh = jnp.linalg.svd(a, full_matrices=False)
    u, signs = _jax_sign_normalized_columns(u)
    return u, s, vh * jnp.swapaxes(signs, -1, -2)


def jax_norm(a, ord=None, dim=None):
    import jax.numpy as jnp

    return jnp.linalg.norm(a, ord=ord, axis=tuple(dim) if isinstance(dim, list) else dim)


def jax_lstsq(a, b):
    import jax.numpy as jnp

    return jnp.linalg.lstsq(a, b)[0]


def jax_solve_triangular(a, b, upper, unitriangular=False):
    import jax.scipy.linalg

    return jax.scipy.linalg.solve_triangular(a, b, lower=not upper, unit_diagonal=unitriangular)


def jax_multi_dot(a, b, c):
    import jax.numpy as jnp

    return jnp.linalg.multi_dot([a, b, c])


def jax_householder_product(a, tau):
    from jax import lax

    return lax.linalg.householder_product(a, tau)


def jax_lu(a):
    import jax.scipy.linalg

    p, l, u = jax.scipy.linalg.lu(a)
    return p, l, u


def jax_cholesky_solve(b, l):
    import jax.numpy as jnp
    import jax.scipy.linalg

    return jax.scipy.linalg.cho_solve((jnp.tril(l), True), b)


def jax_vander(x, N):
    import jax.numpy as jnp

    return jnp.vander(x, N, increasing=True)
