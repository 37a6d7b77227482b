"""External conformance suites as case sources (`run --suite onnx-node`): the registry of suites by name.

A suite plans its own cases (a ``Case`` whose ``suite`` names it) and judges them itself, with the suite's
own inputs, expected outputs and tolerances. Its verdicts are ordinary CaseResults, keyed by the suite's
test name, so they go through the same workers, results file, expectations and report as catalog cases::

    suite = get_suite("onnx-node")
    cases = suite.plan([Target("onnxruntime", "cpu")], ops=["test_add"], dtypes=[], cases=[])
    results = [suite.run(case) for case in cases]
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

from opcoverage.errors import UsageError
from opcoverage.types import CaseResult, Target

# Imported on first use: a suite may pull in a framework (onnx) and generate its data.
SUITES = {"onnx-node": "opcoverage.suites.onnx_node:OnnxNodeSuite", "opinfo": "opcoverage.suites.opinfo:OpInfoSuite"}

__all__ = ["SUITES", "Suite", "activate", "can_run", "check_targets", "get_suite", "run_suite_case",
           "runnable_targets"]


class Suite(Protocol):
    name: str
    binding: str          # which targets can run it: those whose backend consumes this binding ("onnx")
    category: str         # the report groups the suite's tests under this category
    fingerprint: str      # identifies the exact suite data, as the catalog fingerprint identifies spec files
    tests: Mapping[str, Any]  # the suite's tests by name (a test may give several cases: data sets x targets)

    def plan(self, targets: list[Target], ops: list[str], dtypes: list[str], cases: list[str]) -> list[Any]:
        """The suite's cases on the targets, filtered: ``suite.plan(targets, ["test_add"], [], [])``."""

    def run(self, case: Any) -> CaseResult:
        """Run one planned case in this process; never raises for a backend's failure."""

    def environment(self) -> dict[str, Any]:
        """What the results file records about the suite: its source, version and tolerances."""


_ACTIVE: dict[str, Suite] = {}


def get_suite(name: str) -> Suite:
    """The suite called ``name``, loaded once per process (loading may generate and cache its data)."""
    if name in _ACTIVE:
        return _ACTIVE[name]
    if name not in SUITES:
        raise UsageError(f"unknown suite {name!r} in --suite; known suites: {', '.join(sorted(SUITES))}")
    module_name, _, attr = SUITES[name].partition(":")
    module = __import__(module_name, fromlist=[attr])
    suite = getattr(module, attr)()
    _ACTIVE[name] = suite
    return suite


def activate(suite: Suite) -> None:
    """Use this (pickled) suite object for its cases here: a worker gets the parent's, already loaded, and runs
    its ``prepare_worker()`` (if any) before taking cases."""
    _ACTIVE[suite.name] = suite
    prepare = getattr(suite, "prepare_worker", None)
    if prepare is not None:
        prepare()


def run_suite_case(case: Any) -> CaseResult:
    return get_suite(case.suite).run(case)


def can_run(suite: Suite, target: Target) -> bool:
    """A target runs a suite when its backend consumes the suite's binding and can run a whole model (or as the
    suite's own ``can_run(backend)`` says)."""
    from opcoverage.backends import get_backend

    backend = get_backend(target.framework)
    if hasattr(suite, "can_run"):
        return bool(suite.can_run(backend))
    return getattr(backend, "binding", None) == suite.binding and hasattr(backend, "run_model")


def runnable_targets(suite: Suite, targets: list[Target]) -> list[Target]:
    """The default targets of a suite run: those of ``targets`` (every available one) that can run it."""
    usable = [t for t in targets if can_run(suite, t)]
    if not usable:
        need = getattr(suite, "requirement", "onnxruntime or a backend that consumes ONNX")
        raise UsageError(f"no available target runs --suite {suite.name} ({suite.binding} cases); "
                         f"install {need} (see `opcoverage targets`)")
    return usable


def check_targets(suite: Suite, targets: list[Target]) -> None:
    """Every target must be able to run the suite; else one UsageError naming those that can."""
    from opcoverage.backends import available_targets

    wrong = [str(t) for t in targets if not can_run(suite, t)]
    if wrong:
        usable = ", ".join(str(t) for t in available_targets() if can_run(suite, t)) or "none available here"
        raise UsageError(f"--suite {suite.name} runs {suite.binding} cases, which {', '.join(wrong)} "
                         f"cannot run; choose targets whose binding is {suite.binding} ({usable})")
