"""torch claims (results -> audit): is a kernel registered for the target's dispatch key for each aten overload?

The dispatcher is the registry: for every overload a case dispatched, ``_dispatch_has_kernel_for_dispatch_key``
says whether the target's backend key (CPU, CUDA, MPS, XPU, PrivateUse1) has a kernel of its own, or
whether a composite alias serves every backend (CompositeExplicitAutograd[NonFunctional], written once in
terms of other ops; CompositeImplicitAutograd, decomposed before it reaches a backend). The dispatcher
knows ops, not dtypes: a CPU kernel claims every dtype, and its own dtype switch decides at run time.
So a torch claim is per op, never per dtype.
"""

from __future__ import annotations

from opcoverage.claims import CaseSource, Claim, claim_by_kind
from opcoverage.types import CaseResult, Target

# Alias keys whose kernel serves the target when it has none of its own, most specific first.
COMPOSITES = ("CompositeExplicitAutogradNonFunctional", "CompositeExplicitAutograd", "CompositeImplicitAutograd")
# Tensors of other layouts on the same device dispatch on these keys (a quantized CPU tensor on QuantizedCPU).
FUNCTIONALITIES = ("Quantized", "Sparse", "SparseCsr", "NestedTensor")
PROBE_OP = "aten::add.Tensor"  # every torch build registers this for each backend it was built with


class TorchClaims:
    per_dtype = False

    def __init__(self, target: Target, cases: CaseSource):
        import torch

        self.cases = cases
        self.device = target.device
        try:
            self.key = torch._C._dispatch_key_for_device(target.device)
        except RuntimeError:
            self.key = target.device
        self.source = f"torch {torch.__version__} dispatcher, {self.key} key: per op, not per dtype"
        self.missing = ""
        if not torch._C._dispatch_has_kernel_for_dispatch_key(PROBE_OP, self.key):
            self.missing = (f"this torch build ({torch.__version__}) registers no {self.key} kernels (not even "
                            f"{PROBE_OP}); audit with the torch build the run used")

    def claims_for(self, record: CaseResult) -> Claim:
        if self.missing:
            return Claim(None, self.missing)
        overloads, origin = tuple(record.dispatched), ""
        if not overloads:
            overloads, origin = self._trace(record)
            if isinstance(overloads, str):
                return Claim(None, overloads)
        return claim_by_kind({name: kernel_kind(name, self.key) for name in overloads}, f"no {self.key} kernel for",
                             lambda n: f"{n} has kernels for {', '.join(registered_keys(n)) or 'no backend'}", origin)

    def _trace(self, record: CaseResult) -> tuple[tuple[str, ...] | str, str]:
        """The overloads the case's binding reaches on the CPU, up to and including one that raises.

        A failing case records nothing, so the audit re-runs its sample and keeps what was dispatched before
        (and at) the failure."""
        looked = self.cases.lookup(record)
        if isinstance(looked, str):
            return looked, ""
        spec, sample = looked
        if "torch" not in spec.bindings:
            return f"op {record.op} has no torch binding in the catalog the audit loaded", ""
        overloads, error = trace_overloads(spec, sample)
        if not overloads:
            why = f" ({error})" if error else ""
            return f"the case reached no aten operator when the audit re-ran it{why}: nothing to look up", ""
        where = f"; the last one raised {error}" if error else ""
        return overloads, f" (traced on cpu by the audit{where})"


def kernel_kind(name: str, key: str) -> str | None:
    """The key whose kernel serves the overload on the target's device: its own backend key, the same device's
    quantized/sparse/nested key, or a composite alias serving every backend; None when there is none."""
    import torch

    for candidate in (key, *(f"{f}{key}" for f in FUNCTIONALITIES), *COMPOSITES):
        try:
            if torch._C._dispatch_has_kernel_for_dispatch_key(name, candidate):
                return candidate
        except RuntimeError:  # an operator this torch does not know, or a key it does not have (QuantizedMPS)
            continue
    return None


def registered_keys(name: str) -> list[str]:
    """The dispatch keys an overload has kernels for, from the dispatcher's own dump."""
    import torch

    try:
        dump = torch._C._dispatch_dump(name)
    except RuntimeError:
        return []
    keys = []
    for line in dump.splitlines():
        key, sep, rest = line.partition(": registered at")
        if sep and " " not in key.strip():
            keys.append(key.strip())
    return keys


def trace_overloads(spec, sample) -> tuple[tuple[str, ...], str]:
    """Run the torch binding on the CPU and record each overload before it runs; (overloads, error or '')."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from opcoverage.backends.torch import to_torch

    binding = spec.bindings["torch"]
    dispatched: list[str] = []

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            dispatched.append(func.name())
            return func(*args, **(kwargs or {}))

    error = ""
    try:
        fn = binding.resolve()
        args = [to_torch(a, "cpu", sample.layout) for a in sample.args]
        with Recorder():
            fn(*args, **binding.rename(sample.kwargs))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        error = f"{type(exc).__name__}: {first}"
    return tuple(dict.fromkeys(dispatched)), error
