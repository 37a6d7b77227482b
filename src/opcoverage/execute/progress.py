"""Progress display: a live bar with ETA and counts per status on a terminal, a plain line now and then in CI logs."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from opcoverage.types import CaseResult, Status


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, every_s: float | None = None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.done = total, 0
        self.every_s = every_s if every_s is not None else (0.2 if self.tty else 10.0)
        self.tally: dict[str, int] = {}
        self.resumed = 0
        self.start = self.last = time.monotonic()

    def skip(self, results: list[CaseResult]) -> None:
        """Count cases recorded by an earlier run (--resume) without timing them."""
        for result in results:
            self.tally[result.status.value] = self.tally.get(result.status.value, 0) + 1
        self.done += len(results)
        self.resumed = len(results)

    def __call__(self, result: CaseResult) -> None:
        self.done += 1
        self.tally[result.status.value] = self.tally.get(result.status.value, 0) + 1
        now = time.monotonic()
        if now - self.last >= self.every_s or self.done == self.total:
            self.last = now
            self._show(now)

    def _show(self, now: float) -> None:
        elapsed = now - self.start
        ran = self.done - self.resumed
        eta = elapsed / ran * (self.total - self.done) if ran else 0.0
        counts = " ".join(f"{s.value}={self.tally[s.value]}" for s in Status if s.value in self.tally)
        if self.tty:
            width = 30
            filled = int(width * self.done / max(1, self.total))
            bar = "█" * filled + "░" * (width - filled)
            end = "\n" if self.done == self.total else ""
            self.stream.write(f"\r{bar} {self.done}/{self.total} {_clock(elapsed)} ETA {_clock(eta)}  {counts}\x1b[K{end}")
        else:
            self.stream.write(f"[{self.done}/{self.total}] {_clock(elapsed)} elapsed, ETA {_clock(eta)}: {counts}\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"
