"""References for elementwise math, comparison, selection and cast ops, in float64 NumPy/SciPy."""

import numpy as np
import scipy.special

from opcoverage.catalog.dtypes import numpy_dtype


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
    """``x`` converted to the catalog dtype ``dtype``; float to integer truncates toward zero."""
    return np.asarray(x).astype(numpy_dtype(dtype))
