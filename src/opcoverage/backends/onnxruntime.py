"""ONNX Runtime backend: builds one single-node ONNX model per case and runs it on an execution provider."""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import re
import time
from typing import Any

import numpy as np

from opcoverage.backends.base import (ArrayInfo, DeviceInfo, Execution, NotApplicable, Prepared, Unsupported,
                                     classify_by_message, missing_packages, reached, thread_budget)
from opcoverage.catalog.dtypes import STRING, dtype_name, numpy_dtype
from opcoverage.catalog.spec import CallBinding, OnnxBinding, OnnxCall, OpSpec, SampleSpec, resolve_dotted
from opcoverage.types import Sample, Seq, Status

# Short device names for execution providers; the full provider name is accepted as well.
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "dml": "DmlExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "xnnpack": "XnnpackExecutionProvider",
    "webgpu": "WebGpuExecutionProvider",
    "nnapi": "NnapiExecutionProvider",
    "cann": "CANNExecutionProvider",
    "acl": "ACLExecutionProvider",
    "armnn": "ArmNNExecutionProvider",
    "vitisai": "VitisAIExecutionProvider",
}
_BY_PROVIDER = {v.lower(): k for k, v in PROVIDERS.items()}
# Providers that forward to remote endpoints instead of running kernels here: never a target.
NOT_COMPUTE = ("AzureExecutionProvider",)


