"""Execution of cases: plan op x target x dtype x sample, run one case in-process, and yield CaseResults."""

from __future__ import annotations

import fnmatch
import functools
import time
import traceback
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from opcoverage.backends import get_backend
from opcoverage.backends.base import NotApplicable, as_output_tuple, failed_stage
from opcoverage.catalog import dtypes as dt
from opcoverage.catalog.loader import Catalog
from opcoverage.catalog.samples import generate
from opcoverage.catalog.spec import OpSpec
from opcoverage.compare import compare
from opcoverage.errors import UsageError
from opcoverage.types import CaseResult, Sample, Status, Target, case_id

MESSAGE_LIMIT = 600


@dataclass(frozen=True)
class Case:
    """One planned case; the sample itself is regenerated from (op, dtype, seed, index) where it runs."""

    op: str
    target: Target
    dtype: str
    sample: str
    label: str
    suite: str | None = None  # set when an external conformance suite planned the case and judges it

    @property
    def id(self) -> str:
        return case_id(self.op, self.target, self.dtype, self.sample)


def check_filters(catalog: Catalog, ops: list[str], dtypes: list[str]) -> None:
    unknown = [o for o in ops if o not in catalog.ops]
    if unknown:
        close = sorted(n for n in catalog.ops if unknown[0][:3] in n)[:8]
        hint = f" (similar: {', '.join(close)})" if close else ""
        raise UsageError(f"unknown op(s) {', '.join(unknown)} in --ops{hint}; `opcoverage catalog` lists the ops")
    bad = [d for d in dtypes if d not in dt.ALL_DTYPES]
    if bad:
        raise UsageError(f"unknown dtype(s) {', '.join(bad)} in --dtypes; known: {', '.join(dt.ALL_DTYPES)}")


def plan_cases(catalog: Catalog, targets: list[Target], ops: list[str] | None = None,
               dtypes: list[str] | None = None, cases: list[str] | None = None, seed: int = 0,
               samples: str = "quick") -> list[Case]:
    """Every case of the selected ops on the targets, in catalog order; ``cases`` filters by id or glob."""
    check_filters(catalog, list(ops or []), list(dtypes or []))
    planned: list[Case] = []
    for spec in catalog.select(ops):
        for dtype in spec.dtypes:
            if dtypes and dtype not in dtypes:
                continue
            for sample in _samples(spec, dtype, seed, samples):
                for target in targets:
                    case = Case(spec.name, target, dtype, sample.id, sample.label)
                    if cases and not any(fnmatch.fnmatchcase(case.id, pattern) for pattern in cases):
                        continue
                    planned.append(case)
    return planned


@functools.lru_cache(maxsize=4096)
def _samples(spec: OpSpec, dtype: str, seed: int, mode: str) -> tuple[Sample, ...]:
    return tuple(generate(spec, dtype, seed, mode))


def _to_reference_input(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float64) if dt.is_floating(dt.dtype_name(array.dtype)) else array


@functools.lru_cache(maxsize=2048)
def _reference(spec: OpSpec, dtype: str, seed: int, mode: str, index: int) -> tuple[np.ndarray, ...]:
    sample = next(s for s in _samples(spec, dtype, seed, mode) if s.index == index)
    fn = spec.reference.resolve()
    with np.errstate(all="ignore"):
        result = fn(*[_to_reference_input(a) for a in sample.args], **spec.reference.rename(sample.kwargs))
    return tuple(np.asarray(r) for r in as_output_tuple(result))


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:MESSAGE_LIMIT]


def run_case(catalog: Catalog, case: Case, seed: int = 0, mode: str = "quick", perf: Any = None) -> CaseResult:
    """Run one case in this process and return its result; never raises for a backend's failure.

    With ``perf`` (an opcoverage.perf.PerfConfig), a passing case on its op's first sample is also timed."""
    if case.suite:
        from opcoverage.suites import run_suite_case

        return run_suite_case(case)
    spec = catalog[case.op]
    backend = get_backend(case.target.framework)
    base = dict(op=case.op, target=str(case.target), dtype=case.dtype, sample=case.sample, reference=spec.reference.call)
    sample = next(s for s in _samples(spec, case.dtype, seed, mode) if s.id == case.sample)
    base["sample_desc"] = sample.describe()
    binding_key = getattr(backend, "binding", case.target.framework)
    if binding_key not in spec.bindings:
        return CaseResult(**base, status=Status.SKIPPED, message=f"no {binding_key} binding in the catalog")
    exclusion = spec.excluded(binding_key, case.dtype)
    if exclusion:
        return CaseResult(**base, status=Status.SKIPPED, message=f"not defined by {binding_key}: {exclusion.reason}")
    try:
        expected = _reference(spec, case.dtype, seed, mode, sample.index)
    except Exception as exc:
        return CaseResult(**base, status=Status.ERROR, message=f"reference {spec.reference.call} failed: {_message(exc)}")
    start = time.perf_counter()
    try:
        execution = backend.run(spec, sample, case.target.device)
    except NotApplicable as exc:
        return CaseResult(**base, status=Status.SKIPPED, message=f"not defined by {binding_key}: {exc}"[:MESSAGE_LIMIT])
    except Exception as exc:
        status = backend.classify(exc)
        extra = {"traceback": _short_traceback(exc)} if status is Status.ERROR else {}
        if failed_stage(exc) is not None:  # a compile-per-case stack says where it failed (base.at_stage)
            extra["stage"] = failed_stage(exc).value
        return CaseResult(**base, status=status, message=_message(exc), duration_s=time.perf_counter() - start,
                          dispatched=tuple(getattr(exc, "opcov_dispatched", ())), extra=extra)
    duration = time.perf_counter() - start
    outputs = tuple(np.asarray(o) for o in execution.outputs)
    result = compare(spec, case.dtype, outputs, expected)
    status, message = result.status, result.message
    if execution.fallback:
        verdict = "correct" if result.status is Status.PASS else f"and wrong: {result.message}"
        status, message = Status.FALLBACK, f"{execution.fallback} (result {verdict})"
    timed = None
    if perf is not None and status is Status.PASS and sample.index == _samples(spec, case.dtype, seed, mode)[0].index:
        from opcoverage.perf import measure_case  # timing runs after the verdict and never changes it

        timed = measure_case(spec, sample, backend, case.target.device, perf)
    return CaseResult(**base, status=status, message=message[:MESSAGE_LIMIT], max_abs_err=result.max_abs_err,
                      max_rel_err=result.max_rel_err, dispatched=execution.dispatched, duration_s=duration,
                      extra=dict(execution.extra), perf=timed)


def _short_traceback(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return " <- ".join(f"{f.name} ({f.filename.rsplit('/', 1)[-1]}:{f.lineno})" for f in reversed(frames))


def run_cases(catalog: Catalog, cases: Iterable[Case], seed: int = 0, mode: str = "quick") -> Iterator[CaseResult]:
    for case in cases:
        yield run_case(catalog, case, seed, mode)
