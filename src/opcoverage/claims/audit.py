"""The audit (results -> audit): each op x dtype cell of each target, its registry's claim against its measured verdict.

A case passes when its status is pass; every other status except skipped fails (a wrong result, a missing
kernel, an error, a fallback to another device, a crash). Skipped cases were never measured and stay out.
Each cell gets one verdict; the disagreements (claimed-but-fails, passes-but-unclaimed) are the news.
Only forward cases are audited: a registry claims eager kernels (an aten op's dispatch keys, an ONNX Runtime
kernel), so a grad, compile, export or vmap case of the op is no evidence for or against that claim.
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from dataclasses import dataclass, field

from opcoverage.claims import CaseSource, Claim, ClaimsProvider, more_providers_for, provider_for
from opcoverage.results import ResultsFile
from opcoverage.types import FORWARD, CaseResult, Status, Target


class Verdict(str, enum.Enum):
    """Ordered by news value: a cell takes the first verdict any of its cases has."""

    CLAIMED_FAILS = "claimed-but-fails"
    UNCLAIMED_PASSES = "passes-but-unclaimed"
    UNCLAIMED_FAILS = "unclaimed-and-fails"
    CLAIMED_PASSES = "claimed-and-passes"
    UNKNOWN = "claim-unknown"

    @property
    def is_disagreement(self) -> bool:
        return self in (Verdict.CLAIMED_FAILS, Verdict.UNCLAIMED_PASSES)


ORDER = tuple(Verdict)


@dataclass(frozen=True)
class AuditCase:
    record: CaseResult
    claim: Claim
    verdict: Verdict
    inherited: bool = False  # the claim came from the cell's other samples (this one dispatched nothing)


@dataclass(frozen=True)
class AuditCell:
    """One op x dtype on one target: its cases with their claims, the cell's verdict and why."""

    target: str
    op: str
    dtype: str
    verdict: Verdict
    cases: tuple[AuditCase, ...]
    explanation: str
    cause: str = ""  # a short label of the explanation, shared by like cells

    @property
    def failing(self) -> tuple[CaseResult, ...]:
        return tuple(c.record for c in self.cases if c.record.status is not Status.PASS)

    @property
    def deciding(self) -> AuditCase:
        """The case that gave the cell its verdict (the first one with it)."""
        return next(c for c in self.cases if c.verdict is self.verdict)


@dataclass(frozen=True)
class Audit:
    cells: tuple[AuditCell, ...]
    sources: dict[str, str]                    # target -> which registry its claims come from
    per_dtype: dict[str, bool]                 # target -> do its claims name dtypes
    skipped: dict[str, int]                    # target -> cases skipped (not measured, not audited)
    notes: tuple[str, ...] = field(default=())  # caveats about how the claims were read

    def counts(self, target: str) -> dict[Verdict, int]:
        tally = {v: 0 for v in Verdict}
        for cell in self.cells:
            if cell.target == target:
                tally[cell.verdict] += 1
        return tally

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.sources)


def case_verdict(claimed: bool | None, passed: bool) -> Verdict:
    if claimed is None:
        return Verdict.UNKNOWN
    if claimed:
        return Verdict.CLAIMED_PASSES if passed else Verdict.CLAIMED_FAILS
    return Verdict.UNCLAIMED_PASSES if passed else Verdict.UNCLAIMED_FAILS


