"""A fault-injecting backend that builds its cases in groups (opcoverage.execute.groups): each device is one way a
group build goes wrong, while every case run alone is right."""

from __future__ import annotations

import os
import signal
import subprocess

from opcoverage.backends.base import DeviceInfo, Execution, classify_by_message
from tests.fault.backend import broken_outputs

# device -> what its group build does: ok builds, raise raises, segfault kills the worker, hang waits forever on a
# child process (whose pid it writes to the file OPCOV_FAULT_CHILDREN names).
DEVICES = ("ok", "raise", "segfault", "hang")
_BUILT: dict[tuple, int] = {}  # (op, dtype, sample) -> how many cases its group built


class GroupingBackend:
    framework = "grouping"
    binding = "torch"
    group_size = 4

    def devices(self):
        return [DeviceInfo(d, True) for d in DEVICES]

    def normalize_device(self, device):
        return device

    def version(self):
        return {"grouping": "1.0"}

    def build_group(self, spec, samples, device):
        if device == "raise":
            raise RuntimeError("the group does not build")
        if device == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        if device == "hang":  # as a compiler child process that never returns: it must die with the worker
            child = subprocess.Popen(["sleep", "3600"])
            with open(os.environ["OPCOV_FAULT_CHILDREN"], "a") as f:
                f.write(f"{child.pid}\n")
            child.wait()
        _BUILT.clear()
        _BUILT.update({(spec.name, s.dtype, s.id): len(samples) for s in samples})
        return True

    def run(self, spec, sample, device):
        extra = {"pid": os.getpid()}
        built = _BUILT.get((spec.name, sample.dtype, sample.id))
        if built:
            extra["group"] = built
        return Execution(broken_outputs("ok", spec, sample), ("grouping::" + spec.name,), None, extra)

    def classify(self, error):
        return classify_by_message(error)
