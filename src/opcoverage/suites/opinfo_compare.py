"""Comparison for the `opinfo` suite (outputs -> what differs): a target's result against an oracle's, leaf by leaf,
with torch.testing.assert_close at the dtype's tolerance; bit-identical tensors are decided without it."""

from __future__ import annotations

from typing import Any


def leaves(value: Any) -> list[Any]:
    from torch.utils._pytree import tree_leaves

    return tree_leaves(value)


def message_of(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def compare(actual: Any, expected: Any, rtol: float | None, atol: float | None, exact_dtype: bool) -> str:
    """'' when ``actual`` matches ``expected`` leaf by leaf (torch.testing.assert_close at the dtype's tolerance,
    NaN equal to NaN), else what differs."""
    import numpy as np
    import torch

    got, want = leaves(actual), leaves(expected)
    if len(got) != len(want):
        return f"returned {len(got)} value(s), the oracle {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        where = f"output {i}: " if len(got) > 1 else ""
        if isinstance(w, (np.ndarray, np.generic)):
            w = torch.from_numpy(np.asarray(w).copy()) if np.asarray(w).dtype != object else w
        tensor_like = (torch.Tensor, int, float, complex, bool)
        if isinstance(g, torch.Tensor) or isinstance(w, torch.Tensor):
            if not isinstance(g, tensor_like) or not isinstance(w, tensor_like):
                return f"{where}a {type(g).__name__}, the oracle a {type(w).__name__}"
            g, w = torch.as_tensor(g).detach().cpu(), torch.as_tensor(w).detach().cpu()
            if g.is_sparse or w.is_sparse:
                g, w = g.to_dense(), w.to_dense()
            if g.is_conj() or w.is_conj():
                g, w = g.resolve_conj(), w.resolve_conj()
            if exact_dtype and g.dtype != w.dtype:
                return f"{where}dtype {str(g.dtype).removeprefix('torch.')}, expected {str(w.dtype).removeprefix('torch.')}"
            if g.shape != w.shape and not (g.numel() == w.numel() == 1 and (g.dim() == 0 or w.dim() == 0)):
                return f"{where}shape {list(g.shape)}, expected {list(w.shape)}"
            g, w = g.reshape(w.shape) if g.shape != w.shape else g, w
            if g.dtype == w.dtype and g.layout == w.layout == torch.strided and _identical(g, w):
                continue  # the common case, decided without assert_close's overhead
            try:
                torch.testing.assert_close(g, w, rtol=rtol, atol=atol, equal_nan=True, check_dtype=False,
                                           check_device=False, check_layout=False, check_stride=False)
            except AssertionError as exc:
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                return where + " ".join(lines[:4])[:400]
            except Exception as exc:
                return f"{where}cannot compare with the oracle: {message_of(exc)}"
        elif isinstance(g, (int, float, complex, bool)) and isinstance(w, (int, float, complex, bool)):
            if g != w and not (g != g and w != w):
                if not isinstance(g, bool) and abs(complex(g) - complex(w)) <= (atol or 0) + (rtol or 0) * abs(complex(w)):
                    continue
                return f"{where}{g!r}, expected {w!r}"
        elif g != w:
            return f"{where}{g!r}, expected {w!r}"
    return ""


def _identical(g, w) -> bool:
    """Bit-for-bit the same values (NaN where NaN is expected): assert_close would pass every element."""
    import torch

    if g.dtype == torch.complex32:  # torch.equal has no ComplexHalf kernel
        return False
    if torch.equal(g, w):
        return True
    if g.is_floating_point() or g.is_complex():
        nan_g, nan_w = torch.isnan(g), torch.isnan(w)
        return bool(torch.equal(nan_g, nan_w) and torch.equal(g[~nan_g], w[~nan_w]))
    return False
