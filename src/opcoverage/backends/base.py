"""Backend protocol: what a framework module implements to offer targets and run samples on them."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, runtime_checkable

import numpy as np

from opcoverage.catalog.spec import OpSpec
from opcoverage.types import Sample, Seq, Stage, Status


@dataclass(frozen=True)
class DeviceInfo:
    """One device a backend knows, whether it can run here, and why not when it cannot."""

    device: str
    available: bool
    reason: str = ""
    name: str = ""
    driver: str = ""


@dataclass(frozen=True)
class Execution:
    """What a backend hands back for one sample: NumPy outputs, the framework-level ops it ran, and where.

    ``fallback`` is set (to a short explanation) when any part of the op ran somewhere other than the target.
    """

    outputs: tuple[np.ndarray, ...]
    dispatched: tuple[str, ...] = ()
    fallback: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArrayInfo:
    """Shape, dtype and size of one input or output; ``view`` when an output aliases an input's memory."""

    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    view: bool = False


@dataclass(frozen=True)
class Prepared:
    """A case made ready to time by a backend's optional ``prepare(spec, sample, device)``: inputs already on the
    device, the program compiled or the session built::

        prepared = backend.prepare(spec, sample, "cpu")
        prepared.call()  # one run of the op; returns once the device has finished

    ``outputs`` describes what one call produced (for the cost model); ``first_call_s`` is the one-time cost
    (compile, session creation, tracing) plus the first run, kept apart from the steady state; ``threads`` is the
    intra-op thread count the call runs with; ``flush``, on GPUs, overwrites the L2 cache between repetitions.
    """

    call: Callable[[], Any]
    outputs: tuple[ArrayInfo, ...]
    first_call_s: float
    threads: int | None = None
    flush: Callable[[], Any] | None = None


class NotApplicable(Exception):
    """Raised by a backend when the framework's own specification does not define this case (skipped, not failed)."""


class Unsupported(Exception):
    """Raised by a backend or an adapter when the framework has no implementation for this case."""


@runtime_checkable
class Backend(Protocol):
    """A framework behind one small protocol. Third parties register one in the ``opcoverage.backends``
    entry-point group (the entry point may name the class or an instance)::

        # pyproject.toml of a vendor package
        [project.entry-points."opcoverage.backends"]
        mychip = "mychip_opcov:MyChipBackend"

        class MyChipBackend:
            framework = "mychip"          # targets are written mychip:<device>
            binding = "torch"             # which catalog binding it consumes: torch, jax or onnx
            def devices(self): return [DeviceInfo("npu", available=mychip.is_available())]
            def version(self): return {"mychip": mychip.__version__}
            def run(self, spec, sample, device): ...  # -> Execution
            def classify(self, error): return Status.ERROR

    Optionally, ``modes`` names the modes beyond forward it runs (opcoverage.modes) and ``run_mode(spec, sample,
    device, mode, request)`` runs them, returning an Execution the same way (for grad, J^T v per input); and
    ``categories`` names the only catalog categories its targets run, with ``categories_reason`` saying why
    (``categories = ("quantization",)``: torch's quantized engines); other ops are not planned on them.
    """

    framework: str
    binding: str

    def devices(self) -> list[DeviceInfo]:
        """Every device this backend knows, available here or not: ``[DeviceInfo("cpu", True)]``."""

    def normalize_device(self, device: str) -> str:
        """The canonical spelling of a device name (``CUDAExecutionProvider`` -> ``cuda``)."""

    def version(self) -> dict[str, str]:
        """Package versions that matter for reproducing results: ``{"torch": "2.13.0"}``."""

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        """Run ``spec``'s binding on ``sample`` on ``device``: ``backend.run(spec, sample, "cpu").outputs``."""

    def classify(self, error: BaseException) -> Status:
        """``Status.UNSUPPORTED`` when the error says there is no kernel for this op/dtype, else ``Status.ERROR``."""


