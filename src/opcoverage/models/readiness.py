"""Model readiness, judging stage: a manifest's op calls against a results file's verdicts per target: the share
of calls whose (catalog op, dtype) passes, weighted by call count, and the ops that block the rest."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from opcoverage.models.manifest import Manifest
from opcoverage.types import FORWARD, CaseResult, Status, Target

# Verdicts of one op use on one target, the worst first; "pass" and "untested" are not failures of the target.
FAILING = ("unsupported", "error", "wrong", "fallback")
# The verdicts that keep an op from running as asked: a model that calls one is blocked. A model whose only failing
# calls are wrong still runs everywhere; it is degraded (its ops compute less accurately than their dtype allows).
REFUSING = ("unsupported", "error", "fallback")
_STATUS_VERDICT = {Status.UNSUPPORTED: "unsupported", Status.ERROR: "error", Status.CRASH: "error",
                   Status.TIMEOUT: "error", Status.MISMATCH: "wrong", Status.FALLBACK: "fallback"}


@dataclass(frozen=True)
class Blocker:
    name: str
    catalog_op: str | None
    dtype: str
    calls: int
    verdict: str  # unsupported, error, wrong, fallback, untested
    message: str


@dataclass(frozen=True)
class Readiness:
    model: str
    target: str
    mode: str
    dtype: str
    calls: int
    passing: int
    verdict: str  # ready (every call passes), degraded (every failing call is wrong, none refused), blocked, unknown
    # (only untested calls), n/a
    blockers: tuple[Blocker, ...]
    judged_as: str = ""  # which usage: the aten ops, or the ONNX export's nodes
    note: str = ""

    @property
    def share(self) -> float | None:
        return 100.0 * self.passing / self.calls if self.calls else None

    def line(self) -> str:
        if self.verdict == "n/a":
            return f"{self.model} {self.mode} on {self.target}: n/a ({self.note})"
        head = (f"{self.model} {self.mode} {self.dtype} on {self.target}: {self.verdict}, {self.share:.1f}% of "
                f"{self.calls} op calls pass ({self.judged_as})")
        worst = [f"{b.name} [{b.catalog_op or '-'}] {b.dtype} x{b.calls}: {b.verdict}" for b in self.blockers[:6]]
        more = f" (+{len(self.blockers) - 6} more)" if len(self.blockers) > 6 else ""
        lead = "; blocked by " if self.verdict == "blocked" else "; not passing: "
        return head + (lead + "; ".join(worst) + more if worst else "")


class Verdicts:
    """The results file's verdict per (catalog op, target, dtype), all samples together, from forward cases only:
    a model's forward and train passes both call eager kernels (train calls the backward ops as ops of their own),
    so a grad or compile case of the same op says nothing about them."""

    def __init__(self, results):
        self.by_key: dict[tuple[str, str, str], list[CaseResult]] = defaultdict(list)
        self.ops_on: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.targets: set[str] = set()
        for r in results:
            if r.mode != FORWARD:
                continue
            self.by_key[(r.op, r.target, r.dtype)].append(r)
            self.ops_on[(r.op, r.target)].add(r.dtype)
            self.targets.add(r.target)

    def verdict(self, catalog_op: str | None, name: str, target: str, dtype: str) -> tuple[str, str]:
        if catalog_op is None:
            return "untested", f"the catalog has no op that exercises {name}"
        records = self.by_key.get((catalog_op, target, dtype))
        if not records:
            tested = sorted(self.ops_on.get((catalog_op, target), ()))
            if tested:
                return "untested", f"catalog op {catalog_op} is not tested at {dtype} (only {', '.join(tested)})"
            return "untested", f"catalog op {catalog_op} was not run on {target}"
        ran = [r for r in records if r.status is not Status.SKIPPED]
        if not ran:
            message = records[0].message
            if message.startswith("no ") and "binding" in message:
                return "untested", f"{catalog_op}: {message}"
            return "unsupported", f"{catalog_op}: {message}"
        failed = [r for r in ran if r.status.is_failure]
        if not failed:
            return "pass", ""
        worst = min(failed, key=lambda r: FAILING.index(_STATUS_VERDICT[r.status]))
        return _STATUS_VERDICT[worst.status], f"{worst.id}: {worst.message[:160]}"


def readiness(manifest: Manifest, verdicts: Verdicts, target: str, mode: str) -> Readiness:
    from opcoverage.backends import get_backend

    framework = Target.parse(target).framework
    try:
        binding = get_backend(framework).binding
    except Exception:  # a target of a framework this install lacks: judge its aten-level usage
        binding = framework
    usage = manifest.usage_for(binding, mode)
    if target not in verdicts.targets:
        return Readiness(manifest.model, target, mode, manifest.dtype, 0, 0, "n/a", (),
                         note=f"{target} is not in the results file")
    if usage is None:
        why = ("ONNX targets run the model's ONNX export, which has no backward pass"
               if binding == "onnx" and manifest.exported else f"the manifest has no {mode} usage")
        return Readiness(manifest.model, target, mode, manifest.dtype, 0, 0, "n/a", (), note=why)
    judged_as = {"torch": "aten ops", "onnx": "ONNX nodes", "jax": "jaxpr primitives"}.get(usage.framework,
                                                                                           usage.framework)
    if binding == "onnx" and usage.framework == "onnx" and manifest.source.get("kind") != "onnx":
        judged_as = "ONNX export's nodes"
    passing = 0
    blockers: dict[tuple, Blocker] = {}
    for use in usage.ops:
        verdict, message = verdicts.verdict(use.catalog_op, use.name, target, use.dtype)
        if verdict == "pass":
            passing += use.calls
            continue
        blockers[(use.name, use.dtype)] = Blocker(use.name, use.catalog_op, use.dtype, use.calls, verdict, message)
    ordered = tuple(sorted(blockers.values(), key=lambda b: (b.verdict == "untested", -b.calls, b.name)))
    if any(b.verdict in REFUSING for b in ordered):
        overall = "blocked"
    elif any(b.verdict == "wrong" for b in ordered):
        overall = "degraded"
    elif ordered:
        overall = "unknown"
    else:
        overall = "ready"
    return Readiness(manifest.model, target, mode, manifest.dtype, usage.calls, passing, overall, ordered, judged_as)


def untested_ops(manifests) -> dict[str, set[str]]:
    """Framework op name -> the models whose usage (any mode) the catalog cannot judge: no catalog op maps it."""
    needed: dict[str, set[str]] = defaultdict(set)
    for m in manifests:
        for usage in list(m.modes.values()) + list(m.exported.values()):
            for use in usage.ops:
                if use.catalog_op is None:
                    needed[use.name].add(m.model)
    return dict(needed)
