"""The report layout: index and per-target pages within their byte budgets, cut with a note when they would pass
them, unpadded tables (one changed verdict changes one line), CSVs, SVG pictures, the job summary and the trend."""

from __future__ import annotations

import difflib
import xml.etree.ElementTree as ET

import pytest

from opcoverage import results as res
from opcoverage.cli import main
from opcoverage.report.layout import Report
from opcoverage.report.pages import Page
from opcoverage.types import CaseResult, Status

SVG = "{http://www.w3.org/2000/svg}"
OPS = [f"op{i:03d}" for i in range(300)]
DTYPES = ("float32", "float16", "int32")


def _results(break_one: bool = False) -> res.ResultsFile:
    records = []
    for i, op in enumerate(OPS):
        for target in ("torch:cpu", "jax:cpu"):
            for dtype in DTYPES:
                status = Status.PASS
                message = ""
                if dtype == "float16" and i % 7 == 0:
                    status, message = Status.UNSUPPORTED, f"no Half kernel for {op} " + "x" * 150
                if break_one and (op, target, dtype) == ("op010", "jax:cpu", "float32"):
                    status, message = Status.MISMATCH, "3 of 12 values differ"
                records.append(CaseResult(op, target, dtype, "s0", status, message, max_abs_err=0.0, max_rel_err=0.0))
    records.append(CaseResult("op001", "jax:cpu", "float64", "s1", Status.MISMATCH, "matches float32",
                              max_rel_err=1e-7, extra={"computed_as": "float32"}))
    env = {"seed": 0, "samples": "quick", "catalog": "c", "frameworks": {"torch": "2.13"}, "cpu": "Some CPU",
           "cpu_features": ["avx2", "avx512f"], "targets": {"torch:cpu": {"name": "Some CPU", "driver": "threads=2"}},
           "categories": {op: f"family{i % 9}" for i, op in enumerate(OPS)}}
    return res.ResultsFile(env, tuple(records))


def test_report_writes_an_index_and_a_page_csv_and_picture_per_target(tmp_path):
    path = tmp_path / "r.json"
    res.write(path, _results())
    assert main(["report", str(path), "--out", str(tmp_path / "cov.md")]) == 0
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != "r.json")
    assert names == ["cov-heatmap.svg", "cov-jax-cpu-dtypes.svg", "cov-jax-cpu.csv", "cov-jax-cpu.md",
                     "cov-torch-cpu-dtypes.svg", "cov-torch-cpu.csv", "cov-torch-cpu.md", "cov.md"]
    index = (tmp_path / "cov.md").read_text()
    assert len(index.encode()) <= 100_000
    assert "![op x target heatmap](cov-heatmap.svg)" in index and "[`jax:cpu`](cov-jax-cpu.md)" in index
    assert "<details><summary><b>family0</b>: 34 ops; fully passing: jax:cpu 29/34 · torch:cpu 29/34</summary>" in index
    assert "CPU features that select kernels: avx2, avx512f" in index
    page = (tmp_path / "cov-jax-cpu.md").read_text()
    # A failure that matches a lower-precision reference (extra.computed_as) has its own mark.
    assert "| `op001` | f64 | s1 | mismatch 🔽 computes float64 in float32 | matches float32" in page
    assert "| `op001` | 🔽 | ✅ |" in index
    csv_lines = (tmp_path / "cov-jax-cpu.csv").read_text().splitlines()
    assert csv_lines[0] == "id,op,target,mode,dtype,sample,status,computed_as,max_abs_err,max_rel_err,message"
    assert len(csv_lines) == 1 + 300 * 3 + 1 and csv_lines[1].startswith("op000-jax:cpu-float16-s0,")
    assert "op001-jax:cpu-float64-s1,op001,jax:cpu,forward,float64,s1,mismatch,float32," in csv_lines[6]
    # Machine details live in the environment section only.
    torch_page = (tmp_path / "cov-torch-cpu.md").read_text()
    for text in (index, torch_page):
        assert "Some CPU" in text.split("## Summary")[0] and "Some CPU" not in text.split("## Summary")[1]


def test_one_changed_verdict_changes_few_lines_of_each_page(tmp_path):
    before = Report(_results(), ["r.json"], "cov")
    after = Report(_results(break_one=True), ["r.json"], "cov")
    for name in ("index", "jax:cpu", "csv"):
        old, new = ((r.index() if name == "index" else r.csv("jax:cpu") if name == "csv" else r.target_page(name))
                    for r in (before, after))
        changed = [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=0)
                   if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        assert 0 < len(changed) <= 12, (name, changed)  # a summary count, the cell, a failure row: never a table


def test_a_page_past_its_budget_is_cut_with_a_note_saying_where_the_data_is():
    report = Report(_results(), ["r.json"], "cov")
    page = report.target_page("torch:cpu", budget=20_000)
    assert len(page.encode()) <= 20_000
    assert "✂️ *Cut to keep this page under 20 KB:" in page and "`cov-torch-cpu.csv`" in page
    assert "## Failures" in page  # the headings stay; rows go
    index = report.index(budget=8_000)
    assert len(index.encode()) <= 8_000 and "more ops of this category" in index


