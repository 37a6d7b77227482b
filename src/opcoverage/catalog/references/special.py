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
    return scipy.special.airy(x)[0]


def chebyshev_polynomial_t(x, n):
    return scipy.special.eval_chebyt(n, x)


def chebyshev_polynomial_u(x, n):
    return scipy.special.eval_chebyu(n, x)


def hermite_polynomial_h(x, n):
    return scipy.special.eval_hermite(n, x)


def hermite_polynomial_he(x, n):
    return scipy.special.eval_hermitenorm(n, x)


def legendre_polynomial_p(x, n):
    return scipy.special.eval_legendre(n, x)


def laguerre_polynomial_l(x, n):
    return scipy.special.eval_laguerre(n, x)