def audit(results_file: ResultsFile, cases: CaseSource | None = None) -> Audit:
    """Claim every measured forward case of every target, then fold the cases into op x dtype cells."""
    env = results_file.environment
    cases = cases or CaseSource(env)
    forward = [r for r in results_file.results if r.mode == FORWARD]
    measured = [r for r in forward if r.status is not Status.SKIPPED]
    skipped: dict[str, int] = defaultdict(int)
    for r in forward:
        if r.status is Status.SKIPPED:
            skipped[r.target] += 1
    targets = sorted({r.target for r in forward})
    providers: dict[str, ClaimsProvider] = {t: provider_for(Target.parse(t), cases) for t in targets}
    views = {t: [t] for t in targets}  # a further claims source audits the target again, as "torch:cpu (OpInfo)"
    for t in targets:
        for label, provider in more_providers_for(Target.parse(t), cases):
            providers[f"{t} ({label})"] = provider
            views[t].append(f"{t} ({label})")
    grouped: dict[tuple[str, str, str], list[CaseResult]] = defaultdict(list)
    for r in measured:
        for view in views[r.target]:
            grouped[(view, r.op, r.dtype)].append(r)
    cells = [_cell(key, records, providers[key[0]]) for key, records in grouped.items()]
    notes = list(_version_notes(env))
    notes += [agreement(cells, view) for t in targets for view in views[t][1:]]
    if cases.catalog is None:
        notes.append(f"{cases.problem}: cases that need their sample rebuilt have no claim")
    elif not cases.same_catalog and not env.get("suite"):  # a suite's cases come from the suite, not the catalog
        notes.append(f"the catalog the audit loaded ({cases.catalog.fingerprint}) is not the run's "
                     f"({env.get('catalog', '?')}): claims rebuilt from samples may not match what ran")
    keys = [view for t in targets for view in views[t]]
    return Audit(tuple(cells), {k: providers[k].source for k in keys}, {k: providers[k].per_dtype for k in keys},
                 {k: skipped.get(k.split(" (")[0], 0) for k in keys}, tuple(notes))


def agreement(cells: list[AuditCell], view: str) -> str:
    """How often a further claims source agrees with the measurement: over the cells it has a claim for."""
    mine = [c for c in cells if c.target == view]
    judged = [c for c in mine if c.verdict is not Verdict.UNKNOWN]
    agree = sum(1 for c in judged if not c.verdict.is_disagreement)
    ops = len({c.op for c in judged})
    share = f"{100 * agree / len(judged):.1f}%" if judged else "n/a"
    return (f"{view}: {agree} of {len(judged)} op x dtype cells with a claim agree with the measurement ({share}), "
            f"over {ops} matched ops; {len(mine) - len(judged)} cells have no claim")


def _cell(key: tuple[str, str, str], records: list[CaseResult], provider: ClaimsProvider) -> AuditCell:
    target, op, dtype = key
    claims = [provider.claims_for(r) for r in records]
    known = {c.claimed for c in claims if c.claimed is not None}
    # A case that failed before dispatching anything has no claim of its own; when every other sample of the
    # cell agrees, the op's claim stands for it too (torch and JAX claim per op, not per sample). An ONNX
    # claim is per node, and another sample's node may differ: it is never lent.
    shared = next(iter(known)) if len(known) == 1 and not provider.per_dtype else None
    audited = []
    for record, claim in zip(records, claims):
        inherited = claim.claimed is None and shared is not None
        if inherited:
            donor = next(c for c in claims if c.claimed is shared)
            claim = Claim(shared, f"{donor.detail} (from the cell's other samples; this one: {claim.detail})",
                          donor.hint, donor.cause)
        audited.append(AuditCase(record, claim, case_verdict(claim.claimed, record.status is Status.PASS), inherited))
    verdict = min((c.verdict for c in audited), key=ORDER.index)
    cause, explanation = explain(AuditCell(target, op, dtype, verdict, tuple(audited), ""), provider)
    return AuditCell(target, op, dtype, verdict, tuple(audited), explanation, cause)


def explain(cell: AuditCell, provider: ClaimsProvider) -> tuple[str, str]:
    """(cause, explanation): why claim and measurement agree or not, from the statuses, messages and registry
    facts at hand; the cause is a short label that groups like cells."""
    case = cell.deciding
    n_fail, n = len(cell.failing), len(cell.cases)
    share = f"{n_fail}/{n} samples fail" if n_fail else f"all {n} samples pass"
    if cell.verdict is Verdict.CLAIMED_FAILS:
        cause, why = _failure_reason(case, cell.target.split(":")[0], provider)
        return cause, f"{why} ({share})"
    if cell.verdict is Verdict.UNCLAIMED_PASSES and provider.per_dtype and cell.target.startswith("torch:"):
        return case.claim.cause or "runs in a dtype OpInfo does not list", f"{case.claim.hint} ({share})"
    if cell.verdict is Verdict.UNCLAIMED_PASSES:
        how = f": {case.claim.hint}" if case.claim.hint else "; the registry is incomplete here"
        cause = case.claim.cause or "runs without a registered implementation"
        return cause, f"nothing registered, yet it ran{how} ({share})"
    if cell.verdict is Verdict.UNCLAIMED_FAILS:
        return "agrees", f"agrees: nothing registered, and it fails ({case.record.status.value}; {share})"
    if cell.verdict is Verdict.CLAIMED_PASSES:
        return "agrees", "agrees"
    return "no claim", f"no claim: {case.claim.detail}"


