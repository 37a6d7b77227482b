"""Catalog loading: read op_specs/*.toml, validate every entry, and return OpSpecs (or one clear CatalogError)."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from opcoverage.catalog import dtypes as dt
from opcoverage.catalog.samples import FAMILIES, call_signatures
from opcoverage.catalog.spec import (BINDING_KEYS, CallBinding, Exclusion, OnnxBinding, OpSpec, SampleSpec,
                                     Tolerance, resolve_dotted)
from opcoverage.errors import CatalogError

OP_KEYS = {"category", "samples", "dtypes", "reference", "result_dtype", "tolerance", "exclude", "notes", "grad",
           "grad_symmetric", "grad_outputs",
           *BINDING_KEYS}
REQUIRED_KEYS = {"category", "samples", "dtypes", "reference"}
CALL_KEYS = {"call", "kwargs"}
ONNX_KEYS = {"op_type", "domain", "opset", "inputs", "attributes", "adapter"}
RESULT_DTYPES = {"same", "bool", "int64", "index", "accumulate", "float", "complex", "real", *dt.ARRAY_DTYPES}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Which importable package each binding key needs; bindings of frameworks that are not installed are not resolved.
FRAMEWORK_MODULES = {"torch": "torch", "jax": "jax", "onnx": "onnx", "torch_dist": "torch", "jax_dist": "jax"}


def builtin_specs_dir() -> Path:
    """The shipped catalog: packaged with the wheel, or op_specs/ at the root of a source checkout."""
    packaged = Path(__file__).resolve().parent.parent / "op_specs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "op_specs"


class Catalog:
    """The loaded ops, by name, in file order, plus a fingerprint that identifies this exact catalog."""

    def __init__(self, ops: list[OpSpec], fingerprint: str):
        self.ops = {op.name: op for op in ops}
        self.fingerprint = fingerprint

    def __iter__(self):
        return iter(self.ops.values())

    def __len__(self) -> int:
        return len(self.ops)

    def __getitem__(self, name: str) -> OpSpec:
        return self.ops[name]

    def __contains__(self, name: object) -> bool:
        return name in self.ops

    def select(self, names: Iterable[str] | None) -> list[OpSpec]:
        if not names:
            return list(self.ops.values())
        return [self.ops[n] for n in names]


def load_catalog(dirs: Iterable[str | Path] | None = None, frameworks: Iterable[str] | None = None) -> Catalog:
    """Load and validate every ``*.toml`` in ``dirs`` (default: the shipped catalog).

    ``frameworks`` limits which binding keys get their callables resolved (default: every installed one).
    """
    paths: list[Path] = []
    for d in (dirs or ["builtin"]):
        directory = builtin_specs_dir() if str(d) == "builtin" else Path(d)
        if not directory.is_dir():
            raise CatalogError(f"spec directory {str(directory)!r} does not exist; pass a folder of *.toml op specs to --specs")
        found = sorted(p for p in directory.glob("*.toml") if not p.name.startswith("_"))  # _*.toml: op-set exclusions
        if not found:
            raise CatalogError(f"spec directory {str(directory)!r} holds no *.toml files; pass a folder of op specs to --specs")
        paths.extend(found)
    resolve_keys = set(BINDING_KEYS if frameworks is None else frameworks)
    resolve_keys = {k for k in resolve_keys if importlib.util.find_spec(FRAMEWORK_MODULES[k]) is not None}
    ops: list[OpSpec] = []
    seen: dict[str, str] = {}
    digest = hashlib.sha256()
    for path in paths:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CatalogError(f"{path}: not valid TOML ({exc}); fix the syntax of that file") from None
        for name, entry in data.items():
            where = f"{path}: op {name!r}"
            if name in seen:
                raise CatalogError(f"{where}: duplicate op name, already defined in {seen[name]}; rename one of them")
            seen[name] = str(path)
            ops.append(_parse_op(name, entry, where, str(path), resolve_keys))
    return Catalog(ops, digest.hexdigest()[:16])


def _fail(where: str, what: str) -> CatalogError:
    return CatalogError(f"{where}: {what}")


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str], kind: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _fail(where, f"unknown {kind} key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _parse_call(where: str, value: Any, key: str) -> CallBinding:
    if isinstance(value, str):
        return CallBinding(value)
    if not isinstance(value, dict):
        raise _fail(where, f"{key} must be a dotted path or a table with 'call'")
    _check_keys(f"{where} [{key}]", value, CALL_KEYS, key)
    if "call" not in value:
        raise _fail(where, f"{key} table needs a 'call' dotted path")
    return CallBinding(value["call"], dict(value.get("kwargs", {})))


def _parse_onnx(where: str, value: Any) -> OnnxBinding:
    if not isinstance(value, dict) or "op_type" not in value:
        raise _fail(where, "onnx binding must be a table with at least op_type")
    _check_keys(f"{where} [onnx]", value, ONNX_KEYS, "onnx")
    inputs = value.get("inputs")
    return OnnxBinding(value["op_type"], value.get("domain", ""), value.get("opset"),
                       tuple(inputs) if inputs is not None else None, dict(value.get("attributes", {})),
                       value.get("adapter"))


def _check_callable(where: str, key: str, path: str, signatures: list[tuple[int, dict[str, Any]]],
                    binding: CallBinding | None = None) -> None:
    try:
        fn = resolve_dotted(path)
    except Exception as exc:  # ImportError, AttributeError, or an error raised while importing
        raise _fail(where, f"{key} names {path!r}, which does not resolve ({type(exc).__name__}: {exc}); "
                           "give an importable dotted path") from None
    if not callable(fn):
        raise _fail(where, f"{key} names {path!r}, which is not callable")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins without introspectable signatures are checked when they run
    for arity, kwargs in signatures:
        names = binding.rename(kwargs) if binding else kwargs
        try:
            signature.bind(*([None] * arity), **{k: None for k in names})
        except TypeError as exc:
            raise _fail(where, f"{key} {path!r} cannot take {arity} positional input(s) and keywords "
                               f"{sorted(names)}: {exc}; fix the binding or use an adapter") from None


def _parse_op(name: str, entry: Any, where: str, source: str, resolve_keys: set[str]) -> OpSpec:
    if not NAME_RE.match(name):
        raise _fail(where, "op names are lower_snake_case (the torch name where one exists)")
    if not isinstance(entry, dict):
        raise _fail(where, "each op is a table of keys")
    _check_keys(where, entry, OP_KEYS, "op")
    missing = sorted(REQUIRED_KEYS - set(entry))
    if missing:
        raise _fail(where, f"missing required key(s) {', '.join(missing)}")

    samples = entry["samples"]
    samples = {"family": samples} if isinstance(samples, str) else dict(samples)
    family_name = samples.pop("family", None)
    if family_name not in FAMILIES:
        raise _fail(where, f"unknown sample family {family_name!r}; known: {', '.join(sorted(FAMILIES))}")
    family = FAMILIES[family_name]
    _check_keys(f"{where} [samples]", samples, set(family.params), f"{family_name} family")
    if family_name == "tensors" and not samples.get("cases"):
        raise _fail(where, "the tensors family needs a non-empty 'cases' list")
    signatures = call_signatures(family, samples)

    try:
        dtypes = dt.expand(list(entry["dtypes"]))
    except KeyError as exc:
        raise _fail(where, f"unknown dtype {exc.args[0]!r}; known: {', '.join(dt.known_names())}") from None

    result_dtype = entry.get("result_dtype", "same")
    result_dtype = (result_dtype,) if isinstance(result_dtype, str) else tuple(result_dtype)
    bad = [r for r in result_dtype if r not in RESULT_DTYPES]
    if bad:
        raise _fail(where, f"unknown result_dtype {bad[0]!r}; known: {', '.join(sorted(RESULT_DTYPES))}")

    tolerances = {}
    for dtype_key, tol in entry.get("tolerance", {}).items():
        if dtype_key not in dt.ARRAY_DTYPES:
            raise _fail(where, f"tolerance for unknown dtype {dtype_key!r}")
        _check_keys(f"{where} [tolerance.{dtype_key}]", tol, {"rtol", "atol", "reason"}, "tolerance")
        if not tol.get("reason"):
            raise _fail(where, f"tolerance override for {dtype_key} needs a written 'reason'")
        tolerances[dtype_key] = Tolerance(float(tol.get("rtol", 0.0)), float(tol.get("atol", 0.0)), tol["reason"])

    exclusions = []
    for ex in entry.get("exclude", []):
        _check_keys(f"{where} [exclude]", ex, {"framework", "dtypes", "reason"}, "exclude")
        if ex.get("framework") not in BINDING_KEYS or not ex.get("reason"):
            raise _fail(where, f"each exclude needs framework (one of {', '.join(BINDING_KEYS)}), dtypes and a reason")
        exclusions.append(Exclusion(ex["framework"], dt.expand(list(ex.get("dtypes", dtypes))), ex["reason"]))

    grad = entry.get("grad")
    if grad is not None:  # the differentiable positional inputs (grad mode); false or [] for none
        if grad is False:
            grad = []
        if not isinstance(grad, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                                  for i in grad):
            raise _fail(where, "grad lists the differentiable positional inputs by index ([0, 1]), or is false")
        grad = tuple(grad)
    grad_outputs = entry.get("grad_outputs")  # the outputs the grad mode puts cotangents on; absent: every float one
    if grad_outputs is not None:
        if not isinstance(grad_outputs, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                                          for i in grad_outputs) or not grad_outputs:
            raise _fail(where, "grad_outputs lists the differentiable outputs by index ([0])")
        grad_outputs = tuple(grad_outputs)
    symmetric = entry.get("grad_symmetric", [])
    if not isinstance(symmetric, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                                                  for i in symmetric):
        raise _fail(where, "grad_symmetric lists the inputs read as symmetric matrices by index ([0])")

    reference = _parse_call(where, entry["reference"], "reference")
    _check_callable(where, "reference", reference.call, signatures, reference)

    bindings: dict[str, CallBinding | OnnxBinding] = {}
    for key in BINDING_KEYS:
        if key not in entry:
            continue
        if key == "onnx":
            binding = _parse_onnx(where, entry[key])
            if binding.adapter and key in resolve_keys:
                _check_callable(where, "onnx adapter", binding.adapter, [(2, {})])
        else:
            binding = _parse_call(where, entry[key], key)
            if key in resolve_keys:
                _check_callable(where, key, binding.call, signatures, binding)
        bindings[key] = binding

    return OpSpec(name=name, category=str(entry["category"]), samples=SampleSpec(family_name, samples),
                  dtypes=dtypes, reference=reference, bindings=bindings, result_dtype=result_dtype,
                  tolerances=tolerances, exclusions=tuple(exclusions), notes=str(entry.get("notes", "")),
                  source=source, grad=grad, grad_symmetric=tuple(symmetric), grad_outputs=grad_outputs)
