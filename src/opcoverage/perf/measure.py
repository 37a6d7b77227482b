"""Perf stage, measurement: the perf record of one passing case (small and large shape, cost, roofline attainment).

The small shape is the case's own sample (dispatch-bound latency). The large one scales that sample (see
``shapes``) until its working set is a multiple of the last-level cache: the reference tells how the working set
grows with the scale factor (so an op whose output outgrows its inputs, outer or kron, is known before anything
large is allocated), a probe at about 1/64 of the target measures the real growth of bytes and time on the
target, and the large factor follows, shrunk where one call would not fit the case's time cap.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from opcoverage.backends.base import ArrayInfo, Prepared
from opcoverage.catalog.dtypes import dtype_name
from opcoverage.catalog.spec import OpSpec
from opcoverage.perf import shapes
from opcoverage.perf.cost import cost_of
from opcoverage.perf.roofline import Roofline, attainment, raise_bandwidth, raise_matmul, roofline
from opcoverage.perf.timing import Timing, measure
from opcoverage.types import Sample

SMALL_SHARE = 0.25  # of a case's cap, for the small shape; the rest grows and times the large one
CALLS_PER_LARGE = 5  # a large call may take 1/5 of the time left: a warm-up call, three reps and a margin
PROBE_FRACTION = 64.0  # the probe moves about 1/64 of the large shape's bytes (a few MiB: past dispatch costs)
MIN_CASE_CAP_S, MAX_CASE_CAP_S = 0.05, 2.0


@dataclass(frozen=True)
class ModelShape:
    """A model's most frequent call of an op (``run --perf --shapes-from MODEL``): its input shapes and call count."""

    model: str
    name: str  # the framework op the model calls (aten::mm)
    inputs: tuple[tuple[int, ...], ...]
    calls: int


@dataclass(frozen=True)
class PerfConfig:
    """A process's share of a run's perf budget: ``budget_s`` seconds for about ``cases`` timed cases. Each case's
    cap is what is left over the cases left, within [MIN_CASE_CAP_S, MAX_CASE_CAP_S], so cases that overran
    leave less to the rest. The large shape's working set aims at ``llc_multiple`` times the last-level cache, the
    multiple from which the roofline's DRAM bandwidth applies (roofline.BEYOND_CACHE)."""

    budget_s: float = 60.0
    cases: int = 1
    llc_multiple: float = 4.0
    # --shapes-from: per (op, dtype), the models' shapes to time the case at, instead of the small and large shapes
    at_shapes: dict[tuple[str, str], tuple[ModelShape, ...]] = field(default_factory=dict)


class _Spent:
    """What this process has spent on perf so far (a worker runs its cases one at a time)."""

    seconds = 0.0
    cases = 0


def case_cap(config: PerfConfig) -> float:
    share = (config.budget_s - _Spent.seconds) / max(config.cases - _Spent.cases, 1)
    return min(MAX_CASE_CAP_S, max(MIN_CASE_CAP_S, share))


def config_for(cases: Any, budget_s: float, jobs: int = 1,
               at_shapes: dict[tuple[str, str], tuple[ModelShape, ...]] | None = None) -> PerfConfig:
    """A run's budget for each of ``jobs`` workers: the cases that may be timed (one per op, target and dtype) are
    shared among them, and they time side by side, so each gets the whole budget for its share."""
    timed = {(c.op, str(c.target), c.dtype) for c in cases}
    return PerfConfig(budget_s, max(1, math.ceil(len(timed) / max(jobs, 1))), at_shapes=dict(at_shapes or {}))


def measure_case(spec: OpSpec, sample: Sample, backend: Any, device: str, config: PerfConfig) -> dict[str, Any]:
    """The ``perf`` record of a passing case; a failure to time it is recorded in it, never raised."""
    if not hasattr(backend, "prepare"):
        return {"error": f"the {backend.framework} backend has no prepare(), so its cases cannot be timed"}
    start = time.perf_counter()
    try:
        roof = roofline(backend, device, sample.dtype)  # once per process and dtype, not charged to the case
        start = time.perf_counter()
        uses = config.at_shapes.get((spec.name, sample.dtype))
        if uses:
            record = _measure_at(spec, sample, backend, device, uses, roof, _CaseClock(case_cap(config)))
        else:
            record = _measure(spec, sample, backend, device, config, roof, _CaseClock(case_cap(config)))
    except Exception as exc:  # timing must never change a verdict
        record = {"error": f"{type(exc).__name__}: {str(exc).strip()}"[:300]}
    spent = time.perf_counter() - start
    _Spent.seconds += spent
    _Spent.cases += 1
    record["measure_s"] = spent  # what timing this case cost, everything included
    return record


