"""OpenVINO backend: reads each case's single-node ONNX model from bytes, compiles it for a device, and runs it.

It consumes the ``onnx`` binding through the same single-node model builder as the ONNX Runtime backend
(``onnxruntime.build_model``), so both stacks are asked exactly the same question. Each stage is marked
(``extra.stage`` on a failure): the ONNX frontend's conversion (``convert``: "No conversion rule found for
operations: Det-22" is ``unsupported``), the plugin's compilation (``compile``) and the inference (``run``).

OpenVINO's CPU plugin runs some precisions in others (f64 as f32, i64 as i32). The backend records what the
compiled model says it ran (``runtimePrecision`` of each layer of ``get_runtime_model()``) in
``extra.runtime_precision`` and ``extra.runtime_layers``, and a float64 or int64 case whose layers computed in a
narrower type is reported where it ran (``Execution.fallback``), so the runner never makes it a ``pass`` even where
its values happen to agree with the float64 reference; whether they agree is kept in the message.
"""

from __future__ import annotations

import functools
import os
import re
import time
from typing import Any

import numpy as np

from opcoverage.backends.base import (ArrayInfo, DeviceInfo, Execution, Prepared, Unsupported, at_stage,
                                     classify_by_message, failed_stage, missing_packages, reached, thread_budget)
from opcoverage.catalog.dtypes import dtype_name, numpy_dtype
from opcoverage.catalog.spec import OnnxBinding, OpSpec
from opcoverage.types import Sample, Stage, Status

# Device names OpenVINO uses ("GPU.0", "NPU") -> target devices. Every one is listed, available here or not.
DEVICES = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU"}
INSTALL = "pip install openvino (or pip install 'opcoverage[openvino]')"
# A layer that only moves data in or out of the compiled model, not the op's computation.
NOT_COMPUTE = ("Input", "Output", "Parameter", "Result")
# Messages of the plugins' compile step that mean "no implementation for this op or type" here.
COMPILE_UNSUPPORTED = re.compile(r"[Uu]nsupported|not supported|doesn't support|Cannot create .* layer|"
                                 r"has no implementation|[Nn]ot implemented")


class OpenVinoBackend:
    framework = "openvino"
    binding = "onnx"

    def devices(self) -> list[DeviceInfo]:
        unavailable = missing_packages(("onnx", "openvino"), INSTALL, DEVICES)
        if unavailable:
            return unavailable
        core = _core()
        present = {name.split(".")[0]: name for name in core.available_devices}  # "GPU.0" counts as GPU
        out = []
        for device, plugin in DEVICES.items():
            if plugin in present:
                name = _property(core, present[plugin], "FULL_DEVICE_NAME")
                hint = _property(core, present[plugin], "INFERENCE_PRECISION_HINT").removeprefix("<Type: '")
                hint = hint.removesuffix("'>")
                out.append(DeviceInfo(device, True, name=name, driver=f"openvino {_ov().get_version()} {plugin} "
                                                                      f"plugin, inference precision hint {hint}"))
            else:
                out.append(DeviceInfo(device, False, f"OpenVINO sees no {plugin} device here (Core().available_devices "
                                                     f"is {', '.join(core.available_devices) or 'empty'})"))
        return out

    def normalize_device(self, device: str) -> str:
        return device.lower().split(".")[0]

    def version(self) -> dict[str, str]:
        import onnx

        return {"openvino": _ov().get_version(), "onnx": onnx.__version__}

    def warm_up(self, device: str) -> None:
        """Load the plugin and compile once outside any case's time."""
        from opcoverage.catalog.spec import CallBinding, SampleSpec

        spec = OpSpec("warm_up", "", SampleSpec("unary"), ("float32",), CallBinding("numpy.add"),
                      {"onnx": OnnxBinding("Add")})
        self.run(spec, Sample("warm_up", "float32", 0, (np.ones(4, np.float32),) * 2, {}, "", 0), device)

    def dispatched(self, spec: OpSpec, sample: Sample) -> tuple[str, ...]:
        """The op_type of the sample's single-node model (built and checked, not run)."""
        return (_model(spec, sample)[1],)

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        model, op_type, feeds = _model(spec, sample)
        with reached(lambda: (op_type,)):
            plugin = DEVICES.get(device, device.upper())
            compiled, precision = _compiled(model, plugin)
            with at_stage(Stage.RUN):
                request = compiled.create_infer_request()
                request.infer(_inputs(compiled, feeds))
                outputs = tuple(_from_tensor(request.get_output_tensor(i)) for i in range(len(compiled.outputs)))
        return Execution(outputs, (op_type,), lowered_precision(sample.dtype, precision, plugin), precision)

    def prepare(self, spec: OpSpec, sample: Sample, device: str) -> Prepared:
        """A freshly compiled model and its infer request as a zero-argument call on tensors made once; an
        inference is synchronous. ``first_call_s`` covers conversion, compilation and the first inference."""
        model, _, feeds = _model(spec, sample)
        start = time.perf_counter()
        compiled, _ = _compiled.__wrapped__(model, DEVICES.get(device, device.upper()))  # uncached
        tensors = _inputs(compiled, feeds)
        request = compiled.create_infer_request()
        request.infer(tensors)
        first = time.perf_counter() - start
        infos = []
        for i in range(len(compiled.outputs)):
            out = _from_tensor(request.get_output_tensor(i))
            infos.append(ArrayInfo(tuple(out.shape), dtype_name(out.dtype), out.nbytes))
        threads = thread_budget() or int(_property(_core(), "CPU", "INFERENCE_NUM_THREADS") or 0) or None
        return Prepared(functools.partial(request.infer, tensors), tuple(infos), first, threads)

    def classify(self, error: BaseException) -> Status:
        stage = failed_stage(error)
        if stage is Stage.CONVERT:  # the frontend cannot express the node in OpenVINO's opset
            return Status.UNSUPPORTED
        if stage is Stage.COMPILE and COMPILE_UNSUPPORTED.search(str(error)):
            return Status.UNSUPPORTED
        return classify_by_message(error)


