"""Model readiness, perf at real shapes: time each catalog op the model calls at the input shapes it really calls
it with (its most frequent signature), per target, and say where each target's op time goes."""

from __future__ import annotations

from dataclasses import dataclass

from opcoverage.catalog.samples import generate
from opcoverage.models.manifest import Manifest, OpUse
from opcoverage.models.mapping import aten_base, plain_name
from opcoverage.perf import shapes
from opcoverage.perf.measure import ModelShape
from opcoverage.perf.timing import measure
from opcoverage.types import Sample, Target


@dataclass(frozen=True)
class OpTime:
    name: str
    catalog_op: str
    dtype: str
    inputs: tuple[tuple[int, ...], ...]
    calls: int
    target: str
    median_s: float | None
    note: str = ""

    @property
    def total_s(self) -> float | None:
        return None if self.median_s is None else self.median_s * self.calls


def shaped_sample(spec, use: OpUse) -> tuple[Sample | None, str]:
    """The catalog op's first sample with its inputs re-tiled to the model's most frequent input shapes
    (perf.shapes.retile says when that cannot be)."""
    if not use.shapes:
        return None, "no shapes recorded"
    samples = generate(spec, use.dtype, 0, "quick") if use.dtype in spec.dtypes else []
    if not samples:
        return None, f"the catalog does not test {spec.name} at {use.dtype}"
    if len(use.dtypes) > 1:
        return None, shapes.MIXED_DTYPES
    return shapes.retile(samples[0], tuple(tuple(s) for s in use.shapes[0][0]), f"{use.name} at the model's shapes")


def namesake_uses(manifest: Manifest, catalog, mode: str = "forward") -> list[OpUse]:
    """The model's op uses that a catalog op of the same name exercises (so its timing is of that op)."""
    usage = manifest.modes.get(mode)
    return [use for use in (usage.ops if usage else ()) if use.catalog_op is not None and use.catalog_op in catalog
            and plain_name(use.catalog_op) == plain_name(aten_base(use.name))]


def shapes_by_case(refs: list[str], catalog, dtypes: list[str]) -> dict[tuple[str, str], tuple[ModelShape, ...]]:
    """`run --perf --shapes-from`: per (catalog op, dtype), the input shapes each named model (zoo name, dotted
    path to a factory, .onnx file) calls it with most often, for the perf stage to time the op at."""
    from opcoverage.models import sources, zoo

    found: dict[tuple[str, str], list[ModelShape]] = {}
    for ref in refs:
        for dtype in dtypes:
            manifest = sources.zoo_manifest(ref, dtype) if ref in zoo.ZOO else sources.build_manifest(ref, dtype)
            for use in namesake_uses(manifest, catalog):
                if use.shapes and len(use.dtypes) == 1:  # mixed dtypes: see perf.shapes.retile
                    found.setdefault((use.catalog_op, use.dtype), []).append(
                        ModelShape(manifest.model, use.name, tuple(tuple(s) for s in use.shapes[0][0]), use.calls))
    return {key: tuple(value) for key, value in found.items()}


def time_model(manifest: Manifest, targets: list[str], budget_per_op_s: float = 0.2, mode: str = "forward",
               specs: tuple[str, ...] = ()) -> list[OpTime]:
    """Every namesake op use (a catalog op of the aten op's own name, so the timing is of that op) on each target."""
    from opcoverage.backends import get_backend
    from opcoverage.catalog.loader import load_catalog

    catalog = load_catalog(list(specs) or None)
    out = []
    for use in namesake_uses(manifest, catalog, mode):
        spec = catalog[use.catalog_op]
        sample, why = shaped_sample(spec, use)
        inputs = use.shapes[0][0] if use.shapes else ()
        for t in targets:
            target = Target.parse(t)
            backend = get_backend(target.framework)
            if sample is None or backend.binding not in spec.bindings or not hasattr(backend, "prepare"):
                note = why or f"no {backend.binding} binding or no prepare() for {t}"
                out.append(OpTime(use.name, use.catalog_op, use.dtype, inputs, use.calls, t, None, note))
                continue
            try:
                prepared = backend.prepare(spec, sample, backend.normalize_device(target.device))
                timing = measure(prepared.call, budget_per_op_s, flush=prepared.flush)
                out.append(OpTime(use.name, use.catalog_op, use.dtype, inputs, use.calls, t, timing.median_s))
            except Exception as exc:  # an op that does not run at these shapes is reported, not timed
                out.append(OpTime(use.name, use.catalog_op, use.dtype, inputs, use.calls, t, None,
                                  f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ''}"))
    return out


def render(times: list[OpTime], model: str) -> str:
    """Per op: calls x median on each target, its share of that target's timed total, and the ratio to the fastest."""
    from opcoverage.report.tables import table

    targets = sorted({t.target for t in times})
    totals = {t: sum(x.total_s for x in times if x.target == t and x.total_s is not None) for t in targets}
    by_op: dict[tuple[str, str], dict[str, OpTime]] = {}
    for x in times:
        by_op.setdefault((x.name, x.dtype), {})[x.target] = x
    rows = []
    for (name, dtype), per in sorted(by_op.items(), key=lambda kv: -max((x.total_s or 0) for x in kv[1].values())):
        timed = [x.total_s for x in per.values() if x.total_s is not None]
        fastest = min(timed) if timed else None
        cells = []
        for t in targets:
            x = per.get(t)
            if x is None or x.total_s is None:
                cells.append("-")
                continue
            share = 100.0 * x.total_s / totals[t] if totals[t] else 0.0
            cells.append(f"{x.total_s * 1e6:.1f} us ({share:.0f}%, x{x.total_s / fastest:.1f})")
        first = next(iter(per.values()))
        notes = "; ".join(sorted({x.note for x in per.values() if x.note}))[:120]
        rows.append([f"`{name}`", dtype, str(first.calls), " ".join(str(list(s)) for s in first.inputs)] + cells
                    + [notes])
    head = [f"{model}: op time at the model's own shapes (calls x median per call; share of the target's timed "
            f"total; ratio to the fastest target)", ""]
    totals_line = ", ".join(f"{t}: {totals[t] * 1e3:.3f} ms" for t in targets)
    return "\n".join(head + [table(rows, ["op", "dtype", "calls", "inputs"] + targets + ["not timed"]), "",
                             f"timed total: {totals_line}", ""])