class OnnxRuntimeBackend:
    modes_not_applicable = {"grad": "ONNX Runtime has no runtime gradient op (ONNX training graphs are built "
                                    "offline, by onnxruntime-training's artifact generator)"}
    framework = "onnxruntime"
    binding = "onnx"

    def devices(self) -> list[DeviceInfo]:
        unavailable = missing_packages(("onnx", "onnxruntime"), "pip install onnx onnxruntime", PROVIDERS)
        if unavailable:
            return unavailable
        ort = _ort()
        available = set(ort.get_available_providers())
        out = []
        for device, provider in PROVIDERS.items():
            if provider in available:
                name = _cpu_name() if device == "cpu" else provider
                out.append(DeviceInfo(device, True, name=name, driver=f"{provider}, {ort.get_device()}"))
            else:
                out.append(DeviceInfo(device, False, f"{provider} is not in this onnxruntime build "
                                                     f"({ort.__version__}; it has {', '.join(sorted(available))})"))
        for provider in sorted(available - set(NOT_COMPUTE)):
            if provider.lower() not in _BY_PROVIDER:  # an EP we have no short name for still counts
                out.append(DeviceInfo(provider, True, name=provider))
        return out

    def normalize_device(self, device: str) -> str:
        return _BY_PROVIDER.get(device.lower(), device.lower() if device.lower() in PROVIDERS else device)

    def version(self) -> dict[str, str]:
        import onnx

        return {"onnxruntime": _ort().__version__, "onnx": onnx.__version__}

    def warm_up(self, device: str) -> None:
        """Pay the import and the first session's set-up outside any case's time."""
        spec = OpSpec("warm_up", "", SampleSpec("unary"), ("float32",), CallBinding("numpy.add"),
                      {"onnx": OnnxBinding("Add")})
        self.run(spec, Sample("warm_up", "float32", 0, (np.ones(4, np.float32),) * 2, {}, "", 0), device)

    def dispatched(self, spec: OpSpec, sample: Sample) -> tuple[str, ...]:
        """The op_type of the sample's single-node model (built and checked, not run)."""
        binding = spec.bindings["onnx"]
        assert isinstance(binding, OnnxBinding)
        return (build_model(binding, sample, spec.result_dtype)[1],)

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        binding = spec.bindings["onnx"]
        assert isinstance(binding, OnnxBinding)
        model, op_type, feeds = build_model(binding, sample, spec.result_dtype)
        provider = PROVIDERS.get(device, device)
        with reached(lambda: (op_type,)):
            model, negotiated = negotiate_versions(model)
            session, fallback = _session_or_fallback(model, provider, f"the {op_type} node")
            if _tensors_only(session):
                values = session.run_with_ort_values(None, {name: _to_ortvalue(a) for name, a in feeds.items()})
                outputs = tuple(_from_ortvalue(v) for v in values)
            else:  # run() itself feeds lists (sequences), None (empty optionals) and str arrays
                outputs = tuple(_from_python(v, o.type) for v, o in zip(session.run(None, feeds), session.get_outputs()))
        return Execution(outputs, (op_type,), fallback, negotiated)

    def prepare(self, spec: OpSpec, sample: Sample, device: str) -> Prepared:
        """A fresh session of the case's single-node model (CPU fallback disabled, as in ``run``) as a zero-argument
        call on feeds converted once; a run is synchronous. ``first_call_s`` covers building the session and the
        first run."""
        binding = spec.bindings["onnx"]
        assert isinstance(binding, OnnxBinding)
        model, _, feeds = build_model(binding, sample, spec.result_dtype)
        model, _ = negotiate_versions(model)
        provider = PROVIDERS.get(device, device)
        if any(not isinstance(a, np.ndarray) or a.dtype.kind == "U" for a in feeds.values()):
            raise Unsupported("timing takes tensors of numbers: this case feeds a sequence, an optional or strings")
        values = {name: _to_ortvalue(a) for name, a in feeds.items()}
        start = time.perf_counter()
        session = _session.__wrapped__(model, provider, strict=provider != "CPUExecutionProvider")  # uncached
        outputs = session.run_with_ort_values(None, values)
        first = time.perf_counter() - start
        inputs = {v.data_ptr() for v in values.values()}
        infos = tuple(ArrayInfo(tuple(v.shape()), _element_type(v.data_type()), v.tensor_size_in_bytes(),
                                v.data_ptr() in inputs) for v in outputs)
        threads = session.get_session_options().intra_op_num_threads or os.cpu_count()
        return Prepared(functools.partial(session.run_with_ort_values, None, values), infos, first, threads)

    def classify(self, error: BaseException) -> Status:
        return classify_by_message(error)

    def run_model(self, model: bytes, feeds: dict[str, Any], device: str) -> Execution:
        """Run a whole serialized ONNX model (an external suite's test) on the device, CPU fallback disabled as
        in ``run``. Feeds by input name: arrays of any ONNX element type (ml_dtypes for bfloat16, float8,
        int4, ...), lists of arrays for sequences, None for an empty optional::

            backend.run_model(model_bytes, {"x": np.ones(3, np.float32)}, "cpu").outputs
        """
        provider = PROVIDERS.get(device, device)
        # A suite's model runs once: caching its session would only hold memory.
        session, fallback = _session_or_fallback(model, provider, "every node of the model", cached=False)
        op_types = _model_op_types(model)
        exotic = any(isinstance(v, np.ndarray) and v.dtype.isbuiltin == 2 for v in feeds.values()) or any(
            _numpy_lacks(o.type) for o in session.get_outputs())
        if not exotic:  # run() converts NumPy arrays, strings, lists (sequences) and None (optionals) itself
            return Execution(tuple(session.run(None, dict(feeds))), op_types, fallback)
        outputs = session.run_with_ort_values(None, {name: _to_ortvalue(a) for name, a in feeds.items()})
        return Execution(tuple(_from_ortvalue(v) for v in outputs), op_types, fallback)


@functools.lru_cache(maxsize=None)
def _ort():
    import onnxruntime

    onnxruntime.set_default_logger_severity(4)  # errors reach us as exceptions; keep stderr clean
    return onnxruntime


@functools.lru_cache(maxsize=None)
def runtime_limits() -> tuple[int, int]:
    """(the newest model IR version, the newest ai.onnx opset) this onnxruntime loads, read from its own refusals
    of a one-node model stamped with the installed onnx's newest: an older runtime (1.24 beside onnx 1.23) says
    "max supported IR version: 13" and "official support for domain ai.onnx is till opset 25"."""
    import onnx
    from onnx import TensorProto, helper

    ir_version, opset = onnx.IR_VERSION, onnx.defs.onnx_opset_version()
    for _ in range(3):  # one refusal per limit
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = ir_version
        try:
            _ort().InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            break
        except Exception as exc:
            ir_limit = re.search(r"max supported IR version: (\d+)", str(exc))
            opset_limit = re.search(r"support for domain ai\.onnx is till opset (\d+)", str(exc))
            if ir_limit:
                ir_version = int(ir_limit.group(1))
            elif opset_limit:
                opset = int(opset_limit.group(1))
            else:
                break
    return ir_version, opset


