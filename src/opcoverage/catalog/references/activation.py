"""References for activations, in float64 NumPy/SciPy."""

import math

import numpy as np
import scipy.special

# torch.nn.functional.selu's constants (Klambauer et al. 2017), to double precision.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def relu(x):
    return np.maximum(x, np.zeros_like(x))


def relu6(x):
    return np.clip(x, 0.0, 6.0)


def gelu(x, approximate="none"):
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)
        return 0.5 * x * (1.0 + np.tanh(inner))
    return 0.5 * x * (1.0 + scipy.special.erf(x / math.sqrt(2.0)))


def sigmoid(x):
    return scipy.special.expit(x)


def silu(x):
    return x * scipy.special.expit(x)


def softplus(x):
    # torch's threshold (20) only switches to the identity where log1p(exp(x)) == x in float64 anyway.
    return np.logaddexp(0.0, x)


def elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(x))


def selu(x):
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))


def celu(x, alpha=1.0):
    return np.maximum(x, 0.0) + np.minimum(0.0, alpha * np.expm1(x / alpha))


def leaky_relu(x, negative_slope=0.01):
    return np.where(x >= 0, x, negative_slope * x)


def hardswish(x):
    return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0


def hardsigmoid(x):
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    return np.clip(x, min_val, max_val)


def mish(x):
    return x * np.tanh(np.logaddexp(0.0, x))


def softsign(x):
    return x / (1.0 + np.abs(x))


def logsigmoid(x):
    return -np.logaddexp(0.0, -x)


def prelu(x, weight):
    """torch's PReLU: ``weight`` holds one slope, or one per channel along dim 1."""
    if weight.size != 1 and x.ndim >= 2:
        weight = weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    return np.where(x >= 0, x, weight * x)


def threshold(x, threshold, value):
    return np.where(x > threshold, x, value)
