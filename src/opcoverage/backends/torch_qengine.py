"""torch quantized-engine backend: `torch_qengine:<engine>` runs the quantization category on the CPU with
torch.backends.quantized.engine set to that engine (x86, fbgemm, qnnpack, onednn) for each case.

torch's quantized kernels (quantized::linear, quantized::conv2d, their weight prepacking) are chosen by that global
setting, not by the device, so each engine is a target of its own: a verdict names the engine in its target and in
``extra.qengine``. The engine is set around every case and put back after it, so torch:cpu cases in the same worker
keep torch's default engine (which `opcoverage targets` shows in torch:cpu's driver column). Other categories do not
read the engine; they are not planned on these targets (``categories``), which the results file says under
``environment.target_categories``. An engine is available where this torch build lists it in
torch.backends.quantized.supported_engines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
from typing import Iterator

from opcoverage.backends.base import DeviceInfo, Execution, Prepared
from opcoverage.backends.torch import TorchBackend
from opcoverage.catalog.spec import OpSpec
from opcoverage.environment import cpu_model
from opcoverage.types import FORWARD, Sample

ENGINES = ("x86", "fbgemm", "qnnpack", "onednn")  # listed even where a build lacks them, as unavailable targets
CATEGORY = "quantization"


@contextlib.contextmanager
def quantized_engine(torch, engine: str) -> Iterator[None]:
    """torch.backends.quantized.engine set to ``engine`` inside, and back to what it was after::

        with quantized_engine(torch, "qnnpack"):
            torch.ops.quantized.linear(qx, torch.ops.quantized.linear_prepack(qw, bias), 0.1, 0)
    """
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


class TorchQEngineBackend(TorchBackend):
    framework = "torch_qengine"
    binding = "torch"
    modes = (FORWARD,)
    modes_not_applicable = {mode: "the quantized-engine targets run the eager kernels; torch:cpu runs the modes"
                            for mode in ("grad", "compile", "export", "vmap")}
    categories = (CATEGORY,)
    categories_reason = ("torch.backends.quantized.engine selects torch's quantized kernels only; other ops run the "
                         "same kernels as on torch:cpu")

    def devices(self) -> list[DeviceInfo]:
        if importlib.util.find_spec("torch") is None:
            return [DeviceInfo(e, False, "package torch is not installed (pip install torch)") for e in ENGINES]
        supported = self._torch().backends.quantized.supported_engines
        extra = [e for e in supported if e not in ENGINES and e != "none"]
        return [self.probe(e) for e in (*ENGINES, *extra)]

    def probe(self, device: str) -> DeviceInfo:
        if importlib.util.find_spec("torch") is None:
            return DeviceInfo(device, False, "package torch is not installed (pip install torch)")
        torch = self._torch()
        supported = [e for e in torch.backends.quantized.supported_engines if e != "none"]
        if device not in supported:
            return DeviceInfo(device, False, f"torch {torch.__version__} has no quantized engine {device!r} (this "
                                             f"build has {', '.join(supported) or 'none'})")
        return DeviceInfo(device, True, name=cpu_model(),
                          driver=f"torch.backends.quantized.engine = {device!r}; the {CATEGORY} category only")

    def normalize_device(self, device: str) -> str:
        return device.lower()

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        """The torch binding on the CPU under engine ``device``: ``backend.run(spec, sample, "qnnpack")``."""
        with quantized_engine(self._torch(), device):
            execution = super().run(spec, sample, "cpu")
        return dataclasses.replace(execution, extra={**execution.extra, "qengine": device})

    def dispatched(self, spec: OpSpec, sample: Sample) -> tuple[str, ...]:
        return super().run(spec, sample, "cpu").dispatched

    def prepare(self, spec: OpSpec, sample: Sample, device: str) -> Prepared:
        """As torch's, with the engine set around the first call and around each timed one (the two setter calls
        are part of each time)."""
        torch = self._torch()
        with quantized_engine(torch, device):
            prepared = super().prepare(spec, sample, "cpu")

        def call():
            with quantized_engine(torch, device):
                return prepared.call()

        return dataclasses.replace(prepared, call=call)
