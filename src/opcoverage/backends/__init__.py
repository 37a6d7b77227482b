"""Backend registry: the built-in framework backends plus third-party ones from the opcoverage.backends entry points."""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from opcoverage.backends.base import Backend, DeviceInfo, Execution, Unsupported
from opcoverage.errors import UsageError
from opcoverage.types import Target

ENTRY_POINT_GROUP = "opcoverage.backends"
BUILTIN = {
    "torch": "opcoverage.backends.torch:TorchBackend",
    "jax": "opcoverage.backends.jax:JaxBackend",
    "onnxruntime": "opcoverage.backends.onnxruntime:OnnxRuntimeBackend",
    "openvino": "opcoverage.backends.openvino:OpenVinoBackend",
    "executorch": "opcoverage.backends.executorch:ExecuTorchBackend",
    "iree": "opcoverage.backends.iree:IreeBackend",
}

__all__ = ["Backend", "DeviceInfo", "Execution", "Unsupported", "backends", "get_backend", "resolve_targets",
           "available_targets", "all_targets"]


def _load(spec: str):
    module_name, _, attr = spec.partition(":")
    module = __import__(module_name, fromlist=[attr])
    obj = getattr(module, attr)
    return obj() if isinstance(obj, type) else obj


@functools.lru_cache(maxsize=None)
def backends() -> dict[str, Backend]:
    """Every backend by framework name. Importing a backend never imports its framework."""
    found: dict[str, Backend] = {name: _load(path) for name, path in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        backend = obj() if isinstance(obj, type) else obj
        found[getattr(backend, "framework", ep.name)] = backend
    return found


def get_backend(framework: str) -> Backend:
    try:
        return backends()[framework]
    except KeyError:
        raise UsageError(f"unknown framework {framework!r}; known: {', '.join(sorted(backends()))} "
                         "(run `opcoverage targets` to list targets)") from None


@functools.lru_cache(maxsize=None)
def _devices(framework: str) -> tuple[DeviceInfo, ...]:
    return tuple(get_backend(framework).devices())


def all_targets() -> list[tuple[Target, DeviceInfo]]:
    """Every known target with its availability on this machine."""
    return [(Target(name, info.device), info) for name in sorted(backends()) for info in _devices(name)]


def available_targets() -> list[Target]:
    return [target for target, info in all_targets() if info.available]


def device_info(target: Target) -> DeviceInfo:
    for info in _devices(target.framework):
        if info.device == target.device:
            return info
    probe = getattr(get_backend(target.framework), "probe", None)  # backends that accept open-ended device names
    if probe is not None:
        return probe(target.device)
    known = ", ".join(i.device for i in _devices(target.framework))
    return DeviceInfo(target.device, False, f"unknown device; {target.framework} knows {known}")


def resolve_targets(texts: list[str] | None) -> list[Target]:
    """Parse target names, normalise device spellings, and insist that each is available here."""
    if not texts:
        targets = available_targets()
        if not targets:
            raise UsageError("no target is available on this machine; install torch, jax or onnxruntime "
                             "(see `opcoverage targets`)")
        return targets
    out: list[Target] = []
    for text in texts:
        raw = Target.parse(text)
        backend = get_backend(raw.framework)
        target = Target(raw.framework, backend.normalize_device(raw.device))
        info = device_info(target)
        if not info.available:
            available = ", ".join(map(str, available_targets())) or "none"
            raise UsageError(f"target {text!r} is not available here ({info.reason}); available targets: {available}")
        if target not in out:
            out.append(target)
    return out
