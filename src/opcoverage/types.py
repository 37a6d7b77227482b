"""Core records shared by every stage: targets, statuses, samples, case results and case ids."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from opcoverage.errors import UsageError


class Status(str, enum.Enum):
    """The verdict of one case. Ordered from best to worst for roll-ups."""

    PASS = "pass"
    MISMATCH = "mismatch"
    UNSUPPORTED = "unsupported"
    ERROR = "error"
    FALLBACK = "fallback"
    CRASH = "crash"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value

    @property
    def is_failure(self) -> bool:
        """Ran (or tried to) and did not pass; skipped cases are not failures."""
        return self not in (Status.PASS, Status.SKIPPED)


class Stage(str, enum.Enum):
    """Where in a compile-per-case stack a case failed, recorded as ``extra.stage``: a report can then say "IREE
    fails to compile 31 ops" without reading messages. In pipeline order: the framework traces the call (capture),
    exports a program (export), converts it into the stack's own IR (convert), lowers or partitions it (lower),
    compiles it for the device (compile), and runs it (run). torch.compile adds one between capture and lower:
    dynamo broke the graph (graph_break) and ran part of the call eagerly."""

    CAPTURE = "capture"
    GRAPH_BREAK = "graph_break"
    EXPORT = "export"
    CONVERT = "convert"
    LOWER = "lower"
    COMPILE = "compile"
    RUN = "run"

    def __str__(self) -> str:
        return self.value


# Device names for the same kind of hardware across frameworks: jax says gpu where torch says cuda, and ONNX
# Runtime's GPU execution providers run on that GPU too; torch's quantized engines (torch_qengine:<engine>) are CPU
# kernel libraries. Other names are their own class (tpu, mps, xpu, ...).
# Devices that are the host CPU under another name (a compiler target, a delegate, a quantized engine, an execution
# provider that runs on the CPU here) share the CPU lane and its worker per core.
DEVICE_CLASSES = {"cuda": "gpu", "gpu": "gpu", "rocm": "gpu", "hip": "gpu", "tensorrt": "gpu", "migraphx": "gpu",
                  "vulkan": "gpu", "cpu": "cpu", "x86": "cpu", "fbgemm": "cpu", "qnnpack": "cpu", "onednn": "cpu",
                  "llvm-cpu": "cpu", "xnnpack": "cpu", "portable": "cpu", "openvino": "cpu", "acl": "cpu",
                  "armnn": "cpu"}


@dataclass(frozen=True, order=True)
class Target:
    """A framework plus a device, written ``framework:device`` (``torch:cuda``)."""

    framework: str
    device: str

    def __str__(self) -> str:
        return f"{self.framework}:{self.device}"

    @property
    def device_class(self) -> str:
        """The kind of hardware the target runs on, named the same for every framework: "cpu", "gpu", "tpu", ..."""
        device = self.device.lower().removesuffix("executionprovider")
        return DEVICE_CLASSES.get(device, device)

    @classmethod
    def parse(cls, text: str) -> "Target":
        framework, sep, device = text.strip().partition(":")
        if not sep or not framework or not device:
            raise UsageError(
                f"target {text!r} is not of the form framework:device; write e.g. torch:cpu, jax:gpu, onnxruntime:cuda"
            )
        return cls(framework.lower(), device)


class Seq(tuple):
    """An ONNX sequence value: its tensors, in order, and the catalog dtype of its elements where known (which an
    empty sequence still has). A reference returns one for an output that is a sequence (a plain tuple or list is
    several outputs), and so does a backend; an empty optional is None. Samples stay tensors: an ONNX adapter
    groups them into a Seq where the node takes a sequence::

        Seq([np.zeros(2, np.float32), np.ones(3, np.float32)], "float32")
    """

    dtype: str | None

    def __new__(cls, items: Any = (), dtype: str | None = None) -> "Seq":
        self = super().__new__(cls, items)
        self.dtype = dtype
        return self

    def __repr__(self) -> str:
        return f"Seq({list(self)!r}, {self.dtype!r})"


def as_value(value: Any) -> Any:
    """One output as the comparison takes it: an array, a Seq of arrays, or None (an empty optional)."""
    if value is None:
        return None
    if isinstance(value, Seq):
        return Seq((as_value(v) for v in value), value.dtype)
    return np.asarray(value)


@dataclass(frozen=True)
class Sample:
    """One concrete input of one op in one dtype: NumPy arrays plus keyword arguments."""

    op: str
    dtype: str
    index: int
    args: tuple[np.ndarray, ...]
    kwargs: Mapping[str, Any]
    label: str
    seed: int
    layout: str = "contiguous"

    @property
    def id(self) -> str:
        return f"s{self.index}"

    def describe(self) -> str:
        shapes = ", ".join(f"{'string' if a.dtype.kind == 'U' else a.dtype}{list(a.shape)}" for a in self.args)
        extra = ", ".join(f"{k}={v!r}" for k, v in sorted(self.kwargs.items()))
        return f"{self.label}: ({shapes}{', ' if shapes and extra else ''}{extra})"


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no inf/NaN; a non-finite error (NaN where a number was expected) is spelled out in the message."""
    return None if value is None or not math.isfinite(value) else float(value)


