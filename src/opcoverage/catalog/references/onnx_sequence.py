"""References for ai.onnx's sequence, optional and string operators, in NumPy and Python (ONNX's definitions).

A sequence is a ``Seq`` of arrays and an empty optional is None (opcoverage.types). The sample's positional
tensors are the sequence an op takes, in order, apart from those the op reads on their own (SequenceInsert's
tensor, SequenceMap's additional input); ``empty=True`` makes it empty, of the first tensor's dtype.
"""

import re

import numpy as np

from opcoverage.catalog.dtypes import dtype_name
from opcoverage.types import Seq


def _sequence(tensors, empty=False) -> Seq:
    return Seq((), dtype_name(tensors[0].dtype)) if empty else Seq(tensors, dtype_name(tensors[0].dtype))


# ---------------------------------------------------------------- sequences


def sequence_construct(*tensors):
    return _sequence(tensors)


def sequence_empty(template):
    """An empty sequence of the template's dtype (the template is not an input of the node)."""
    return Seq((), dtype_name(template.dtype))


def split_to_sequence(x, axis=0, keepdims=1, split=None):
    """Chunks along ``axis``: of the given lengths (a list), of ``split`` elements each with a shorter last one (an
    int), or of one element each, that axis then dropped unless ``keepdims``."""
    n = x.shape[axis]
    if split is None:
        parts = [np.take(x, [i], axis=axis) for i in range(n)]
        return Seq(parts if keepdims else [np.squeeze(p, axis) for p in parts], dtype_name(x.dtype))
    sizes = [split] * (n // split) + ([n % split] if n % split else []) if isinstance(split, int) else list(split)
    bounds = np.cumsum(sizes)[:-1]
    return Seq(np.split(x, bounds, axis=axis), dtype_name(x.dtype))


def sequence_length(*tensors, empty=False):
    return np.array(len(_sequence(tensors, empty)), dtype=np.int64)


def sequence_at(*tensors, position):
    return tensors[position]


def sequence_erase(*tensors, position=-1):
    kept = list(tensors)
    del kept[position]
    return Seq(kept, dtype_name(tensors[0].dtype))


def sequence_insert(*tensors, position=None, empty=False):
    """The last tensor inserted into the sequence of the others, at ``position`` (default: appended)."""
    items = list(_sequence(tensors[:-1], empty))
    items.insert(len(items) if position is None else position, tensors[-1])
    return Seq(items, dtype_name(tensors[-1].dtype))


def concat_from_sequence(*tensors, axis, new_axis=0):
    return np.stack(tensors, axis=axis) if new_axis else np.concatenate(tensors, axis=axis)


def sequence_map(*tensors, body, additional=0):
    """The body applied to each tensor of the sequence (the first ``len - additional`` tensors), with the last
    ``additional`` tensors passed whole to every call: ``abs`` of one, ``add`` of one and the extra input."""
    items, extra = (tensors[:len(tensors) - additional], tensors[len(tensors) - additional:])
    apply = {"abs": np.abs, "add": np.add}[body]
    return Seq([apply(t, *extra).astype(t.dtype) for t in items], dtype_name(tensors[0].dtype))


# ---------------------------------------------------------------- optionals


def optional(*tensors, holds):
    """An optional holding the tensor, the sequence of the tensors, or nothing ("tensor", "sequence", "none")."""
    return {"tensor": lambda: tensors[0], "sequence": lambda: _sequence(tensors), "none": lambda: None}[holds]()


def optional_has_element(*tensors, holds):
    """Whether the input holds a value; "absent" leaves the input off (false), "plain" passes a tensor itself."""
    return np.array(holds not in ("none", "absent"))


def optional_get_element(*tensors, holds):
    return _sequence(tensors) if holds == "sequence" else tensors[0]


# ---------------------------------------------------------------- strings


def string_concat(x, y):
    return np.char.add(x, y)


def regex_full_match(x, pattern):
    compiled = re.compile(pattern)
    return np.vectorize(lambda s: compiled.fullmatch(s) is not None, otypes=[bool])(x)


def string_split(x, delimiter=None, maxsplit=None):
    """Each string's parts (Python's str.split: without a delimiter, runs of whitespace separate and the ends are
    stripped), padded with "" to the most parts, and each string's count of parts."""
    parts = [s.split(delimiter or None, -1 if maxsplit is None else maxsplit) for s in x.reshape(-1).tolist()]
    width = max((len(p) for p in parts), default=0)
    padded = np.array([p + [""] * (width - len(p)) for p in parts], dtype=np.str_).reshape(x.shape + (width,))
    return padded, np.array([len(p) for p in parts], dtype=np.int64).reshape(x.shape)


def string_normalizer(x, case_change_action="NONE", is_case_sensitive=0, stopwords=(), locale=None):
    """Stopwords removed (compared case-insensitively unless ``is_case_sensitive``), then the case changed; an input
    of shape [C] or [1, C]; all removed leaves one empty string."""
    def fold(s):
        return s if is_case_sensitive else s.lower()

    stops = {fold(w) for w in stopwords}
    kept = [s for s in x.reshape(-1).tolist() if fold(s) not in stops]
    change = {"LOWER": str.lower, "UPPER": str.upper, "NONE": str}[case_change_action]
    out = np.array([change(s) for s in kept] or [""], dtype=np.str_)
    return out.reshape((1, -1)) if x.ndim == 2 else out
