"""References for special functions (gamma family, Bessel, error function, orthogonal polynomials), in float64 SciPy."""

import numpy as np
import scipy.special


def polygamma(x, n):
    return scipy.special.polygamma(n, x)


def mvlgamma(x, p):
    return scipy.special.multigammaln(x, p)


def sinc(x):
    return np.sinc(x)  # normalized: sin(pi x) / (pi x), 1 at 0


def spherical_bessel_j0(x):
    return scipy.special.spherical_jn(0, x)


def airy_ai(x):
    """Ai(x). SciPy gives NaN from |x| ~ 1e10 on and at +-inf. Past x = 200 Ai underflows float64 to 0; below
    x = -1e32 it oscillates inside |x|^(-1/4) / sqrt(pi) < 1e-8, below every tolerance; at -inf its limit is 0.
    The reference takes 0 in both ranges (in between, NaN stays: no float64 evaluation is at hand)."""
    value = scipy.special.airy(x)[0]
    return np.where((x > 200) | (x < -1e32), 0.0, value)


def chebyshev_polynomial_t(x, n):
    return scipy.special.eval_chebyt(n, x)


def hermite_polynomial_h(x, n):
    return scipy.special.eval_hermite(n, x)


def legendre_polynomial_p(x, n):
    return scipy.special.eval_legendre(n, x)


def laguerre_polynomial_l(x, n):
    return scipy.special.eval_laguerre(n, x)
