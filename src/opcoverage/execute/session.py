"""A run session: from a RunConfig to planned cases, their results and the results file (shared by CLI and pytest)."""

from __future__ import annotations

import sys
import time
from typing import Callable, Iterator, TextIO

from opcoverage import environment
from opcoverage.backends import get_backend, resolve_targets
from opcoverage.catalog.loader import load_catalog
from opcoverage.errors import UsageError
from opcoverage.execute.runner import Case, plan_cases, run_case
from opcoverage.options import RunConfig
from opcoverage.results import ResultsFile
from opcoverage.types import CaseResult, Status


class RunSession:
    """Everything a run needs, resolved and validated up front so bad input fails before any case runs."""

    def __init__(self, config: RunConfig):
        self.config = config
        self.targets = resolve_targets(config.targets)
        bindings = {getattr(get_backend(t.framework), "binding", t.framework) for t in self.targets}
        self.catalog = load_catalog(config.specs or None, frameworks=bindings & {"torch", "jax", "onnx"})
        self.cases: list[Case] = plan_cases(self.catalog, self.targets, config.ops, config.dtypes, config.cases,
                                            config.seed, config.samples)
        if not self.cases:
            raise UsageError("the filters select no case; check --ops, --dtypes and --cases against `opcoverage catalog`")

    def environment(self) -> dict:
        env = environment.collect(self.targets, self.config.seed, self.config.samples, self.catalog.fingerprint)
        env["specs"] = [str(s) for s in (self.config.specs or ["builtin"])]
        env["catalog_ops"] = len(self.catalog)
        ran = {c.op for c in self.cases}
        env["categories"] = {op.name: op.category for op in self.catalog if op.name in ran}
        return env

    def run_one(self, case: Case) -> CaseResult:
        return run_case(self.catalog, case, self.config.seed, self.config.samples)

    def results(self, progress: Callable[[CaseResult], None] | None = None) -> Iterator[CaseResult]:
        for case in self.cases:
            result = self.run_one(case)
            if progress:
                progress(result)
            yield result

    def results_file(self, results: list[CaseResult]) -> ResultsFile:
        return ResultsFile(self.environment(), tuple(results))


class PlainProgress:
    """A line every few seconds with counts per status (fit for CI logs)."""

    def __init__(self, total: int, stream: TextIO | None = None, every_s: float = 5.0):
        self.total, self.stream, self.every_s = total, stream or sys.stderr, every_s
        self.done = 0
        self.tally: dict[str, int] = {}
        self.start = self.last = time.monotonic()

    def __call__(self, result: CaseResult) -> None:
        self.done += 1
        self.tally[result.status.value] = self.tally.get(result.status.value, 0) + 1
        now = time.monotonic()
        if now - self.last >= self.every_s or self.done == self.total:
            self.last = now
            elapsed = now - self.start
            eta = elapsed / self.done * (self.total - self.done)
            counts = " ".join(f"{s.value}={self.tally[s.value]}" for s in Status if s.value in self.tally)
            print(f"[{self.done}/{self.total}] {elapsed:.0f}s elapsed, ~{eta:.0f}s left: {counts}",
                  file=self.stream, flush=True)
