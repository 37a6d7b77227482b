"""Catalog dtypes: the names the specs use, their NumPy types and the groups that expand to them."""

from __future__ import annotations

import ml_dtypes
import numpy as np

FLOATING = ("float32", "float64", "float16", "bfloat16")
SIGNED = ("int8", "int16", "int32", "int64")
INTEGRAL = ("int8", "uint8", "int16", "int32", "int64")
ALL_DTYPES = FLOATING + INTEGRAL + ("bool",)
# Dtypes that not every framework has: wide unsigned integers, complex numbers, 8- and 4-bit floats (ml_dtypes'
# float8_e4m3fn has no infinity, float4_e2m1fn neither infinity nor NaN) and 4-bit integers, one value per byte
# in NumPy. No existing group expands to them, so an op names them (or their groups) where a framework defines them.
WIDE_UNSIGNED = ("uint16", "uint32", "uint64")
COMPLEX = ("complex64", "complex128")
FLOAT8 = ("float8_e4m3fn", "float8_e5m2")
LOW_BIT_FLOATS = FLOAT8 + ("float4_e2m1fn",)
INT4 = ("int4", "uint4")
EXTENDED = WIDE_UNSIGNED + COMPLEX + LOW_BIT_FLOATS + INT4
# String tensors (NumPy str arrays): only the ops that define them name this dtype; no group expands to it, so
# "all" stays the numeric and bool dtypes every framework has.
STRING = "string"
ARRAY_DTYPES = ALL_DTYPES + EXTENDED  # every dtype of numbers or bools, in the order reports show them
KNOWN_DTYPES = ARRAY_DTYPES + (STRING,)

GROUPS: dict[str, tuple[str, ...]] = {
    "floating": FLOATING,
    "integral": INTEGRAL,
    "signed": SIGNED + FLOATING,
    "numeric": FLOATING + INTEGRAL,
    "all": ALL_DTYPES,
    "unsigned": ("uint8",) + WIDE_UNSIGNED,
    "complex": COMPLEX,
    "float8": FLOAT8,
    "low_bit": LOW_BIT_FLOATS + INT4,
    "extended": EXTENDED,
}

_NUMPY = {
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "int8": np.dtype(np.int8),
    "uint8": np.dtype(np.uint8),
    "int16": np.dtype(np.int16),
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
    "uint16": np.dtype(np.uint16),
    "uint32": np.dtype(np.uint32),
    "uint64": np.dtype(np.uint64),
    "complex64": np.dtype(np.complex64),
    "complex128": np.dtype(np.complex128),
    "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
    "float4_e2m1fn": np.dtype(ml_dtypes.float4_e2m1fn),
    "int4": np.dtype(ml_dtypes.int4),
    "uint4": np.dtype(ml_dtypes.uint4),
    STRING: np.dtype(np.str_),  # any length: every str array has the catalog name "string"
}
_NAMES = {v: k for k, v in _NUMPY.items()}


def numpy_dtype(name: str) -> np.dtype:
    return _NUMPY[name]


def dtype_name(dtype: np.dtype) -> str:
    """The catalog name of a NumPy dtype, or its NumPy name for one the catalog does not use."""
    dtype = np.dtype(dtype)
    if dtype.kind == "U":
        return STRING
    return _NAMES.get(dtype, dtype.name)


def is_floating(name: str) -> bool:
    """Real floating point, 4 to 64 bits: drawn, upcast to float64 for the reference and compared at a tolerance."""
    return name in FLOATING or name in LOW_BIT_FLOATS


def is_complex(name: str) -> bool:
    return name in COMPLEX


def is_integer(name: str) -> bool:
    """Integers of any width and sign (int4 and uint4 included, whose NumPy kind is "V"): compared exactly."""
    return name in INTEGRAL or name in WIDE_UNSIGNED or name in INT4


def bits(name: str) -> int:
    """Bits per value: 4 for int4, uint4 and float4_e2m1fn (NumPy holds them one to a byte; ``np.dtype("int4")``
    would even be NumPy's 4-byte int), else 8 times the item size."""
    return 4 if name in ("int4", "uint4", "float4_e2m1fn") else 8 * _NUMPY[name].itemsize


def real_part(name: str) -> str:
    """The dtype of a value's real part: float32 for complex64, float64 for complex128, the dtype itself otherwise."""
    return {"complex64": "float32", "complex128": "float64"}.get(name, name)


def reference_input(array: np.ndarray) -> np.ndarray:
    """An input as the float64 reference takes it: real floats in float64, complex numbers in complex128 (a cast to
    float64 would drop the imaginary part), integers and bools as they are (exact, uint64 included)."""
    name = dtype_name(array.dtype)
    if is_floating(name):
        return array.astype(np.float64)
    if is_complex(name):
        return array.astype(np.complex128)
    return array


def complex_from_parts(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    """complex128 values from their parts, infinities kept (``real + 1j * imag`` makes inf * 1j NaN + inf j)."""
    out = np.empty(np.shape(real), dtype=np.complex128)
    out.real, out.imag = real, imag
    return out


def rounded(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float64 (complex128) values correctly rounded to a narrower float (complex) dtype, returned in float64
    (complex128). ml_dtypes converts float64 through float32, rounding twice (1 + 2^-4 + 2^-40 becomes 1 in
    float8_e4m3fn, not 1.125), so for its types the float32 step rounds to odd: the last bit is set wherever that
    step was inexact, and float32's 24 bits, more than twice the target's plus two, make the second rounding the
    correct one."""
    dtype = np.dtype(dtype)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if np.iscomplexobj(values):
            part = numpy_dtype(real_part(dtype_name(dtype)))
            return complex_from_parts(rounded(values.real, part), rounded(values.imag, part))
        if dtype.isbuiltin != 2:  # NumPy's own conversions round once
            return values.astype(dtype).astype(np.float64)
        single = values.astype(np.float32)
        inexact = np.isfinite(values) & (single.astype(np.float64) != values)
        toward_zero = np.where(inexact & (np.abs(single.astype(np.float64)) > np.abs(values)),
                               np.nextafter(single, np.float32(0)), single)
        odd = np.where(inexact, (toward_zero.view(np.uint32) | np.uint32(1)).view(np.float32), toward_zero)
        return odd.astype(dtype).astype(np.float64)


def expand(entries: list[str]) -> tuple[str, ...]:
    """Expand a list of dtype names and group names into dtype names, keeping order, without repeats.

    >>> expand(["floating", "int32"])
    ('float32', 'float64', 'float16', 'bfloat16', 'int32')
    """
    out: list[str] = []
    for entry in entries:
        names = GROUPS.get(entry, (entry,))
        for name in names:
            if name not in _NUMPY:
                raise KeyError(entry)
            if name not in out:
                out.append(name)
    return tuple(out)


def known_names() -> list[str]:
    return list(KNOWN_DTYPES) + list(GROUPS)
