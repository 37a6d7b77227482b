"""References for decompositions, norms and structured solves (linalg beyond linalg.py), in float64 NumPy/SciPy."""

import numpy as np
import scipy.linalg


def spd(a):
    """The symmetric positive definite matrix A A^T + n I built from a sample A (eigenvalues in [n, n + |A|^2])."""
    n = a.shape[-1]
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n, dtype=a.dtype)


def sign_normalized_columns(v):
    """Flip each column (last-axis index) so that its entry of largest magnitude is positive.

    Eigen- and singular vectors are unique only up to sign; this picks one representative per column, the same
    way in every binding, so the vectors themselves can be compared."""
    index = np.argmax(np.abs(v), axis=-2)[..., None, :]
    signs = np.sign(np.take_along_axis(v, index, axis=-2))
    return v * np.where(signs == 0, 1, signs), np.where(signs == 0, 1, signs)


def slogdet(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return sign, logabsdet


def cholesky(a, upper=False):
    lower = np.linalg.cholesky(spd(a))
    return np.swapaxes(lower, -1, -2) if upper else lower


def qr(a):
    """Reduced QR with R's diagonal made non-negative (unique for full-rank A)."""
    q, r = np.linalg.qr(a)
    d = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
    d = np.where(d == 0, 1, d)
    return q * d[..., None, :], r * d[..., :, None]


def eigh(a, UPLO="L"):
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return w, sign_normalized_columns(v)[0]


def eigvalsh(a, UPLO="L"):
    return np.linalg.eigvalsh(a, UPLO=UPLO)


def svd(a):
    """Reduced SVD; each pair (U[:, i], Vh[i, :]) flipped together so that U[:, i]'s largest entry is positive."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    u, signs = sign_normalized_columns(u)
    return u, s, vh * np.swapaxes(signs, -1, -2)


def svdvals(a):
    return np.linalg.svd(a, compute_uv=False)


def norm(a, ord=None, dim=None):
    return np.linalg.norm(a, ord=ord, axis=tuple(dim) if isinstance(dim, list) else dim)


def matrix_norm(a, ord="fro"):
    return np.linalg.norm(a, ord=ord, axis=(-2, -1))


def lstsq(a, b):
    return np.linalg.lstsq(a, b, rcond=None)[0]


def solve_triangular(a, b, upper, unitriangular=False):
    return scipy.linalg.solve_triangular(a, b, lower=not upper, unit_diagonal=unitriangular)


def matrix_power(a, n):
    return np.linalg.matrix_power(a, n)


def matrix_exp(a):
    return scipy.linalg.expm(a)


def multi_dot(a, b, c):
    return np.linalg.multi_dot([a, b, c])


def vecdot(x, y, dim=-1):
    return np.sum(x * y, axis=dim)


def householder_product(a, tau):
    """The first n columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T, v_i = (0.., 1, a[i+1:, i])."""
    m, n = a.shape[-2], a.shape[-1]
    q = np.eye(m, dtype=a.dtype)
    for i in range(tau.shape[-1]):
        v = np.zeros(m, dtype=a.dtype)
        v[i] = 1.0
        v[i + 1:] = a[i + 1:, i]
        q = q @ (np.eye(m) - tau[i] * np.outer(v, v))
    return q[:, :n]


def lu(a):
    p, l, u = scipy.linalg.lu(a)
    return p, l, u


def cholesky_solve(b, l):
    return scipy.linalg.cho_solve((np.tril(l), True), b)


def cholesky_inverse(l):
    lower = np.tril(l)
    return np.linalg.inv(lower @ lower.T)


def vander(x, N):
    return np.vander(x, N, increasing=True)


def cond(a, p=None):
    return np.linalg.cond(a, p=p)
