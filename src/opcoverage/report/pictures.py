"""Report stage, pictures: results -> SVG heatmaps (op x column, op x dtype), the perf chart and the trend chart.

Heatmaps flow their rows into columns like a newspaper, category by category, each category under a shaded band
with its name and counts, so a 400-op catalog fits one screen and stays readable at GitHub's image width.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Callable, Iterable

from opcoverage.report.rollup import Cell, Level, Rollup, lower_precision
from opcoverage.report.svg import COLOURS, Svg
from opcoverage.types import FORWARD, CaseResult, Status

ROW_H, CELL_W, LABEL_CHARS, FONT_SIZE = 11, 13, 28, 8.5
BANDS = ("#eef2f7", "#f7f1e8")
LEVEL_LEGEND = [(COLOURS["full"], "every case passes"), (COLOURS["partial"], "some pass"),
                (COLOURS["none"], "none pass"), (COLOURS["wrong"], "wrong results in some case"),
                (COLOURS["computed_as"], "computes in a lower precision"), (COLOURS["n/a"], "not applicable")]


def cell_colour(cell: Cell | None, lower_precision: bool = False) -> str:
    if cell is None or cell.level == Level.NA:
        return COLOURS["n/a"]
    if cell.wrong and not lower_precision:
        return COLOURS["wrong"]
    if lower_precision:
        return COLOURS["computed_as"]
    return COLOURS[cell.level]


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


PICTURE_BUDGET = 400_000  # bytes of one SVG; past it the cells lose their tooltips (the CSV has every record)


def heatmap(title: str, groups: dict[str, list[str]], columns: list[str],
            colour: Callable[[str, str], tuple[str, str]], subtitle: str = "", tips: bool = True) -> str:
    """Rows (grouped, a band per group) x columns; ``colour(row, column)`` gives (fill, tooltip). A picture past
    PICTURE_BUDGET is drawn again without the tooltips, and says so."""
    full = _heatmap(title, groups, columns, colour, subtitle, tips)
    if not tips or len(full.encode()) <= PICTURE_BUDGET:
        return full
    note = "cells without tooltips, to stay within 400 KB: the CSV has every record"
    return _heatmap(title, groups, columns, colour, f"{subtitle} · {note}" if subtitle else note, False)


def _heatmap(title: str, groups: dict[str, list[str]], columns: list[str],
             colour: Callable[[str, str], tuple[str, str]], subtitle: str, tips: bool) -> str:
    svg = Svg()
    svg.text(10, 18, title, 13, weight="bold")
    y0 = 24
    if subtitle:
        svg.text(10, 34, subtitle, 9, fill="#555")
        y0 = 40
    y0 = svg.legend(10, y0 + 2, LEVEL_LEGEND, 9)
    label_w = 0.6 * FONT_SIZE * min(LABEL_CHARS, max((len(r) for rows in groups.values() for r in rows), default=8))
    block_w = label_w + 8 + CELL_W * len(columns) + 18
    header_h = 6 + 0.45 * FONT_SIZE * max((len(c) for c in columns), default=4)
    total_rows = sum(len(rows) + 1 for rows in groups.values())
    per_column = max(40, math.ceil(math.sqrt(total_rows * block_w / (1.4 * ROW_H))))
    n_blocks = math.ceil(total_rows / per_column)
    top = y0 + header_h + 4
    for block in range(n_blocks):  # column labels above each block, rotated so long target names fit
        x = 10 + block * block_w + label_w + 8
        for j, name in enumerate(columns):
            svg.text(x + j * CELL_W + CELL_W / 2 + 3, top - 4, name, FONT_SIZE, rotate=-60)
    slot = 0
    for g, (group, rows) in enumerate(groups.items()):
        items: list[str | None] = [None] + list(rows)  # None: the group's band
        for item in items:
            block, line = divmod(slot, per_column)
            if item is None and line == per_column - 1:  # a band never ends a column: it moves to the next
                slot += 1
                block, line = divmod(slot, per_column)
            if line == 0 and item is not None:  # a group continued in the next column gets its band again
                x = 10 + block * block_w
                svg.rect(x, top, block_w - 12, ROW_H, BANDS[g % 2])
                svg.text(x + 2, top + ROW_H - 2.5, f"{group} (cont.)", FONT_SIZE, weight="bold", fill="#333")
                slot += 1
                block, line = divmod(slot, per_column)
            x, y = 10 + block * block_w, top + line * ROW_H
            if item is None:
                svg.rect(x, y, block_w - 12, ROW_H, BANDS[g % 2])
                svg.text(x + 2, y + ROW_H - 2.5, f"{group} ({len(rows)})", FONT_SIZE, weight="bold", fill="#333")
            else:
                svg.text(x + 2, y + ROW_H - 2.5, _label(item), FONT_SIZE)
                # One grey strip stands for the not-applicable cells, so only measured cells are drawn.
                svg.rect(x + label_w + 8, y + 1, CELL_W * len(columns) - 1, ROW_H - 1, COLOURS["n/a"])
                cells = [colour(item, column) for column in columns]
                j = 0
                while j < len(cells):  # without tooltips, a run of same-coloured cells is one rectangle
                    fill, tip = cells[j]
                    run = 1
                    while not tips and j + run < len(cells) and cells[j + run][0] == fill:
                        run += 1
                    if fill != COLOURS["n/a"]:
                        svg.rect(x + label_w + 8 + j * CELL_W, y + 1, CELL_W * run - 1, ROW_H - 1, fill,
                                 tip if tips else None)
                    j += run
            slot += 1
    return svg.document()


def _groups(roll: Rollup) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for op in roll.ops:
        groups[roll.categories[op]].append(op)
    return {k: groups[k] for k in sorted(groups)}


def coverage_heatmap(roll: Rollup, results: list[CaseResult], title: str) -> str:
    """op x column (target x mode), one cell per pair, coloured by its roll-up."""
    lower = lower_precision(results)

    def colour(op: str, column: str) -> tuple[str, str]:
        cell = roll.by_op_column.get((op, column))
        lowered = cell is not None and bool(cell.failing_dtypes) and all(
            (op, column, d) in lower for d in cell.failing_dtypes)
        failing = f", failing: {', '.join(cell.failing_dtypes)}" if cell and cell.failing_dtypes else ""
        return cell_colour(cell, lowered), f"{op} on {column}: {cell.level if cell else 'n/a'}{failing}"

    n = len(roll.columns)
    what = (f"{n} target{'s' if n != 1 else ''}; one cell per op and target" if roll.modes == (FORWARD,) else
            f"{n} target x mode columns; one cell per op and column")
    return heatmap(title, _groups(roll), list(roll.columns), colour, f"{len(roll.ops)} ops x {what}")


def dtype_heatmap(roll: Rollup, results: list[CaseResult], column: str) -> str:
    """op x dtype on one column (a target in one mode)."""
    lower = lower_precision(results)
    ops = [op for op in roll.ops if (op, column) in roll.by_op_column]
    groups: dict[str, list[str]] = defaultdict(list)
    for op in ops:
        groups[roll.categories[op]].append(op)

    def colour(op: str, dtype: str) -> tuple[str, str]:
        cell = roll.by_op_column_dtype.get((op, column, dtype))
        return cell_colour(cell, (op, column, dtype) in lower), f"{op} {dtype}: {cell.level if cell else 'n/a'}"

    return heatmap(f"{column}: op x dtype", {k: groups[k] for k in sorted(groups)}, list(roll.dtypes), colour,
                   f"{len(ops)} ops x {len(roll.dtypes)} dtypes")


def perf_ratios(results: Iterable[CaseResult], categories: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per category, per column: the geometric mean over op x dtype pairs of time over the fastest column's time
    (pairs timed on at least two columns at the same perf shape)."""
    times: dict[tuple[str, str, str], dict[str, tuple[float, Any]]] = defaultdict(dict)
    for r in results:
        p = r.perf or {}
        if p.get("median_s") and "error" not in p:
            times[(r.op, r.dtype, str(p.get("shapes")))][r.column] = (p["median_s"], None)
    logs: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (op, _, _), by_target in times.items():
        if len(by_target) < 2:
            continue
        fastest = min(t for t, _ in by_target.values())
        for target, (t, _) in by_target.items():
            logs[categories.get(op, "uncategorized")][target].append(math.log(t / fastest))
    return {c: {t: math.exp(sum(v) / len(v)) for t, v in per.items()} for c, per in sorted(logs.items())}


