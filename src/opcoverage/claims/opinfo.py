"""OpInfo claims (results -> audit): the dtypes PyTorch's op_db says an op supports on a device type, per dtype.

``OpInfo.supported_dtypes(device_type)`` is what PyTorch's own CI checks its ops against (test_dtypes), so it is
a second claims source for torch targets, beside the dispatcher: it names dtypes, where the dispatcher knows
only ops. A record is matched to an OpInfo by the suite's key (an `opinfo` suite case) or, for a catalog case,
by its torch binding (``torch.nn.functional.conv2d`` -> ``nn.functional.conv2d``) or its name
(``linalg_vander`` -> ``linalg.vander``, ``relu`` -> ``nn.functional.relu``); an op no OpInfo matches has no claim, and the audit says so.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping

from opcoverage.claims import CaseSource, Claim
from opcoverage.types import CaseResult, Target

DOTTED_PREFIXES = ("linalg_", "special_", "fft_", "nn_functional_", "sparse_")


class OpInfoClaims:
    per_dtype = True
    label = "OpInfo"

    def __init__(self, target: Target, cases: CaseSource):
        import torch

        from opcoverage.backends import get_backend
        from opcoverage.suites.opinfo import dtype_name, op_db, torch_device

        self.cases = cases
        try:
            device = torch_device(get_backend(target.framework), target.device)
        except Exception:
            device = target.device
        self.device_type = device.split(":")[0]
        self.source = (f"OpInfo supported_dtypes('{self.device_type}') in torch {torch.__version__} op_db: "
                       "per dtype")
        self.ops = op_db()
        self.by_name: dict[str, list[Any]] = defaultdict(list)
        for op in self.ops.values():
            self.by_name[op.name].append(op)
        self._dtype_name = dtype_name
        self._dtypes: dict[str, set[str] | str] = {}

    def claims_for(self, record: CaseResult) -> Claim:
        op = self.match(record)
        if isinstance(op, str):
            return Claim(None, op)
        if record.dtype == "any":
            return Claim(None, "an error-parity case: OpInfo's dtype claims do not apply")
        dtypes = self._claimed(op)
        if isinstance(dtypes, str):
            return Claim(None, dtypes)
        if record.dtype in dtypes:
            return Claim(True, f"OpInfo {op.full_name} lists {record.dtype} for {self.device_type}")
        listed = ", ".join(sorted(dtypes)) or "none"
        return Claim(False, f"OpInfo {op.full_name} does not list {record.dtype} for {self.device_type} "
                            f"(it lists {listed})",
                     hint=f"OpInfo {op.full_name}'s dtypes for {self.device_type} omit {record.dtype}, yet it runs "
                          "and matches the reference: OpInfo under-claims",
                     cause="OpInfo under-claims the dtype")

    def _claimed(self, op) -> set[str] | str:
        if op.full_name not in self._dtypes:
            try:
                self._dtypes[op.full_name] = {self._dtype_name(d) for d in op.supported_dtypes(self.device_type)}
            except Exception as exc:  # a device type torch cannot name
                self._dtypes[op.full_name] = f"OpInfo cannot say for device type {self.device_type!r} ({exc})"
        return self._dtypes[op.full_name]

    def match(self, record: CaseResult) -> Any:
        """The OpInfo a record stands for, or a sentence saying why there is none."""
        extra = record.extra if isinstance(record.extra, Mapping) else {}
        suite = extra.get("suite")
        if suite == "opinfo":
            return self.ops.get(record.op) or f"OpInfo {record.op} is not in this torch's op_db"
        if suite:
            return f"a case of the {suite} suite, which OpInfo does not describe"
        for name in self.candidates(record.op):
            if name in self.ops:
                return self.ops[name]
            if self.by_name.get(name):
                plain = [o for o in self.by_name[name] if not o.variant_test_name]
                return (plain or self.by_name[name])[0]
        return f"no OpInfo matches catalog op {record.op} (by its torch binding or its name)"

    def candidates(self, op_name: str) -> list[str]:
        names = []
        catalog = self.cases.catalog
        if catalog is not None and op_name in catalog.ops:
            binding = catalog[op_name].bindings.get("torch")
            call = getattr(binding, "call", "") or ""
            if call.startswith("torch."):
                names.append(call.removeprefix("torch.").removeprefix("Tensor."))
        names.append(op_name)
        for prefix in DOTTED_PREFIXES:
            if op_name.startswith(prefix):
                names.append(prefix[:-1].replace("_", ".") + "." + op_name[len(prefix):])
        names.append(f"nn.functional.{op_name}")  # torch.relu is OpInfo's nn.functional.relu
        return names
