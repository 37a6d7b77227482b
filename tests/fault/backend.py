"""A fault-injecting backend for tests: each device injects one kind of failure into otherwise correct results."""

from __future__ import annotations

import os

import numpy as np

from opcoverage.backends.base import DeviceInfo, Execution, Unsupported, as_output_tuple, classify_by_message

FAULTS = ("ok", "wrong", "nan", "shape", "dtype", "unsupported", "error", "fallback", "missing")


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
        args = [a.astype(np.float64) if a.dtype.kind == "f" or a.dtype.name == "bfloat16" else a for a in sample.args]
        outputs = tuple(np.asarray(o) for o in as_output_tuple(spec.reference.resolve()(*args, **spec.reference.rename(sample.kwargs))))
        outputs = tuple(o.astype(sample.args[0].dtype) if o.dtype.kind == "f" else o for o in outputs)
        first = outputs[0]
        if device == "wrong":
            first = first + np.ones_like(first)
        elif device == "nan" and first.dtype.kind == "f":
            first = np.full_like(first, np.nan)
        elif device == "shape":
            first = first.reshape(-1)[:-1] if first.size else np.zeros(1, first.dtype)
        elif device == "dtype":
            first = first.astype(np.float64 if first.dtype != np.float64 else np.float32)
        fallback = "ran on the host CPU" if device == "fallback" else None
        # The worker's pid shows which worker process ran the case (tests of the pool's lanes).
        return Execution((first,) + outputs[1:], ("fault::" + spec.name,), fallback, {"pid": os.getpid()})

    def classify(self, error):
        return classify_by_message(error)


def install(tmp_path, monkeypatch):
    """Register FaultBackend through a real `opcoverage.backends` entry point in a temporary distribution."""
    import sys

    from opcoverage import backends

    dist = tmp_path / "site" / "fault_vendor-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fault-vendor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[opcoverage.backends]\nfault = tests.fault.backend:FaultBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    backends.cache_clear()
    yield
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path / "site")])
    backends.cache_clear()
