"""ExecuTorch claims (results -> audit): which operators XNNPACK's partitioner claims, and which kernels are registered.

``executorch:xnnpack``: the partitioner's configurations (``ALL_PARTITIONER_CONFIGS``, one per edge operator it
may take, such as ``add.Tensor``); a case is claimed when every edge operator of its program has one (the
partitioner still checks dtypes and shapes when it runs, so the claim is per op, not per dtype).
``executorch:portable``: the runtime's registered kernels (``_get_operator_names()``: ``aten::add.out``); a case
is claimed when every edge operator of its program has an out-variant kernel.

The operators are those the case recorded (``extra.delegated_ops`` and ``extra.portable_ops``, the edge dialect
the partitioner saw); a case that failed before lowering has only its exported ATen operators (``dispatched``).
"""

from __future__ import annotations

from opcoverage.backends.executorch_members import PLUMBING  # graph nodes that only move values
from opcoverage.claims import CaseSource, Claim
from opcoverage.types import CaseResult, Target



def _short(name: str) -> str:
    """``aten::add.Tensor`` -> ``add.Tensor``; ``aten::relu`` -> ``relu.default``."""
    op = name.split("::", 1)[-1]
    return op if "." in op else f"{op}.default"


class ExecuTorchClaims:
    per_dtype = False

    def __init__(self, target: Target, cases: CaseSource):
        from importlib.metadata import version

        self.device = target.device
        if self.device == "xnnpack":
            from executorch.backends.xnnpack.partition.config import ALL_PARTITIONER_CONFIGS

            self.claimed = {c.target_name for c in ALL_PARTITIONER_CONFIGS}
            self.source = (f"executorch {version('executorch')} XnnpackPartitioner configs "
                           f"({len(self.claimed)} edge operators): per op")
        else:
            from opcoverage.backends.executorch import registered_kernels

            self.claimed = {k.split("::", 1)[-1].split(".")[0] for k in registered_kernels() if k.startswith("aten::")}
            self.source = (f"executorch {version('executorch')} registered kernels ({len(registered_kernels())} "
                           "operators, _get_operator_names): per op")

    def claims_for(self, record: CaseResult) -> Claim:
        extra = record.extra or {}
        edge = list(extra.get("delegated_ops", [])) + list(extra.get("portable_ops", []))
        ops, origin = (edge, "edge operators") if edge or "delegate_calls" in extra else (
            list(record.dispatched), "exported ATen operators (the case failed before lowering)")
        ops = [o for o in ops if o not in PLUMBING]
        if not ops:
            return Claim(None, "the case recorded no operator to ask about (it failed before export)")
        if self.device == "xnnpack":
            unclaimed = [o for o in ops if _short(o) not in self.claimed]
            what = "no XnnpackPartitioner config for"
        else:
            unclaimed = [o for o in ops if o.split("::", 1)[-1].split(".")[0] not in self.claimed]
            what = "no registered kernel for"
        if unclaimed:
            return Claim(False, f"{what} {', '.join(unclaimed)} ({origin}: {', '.join(ops)})")
        return Claim(True, f"{'configs' if self.device == 'xnnpack' else 'kernels'} for {', '.join(ops)} ({origin})")
