"""Perf stage, roofline: a target's memory bandwidth and matmul throughput, measured with its own framework.

Measured once per process and target (per dtype for the matmul) through the backend's own ``prepare``, on the
threads the cases get, so a case is compared with what the same framework reaches on the same machine in the
same run, not with a datasheet. Bandwidth is the best of a sum, two dot products and an elementwise add over
arrays four times the last-level cache (logical bytes: each input read once, each output written once, as the
cost model counts them); the best repetition counts, as STREAM does, because a roof is what is attainable. When an
op beats a roof anyway (the machine was busier while the roof was measured), the roof is measured again, a few
times at most, and keeps the best: it only rises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from opcoverage.catalog.samples import make_tensor
from opcoverage.catalog.spec import CallBinding, OnnxBinding, OpSpec, SampleSpec
from opcoverage.perf import shapes
from opcoverage.perf.timing import measure
from opcoverage.types import Sample

FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")
# The roofline kernels in each binding's own vocabulary: a whole-array sum, an elementwise add, a dot product
# (often another code path than the sum's, BLAS), and a matmul.
KERNELS: dict[str, dict[str, Any]] = {
    "torch": {"sum": CallBinding("torch.sum"), "add": CallBinding("torch.add"), "dot": CallBinding("torch.dot"),
              "matmul": CallBinding("torch.matmul")},
    "jax": {"sum": CallBinding("jax.numpy.sum"), "add": CallBinding("jax.numpy.add"),
            "dot": CallBinding("jax.numpy.dot"), "matmul": CallBinding("jax.numpy.matmul")},
    "onnx": {"sum": OnnxBinding("ReduceSum", attributes={"keepdims": 0}), "add": OnnxBinding("Add"),
             "dot": OnnxBinding("MatMul"), "matmul": OnnxBinding("MatMul")},
}
BANDWIDTH_LLC_MULTIPLE = 4
BEYOND_CACHE = 4  # a working set this many times the LLC streams from DRAM (at 1-2x, a victim L3 still hits)
KERNEL_BUDGET_S = 0.5
MATMUL_MIN_CALL_S = 0.02  # the matmul grows at least until one call takes this long
MATMUL_MAX_CALL_S = 0.5  # and stops before one call would take longer than this


@dataclass
class Roofline:
    """One target's roofs: ``bandwidth_gb_s`` (best kernel) and matmul GFLOP/s by dtype (None: no matmul)."""

    target: str
    threads: int | None
    llc_bytes: int
    bandwidth_gb_s: float
    kernels_gb_s: dict[str, float]
    matmul_gflop_s: dict[str, float | None] = field(default_factory=dict)
    remeasured: int = 0

    def peak_gflop_s(self, dtype: str) -> tuple[float | None, str]:
        """The compute roof for ``dtype`` and the matmul it comes from: the dtype's own matmul, or float32's where
        that is higher and the dtype is narrower (a CPU without half-precision units computes them in float32, so
        another kernel can beat the half-precision matmul); integer and bool ops are held to float32's."""
        own = self.matmul_gflop_s.get(dtype) if dtype in FLOAT_DTYPES else None
        single = self.matmul_gflop_s.get("float32")
        if own and (dtype == "float64" or not single or own >= single):
            return own, dtype
        return single, "float32"


_CACHE: dict[tuple[str, str], Roofline] = {}


def roofline(backend, device: str, dtype: str = "float32") -> Roofline:
    """The target's roofline, measured on first use in this process; the matmul for ``dtype`` is added lazily."""
    key = (backend.framework, device)
    roof = _CACHE.get(key)
    if roof is None:
        roof = _CACHE[key] = _measure_bandwidth(backend, device)
    for wanted in {"float32", dtype} & set(FLOAT_DTYPES):
        if wanted not in roof.matmul_gflop_s:
            roof.matmul_gflop_s[wanted] = _measure_matmul(backend, device, wanted)
    return roof


def _spec(binding_key: str, kernel: str) -> OpSpec:
    return OpSpec(f"roofline_{kernel}", "roofline", SampleSpec("unary"), FLOAT_DTYPES, CallBinding("numpy.sum"),
                  {binding_key: KERNELS[binding_key][kernel]})


def _best_time(prepared) -> float:
    timing = measure(prepared.call, KERNEL_BUDGET_S, min_reps=3)
    return timing.best_s


def _measure_bandwidth(backend, device: str) -> Roofline:
    llc = shapes.llc_bytes()
    results = _bandwidth_kernels(backend, device, llc)
    threads = results.pop("threads")
    if not results:
        raise RuntimeError(f"no bandwidth kernel (sum, add, dot) ran on {backend.framework}:{device}")
    return Roofline(f"{backend.framework}:{device}", threads, llc, max(results.values()), results)