# torch's names for scalar types in its dtype-dispatch errors ("not implemented for 'Short'").
TORCH_TYPE_NAMES = {"float16": "Half", "bfloat16": "BFloat16", "float32": "Float", "float64": "Double",
                    "int8": "Char", "uint8": "Byte", "int16": "Short", "int32": "Int", "int64": "Long", "bool": "Bool",
                    "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64", "complex64": "ComplexFloat",
                    "complex128": "ComplexDouble", "float8_e4m3fn": "Float8_e4m3fn", "float8_e5m2": "Float8_e5m2",
                    "int4": "Int4", "uint4": "UInt4"}


def names_dtype(message: str, dtype: str) -> bool:
    """Does a failure message name the case's dtype (so the failure is about the dtype, not the sample)?"""
    names = [re.escape(dtype)] + ([re.escape(TORCH_TYPE_NAMES[dtype])] if dtype in TORCH_TYPE_NAMES else [])
    return re.search(rf"(?<![\w.])({'|'.join(names)})(?![\w])", message) is not None


def _failure_reason(case: AuditCase, framework: str, provider: ClaimsProvider) -> tuple[str, str]:
    record = case.record
    message = _core(record.message)
    status = record.status
    if status is Status.MISMATCH:
        return "wrong result", f"the kernel runs but its result is wrong: {message}"
    if status is Status.FALLBACK:
        return "ran on another device", f"a kernel is claimed for the target, yet the op ran elsewhere: {message}"
    if status in (Status.CRASH, Status.TIMEOUT):
        what = "crashed the worker" if status is Status.CRASH else "did not finish"
        return status.value, f"the claimed kernel {what}: {message}"
    if case.inherited:
        return ("sample fails before dispatch", "the op is claimed (by its other samples), but this sample fails "
                                                f"before dispatching anything: {message}")
    if provider.per_dtype and framework == "torch":  # OpInfo's dtype lists
        return (f"claimed dtype fails ({status.value})", f"the dtype is claimed, but the case fails: {message}")
    if provider.per_dtype:
        if "Could not find an implementation" in record.message:
            return ("listed kernel not found",
                    f"the registry lists a matching kernel, yet session creation found none: {message}")
        if "while running" in record.message:
            return ("kernel rejects the case at run time",
                    f"the registered kernel was chosen, then rejected the case at run time: {message}")
        return "kernel raises", f"the registered kernel raised: {message}"
    unit = "per op" if framework == "torch" else "per primitive"
    if names_dtype(record.message, record.dtype):
        return (f"dtype missing from an implementation claimed {unit}",
                f"registered for every dtype ({framework} claims {unit}, not per dtype), but the implementation has "
                f"no {record.dtype} path: {message}")
    if framework == "jax" and ("XLA" in record.message or "NotImplementedError" in record.message):
        return ("lowering or compilation fails on the platform",
                f"a lowering rule is registered, but lowering or compiling this case for the platform fails: {message}")
    return "implementation fails on the case", f"registered ({framework} claims {unit}), but this case fails: {message}"


def _core(message: str) -> str:
    """A backend's message without its wrapping: ONNX Runtime's status text, the first line elsewhere."""
    marker = "Status Message: "
    if marker in message:
        message = message[message.index(marker) + len(marker):]
        # ORT_ENFORCE prefixes the failed condition with the source location and the C++ signature.
        message = re.sub(r"^/\S+:\d+ .*?\) (const )?(\[with [^\]]*\] )?", "", message)
    return message.strip().splitlines()[0][:240] if message.strip() else ""


def _version_notes(env) -> list[str]:
    """Claims are read from the frameworks installed now; say so when those are not the versions the run used."""
    import importlib.metadata as md

    notes = []
    for package, version in (env.get("frameworks") or {}).items():
        if package not in ("torch", "jax", "onnxruntime"):
            continue
        try:
            installed = md.version(package)
        except md.PackageNotFoundError:
            continue
        if installed.split("+")[0] != str(version).split("+")[0]:
            notes.append(f"claims read from {package} {installed}, but the run used {package} {version}")
    return notes
