"""Report stage, performance: the roofline per target, a perf table per target, and ratios between targets that
share a device, with their geometric mean per category (from the ``perf`` records of a results file)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable

from opcoverage.perf.cost import COMPUTE_CATEGORIES
from opcoverage.perf.roofline import summarize
from opcoverage.report.tables import table
from opcoverage.types import CaseResult, Target

ABOVE_ROOF_PCT = 105.0



def seconds(value: float | None) -> str:
    if value is None:
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _shape(shapes: list[list[int]] | None) -> str:
    return " & ".join("x".join(map(str, s)) or "scalar" for s in shapes or [])


def render_perf(results: Iterable[CaseResult], environment: dict[str, Any]) -> list[str]:
    """The report's performance section; empty when no result carries a perf record."""
    timed = [r for r in results if r.perf]
    if not timed:
        return []
    categories = environment.get("categories", {})
    measured = [r for r in timed if "error" not in r.perf]
    out = ["## Performance", "",
           f"{len(measured)} cases timed (`--perf`: once per op, target and dtype, on the op's first sample; "
           f"{len(timed) - len(measured)} could not be timed). Steady-state median per call and IQR, after a timed "
           "warm-up, in blocks long enough for the clock's cost to vanish; the first call (compile, session "
           "creation, tracing and the first run) is apart. The perf shape scales the sample until its working set "
           "is four times the last-level cache (smaller where one call would not fit the case's time cap); *small* "
           "is the sample as declared (dispatch-bound latency). % roof is the roofline time, max(bytes / bandwidth, "
           "FLOPs / matmul peak), over the median, with both roofs measured in the same run by the target's own "
           "framework (again whenever an op beats them, so they only rise: each case is judged against the roofs "
           "as they stood when it ran, and the table below shows the highest); it is left out where the working set "
           "is under four times the cache. ~ marks a noisy result (IQR above 10% of the median).", ""]
    out += _roofline_section(summarize(timed))  # from the records, so merged shards keep every target's roofs
    above = [r for r in measured
             if r.perf.get("bound") == "memory" and (r.perf.get("roofline_pct") or 0) > ABOVE_ROOF_PCT]
    if above:
        out += [f"⚠️ {len(above)} memory-bound cases report more than {ABOVE_ROOF_PCT:g}% of the bandwidth "
                "measured in the same run (a noisy roof measurement, or a cost model that counts bytes the op never "
                "moves): "
                + ", ".join(f"`{r.id}`" for r in above[:20]), ""]
    by_target: dict[str, list[CaseResult]] = defaultdict(list)  # by column: a target in one mode
    for r in timed:
        by_target[r.column].append(r)
    for target in sorted(by_target):
        out += [f"<details><summary><code>{target}</code>: perf table ({len(by_target[target])} cases)</summary>", "",
                _target_table(by_target[target], categories), "", "</details>", ""]
    out += ratio_section(measured, categories)
    return out


def _roofline_section(roofs: dict[str, dict[str, Any]]) -> list[str]:
    if not roofs:
        return []
    rows = []
    for target in sorted(roofs):
        roof = roofs[target]
        matmul = ", ".join(f"{d} {_number(v)}" for d, v in sorted((roof.get("matmul_gflop_s") or {}).items()) if v)
        rows.append([f"`{target}`", roof.get("threads") or "", _number(roof.get("bandwidth_gb_s")),
                     f"{(roof.get('llc_bytes') or 0) / 2**20:g} MiB", matmul])
    return ["### Roofline", "", table(rows, ["target", "threads", "bandwidth GB/s", "LLC", "matmul GFLOP/s"]), ""]


def _target_table(results: list[CaseResult], categories: dict[str, str]) -> str:
    rows = []
    order = sorted(results, key=lambda r: (categories.get(r.op, ""), r.op, r.dtype))
    for r in order:
        p = r.perf
        if "error" in p:
            rows.append([f"`{r.op}`", r.dtype, categories.get(r.op, ""), "", "", "", "", "", "", "", "",
                         "not timed: " + p["error"].replace("|", "\\|")[:120]])
            continue
        small = p.get("small") or {}
        iqr = f"{100 * p['iqr_s'] / p['median_s']:.0f}%" if p.get("median_s") else ""
        pct = p.get("roofline_pct")
        rows.append([f"`{r.op}`", r.dtype, categories.get(r.op, ""), _shape(p.get("shapes")),
                     seconds(p.get("median_s")) + (" ~" if p.get("noisy") else ""), iqr, seconds(p.get("first_call_s")),
                     _number(p.get("gb_s")), _number(p.get("gflop_s")),
                     "" if pct is None else f"{pct:.3g}% {p.get('bound', '')}",
                     seconds(small.get("median_s")) + (" ~" if small.get("noisy") else ""),
                     (p.get("note") or "").replace("|", "\\|")[:120]])
    return table(rows, ["op", "dtype", "category", "perf shape", "median", "IQR", "first call", "GB/s", "GFLOP/s",
                         "% roof", "small median", "note"])


def _device_class(target: str) -> str:
    return Target.parse(target).device_class


def _work(perf: dict[str, Any], category: str) -> float:
    if category in COMPUTE_CATEGORIES and perf.get("flops"):
        return float(perf["flops"])
    return float(perf.get("bytes") or 0)