def _json_safe(value: Any) -> Any:
    """A perf record with its non-finite numbers (a zero-time division, say) as null, as JSON requires."""
    if isinstance(value, float):
        return _finite_or_none(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


FORWARD = "forward"  # the mode of an eager call as the catalog binds it; its ids and columns carry no mode part


def column(target: Target | str, mode: str = FORWARD) -> str:
    """Where a case sits in the matrix: its target, and the mode after a slash unless it is forward
    (``torch:cpu``, ``torch:cpu/grad``, ``torch:cpu/compile:aot_eager``). Roll-ups, reports, diffs and
    expectations group by it, so a mode is one more column beside the targets."""
    return f"{target}" if mode == FORWARD else f"{target}/{mode}"


def case_id(op: str, target: Target | str, dtype: str, sample_id: str, mode: str = FORWARD) -> str:
    """The one stable, greppable id of a case, used by the CLI, pytest, results and reports; forward ids carry
    no mode (``add-torch:cpu-float32-s0``), others name it after the target (``add-torch:cpu/grad-float32-s0``)."""
    return f"{op}-{column(target, mode)}-{dtype}-{sample_id}"


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case (op x target x mode x dtype x sample)."""

    op: str
    target: str
    dtype: str
    sample: str
    status: Status
    message: str = ""
    sample_desc: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    dispatched: tuple[str, ...] = ()
    reference: str = ""
    duration_s: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    perf: Mapping[str, Any] | None = None  # timings, cost and roofline attainment (opcoverage.perf), with --perf
    mode: str = FORWARD  # how the op was called: forward, grad, compile[:backend], export, vmap (opcoverage.modes)

    @property
    def id(self) -> str:
        return case_id(self.op, self.target, self.dtype, self.sample, self.mode)

    @property
    def column(self) -> str:
        return column(self.target, self.mode)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.op, self.target, self.mode, self.dtype, self.sample)

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "op": self.op,
            "target": self.target,
            "mode": self.mode,
            "dtype": self.dtype,
            "sample": self.sample,
            "status": self.status.value,
            "message": self.message,
            "sample_desc": self.sample_desc,
            "max_abs_err": _finite_or_none(self.max_abs_err),
            "max_rel_err": _finite_or_none(self.max_rel_err),
            "dispatched": list(self.dispatched),
            "reference": self.reference,
            "duration_s": self.duration_s,
        }
        if self.extra:
            record["extra"] = dict(self.extra)
        if self.perf is not None:
            record["perf"] = _json_safe(self.perf)
        return record

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> "CaseResult":
        return cls(
            op=record["op"],
            target=record["target"],
            dtype=record["dtype"],
            sample=record["sample"],
            status=Status(record["status"]),
            message=record.get("message", ""),
            sample_desc=record.get("sample_desc", ""),
            max_abs_err=record.get("max_abs_err"),
            max_rel_err=record.get("max_rel_err"),
            dispatched=tuple(record.get("dispatched", ())),
            reference=record.get("reference", ""),
            duration_s=record.get("duration_s"),
            extra=dict(record.get("extra", {})),
            perf=record.get("perf"),
            mode=record.get("mode", FORWARD),
        )
