"""OpenVINO claims (results -> audit): does ``Core().query_model`` place every node of the case's model on the device?

``query_model(model, device)`` is the plugin's own answer to "which of these operations can you run": a map
from each supported operation's friendly name to the device. A case's single-node ONNX model is rebuilt from its
sample (the same model the backend ran), read by the ONNX frontend, and asked about; it is claimed when every
operation the frontend produced for the node is in the map. A node the frontend cannot convert is unclaimed
(OpenVINO has no operation for it at all). The answer depends on every input and output type, so the claim is
per dtype.
"""

from __future__ import annotations

import functools

from opcoverage.claims import CaseSource, Claim
from opcoverage.types import CaseResult, Target

# Operations that carry data in and out of the model, never computation.
PLUMBING = ("Parameter", "Result", "Constant")


class OpenVinoClaims:
    per_dtype = True

    def __init__(self, target: Target, cases: CaseSource):
        from opcoverage.backends.openvino import DEVICES, _ov

        openvino = _ov()  # imported without its telemetry (backends.openvino._ov)

        self.cases = cases
        self.device = DEVICES.get(target.device, target.device.upper())
        self.source = f"openvino {openvino.get_version()} Core().query_model on {self.device}: per node and type"

    def claims_for(self, record: CaseResult) -> Claim:
        looked = self.cases.lookup(record)
        if isinstance(looked, str):
            return Claim(None, looked)
        spec, sample = looked
        binding = spec.bindings.get("onnx")
        if binding is None:
            return Claim(None, f"op {record.op} has no onnx binding in the catalog the audit loaded")
        from opcoverage.backends.onnxruntime import build_model

        try:
            model, op_type, _ = build_model(binding, sample, spec.result_dtype)
        except Exception as exc:  # the run recorded the same failure, or skipped the case
            return Claim(None, f"the case's model cannot be built ({type(exc).__name__}: {_first_line(exc)})")
        return _query(model, op_type, self.device)


@functools.lru_cache(maxsize=1024)
def _query(model: bytes, op_type: str, device: str) -> Claim:
    from opcoverage.backends.openvino import _core, conversion_failure

    core = _core()
    try:
        read = core.read_model(model, b"")
    except Exception as exc:
        return Claim(False, f"the ONNX frontend converts no {op_type} node like this one: {conversion_failure(exc)}",
                     cause="no conversion rule" if "No conversion rule" in str(exc) else "conversion fails")
    try:
        placed = core.query_model(read, device)
    except Exception as exc:
        return Claim(None, f"query_model on {device} raised {type(exc).__name__}: {_first_line(exc)}")
    ops = [(o.get_friendly_name(), o.get_type_name()) for o in read.get_ordered_ops() if o.get_type_name() not in PLUMBING]
    missing = [f"{kind} ({name})" for name, kind in ops if placed.get(name) != device]
    kinds = ", ".join(dict.fromkeys(kind for _, kind in ops)) or "no operation (the frontend folded it to constants)"
    if missing:
        return Claim(False, f"query_model does not place {', '.join(missing)} on {device} "
                            f"(the {op_type} node became {kinds})")
    return Claim(True, f"query_model places the {op_type} node ({kinds}) on {device}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
