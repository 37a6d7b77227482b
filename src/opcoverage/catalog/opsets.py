"""Framework op sets, read live from the installed frameworks: Core ATen, ai.onnx, and the jax.lax primitives."""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from typing import Iterable

OPSETS = ("core_aten", "onnx", "jax_lax")
BINDING_OF = {"core_aten": "torch", "onnx": "onnx", "jax_lax": "jax"}
_ATEN = re.compile(r"^aten::([A-Za-z0-9_]+)")


@functools.lru_cache(maxsize=None)
def core_aten() -> frozenset[str]:
    """Base names of the aten ops with an overload tagged ``core`` (the Core ATen opset)."""
    import torch

    # dir(torch.ops.aten) lists only the ops loaded so far; the dispatcher knows every registered one.
    names = set()
    for qualified in torch._C._dispatch_get_all_op_names():
        namespace, _, rest = qualified.partition("::")
        if namespace != "aten":
            continue
        base, _, overload = rest.partition(".")
        if base in names:
            continue
        try:
            op = getattr(getattr(torch.ops.aten, base), overload or "default")
        except (AttributeError, RuntimeError):
            continue
        if torch.Tag.core in op.tags:
            names.add(base)
    return frozenset(names)


@functools.lru_cache(maxsize=None)
def onnx_ops() -> frozenset[str]:
    """The ai.onnx operators the installed onnx defines (deprecated ones aside)."""
    import onnx

    return frozenset(s.name for s in onnx.defs.get_all_schemas() if s.domain == "" and not s.deprecated)


@functools.lru_cache(maxsize=None)
def jax_lax() -> frozenset[str]:
    """The lax primitives that have a public ``jax.lax`` function of the same name."""
    import jax
    import jax._src.lax as lax_impl
    from jax.extend.core import Primitive

    names = set()
    for module_info in pkgutil.iter_modules(lax_impl.__path__):
        try:
            module = importlib.import_module(f"jax._src.lax.{module_info.name}")
        except Exception:  # an optional submodule whose dependency is missing
            continue
        names.update(v.name for v in vars(module).values() if isinstance(v, Primitive))
    return frozenset(n for n in names if callable(getattr(jax.lax, n, None)))


def opset(name: str) -> frozenset[str]:
    return {"core_aten": core_aten, "onnx": onnx_ops, "jax_lax": jax_lax}[name]()


def exercised(opset_name: str, dispatched: Iterable[str]) -> set[str]:
    """Map dispatched names (``aten::add.Tensor``, ``Add``, ``add``) to the op set's names they exercise."""
    if opset_name == "core_aten":
        out = set()
        for name in dispatched:
            match = _ATEN.match(name)
            if match:
                out.add(match.group(1))
        return out
    return set(dispatched)


def load_exclusions(directory=None) -> dict[str, dict[str, str]]:
    """The catalog's documented exclusions per op set, ``op_specs/_<opset>.toml`` (``name = "reason"``)."""
    import tomllib

    from opcoverage.catalog.loader import builtin_specs_dir
    from opcoverage.errors import CatalogError

    directory = directory or builtin_specs_dir()
    out: dict[str, dict[str, str]] = {}
    for name in OPSETS:
        path = directory / f"_{name}.toml"
        if not path.exists():
            out[name] = {}
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{path}: not valid TOML ({exc}); fix the syntax of that file") from None
        bad = [k for k, v in data.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise CatalogError(f"{path}: exclusion {bad[0]!r} needs a reason string (name = \"reason\")")
        out[name] = dict(data)
    return out


def coverage(opset_name: str, dispatched: Iterable[str], exclusions: dict[str, str]) -> dict:
    """How much of an op set the dispatched names exercise. Exclusions leave the denominator, with their reasons."""
    members = opset(opset_name)
    counted = members - set(exclusions)
    covered = exercised(opset_name, dispatched) & counted
    return {
        "covered": len(covered),
        "total": len(counted),
        "percent": round(100.0 * len(covered) / len(counted), 1) if counted else 100.0,
        "missing": sorted(counted - covered),
        "excluded": {k: v for k, v in sorted(exclusions.items()) if k in members},
    }
