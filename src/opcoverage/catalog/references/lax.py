"""References for the jax.lax primitive ops (bit ops, precision, dynamic slicing, collectives), in float64 NumPy/SciPy."""

import numpy as np
import scipy.integrate
import scipy.special

# Integer dtypes to the unsigned dtype of the same width, for bit-level work on two's complement patterns.
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
# Integer dtypes to the float dtype of the same width (a bitcast target).
_FLOAT_OF_WIDTH = {2: np.float16, 4: np.float32, 8: np.float64}


def identity(x):
    return np.array(x, copy=True)


def cbrt(x):
    return np.cbrt(x)


def clip(x, min, max):
    # lax.clamp and torch.clip are min(max(x, lo), hi).
    return np.minimum(np.maximum(x, min), max)


def _bits(x):
    return x.view(_UNSIGNED[x.dtype.itemsize])


def clz(x):
    """Leading zero bits of each element's two's complement pattern, in the element's dtype."""
    bits = _bits(np.asarray(x))
    width = 8 * x.dtype.itemsize
    # bit_length via Python ints: exact for every width, float log2 is not for 64-bit values.
    lengths = np.array([int(v).bit_length() for v in bits.ravel()], dtype=np.int64).reshape(bits.shape)
    return (width - lengths).astype(x.dtype)


def population_count(x):
    """Set bits of each element's two's complement pattern (lax.population_count), in the element's dtype."""
    return np.bitwise_count(_bits(np.asarray(x))).astype(x.dtype)


def bitwise_left_shift(x, other):
    return np.left_shift(x, other)


def bitwise_right_shift(x, other):
    # Arithmetic for signed dtypes, logical for unsigned, as NumPy, torch and jax.numpy define >>.
    return np.right_shift(x, other)


def nextafter_float32_bits(x, other):
    """The float32 bit pattern (as int32) of nextafter(x, other) computed in float32."""
    return np.nextafter(x.astype(np.float32), other.astype(np.float32)).view(np.int32)


def view_as_float(x):
    """Reinterpret an int16/int32/int64 array's bits as float16/float32/float64."""
    return np.asarray(x).view(_FLOAT_OF_WIDTH[x.dtype.itemsize]).astype(np.float64)


def mulhi(x, y):
    """The high half of the double-width product x*y (two's complement for signed dtypes)."""
    width = 8 * x.dtype.itemsize
    products = [(int(a) * int(b)) >> width for a, b in zip(np.ravel(x), np.ravel(y))]
    out = np.array([p & ((1 << width) - 1) for p in products], dtype=np.uint64).astype(_UNSIGNED[x.dtype.itemsize])
    return out.view(x.dtype).reshape(x.shape)


def reduce_precision(x, exponent_bits, mantissa_bits):
    """Round to a float format with ``mantissa_bits`` explicit mantissa bits, round-half-to-even.

    Exact in float64 for normal values of the target format; the samples stay inside its normal range
    (``exponent_bits`` only bounds the range, so it does not enter the rounding)."""
    x = np.asarray(x, dtype=np.float64)
    fraction, exponent = np.frexp(x)  # x = fraction * 2**exponent, 0.5 <= |fraction| < 1
    scale = 2.0 ** (mantissa_bits + 1)
    return np.ldexp(np.rint(fraction * scale) / scale, exponent)


def reduce_xor(x, dim, keepdim=False):
    return np.bitwise_xor.reduce(x, axis=dim, keepdims=keepdim)


def dynamic_slice(x, start, sizes):
    """lax.dynamic_slice: each start is clamped so that the slice lies inside the array."""
    index = []
    for axis, (s, n) in enumerate(zip(np.ravel(start), sizes)):
        s = int(np.clip(int(s), 0, x.shape[axis] - n))
        index.append(slice(s, s + n))
    return x[tuple(index)]


def dynamic_update_slice(x, update, start):
    """Rows start..start+len(update) of x replaced by update (start clamped so the update fits)."""
    out = np.array(x, copy=True)
    s = int(np.clip(int(start), 0, x.shape[0] - update.shape[0]))
    out[s:s + update.shape[0]] = update
    return out


def complex_parts(real, imag):
    """torch.complex(real, imag) as its real view: a trailing axis of (real, imag)."""
    return np.stack([real, imag], axis=-1)


def conj_parts(x):
    """Conjugate of a complex array given as its real view (trailing axis of 2)."""
    return np.stack([x[..., 0], -x[..., 1]], axis=-1)


def silu(x):
    return x / (1.0 + np.exp(-x))


def linear_recurrence(x, a):
    """(final state, every state) of y[t] = a[t] * y[t-1] + x[t] along axis 0, with y[-1] = 0."""
    out = np.empty_like(x)
    state = np.zeros_like(x[0])
    for t in range(x.shape[0]):
        state = a[t] * state + x[t]
        out[t] = state
    return state, out


def igamma_grad_a(a, x):
    """d/da of the regularized lower incomplete gamma function P(a, x).

    P(a, x) = G(a, x) / Gamma(a) with G(a, x) = int_0^x t^(a-1) e^-t dt, so
    dP/da = (int_0^x ln(t) t^(a-1) e^-t dt) / Gamma(a) - digamma(a) P(a, x); the integral by adaptive quadrature."""
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    out = np.empty(a.shape)
    for index in np.ndindex(a.shape):
        ai, xi = a[index], x[index]
        # Substituting t = x*u keeps the integrand's log singularity at a fixed end, which quad handles well.
        integrand = lambda u: np.log(xi * u) * (xi * u) ** (ai - 1.0) * np.exp(-xi * u) * xi
        integral, _ = scipy.integrate.quad(integrand, 0.0, 1.0, epsabs=0.0, epsrel=1e-11, limit=200)
        out[index] = integral / scipy.special.gamma(ai) - scipy.special.digamma(ai) * scipy.special.gammainc(ai, xi)
    return out


def ragged_dot(lhs, rhs, group_sizes):
    """Rows of lhs in consecutive groups, group g multiplied by rhs[g]; rows past the last group are zero."""
    out = np.zeros((lhs.shape[0], rhs.shape[2]), dtype=np.result_type(lhs, rhs))
    start = 0
    for g, size in enumerate(group_sizes):
        out[start:start + size] = lhs[start:start + size] @ rhs[g]
        start += size
    return out


def scaled_dot(lhs, rhs, lhs_scale_exponent, rhs_scale_exponent):
    """(lhs * 2**lhs_scale_exponent) @ (rhs * 2**rhs_scale_exponent), batched; each scale covers a block of
    the contracting axis."""
    lhs_scale = np.ldexp(1.0, lhs_scale_exponent.astype(np.int64))
    rhs_scale = np.ldexp(1.0, rhs_scale_exponent.astype(np.int64))
    lhs_block = lhs.shape[2] // lhs_scale.shape[2]
    rhs_block = rhs.shape[1] // rhs_scale.shape[1]
    return (lhs * np.repeat(lhs_scale, lhs_block, axis=2)) @ (rhs * np.repeat(rhs_scale, rhs_block, axis=1))


def all_gather(x):
    """all_gather over a one-member axis: the stacked list of every member's operand is [x]."""
    return np.asarray(x)[None]


def axis_index(x):
    """The member's index on a one-member axis, 0, once per member (shape [1])."""
    return np.zeros(1, dtype=np.int32)


def ragged_all_to_all(operand, output, input_offset, send_size, output_offset):
    """ragged_all_to_all on one member: it sends operand[input_offset:+send_size] to itself at output_offset."""
    out = np.array(output, copy=True)
    out[output_offset:output_offset + send_size] = operand[input_offset:input_offset + send_size]
    return out
