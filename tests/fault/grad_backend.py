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
    from tests.fault import register

    yield from register(tmp_path, monkeypatch, "gradfault", "tests.fault.grad_backend:GradFaultBackend")
