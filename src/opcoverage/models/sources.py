"""Model readiness, sources: a zoo name, an .onnx file or a dotted path to a factory, made into a manifest
(cached per model, dtype and framework versions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from opcoverage.errors import UsageError
from opcoverage.models import manifest as mf


def _versions(*modules: str) -> dict[str, str]:
    import importlib

    out = {}
    for name in modules:
        try:
            out[name] = importlib.import_module(name).__version__
        except ImportError:
            continue
    return out


def _catalog_fingerprint(specs: tuple[str, ...]) -> str:
    from opcoverage.catalog.loader import load_catalog

    return load_catalog(list(specs) or None).fingerprint


def resolve_factory(ref: str) -> Callable[[], Any]:
    from opcoverage.catalog.spec import resolve_dotted

    dotted = ref.replace(":", ".")
    try:
        factory = resolve_dotted(dotted)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot import model factory {ref!r} ({exc}); name a zoo model, an .onnx file, or a "
                         "function as package.module.function that returns (module, example_inputs)") from None
    if not callable(factory):
        raise UsageError(f"{ref!r} is a {type(factory).__name__}, not a function; name a factory that returns "
                         "(module, example_inputs)")
    return factory


def is_torch_module(value: Any) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(value, torch.nn.Module)


def build_manifest(ref: str, dtype: str = "float32", specs: tuple[str, ...] = (), export_onnx: bool = True) -> mf.Manifest:
    """Trace a zoo model (by name), an ONNX file (by path) or a factory (by dotted path) into a manifest."""
    from opcoverage.models import zoo
    from opcoverage.models.mapping import Mapper

    fingerprint = _catalog_fingerprint(specs)
    if ref.endswith(".onnx") or Path(ref).is_file():
        from opcoverage.models import onnx_source

        model = onnx_source.load(ref)
        usage = onnx_source.usage(model, Mapper.for_key("onnx", specs))
        return mf.Manifest(Path(ref).stem, {"kind": "onnx", "ref": str(ref), "domain": "", "description": ""},
                           usage.ops[0].dtype if usage.ops else dtype,
                           {"forward": usage}, {},
                           {"frameworks": _versions("onnx"), "catalog": fingerprint,
                            "notes": "an ONNX file has no backward pass: train readiness does not apply"})
    if ref in zoo.ZOO:
        entry = zoo.get(ref)
        return _torch_manifest(entry.name, {"kind": "zoo", "ref": entry.name, "domain": entry.domain,
                                            "description": entry.description},
                               entry.factory, dtype, specs, entry.fake, export_onnx, fingerprint)
    if "." not in ref and ":" not in ref:
        zoo.get(ref)  # raises the error that lists the zoo
    factory = resolve_factory(ref)
    product = factory()
    if isinstance(product, tuple) and len(product) == 2 and is_torch_module(product[0]):
        return _torch_manifest(ref.rsplit(".", 1)[-1].rsplit(":", 1)[-1],
                               {"kind": "torch-factory", "ref": ref, "domain": "", "description": ""},
                               lambda: product, dtype, specs, False, export_onnx, fingerprint)
    if isinstance(product, tuple) and len(product) == 2 and callable(product[0]):
        from opcoverage.models import jax_source

        modes = jax_source.usages(lambda: product, dtype, Mapper.for_key("jax", specs))
        return mf.Manifest(ref.rsplit(".", 1)[-1], {"kind": "jax-function", "ref": ref, "domain": "",
                                                    "description": ""},
                           dtype, modes, {}, {"frameworks": _versions("jax"), "catalog": fingerprint})
    raise UsageError(f"{ref!r} returned {type(product).__name__}; a model factory must return (torch.nn.Module, "
                     "example_inputs) or (jax function, example_args)")


def _torch_manifest(name, source, factory, dtype, specs, fake, export_onnx, fingerprint) -> mf.Manifest:
    from opcoverage.models import onnx_source, torch_source
    from opcoverage.models.mapping import Mapper

    modes, n_params = torch_source.usages(factory, dtype, Mapper.for_key("torch", specs), fake=fake)
    environment = {"frameworks": _versions("torch", "transformers"), "catalog": fingerprint, "parameters": n_params,
                   "fake_tensors": fake}
    exported = {}
    if fake:
        environment["onnx_export"] = "not exported: a full-size config on fake tensors has no weights to export"
    elif export_onnx:
        try:
            import onnx

            model = onnx.load_from_string(torch_source.onnx_export(factory, dtype))
            exported["forward"] = onnx_source.usage(model, Mapper.for_key("onnx", specs),
                                                    note=f"torch.onnx.export (TorchScript), opset "
                                                         f"{torch_source.ONNX_EXPORT_OPSET}")
            environment["onnx_export"] = f"torch.onnx.export, opset {torch_source.ONNX_EXPORT_OPSET}"
        except Exception as exc:  # the export itself is what fails: recorded, and ONNX targets judge the aten ops
            environment["onnx_export"] = f"export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return mf.Manifest(name, source, dtype, modes, exported, environment)


def cache_dir() -> Path:
    from opcoverage.suites.onnx_data import cache_root

    return cache_root() / "models"


def manifest_name(model: str, dtype: str) -> str:
    return f"{model}.{dtype}.json"


def zoo_manifest(name: str, dtype: str, directory: str | Path | None = None, specs: tuple[str, ...] = ()) -> mf.Manifest:
    """A zoo model's manifest: from ``directory`` when it holds one (the committed ones), else from the cache
    when it was traced with the same torch, transformers and catalog, else traced now and cached."""
    if directory is not None:
        path = Path(directory) / manifest_name(name, dtype)
        if path.exists():
            return mf.read(path)
    cached = cache_dir() / manifest_name(name, dtype)
    expected = {"frameworks": _versions("torch", "transformers"), "catalog": _catalog_fingerprint(specs)}
    if cached.exists():
        try:
            found = mf.read(cached)
            if all(found.environment.get(k) == v for k, v in expected.items()):
                return found
        except UsageError:
            pass  # a damaged cache entry is traced again
    manifest = build_manifest(name, dtype, specs)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        mf.write(cached, manifest)
    except OSError:
        pass  # a read-only cache only costs the next run a trace
    return manifest


def read_manifests(paths: list[str]) -> list[mf.Manifest]:
    """Manifest files, or folders of them (``*.json`` that are manifests)."""
    out = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.glob("*.json")):
                data = json.loads(f.read_text(encoding="utf-8"))
                if isinstance(data, dict) and "manifest_version" in data:
                    out.append(mf.read(f))
        else:
            out.append(mf.read(path))
    return out
