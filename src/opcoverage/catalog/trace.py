"""Catalog tracing: which framework ops each catalog entry exercises, found by tracing its samples on the CPU."""

from __future__ import annotations

import importlib.util
from collections import defaultdict

from opcoverage.backends import get_backend
from opcoverage.catalog.loader import Catalog
from opcoverage.catalog.samples import generate

# The CPU target that traces each binding key, and the module that must be installed for it.
TRACERS = {"torch": ("torch", "torch"), "jax": ("jax", "jax"), "onnx": ("onnxruntime", "onnx")}


def trace_catalog(catalog: Catalog, seed: int = 0, mode: str = "quick") -> dict[str, set[str]]:
    """Binding key -> every framework-level op name the catalog's samples dispatch (aten overloads, ONNX
    op_types, jaxpr primitives). Samples that fail to trace contribute nothing."""
    found: dict[str, set[str]] = defaultdict(set)
    for key, (framework, module) in TRACERS.items():
        if importlib.util.find_spec(module) is None:
            continue
        backend = get_backend(framework)
        for spec in catalog:
            if key not in spec.bindings:
                continue
            for dtype in spec.dtypes:
                if spec.excluded(key, dtype):
                    continue
                for sample in generate(spec, dtype, seed, mode):
                    try:
                        found[key].update(backend.dispatched(spec, sample))
                    except Exception:  # a sample the framework rejects exercises nothing
                        continue
    return dict(found)
