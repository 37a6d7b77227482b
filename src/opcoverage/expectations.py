"""Expected failures: per-target TOML files of known gaps, the CI gate against regressions, and stale entries.

An entry names the modes it expects to fail in (``modes = ["grad", "compile"]``, globs allowed, ``["*"]`` every
mode); without the key it is about forward cases only, so files written before modes keep their meaning and a
failure that only grad or torch.compile shows is a regression until an entry says otherwise.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from opcoverage.errors import UsageError
from opcoverage.modes import Mode, mode_order
from opcoverage.types import FORWARD, CaseResult, Status

ENTRY_KEYS = {"op", "dtypes", "samples", "status", "modes", "reason", "link"}


@dataclass(frozen=True)
class Expectation:
    """A known failure of one op on one target in some modes, optionally narrowed to dtypes, samples and a status."""

    target: str
    op: str
    reason: str
    link: str = ""
    dtypes: tuple[str, ...] = ()
    samples: tuple[str, ...] = ()
    status: str | None = None
    source: str = ""
    modes: tuple[str, ...] = (FORWARD,)  # mode names or globs ("compile*"); ("*",): every mode

    def in_mode(self, mode: str) -> bool:
        return any(fnmatch.fnmatchcase(mode, pattern) for pattern in self.modes)

    def matches(self, result: CaseResult) -> bool:
        return (result.target == self.target and self.in_mode(result.mode) and fnmatch.fnmatchcase(result.op, self.op)
                and (not self.dtypes or result.dtype in self.dtypes)
                and (not self.samples or result.sample in self.samples))

    @property
    def where(self) -> str:
        """Its target, and its modes after a slash unless it is about forward only (as types.column writes)."""
        return self.target if self.modes == (FORWARD,) else f"{self.target}/{','.join(self.modes)}"

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
                                   tuple(entry.get("dtypes", ())), tuple(entry.get("samples", ())), status, str(path),
                                   _modes(entry.get("modes", [FORWARD]), where)))
    return out


def _modes(value: object, where: str) -> tuple[str, ...]:
    """An entry's modes, each checked (a typo would silently excuse nothing) and spelled as case ids spell it."""
    if isinstance(value, str) or not isinstance(value, list) or not value:
        raise UsageError(f"{where}: modes must be a non-empty list, e.g. modes = [\"grad\", \"compile\"] or [\"*\"]")
    out = []
    for text in value:
        if any(c in str(text) for c in "*?["):
            out.append(str(text))
            continue
        try:
            out.append(str(Mode.parse(text)))
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
    return tuple(dict.fromkeys(out))


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
    stale = tuple(s for i, e in enumerate(expectations) if i in matched for s in _stale(e, matched[i]))
    ran = {(r.target, r.mode) for r in results}
    unmatched = tuple(e for i, e in enumerate(expectations)
                      if i not in matched and any(t == e.target and e.in_mode(m) for t, m in ran))
    return GateReport(tuple(regressions), tuple(expected), stale, unmatched)


def _stale(expectation: Expectation, matched: list[CaseResult]) -> list[Expectation]:
    """The entry if none of its cases fails any more; else, for an entry that names its modes one by one, the
    named modes whose cases all pass now (the entry narrowed to them: drop those from its modes). A glob stands for
    "whichever modes ran", as an absent dtypes list stands for every dtype: it is stale only as a whole."""
    failing = {r.mode for r in matched if r.status.is_failure and expectation.covers(r)}
    if not failing:
        return [expectation]
    named = [m for m in expectation.modes if not any(c in m for c in "*?[")]
    passing = [m for m in named if m not in failing and any(r.mode == m for r in matched)]
    return [replace(expectation, modes=tuple(passing))] if passing else []


def baseline(results: Iterable[CaseResult]) -> dict[str, str]:
    """Expectation files (by file name) that accept today's failures: one entry per op, target, mode and status,
    listing the failing dtypes, with the backend's own message as the reason; forward entries first, then each
    mode's, under a comment that names it. Review and add links."""
    import json
    from collections import defaultdict

    groups: dict[tuple[str, str, str, str], dict[str, str]] = defaultdict(dict)
    for r in results:
        if r.status.is_failure:
            groups[(r.target, r.mode, r.op, r.status.value)].setdefault(
                r.dtype, r.message.splitlines()[0][:200] if r.message else "")
    files: dict[str, list[str]] = defaultdict(lambda: ["# Known failures, written by `opcoverage baseline`; "
                                                       "give each a link to its upstream issue.\n"])
    last_mode: dict[str, str] = {}
    for (target, mode, op, status), dtypes in sorted(groups.items(), key=lambda kv: (kv[0][0], mode_order(kv[0][1]),
                                                                                     kv[0][2:])):
        name = target_file_name(target)
        modes = ""
        if mode != FORWARD:
            modes = f"modes = {json.dumps([mode])}\n"
            if last_mode.get(name) != mode:
                files[name].append(f"# {mode} mode\n")
        last_mode[name] = mode
        reason = next((m for m in dtypes.values() if m), status)
        files[name].append(
            f"[[expected]]\nop = {json.dumps(op)}\n{modes}dtypes = {json.dumps(sorted(dtypes))}\n"
            f"status = {json.dumps(status)}\nreason = {json.dumps(reason, ensure_ascii=True)}\nlink = \"\"\n")
    return {name: "\n".join(parts) for name, parts in files.items()}
