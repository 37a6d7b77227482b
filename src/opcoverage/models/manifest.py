"""Model readiness, manifest stage: the record of which framework ops a model calls (overload, dtypes, input
shapes, call count, the catalog op that judges it) per mode, its JSON file and its schema."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from opcoverage.errors import UsageError

MANIFEST_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "model-manifest.schema.json"
MODES = ("forward", "train")  # train: one forward and backward pass (a training step without the optimizer)
MAX_SHAPES = 8  # distinct input-shape signatures kept per op, the most frequent first


@dataclass(frozen=True)
class OpUse:
    """One framework op at one dtype, as the model calls it."""

    name: str  # aten::addmm, Conv, dot_general
    dtype: str  # the dtype the catalog judges it at: its first floating input's, else its first input's
    calls: int
    catalog_op: str | None
    mapped_by: str
    dtypes: tuple[str, ...] = ()  # every tensor input's dtype
    shapes: tuple[tuple[tuple[tuple[int, ...], ...], int], ...] = ()  # (input shapes, calls), most frequent first
    opset: int | None = None  # ONNX: the opset version the model imports for the op's domain

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "calls": self.calls,
                                  "catalog_op": self.catalog_op, "mapped_by": self.mapped_by,
                                  "dtypes": list(self.dtypes),
                                  "shapes": [{"inputs": [list(s) for s in sig], "calls": n} for sig, n in self.shapes]}
        if self.opset is not None:
            record["opset"] = self.opset
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "OpUse":
        return cls(record["name"], record["dtype"], int(record["calls"]), record.get("catalog_op"),
                   record.get("mapped_by", "none"), tuple(record.get("dtypes", ())),
                   tuple((tuple(tuple(s) for s in sh["inputs"]), int(sh["calls"])) for sh in record.get("shapes", ())),
                   record.get("opset"))


@dataclass(frozen=True)
class Usage:
    """The ops of one mode (forward, train) as seen by one framework (torch, onnx, jax)."""

    framework: str  # the binding key whose names these are: torch, onnx, jax
    ops: tuple[OpUse, ...]
    note: str = ""

    @property
    def calls(self) -> int:
        return sum(u.calls for u in self.ops)

    def to_json(self) -> dict[str, Any]:
        record = {"framework": self.framework, "calls": self.calls, "distinct": len({u.name for u in self.ops}),
                  "ops": [u.to_json() for u in self.ops]}
        if self.note:
            record["note"] = self.note
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Usage":
        return cls(record["framework"], tuple(OpUse.from_json(u) for u in record["ops"]), record.get("note", ""))


@dataclass(frozen=True)
class Manifest:
    model: str
    source: dict[str, Any]  # kind (zoo, torch-factory, onnx, jax-function), ref, domain, description
    dtype: str
    modes: dict[str, Usage]  # forward, train
    exported: dict[str, Usage] = field(default_factory=dict)  # a torch model's ONNX export: {"forward": Usage}
    environment: dict[str, Any] = field(default_factory=dict)  # frameworks, catalog fingerprint, parameters

    def to_json(self) -> dict[str, Any]:
        return {"manifest_version": MANIFEST_VERSION, "model": self.model, "source": self.source, "dtype": self.dtype,
                "environment": self.environment, "modes": {m: u.to_json() for m, u in self.modes.items()},
                "exported": {m: u.to_json() for m, u in self.exported.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Manifest":
        return cls(data["model"], data["source"], data["dtype"],
                   {m: Usage.from_json(u) for m, u in data["modes"].items()},
                   {m: Usage.from_json(u) for m, u in data.get("exported", {}).items()}, data.get("environment", {}))

    def usage_for(self, binding: str, mode: str) -> Usage | None:
        """The usage a target of this binding key judges: a torch model's ONNX export on ONNX targets."""
        if binding == "onnx" and mode in self.exported:
            return self.exported[mode]
        return self.modes.get(mode)


def usage_from_calls(framework: str, calls: Iterable[tuple[str, str, tuple[str, ...], tuple[tuple[int, ...], ...]]],
                     mapper, opsets: dict[str, int] | None = None, note: str = "") -> Usage:
    """Aggregate (name, dtype, input dtypes, input shapes) call records into OpUses, mapped to catalog ops."""
    counts: Counter = Counter()
    shapes: dict[tuple[str, str], Counter] = {}
    dtypes: dict[tuple[str, str], set[str]] = {}
    for name, dtype, input_dtypes, input_shapes in calls:
        key = (name, dtype)
        counts[key] += 1
        shapes.setdefault(key, Counter())[input_shapes] += 1
        dtypes.setdefault(key, set()).update(input_dtypes)
    ops = []
    for (name, dtype), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        mapping = mapper.map(name)
        ops.append(OpUse(name, dtype, n, mapping.catalog_op, mapping.how, tuple(sorted(dtypes[(name, dtype)])),
                         tuple(shapes[(name, dtype)].most_common(MAX_SHAPES)),
                         (opsets or {}).get(name)))
    return Usage(framework, tuple(ops), note)


def write(path: str | Path, manifest: Manifest) -> None:
    from opcoverage.results import write_atomic

    write_atomic(path, json.dumps(manifest.to_json(), indent=1) + "\n")


def read(path: str | Path) -> Manifest:
    """Read a manifest file; a missing, corrupt or foreign file is one UsageError naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"manifest {path} does not exist; write one with `opcoverage model NAME --out {path}`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read manifest {path} ({exc}); regenerate it with `opcoverage model`") from None
    if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION:
        raise UsageError(f"{path} is not a model manifest of version {MANIFEST_VERSION}; "
                         "regenerate it with `opcoverage model NAME --out FILE`")
    try:
        return Manifest.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: damaged model manifest ({type(exc).__name__}: {exc}); regenerate it") from None