def _bandwidth_kernels(backend, device: str, llc: int) -> dict[str, Any]:
    """GB/s of each streaming kernel (a kernel the target lacks is left out), plus the threads they ran on."""
    key = getattr(backend, "binding", backend.framework)
    rng = np.random.default_rng(0)
    results: dict[str, Any] = {"threads": None}
    for kernel, dtype in (("sum", "float32"), ("add", "float32"), ("dot", "float32"), ("dot", "int32")):
        n = BANDWIDTH_LLC_MULTIPLE * llc // 4  # 4-byte elements: each kernel's working set is 4x the LLC
        x = shapes.tile(make_tensor((1 << 16,), dtype, rng, "small"), (n,))
        halves = (x[: n // 2], x[n // 2:])
        args, moved = {"sum": ((x,), x.nbytes), "add": (halves, 3 * x.nbytes // 2), "dot": (halves, x.nbytes)}[kernel]
        try:
            prepared = backend.prepare(_spec(key, kernel), Sample(f"roofline_{kernel}", dtype, 0, args, {}, "", 0),
                                       device)
        except Exception:  # e.g. no integer MatMul: the other kernels still measure the roof
            continue
        results["threads"] = prepared.threads
        results[f"{kernel} {dtype}"] = moved / _best_time(prepared) / 1e9
        del prepared
    return results


REMEASURES = 6  # at most this many extra roof measurements per process and target


def raise_bandwidth(backend, device: str) -> Roofline:
    """Measure the bandwidth kernels again because an op just beat them (the machine was busier when they ran):
    the roof is the best any of them reached in this run, so it only ever rises. Bounded per process."""
    roof = roofline(backend, device)
    if roof.remeasured >= REMEASURES:
        return roof
    roof.remeasured += 1
    fresh = _bandwidth_kernels(backend, device, roof.llc_bytes)
    fresh.pop("threads")
    for kernel, value in fresh.items():
        roof.kernels_gb_s[kernel] = max(roof.kernels_gb_s.get(kernel, 0.0), value)
    roof.bandwidth_gb_s = max(roof.kernels_gb_s.values())
    return roof


def _measure_matmul(backend, device: str, dtype: str) -> float | None:
    """Best GFLOP/s of n x n matmuls in ``dtype``: n doubles from 256 while one call is short (thread wake-ups and
    dispatch still weigh) or throughput still grows by a tenth, and stops before one call would pass
    MATMUL_MAX_CALL_S."""
    key = getattr(backend, "binding", backend.framework)
    rng = np.random.default_rng(0)
    best = None
    n = 256
    try:
        while n <= 4096:
            a = make_tensor((n, n), dtype, rng, "small")
            prepared = backend.prepare(_spec(key, "matmul"), Sample("roofline_matmul", dtype, 0, (a, a), {}, "", 0),
                                       device)
            timing = measure(prepared.call, KERNEL_BUDGET_S, min_reps=2)
            gflop_s = 2 * n ** 3 / timing.best_s / 1e9
            grew = best is None or gflop_s > 1.1 * best
            best = max(best or 0.0, gflop_s)
            if (not grew and timing.best_s >= MATMUL_MIN_CALL_S) or timing.best_s * 8 > MATMUL_MAX_CALL_S:
                break
            n *= 2
    except Exception:  # no matmul for this dtype on this target: ops of that dtype use float32's roof
        return best
    return best


def raise_matmul(backend, device: str, dtype: str) -> Roofline:
    """Measure ``dtype``'s matmul again because an op just beat it; like raise_bandwidth, the roof only rises."""
    roof = roofline(backend, device, dtype)
    _, peak_dtype = roof.peak_gflop_s(dtype)
    if roof.remeasured >= REMEASURES:
        return roof
    roof.remeasured += 1
    fresh = _measure_matmul(backend, device, peak_dtype)
    roof.matmul_gflop_s[peak_dtype] = max(roof.matmul_gflop_s.get(peak_dtype) or 0.0, fresh or 0.0) or None
    return roof


def attainment(cost, median_s: float, roof: Roofline, category: str, dtype: str) -> tuple[float | None, str]:
    """Percent of the roofline one call reaches, and what bounds it: ``memory``, ``compute``, or ``cache`` when
    the working set is under BEYOND_CACHE times the LLC (part of it may still hit the cache, so the DRAM roof does
    not apply and there is no percentage) or ``none`` (no work counted).

    The roofline time is max(bytes / bandwidth, FLOPs / matmul peak); only products and convolutions are held to
    the matmul peak, since an elementwise op's per-element work is not a matmul's.
    """
    from opcoverage.perf.cost import COMPUTE_CATEGORIES

    if not cost.bytes and not cost.flops or median_s <= 0:
        return None, "none"
    memory_s = cost.bytes / (roof.bandwidth_gb_s * 1e9)
    peak, _ = roof.peak_gflop_s(dtype)
    compute_s = cost.flops / (peak * 1e9) if category in COMPUTE_CATEGORIES and peak else 0.0
    if compute_s <= memory_s and max(cost.bytes, cost.footprint) < BEYOND_CACHE * roof.llc_bytes:
        return None, "cache"
    return 100 * max(memory_s, compute_s) / median_s, "compute" if compute_s > memory_s else "memory"


def summarize(results: Any) -> dict[str, dict[str, Any]]:
    """The ``roofline`` block of a results file: per target, the roofs its perf records were judged against."""
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        roof = (r.perf or {}).get("roofline")
        if not roof:
            continue
        entry = out.setdefault(r.target, {"threads": r.perf.get("threads"), "llc_bytes": roof.get("llc_bytes"),
                                          "bandwidth_gb_s": roof.get("bandwidth_gb_s"), "matmul_gflop_s": {}})
        if (roof.get("bandwidth_gb_s") or 0) > (entry["bandwidth_gb_s"] or 0):  # workers measure their own
            entry["bandwidth_gb_s"] = roof["bandwidth_gb_s"]
        if roof.get("peak_dtype") and roof.get("peak_gflop_s"):
            known = entry["matmul_gflop_s"].get(roof["peak_dtype"]) or 0
            entry["matmul_gflop_s"][roof["peak_dtype"]] = max(known, roof["peak_gflop_s"])
    return out
