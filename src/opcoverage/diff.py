"""Diff stage: two results files -> what changed between them (environment, verdicts, errors, speed), by case id.

The case id names the mode (types.case_id), so a grad case is compared with the grad case only; a record of a file
from before modes reads as forward (CaseResult.from_json), whose ids are unchanged, so such a file diffs cleanly
against a new forward run.

Perf follows asv's compare and TorchBench's experience: a machine that is uniformly slower is not a regression,
and a change is only trusted when it is both large and statistically significant. Each op's ratio of medians
(new over base, at the perf shape) is divided by the run-wide median ratio; a change is flagged when that
normalised ratio is past the threshold (default 10%) *and* a one-sided Mann-Whitney U test of the raw repeat
times, Benjamini-Hochberg corrected over every compared case, agrees. Large changes the test does not confirm
are listed apart, as noise to watch rather than a verdict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

from opcoverage.results import ResultsFile
from opcoverage.types import FORWARD, CaseResult, Status, column

PERF_THRESHOLD = 0.10  # a normalised change smaller than this is never flagged (TorchBench: 5-9% noise per test)
PERF_ALPHA = 0.05  # the false discovery rate of the Benjamini-Hochberg correction
ERROR_GROWTH = 2.0  # a case's max error that grows by more than this factor is reported
ERROR_FLOOR = 1e-12  # ...and by more than this much: below it, both errors are round-off of exact results
# Environment keys compared at the top of a diff; per-run bookkeeping (merged_from, categories) is not.
ENV_KEYS = ("opcoverage", "python", "implementation", "os", "machine", "cpu", "cpu_count", "cpu_features",
            "seed", "samples", "catalog", "suite", "specs")


@dataclass(frozen=True)
class CaseChange:
    """One case whose verdict changed, or that only one side has (``before``/``after`` None)."""

    id: str
    op: str
    target: str
    dtype: str
    before: str | None
    after: str | None
    message: str = ""
    before_err: float | None = None
    after_err: float | None = None
    mode: str = FORWARD

    @property
    def column(self) -> str:
        """Where the case sits in the report's matrix: ``torch:cpu``, ``torch:cpu/grad``."""
        return column(self.target, self.mode)


@dataclass(frozen=True)
class PerfChange:
    """One timed case compared across the runs: ``ratio`` is new over base, divided by the run-wide median ratio."""

    id: str
    op: str
    target: str
    dtype: str
    base_median_s: float
    new_median_s: float
    ratio: float
    q_value: float | None
    kind: str  # regression, improvement, large-not-significant


@dataclass
class Diff:
    base: str
    new: str
    environment: list[tuple[str, Any, Any]] = field(default_factory=list)
    regressions: list[CaseChange] = field(default_factory=list)  # pass -> anything else
    fixes: list[CaseChange] = field(default_factory=list)  # anything else -> pass
    changed: list[CaseChange] = field(default_factory=list)  # one failure -> another failure (or skipped)
    new_cases: list[CaseChange] = field(default_factory=list)
    removed: list[CaseChange] = field(default_factory=list)
    error_growth: list[CaseChange] = field(default_factory=list)
    perf: list[PerfChange] = field(default_factory=list)
    perf_compared: int = 0
    perf_scale: float | None = None  # the run-wide median ratio the per-op ratios were divided by
    perf_threshold: float = PERF_THRESHOLD
    unchanged: int = 0

    @property
    def perf_regressions(self) -> list[PerfChange]:
        return [p for p in self.perf if p.kind == "regression"]

    @property
    def perf_improvements(self) -> list[PerfChange]:
        return [p for p in self.perf if p.kind == "improvement"]

    @property
    def perf_unconfirmed(self) -> list[PerfChange]:
        return [p for p in self.perf if p.kind == "large-not-significant"]

    @property
    def coverage_changed(self) -> bool:
        return bool(self.regressions or self.fixes or self.changed or self.new_cases or self.removed
                    or self.error_growth)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["environment"] = [{"key": k, "base": b, "new": n} for k, b, n in self.environment]
        for name in ("regressions", "fixes", "changed", "new_cases", "removed", "error_growth"):
            for record, change in zip(data[name], getattr(self, name)):
                record["column"] = change.column
        data["counts"] = {"regressions": len(self.regressions), "fixes": len(self.fixes),
                          "changed": len(self.changed), "new_cases": len(self.new_cases),
                          "removed": len(self.removed), "error_growth": len(self.error_growth),
                          "perf_regressions": len(self.perf_regressions),
                          "perf_improvements": len(self.perf_improvements),
                          "perf_unconfirmed": len(self.perf_unconfirmed), "unchanged": self.unchanged}
        return data


