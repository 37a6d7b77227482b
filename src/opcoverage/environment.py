"""Run environment: the machine, the packages and the targets a results file was measured with."""

from __future__ import annotations

import functools
import os
import platform
import sys
from typing import Any

from opcoverage import __version__


@functools.lru_cache(maxsize=None)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# /proc/cpuinfo flags that select kernels in the frameworks' CPU back ends (oneDNN, XLA, MLAS pick AVX2, AVX-512,
# VNNI, BF16/FP16 and AMX paths from them): the same commit can give different verdicts on machines that differ here.
KERNEL_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
                    "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
                    "asimd", "asimdhp", "sve", "sve2", "bf16", "i8mm", "sme")


@functools.lru_cache(maxsize=None)
def cpu_features() -> tuple[str, ...]:
    """The kernel-selecting ISA features of this CPU (KERNEL_CPU_FLAGS order); empty where /proc/cpuinfo is absent."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key = line.split(":", 1)[0].strip().lower()
                if key in ("flags", "features"):  # x86 says flags, arm64 says Features
                    flags.update(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return tuple(flag for flag in KERNEL_CPU_FLAGS if flag in flags)


def collect(targets: list[Any], seed: int, samples: str, catalog_fingerprint: str) -> dict[str, Any]:
    """The ``environment`` block of a results file."""
    from opcoverage.backends import backend_version, device_info

    frameworks: dict[str, str] = {}
    devices: dict[str, dict[str, str]] = {}
    for target in targets:
        frameworks.update(backend_version(target.framework))
        info = device_info(target)
        devices[str(target)] = {"name": info.name, "driver": info.driver}
    import numpy

    frameworks["numpy"] = numpy.__version__
    return {
        "opcoverage": __version__,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count() or 1,
        "cpu_features": list(cpu_features()),
        "frameworks": dict(sorted(frameworks.items())),
        "targets": devices,
        "seed": seed,
        "samples": samples,
        "catalog": catalog_fingerprint,
    }