TARGET_COLOURS = ("#1f77b4", "#e45756", "#54a24b", "#b279a2", "#f58518", "#72b7b2", "#9d755d", "#4c78a8")


def perf_chart(ratios: dict[str, dict[str, float]], title: str = "Time over the fastest target, per category") -> str:
    """Horizontal bars on a log2 axis: 1x (the fastest) at the left edge."""
    targets = sorted({t for per in ratios.values() for t in per})
    svg = Svg()
    svg.text(10, 18, title, 13, weight="bold")
    y = svg.legend(10, 26, [(TARGET_COLOURS[i % len(TARGET_COLOURS)], t) for i, t in enumerate(targets)], 9)
    left, scale, bar = 170, 60.0, 8  # 60 px per doubling
    worst = max((r for per in ratios.values() for r in per.values()), default=1.0)
    doublings = max(1, math.ceil(math.log2(max(worst, 1.0))))
    for k in range(doublings + 1):
        x = left + k * scale
        svg.line(x, y, x, y + len(ratios) * (bar * len(targets) + 6) + 4, "#ccc", 0.5, "2,2")
        svg.text(x, y + len(ratios) * (bar * len(targets) + 6) + 14, f"{2 ** k}x", 8, "middle")
    for category, per in ratios.items():
        svg.text(left - 6, y + bar * len(targets) / 2 + 4, category, 9, "end")
        for i, target in enumerate(targets):
            ratio = per.get(target)
            if ratio is not None:
                w = max(1.5, math.log2(max(ratio, 1.0)) * scale)
                svg.rect(left, y + i * bar, w, bar - 1, TARGET_COLOURS[i % len(TARGET_COLOURS)],
                         f"{category} on {target}: {ratio:.2f}x the fastest")
                svg.text(left + w + 3, y + i * bar + bar - 1.5, f"{ratio:.2g}x" if ratio < 10 else f"{ratio:.0f}x", 7)
        y += bar * len(targets) + 6
    return svg.document()


