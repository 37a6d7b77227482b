"""References for elementwise math, comparison, selection and cast ops, in float64 NumPy/SciPy."""

import numpy as np
import scipy.special

from opcoverage.catalog.dtypes import is_complex, is_floating, numpy_dtype, rounded


def rsqrt(x):
    return 1.0 / np.sqrt(x)


def erf(x):
    return scipy.special.erf(x)


def erfc(x):
    return scipy.special.erfc(x)


def clamp(x, min=None, max=None):
    # np.clip keeps an integer array's dtype when the bounds are Python ints, as torch.clamp does.
    return np.clip(x, min, max)


def clamp_tensor(x, min, max):
    # torch.clamp is min(max(x, lo), hi), which also fixes the result where lo > hi.
    return np.minimum(np.maximum(x, min), max)


def cast(x, dtype):
    """``x`` converted to the catalog dtype ``dtype``: float to integer truncates toward zero, a complex value
    converts to a real dtype by its real part (as in NumPy, torch and JAX), and a float lands on its correctly
    rounded value (ml_dtypes alone would round twice)."""
    x, target = np.asarray(x), numpy_dtype(dtype)
    if np.iscomplexobj(x) and not is_complex(dtype):
        x = x.real
    if x.dtype == np.float64 and is_floating(dtype):
        return rounded(x, target).astype(target)
    return x.astype(target)