def diff(base: ResultsFile, new: ResultsFile, base_name: str = "base", new_name: str = "new",
         threshold: float = PERF_THRESHOLD, alpha: float = PERF_ALPHA, error_growth: float = ERROR_GROWTH) -> Diff:
    """Everything that changed from ``base`` to ``new``, each list sorted by case id."""
    out = Diff(base_name, new_name, environment=environment_changes(base.environment, new.environment),
               perf_threshold=threshold)
    before = {r.id: r for r in base.results}
    after = {r.id: r for r in new.results}
    for cid in sorted(before.keys() | after.keys()):
        b, a = before.get(cid), after.get(cid)
        if b is None:
            out.new_cases.append(_change(a, None, a))
        elif a is None:
            out.removed.append(_change(b, b, None))
        elif b.status is Status.PASS and a.status is not Status.PASS:
            out.regressions.append(_change(a, b, a))
        elif b.status is not Status.PASS and a.status is Status.PASS:
            out.fixes.append(_change(a, b, a))
        elif b.status is not a.status:
            out.changed.append(_change(a, b, a))
        elif _error_grew(b, a, error_growth):
            out.error_growth.append(_change(a, b, a))
        else:
            out.unchanged += 1
    _perf(out, before, after, threshold, alpha)
    return out


def environment_changes(base: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, base value, new value) for each environment detail that differs: machine, packages, devices."""
    changes = [(k, base.get(k), new.get(k)) for k in ENV_KEYS if base.get(k) != new.get(k)]
    # A file from before modes ran forward only, as a run without --modes does today.
    b_modes, n_modes = _requested_modes(base), _requested_modes(new)
    if b_modes != n_modes:
        changes.append(("modes", b_modes, n_modes))
    for group in ("frameworks",):
        b, n = base.get(group, {}), new.get(group, {})
        changes += [(f"{group}.{k}", b.get(k), n.get(k)) for k in sorted(b.keys() | n.keys()) if b.get(k) != n.get(k)]
    b_targets, n_targets = base.get("targets", {}), new.get("targets", {})
    for target in sorted(b_targets.keys() | n_targets.keys()):
        for key in ("name", "driver"):
            old, now = (b_targets.get(target) or {}).get(key), (n_targets.get(target) or {}).get(key)
            if old != now:
                changes.append((f"targets.{target}.{key}", old, now))
    return changes


def _requested_modes(env: dict[str, Any]) -> list[str]:
    return list((env.get("modes") or {}).get("requested") or [FORWARD])


def _err(r: CaseResult) -> float | None:
    return r.max_rel_err if r.max_rel_err is not None else r.max_abs_err


def _change(r: CaseResult, b: CaseResult | None, a: CaseResult | None) -> CaseChange:
    message = (a.message if a is not None and a.status is not Status.PASS else b.message if b is not None else "")
    return CaseChange(r.id, r.op, r.target, r.dtype, b.status.value if b else None, a.status.value if a else None,
                      message[:300], _err(b) if b else None, _err(a) if a else None, r.mode)


def _error_grew(b: CaseResult, a: CaseResult, factor: float) -> bool:
    old, now = _err(b), _err(a)
    if now is None:
        return False
    old = old or 0.0
    return now > factor * old and now - old > ERROR_FLOOR


def _timed(r: CaseResult | None) -> dict[str, Any] | None:
    perf = r.perf if r is not None else None
    if not perf or "error" in perf or not perf.get("median_s"):
        return None
    return perf


def _perf(out: Diff, before: dict[str, CaseResult], after: dict[str, CaseResult], threshold: float,
          alpha: float) -> None:
    pairs = []
    for cid in sorted(before.keys() & after.keys()):
        b, a = _timed(before[cid]), _timed(after[cid])
        if b is None or a is None or b.get("shapes") != a.get("shapes"):
            continue  # a time cap that shrank one side's shape makes the medians incomparable
        pairs.append((after[cid], b, a, a["median_s"] / b["median_s"]))
    out.perf_compared = len(pairs)
    if not pairs:
        return
    scale = median(p[3] for p in pairs)
    out.perf_scale = scale
    p_values = [_one_sided_p(b, a, scale, ratio / scale) for _, b, a, ratio in pairs]
    q_values = benjamini_hochberg(p_values)
    for (record, b, a, ratio), q in zip(pairs, q_values):
        normalised = ratio / scale
        if abs(math.log(normalised)) < math.log1p(threshold):
            continue
        significant = q is not None and q < alpha
        kind = ("regression" if normalised > 1 else "improvement") if significant else "large-not-significant"
        out.perf.append(PerfChange(record.id, record.op, record.target, record.dtype, b["median_s"], a["median_s"],
                                   normalised, q, kind))


def _one_sided_p(b: dict[str, Any], a: dict[str, Any], scale: float, normalised: float) -> float | None:
    """Mann-Whitney U, one-sided in the direction of the change, of the new times (divided by the run-wide scale)
    against the base times. None when a record has no raw times (a results file from before they were stored)."""
    from scipy.stats import mannwhitneyu

    base_times, new_times = b.get("times_s") or [], a.get("times_s") or []
    if len(base_times) < 2 or len(new_times) < 2:
        return None
    alternative = "greater" if normalised > 1 else "less"
    return float(mannwhitneyu([t / scale for t in new_times], base_times, alternative=alternative).pvalue)


def benjamini_hochberg(p_values: list[float | None]) -> list[float | None]:
    """Adjusted p-values (q-values) controlling the false discovery rate over the tests that have a p-value."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    q: list[float | None] = [None] * len(p_values)
    running = 1.0
    for rank in range(len(indexed), 0, -1):
        p, i = indexed[rank - 1]
        running = min(running, p * len(indexed) / rank)
        q[i] = running
    return q