def test_page_cuts_the_least_kept_block_first():
    page = Page(300, "`x.csv`")
    page.add(["# title", ""])
    page.table(["| a |", "|---|"], [f"| row {i} |" for i in range(50)], [""], "rows", keep=5)
    page.add(["whole block " * 10], keep=1, what="the extra block")
    text = page.render()
    assert len(text.encode()) <= 300 and "the extra block" in text and "| row 0 |" in text


def test_job_summary_has_the_diff_at_the_top_within_its_budget(tmp_path):
    base, new = tmp_path / "base.json", tmp_path / "new.json"
    res.write(base, _results())
    res.write(new, _results(break_one=True))
    summary = tmp_path / "summary.md"
    assert main(["report", str(new), "--baseline", str(base), "--summary", str(summary),
                 "--summary-budget", "60000"]) == 0
    text = summary.read_text()
    assert len(text.encode()) <= 60_000
    assert text.startswith("## Changes from `base.json` to `new.json`") and "`op010-jax:cpu-float32-s0`" in text
    assert text.index("## Changes") < text.index("# Operator coverage")
    assert main(["report", str(new), "--summary", str(summary), "--summary-budget", "2000000"]) == 2


def test_heatmaps_are_valid_svg_with_a_legend_and_category_bands(tmp_path):
    report = Report(_results(), ["r.json"], "cov")
    files = report.files()
    root = ET.fromstring(files["cov-heatmap.svg"])
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "every case passes" in texts and "wrong results in some case" in texts
    assert "family0 (34)" in texts and "op299" in texts
    tips = [t.text for t in root.iter(f"{SVG}title")]
    assert "op007 on jax:cpu: partial, failing: float16" in tips
    dtypes = ET.fromstring(files["cov-jax-cpu-dtypes.svg"])
    assert {"float32", "float16", "int32"} <= {t.text for t in dtypes.iter(f"{SVG}text")}


def test_trend_appends_a_line_per_run_and_draws_it(tmp_path):
    path = tmp_path / "r.json"
    res.write(path, _results())
    trend = tmp_path / "trend.jsonl"
    for label in ("first", "second"):
        assert main(["trend", str(path), "--file", str(trend), "--label", label]) == 0
    lines = trend.read_text().splitlines()
    assert len(lines) == 2 and '"label": "second"' in lines[1] and '"torch:cpu"' in lines[0]
    texts = [t.text for t in ET.fromstring((tmp_path / "trend.svg").read_text()).iter(f"{SVG}text")]
    assert "second" in texts and "jax:cpu" in texts
    trend.write_text("not json\n")
    assert main(["trend", str(path), "--file", str(trend)]) == 2


def test_perf_chart_gives_each_target_its_time_over_the_fastest_per_category():
    from opcoverage.report.pictures import perf_chart, perf_ratios

    def timed(op, target, median):
        return CaseResult(op, target, "float32", "s0", Status.PASS, perf={"median_s": median, "shapes": [[64]]})

    records = [timed("add", "torch:cpu", 1.0), timed("add", "jax:cpu", 2.0), timed("mul", "torch:cpu", 1.0),
               timed("mul", "jax:cpu", 8.0), timed("sum", "torch:cpu", 3.0), timed("sum", "jax:cpu", 1.0)]
    ratios = perf_ratios(records, {"add": "binary", "mul": "binary", "sum": "reduction"})
    assert ratios["binary"] == pytest.approx({"torch:cpu": 1.0, "jax:cpu": 4.0})  # geometric mean of 2 and 8
    assert ratios["reduction"] == pytest.approx({"torch:cpu": 3.0, "jax:cpu": 1.0})
    root = ET.fromstring(perf_chart(ratios))
    assert {"binary", "reduction", "1x", "2x", "4x"} <= {t.text for t in root.iter(f"{SVG}text")}
    assert "binary on jax:cpu: 4.00x the fastest" in [t.text for t in root.iter(f"{SVG}title")]


def _mode_results(extra_disagreements: int = 0) -> res.ResultsFile:
    """Two targets in forward and grad, torch:cpu in compile too: a passes everywhere; b's compiled call is wrong
    where eager is right; c fails in forward and compile alike; d's gradient is missing on jax only."""
    def case(op, target, mode, status=Status.PASS, message="", dtype="float32"):
        return CaseResult(op, target, dtype, "s0", status, message, mode=mode)

    records = []
    for target in ("torch:cpu", "jax:cpu"):
        for mode in ("forward", "grad") + (("compile",) if target == "torch:cpu" else ()):
            records += [case("a", target, mode), case("a", target, mode, dtype="float64")]
            records.append(case("b", target, mode, Status.MISMATCH, "inductor fused it wrong: 3 of 8 values differ")
                           if mode == "compile" else case("b", target, mode))
            records.append(case("c", target, mode, Status.ERROR, "no kernel for c")
                           if target == "torch:cpu" and mode != "grad" else case("c", target, mode))
            records.append(case("d", target, mode, Status.UNSUPPORTED, "no vjp rule for d")
                           if (target, mode) == ("jax:cpu", "grad") else case("d", target, mode))
    for i in range(extra_disagreements):
        records += [case(f"x{i:03d}", "torch:cpu", "forward"),
                    case(f"x{i:03d}", "torch:cpu", "compile", Status.MISMATCH, f"x{i:03d} miscompiled " + "y" * 80)]
    env = {"seed": 0, "samples": "quick", "catalog": "c", "categories": {"a": "one", "b": "one", "c": "two",
                                                                         "d": "two"},
           "modes": {"requested": ["forward", "grad", "compile"],
                     "not_applicable": {"jax:cpu/compile": "torch.compile is a torch mode"}}}
    return res.ResultsFile(env, tuple(records))