@functools.lru_cache(maxsize=None)
def _ov():
    # `import openvino` starts its usage telemetry (openvino_telemetry, on by default where no consent file
    # exists), which sends from a forked process: a fork behind JAX's and torch's threads in every worker, and a
    # network call from a conformance run. The telemetry stays off in CI (CI=true), so the import runs with that
    # set; the user's own consent file and environment are left as they are.
    saved = os.environ.get("CI")
    os.environ["CI"] = "true"
    try:
        import openvino
    finally:
        if saved is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = saved
    return openvino


@functools.lru_cache(maxsize=None)
def _core():
    return _ov().Core()


def _property(core, device: str, name: str) -> str:
    try:
        return str(core.get_property(device, name))
    except Exception:  # a plugin that lacks the property
        return ""


def _model(spec: OpSpec, sample: Sample) -> tuple[bytes, str, dict[str, np.ndarray]]:
    from opcoverage.backends.onnxruntime import build_model

    binding = spec.bindings["onnx"]
    assert isinstance(binding, OnnxBinding)
    return build_model(binding, sample, spec.result_dtype)


@functools.lru_cache(maxsize=128)
def _compiled(model: bytes, plugin: str) -> tuple[Any, dict[str, Any]]:
    """(the compiled model, what it ran in): cached per model bytes, which hold the op, its attributes, the input
    shapes and dtypes and the opset, so samples of the same signature compile once per worker."""
    core = _core()
    with at_stage(Stage.CONVERT):
        try:
            read = core.read_model(model, b"")
        except RuntimeError as exc:
            raise Unsupported(f"OpenVINO's ONNX frontend cannot convert the node: {conversion_failure(exc)}") from exc
    config = {"INFERENCE_NUM_THREADS": thread_budget()} if thread_budget() and plugin == "CPU" else {}
    with at_stage(Stage.COMPILE):
        compiled = core.compile_model(read, plugin, config)
    return compiled, _runtime_precision(compiled)


# A case's dtype -> the runtime precisions that compute it in fewer bits (the CPU plugin's documented downcasts).
NARROWER = {"float64": ("f32", "f16", "bf16"), "int64": ("i32", "i16", "i8"), "uint64": ("u32", "i32")}


def lowered_precision(dtype: str, precision: dict[str, Any], plugin: str) -> str | None:
    """Why the case's work ran in a narrower type than its dtype, read from the compiled model's own layers: the
    plugin ran float64 in f32 or int64 in i32. A lower precision is a place the work ran other than the one asked
    for, so it is reported as a fallback (never a pass), whatever the values; None when it ran in the dtype."""
    narrower = NARROWER.get(dtype, ())
    layers = [layer.rsplit(":", 1) for layer in precision.get("runtime_layers", [])]
    # Every layer counts, Converts and constants too: a Convert's precision is what it reads (a cast to int64 that
    # reads i32 was computed in i32), and a folded op is a constant of the precision it was computed in.
    lower = [f"{kind}:{p}" for kind, p in layers if p in narrower]
    if not lower:
        return None
    return (f"OpenVINO's {plugin} plugin computed this {dtype} node in "
            f"{'/'.join(sorted({p.rsplit(':', 1)[1] for p in lower}))} (runtimePrecision of its layers "
            f"{', '.join(dict.fromkeys(lower))})")


