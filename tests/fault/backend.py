"""A fault-injecting backend for tests: each device injects one kind of failure into otherwise correct results."""

from __future__ import annotations

import os
import time

import numpy as np

from opcoverage.backends.base import (ArrayInfo, DeviceInfo, Execution, Prepared, Unsupported, as_output_tuple,
                                      classify_by_message)

FAULTS = ("ok", "wrong", "nan", "shape", "dtype", "unsupported", "error", "fallback", "missing")
# Run-to-run faults for `opcoverage diff` tests, set in the environment the workers inherit:
# OPCOV_FAULT_BREAK=op makes that op's results wrong on every device; OPCOV_FAULT_SLOW=op:1.3 makes its timed call
# (prepare) sleep 1.3 times as long as the others'. A timed call sleeps OPCOV_FAULT_CALL_S (default 1 ms).
ROOFLINE_KERNELS = {"roofline_sum": np.sum, "roofline_add": np.add, "roofline_dot": np.dot,
                    "roofline_matmul": np.matmul}


def _slowdown(op: str) -> float:
    name, _, factor = os.environ.get("OPCOV_FAULT_SLOW", "").partition(":")
    return float(factor or 1.0) if name == op else 1.0


class FaultBackend:
    """Computes each op with its own float64 reference, then breaks the result as its device says."""

    framework = "fault"
    binding = "torch"

    def devices(self):
        return [DeviceInfo(d, d != "missing", "" if d != "missing" else "no such fault device here") for d in FAULTS]

    def normalize_device(self, device):
        return device

    def version(self):
        return {"fault": "1.0"}

    def run(self, spec, sample, device):
        if device == "unsupported":
            raise Unsupported(f"fault backend has no kernel for {spec.name} in {sample.dtype}")
        if device == "error":
            raise RuntimeError("fault backend: injected failure")
        broken = "wrong" if os.environ.get("OPCOV_FAULT_BREAK") == spec.name else device
        outputs = broken_outputs(broken, spec, sample)
        fallback = "ran on the host CPU" if device == "fallback" else None
        # The worker's pid shows which worker process ran the case (tests of the pool's lanes).
        return Execution(outputs, ("fault::" + spec.name,), fallback, {"pid": os.getpid()})

    def prepare(self, spec, sample, device):
        """A timed call that sleeps a fixed time (the roofline's kernels really run, in NumPy, so the roofs are
        real numbers): time then depends only on the injected slowdown, not on the machine's arithmetic."""
        kernel = ROOFLINE_KERNELS.get(spec.name)
        if kernel is not None:
            call = lambda: kernel(*sample.args)  # noqa: E731
            start = time.perf_counter()
            out = np.asarray(call())
            return Prepared(call, (ArrayInfo(out.shape, out.dtype.name, int(out.nbytes)),), time.perf_counter() - start)
        seconds = float(os.environ.get("OPCOV_FAULT_CALL_S", "0.001")) * _slowdown(spec.name)
        call = lambda: time.sleep(seconds)  # noqa: E731
        first = sample.args[0]
        outputs = (ArrayInfo(tuple(first.shape), first.dtype.name, int(first.nbytes)),)
        start = time.perf_counter()
        call()
        return Prepared(call, outputs, time.perf_counter() - start)

    def classify(self, error):
        return classify_by_message(error)


def install(tmp_path, monkeypatch):
    """Register FaultBackend through a real `opcoverage.backends` entry point in a temporary distribution."""
    from tests.fault import register

    yield from register(tmp_path, monkeypatch, "fault", "tests.fault.backend:FaultBackend")


def reference_outputs(spec, args, kwargs) -> tuple[np.ndarray, ...]:
    """The op's own float64 reference on ``args`` (floats widened to float64): a backend that is always right."""
    wide = [a.astype(np.float64) if a.dtype.kind == "f" or a.dtype.name == "bfloat16" else a for a in args]
    with np.errstate(all="ignore"):
        result = spec.reference.resolve()(*wide, **spec.reference.rename(kwargs))
    return tuple(np.asarray(o) for o in as_output_tuple(result))


def broken_outputs(fault: str, spec, sample) -> tuple[np.ndarray, ...]:
    """The reference's outputs in the sample's dtype, the first broken as ``fault`` says: wrong (+1), nan, shape
    (one value short), dtype (float64 <-> float32); any other fault leaves them right."""
    outputs = tuple(o.astype(sample.args[0].dtype) if o.dtype.kind == "f" else o
                    for o in reference_outputs(spec, sample.args, sample.kwargs))
    first = outputs[0]
    if fault == "wrong":
        first = first + np.ones_like(first)
    elif fault == "nan" and first.dtype.kind == "f":
        first = np.full_like(first, np.nan)
    elif fault == "shape":
        first = first.reshape(-1)[:-1] if first.size else np.zeros(1, first.dtype)
    elif fault == "dtype":
        first = first.astype(np.float64 if first.dtype != np.float64 else np.float32)
    return (first,) + outputs[1:]
