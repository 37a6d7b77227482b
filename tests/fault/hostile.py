"""Hostile third-party backends for tests: a vendor plugin under development that crashes, hangs, exits, floods its
output or returns wrong values, one whose queries fail, and one that computes float64 in float32 (int64 in int32)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

import numpy as np

from opcoverage.backends.base import DeviceInfo, Execution, classify_by_message
from tests.fault.backend import broken_outputs, reference_outputs

# device -> what a case on it does. Each misbehaves the same way on every case.
HOSTILE = ("ok", "segfault", "abort", "exit", "sysexit", "interrupt", "sigterm", "hang", "raise", "flood", "wrong",
           "shape", "dtype", "nan")
FLOOD_BYTES = 4 * 2**20


class HostileBackend:
    framework = "hostile"
    binding = "torch"

    def devices(self):
        return [DeviceInfo(d, True, name=f"hostile {d}") for d in HOSTILE]

    def normalize_device(self, device):
        return device

    def version(self):
        return {"hostile": "0.1"}

    def run(self, spec, sample, device):
        if device == "segfault":
            ctypes.string_at(0)
        elif device == "abort":
            os.abort()
        elif device == "exit":
            os._exit(3)
        elif device == "sysexit":
            sys.exit(4)
        elif device == "interrupt":
            raise KeyboardInterrupt
        elif device == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        elif device == "hang":
            time.sleep(10_000)
        elif device == "raise":
            raise RuntimeError("hostile backend: the driver returned an error")
        elif device == "flood":  # through Python's streams and straight to the file descriptors, as C++ logging does
            chunk = "x" * 1023 + "\n"
            for _ in range(FLOOD_BYTES // 1024 // 4):
                sys.stdout.write(chunk)
                sys.stderr.write(chunk)
                os.write(1, chunk.encode())
                os.write(2, chunk.encode())
        return Execution(broken_outputs(device, spec, sample), ("hostile::" + spec.name,))

    def classify(self, error):
        return classify_by_message(error)


class FailingQueryBackend:
    """Imports and constructs, but its device query raises (a driver that is not loaded)."""

    framework = "badquery"
    binding = "torch"

    def devices(self):
        raise RuntimeError("vendor driver not loaded (libvendor.so.1: cannot open shared object file)")

    def run(self, spec, sample, device):
        raise AssertionError("never reached")

    def classify(self, error):
        return classify_by_message(error)


class HangingQueryBackend(FailingQueryBackend):
    """Its device query never returns (a driver call that hangs)."""

    framework = "hangquery"

    def devices(self):
        time.sleep(10_000)


_NARROW = {np.dtype(np.float64): np.float32, np.dtype(np.int64): np.int32}


class DowncastBackend:
    """Computes float64 in float32 and int64 in int32, correctly rounded, and hands the results back in the dtype
    it was asked for: what OpenVINO's CPU plugin and IREE's f64 demotion do, done as well as it can be done."""

    framework = "downcast"
    binding = "torch"

    def devices(self):
        return [DeviceInfo("cpu", True, name="downcasting cpu")]

    def normalize_device(self, device):
        return device

    def version(self):
        return {"downcast": "0.1"}

    def run(self, spec, sample, device):
        narrowed = [a.astype(_NARROW[a.dtype]) if a.dtype in _NARROW else a for a in sample.args]
        args = [a.astype(np.float64) if a.dtype == np.float32 else a for a in narrowed]  # the reference's float
        asked = [o.dtype for o in reference_outputs(spec, sample.args, sample.kwargs)]  # the dtypes to hand back
        outputs = []
        for out, dtype in zip(reference_outputs(spec, args, sample.kwargs), asked):
            narrow = out.astype(_NARROW[out.dtype]) if out.dtype in _NARROW else out
            outputs.append(narrow.astype(dtype))
        return Execution(tuple(outputs), ("downcast::" + spec.name,))

    def classify(self, error):
        return classify_by_message(error)
