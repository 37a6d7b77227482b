"""JAX claims (results -> audit): is an MLIR lowering registered for the platform for each jaxpr primitive?

JAX's registry is its lowering-rule tables (jax._src.interpreters.mlir): ``_platform_specific_lowerings[p]``
for rules one platform overrides, and ``_lowerings`` for the generic rule every platform uses. A primitive
is claimed for a platform when either holds a rule, which is what ``mlir._get_lowering_rules`` consults
when it lowers an equation. Lowering rules know primitives, not dtypes (XLA decides those when it
compiles), so a JAX claim is per primitive, never per dtype.
"""

from __future__ import annotations

from opcoverage.claims import CaseSource, Claim, claim_by_kind
from opcoverage.types import CaseResult, Target


class JaxClaims:
    per_dtype = False

    def __init__(self, target: Target, cases: CaseSource):
        import jax
        from jax._src import xla_bridge

        from opcoverage.backends.jax import JaxBackend

        self.cases = cases
        self.backend = JaxBackend()
        device = self.backend.normalize_device(target.device)
        self.platforms = _platforms(device, tuple(xla_bridge.expand_platform_alias(device)))
        self.source = (f"jax {jax.__version__} MLIR lowering rules for {'/'.join(self.platforms)}: "
                       "per primitive, not per dtype")

    def claims_for(self, record: CaseResult) -> Claim:
        looked = self.cases.lookup(record)
        spec = looked[0] if not isinstance(looked, str) else None
        if spec is not None and "jax" in spec.bindings:
            try:
                spec.bindings["jax"].resolve()  # importing the binding's module registers its primitives' rules
            except Exception:
                pass
        primitives, origin = tuple(record.dispatched), ""
        if not primitives:
            if isinstance(looked, str):
                return Claim(None, looked)
            primitives, origin = self._trace(record, looked)
            if isinstance(primitives, str):
                return Claim(None, primitives)
        return claim_by_kind({name: self.lowering_kind(name) for name in primitives},
                             f"no {'/'.join(self.platforms)} lowering for",
                             lambda n: f"{n} has rules for {', '.join(self.platforms_with_rule(n)) or 'no platform'}",
                             origin, unregistered="no rule")

    def lowering_kind(self, primitive: str) -> str | None:
        """'<platform> rule' for a platform-specific rule, 'generic rule' for one every platform shares, else None."""
        from jax._src.interpreters import mlir

        for platform in self.platforms:
            if primitive in _names(mlir._platform_specific_lowerings.get(platform, {})):
                return f"{platform} rule"
        return "generic rule" if primitive in _names(mlir._lowerings) else None

    def platforms_with_rule(self, primitive: str) -> list[str]:
        from jax._src.interpreters import mlir

        return sorted(p for p, rules in mlir._platform_specific_lowerings.items() if primitive in _names(rules))

    def _trace(self, record: CaseResult, looked) -> tuple[tuple[str, ...] | str, str]:
        """A failing case records nothing, so the audit traces its sample again (no compile, no run)."""
        spec, sample = looked
        if "jax" not in spec.bindings:
            return f"op {record.op} has no jax binding in the catalog the audit loaded", ""
        try:
            primitives = self.backend.dispatched(spec, sample)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            return (f"the case fails while JAX traces it ({type(exc).__name__}: {first}), before any primitive "
                    "reaches lowering: the lowering rules have nothing to say"), ""
        if not primitives:
            return "the case's program has no primitive to lower", ""
        return primitives, " (traced by the audit)"


def _platforms(device: str, aliases: tuple[str, ...]) -> tuple[str, ...]:
    """The lowering platforms of a device: "gpu" names cuda, rocm and oneapi, so ask the GPU present which it
    is; without one here, a primitive counts as claimed when any of them has a rule."""
    if len(aliases) > 1:
        try:
            from jax.extend.backend import get_backend

            version = get_backend(device).platform_version.lower()
            return tuple(p for p in aliases if p in version) or aliases
        except Exception:  # no such device where the audit runs
            pass
    return aliases


_NAME_CACHE: dict[int, tuple[int, frozenset[str]]] = {}


def _names(table) -> frozenset[str]:
    """Primitive names in a rule table (keyed by Primitive objects); recomputed when the table grows."""
    cached = _NAME_CACHE.get(id(table))
    if cached is None or cached[0] != len(table):
        cached = (len(table), frozenset(p.name for p in table))
        _NAME_CACHE[id(table)] = cached
    return cached[1]