class _CaseClock:
    """A case's time cap, not counting one-time costs: each prepared shape's first call (a compile, a session's
    creation, the first run) extends it, so a target that compiles every shape still gets its share of timing.
    The run's budget (_Spent) counts everything."""

    def __init__(self, cap: float):
        self.deadline = time.perf_counter() + cap

    def prepared(self, prepared: Prepared) -> Prepared:
        self.deadline += prepared.first_call_s
        return prepared

    def left(self) -> float:
        return max(self.deadline - time.perf_counter(), 0.0)


def _measure(spec: OpSpec, sample: Sample, backend: Any, device: str, config: PerfConfig, roof: Roofline,
             clock: _CaseClock) -> dict[str, Any]:
    """Time the small shape, grow the large one, time it, and judge it against the roof."""
    cap = clock.left()
    small_prepared = clock.prepared(backend.prepare(spec, sample, device))
    timing = measure(small_prepared.call, SMALL_SHARE * cap, flush=small_prepared.flush)
    small = _point(spec, sample, small_prepared, timing, roof)
    small_outputs = small_prepared.outputs
    del small_prepared
    plan = shapes.scale_plan(spec)
    if plan.mode is None:
        return {**_roof_record(roof, sample.dtype), **small, "note": plan.reason}
    target = config.llc_multiple * roof.llc_bytes
    grown, note = _grow(spec, sample, backend, device, plan.mode, small, small_outputs, target, clock)
    if grown is None:
        return {**_roof_record(roof, sample.dtype), **small, "note": note}
    factor, large_sample, prepared = grown
    left = clock.left()
    # A call that alone overruns what is left gets one timed repetition after its warm-up, not three.
    reps = 3 if prepared.first_call_s * CALLS_PER_LARGE <= max(left, cap) else 1
    timing = measure(prepared.call, left, min_reps=reps, flush=prepared.flush)
    large = _point(spec, large_sample, prepared, timing, roof)
    if large["bound"] in ("memory", "compute") and large["roofline_pct"] > 100:
        # An op beat the roof: the machine was busier when the roof was measured. Measure it again.
        if large["bound"] == "memory":
            roof = raise_bandwidth(backend, device)
        else:
            roof = raise_matmul(backend, device, sample.dtype)
        large = _point(spec, large_sample, prepared, timing, roof)
    out = {**_roof_record(roof, sample.dtype), **large, "scale": {"mode": plan.mode, "factor": factor},
           "small": small}
    if note:
        out["note"] = note
    return out


def _measure_at(spec: OpSpec, sample: Sample, backend: Any, device: str, uses: tuple[ModelShape, ...],
                roof: Roofline, clock: _CaseClock) -> dict[str, Any]:
    """Time the case's sample re-tiled to each model's shapes (``at_model``, one entry per model); the record's own
    timing is the first model's. A model whose call has another number of inputs, or that the op rejects at those
    shapes with the sample's keyword arguments, is listed with why instead."""
    at_model, first = [], None
    for i, use in enumerate(uses):
        entry = {"model": use.model, "op": use.name, "inputs": [list(s) for s in use.inputs], "calls": use.calls}
        at_model.append(entry)
        shaped, why = shapes.retile(sample, use.inputs, f"{use.name} at {use.model}'s shapes")
        if shaped is None:
            entry["note"] = why
            continue
        try:
            prepared = clock.prepared(backend.prepare(spec, shaped, device))
            point = _point(spec, shaped, prepared, measure(prepared.call, clock.left() / (len(uses) - i),
                                                           flush=prepared.flush), roof)
        except Exception as exc:  # an op that does not run at a model's shapes is reported, not timed
            entry["note"] = f"{type(exc).__name__}: {str(exc).strip()[:160]}"
            continue
        entry["median_s"] = point["median_s"]
        first = first or point
    if first is None:
        return {"error": "not timed at any model's shapes: " + "; ".join(e["note"] for e in at_model),
                "at_model": at_model}
    return {**_roof_record(roof, sample.dtype), **first, "at_model": at_model}


def _roof_record(roof: Roofline, dtype: str) -> dict[str, Any]:
    """The roofs a record was judged against, so the percentages can be checked from the results file alone."""
    peak, peak_dtype = roof.peak_gflop_s(dtype)
    return {"threads": roof.threads,
            "roofline": {"bandwidth_gb_s": round(roof.bandwidth_gb_s, 3),
                         "peak_gflop_s": round(peak, 3) if peak else None, "peak_dtype": peak_dtype,
                         "llc_bytes": roof.llc_bytes}}


