"""Results journal: an append-only JSON-lines log of finished cases, so a killed run loses only what was in flight."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opcoverage.errors import UsageError
from opcoverage.types import CaseResult

JOURNAL_VERSION = 1
# The parts of a run that must match for its recorded cases to be reused by --resume.
IDENTITY_KEYS = ("catalog", "seed", "samples")


def journal_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".partial.jsonl")


class Journal:
    """``<out>.partial.jsonl``: a header line, then one flushed line per finished case."""

    def __init__(self, path: Path, identity: dict[str, Any]):
        self.path = path
        self.identity = {k: identity[k] for k in IDENTITY_KEYS}
        self._file = None

    def start(self, resume: bool) -> list[CaseResult]:
        """Open for appending; with ``resume``, return the cases an earlier run already recorded."""
        done: list[CaseResult] = []
        if resume and self.path.exists():
            done = self.read()
        else:
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(json.dumps({"journal": JOURNAL_VERSION, **self.identity}) + "\n")
        self._file = open(self.path, "a", encoding="utf-8")
        return done

    def read(self) -> list[CaseResult]:
        """The recorded cases, after checking that they come from a run with the same identity."""
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]  # a line cut short by a kill is dropped, then overwritten
        if len(complete) != len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
        lines = complete.decode("utf-8").splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if header.get("journal") != JOURNAL_VERSION:
            raise UsageError(f"{self.path} is not an opcoverage journal; delete it or run without --resume")
        check_identity(self.path, header, self.identity)
        done = []
        for number, line in enumerate(lines[1:], start=2):
            try:
                done.append(CaseResult.from_json(json.loads(line)))
            except (json.JSONDecodeError, KeyError, ValueError) as exc:
                raise UsageError(f"{self.path}: line {number} is damaged ({exc}); delete the journal and run again") from None
        return done

    def append(self, result: CaseResult) -> None:
        assert self._file is not None
        self._file.write(json.dumps(result.to_json(), allow_nan=False) + "\n")
        self._file.flush()

    def close(self, remove: bool) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if remove:
            self.path.unlink(missing_ok=True)


def check_identity(where: str | Path, recorded: dict[str, Any], wanted: dict[str, Any]) -> None:
    for key in IDENTITY_KEYS:
        if recorded.get(key) != wanted.get(key):
            raise UsageError(f"cannot resume from {where}: it was recorded with {key} {recorded.get(key)!r}, "
                             f"this run has {wanted.get(key)!r}; run without --resume to start over")
