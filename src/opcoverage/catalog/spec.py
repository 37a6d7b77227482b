"""Catalog records: OpSpec and its bindings, as loaded from the TOML files in op_specs/."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

# Binding keys in a spec, and the frameworks they bind. Backends name the key they consume:
# any backend that runs ONNX models consumes the `onnx` binding.
# torch_dist, jax_dist: a collective run on every rank of a process group, or every device of a mesh
BINDING_KEYS = ("torch", "jax", "onnx", "torch_dist", "jax_dist")


def resolve_dotted(path: str) -> Any:
    """Import ``package.module.attr`` (attributes may nest) and return the object; raise ImportError/AttributeError."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not module_name.startswith(exc.name):
                raise
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"no importable module in {path!r}")


@dataclass(frozen=True)
class CallBinding:
    """A callable named by its dotted path, with keyword renames from the catalog's names to the callee's."""

    call: str
    kwargs: Mapping[str, str] = field(default_factory=dict)

    def resolve(self) -> Callable[..., Any]:
        return _resolve_cached(self.call)

    def rename(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {self.kwargs.get(k, k): v for k, v in kwargs.items()}


@functools.lru_cache(maxsize=None)
def _resolve_cached(path: str) -> Any:
    return resolve_dotted(path)


@dataclass(frozen=True)
class OnnxBinding:
    """How a sample becomes a single ONNX node.

    ``inputs`` lists, in the node's input order, positional sample arguments (ints) and keyword
    arguments (``"$name"``) that become constant initializers; ``""`` leaves an optional input empty.
    ``attributes`` maps attribute names to literals or ``"$name"`` keyword references.
    ``adapter`` names a function ``(args, kwargs) -> OnnxCall`` for mappings beyond that.
    """

    op_type: str
    domain: str = ""
    opset: int | None = None
    inputs: tuple[Any, ...] | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    adapter: str | None = None

    @property
    def call(self) -> str:
        return self.adapter or f"onnx:{self.domain + '.' if self.domain else ''}{self.op_type}"


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str = ""


@dataclass(frozen=True)
class Exclusion:
    """A framework's own specification does not define this op for these dtypes; such cases are skipped."""

    framework: str
    dtypes: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class SampleSpec:
    family: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)  # hashed by identity: loaded once, used as a cache key
class OpSpec:
    name: str
    category: str
    samples: SampleSpec
    dtypes: tuple[str, ...]
    reference: CallBinding
    bindings: Mapping[str, CallBinding | OnnxBinding]
    result_dtype: tuple[str, ...] = ("same",)
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)
    exclusions: tuple[Exclusion, ...] = ()
    notes: str = ""
    source: str = ""
    grad: tuple[int, ...] | None = None  # positional inputs the grad mode differentiates; None: every floating one
    # Inputs the op reads as a symmetric matrix (one triangle): grad mode perturbs them with symmetric tangents,
    # the only directions in which the frameworks' gradients (defined on symmetric matrices) are comparable.
    grad_symmetric: tuple[int, ...] = ()
    grad_outputs: tuple[int, ...] | None = None  # outputs with cotangents in grad mode; None: every real floating one


    def excluded(self, framework: str, dtype: str) -> Exclusion | None:
        for exclusion in self.exclusions:
            if exclusion.framework == framework and dtype in exclusion.dtypes:
                return exclusion
        return None


@dataclass(frozen=True)
class OnnxCall:
    """What an ONNX adapter returns: the node's inputs in order (None leaves an optional input empty),
    which of them are constant initializers, its attributes, and optionally another op_type.

    An input is a NumPy array (a tensor, strings included) or a ``Seq`` of them (a sequence of its first tensor's
    type). ``types`` declares, by input position, an ONNX type that the value cannot show, in ONNX's own spelling:
    ``"seq(tensor(float))"`` for an empty sequence, ``"optional(tensor(int64))"`` or ``"optional(seq(tensor(float)))"``
    for an optional; None at a position it declares is an empty optional, fed as such::

        OnnxCall((None,), types={0: "optional(tensor(float))"})  # OptionalHasElement of an empty optional
    """

    inputs: tuple[Any, ...]
    attributes: Mapping[str, Any] = field(default_factory=dict)
    constants: frozenset[int] = frozenset()
    op_type: str | None = None
    n_outputs: int | None = None
    types: Mapping[int, str] = field(default_factory=dict)
