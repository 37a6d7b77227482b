"""Report stage, layout: results -> an index page, a page, a CSV and a dtype heatmap per column, and pictures.

A column is a target in one mode (``torch:cpu``, ``torch:cpu/grad``: ``CaseResult.column``); forward columns are
named by their target alone. `opcoverage report R.json --out cpu.md` writes, beside cpu.md:

- ``cpu.md``, the index (at most ~100 KB): the environment, the summary per column, the changes since a baseline
  (``--baseline``), the mode-only failures, the op x column heatmap, and the matrix, one symbol per cell, in a
  ``<details>`` per category;
- ``cpu-<column>.md`` per column (at most ~400 KB; ``cpu-torch-cpu-grad.md``): its dtype matrix and heatmap,
  failures grouped with messages and reproduce commands, its mode-only failures, perf tables and, on forward
  columns, the audit (``--audit``);
- ``cpu-<column>.csv``: every record of the column, sorted by op, dtype and sample (the full data, diff-friendly);
- ``cpu-heatmap.svg``, ``cpu-<column>-dtypes.svg`` and, with perf records, ``cpu-perf.svg``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

from opcoverage.expectations import GateReport
from opcoverage.report import markdown as md
from opcoverage.report import mode_failures, pictures
from opcoverage.report.pages import INDEX_BUDGET, SUMMARY_BUDGET, TARGET_BUDGET, Page
from opcoverage.report.perf import model_time_section, render_perf, ratio_section
from opcoverage.report.stages import stage_section
from opcoverage.report.rollup import Rollup, lower_precision, rollup, summarize
from opcoverage.report.tables import table
from opcoverage.results import ResultsFile
from opcoverage.types import FORWARD

CSV_COLUMNS = ("id", "op", "target", "mode", "dtype", "sample", "status", "computed_as", "max_abs_err", "max_rel_err",
               "message")


def slug(column: str) -> str:
    return column.replace(":", "-").replace("/", "-")


def categories(results_file: ResultsFile) -> dict[str, str]:
    """Each op's category; an external suite's tests are grouped by the op type they test (extra.op_type)."""
    cats = dict(results_file.environment.get("categories", {}))
    for r in results_file.results:
        if r.extra.get("suite") and r.extra.get("op_type"):
            cats[r.op] = str(r.extra["op_type"])
    return cats


class Report:
    """Every file of one report, rendered in memory (so nothing is half-written when one fails)."""

    def __init__(self, results_file: ResultsFile, sources: list[str], stem: str, gate: GateReport | None = None,
                 audit: Any = None, changes: Any = None, index_name: str | None = None):
        self.file = results_file
        self.index_name = index_name or f"{stem}.md"  # the --out file's own name; the other files take its stem
        self.env = results_file.environment
        self.results = list(results_file.results)
        self.sources = sources
        self.stem = stem
        self.gate = gate
        self.audit = audit
        self.changes = changes  # an opcoverage.diff.Diff against the baseline, or None
        self.roll: Rollup = rollup(self.results, categories(results_file))
        self.lowered = lower_precision(self.results)
        # An external suite's index and pictures roll its tests up by the op type they test (ONNX's 1,884 node
        # tests are 180 op types); its target pages keep one row per test.
        self.by_op_type = sorted((replace(r, op=str(r.extra["op_type"])) for r in self.results
                                  if r.extra.get("suite") and r.extra.get("op_type")), key=lambda r: r.op.lower())
        if self.by_op_type and len(self.by_op_type) == len(self.results):
            suite = str(self.env.get("suite", "suite"))
            self.overview = rollup(self.by_op_type, {r.op: f"{suite} op types" for r in self.by_op_type})
            self.overview_lowered = lower_precision(self.by_op_type)
        else:
            self.by_op_type = self.results
            self.overview, self.overview_lowered = self.roll, self.lowered
        self.command = f"opcoverage report {' '.join(sources)}"
        self.data = " and ".join(f"`{s}`" for s in sources)

    def page_name(self, column: str) -> str:
        return f"{self.stem}-{slug(column)}.md"

    def files(self) -> dict[str, str]:
        """File name (beside the index) -> text."""
        out = {self.index_name: self.index()}
        out[f"{self.stem}-heatmap.svg"] = pictures.coverage_heatmap(self.overview, self.by_op_type,
                                                                   f"Operator coverage ({', '.join(self.sources)})")
        ratios = pictures.perf_ratios(self.results, self.roll.categories)
        if ratios:
            out[f"{self.stem}-perf.svg"] = pictures.perf_chart(ratios)
        for column in self.roll.columns:
            out[self.page_name(column)] = self.target_page(column)
            out[f"{self.stem}-{slug(column)}.csv"] = self.csv(column)
            out[f"{self.stem}-{slug(column)}-dtypes.svg"] = pictures.dtype_heatmap(self.overview, self.by_op_type,
                                                                                   column)
        return out

    def index(self, budget: int = INDEX_BUDGET) -> str:
        env, roll = self.env, self.roll
        page = Page(budget, f"the per-target pages and CSV files beside this page, and in {self.data}")
        page.add(["# Operator coverage", "", md.generated_line(self.command, roll, len(self.results), env), ""])
        if self.changes is not None:
            from opcoverage.report.diff import render as render_diff

            page.add(render_diff(self.changes, level=2, rows_per_list=30).splitlines() + [""], keep=3,
                     what="the changes since the baseline (`opcoverage diff` writes them whole)")
        page.add(md.environment_section(env, roll.targets))
        catalog_ops = int(env.get("catalog_ops") or len(roll.ops) or 1)
        rows = md.summary_rows(roll, summarize(roll), catalog_ops, self.lowered, self.page_name)
        page.add(["## Summary", "", md.LEGEND, "", table(rows, md.SUMMARY_HEADERS), "",
                  "Each target's page (linked above) has its dtype matrix, failures with reproduce commands, perf "
                  "tables and audit; its CSV file has every record.", "",
                  f"![op x target heatmap]({self.stem}-heatmap.svg)", ""])
        if self.gate is not None:
            page.add(md.gate_section(self.gate, limit=50), keep=2, what="the expected-failure summary")
        mode_failures.add_sections(page, self.results, env, keep=4)
        stages = stage_section(self.results)
        if stages:
            page.add(stages, keep=4, what="the failures by stage")
        columns = " (a target in a mode but forward: `target/mode`)" if len(roll.modes) > 1 else ""
        page.add(["## Coverage matrix", "", f"One symbol per op and target{columns}; the counts give the ops that "
                  "fully pass over those that ran.", ""])
        unit = "op types" if self.overview is not self.roll else "ops"
        for head, rows_, tail in md.matrix_tables(self.overview, self.overview_lowered, unit):
            page.table(head, rows_, tail, f"{unit} of this category", keep=10)
        page.add(md.opset_coverage(self.results), keep=1, what="the op-set coverage")
        measured = [r for r in self.results if r.perf and "error" not in r.perf]
        if measured:
            page.add(["## Performance", "", f"![time over the fastest target]({self.stem}-perf.svg)", ""]
                     + ratio_section(measured, roll.categories, level=3), keep=0, what="the cross-target perf ratios")
        at_models = model_time_section(self.results)
        if at_models:
            page.add(at_models, keep=8, what="the op times at the models' shapes")
        return page.render()

    def target_page(self, column: str, budget: int = TARGET_BUDGET) -> str:
        """The page of one column: a target in one mode."""
        env, roll = self.env, self.roll
        target, mode = roll.target_of[column], roll.mode_of[column]
        records = [r for r in self.results if r.column == column]
        csv_name = f"{self.stem}-{slug(column)}.csv"
        page = Page(budget, f"`{csv_name}` (every record, sorted by op, dtype and sample) and {self.data}")
        sub = roll.only(column)
        summary = md.summary_rows(sub, summarize(sub), int(env.get("catalog_ops") or len(roll.ops) or 1),
                                  self.lowered)
        device = env.get("targets", {}).get(target, {})
        page.add([f"# `{column}`", "", md.generated_line(self.command, sub, len(records), env)
                  + f" Back to the [index]({self.index_name}).", "",
                  "## Environment", "", f"{device.get('name', '?')} · {device.get('driver', '')} · "
                  + ", ".join(f"{k} {v}" for k, v in env.get("frameworks", {}).items()), "",
                  "## Summary", "", md.LEGEND, "", table(summary, md.SUMMARY_HEADERS), ""])
        head, rows, tail = md.dtype_table(roll, column, self.lowered)
        page.add(["## Dtype matrix", "", "Each cell rolls up the samples of one op in one dtype; empty: not planned.",
                  "", f"![op x dtype heatmap]({self.stem}-{slug(column)}-dtypes.svg)", ""])
        page.table(head, rows, tail, "ops", keep=20)
        head, rows, tail = md.failure_table(records, env)
        failing = sum(r.status.is_failure for r in records)
        page.add(["## Failures", "", f"{failing} failing cases in {len(rows)} groups (same op, status and message); "
                  "the command reproduces the group's first case." if rows else "No failing case.", ""])
        if rows:
            page.table(head, rows, tail, "failure groups", keep=30)
        if mode != FORWARD:  # the column's failures whose forward case passes, beside its forward records
            forward = [r for r in self.results if r.target == target and r.mode == FORWARD]
            mode_failures.add_sections(page, forward + records, env, keep=24)
        page.add(md.crashes_not_recurring(records), keep=25, what="the crashes that did not recur")
        if self.gate is not None:
            page.add(md.gate_section(self.gate, target, mode=mode), keep=26, what="the expected-failure details")
        perf = render_perf(records, {**env, "categories": roll.categories})
        if perf:
            page.add(perf, keep=15, what="the perf tables")
        # Claims are about the eager kernels a registry lists: the audit judges forward cases only (claims.audit).
        if self.audit is not None and mode == FORWARD and target in self.audit.targets:
            from opcoverage.report.audit import section

            page.add(["## Claims versus measured", ""] + section(_audit_of(self.audit, target), env, level=3),
                     keep=10, what="the claims audit (`opcoverage audit` writes it whole)")
        return page.render()

    def csv(self, column: str) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        records = sorted((r for r in self.results if r.column == column), key=lambda r: (r.op, r.dtype, r.sample))
        for r in records:
            writer.writerow([r.id, r.op, r.target, r.mode, r.dtype, r.sample, r.status.value,
                             r.extra.get("computed_as", ""), _number(r.max_abs_err), _number(r.max_rel_err),
                             " ".join(r.message.split())[:300]])
        return buffer.getvalue()

    def summary(self, budget: int = SUMMARY_BUDGET) -> str:
        """The CI job summary: the changes since the baseline at the top, then the index, within ``budget``."""
        parts = []
        if self.changes is not None:
            from opcoverage.report.diff import render as render_diff

            page = Page(budget // 2, f"the diff artifact and {self.data}")
            page.add(render_diff(self.changes, level=2).splitlines(), keep=1, what="the rest of the diff")
            parts.append(page.render())
        saved, self.changes = self.changes, None  # the diff is already at the top
        try:
            index = self.index(min(INDEX_BUDGET, budget - sum(len(p.encode()) for p in parts)))
            # A job summary cannot show the pictures beside the report (they are in the artifact): no broken images.
            parts.append("\n".join(line for line in index.split("\n") if not line.startswith("![")))
        finally:
            self.changes = saved
        return "\n".join(parts)


def _audit_of(audit: Any, target: str) -> Any:
    return replace(audit, cells=tuple(c for c in audit.cells if c.target == target),
                   sources={target: audit.sources[target]}, per_dtype={target: audit.per_dtype.get(target)},
                   skipped={target: audit.skipped.get(target, 0)})


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def write(report: Report, index_path: Path) -> list[Path]:
    """Write every file of the report beside ``index_path``; each file whole or not at all."""
    from opcoverage.results import write_atomic

    files = report.files()
    written = []
    for name, text in files.items():
        path = index_path.parent / name
        write_atomic(path, text)
        written.append(path)
    return written
