"""Roll-ups: case results folded into per (op, column) and (op, column, dtype) coverage levels.

A column is a target in one mode (``types.column``: ``torch:cpu``, ``torch:cpu/grad``), taken from the record, so
every mode is one more column of the matrix, the summary and the heatmaps; forward columns are named by the target
alone, and a forward-only report reads as it did before modes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Iterable

from opcoverage.catalog.dtypes import ARRAY_DTYPES
from opcoverage.modes import mode_order
from opcoverage.types import CaseResult, Status


class Level:
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"
    NA = "n/a"


@dataclass(frozen=True)
class Cell:
    """The coverage of a group of cases: the level, and which failure kinds it holds."""

    level: str
    statuses: frozenset[Status]
    failing_dtypes: tuple[str, ...] = ()
    ran: int = 0
    passed: int = 0

    @property
    def wrong(self) -> bool:
        return Status.MISMATCH in self.statuses

    @property
    def fallback(self) -> bool:
        return Status.FALLBACK in self.statuses


def cell_of(results: Iterable[CaseResult], dtype_order: tuple[str, ...] = ()) -> Cell:
    results = [r for r in results if r.status is not Status.SKIPPED]
    if not results:
        return Cell(Level.NA, frozenset())
    statuses = frozenset(r.status for r in results)
    passed = sum(r.status is Status.PASS for r in results)
    level = Level.FULL if passed == len(results) else Level.PARTIAL if passed else Level.NONE
    failing = {r.dtype for r in results if r.status.is_failure}
    ordered = tuple(d for d in dtype_order if d in failing) + tuple(sorted(failing - set(dtype_order)))
    return Cell(level, statuses, ordered, len(results), passed)


@dataclass(frozen=True)
class Rollup:
    ops: tuple[str, ...]
    columns: tuple[str, ...]  # target x mode, each target's forward column first
    dtypes: tuple[str, ...]
    categories: dict[str, str]
    by_op_column: dict[tuple[str, str], Cell]
    by_op_column_dtype: dict[tuple[str, str, str], Cell]
    target_of: dict[str, str]  # column -> its target and mode, as the records gave them
    mode_of: dict[str, str]

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.target_of[c] for c in self.columns))

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(sorted({self.mode_of[c] for c in self.columns}, key=mode_order))

    def only(self, *columns: str) -> "Rollup":
        """The same roll-up narrowed to some columns (a column's own page)."""
        return replace(self, columns=tuple(c for c in self.columns if c in columns))


# The catalog's dtypes in its own order: those of "all" first, then wide unsigned, complex, 8- and 4-bit ones.
DTYPE_ORDER = ARRAY_DTYPES


def rollup(results: list[CaseResult], categories: dict[str, str] | None = None) -> Rollup:
    grouped: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    grouped_dtype: dict[tuple[str, str, str], list[CaseResult]] = defaultdict(list)
    ops: dict[str, None] = {}
    target_of: dict[str, str] = {}
    mode_of: dict[str, str] = {}
    dtypes: set[str] = set()
    for r in results:
        ops.setdefault(r.op)
        target_of[r.column], mode_of[r.column] = r.target, r.mode
        dtypes.add(r.dtype)
        grouped[(r.op, r.column)].append(r)
        grouped_dtype[(r.op, r.column, r.dtype)].append(r)
    dtype_order = tuple(d for d in DTYPE_ORDER if d in dtypes) + tuple(sorted(dtypes - set(DTYPE_ORDER)))
    return Rollup(
        ops=tuple(ops),
        columns=tuple(sorted(target_of, key=lambda c: (target_of[c], mode_order(mode_of[c])))),
        dtypes=dtype_order,
        categories={op: (categories or {}).get(op, "uncategorized") for op in ops},
        by_op_column={k: cell_of(v, dtype_order) for k, v in grouped.items()},
        by_op_column_dtype={k: cell_of(v, dtype_order) for k, v in grouped_dtype.items()},
        target_of=target_of,
        mode_of=mode_of,
    )


@dataclass(frozen=True)
class ColumnSummary:
    """The ops of one column (target x mode) by level, and its case counts."""

    column: str
    full: int
    partial: int
    none: int
    na: int
    wrong: int
    fallback: int
    cases_passed: int
    cases_ran: int

    @property
    def ops(self) -> int:
        return self.full + self.partial + self.none + self.na


def summarize(roll: Rollup) -> list[ColumnSummary]:
    out = []
    for column in roll.columns:
        cells = [roll.by_op_column.get((op, column), Cell(Level.NA, frozenset())) for op in roll.ops]
        out.append(ColumnSummary(
            column=column,
            full=sum(c.level == Level.FULL for c in cells),
            partial=sum(c.level == Level.PARTIAL for c in cells),
            none=sum(c.level == Level.NONE for c in cells),
            na=sum(c.level == Level.NA for c in cells),
            wrong=sum(c.wrong for c in cells),
            fallback=sum(c.fallback for c in cells),
            cases_passed=sum(c.passed for c in cells),
            cases_ran=sum(c.ran for c in cells),
        ))
    return out


def lower_precision(results: Iterable[CaseResult]) -> set[tuple[str, str, str]]:
    """(op, column, dtype) groups whose failing cases all carry ``extra.computed_as`` (they match a reference
    computed in a lower precision: the backend computes float64 in float32, say)."""
    failing: dict[tuple[str, str, str], list[CaseResult]] = defaultdict(list)
    for r in results:
        if r.status.is_failure:
            failing[(r.op, r.column, r.dtype)].append(r)
    return {k for k, rs in failing.items() if all(r.extra.get("computed_as") for r in rs)}