def _grow(spec: OpSpec, sample: Sample, backend: Any, device: str, mode: str, small: dict[str, Any],
          small_outputs: tuple[ArrayInfo, ...], target: float,
          clock: _CaseClock) -> tuple[tuple[int, Sample, Prepared] | None, str]:
    """The scaled sample whose bytes reach ``target`` without its call outgrowing the time cap, prepared.

    One probe at about 1/PROBE_FRACTION of the target, sized by the reference's growth law, fixes the real growth
    of bytes and time; the large factor follows from it. None (and why) when the sample cannot grow.
    """
    itemsizes = [o.nbytes // max(math.prod(o.shape), 1) or 1 for o in small_outputs]
    try:
        exponent = shapes.growth_exponent(spec, sample, mode, itemsizes)
    except Exception as exc:
        return None, f"declared sample only: the reference rejects the inputs scaled x2 ({_reason(exc)})"
    # Bytes that grow slower at x2 than their inputs do (outputs of fixed size, unique values) still grow as
    # fast as the inputs in the end: never extrapolate with less.
    floor = shapes.input_exponent(sample, mode)
    # Shapes grow by footprint (memory touched), not by the cost model's bytes: trace touches a whole matrix
    # and reads only its diagonal.
    moved, seconds, work = float(small["footprint"]), float(small["median_s"]), max(float(small["flops"]), 1.0)
    if floor <= 0 or moved <= 0:
        return None, "declared sample only: it has no dim larger than 1 to scale"
    exponent = max(exponent, floor)
    wanted = (target / moved) ** (1 / exponent)
    if shapes.grid_floor(wanted) < 2:
        return None, "declared sample only: it already reaches the large working set"
    call_cap = clock.left() / CALLS_PER_LARGE
    # Until a probe says otherwise, all of the small call's time is taken to grow with its bytes: an upper bound.
    time_limit = (call_cap / seconds) ** (1 / exponent) if seconds > 0 else math.inf
    probe_factor = shapes.grid_floor(min(wanted / PROBE_FRACTION ** (1 / exponent), time_limit))
    factor = 1
    if probe_factor >= 2:
        try:
            probe_sample = shapes.scale_sample(sample, probe_factor, mode)
            probe = clock.prepared(backend.prepare(spec, probe_sample, device))
        except Exception as exc:
            return None, f"declared sample only: the inputs scaled x{probe_factor} were rejected ({_reason(exc)})"
        took = _quickest_call(probe, call_cap)
        cost = cost_of(spec.name, spec.category, _inputs(probe_sample), probe.outputs)
        growth = math.log(probe_factor)
        exponent = max(math.log(max(cost.footprint, 1) / moved) / growth, floor)  # measured, not predicted
        time_exp = max(exponent, math.log(max(cost.flops, 1) / work) / growth)
        factor, moved = probe_factor, float(cost.footprint)
        wanted = factor * (target / moved) ** (1 / exponent)
        call_cap = clock.left() / CALLS_PER_LARGE
        time_limit = factor * (call_cap / took) ** (1 / time_exp) if took > 0 else math.inf
    step = min(shapes.grid_ceil(wanted), shapes.grid_floor(time_limit))
    if step <= factor:
        if factor == 1:
            return None, "declared sample only: a scaled call would not fit the time cap"
        return (factor, probe_sample, probe), "the probe shape: a larger call would not fit the time cap"
    if factor > 1:
        del probe  # free the probe's arrays before allocating the large ones
    large_sample = shapes.scale_sample(sample, step, mode)
    try:
        return (step, large_sample, clock.prepared(backend.prepare(spec, large_sample, device))), ""
    except Exception as exc:
        return None, f"declared sample only: the inputs scaled x{step} were rejected ({_reason(exc)})"


def _quickest_call(prepared: Prepared, within_s: float, calls: int = 3) -> float:
    """The quickest of a few calls (fewer if they take ``within_s``): one call can catch a busy machine."""
    quickest, spent = prepared.first_call_s, 0.0
    for _ in range(calls):
        start = time.perf_counter()
        prepared.call()
        took = time.perf_counter() - start
        quickest, spent = min(quickest, took), spent + took
        if spent >= within_s:
            break
    return quickest


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:200]


def _inputs(sample: Sample) -> list[ArrayInfo]:
    return [ArrayInfo(tuple(a.shape), dtype_name(a.dtype), int(a.nbytes)) for a in sample.args]


def _point(spec: OpSpec, sample: Sample, prepared: Prepared, timing: Timing, roof: Roofline) -> dict[str, Any]:
    """One measured shape: its timing, first-call cost, work, throughput and roofline attainment."""
    cost = cost_of(spec.name, spec.category, _inputs(sample), prepared.outputs)
    median = timing.median_s
    percent, bound = attainment(cost, median, roof, spec.category, sample.dtype)
    return {
        "shapes": [list(a.shape) for a in sample.args],
        **timing.to_json(),
        "first_call_s": prepared.first_call_s,
        "bytes": cost.bytes,
        "footprint": cost.footprint,
        "flops": cost.flops,
        "cost_model": cost.model,
        "gb_s": cost.bytes / median / 1e9 if cost.bytes and median > 0 else None,
        "gflop_s": cost.flops / median / 1e9 if cost.flops and median > 0 else None,
        "roofline_pct": percent,
        "bound": bound,
    }

