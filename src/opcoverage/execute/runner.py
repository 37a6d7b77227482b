"""Execution of cases: plan op x target x dtype x sample, run one case in-process, and yield CaseResults."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import time
import traceback
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from opcoverage.backends import get_backend
from opcoverage.backends.base import NotApplicable, as_output_tuple, category_not_applicable, failed_stage
from opcoverage.catalog import dtypes as dt
from opcoverage.catalog.loader import Catalog
from opcoverage.catalog.samples import generate
from opcoverage.catalog.spec import OpSpec
from opcoverage.compare import compare, sides_with_lower_precision
from opcoverage.errors import UsageError
from opcoverage.execute import groups
from opcoverage.modes import FORWARD_MODE, Mode, grad, not_applicable, vmap
from opcoverage.types import FORWARD, CaseResult, Sample, Status, Target, as_value, case_id

MESSAGE_LIMIT = 600
OOM_EXTRA = "out_of_memory"  # set in a result's extra when the case ran out of memory: its worker is replaced
_OOM = re.compile(r"MemoryError|can't allocate memory|Cannot allocate memory|[Oo]ut of memory|bad_alloc|"
                  r"bad allocation|RESOURCE_EXHAUSTED")


def is_out_of_memory(text: str) -> bool:
    """Whether an error message or a worker's last output says an allocation failed."""
    return bool(_OOM.search(text))


@dataclass(frozen=True)
class Case:
    """One planned case; the sample itself is regenerated from (op, dtype, seed, index) where it runs."""

    op: str
    target: Target
    dtype: str
    sample: str
    label: str
    suite: str | None = None  # set when an external conformance suite planned the case and judges it
    mode: Mode = FORWARD_MODE
    group: tuple[str, ...] = ()  # the dtype/sample keys built with it as one program (opcoverage.execute.groups)

    @property
    def id(self) -> str:
        return case_id(self.op, self.target, self.dtype, self.sample, str(self.mode))

    def wanted(self, patterns: list[str] | None) -> bool:
        """Whether --cases keeps this case: no patterns, or an id or glob among them that matches its id."""
        return not patterns or any(fnmatch.fnmatchcase(self.id, pattern) for pattern in patterns)


def check_filters(catalog: Catalog, ops: list[str], dtypes: list[str]) -> None:
    unknown = [o for o in ops if o not in catalog.ops]
    if unknown:
        close = sorted(n for n in catalog.ops if unknown[0][:3] in n)[:8]
        hint = f" (similar: {', '.join(close)})" if close else ""
        raise UsageError(f"unknown op(s) {', '.join(unknown)} in --ops{hint}; `opcoverage catalog` lists the ops")
    bad = [d for d in dtypes if d not in dt.KNOWN_DTYPES]
    if bad:
        raise UsageError(f"unknown dtype(s) {', '.join(bad)} in --dtypes; known: {', '.join(dt.KNOWN_DTYPES)}")


def plan_cases(catalog: Catalog, targets: list[Target], ops: list[str] | None = None,
               dtypes: list[str] | None = None, cases: list[str] | None = None, seed: int = 0,
               samples: str = "quick", modes: list[Mode] | None = None) -> list[Case]:
    """Every case of the selected ops on the targets in each mode that applies, in catalog order; ``cases``
    filters by id or glob. A mode applies to the targets whose backend runs it (modes.not_applicable), and to
    the samples it can judge (grad: differentiable inputs in a real floating dtype; vmap: not random draws); a
    target takes the ops of the categories its backend runs (base.category_not_applicable)."""
    check_filters(catalog, list(ops or []), list(dtypes or []))
    modes = modes or [FORWARD_MODE]
    lanes = [(mode, target) for mode in modes for target in targets
             if mode.name == FORWARD or not_applicable(mode, get_backend(target.framework), target.framework) is None]
    planned: list[Case] = []
    for spec in catalog.select(ops):
        spec_lanes = [(mode, target) for mode, target in lanes
                      if category_not_applicable(get_backend(target.framework), spec.category) is None]
        for dtype in spec.dtypes:
            if dtypes and dtype not in dtypes:
                continue
            for sample in _samples(spec, dtype, seed, samples):
                for mode, target in spec_lanes:
                    if not mode_applies(mode, spec, dtype, sample):
                        continue
                    case = Case(spec.name, target, dtype, sample.id, sample.label, mode=mode)
                    if case.wanted(cases):
                        planned.append(case)
    return planned