def negotiate_versions(model: bytes) -> tuple[bytes, dict[str, Any]]:
    """The model restamped with the IR version and ai.onnx opset this runtime loads, when it is older than the onnx
    package that built the model, and what changed (``extra.negotiated``). A node whose schema is newer than the
    runtime's newest opset is not restamped: the runtime lacks that opset, which is reported as such
    (``Unsupported``, "this onnxruntime lacks opset N"), apart from a missing kernel."""
    max_ir, max_opset = runtime_limits()
    import onnx

    proto = onnx.ModelProto.FromString(model)
    default = next((o for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    changes: dict[str, Any] = {}
    if default is not None and default.version > max_opset:
        built = default.version
        for node in proto.graph.node:
            if node.domain not in ("", "ai.onnx"):
                continue
            since = onnx.defs.get_schema(node.op_type, built).since_version
            if since <= max_opset:
                continue
            lacks = (f"this onnxruntime ({_ort().__version__}) lacks opset {since}: it loads ai.onnx up to opset "
                     f"{max_opset}, and the node is {node.op_type}-{since}")
            try:
                older = onnx.defs.get_schema(node.op_type, max_opset).since_version
            except onnx.defs.SchemaError:
                raise Unsupported(f"{lacks}, which has no earlier version (not a missing kernel: the runtime "
                                  "predates the operator)") from None
            changes["node"] = f"{node.op_type}-{since} ran as {node.op_type}-{older}"
        default.version = max_opset
        if "node" in changes:  # an earlier version of the op: it must take these types and attributes too
            try:
                onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
            except onnx.shape_inference.InferenceError as exc:
                raise Unsupported(f"{lacks}; its opset-{max_opset} version does not take this node "
                                  f"({_first_line(exc)})") from None
        changes["opset"] = {"built": built, "ran": max_opset}
    if proto.ir_version > max_ir:
        changes["ir_version"] = {"built": proto.ir_version, "ran": max_ir}
        proto.ir_version = max_ir
    if not changes:
        return model, {}
    return proto.SerializeToString(), {"negotiated": changes}


def _cpu_name() -> str:
    from opcoverage.environment import cpu_model

    return cpu_model()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _session_or_fallback(model: bytes, provider: str, what: str, cached: bool = True):
    """A session on the provider alone; if it rejects ``what`` (e.g. "the Add node"), one with CPU fallback, and
    why (a `fallback`)."""
    new_session = _session if cached else _session.__wrapped__
    try:
        return new_session(model, provider, strict=provider != "CPUExecutionProvider"), None
    except Exception as exc:
        if provider == "CPUExecutionProvider" or not _is_placement_error(exc):
            raise
        reason = f"{provider} did not take {what}; CPUExecutionProvider ran what it rejected ({_first_line(exc)})"
        return new_session(model, provider, strict=False), reason


def _is_placement_error(exc: BaseException) -> bool:
    text = str(exc)
    return "fallback" in text.lower() or "assign" in text.lower() or "NOT_IMPLEMENTED" in text


@functools.lru_cache(maxsize=256)
def _session(model: bytes, provider: str, strict: bool):
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.intra_op_num_threads = thread_budget() or 0
    if strict:
        options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
        providers = [provider]
    else:
        providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
    return ort.InferenceSession(model, options, providers=providers)


def _onnx_type(dtype: np.dtype) -> int:
    from onnx import TensorProto, helper

    if dtype_name(dtype) == "bfloat16":
        return TensorProto.BFLOAT16
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _constant(value: Any, dtype: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "biu":  # axes, shapes, pads, k: ONNX takes these as 1-D int64 tensors
        return np.atleast_1d(array.astype(np.int64) if array.dtype.kind != "b" else array)
    return array.astype(numpy_dtype(dtype) if dtype != "bool" else np.float32)


def node_call(binding: OnnxBinding, sample: Sample) -> OnnxCall:
    """Map a sample onto the node's inputs and attributes, through the adapter when the binding names one."""
    if binding.adapter:
        return resolve_dotted(binding.adapter)(list(sample.args), dict(sample.kwargs))
    refs = binding.inputs if binding.inputs is not None else tuple(range(len(sample.args)))
    inputs: list[Any] = []
    constants = set()
    for ref in refs:
        if isinstance(ref, int):
            inputs.append(sample.args[ref])
        elif ref == "":
            inputs.append(None)
        elif isinstance(ref, str) and ref.startswith("$"):
            if ref[1:] in sample.kwargs and sample.kwargs[ref[1:]] is not None:
                constants.add(len(inputs))
                inputs.append(_constant(sample.kwargs[ref[1:]], sample.dtype))
            else:
                inputs.append(None)
        else:
            raise ValueError(f"onnx input reference {ref!r} is neither an index, '' nor '$kwarg'")
    attributes = {}
    for name, value in binding.attributes.items():
        if isinstance(value, str) and value.startswith("$"):
            if value[1:] not in sample.kwargs:
                continue
            value = sample.kwargs[value[1:]]
        attributes[name] = int(value) if isinstance(value, bool) else value
    return OnnxCall(tuple(inputs), attributes, frozenset(constants))


def build_model(binding: OnnxBinding, sample: Sample, result_dtype: tuple[str, ...],
                n_outputs: int | None = None) -> tuple[bytes, str, dict[str, Any]]:
    """One single-node model for this sample; returns (serialized model, op_type, feeds by input name: arrays,
    lists of arrays for sequence inputs, None for an empty optional)."""
    import onnx
    from onnx import TensorProto, helper

    call = node_call(binding, sample)
    op_type = call.op_type or binding.op_type
    names, graph_inputs, initializers, feeds = [], [], [], {}
    # Trailing optional inputs are simply left off; an empty optional value (a declared type) is an input.
    while call.inputs and call.inputs[-1] is None and len(call.inputs) - 1 not in call.types:
        call = dataclasses.replace(call, inputs=call.inputs[:-1])
    for i, value in enumerate(call.inputs):
        if value is None and i not in call.types:
            names.append("")
            continue
        name = f"x{i}"
        names.append(name)
        if i in call.types or isinstance(value, Seq):
            graph_inputs.append(helper.make_value_info(name, _value_type(value, call.types.get(i))))
            feeds[name] = None if value is None else [np.asarray(v) for v in value] if isinstance(value, Seq) \
                else np.asarray(value)
            continue
        value = np.asarray(value)
        if i in call.constants:
            initializers.append(_initializer(name, value))
        else:
            graph_inputs.append(helper.make_tensor_value_info(name, _onnx_type(value.dtype), list(value.shape)))
            feeds[name] = value
    count = n_outputs or _output_count(binding, op_type, call, sample)
    outputs = [f"y{i}" for i in range(count)]
    node = helper.make_node(op_type, names, outputs, domain=binding.domain or None, **call.attributes)
    opset = binding.opset or onnx.defs.onnx_opset_version()
    opsets = [helper.make_opsetid("", opset if not binding.domain else onnx.defs.onnx_opset_version())]
    if binding.domain:
        opsets.append(helper.make_opsetid(binding.domain, binding.opset or 1))
    undefined = [helper.make_value_info(o, onnx.TypeProto()) for o in outputs]  # any type: tensor, seq, optional
    graph = helper.make_graph([node], f"opcoverage_{sample.op}", graph_inputs, undefined, initializer=initializers)
    model = helper.make_model(graph, opset_imports=opsets, producer_name="opcoverage")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except onnx.shape_inference.InferenceError as exc:
        if any(m in str(exc) for m in ("Type Error", "has unsupported type", "type constraint")):
            raise NotApplicable(f"the ONNX {op_type} schema does not define these input types: {_first_line(exc)}") from None
        # Strict inference also fails inside some of onnx's own function bodies; let the runtime decide then.
        inferred = onnx.shape_inference.infer_shapes(model)
    typed = []
    for o, out in zip(outputs, inferred.graph.output):
        if out.type.WhichOneof("value") in ("sequence_type", "optional_type"):
            typed.append(helper.make_value_info(o, _without_shapes(out.type)))
            continue
        elem = out.type.tensor_type.elem_type
        if elem == TensorProto.UNDEFINED:  # inference could not tell; assume the sample's dtype
            elem = _onnx_type(numpy_dtype(sample.dtype))
        typed.append(helper.make_tensor_value_info(o, elem, None))
    del model.graph.output[:]
    model.graph.output.extend(typed)
    return model.SerializeToString(), op_type, feeds


def type_proto(text: str):
    """The TypeProto of an ONNX type written as ONNX and ONNX Runtime write it: ``tensor(float)``,
    ``seq(tensor(int64))``, ``optional(seq(tensor(string)))``."""
    from onnx import TensorProto, helper

    if text.startswith("seq(") and text.endswith(")"):
        return helper.make_sequence_type_proto(type_proto(text[4:-1]))
    if text.startswith("optional(") and text.endswith(")"):
        return helper.make_optional_type_proto(type_proto(text[9:-1]))
    elem = getattr(TensorProto, text[7:-1].upper(), None) if text.startswith("tensor(") and text.endswith(")") else None
    if not isinstance(elem, int):
        raise ValueError(f"{text!r} is not an ONNX type; write e.g. tensor(float), seq(tensor(int64)), "
                         "optional(tensor(float))")
    return helper.make_tensor_type_proto(elem, None)


def _value_type(value: Any, declared: str | None):
    """A graph input's type: as declared (OnnxCall.types), else a sequence of its first tensor's element type."""
    from onnx import helper

    if declared is not None:
        return type_proto(declared)
    if not value:
        raise ValueError("an empty sequence input needs its type declared (OnnxCall.types)")
    return helper.make_sequence_type_proto(helper.make_tensor_type_proto(_onnx_type(np.asarray(value[0]).dtype), None))


def _without_shapes(proto):
    """A copy of an inferred type without its shapes: the model declares its outputs' types, not their shapes."""
    out = type(proto)()
    out.CopyFrom(proto)
    inner = out
    while inner.WhichOneof("value") in ("sequence_type", "optional_type"):
        inner = getattr(inner, inner.WhichOneof("value")).elem_type
    if inner.WhichOneof("value") == "tensor_type":
        inner.tensor_type.ClearField("shape")
    return out


def _tensors_only(session) -> bool:
    """Whether every input and output of a session is a tensor of numbers (what OrtValues carry here)."""
    return all(v.type.startswith("tensor(") and v.type != "tensor(string)"
               for v in (*session.get_inputs(), *session.get_outputs()))


def _from_python(value: Any, ort_type: str) -> Any:
    """An output of ``InferenceSession.run`` by its ORT type: a Seq for a sequence, None for an empty optional,
    a str array for strings (ONNX Runtime returns object arrays), else an array."""
    if ort_type.startswith("seq("):
        return Seq((_from_python(v, ort_type[4:-1]) for v in value), _element_type(ort_type[4:-1]))
    if ort_type.startswith("optional("):
        return None if value is None else _from_python(value, ort_type[9:-1])
    if ort_type == "tensor(string)":
        return np.asarray(value).astype(np.str_)
    return np.asarray(value)


def tensor_feeds(feeds: dict[str, Any], runtime: str) -> list[np.ndarray]:
    """The feeds of a runtime that takes tensors only (OpenVINO, IREE), in order; Unsupported, saying which input
    is not a tensor, where the node takes a sequence or an optional that the runtime still compiled."""
    for name, value in feeds.items():
        if not isinstance(value, np.ndarray):
            what = "an empty optional" if value is None else f"a sequence of {len(value)} tensors"
            raise Unsupported(f"{runtime} takes tensors as inputs; the node's input {name} is {what}")
    return list(feeds.values())


def _output_count(binding: OnnxBinding, op_type: str, call: OnnxCall, sample: Sample) -> int:
    import onnx

    if call.n_outputs is not None:
        return call.n_outputs
    if "num_outputs" in call.attributes:
        return int(call.attributes["num_outputs"])
    schema = onnx.defs.get_schema(op_type, binding.opset or onnx.defs.onnx_opset_version(), binding.domain)
    if schema.max_output == 1 or not schema.outputs:
        return 1
    optional = onnx.defs.OpSchema.FormalParameterOption.Optional
    return max(1, sum(1 for o in schema.outputs if o.option != optional))


def _initializer(name: str, value: np.ndarray):
    from onnx import helper, numpy_helper

    if dtype_name(value.dtype) == "bfloat16":
        return helper.make_tensor(name, _onnx_type(value.dtype), value.shape, value.view(np.uint16).tobytes(), raw=True)
    return numpy_helper.from_array(value, name)


def _model_op_types(model: bytes) -> tuple[str, ...]:
    """The op types of a model's top-level nodes, in order, once each."""
    import onnx

    return tuple(dict.fromkeys(node.op_type for node in onnx.ModelProto.FromString(model).graph.node))


def _numpy_lacks(ort_type: str) -> bool:
    """Whether an ORT type such as ``tensor(float8e4m3fn)`` has no NumPy dtype (only an ml_dtypes one)."""
    from onnx import TensorProto, helper

    elem = getattr(TensorProto, ort_type[len("tensor("):-1].upper(), None) if ort_type.startswith("tensor(") else None
    return elem is not None and elem != TensorProto.STRING and helper.tensor_dtype_to_np_dtype(elem).isbuiltin == 2


def _to_ortvalue(array: np.ndarray):
    """An OrtValue of any ONNX element type NumPy or ml_dtypes has: those NumPy lacks (bfloat16, float8, int4, ...)
    as the bytes onnx would store (sub-byte types such as int4 packed two to a byte), laid over an array of the
    tensor's logical shape."""
    ort = _ort()
    array = np.require(array, requirements='C')
    if array.dtype.isbuiltin != 2:  # 2: a user-defined dtype, which is how ml_dtypes registers its types
        return ort.OrtValue.ortvalue_from_numpy(array)
    from onnx import helper

    raw = np.frombuffer(onnx_bytes(array), dtype=np.uint8)
    carrier = np.zeros(array.shape, dtype=np.uint16 if array.dtype.itemsize == 2 else np.uint8)
    carrier.reshape(-1).view(np.uint8)[: raw.size] = raw
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(carrier, helper.np_dtype_to_tensor_dtype(array.dtype))


def onnx_bytes(array: np.ndarray) -> bytes:
    """The bytes ONNX stores a tensor's elements as (raw_data): 4-bit types packed two to a byte, low nibble
    first. Runtimes that take ml_dtypes' types by their bits (ONNX Runtime, OpenVINO) are fed these."""
    from onnx import numpy_helper

    return numpy_helper.from_array(np.require(array, requirements='C')).raw_data


def from_onnx_bytes(raw: bytes, dtype: np.dtype, shape: Any) -> np.ndarray:
    """The array of ``shape`` whose elements ONNX would store as ``raw`` (onnx_bytes read back), in ``dtype``."""
    from onnx import helper, numpy_helper

    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return numpy_helper.to_array(helper.make_tensor("y", elem, list(shape), raw, raw=True))


def _from_ortvalue(value) -> np.ndarray:
    """An OrtValue's array: types NumPy lacks are read back through onnx's own decoding of the raw bytes (ml_dtypes
    arrays)."""
    from onnx import TensorProto, helper

    if not _numpy_lacks(value.data_type()):
        return value.numpy()
    elem = getattr(TensorProto, value.data_type()[len("tensor("):-1].upper())
    size = value.tensor_size_in_bytes()
    raw = (ctypes.c_char * size).from_address(value.data_ptr()).raw if size else b""
    return from_onnx_bytes(raw, helper.tensor_dtype_to_np_dtype(elem), value.shape())


def _element_type(ort_type: str) -> str:
    """``tensor(float)`` -> ``float32``: the catalog's dtype name of an ORT element type."""
    from onnx import TensorProto, helper

    elem = getattr(TensorProto, ort_type[len("tensor("):-1].upper(), None) if ort_type.startswith("tensor(") else None
    if elem == TensorProto.STRING:  # NumPy holds ONNX strings as objects; the catalog names them "string"
        return STRING
    return dtype_name(helper.tensor_dtype_to_np_dtype(elem)) if elem is not None else ort_type
