"""Fault-injecting op bindings for tests: each one breaks the process or its result in one specific way."""

from __future__ import annotations

import ctypes
import os
import time


def abort(x):
    os.abort()


def segfault(x):
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def exit_hard(x):
    os._exit(3)


def hang(x):
    time.sleep(10_000)


def abort_first_time(x):
    """Aborts the first process that runs it, leaving the marker file $OPCOV_FAULT_MARKER; then it is identity. It
    stands for a crash that a case's leftovers (a corrupted heap) cause while a later case runs."""
    marker = os.environ["OPCOV_FAULT_MARKER"]
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.abort()
    return x.clone()


def raise_error(x):
    raise RuntimeError("injected: this binding always raises")


def wrong_shape(x):
    return x.reshape(-1)[:-1]


def nan(x):
    return x * float("nan")


def identity(x):
    return x.clone()


def slow(x):
    time.sleep(0.4)
    return x.clone()


def allocate_too_much(x):
    """Asks for twice the worker's memory cap (--max-memory, seen as $OPCOV_MAX_MEMORY) in one allocation."""
    import numpy as np

    cap = int(os.environ["OPCOV_MAX_MEMORY"])
    return np.ones(2 * cap // 8)


def rank1_segfaults(x, world_size=2):
    """A collective whose rank 1 dies (a driver crash on one device of the group)."""
    import torch.distributed as dist

    if dist.get_rank() == 1:
        segfault(x)
    return x.clone()


def rank1_hangs(x, world_size=2):
    """A mismatched collective: rank 1 never joins the all_reduce the others wait in."""
    import torch.distributed as dist

    if dist.get_rank() != 1:
        dist.all_reduce(x)
    return x.clone()