def mode_applies(mode: Mode, spec: OpSpec, dtype: str, sample: Sample) -> bool:
    """Whether a case of this sample is planned in ``mode`` (forward, compile and export take every sample)."""
    if mode.name == "grad":
        return grad.applies(spec, dtype, sample)
    if mode.name == "vmap":
        return vmap.applies(spec.category)
    return True


@functools.lru_cache(maxsize=4096)
def _samples(spec: OpSpec, dtype: str, seed: int, mode: str) -> tuple[Sample, ...]:
    return tuple(generate(spec, dtype, seed, mode))


@functools.lru_cache(maxsize=2048)
def _reference(spec: OpSpec, dtype: str, seed: int, mode: str, index: int) -> tuple[np.ndarray, ...]:
    sample = next(s for s in _samples(spec, dtype, seed, mode) if s.index == index)
    return _call_reference(spec, sample.kwargs, *[dt.reference_input(a) for a in sample.args])


def _call_reference(spec: OpSpec, kwargs: Any, *args: np.ndarray) -> tuple[np.ndarray, ...]:
    with np.errstate(all="ignore"):
        result = spec.reference.resolve()(*args, **spec.reference.rename(kwargs))
    return tuple(as_value(r) for r in as_output_tuple(result))


def _batch(spec: OpSpec, dtype: str, seed: int, mode: str, sample: Sample) -> tuple[Sample, tuple] | str:
    """A vmap case's batch: the sample and the same sample drawn from the next seeds, with the looped reference."""
    seeds = [seed + k for k in range(vmap.BATCH)]
    members = [next((s for s in _samples(spec, dtype, k, mode) if s.index == sample.index), None) for k in seeds]
    if any(m is None for m in members):
        return "the sample does not exist under every seed of the batch"
    batched = vmap.batch(members)
    if isinstance(batched, str):
        return batched
    expected = vmap.looped([functools.partial(_reference, spec, dtype, k, mode, sample.index) for k in seeds])
    return expected if isinstance(expected, str) else (batched, expected)


