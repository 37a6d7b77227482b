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
        "frameworks": dict(sorted(frameworks.items())),
        "targets": devices,
        "seed": seed,
        "samples": samples,
        "catalog": catalog_fingerprint,
    }