def trend_chart(lines: list[dict[str, Any]], rate: Callable[[dict[str, Any], str], float | None]) -> str:
    """Pass rate per target over the trend file's runs, oldest left."""
    targets = sorted({t for line in lines for t in line.get("targets", {})})
    svg = Svg()
    svg.text(10, 18, "Cases passed, % of cases run, per run", 13, weight="bold")
    top = svg.legend(10, 26, [(TARGET_COLOURS[i % len(TARGET_COLOURS)], t) for i, t in enumerate(targets)], 9)
    left, width, height = 50, max(300, 40 * len(lines)), 200
    for pct in range(0, 101, 20):
        y = top + height * (1 - pct / 100)
        svg.line(left, y, left + width, y, "#ddd", 0.5)
        svg.text(left - 6, y + 3, f"{pct}%", 8, "end")
    step = width / max(len(lines) - 1, 1)
    for i, line in enumerate(lines):
        label = (line.get("label") or line.get("date", ""))[:10]
        svg.text(left + i * step, top + height + 12, label, 7, "end", rotate=-40)
    svg.rect(left + width, top + height + 50, 20, 1, "#ffffff")  # room for the slanted labels below the axis
    for k, target in enumerate(targets):
        points = [(left + i * step, top + height * (1 - value / 100)) for i, line in enumerate(lines)
                  if (value := rate(line, target)) is not None]
        svg.polyline(points, TARGET_COLOURS[k % len(TARGET_COLOURS)])
    return svg.document()


def status_colour(status: Status) -> str:
    return COLOURS[status.value]