def _runtime_precision(compiled) -> dict[str, Any]:
    """The layers the plugin runs, in execution order, each with its runtime precision (``Subgraph:f32``), and the
    precisions of the layers that compute (not the Input/Output ones): ``{"runtime_precision": ["f32"], ...}``."""
    layers = []
    try:
        nodes = compiled.get_runtime_model().get_ordered_ops()
    except Exception:  # a plugin without a runtime model to show
        return {}
    for node in nodes:
        info = node.get_rt_info()
        fields = {k: info[k].astype(str) for k in ("layerType", "runtimePrecision", "execOrder") if k in info}
        if fields.get("layerType", "") in NOT_COMPUTE:
            continue
        layers.append((int(fields.get("execOrder", 0) or 0), fields.get("layerType", node.get_type_name()),
                       fields.get("runtimePrecision", "")))
    layers.sort()
    precisions = sorted({p for _, kind, p in layers if kind != "Convert" and p})
    return {"runtime_precision": precisions, "runtime_layers": [f"{kind}:{p}" for _, kind, p in layers]}


def conversion_failure(exc: BaseException) -> str:
    """The frontend's own lines of a conversion failure ("No conversion rule found for operations: Det-28", or the
    op and its validation message), without the C++ source locations and boilerplate around them."""
    noise = ("Exception from src/", "Check 'false' failed", "FrontEnd API failed", "Model wasn't fully converted",
             "Summary:", "To facilitate the conversion", "Failed operations detailed log:")
    lines = [line.strip(" -") for line in str(exc).splitlines()]
    kept = [line for line in lines if line and not line.startswith(noise)]
    return " ".join(kept) or (lines[0] if lines else type(exc).__name__)


def _inputs(compiled, feeds: dict[str, np.ndarray]) -> dict[int, Any]:
    """Input tensors by the compiled model's port index. The frontend makes one Parameter per graph input, in
    order; a name cannot be used, since a Parameter wired straight to the output takes the output's name."""
    from opcoverage.backends.onnxruntime import tensor_feeds

    tensors = [_to_tensor(a) for a in tensor_feeds(feeds, "OpenVINO")]
    if len(compiled.inputs) != len(tensors):
        raise RuntimeError(f"the compiled model has {len(compiled.inputs)} inputs for the node's {len(tensors)}")
    return dict(enumerate(tensors))


# ml_dtypes' types by OpenVINO's names for them: the Python binding maps none of them (bfloat16 would be read as
# float16, float8 and int4 are "Unsupported data type"), so they travel as the bytes ONNX stores them as, which
# OpenVINO's tensors hold alike (float8 one to a byte, 4-bit types two to a byte).
_OV_TYPES = {"bfloat16": "bf16", "float8_e4m3fn": "f8e4m3", "float8_e5m2": "f8e5m2", "float4_e2m1fn": "f4e2m1",
             "int4": "i4", "uint4": "u4"}
_BY_OV_TYPE = {ov_name: name for name, ov_name in _OV_TYPES.items()}


def _to_tensor(array: np.ndarray):
    from opcoverage.backends.onnxruntime import onnx_bytes

    ov = _ov()
    array = np.require(array, requirements="C")  # np.ascontiguousarray would make a 0-d array 1-d
    name = dtype_name(array.dtype)
    if name not in _OV_TYPES:
        return ov.Tensor(array, shared_memory=False)
    tensor = ov.Tensor(getattr(ov.Type, _OV_TYPES[name]), ov.Shape(list(array.shape)))
    raw = np.frombuffer(onnx_bytes(array), dtype=np.uint8)
    tensor.data.reshape(-1).view(np.uint8)[: raw.size] = raw
    return tensor


def _from_tensor(tensor) -> np.ndarray:
    from opcoverage.backends.onnxruntime import from_onnx_bytes

    name = _BY_OV_TYPE.get(tensor.element_type.get_type_name())
    data = np.array(tensor.data, copy=True)
    if name is None:
        return data
    return from_onnx_bytes(data.tobytes()[: tensor.byte_size], numpy_dtype(name), list(tensor.shape))
