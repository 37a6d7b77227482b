"""Report stage, mode-only failures: cases that fail in a mode (grad, compile, export, vmap) while the same op,
target, dtype and sample pass in forward, with the compiled-vs-eager disagreements listed apart.

Forward passing means the eager kernel is right, so such a failure belongs to the mode's own machinery: the
backward formula for grad, the compiler for compile, the exporter for export, the batching rule for vmap. A wrong
value there (a mismatch, where eager agrees with the reference) is the worst kind, a silent miscompile, so those
come first and on their own.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from opcoverage.errors import UsageError
from opcoverage.modes import Mode
from opcoverage.report import markdown as md
from opcoverage.report.pages import Page
from opcoverage.report.tables import escape, row
from opcoverage.types import FORWARD, CaseResult, Status

# Modes that transform the forward call without changing what it computes: a different value is their bug.
TRANSFORMS = ("compile", "export", "vmap")


def mode_only(results: list[CaseResult]) -> list[CaseResult]:
    """The failing cases of the other modes whose forward case (same op, target, dtype and sample) passes: in these
    results, or by the eager verdict the runner records beside a wrong compiled, exported or batched result
    (``extra.eager``), so a run of one mode alone still shows its disagreements."""
    passing = {(r.op, r.target, r.dtype, r.sample) for r in results if r.mode == FORWARD and r.status is Status.PASS}
    return [r for r in results if r.mode != FORWARD and r.status.is_failure
            and ((r.op, r.target, r.dtype, r.sample) in passing or r.extra.get("eager") == Status.PASS.value)]


def disagrees(result: CaseResult) -> bool:
    """A wrong result from a transform of the call (compile, export, vmap) whose eager call is right."""
    try:
        name = Mode.parse(result.mode).name
    except UsageError:  # a mode this version does not know: not judged
        return False
    return result.status is Status.MISMATCH and name in TRANSFORMS


def add_sections(page: Page, results: list[CaseResult], env: dict[str, Any], keep: int, level: int = 2) -> None:
    """The mode-only failures of ``results`` on ``page``: nothing when no case ran in a mode but forward. The
    disagreements are kept longer (``keep`` + 5) than the other mode-only failures (``keep``)."""
    if all(r.mode == FORWARD for r in results):
        return
    failures = mode_only(results)
    wrong = [r for r in failures if disagrees(r)]
    other = [r for r in failures if not disagrees(r)]
    h = "#" * level
    page.add([f"{h} Mode-only failures", "",
              f"{len(failures)} cases fail in a mode while the same op, target, dtype and sample pass in forward: "
              "the eager kernel is right, so the backward (grad), the compiler (compile), the exporter (export) or "
              "the batching rule (vmap) is to blame." + ("" if wrong else " None is a compiled-vs-eager disagreement "
                                                          "(a wrong result where eager is right).")
              if failures else "No case fails in a mode but forward alone.", ""])
    if wrong:
        head, rows, tail = _table(wrong, env)
        page.table([f"{h}# Compiled vs eager disagreements: {len(wrong)}", "",
                    "Wrong results where the eager call gives the right ones: a miscompile, a bad export or a bad "
                    "batching rule.", ""] + head, rows, tail, "disagreement groups", keep + 5)
    if other:
        head, rows, tail = _table(other, env)
        page.table([f"{h}# Other mode-only failures: {len(other)}", ""] + head, rows, tail,
                   "mode-only failure groups", keep)


def _table(results: list[CaseResult], env: dict[str, Any]) -> md.Table:
    """One row per op, column, status and message; each with the command that reproduces its first case."""
    groups: dict[tuple[str, str, str, str], list[CaseResult]] = defaultdict(list)
    for r in results:
        groups[(r.op, r.column, r.status.value, r.message[:md.MESSAGE_CHARS])].append(r)
    head = [row(["op", "column", "dtypes", "samples", "status", "message", "reproduce"]),
            "|---|---|---|---|---|---|---|"]
    rows = []
    for (op, column, status, message), members in sorted(groups.items()):
        first = members[0]
        errors = ""
        if first.status is Status.MISMATCH and first.max_abs_err is not None and "max abs err" not in message:
            errors = f" (max abs {first.max_abs_err:.3g}, rel {first.max_rel_err or 0:.3g})"
        dtypes = ",".join(dict.fromkeys(md.SHORT_DTYPES.get(m.dtype, m.dtype) for m in members))
        samples = ",".join(sorted({m.sample for m in members}))
        rows.append(row([f"`{op}`", f"`{column}`", dtypes, samples, status, escape(message) + errors,
                         f"`{md.reproduce_command(first, env)}`"]))
    return head, rows, [""]