def test_each_target_x_mode_is_a_column_with_its_page_and_its_mode_only_failures(tmp_path):
    path = tmp_path / "r.json"
    res.write(path, _mode_results())
    assert main(["report", str(path), "--out", str(tmp_path / "cov.md")]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    for column in ("jax-cpu", "jax-cpu-grad", "torch-cpu", "torch-cpu-grad", "torch-cpu-compile"):
        assert {f"cov-{column}.md", f"cov-{column}.csv", f"cov-{column}-dtypes.svg"} <= names
    assert "cov-jax-cpu-compile.md" not in names
    index = (tmp_path / "cov.md").read_text()
    assert ("| op | `jax:cpu` | `jax:cpu/grad` | `torch:cpu` | `torch:cpu/grad` | `torch:cpu/compile` |"
            in index)
    assert "| `b` | ✅ | ✅ | ✅ | ✅ | ⚠️ |" in index
    # The summary counts ops full / partial / none per target and mode.
    assert "| [`torch:cpu/compile`](cov-torch-cpu-compile.md) | 4 | 2 | 0 | 2 | 0 |" in index
    assert "| [`jax:cpu/grad`](cov-jax-cpu-grad.md) | 4 | 3 | 0 | 1 | 0 |" in index
    assert "| [`torch:cpu`](cov-torch-cpu.md) | 4 | 3 | 0 | 1 | 0 |" in index
    assert "2 target(s) in 3 modes (forward, grad, compile)" in index
    assert "| `jax:cpu/compile` | torch.compile is a torch mode |" in index
    section = index.split("## Mode-only failures")[1].split("## Coverage matrix")[0]
    wrong, other = section.split("### Other mode-only failures")
    assert "### Compiled vs eager disagreements: 1" in wrong
    assert "| `b` | `torch:cpu/compile` | f32 | s0 | mismatch | inductor fused it wrong" in wrong
    assert "--cases b-torch:cpu/compile-float32-s0 --seed 0 --modes compile`" in wrong
    assert "| `d` | `jax:cpu/grad` | f32 | s0 | unsupported | no vjp rule for d" in other
    assert "`c`" not in section  # it fails in forward too: not the mode's fault
    page = (tmp_path / "cov-torch-cpu-compile.md").read_text()
    assert page.startswith("# `torch:cpu/compile`") and "1 target(s) in compile mode" in page
    assert "### Compiled vs eager disagreements: 1" in page and "`d`" not in page.split("## Mode-only")[1]
    assert "## Mode-only failures" not in (tmp_path / "cov-torch-cpu.md").read_text()
    csv_lines = (tmp_path / "cov-torch-cpu-compile.csv").read_text().splitlines()
    assert "b-torch:cpu/compile-float32-s0,b,torch:cpu,compile,float32,s0,mismatch," in csv_lines[3]
    assert len(csv_lines) == 1 + 5


def test_a_forward_only_report_has_no_mode_sections_and_mode_lists_are_cut_within_the_budget():
    forward = Report(_results(), ["r.json"], "cov").index()
    assert "Mode-only" not in forward and "Modes:" not in forward and " modes (" not in forward
    index = Report(_mode_results(extra_disagreements=400), ["r.json"], "cov").index(budget=20_000)
    assert len(index.encode()) <= 20_000
    assert "### Compiled vs eager disagreements: 401" in index and "more disagreement groups" in index


def test_failures_by_stage_count_cases_and_ops_per_column_in_pipeline_order():
    from opcoverage.report.stages import stage_section

    def case(op, status, stage, sample="s0"):
        return CaseResult(op, "iree:llvm-cpu", "float32", sample, status, "m", extra={"stage": stage} if stage else {})

    lines = stage_section([case("det", Status.UNSUPPORTED, "compile"), case("det", Status.UNSUPPORTED, "compile", "s1"),
                           case("add", Status.ERROR, "run"), case("eigh", Status.CRASH, "convert"),
                           case("relu", Status.PASS, None), case("sort", Status.PASS, "run")])  # a pass is no failure
    rows = [line for line in "\n".join(lines).splitlines() if line.startswith("| iree")]
    assert rows == ["| iree:llvm-cpu | convert | 1 | 1 | 1 crash | `eigh` |",
                    "| iree:llvm-cpu | compile | 2 | 1 | 2 unsupported | `det` |",
                    "| iree:llvm-cpu | run | 1 | 1 | 1 error | `add` |"]
    assert stage_section([case("relu", Status.MISMATCH, None)]) == []  # eager targets name no stage: no section