def _sample_of(spec: OpSpec, seed: int, mode: str, dtype: str, sample_id: str) -> Sample | None:
    return next((s for s in _samples(spec, dtype, seed, mode) if s.id == sample_id), None)


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
    base = dict(op=case.op, target=str(case.target), dtype=case.dtype, sample=case.sample, reference=spec.reference.call,
                mode=str(case.mode))
    sample = next(s for s in _samples(spec, case.dtype, seed, mode) if s.id == case.sample)
    base["sample_desc"] = sample.describe()
    original = sample
    binding_key = getattr(backend, "binding", case.target.framework)
    if binding_key not in spec.bindings:
        return CaseResult(**base, status=Status.SKIPPED, message=f"no {binding_key} binding in the catalog")
    exclusion = spec.excluded(binding_key, case.dtype)
    if exclusion:
        return CaseResult(**base, status=Status.SKIPPED, message=f"not defined by {binding_key}: {exclusion.reason}")
    try:
        expected = _reference(spec, case.dtype, seed, mode, sample.index)
        request = None
        if case.mode.name == "grad":
            request = grad.request(spec, sample, expected)
            if request is None:
                return CaseResult(**base, status=Status.SKIPPED, message="no real floating output to differentiate")
        elif case.mode.name == "vmap":
            batched = _batch(spec, case.dtype, seed, mode, sample)
            if isinstance(batched, str):
                return CaseResult(**base, status=Status.SKIPPED, message=f"vmap: {batched}")
            sample, expected = batched
    except Exception as exc:
        return CaseResult(**base, status=Status.ERROR, message=f"reference {spec.reference.call} failed: {_message(exc)}")
    start = time.perf_counter()  # a group's first case pays for building the group
    if case.group:
        groups.build(backend, spec, case, functools.partial(_sample_of, spec, seed, mode))
    try:
        if case.mode.name == FORWARD:
            execution = backend.run(spec, sample, case.target.device)
        else:
            execution = backend.run_mode(spec, sample, case.target.device, case.mode, request)
        outputs = tuple(as_value(o) for o in execution.outputs)
    except NotApplicable as exc:
        return CaseResult(**base, status=Status.SKIPPED, message=f"not defined by {binding_key}: {exc}"[:MESSAGE_LIMIT])
    except BaseException as exc:  # noqa: BLE001 - SystemExit or KeyboardInterrupt from a binding is its own verdict
        return _raised(base, backend, exc, time.perf_counter() - start)
    duration = time.perf_counter() - start
    if request is not None:
        result = grad.check(spec, sample, request, outputs, functools.partial(_call_reference, spec, sample.kwargs),
                            execution.extra.get("no_derivative"))
    else:
        result = compare(spec, case.dtype, outputs, expected)
    status, message = result.status, result.message
    extra = dict(execution.extra)
    if status is Status.MISMATCH and request is None:
        lower = lower_precision(case.dtype)
        if lower and _matches_lower_precision(spec, sample, case.dtype, lower, outputs, expected):
            extra["computed_as"] = lower
            message = f"computes {case.dtype} in {lower}: {message}"
    if execution.fallback:
        verdict = "correct" if result.status is Status.PASS else f"and wrong: {result.message}"
        status, message = Status.FALLBACK, f"{execution.fallback} (result {verdict})"
    if result.status is Status.MISMATCH and case.mode.name not in (FORWARD, "grad"):
        extra["eager"] = _eager_verdict(spec, backend, original, case, seed, mode)
    timed = None
    first = sample.index == _samples(spec, case.dtype, seed, mode)[0].index
    if perf is not None and status is Status.PASS and case.mode.name == FORWARD and first:
        from opcoverage.perf import measure_case  # timing runs after the verdict and never changes it

        timed = measure_case(spec, sample, backend, case.target.device, perf)
    return CaseResult(**base, status=status, message=message[:MESSAGE_LIMIT], max_abs_err=result.max_abs_err,
                      max_rel_err=result.max_rel_err, dispatched=execution.dispatched, duration_s=duration,
                      extra=extra, perf=timed)


def _eager_verdict(spec: OpSpec, backend: Any, sample: Sample, case: Case, seed: int, mode: str) -> str:
    """The forward verdict of a case whose compiled, exported or batched result is wrong: "pass" means the eager
    op is right where the transformed program is not (a compiler's or a batching rule's bug, listed apart)."""
    try:
        execution = backend.run(spec, sample, case.target.device)
        outputs = tuple(as_value(o) for o in execution.outputs)
    except Exception as exc:  # noqa: BLE001 - the eager op failing too is the answer
        return f"fails: {_message(exc)}"[:200]
    return compare(spec, case.dtype, outputs, _reference(spec, case.dtype, seed, mode, sample.index)).status.value


