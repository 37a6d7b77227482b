"""A fault-injecting torch backend for the grad mode: the real torch CPU backend, whose J^T v for one op
(OPCOV_FAULT_GRAD_OP, default sin) is 1% too large. Everything else, forward cases included, is torch's own."""

from __future__ import annotations

import dataclasses
import os

from opcoverage.backends.torch import TorchBackend

WRONG_BY = 1.01


def faulty_op() -> str:
    return os.environ.get("OPCOV_FAULT_GRAD_OP", "sin")


class GradFaultBackend(TorchBackend):
    """Targets gradfault:cpu; binds the catalog's torch calls."""

    framework = "gradfault"
    modes = ("forward", "grad")

    def run_mode(self, spec, sample, device, mode, request=None):
        execution = super().run_mode(spec, sample, device, mode, request)
        if mode.name != "grad" or spec.name != faulty_op():
            return execution
        return dataclasses.replace(execution, outputs=tuple(g * WRONG_BY for g in execution.outputs))


def install(tmp_path, monkeypatch):
    """Register GradFaultBackend through a real `opcoverage.backends` entry point in a temporary distribution."""
    from opcoverage import backends

    dist = tmp_path / "gradfault-site" / "gradfault_vendor-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gradfault-vendor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[opcoverage.backends]\ngradfault = tests.fault.grad_backend:GradFaultBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path / "gradfault-site"))
    backends.cache_clear()
    yield
    backends.cache_clear()
