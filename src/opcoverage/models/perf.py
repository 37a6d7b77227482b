"""Model readiness, perf at real shapes: time each catalog op the model calls at the input shapes it really calls
it with (its most frequent signature), per target, and say where each target's op time goes."""

from __future__ import annotations

from dataclasses import dataclass

from opcoverage.catalog.samples import generate
from opcoverage.models.manifest import Manifest, OpUse
from opcoverage.models.mapping import aten_base, plain_name
from opcoverage.perf import shapes
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
    """The catalog op's first sample with its inputs re-tiled to the model's most frequent input shapes. Only when
    the sample has as many inputs as the call has tensors, all of one dtype: with mixed dtypes (embedding's weight
    and indices) the aten call and the catalog binding may order them differently. Whether the op accepts the new
    shapes with the sample's keyword arguments is for the run to say."""
    if not use.shapes:
        return None, "no shapes recorded"
    signature = use.shapes[0][0]
    samples = generate(spec, use.dtype, 0, "quick") if use.dtype in spec.dtypes else []
    if not samples:
        return None, f"the catalog does not test {spec.name} at {use.dtype}"
    sample = samples[0]
    if len(sample.args) != len(signature):
        return None, f"the catalog sample has {len(sample.args)} inputs, the call {len(signature)}"
    if len({a.dtype for a in sample.args}) > 1 or len(use.dtypes) > 1:
        return None, "inputs of mixed dtypes, whose order may differ between the aten call and the catalog binding"
    args = tuple(shapes.tile(a, tuple(s)) for a, s in zip(sample.args, signature))
    return Sample(sample.op, sample.dtype, sample.index, args, sample.kwargs, f"{use.name} at the model's shapes",
                  sample.seed, "contiguous"), ""


def time_model(manifest: Manifest, targets: list[str], budget_per_op_s: float = 0.2, mode: str = "forward",
               specs: tuple[str, ...] = ()) -> list[OpTime]:
    """Every namesake op use (a catalog op of the aten op's own name, so the timing is of that op) on each target."""
    from opcoverage.backends import get_backend
    from opcoverage.catalog.loader import load_catalog

    catalog = load_catalog(list(specs) or None)
    usage = manifest.modes[mode]
    out = []
    for use in usage.ops:
        if use.catalog_op is None or plain_name(use.catalog_op) != plain_name(aten_base(use.name)):
            continue
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
