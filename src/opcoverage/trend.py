"""Trend stage: one line per run (date, versions, counts per column) appended to a JSON-lines file, and its chart.

A column is a target in one mode (``torch:cpu``, ``torch:cpu/grad``); forward columns are named by the target, so
the lines of runs from before modes continue the same series.

The ONNX scoreboard once showed 0% for every backend without saying why; each line here keeps the versions and
the case counts it was computed from, so a drop can be traced to the run that caused it.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from opcoverage.errors import UsageError
from opcoverage.report.rollup import Level, rollup
from opcoverage.results import ResultsFile, counts
from opcoverage.results import write_atomic


def entry(results_file: ResultsFile, label: str = "", date: str | None = None) -> dict[str, Any]:
    """The trend line of one results file: per column (target x mode) its status counts and ops fully covered."""
    env = results_file.environment
    roll = rollup(list(results_file.results), env.get("categories", {}))
    targets = {}
    for column in roll.columns:
        records = [r for r in results_file.results if r.column == column]
        cells = [c for (op, col), c in roll.by_op_column.items() if col == column]
        targets[column] = {"cases": counts(records), "ops": len(cells),
                           "ops_full": sum(c.level == Level.FULL for c in cells)}
    return {"date": date or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "label": label,
            "catalog": env.get("catalog"), "suite": env.get("suite"), "frameworks": env.get("frameworks", {}),
            "targets": targets}


def read(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    lines = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            raise UsageError(f"{path}:{number} is not a JSON line; a trend file holds one JSON object per line "
                             "written by `opcoverage trend`") from None
    return lines


def append(path: str | Path, line: dict[str, Any]) -> list[dict[str, Any]]:
    """Append ``line`` (the file is rewritten whole, atomically); returns every line."""
    lines = read(path) + [line]
    write_atomic(path, "".join(json.dumps(x, sort_keys=True) + "\n" for x in lines))
    return lines


def pass_rate(line: dict[str, Any], target: str) -> float | None:
    """Passed cases over cases that ran (skipped ones were never measured), in percent."""
    tally = line.get("targets", {}).get(target, {}).get("cases")
    if not tally:
        return None
    ran = sum(n for status, n in tally.items() if status != "skipped")
    return 100 * tally.get("pass", 0) / ran if ran else None
