"""Report stage, model readiness: the model x target table, each model's blocking ops, the validation of the
predictions against whole-model runs (with every miss explained), and the ops the zoo needs that the catalog lacks."""

from __future__ import annotations

from collections import Counter

from opcoverage.models.manifest import MODES, Manifest
from opcoverage.models.readiness import Readiness, Verdicts, readiness, untested_ops
from opcoverage.models.validate import SPREAD, Validation
from opcoverage.report.tables import escape, table
from opcoverage.results import ResultsFile

MARK = {"ready": "✅", "degraded": "⚠️", "blocked": "❌", "unknown": "❔", "n/a": "➖"}
MAX_BLOCKERS = 4  # per model, target and mode in the blocking-ops table; the rest are counted
# What each prediction says a whole-model run does: a degraded model runs (within the drift of an ideal run of its
# dtype, unless its wrong ops matter at the model's scale: then the miss is listed).
PREDICTS = {"ready": "runs", "degraded": "runs", "blocked": "fails"}


def _cell(r: Readiness) -> str:
    if r.verdict == "n/a":
        return "➖"
    return f"{MARK[r.verdict]} {r.share:.1f}%"


def readiness_grid(manifests: list[Manifest], results_file: ResultsFile) -> dict[tuple[str, str, str], Readiness]:
    verdicts = Verdicts(results_file.results)
    targets = sorted(verdicts.targets)
    return {(m.model, m.dtype, t, mode): readiness(m, verdicts, t, mode)
            for m in manifests for t in targets for mode in MODES}


def section(manifests: list[Manifest], results_file: ResultsFile, validations: list[Validation] | None = None,
            level: int = 2) -> list[str]:
    h = "#" * level
    grid = readiness_grid(manifests, results_file)
    targets = sorted({t for _, _, t, _ in grid})
    dtypes = sorted({m.dtype for m in manifests})
    lines = [f"{h} Model readiness", "",
             f"{len(manifests)} models ({', '.join(dtypes)}). A cell is the share of the model's op calls, weighted by "
             "call count, whose catalog op passes on the target at the call's dtype (every sample): ✅ ready (all "
             "pass), ⚠️ degraded (the failing calls' ops all run, but some results are wrong), ❌ blocked (a call's op does "
             "not run as asked: unsupported, error, fallback), ❔ unknown (the rest are "
             "untested: no catalog op, or not at that dtype), ➖ n/a. torch targets judge the aten overloads the model "
             "dispatches, ONNX targets the nodes of the model's ONNX export (forward only), jax targets the catalog ops "
             "that the aten overloads map to (as do ONNX targets for a model without an export: the fake-tensor configs). "
             "`train` is one forward and backward pass.", ""]
    headers = ["model", "dtype", "domain", "calls (fwd / train)"] + [f"{t} {mode}" for t in targets for mode in MODES]
    rows = []
    for m in manifests:
        calls = " / ".join(str(m.modes[mode].calls) if mode in m.modes else "-" for mode in MODES)
        rows.append([m.model, m.dtype, m.source.get("domain", "") or m.source.get("kind", ""), calls]
                    + [_cell(grid[(m.model, m.dtype, t, mode)]) for t in targets for mode in MODES])
    lines += [table(rows, headers), ""]
    lines += _blockers(manifests, grid, targets, h)
    if validations:
        lines += _validation(grid, validations, results_file, h)
    lines += _untested(manifests, h)
    return lines


def _blockers(manifests, grid, targets, h) -> list[str]:
    lines = [f"{h}# Blocking ops", "",
             "Per model, target and mode: the ops that keep it from ready, the most-called first (failures before "
             "untested ops).", ""]
    rows = []
    for m in manifests:
        for t in targets:
            for mode in MODES:
                r = grid[(m.model, m.dtype, t, mode)]
                if not r.blockers:
                    continue
                shown = "; ".join(f"`{b.name}` {b.dtype} x{b.calls}: {b.verdict}"
                                  + (f" ({escape(b.message[:90])})" if b.verdict != "untested" else "")
                                  for b in r.blockers[:MAX_BLOCKERS])
                more = f"; +{len(r.blockers) - MAX_BLOCKERS} more" if len(r.blockers) > MAX_BLOCKERS else ""
                rows.append([m.model, m.dtype, t, mode, str(len(r.blockers)), shown + more])
    if not rows:
        return lines + ["Nothing blocks any model.", ""]
    return lines + [table(rows, ["model", "dtype", "target", "mode", "ops", "blocking ops"]), ""]


def agreement(grid: dict, validations: list[Validation]) -> dict[str, Counter]:
    """Per prediction (ready, degraded, blocked, unknown): how the validated runs came out."""
    tally: dict[str, Counter] = {"ready": Counter(), "degraded": Counter(), "blocked": Counter(), "unknown": Counter()}
    for v in validations:
        r = grid.get((v.model, v.dtype, v.target, v.mode))
        if r is None or r.verdict == "n/a" or v.observed == "n/a":
            continue
        tally[r.verdict][v.observed] += 1
    return tally


def held(predicted: str, observed: str) -> bool:
    """Whether a prediction held: ready and degraded models run; a blocked one fails, falls back or is wrong."""
    return (observed == "runs") == (PREDICTS[predicted] == "runs")


