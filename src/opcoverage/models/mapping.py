"""Model readiness, mapping stage: framework-level op names (aten overloads, ONNX op_types, jaxpr primitives) to
the catalog ops whose cases exercise them, so a model's usage is judged by device-neutral catalog verdicts."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from opcoverage.catalog.loader import Catalog, load_catalog
from opcoverage.catalog.samples import generate

# Which binding key traces which kind of framework op name, and the backend that traces it.
KEY_TRACERS = {"torch": "torch", "jax": "jax", "onnx": "onnxruntime"}
# jaxpr primitives that only hold other jaxprs (or move nothing): the ops inside them are what runs.
JAX_STRUCTURAL = frozenset({"jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
                            "custom_vjp_call_jaxpr", "remat", "checkpoint", "custom_lin", "name"})
MAX_INCIDENTAL = 6  # framework ops a catalog op may dispatch and still judge one of them that is not its namesake
_ATEN = re.compile(r"^aten::([A-Za-z0-9_]+)(?:\.(.+))?$")


@dataclass(frozen=True)
class Mapping:
    """The catalog op whose cases judge a framework op, and how it was found."""

    catalog_op: str | None
    how: str  # "dispatch": the catalog op's own cases dispatch this exact name; "overload": another overload of the
    # same aten op; "op_type": the catalog op's ONNX binding has this op_type; "none": the catalog lacks it


def aten_base(name: str) -> str:
    match = _ATEN.match(name)
    return match.group(1) if match else name


@functools.lru_cache(maxsize=4)
def dispatch_index(key: str, specs: tuple[str, ...] = ()) -> dict[str, frozenset[str]]:
    """Catalog op -> the framework op names its samples dispatch for binding ``key`` (traced on the CPU, the
    float32 samples where the op has them: a few seconds for the whole catalog)."""
    from opcoverage.backends import get_backend

    catalog = load_catalog(list(specs) or None)
    backend = get_backend(KEY_TRACERS[key])
    index: dict[str, frozenset[str]] = {}
    for spec in catalog:
        if key not in spec.bindings:
            continue
        dtype = "float32" if "float32" in spec.dtypes else spec.dtypes[0]
        found: set[str] = set()
        for sample in generate(spec, dtype, 0, "quick"):
            try:
                found.update(backend.dispatched(spec, sample))
            except Exception:  # a sample the framework rejects exercises nothing
                continue
        if key == "jax":
            found -= JAX_STRUCTURAL
        index[spec.name] = frozenset(found)
    return index


def _best(name: str, candidates: list[tuple[str, frozenset[str]]], base: str) -> str:
    """The candidate that is most nearly this op alone: its own name first, then the fewest other ops dispatched."""
    return min(candidates, key=lambda c: (plain_name(c[0]) != plain_name(base), len(c[1]), c[0]))[0]


def plain_name(text: str) -> str:  # MatMul, matmul and _matmul name the same op
    return text.lower().replace("_", "")


class Mapper:
    """Maps one framework's op names to catalog ops. ``Mapper.for_key("torch").map("aten::addmm")``."""

    def __init__(self, key: str, index: dict[str, frozenset[str]], catalog: Catalog | None = None):
        self.key = key
        self.index = index
        self.catalog = catalog
        self._cache: dict[str, Mapping] = {}

    @classmethod
    def for_key(cls, key: str, specs: tuple[str, ...] = ()) -> "Mapper":
        return cls(key, dispatch_index(key, specs), load_catalog(list(specs) or None) if key == "onnx" else None)

    def map(self, name: str) -> Mapping:
        if name not in self._cache:
            self._cache[name] = self._map(name)
        return self._cache[name]

    def _map(self, name: str) -> Mapping:
        base = aten_base(name) if self.key == "torch" else name
        # A catalog op judges a name it only dispatches incidentally (ones_like inside linalg_qr) only when it is
        # small enough for its verdict to be about that name.
        exact = [(op, d) for op, d in self.index.items()
                 if name in d and (plain_name(op) == plain_name(base) or len(d) <= MAX_INCIDENTAL)]
        if exact:
            return Mapping(_best(name, exact, base), "dispatch")
        if self.key == "torch":
            same_base = [(op, d) for op, d in self.index.items() if any(aten_base(n) == base for n in d)
                         and (plain_name(op) == plain_name(base) or len(d) <= MAX_INCIDENTAL)]
            if same_base:
                return Mapping(_best(name, same_base, base), "overload")
        if self.key == "onnx" and self.catalog is not None:
            bound = [op.name for op in self.catalog
                     if getattr(op.bindings.get("onnx"), "op_type", None) == name and op.name in self.index]
            if bound:
                return Mapping(sorted(bound)[0], "op_type")
        return Mapping(None, "none")
