"""Claims (results -> audit): what each framework's own registry says a target supports, one claim per case.

A claims provider reads a framework's registry (ONNX Runtime's kernel definitions, torch's dispatcher,
JAX's lowering rules) and answers, for one result record, whether that registry claims the target can run
what the case ran. It is chosen by the target's framework::

    provider = provider_for(Target("onnxruntime", "cpu"), CaseSource(results_file.environment))
    provider.claims_for(record)   # Claim(claimed=False, detail="no CPUExecutionProvider kernel for Add-14 ...")

``claimed`` is None when the registry cannot be asked about the case; ``detail`` then says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from opcoverage.types import CaseResult, Sample, Target

__all__ = ["Claim", "claim_by_kind", "ClaimsProvider", "CaseSource", "provider_for", "more_providers_for",
           "MORE_PROVIDERS", "PROVIDERS"]


@dataclass(frozen=True)
class Claim:
    """What a registry says about one case. ``hint`` carries facts that may explain a disagreement (what ONNX
    Runtime ran instead of an unlisted kernel, the dispatch keys an op does have), ``cause`` a short label of it
    that groups like disagreements in the audit."""

    claimed: bool | None
    detail: str
    hint: str = ""
    cause: str = ""


def claim_by_kind(kinds: Mapping[str, str | None], missing: str, hints: Callable[[str], str], origin: str = "",
                  unregistered: str = "none") -> Claim:
    """The claim for a case that reached the registry entries ``kinds`` maps to their kind (None: unregistered).

    Claimed when every entry is registered; otherwise ``missing`` (e.g. "no CPU kernel for") names what lacks
    one, and ``hints(name)`` says where else the registry has that entry. ``origin`` tells how the entries were
    found (e.g. traced by the audit)."""
    by_kind: dict[str, list[str]] = {}
    for name, kind in kinds.items():
        by_kind.setdefault(kind or unregistered, []).append(name)
    listed = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in by_kind.items())
    unclaimed = [n for n, k in kinds.items() if k is None]
    if unclaimed:
        return Claim(False, f"{missing} {', '.join(unclaimed)} ({listed}){origin}",
                     "; ".join(hints(n) for n in unclaimed))
    return Claim(True, f"{listed}{origin}")


class ClaimsProvider(Protocol):
    """One framework's registry behind one method::

        class MyClaims:
            source = "mychip 1.0 kernel table"   # shown in the audit's summary
            per_dtype = False                    # does a claim name dtypes, or only ops?
            def claims_for(self, record): return Claim(True, "mychip kernel for add")
    """

    source: str
    per_dtype: bool

    def claims_for(self, record: CaseResult) -> Claim:
        """The registry's claim for the case behind ``record``: ``provider.claims_for(record).claimed``."""


class UnknownClaims:
    """The stand-in for a target whose framework has no claims provider, or whose registry cannot be read here."""

    per_dtype = False

    def __init__(self, why: str):
        self.source = why
        self.why = why

    def claims_for(self, record: CaseResult) -> Claim:
        return Claim(None, self.why)


class CaseSource:
    """Rebuilds a record's spec and sample from the catalog and seed its results file names.

    Providers need the sample when the record alone does not say enough: a failing case records no
    dispatched ops, and an ONNX claim depends on every input and output type of the node.
    """

    def __init__(self, environment: Mapping[str, Any]):
        from opcoverage.catalog.loader import load_catalog
        from opcoverage.errors import CatalogError

        self.seed = int(environment.get("seed", 0))
        self.mode = str(environment.get("samples", "quick"))
        self._generated: dict[tuple[str, str], tuple[Sample, ...]] = {}
        try:
            self.catalog = load_catalog(environment.get("specs") or None)
            self.problem = ""
        except CatalogError as exc:  # results from elsewhere: claims that need no sample still work
            self.catalog, self.problem = None, f"the run's catalog cannot be loaded here ({exc})"
        self.same_catalog = self.catalog is not None and self.catalog.fingerprint == environment.get("catalog")

    def lookup(self, record: CaseResult) -> tuple[Any, Sample] | str:
        """``(spec, sample)`` for the record, or a sentence saying why it cannot be rebuilt."""
        suite = record.extra.get("suite") if isinstance(record.extra, Mapping) else None
        if suite:
            return f"a case of the {suite} suite: the audit rebuilds only catalog cases"
        if self.catalog is None:
            return self.problem
        if record.op not in self.catalog.ops:
            return f"op {record.op!r} is not in the catalog the audit loaded"
        spec = self.catalog[record.op]
        for sample in self._samples(record.op, record.dtype):
            if sample.id == record.sample:
                return spec, sample
        return f"sample {record.sample} of {record.op} in {record.dtype} is not generated by this catalog"

    def _samples(self, op: str, dtype: str) -> tuple[Sample, ...]:
        from opcoverage.catalog.samples import generate

        if (op, dtype) not in self._generated:
            spec = self.catalog[op]
            found = tuple(generate(spec, dtype, self.seed, self.mode)) if dtype in spec.dtypes else ()
            self._generated[(op, dtype)] = found
        return self._generated[(op, dtype)]


# Framework -> "module:class"; each class is built as cls(target, case_source).
PROVIDERS = {
    "onnxruntime": "opcoverage.claims.onnxruntime:OnnxRuntimeClaims",
    "torch": "opcoverage.claims.torch:TorchClaims",
    "jax": "opcoverage.claims.jax:JaxClaims",
    "openvino": "opcoverage.claims.openvino:OpenVinoClaims",
    "executorch": "opcoverage.claims.executorch:ExecuTorchClaims",
}


def provider_for(target: Target, cases: CaseSource) -> ClaimsProvider:
    """The claims provider for a target's framework; an UnknownClaims saying why when there is none."""
    import importlib

    path = PROVIDERS.get(target.framework)
    if path is None:
        return UnknownClaims(f"no claims provider for framework {target.framework!r} "
                             f"(there are providers for {', '.join(PROVIDERS)})")
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)(target, cases)
    except ImportError as exc:
        return UnknownClaims(f"{target.framework} is not installed where the audit runs ({exc.name}); "
                             "audit where the run's frameworks are installed")


# Further registries per framework, each audited as its own view of a target (``torch:cpu (OpInfo)``).
MORE_PROVIDERS = {"torch": (("OpInfo", "opcoverage.claims.opinfo:OpInfoClaims"),)}


def more_providers_for(target: Target, cases: CaseSource) -> list[tuple[str, ClaimsProvider]]:
    """(label, provider) for each further claims source of the target's framework; an UnknownClaims saying why
    where one cannot be read here (OpInfo's op_db needs torch and expecttest)."""
    import importlib

    found: list[tuple[str, ClaimsProvider]] = []
    for label, path in MORE_PROVIDERS.get(target.framework, ()):
        module_name, _, attr = path.partition(":")
        try:
            found.append((label, getattr(importlib.import_module(module_name), attr)(target, cases)))
        except ImportError as exc:
            found.append((label, UnknownClaims(f"{label} claims cannot be read here: {exc.name} is not installed "
                                               "(pip install torch expecttest)")))
    return found
