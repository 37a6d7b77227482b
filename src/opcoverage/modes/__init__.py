"""Modes, the dimension of how a case calls its op: forward, grad, compile[:backend], export, vmap. Defined here
once; ids and columns (types.case_id, types.column), records (CaseResult.mode), the planner, the runner,
expectations and reports all take the mode from here or from the record.

A backend lists the modes it runs in ``modes`` and runs every mode but forward in ``run_mode``::

    class MyBackend:
        modes = ("forward", "grad")
        def run_mode(self, spec, sample, device, mode, request=None): ...  # -> Execution

``request`` carries what a mode needs beyond the sample: for grad the inputs to differentiate and the
cotangents (a modes.grad.GradRequest); for vmap the sample is already the batch (modes.vmap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from opcoverage.errors import UsageError
from opcoverage.types import FORWARD

# What each mode checks, for --help, `opcoverage modes` and the reports.
MODES = {
    FORWARD: "the op called eagerly, as the catalog binds it",
    "grad": "the vector-Jacobian product J^T v of the op's differentiable inputs, projected on a random tangent u and "
            "checked against central differences of the float64 reference (<J^T v, u> vs <v, J u>)",
    "compile": "torch.compile of the call (inductor, or the backend named after a colon: compile:aot_eager); a graph "
               "break or an eager run is fallback",
    "export": "the op exported and called again: torch.export lowered to the Core ATen opset (a non-core leftover "
              "is unsupported), jax.export serialized, deserialized and called",
    "vmap": "jax.vmap of the call over a batch of three samples, against the reference looped over the batch",
}
DEFAULT_COMPILE_BACKEND = "inductor"


@dataclass(frozen=True, order=True)
class Mode:
    """One mode, written ``name`` or ``name:variant`` (only compile has variants: its torch.compile backend)."""

    name: str
    variant: str = ""

    def __str__(self) -> str:
        return f"{self.name}:{self.variant}" if self.variant else self.name

    @classmethod
    def parse(cls, text: str) -> "Mode":
        name, _, variant = str(text).strip().partition(":")
        name = name.lower()
        if name not in MODES:
            raise UsageError(f"unknown mode {text!r} in --modes; known: {', '.join(MODES)} "
                             f"(compile takes a torch.compile backend: compile:aot_eager)")
        if variant and name != "compile":
            raise UsageError(f"mode {name} takes no variant ({text!r}); only compile does: compile:aot_eager")
        if name == "compile" and variant == DEFAULT_COMPILE_BACKEND:
            variant = ""  # compile and compile:inductor are the same mode, with one id
        return cls(name, variant)

    @property
    def compile_backend(self) -> str:
        return self.variant or DEFAULT_COMPILE_BACKEND


FORWARD_MODE = Mode(FORWARD)


def parse_modes(text: Any) -> list[Mode]:
    """``--modes forward,grad,compile:aot_eager`` -> Modes, in the order given, without repeats."""
    from opcoverage.options import split_list

    return list(dict.fromkeys(Mode.parse(part) for part in split_list(text)))


def mode_order(mode: str) -> tuple[int, str]:
    """A sort key: modes in the order MODES names them (forward first), each variant after its mode, and a mode
    this version does not know (from a newer results file) after them all. Reports and baselines sort by it."""
    try:
        return (list(MODES).index(Mode.parse(mode).name), str(mode))
    except UsageError:
        return (len(MODES), str(mode))


def backend_modes(backend: Any) -> tuple[str, ...]:
    """The mode names a backend runs; one that declares none runs forward only."""
    return tuple(getattr(backend, "modes", (FORWARD,)))


def not_applicable(mode: Mode, backend: Any, framework: str) -> str | None:
    """Why ``mode`` does not apply to a backend's targets (None when it does); such cases are not planned."""
    if mode.name in backend_modes(backend):
        return None
    why = getattr(backend, "modes_not_applicable", {}).get(mode.name)
    return why or f"{framework} runs no {mode.name} mode"


def check_compile_backends(modes: Iterable[Mode]) -> None:
    """A compile mode must name a torch.compile backend torch knows (built in or registered out of tree through
    the ``torch_dynamo_backends`` entry points): checked before any case runs, so a typo is bad input."""
    names = {m.variant for m in modes if m.name == "compile" and m.variant}
    if not names:
        return
    try:
        from torch._dynamo import list_backends
    except ImportError:
        raise UsageError("--modes compile:<backend> needs torch (pip install torch)") from None
    known = set(list_backends(exclude_tags=()))
    unknown = sorted(names - known)
    if unknown:
        raise UsageError(f"unknown torch.compile backend {unknown[0]!r} in --modes; known: {', '.join(sorted(known))} "
                         "(an out-of-tree backend registers in the torch_dynamo_backends entry-point group)")