def _explain_miss(r: Readiness, v: Validation, results_file: ResultsFile, validations: list[Validation]) -> str:
    drift = f" (drift {v.drift:.2e}, an ideal {v.dtype} run's {v.ideal_drift:.2e})" if (
        v.drift is not None and v.ideal_drift is not None) else (f" (drift {v.drift:.2e})" if v.drift is not None else "")
    failing = [b for b in r.blockers if b.verdict != "untested"]
    cases = "; ".join(f"`{b.name}` {b.dtype}: {b.verdict} in {escape(b.message[:120])}" for b in failing[:3])
    if r.verdict == "ready":
        elsewhere = [o.target for o in validations if (o.model, o.dtype, o.mode) == (v.model, v.dtype, v.mode)
                     and o.target != v.target and o.observed == v.observed]
        if "_create_inference_session" in v.message:
            why = ("ONNX Runtime rejected the exported model before running it: the exporter wrote an invalid graph, "
                   "which no per-op case sees")
        elif v.observed == "wrong" and elsewhere:
            why = (f"it drifts the same way on {', '.join(elsewhere)}: each op passes alone, and the error builds up "
                   f"across the model's layers beyond what an ideal {v.dtype} backend gives")
        else:
            why = "the failure lies between ops (composition, export or accumulated error), which per-op cases cannot see"
        return f"every op call passed its catalog cases, yet the whole model {v.observed}{drift}: {v.message}; {why}"
    if r.verdict == "degraded":
        return (f"predicted degraded (it runs, with wrong ops {cases}), and the whole model {v.observed}{drift}: "
                f"{v.message or 'see the note'}; the wrong ops' error matters at this model's scale")
    descs = {x.id: x.sample_desc for x in results_file.results}
    examples = [descs.get(b.message.split(": ", 1)[0], "") for b in failing[:3]]
    shown = "; ".join(e for e in examples if e)
    return (f"predicted blocked by {cases}, but the whole model ran within tolerance{drift}: the failing "
            f"case{'s' if len(failing) > 1 else ''} ({escape(shown) or 'see the case ids'}) exercise inputs this "
            f"model's calls do not reach")


def _held_count(tally: dict[str, Counter]) -> tuple[int, int]:
    judged = [(p, o, n) for p in PREDICTS for o, n in tally[p].items()]
    return sum(n for p, o, n in judged if held(p, o)), sum(n for _, _, n in judged)


def _validation(grid, validations, results_file, h) -> list[str]:
    tally = agreement(grid, validations)
    hits, judged = _held_count(tally)
    lines = [f"{h}# Validation: whole-model runs against the prediction", "",
             "`opcoverage model NAME --validate` ran each model on the target and compared it with the same model in "
             "float64 on the CPU (drift: max |out - ref| / max |ref| over the outputs, or over the loss and each "
             "parameter's gradient for `train`). It runs when its drift is at most "
             f"{SPREAD:g}x that of an ideal backend of its dtype (the float64 run with every op's result rounded once to "
             "the dtype: the model's own sensitivity), or as many unit roundoffs where that is more.", ""]
    for predicted in PREDICTS:
        n = sum(tally[predicted].values())
        good = sum(k for o, k in tally[predicted].items() if held(predicted, o))
        lines.append(f"- \"{predicted}\" predicted \"{PREDICTS[predicted]}\" for {good} of {n} validated pairs")
    lines += [f"- agreement: {hits} of {judged} predictions ({100.0 * hits / judged:.0f}%)" if judged else
              "- agreement: no validated pair had a ready, degraded or blocked prediction",
              f"- \"unknown\" (only untested ops) for {sum(tally['unknown'].values())}: "
              + (", ".join(f"{n} {k}" for k, n in sorted(tally["unknown"].items())) or "none")]
    for dtype in sorted({v.dtype for v in validations}):
        good, n = _held_count(agreement(grid, [v for v in validations if v.dtype == dtype]))
        if n:
            lines.append(f"- {dtype}: {good} of {n} predictions held ({100.0 * good / n:.0f}%)")
    lines.append("")
    rows, misses = [], []
    for v in validations:
        r = grid.get((v.model, v.dtype, v.target, v.mode))
        predicted = r.verdict if r else "n/a"
        agrees = ""
        if predicted in PREDICTS and v.observed != "n/a":
            agrees = "yes" if held(predicted, v.observed) else "**no**"
            if agrees != "yes":
                misses.append(f"- {v.model} {v.dtype} {v.mode} on {v.target}: {_explain_miss(r, v, results_file, validations)}")
        drift = f"{v.drift:.1e}" if v.drift is not None else "-"
        ideal = f"{v.ideal_drift:.1e}" if v.ideal_drift is not None else "-"
        rows.append([v.model, v.dtype, v.target, v.mode, predicted, v.observed, drift, ideal, agrees,
                     escape(v.message[:100])])
    lines += [table(rows, ["model", "dtype", "target", "mode", "predicted", "observed", "drift", "ideal drift",
                           "agrees", "note"]), ""]
    lines += [f"{h}## Misses", ""] + (misses or ["None: every ready, degraded or blocked prediction held."]) + [""]
    return lines


def _untested(manifests, h) -> list[str]:
    needed = untested_ops(manifests)
    lines = [f"{h}# Ops the models need that the catalog lacks", "",
             "Framework ops no catalog op exercises, ranked by how many of these models call them (also "
             "`opcoverage catalog gaps --models`).", ""]
    if not needed:
        return lines + ["None.", ""]
    rows = [[f"`{name}`", str(len(models)), ", ".join(sorted(models))]
            for name, models in sorted(needed.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    return lines + [table(rows, ["op", "models", "which"]), ""]
