"""Model readiness, validation stage: the model in float64 on the CPU with every op's result rounded to a lower
precision, i.e. what a backend whose every kernel is correctly rounded in that dtype would compute."""

from __future__ import annotations

from typing import Any


def rounding_mode(dtype: str):
    """A dispatch mode under which each aten op runs in float64 and its new floating results are then rounded to
    ``dtype`` and widened back, in place. Views share their base's storage, which is already rounded, and are left
    alone, as are broadcast results (one element at many places) of values already rounded. This is the model of an ideal ``dtype`` backend: each op exact, then rounded once; a real kernel may
    accumulate wider (closer to float64) but never more exactly than its inputs allow."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    from opcoverage.models.torch_source import torch_dtype

    low = torch_dtype(dtype)

    class RoundTo(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for leaf in tree_leaves(out):
                if (isinstance(leaf, torch.Tensor) and leaf.dtype == torch.float64 and not leaf._is_view()
                        and leaf.numel() and torch._debug_has_internal_overlap(leaf) == 0):
                    version = leaf._version  # autograd checks it: rounding is part of the op, not a new write
                    leaf.copy_(leaf.to(low))
                    torch._C._autograd._unsafe_set_version_counter((leaf,), (version,))
            return out

    return RoundTo()


def widened(module, args: tuple, kwargs: dict) -> tuple[Any, tuple, dict]:
    """The module and inputs of a lower-precision build, widened exactly to float64 (the same values)."""
    import torch

    from opcoverage.models.torch_source import cast_inputs

    return module.to(torch.float64), cast_inputs(args, torch.float64), cast_inputs(kwargs, torch.float64)
