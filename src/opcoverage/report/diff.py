"""Report stage, diff: a Diff (opcoverage.diff) -> Markdown, the environment changes first, each list capped."""

from __future__ import annotations

from opcoverage.diff import CaseChange, Diff
from opcoverage.report.tables import escape, table

ROWS_PER_LIST = 100  # the rest of a list is in `opcoverage diff --json`
MESSAGE_CHARS = 160


def render(d: Diff, level: int = 1, rows_per_list: int = ROWS_PER_LIST) -> str:
    """The diff as Markdown; ``level`` is its heading level (1 standalone, 2 inside a report page)."""
    h = "#" * level
    out = [f"{h} Changes from `{d.base}` to `{d.new}`", "", summary_line(d), ""]
    if d.environment:
        out += [f"{h}# Environment changes", "",
                table([[f"`{k}`", _value(b), _value(n)] for k, b, n in d.environment], ["detail", "base", "new"]), ""]
    lists = [("Regressions (pass -> failing)", d.regressions), ("Fixes (failing -> pass)", d.fixes),
             ("Other verdict changes", d.changed), ("Error grew", d.error_growth), ("New cases", d.new_cases),
             ("Removed cases", d.removed)]
    for title, changes in lists:
        if changes:
            out += [f"{h}# {title}: {len(changes)}", "", _case_table(changes, rows_per_list), ""]
    if d.perf_compared:
        out += [f"{h}# Performance: {d.perf_compared} timed cases compared", "",
                f"Each ratio is new over base median time at the perf shape, divided by the run-wide median ratio "
                f"({d.perf_scale:.3g}), so a uniformly slower machine is no regression. A change is flagged when it "
                f"passes {100 * d.perf_threshold:g}% and a one-sided Mann-Whitney U test of the raw repeat times, "
                "Benjamini-Hochberg corrected, agrees (q < 0.05); large changes the test does not confirm are listed "
                "apart.", ""]
        for title, changes in (("Slower", d.perf_regressions), ("Faster", d.perf_improvements),
                               ("Large but not significant", d.perf_unconfirmed)):
            if changes:
                rows = [[f"`{p.id}`", _seconds(p.base_median_s), _seconds(p.new_median_s), f"{p.ratio:.3f}",
                         "" if p.q_value is None else f"{p.q_value:.2g}"] for p in changes[:rows_per_list]]
                out += [f"{h}## {title}: {len(changes)}", "",
                        table(rows, ["case", "base median", "new median", "normalised ratio", "q"]), ""]
                if len(changes) > rows_per_list:
                    out += [f"... and {len(changes) - rows_per_list} more (`opcoverage diff --json`).", ""]
    return "\n".join(out).rstrip() + "\n"


def summary_line(d: Diff) -> str:
    if not d.coverage_changed and not d.perf_regressions and not d.perf_improvements:
        verdicts = f"No verdict changed ({d.unchanged} cases compared)"
    else:
        verdicts = (f"**{len(d.regressions)} regressions**, {len(d.fixes)} fixes, {len(d.changed)} other verdict "
                    f"changes, {len(d.error_growth)} cases whose error grew, {len(d.new_cases)} new and "
                    f"{len(d.removed)} removed cases ({d.unchanged} unchanged)")
    perf = ""
    if d.perf_compared:
        perf = (f"; perf: **{len(d.perf_regressions)} slower**, {len(d.perf_improvements)} faster, "
                f"{len(d.perf_unconfirmed)} large but not significant, of {d.perf_compared} timed cases")
    env = f"; {len(d.environment)} environment changes" if d.environment else ""
    return verdicts + perf + env + "."


def _case_table(changes: list[CaseChange], limit: int) -> str:
    rows = []
    for c in changes[:limit]:
        err = ""
        if c.before_err is not None or c.after_err is not None:
            err = f"{_number(c.before_err)} -> {_number(c.after_err)}"
        rows.append([f"`{c.id}`", c.before or "(none)", c.after or "(none)", err, escape(c.message[:MESSAGE_CHARS])])
    text = table(rows, ["case", "base", "new", "max error", "message"])
    if len(changes) > limit:
        text += f"\n\n... and {len(changes) - limit} more (`opcoverage diff --json`)."
    return text


def _value(value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        value = ", ".join(map(str, value)) or "(none)"
    return escape(str(value))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def _seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"