def _raised(base: dict, backend: Any, exc: BaseException, duration: float) -> CaseResult:
    """The verdict of a case whose backend raised. Running out of memory is a `crash` (the worker is then
    replaced); an attempt to exit the process (SystemExit, KeyboardInterrupt) is the case's `error`, never the
    run's end; otherwise the backend classifies its own exception."""
    dispatched = tuple(getattr(exc, "opcov_dispatched", ()))
    if isinstance(exc, MemoryError) or (isinstance(exc, Exception) and is_out_of_memory(str(exc))):
        cap = os.environ.get("OPCOV_MAX_MEMORY")
        where = f" past the worker's cap of {int(cap) / 2**30:.3g} GiB (--max-memory)" if cap else ""
        return CaseResult(**base, status=Status.CRASH, message=f"out of memory{where}: {_message(exc)}"[:MESSAGE_LIMIT],
                          duration_s=duration, dispatched=dispatched, extra={OOM_EXTRA: True})
    if not isinstance(exc, Exception):
        return CaseResult(**base, status=Status.ERROR, duration_s=duration, dispatched=dispatched,
                          message=f"the binding raised {_message(exc)} (an attempt to end the process)"[:MESSAGE_LIMIT],
                          extra={"traceback": _short_traceback(exc)})
    message = _message(exc)
    try:
        status = Status(backend.classify(exc))
    except Exception as classify_exc:  # a backend whose classifier breaks: the original error stands
        status, message = Status.ERROR, f"{message} (and classify() raised {_message(classify_exc)})"[:MESSAGE_LIMIT]
    extra = {"traceback": _short_traceback(exc)} if status is Status.ERROR else {}
    if failed_stage(exc) is not None:  # a compile-per-case stack says where it failed (base.at_stage)
        extra["stage"] = failed_stage(exc).value
    if getattr(exc, "opcov_cached", False):  # the same build failed the same way before (cache.CompileCache)
        extra["cache"] = "hit"
    extra.update(getattr(exc, "opcov_extra", {}))  # what the backend adds about how it failed (base.Execution.extra)
    return CaseResult(**base, status=status, message=message, duration_s=duration, dispatched=dispatched,
                      extra=extra)


# The next lower precision a backend may silently compute a dtype in (OpenVINO's CPU plugin runs f64 as f32 and
# i64 as i32; IREE demotes f64 to f32), and how each array dtype narrows when it does.
LOWER_PRECISION = {"float64": "float32", "int64": "int32"}
_NARROWED = {"float64": {"float64": np.float32, "complex128": np.complex64},
             "int64": {"int64": np.int32}}


def lower_precision(dtype: str) -> str | None:
    return LOWER_PRECISION.get(dtype)


def _narrow(arrays: Iterable[np.ndarray], dtype: str) -> tuple[np.ndarray, ...]:
    table = _NARROWED[dtype]
    return tuple(a.astype(table[a.dtype.name]) if a.dtype.name in table else a for a in arrays)


def _matches_lower_precision(spec: OpSpec, sample: Sample, dtype: str, lower: str, outputs: tuple[np.ndarray, ...],
                             expected: tuple[np.ndarray, ...]) -> bool:
    """Whether a failing output is what the op gives when computed in ``lower``: against the reference on the inputs
    narrowed to ``lower`` (in float64 for floats, in the narrow type's own wrapping arithmetic for integers), both
    sides narrowed (compare.sides_with_lower_precision). That is the signature of a silent downcast."""
    try:
        args = _narrow(sample.args, dtype)
        with np.errstate(all="ignore"):
            want = spec.reference.resolve()(*[dt.reference_input(a) for a in args],
                                            **spec.reference.rename(sample.kwargs))
        want = _narrow((np.asarray(w) for w in as_output_tuple(want)), dtype)
        return sides_with_lower_precision(spec, dtype, lower, _narrow(outputs, dtype), want, expected)
    except Exception:  # a reference that cannot take the narrowed inputs proves nothing
        return False


def _short_traceback(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return " <- ".join(f"{f.name} ({f.filename.rsplit('/', 1)[-1]}:{f.lineno})" for f in reversed(frames))


def run_cases(catalog: Catalog, cases: Iterable[Case], seed: int = 0, mode: str = "quick") -> Iterator[CaseResult]:
    for case in cases:
        yield run_case(catalog, case, seed, mode)
