"""Modes, vmap: a case's batch (its sample and the same sample drawn from the next seeds, stacked on a new leading
axis) and the batch's reference, the float64 reference looped over the batch and stacked."""

from __future__ import annotations

from typing import Callable

import numpy as np

from opcoverage.types import Sample

BATCH = 3
NOT_BATCHED = ("random", "collective")  # draws are judged by their distribution; collectives batch over ranks


def applies(category: str) -> bool:
    return category not in NOT_BATCHED


def batch(members: list[Sample]) -> Sample | str:
    """The members stacked into one batched sample, or why they cannot be: shapes or keyword arguments that
    differ from seed to seed (a sample family that draws them) leave nothing to stack."""
    first = members[0]
    for other in members[1:]:
        if [a.shape for a in other.args] != [a.shape for a in first.args] or \
                [a.dtype for a in other.args] != [a.dtype for a in first.args]:
            return "the sample's shapes change from seed to seed, so there is no batch to stack"
        if repr(sorted(other.kwargs.items())) != repr(sorted(first.kwargs.items())):
            return "the sample's keyword arguments change from seed to seed, so there is no batch to stack"
    if not first.args:
        return "the op takes no array input to batch over"
    args = tuple(np.stack([m.args[i] for m in members]) for i in range(len(first.args)))
    return Sample(first.op, first.dtype, first.index, args, first.kwargs, f"batch of {len(members)}: {first.label}",
                  first.seed, "contiguous")


def looped(references: list[Callable[[], tuple[np.ndarray, ...]]]) -> tuple[np.ndarray, ...] | str:
    """The members' references stacked output by output, or why not (an output whose shape depends on values)."""
    outs = [ref() for ref in references]
    if any(len(o) != len(outs[0]) for o in outs):
        return "the reference returns a different number of outputs per batch member"
    stacked = []
    for j in range(len(outs[0])):
        shapes = {o[j].shape for o in outs}
        if len(shapes) > 1:
            return "an output's shape depends on the values, so a batch of them has no fixed shape"
        stacked.append(np.stack([o[j] for o in outs]))
    return tuple(stacked)
