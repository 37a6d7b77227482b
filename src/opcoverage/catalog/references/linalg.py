"""References for linear algebra, in float64 NumPy, written with the torch argument names."""

import numpy as np


def linear(x, weight, bias=None):
    out = np.matmul(x, np.swapaxes(weight, -1, -2))
    return out if bias is None else out + bias


def addmm(input, mat1, mat2, beta=1.0, alpha=1.0):
    return beta * input + alpha * (mat1 @ mat2)


def addmv(input, mat, vec, beta=1.0, alpha=1.0):
    return beta * input + alpha * (mat @ vec)


def baddbmm(input, batch1, batch2, beta=1.0, alpha=1.0):
    return beta * input + alpha * np.matmul(batch1, batch2)


def einsum(*operands, equation):
    return np.einsum(equation, *operands)
