"""Random-op references: not values but the distribution the draws must follow, judged by a statistical oracle.

A random op's reference returns a Draws: the shape of the draws and a frozen scipy.stats distribution. The
comparison stage (compare.compare_draws) checks the shape, the dtype, that every draw lies in the distribution's
support, a goodness-of-fit test at a fixed significance (Kolmogorov-Smirnov for continuous distributions,
chi-square over the support for discrete ones), and, where the binding returns two draws from the same seed,
that they are equal (same-seed determinism, which torch's generators and jax's keys promise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Draws:
    """``shape`` draws from ``dist`` (a frozen scipy.stats distribution); ``discrete`` for integer-valued ones."""

    dist: Any
    shape: tuple[int, ...]
    discrete: bool = False

    def describe(self) -> str:
        args = [f"{v:g}" for v in self.dist.args] + [f"{k}={v:g}" for k, v in self.dist.kwds.items()
                                                      if np.ndim(v) == 0]
        return f"{self.dist.dist.name}({', '.join(args)})"


def _shape(like, size) -> tuple[int, ...]:
    return tuple(size) if size is not None else tuple(np.shape(like))


def uniform(like, seed, size=None, low=0.0, high=1.0) -> Draws:
    return Draws(stats.uniform(loc=low, scale=high - low), _shape(like, size))


def normal(like, seed, size=None, mean=0.0, std=1.0) -> Draws:
    return Draws(stats.norm(loc=mean, scale=std), _shape(like, size))


def bernoulli(p, seed) -> Draws:
    """Every probability of ``p`` is the same (the sample declares it), so the draws are i.i.d. Bernoulli(p)."""
    values = np.unique(np.asarray(p, dtype=np.float64))
    if values.size != 1:
        raise ValueError("the bernoulli oracle needs one probability for every element")
    return Draws(stats.bernoulli(float(values[0])), tuple(np.shape(p)), discrete=True)


def multinomial(like, seed, probs, draws=4096) -> Draws:
    """One batch of ``draws`` i.i.d. class indices with the given class probabilities (with replacement)."""
    p = np.asarray(probs, dtype=np.float64)
    return Draws(stats.rv_discrete(values=(np.arange(p.size), p / p.sum())), (1, int(draws)), discrete=True)
