"""Report stage, failure stages: per column, how many cases and ops fail at each pipeline stage (``extra.stage``),
so a vendor reads "IREE fails to compile 31 ops" without opening the messages."""

from __future__ import annotations

from collections import Counter, defaultdict

from opcoverage.report.tables import escape, table
from opcoverage.types import CaseResult, Stage

EXAMPLES = 4  # op names shown per row


def stage_section(results: list[CaseResult], level: int = 2) -> list[str]:
    """The table, or nothing when no failing record names a stage (the eager targets)."""
    cases: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for r in results:
        stage = (r.extra or {}).get("stage")
        if stage and r.status.is_failure:
            cases[(r.column, str(stage))].append(r)
    if not cases:
        return []
    order = {str(s): i for i, s in enumerate(Stage)}
    rows = []
    for (column, stage), failed in sorted(cases.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        ops = sorted({r.op for r in failed})
        statuses = Counter(str(r.status) for r in failed)
        shown = ", ".join(f"`{op}`" for op in ops[:EXAMPLES]) + (f", +{len(ops) - EXAMPLES} more"
                                                                 if len(ops) > EXAMPLES else "")
        rows.append([column, stage, str(len(failed)), str(len(ops)),
                     ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())), escape(shown)])
    return [f"{'#' * level} Failures by stage", "",
            "Failing cases whose stack says where in its pipeline they failed (`extra.stage`, in pipeline order: "
            + ", ".join(str(s) for s in Stage) + ").", "",
            table(rows, ["column", "stage", "cases", "ops", "statuses", "ops (first)"]), ""]
