"""Backend registry: the built-in framework backends plus third-party ones from the opcoverage.backends entry points.

A third-party backend is hostile input until it proves otherwise: one whose entry point fails to import or
construct, or whose ``devices()`` / ``version()`` raises or hangs, is recorded as broken with its error in one
line (``broken()``), and every other target keeps working. Entry points load lazily, by name, so a run that
does not ask for a plugin never imports it.
"""

from __future__ import annotations

import functools
import os
import threading
from importlib.metadata import entry_points
from typing import Any, Callable

from opcoverage.backends.base import Backend, DeviceInfo, Execution, Unsupported
from opcoverage.errors import UsageError
from opcoverage.types import Target

ENTRY_POINT_GROUP = "opcoverage.backends"
BUILTIN = {
    "torch": "opcoverage.backends.torch:TorchBackend",
    "jax": "opcoverage.backends.jax:JaxBackend",
    "onnxruntime": "opcoverage.backends.onnxruntime:OnnxRuntimeBackend",
    "torch_dist": "opcoverage.backends.torch_dist:TorchDistBackend",
    "torch_qengine": "opcoverage.backends.torch_qengine:TorchQEngineBackend",
    "jax_dist": "opcoverage.backends.jax_dist:JaxDistBackend",
    "openvino": "opcoverage.backends.openvino:OpenVinoBackend",
    "executorch": "opcoverage.backends.executorch:ExecuTorchBackend",
    "iree": "opcoverage.backends.iree:IreeBackend",
}
PLUGIN_CALL_TIMEOUT_S = 30.0  # a plugin's devices() or version() that takes longer is broken (a hung driver query)

__all__ = ["Backend", "DeviceInfo", "Execution", "Unsupported", "backends", "broken", "get_backend",
           "resolve_targets", "available_targets", "all_targets"]


def _load(spec: str):
    module_name, _, attr = spec.partition(":")
    module = __import__(module_name, fromlist=[attr])
    obj = getattr(module, attr)
    return obj() if isinstance(obj, type) else obj


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def call_guarded(fn: Callable[[], Any], what: str) -> Any:
    """Call a plugin's ``fn`` in a daemon thread; anything it raises (SystemExit included) or a hang past
    PLUGIN_CALL_TIMEOUT_S (OPCOV_PLUGIN_TIMEOUT) becomes a RuntimeError naming ``what``. A hung call's thread is
    abandoned, not joined."""
    timeout_s = float(os.environ.get("OPCOV_PLUGIN_TIMEOUT") or PLUGIN_CALL_TIMEOUT_S)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - a plugin's SystemExit/KeyboardInterrupt must not end the run
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"opcoverage plugin: {what}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise RuntimeError(f"{what} did not return within {timeout_s:g} s")
    if "error" in box:
        raise RuntimeError(f"{what} raised {_one_line(box['error'])}") from box["error"]
    return box["value"]


@functools.lru_cache(maxsize=None)
def _plugins() -> dict[str, Any]:
    """Entry points by name (not loaded). A name that shadows a built-in backend is ignored."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN}


_BROKEN: dict[str, str] = {}


@functools.lru_cache(maxsize=None)
def _backend(name: str) -> Backend | None:
    """The backend registered under ``name`` (a built-in or an entry point), or None if it is broken."""
    if name in BUILTIN:
        return _load(BUILTIN[name])
    ep = _plugins()[name]
    try:
        obj = call_guarded(ep.load, f"plugin {name!r} ({ep.value})")
        backend = call_guarded(obj, f"plugin {name!r} constructor") if isinstance(obj, type) else obj
        for attr in ("framework", "devices", "run", "classify"):
            if not hasattr(backend, attr):
                raise RuntimeError(f"plugin {name!r} ({ep.value}) has no {attr!r}: it does not implement the "
                                   "backend protocol (opcoverage.backends.base.Backend)")
    except RuntimeError as exc:
        _BROKEN[name] = str(exc)
        return None
    return backend


def backends() -> dict[str, Backend]:
    """Every working backend by framework name. Importing a backend never imports its framework."""
    found: dict[str, Backend] = {}
    for name in list(BUILTIN) + sorted(_plugins()):
        backend = _backend(name)
        if backend is not None:
            found[getattr(backend, "framework", name)] = backend
    return found


def broken() -> dict[str, str]:
    """Plugins that failed to load or answer, by entry-point name, with the reason in one line."""
    backends()
    for name in list(backends()):
        _devices(name)
    return dict(sorted(_BROKEN.items()))


def cache_clear() -> None:
    """Forget every loaded backend and probe (tests install plugins on the fly)."""
    _plugins.cache_clear()
    _backend.cache_clear()
    _devices.cache_clear()
    _BROKEN.clear()


def get_backend(framework: str) -> Backend:
    if framework in BUILTIN or framework in _plugins():
        backend = _backend(framework)
        if backend is not None and getattr(backend, "framework", framework) == framework:
            return backend
    found = backends()  # a plugin whose framework differs from its entry-point name
    if framework in found:
        return found[framework]
    if framework in _BROKEN:
        raise UsageError(f"backend {framework!r} is broken: {_BROKEN[framework]}; fix or uninstall the plugin "
                         "(`opcoverage targets` lists every backend and its state)")
    raise UsageError(f"unknown framework {framework!r}; known: {', '.join(sorted(found))} "
                     "(run `opcoverage targets` to list targets)")


@functools.lru_cache(maxsize=None)
def _devices(framework: str) -> tuple[DeviceInfo, ...]:
    backend = get_backend(framework)
    if framework in BUILTIN:
        return tuple(backend.devices())
    try:
        return tuple(call_guarded(backend.devices, f"plugin {framework!r} devices()"))
    except RuntimeError as exc:
        _BROKEN[framework] = str(exc)
        return ()


def backend_version(framework: str) -> dict[str, str]:
    """A backend's ``version()``; a plugin's that raises or hangs is recorded as unknown, never fatal."""
    backend = get_backend(framework)
    try:
        if framework in BUILTIN:
            return dict(backend.version())
        return dict(call_guarded(backend.version, f"plugin {framework!r} version()"))
    except Exception as exc:  # a version query must not sink a run
        return {framework: f"unknown ({_one_line(exc)})"}


def all_targets() -> list[tuple[Target, DeviceInfo]]:
    """Every known target with its availability on this machine."""
    return [(Target(name, info.device), info) for name in sorted(backends()) for info in _devices(name)]


def available_targets() -> list[Target]:
    return [target for target, info in all_targets() if info.available]


def device_info(target: Target) -> DeviceInfo:
    devices = _devices(target.framework)
    if target.framework in _BROKEN:
        return DeviceInfo(target.device, False, f"backend broken: {_BROKEN[target.framework]}")
    for info in devices:
        if info.device == target.device:
            return info
    probe = getattr(get_backend(target.framework), "probe", None)  # backends that accept open-ended device names
    if probe is not None:
        return probe(target.device)
    known = ", ".join(i.device for i in devices)
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
        normalize = getattr(backend, "normalize_device", None)
        target = Target(raw.framework, normalize(raw.device) if normalize else raw.device)
        info = device_info(target)
        if not info.available:
            available = ", ".join(map(str, available_targets())) or "none"
            raise UsageError(f"target {text!r} is not available here ({info.reason}); available targets: {available}")
        if target not in out:
            out.append(target)
    return out
