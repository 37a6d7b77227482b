"""Execution groups: the cases a compile-per-case backend builds as one program, so one compile serves many cases.

IREE and ExecuTorch spend most of a case's time on their compilers' fixed cost (about 0.9 s of ``iree-compile``
for one node, 1.1 s for sixteen; about 0.5 s of ExecuTorch's lowering for one call), so such a backend declares
``group_size = N`` and ``build_group(spec, samples, device) -> bool``. The plan's cases of one op on one such
target (forward mode) are put in groups of at most N (``Case.group``: the ``dtype/sample`` keys built together),
whole dtypes kept together where they fit. The pool sends a group's cases to one worker in a row
(opcoverage.execute.pool); that worker's first case of the group builds it once, and every member then runs from
the built program on its own inputs, with its own outputs and verdict.

What a group build cannot take is run alone, exactly as an ungrouped case: a group whose build fails is built
again for the case's dtype alone, and a case whose dtype cannot be built together either is built alone. A
worker that crashes or times out while it holds a group gives its cases back to be run alone (``alone``), so one
bad member never takes the verdicts of the others with it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Iterable

from opcoverage.types import FORWARD, Sample

_ATTEMPTS: dict[tuple, bool] = {}  # this worker's group builds: (op, target, member keys) -> built or not


def member_key(dtype: str, sample: str) -> str:
    return f"{dtype}/{sample}"


def group_size(backend: Any, asked: int | None = None) -> int:
    """How many cases the backend builds as one program (0 or 1: each case alone): ``asked`` (--group-size) where
    the backend builds groups at all, else its own ``group_size``."""
    if not hasattr(backend, "build_group"):
        return 0
    return int(asked or getattr(backend, "group_size", 0) or 0)


def assign(cases: Iterable[Any], size_of: Callable[[Any], int]) -> list[Any]:
    """The cases with each grouping target's forward cases put in groups of at most ``size_of(target)``, a group's
    cases next to each other (at the place of its first case); every other case as it was, in its place."""
    cases = list(cases)
    blocks: dict[tuple, list[list[Any]]] = {}  # (op, target) -> dtype blocks of cases, in plan order
    for case in cases:
        if case.suite or case.mode.name != FORWARD or size_of(case.target) < 2:
            continue
        dtypes = blocks.setdefault((case.op, case.target), [])
        if not dtypes or dtypes[-1][0].dtype != case.dtype:
            dtypes.append([])
        dtypes[-1].append(case)
    chunk_of: dict[str, list[Any]] = {}
    for (_, target), dtypes in blocks.items():
        for chunk in _chunks(dtypes, size_of(target)):
            grouped = [replace(c, group=tuple(member_key(m.dtype, m.sample) for m in chunk)) for c in chunk]
            for c in grouped:
                chunk_of[c.id] = grouped
    out, placed = [], set()
    for case in cases:
        chunk = chunk_of.get(case.id)
        if chunk is None:
            out.append(case)
        elif chunk[0].id not in placed:
            placed.add(chunk[0].id)
            out.extend(chunk)
    return out


def _chunks(dtypes: list[list[Any]], size: int) -> list[list[Any]]:
    """Whole dtype blocks packed into chunks of at most ``size`` cases; a block larger than that is split."""
    chunks: list[list[Any]] = []
    for block in dtypes:
        for start in range(0, len(block), size):
            part = block[start:start + size]
            if chunks and len(chunks[-1]) + len(part) <= size and len(part) == len(block):
                chunks[-1].extend(part)
            else:
                chunks.append(list(part))
    return [c for c in chunks if len(c) > 1] or []


def key(case: Any) -> tuple | None:
    """What the pool keeps together: the cases of one group on one target."""
    return (case.op, str(case.target), case.group) if case.group else None


def alone(case: Any) -> Any:
    """The case to be run on its own, outside its group (after its group's worker crashed or timed out)."""
    return replace(case, group=())


def build(backend: Any, spec: Any, case: Any, sample_of: Callable[[str, str], Sample | None]) -> None:
    """Build the case's group, or failing that its dtype's part of the group, once per worker. Never raises: a
    case whose group could not be built runs alone, as if it had none."""
    binding = getattr(backend, "binding", case.target.framework)
    members = [m.split("/", 1) for m in case.group]
    tries = [members, [m for m in members if m[0] == case.dtype]]
    for keys in tries:
        attempt = (case.op, str(case.target), tuple(map(tuple, keys)))
        if attempt not in _ATTEMPTS:
            if len(_ATTEMPTS) > 64:
                _ATTEMPTS.clear()
            samples = [s for dtype, sid in keys if not spec.excluded(binding, dtype)
                       for s in [sample_of(dtype, sid)] if s is not None]
            try:
                _ATTEMPTS[attempt] = len(samples) > 1 and bool(backend.build_group(spec, samples, case.target.device))
            except Exception:  # the members then run alone, each with its own verdict
                _ATTEMPTS[attempt] = False
        if _ATTEMPTS[attempt] or len(keys) == len(tries[-1]):
            return
