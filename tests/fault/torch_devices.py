"""Fault-injecting torch devices for the `opinfo` suite: the torch CPU, with one injected fault each.

``torchfault:noraise`` returns zeros instead of raising for one error input (torch.roll's "shifts and dimensions
must align"), as pytorch #168246's MPS op returned garbage instead of raising; ``torchfault:noalias`` ignores
``out=`` for torch.abs (it returns a new tensor and leaves ``out`` unwritten).
"""

from __future__ import annotations

import torch

from opcoverage.backends.base import DeviceInfo, NotApplicable, classify_by_message

SWALLOWED = "shifts and dimensions must align"


class TorchFaultBackend:
    framework = "torchfault"
    binding = "torch"

    def devices(self):
        return [DeviceInfo("noraise", True, name="torch cpu"), DeviceInfo("noalias", True, name="torch cpu")]

    def normalize_device(self, device):
        return device

    def version(self):
        return {"torchfault": "1.0", "torch": torch.__version__}

    def torch_device(self, device):
        return "cpu"

    def call_torch(self, fn, args, kwargs, device):
        if device == "noalias" and fn is torch.abs and "out" in kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k != "out"}
            return fn(*args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if device == "noraise" and fn is torch.roll and SWALLOWED in str(exc):
                return torch.zeros(1)
            raise

    def run(self, spec, sample, device):
        raise NotApplicable("torchfault runs only the opinfo suite")

    def classify(self, error):
        return classify_by_message(error)


def install(tmp_path, monkeypatch):
    """Register TorchFaultBackend through a real `opcoverage.backends` entry point in a temporary distribution."""
    from tests.fault import register

    yield from register(tmp_path, monkeypatch, "torchfault", "tests.fault.torch_devices:TorchFaultBackend")