def _ratio(other: dict[str, Any], base: dict[str, Any], category: str) -> tuple[float | None, bool]:
    """other / base time at the perf shape; where the shapes differ (a time cap shrank one), time per unit of work
    (bytes, or FLOPs for products and convolutions), but only when both are past the cache and dispatch, on a
    roof: a dispatch-bound time per byte says nothing. Returns (ratio, normalised)."""
    if not other.get("median_s") or not base.get("median_s"):
        return None, False
    if other.get("shapes") == base.get("shapes"):
        return other["median_s"] / base["median_s"], False
    if other.get("roofline_pct") is None or base.get("roofline_pct") is None:
        return None, False
    work_other, work_base = _work(other, category), _work(base, category)
    if not work_other or not work_base:
        return None, False
    return (other["median_s"] / work_other) / (base["median_s"] / work_base), True


def _small(perf: dict[str, Any]) -> dict[str, Any]:
    return perf.get("small") or ({} if perf.get("scale") else perf)


def _geomean(values: list[float]) -> float | None:
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def ratio_section(results: list[CaseResult], categories: dict[str, str], level: int = 3) -> list[str]:
    """For targets that share a device: each one's time over the base target's, per category and per op."""
    groups: dict[str, dict[str, dict[tuple[str, str], dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for r in results:
        # By column, so a mode timed beside forward (torch:cpu/compile) is one more column compared on the device.
        groups[_device_class(r.target)][r.column][(r.op, r.dtype)] = r.perf
    out: list[str] = []
    for device, by_target in sorted(groups.items()):
        if len(by_target) < 2:
            continue
        # The base is the most timed target; on a tie torch, the framework most others are compared with.
        base = sorted(by_target, key=lambda t: (-len(by_target[t]), not t.startswith("torch:"), t))[0]
        others = sorted(t for t in by_target if t != base)
        out += [f"{'#' * level} Cross-target ratios on {device}", "",
                f"Time on each target over the time on `{base}` for the same op, dtype and shape (above 1: slower "
                f"than `{base}`), geometric mean per category; *n* counts the op x dtype pairs with a ratio at the "
                "perf shape / at the small one. Where a time cap gave the two targets different perf shapes, the "
                "ratio is of time per byte (per FLOP for products and convolutions), marked *, if both shapes are "
                "past the cache, and left out otherwise.", ""]
        summary: dict[str, dict[str, tuple[list[float], list[float]]]] = defaultdict(
            lambda: defaultdict(lambda: ([], [])))
        detail_rows = []
        for key in sorted(by_target[base], key=lambda k: (categories.get(k[0], ""), k)):
            category = categories.get(key[0], "")
            row = [f"`{key[0]}`", key[1], category]
            for target in others:
                other = by_target[target].get(key)
                if other is None:
                    row += ["", ""]
                    continue
                large, normalised = _ratio(other, by_target[base][key], category)
                small, _ = _ratio(_small(other), _small(by_target[base][key]), category)
                if large:
                    summary[category][target][0].append(large)
                if small:
                    summary[category][target][1].append(small)
                row += [(_number(large) + ("*" if normalised else "")) if large else "", _number(small)]
            detail_rows.append(row)
        headers = ["category"]
        for target in others:
            headers += [f"`{target}` perf shape", f"`{target}` small", "n"]  # n: pairs with a perf-shape / small ratio
        rows = []
        for category in sorted(summary):
            row = [category]
            for target in others:
                large, small = summary[category][target]
                row += [_number(_geomean(large)), _number(_geomean(small)), f"{len(large)}/{len(small)}"]
            rows.append(row)
        total = ["**all**"]
        for target in others:
            large = [v for per_target in summary.values() for v in per_target[target][0]]
            small = [v for per_target in summary.values() for v in per_target[target][1]]
            total += [_number(_geomean(large)), _number(_geomean(small)), f"{len(large)}/{len(small)}"]
        rows.append(total)
        sizes = ("perf shape", "small")
        detail_headers = ["op", "dtype", "category"] + [f"`{t}` {size}" for t in others for size in sizes]
        out += [table(rows, headers), "", f"<details><summary>per op ({len(detail_rows)} op x dtype pairs)</summary>",
                "", table(detail_rows, detail_headers), "", "</details>", ""]
    return out


def model_time_section(results: Iterable[CaseResult], level: int = 2) -> list[str]:
    """`run --perf --shapes-from MODEL`: per model, where each target's op time goes at the model's own shapes
    (calls x median per call, share of the target's timed total, ratio to the fastest target)."""
    from opcoverage.models.perf import OpTime, render

    by_model: dict[str, list[OpTime]] = defaultdict(list)
    for r in results:
        for entry in (r.perf or {}).get("at_model", ()):
            by_model[entry["model"]].append(OpTime(entry["op"], r.op, r.dtype, tuple(map(tuple, entry["inputs"])),
                                                   entry["calls"], r.target, entry.get("median_s"),
                                                   entry.get("note", "")))
    if not by_model:
        return []
    lines = [f"{'#' * level} Time at the models' shapes", "",
             "Each op the model calls under its own name, timed at the input shapes the model calls it with most "
             "often (`--shapes-from`).", ""]
    for model, times in sorted(by_model.items()):
        lines += render(times, model).splitlines() + [""]
    return lines
