"""Catalog dtypes: the names the specs use, their NumPy types and the groups that expand to them."""

from __future__ import annotations

import ml_dtypes
import numpy as np

FLOATING = ("float32", "float64", "float16", "bfloat16")
SIGNED = ("int8", "int16", "int32", "int64")
INTEGRAL = ("int8", "uint8", "int16", "int32", "int64")
ALL_DTYPES = FLOATING + INTEGRAL + ("bool",)
# String tensors (NumPy str arrays): only the ops that define them name this dtype; no group expands to it, so
# "all" stays the numeric and bool dtypes every framework has.
STRING = "string"
KNOWN_DTYPES = ALL_DTYPES + (STRING,)

GROUPS: dict[str, tuple[str, ...]] = {
    "floating": FLOATING,
    "integral": INTEGRAL,
    "signed": SIGNED + FLOATING,
    "numeric": FLOATING + INTEGRAL,
    "all": ALL_DTYPES,
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
    return name in FLOATING


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
