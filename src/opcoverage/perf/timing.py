"""Perf stage, timing: warm up by time, repeat blocks of calls until a budget is spent, report median and IQR.

The methodology mirrors ``torch.utils.benchmark.Timer.blocked_autorange`` so the two agree on the same
statement: the garbage collector is off while timing, each block runs enough calls that reading the clock costs
a negligible fraction of it, and the per-call time of a block is the block's time divided by its calls. The
call being timed must itself synchronise (a backend's ``Prepared.call`` does), so a block ends when the device
work has finished, not when it was queued.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass
from typing import Callable

NOISY_IQR_RATIO = 0.10  # IQR/median above this flags a result as noisy
MIN_BLOCK_S = 1e-3  # a block lasts at least this long: perf_counter's ~50 ns is then under 1e-4 of it
MAX_STORED_TIMES = 64  # raw per-call times kept in a perf record (evenly spaced over the run), for `opcoverage diff`


@dataclass(frozen=True)
class Timing:
    """Steady-state seconds per call, from ``reps`` blocks of ``number`` calls each."""

    median_s: float
    iqr_s: float
    best_s: float
    reps: int
    number: int
    warmup_s: float
    spent_s: float  # everything measure() spent, warm-up included: the measurement's own cost
    times_s: tuple[float, ...] = ()  # each block's per-call time, in the order measured

    @property
    def noisy(self) -> bool:
        return self.median_s > 0 and self.iqr_s / self.median_s > NOISY_IQR_RATIO

    def to_json(self) -> dict:
        return {"median_s": self.median_s, "iqr_s": self.iqr_s, "noisy": self.noisy, "reps": self.reps,
                "calls_per_rep": self.number, "times_s": stored_times(self.times_s)}


def stored_times(times: tuple[float, ...] | list[float], limit: int = MAX_STORED_TIMES) -> list[float]:
    """At most ``limit`` of the raw times, evenly spaced in measuring order (so drift over the run stays visible):
    enough for a rank test between two runs without a fast op's thousands of blocks bloating the results file."""
    if len(times) <= limit:
        return [float(t) for t in times]
    step = (len(times) - 1) / (limit - 1)
    return [float(times[round(i * step)]) for i in range(limit)]


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile (NumPy's default) of already sorted values."""
    position = (len(sorted_values) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def measure(call: Callable[[], object], budget_s: float, *, warmup_s: float | None = None, min_reps: int = 3,
            max_reps: int = 10_000, min_block_s: float = MIN_BLOCK_S, flush: Callable[[], object] | None = None,
            clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time ``call`` for about ``budget_s`` seconds (never fewer than ``min_reps`` blocks)::

        timing = measure(lambda: torch.add(a, b), budget_s=0.2)
        timing.median_s, timing.iqr_s, timing.noisy

    ``flush`` (on GPUs: overwrite the L2 cache) runs before each block, outside the timed region.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        warm_until = start + (0.2 * budget_s if warmup_s is None else warmup_s)
        warm_times: list[float] = []
        while True:  # warm-up by time: at least one call, so caches, allocators and lazy set-up are primed
            t0 = clock()
            call()
            t1 = clock()
            warm_times.append(t1 - t0)
            if t1 >= warm_until:
                break
        per_call = sorted(warm_times)[len(warm_times) // 2]
        number = max(1, math.ceil(min_block_s / per_call)) if per_call > 0 else 1_000
        warmup = clock() - start
        deadline = start + budget_s
        times: list[float] = []
        while len(times) < max_reps:
            if flush is not None:
                flush()
            t0 = clock()
            for _ in range(number):
                call()
            times.append((clock() - t0) / number)
            if len(times) >= min_reps and clock() >= deadline:
                break
        spent = clock() - start
    finally:
        if enabled:
            gc.enable()
    ordered = sorted(times)
    return Timing(quantile(ordered, 0.5), quantile(ordered, 0.75) - quantile(ordered, 0.25), ordered[0], len(times),
                  number, warmup, spent, tuple(times))