# Messages that mean "no implementation for this op or dtype", across frameworks.
UNSUPPORTED_PATTERNS = re.compile(
    r"not implemented for|NotImplementedError|NOT_IMPLEMENTED|UNIMPLEMENTED|Could not find an implementation|"
    r"is not currently registered or supported|"  # ONNX Runtime, of an element type it has no kernels for at all
    r"is not currently supported|not supported on|does not support|is not supported|unsupported dtype|"
    r"Unsupported dtype|not currently implemented|no kernel|No kernel|doesn't support|only supports|"
    r"input must be float32 or float64|derivative for .{1,80} is not implemented|Differentiation rule for .{1,80} "
    r"not implemented|JVP rule for .{1,80} not implemented|Could not guard on data-dependent|data-dependent output "
    r"shape|No lowerings? (exists|found) for|DynamicOutputShapeException|Pending unbacked symbols|"
    r"Expected \w+ (data type|dtype to be of type) \w+ but got|data type of input should be|"  # a kernel's dtype check
    r"Unhandled dtype \w+ for",  # an ExecuTorch kernel's switch over the dtypes it has code for
)


def category_scope(backend: Any) -> tuple[tuple[str, ...], str] | None:
    """The only catalog categories a backend's targets run and why (its ``categories`` and ``categories_reason``),
    or None when they run every one. The results file records it (``environment.target_categories``)."""
    categories = getattr(backend, "categories", None)
    if categories is None:
        return None
    why = getattr(backend, "categories_reason", "") or f"{backend.framework} runs {', '.join(categories)} only"
    return tuple(categories), why


def category_not_applicable(backend: Any, category: str) -> str | None:
    """Why a backend's targets do not run ops of ``category`` (None when they do); the planner plans no such case."""
    scope = category_scope(backend)
    return None if scope is None or category in scope[0] else scope[1]


def classify_by_message(error: BaseException) -> Status:
    if isinstance(error, (NotImplementedError, Unsupported)):
        return Status.UNSUPPORTED
    text = f"{type(error).__name__}: {error}"
    return Status.UNSUPPORTED if UNSUPPORTED_PATTERNS.search(text) else Status.ERROR


@contextlib.contextmanager
def reached(names: Callable[[], Iterable[str]]) -> Iterator[None]:
    """On failure, attach the framework ops the case reached to the exception (``opcov_dispatched``): an op
    that was attempted and failed was still exercised, and op-set coverage counts it."""
    try:
        yield
    except BaseException as exc:
        exc.opcov_dispatched = tuple(dict.fromkeys(names()))  # type: ignore[attr-defined]
        raise


@contextlib.contextmanager
def at_stage(stage: Stage) -> Iterator[None]:
    """Mark an exception raised inside with the pipeline stage it came from (``opcov_stage``); the runner records
    it as ``extra.stage``. The innermost stage wins, so a helper may mark a finer stage than its caller::

        with at_stage(Stage.CONVERT):
            model = core.read_model(model_bytes, b"")
    """
    try:
        yield
    except BaseException as exc:
        if getattr(exc, "opcov_stage", None) is None:
            exc.opcov_stage = Stage(stage)  # type: ignore[attr-defined]
        raise


def failed_stage(error: BaseException) -> Stage | None:
    """The stage an exception was marked with by ``at_stage``, if any."""
    stage = getattr(error, "opcov_stage", None)
    return Stage(stage) if stage is not None else None


def thread_budget() -> int | None:
    """Threads a backend may use per case: set by the worker pool (OPCOV_THREADS) so that parallel workers
    do not oversubscribe the cores; None means the framework's own default."""
    value = os.environ.get("OPCOV_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def as_output_tuple(value: Any) -> tuple[Any, ...]:
    """Ops return one array, a tuple/list of arrays (sort, split), or a named tuple (torch.return_types); a Seq
    (an ONNX sequence) is one output."""
    if isinstance(value, Seq):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value,)


def missing_packages(packages: Iterable[str], install: str, devices: Iterable[str]) -> list[DeviceInfo] | None:
    """Every device unavailable, saying which of ``packages`` are not installed and how to install them; None when
    all are there. A backend's ``devices()`` starts with it, so a missing framework never breaks a listing::

        unavailable = missing_packages(("onnx", "openvino"), "pip install openvino", ("cpu", "gpu"))
    """
    import importlib.util

    missing = [m for m in packages if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return [DeviceInfo(d, False, f"package {' and '.join(missing)} not installed ({install})") for d in devices]
