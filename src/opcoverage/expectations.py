"""Expected failures: per-target TOML files of known gaps, the CI gate against regressions, and stale entries."""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from opcoverage.errors import UsageError
from opcoverage.types import CaseResult, Status

ENTRY_KEYS = {"op", "dtypes", "samples", "status", "reason", "link"}


@dataclass(frozen=True)
class Expectation:
    """A known failure of one op on one target, optionally narrowed to dtypes, samples and a status."""

    target: str
    op: str
    reason: str
    link: str = ""
    dtypes: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()
    status: str | None = None
    source: str = ""

    def matches(self, result: CaseResult) -> bool:
        return (result.target == self.target and fnmatch.fnmatchcase(result.op, self.op)
                and (not self.dtypes or result.dtype in self.dtypes)
                and (not self.samples or result.sample in self.samples))

    def covers(self, result: CaseResult) -> bool:
        """Matches and, when a status is named, fails with that status."""
        return self.matches(result) and (self.status is None or result.status.value == self.status)


def target_file_name(target: str) -> str:
    return target.replace(":", "-") + ".toml"


def load(directory: str | Path) -> list[Expectation]:
    """Read ``<framework>-<device>.toml`` files: ``[[expected]]`` tables with op, reason, link, dtypes, samples, status."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"expectations folder {directory} does not exist; pass a folder of <framework>-<device>.toml files")
    out: list[Expectation] = []
    for path in sorted(directory.glob("*.toml")):
        framework, sep, device = path.stem.partition("-")
        if not sep:
            raise UsageError(f"{path}: name expectation files <framework>-<device>.toml, e.g. torch-cpu.toml")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: not valid TOML ({exc}); fix the syntax of that file") from None
        unknown_top = set(data) - {"expected"}
        if unknown_top:
            raise UsageError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown_top))}; use [[expected]] tables")
        for i, entry in enumerate(data.get("expected", [])):
            where = f"{path}: entry {i + 1}"
            unknown = set(entry) - ENTRY_KEYS
            if unknown:
                raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(ENTRY_KEYS))}")
            if not entry.get("op") or not entry.get("reason"):
                raise UsageError(f"{where}: every expected failure needs an op and a reason")
            status = entry.get("status")
            if status is not None and status not in {s.value for s in Status if s.is_failure}:
                raise UsageError(f"{where}: status {status!r} is not a failure status")
            out.append(Expectation(f"{framework}:{device}", entry["op"], entry["reason"], entry.get("link", ""),
                                   tuple(entry.get("dtypes", ())), tuple(entry.get("samples", ())), status, str(path)))
    return out


@dataclass(frozen=True)
class GateReport:
    regressions: tuple[CaseResult, ...]
    expected: tuple[tuple[CaseResult, Expectation], ...]
    stale: tuple[Expectation, ...]
    unmatched: tuple[Expectation, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.regressions


def find_expectation(result: CaseResult, expectations: Iterable[Expectation]) -> Expectation | None:
    for expectation in expectations:
        if expectation.covers(result):
            return expectation
    return None


def gate(results: Iterable[CaseResult], expectations: list[Expectation]) -> GateReport:
    """Split failures into expected ones and regressions; find expectations that no longer fail (stale)
    and ones that match no case that ran (unmatched: a typo, or an op that was not run)."""
    results = list(results)
    regressions, expected = [], []
    matched: dict[int, list[CaseResult]] = {}
    for result in results:
        for i, expectation in enumerate(expectations):
            if expectation.matches(result) and result.status is not Status.SKIPPED:
                matched.setdefault(i, []).append(result)
        if not result.status.is_failure:
            continue
        expectation = find_expectation(result, expectations)
        if expectation is None:
            regressions.append(result)
        else:
            expected.append((result, expectation))
    stale = tuple(e for i, e in enumerate(expectations)
                  if i in matched and not any(r.status.is_failure and e.covers(r) for r in matched[i]))
    ran_targets = {r.target for r in results}
    unmatched = tuple(e for i, e in enumerate(expectations) if i not in matched and e.target in ran_targets)
    return GateReport(tuple(regressions), tuple(expected), stale, unmatched)


def baseline(results: Iterable[CaseResult]) -> dict[str, str]:
    """Expectation files (by file name) that accept today's failures: one entry per op, target and status,
    listing the failing dtypes, with the backend's own message as the reason. Review and add links."""
    import json
    from collections import defaultdict

    groups: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)
    for r in results:
        if r.status.is_failure:
            groups[(r.target, r.op, r.status.value)].setdefault(r.dtype, r.message.splitlines()[0][:200] if r.message else "")
    files: dict[str, list[str]] = defaultdict(lambda: ["# Known failures, written by `opcoverage baseline`; "
                                                       "give each a link to its upstream issue.\n"])
    for (target, op, status), dtypes in sorted(groups.items()):
        reason = next((m for m in dtypes.values() if m), status)
        files[target_file_name(target)].append(
            f"[[expected]]\nop = {json.dumps(op)}\ndtypes = {json.dumps(sorted(dtypes))}\n"
            f"status = {json.dumps(status)}\nreason = {json.dumps(reason, ensure_ascii=True)}\nlink = \"\"\n")
    return {name: "\n".join(parts) for name, parts in files.items()}
