"""IREE backend: imports each case's single-node ONNX model into MLIR, compiles it to a .vmfb, and runs it.

It consumes the ``onnx`` binding rather than jax's StableHLO: the ONNX node is the same question every other
ONNX consumer here is asked (ONNX Runtime, OpenVINO), IREE's in-process ONNX importer takes it without a second
framework in the loop, and the onnx binding covers more of the catalog than a StableHLO export of the jax
binding would add (a jax export first passes through XLA's own lowering, whose custom calls, such as LAPACK's,
IREE cannot legalize at all).

Stages: the importer (``convert``: an ONNX op it has no rule for is ``unsupported``), the compiler
(``compile``: "failed to legalize operation" is ``unsupported``) and the runtime (``run``). ``compile_str`` runs
``iree-compile`` as a child process: a compiler that dies on a signal (Unique's segfault) fails only its own
case, as ``crash`` with the signal, and the worker goes on. IREE demotes float64 to float32 by default
(``--iree-input-demote-f64-to-f32``, IREE #15830); the runtime then fails on the buffer sizes, and the failure's
message says so.

Compiled modules are cached on disk by op, dtype, model signature, opset and target (``OPCOV_CACHE_DIR``).
``iree-compile``'s fixed cost dominates a single node (about 0.9 s of 1.0 s), so the cases of one op are compiled
as one module with a function per case (``build_group``, opcoverage.execute.groups): each case still runs its
own function on its own inputs; the members the importer or the compiler rejects are dropped and the rest compiled
again, and each dropped case compiles alone. A compile past its deadline (COMPILE_DEADLINE_S for a case's own
module) is killed: the case is a ``timeout`` at stage ``compile``, kept in the cache so a later run replays it.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from opcoverage.backends.base import (ArrayInfo, DeviceInfo, Execution, Prepared, Unsupported, at_stage,
                                     classify_by_message, failed_stage, reached)
from opcoverage.cache import digest
from opcoverage.catalog.dtypes import dtype_name
from opcoverage.catalog.spec import OnnxBinding, OpSpec
from opcoverage.types import Sample, Stage, Status

# Target device -> (the compiler's target backend, the runtime's HAL driver, what it needs here).
DEVICES = {
    "llvm-cpu": ("llvm-cpu", "local-sync", "the CPU, through LLVM; run on the synchronous single-thread driver"),
    "vulkan": ("vulkan-spirv", "vulkan", "a Vulkan GPU (SPIR-V); needs the Vulkan loader and a device"),
    "cuda": ("cuda", "cuda", "an NVIDIA GPU; needs libcuda.so and a device"),
    "rocm": ("rocm", "hip", "an AMD GPU (HIP); needs libamdhip64.so and a device"),
}
# Compile for this machine's CPU (the default, a generic x86-64, leaves the vector units unused); the cache key
# carries the CPU model, so a cache moved to another machine is not reused there.
COMPILE_FLAGS = {"llvm-cpu": ["--iree-llvmcpu-target-cpu=host"]}
INSTALL = "pip install iree-base-compiler iree-base-runtime (or pip install 'opcoverage[iree]')"
# A case's own module compiles within this many seconds or is a `timeout` (kept in the compile cache, so a later
# run does not wait again). The longest single-node compile of the whole catalog took LONGEST_COMPILE_S here (the
# whole case, mel_weight_matrix float64; typical ones take 0.5 to 1 s), and this VM's speed varies by a third
# between runs: the deadline leaves nearly three times that. A group's module (the longest, 22 replication_pad3d
# functions, took 24 s) has twice as long; past it, its members compile alone. circular_pad's ONNX Pad "wrap"
# never finishes: torch-mlir's DecomposeComplexOps pass loops (the last pass `iree-compile
# --mlir-print-ir-before-all` enters).
LONGEST_COMPILE_S = 5.4
COMPILE_DEADLINE_S = 15.0
GROUP_DEADLINE_S = 2 * COMPILE_DEADLINE_S
# Compiler diagnostics that mean "no lowering for this op or type" rather than a broken compiler.
NOT_LEGALIZED = re.compile(r"failed to legalize|unsupported|not supported|failed to convert|No lowering|"
                           r"unhandled|unimplemented|not implemented", re.IGNORECASE)
DEMOTED_F64 = "IREE demotes float64 to float32 by default (--iree-input-demote-f64-to-f32; iree-org/iree#15830)"


class IreeBackend:
    framework = "iree"
    binding = "onnx"
    group_size = 48  # cases compiled as one module: 48 single-node functions compile in about 1.6 s, one in 0.9 s

    def devices(self) -> list[DeviceInfo]:
        missing = [m for m in ("onnx", "iree.compiler", "iree.runtime") if _missing(m)]
        if missing:
            reason = f"package {' and '.join(missing)} not installed ({INSTALL})"
            return [DeviceInfo(d, False, reason) for d in DEVICES]
        from iree.compiler.tools.core import query_available_targets

        import iree.runtime as rt

        targets, drivers = set(query_available_targets()), set(rt.query_available_drivers())
        out = []
        for device, (backend, driver, what) in DEVICES.items():
            if backend not in targets or driver not in drivers:
                out.append(DeviceInfo(device, False, f"this IREE build lacks the {backend} compiler target or the "
                                                     f"{driver} driver; it runs on {what}"))
                continue
            try:
                found = rt.get_driver(driver).query_available_devices()
            except Exception as exc:  # the driver's library (libcuda, the Vulkan loader) is not on this machine
                out.append(DeviceInfo(device, False, f"{what}: {str(exc).strip().splitlines()[0][:160]}"))
                continue
            if not found:
                out.append(DeviceInfo(device, False, f"the {driver} driver sees no device ({what})"))
            else:
                name = _cpu_name() if device == "llvm-cpu" else str(found[0].get("name", ""))
                out.append(DeviceInfo(device, True, name=name, driver=f"compiler target {backend}, HAL driver {driver}"))
        return out

    def normalize_device(self, device: str) -> str:
        return {"cpu": "llvm-cpu", "llvm_cpu": "llvm-cpu", "hip": "rocm"}.get(device.lower(), device.lower())

    def version(self) -> dict[str, str]:
        from importlib.metadata import version

        import onnx

        return {"iree-base-compiler": version("iree-base-compiler"), "iree-base-runtime": version("iree-base-runtime"),
                "onnx": onnx.__version__}

    def dispatched(self, spec: OpSpec, sample: Sample) -> tuple[str, ...]:
        return (_model(spec, sample)[1],)

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        from opcoverage.backends.onnxruntime import tensor_feeds

        model, op_type, feeds = _model(spec, sample)
        extra: dict[str, Any] = {}
        with reached(lambda: (op_type,)):
            grouped = _GROUPED.get((digest(model), device))
            if grouped is not None:  # compiled with the other cases of its group: its own function in that module
                vmfb, function, cached, extra["group"] = grouped
            else:
                vmfb, cached = _vmfb(spec.name, sample.dtype, model, device)
                function = _function_name(model)
            extra["cache"] = "hit" if cached else "built"
            with at_stage(Stage.RUN):
                inputs = tensor_feeds(feeds, "IREE's runtime")
                try:
                    outputs = _invoke(vmfb, device, function, inputs)
                except Exception as exc:
                    if sample.dtype == "float64" or any(a.dtype == np.float64 for a in feeds.values()):
                        raise RuntimeError(f"{DEMOTED_F64}, and the runtime then fails: {exc}") from exc
                    raise
        return Execution(outputs, (op_type,), None, extra)

    def build_group(self, spec: OpSpec, samples: list[Sample], device: str) -> bool:
        """Compile the samples' single-node models as one module, function ``case<i>`` for sample i; each sample
        whose function compiled then runs it (``extra.group``: how many were compiled together). A member the
        importer rejects, or that a compiler error names (its node carries its name as MLIR location), is dropped
        and the rest compiled again; the dropped ones compile alone. Raises when no part of the group compiles."""
        models: dict[int, bytes] = {}
        for i, sample in enumerate(samples):
            try:
                models[i] = _model(spec, sample)[0]
            except Exception:  # no model for it (a type the ONNX schema lacks): its own case says so
                continue
        chosen = list(models)
        for _ in range(4):
            if len(chosen) < 2:
                raise RuntimeError("fewer than two members of the group compile")
            names = [f"case{i}" for i in chosen]
            key = _cache().key(op=spec.name, dtype=",".join(sorted({samples[i].dtype for i in chosen})), opset=None,
                               signature=digest("".join(digest(models[i]) for i in chosen)), target=device,
                               flags=COMPILE_FLAGS.get(device, []), cpu=_cpu_name(), group=names)
            try:
                vmfb, cached = _compiled(key, lambda: _compile([models[i] for i in chosen], device, names,
                                                               GROUP_DEADLINE_S))
            except (TimeoutError, CompilerCrash):  # its members compile alone, each within its own deadline
                raise
            except Exception as exc:
                failing = _failing_members(exc, models, chosen)
                if not failing:
                    raise
                chosen = [i for i in chosen if i not in failing]
                continue
            _GROUPED.clear()  # one group at a time: the worker runs a group's cases in a row
            for i in chosen:
                _GROUPED[(digest(models[i]), device)] = (vmfb, f"case{i}", cached, len(chosen))
            return True
        raise RuntimeError("the group still fails to compile after dropping the members its errors named")

    def prepare(self, spec: OpSpec, sample: Sample, device: str) -> Prepared:
        """The loaded function as a zero-argument call on its inputs; ``first_call_s`` covers importing, compiling
        (never from the disk cache), loading the module and the first call."""
        model, _, feeds = _model(spec, sample)
        inputs = list(feeds.values())
        start = time.perf_counter()
        vmfb = _compile([model], device)
        function = _function.__wrapped__(vmfb, device, _function_name(model))
        outputs = _to_host(function(*inputs))
        first = time.perf_counter() - start
        infos = tuple(ArrayInfo(tuple(o.shape), dtype_name(o.dtype), o.nbytes) for o in outputs)
        return Prepared(functools.partial(lambda f, a: _to_host(f(*a)), function, inputs), infos, first, 1)

    def classify(self, error: BaseException) -> Status:
        stage = failed_stage(error)
        if isinstance(error, CompilerCrash):
            return Status.CRASH
        if isinstance(error, TimeoutError):  # a compile past its deadline, also one replayed from the cache
            return Status.TIMEOUT
        if stage is Stage.CONVERT:
            return Status.UNSUPPORTED
        if stage is Stage.COMPILE and NOT_LEGALIZED.search(str(error)):
            return Status.UNSUPPORTED
        return classify_by_message(error)


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:  # the parent package (iree) is absent
        return True


def _model(spec: OpSpec, sample: Sample) -> tuple[bytes, str, dict[str, np.ndarray]]:
    from opcoverage.backends.onnxruntime import build_model

    binding = spec.bindings["onnx"]
    assert isinstance(binding, OnnxBinding)
    return build_model(binding, sample, spec.result_dtype)


def _function_name(model: bytes) -> str:
    """The importer names the module's function after the ONNX graph."""
    import onnx

    return onnx.ModelProto.FromString(model).graph.name


@functools.lru_cache(maxsize=None)
def _cache():
    from opcoverage.cache import CompileCache

    return CompileCache("iree", IreeBackend().version(), suffix=".vmfb")


def _vmfb(op: str, dtype: str, model: bytes, device: str) -> tuple[bytes, bool]:
    """The case's own module, from the disk cache or compiled now within COMPILE_DEADLINE_S; a compile that ran
    past its deadline before (same key, versions and backend code) times out again from the cache at once."""
    cache = _cache()
    key = cache.key(op=op, dtype=dtype, signature=digest(model), opset=None, target=device,
                    flags=COMPILE_FLAGS.get(device, []), cpu=_cpu_name(), deadline=COMPILE_DEADLINE_S)
    return _compiled(key, lambda: _compile([model], device, deadline=COMPILE_DEADLINE_S))


def _compiled(key: str, compile_module) -> tuple[bytes, bool]:
    """(the module, whether it came from the cache): compiled on a miss; a compile past its deadline is kept, and
    raised again from the cache by a later run without compiling."""
    cache = _cache()
    kept = cache.failure(key, _BUILDER)
    if kept is not None:
        raise kept
    try:
        return cache.get_or_build(key, compile_module)
    except CompileTimeout as exc:
        cache.put_failure(key, exc, _BUILDER)
        raise


def import_onnx(models: list[bytes], names: list[str] | None = None) -> str:
    """The models as MLIR in IREE's torch-onnx input dialect, imported in this process: one module with a
    function per model, named after its graph or by ``names``."""
    import onnx
    from iree.compiler.extras import onnx_importer
    from iree.compiler.ir import Context

    context = Context()
    module = None
    for i, model in enumerate(models):
        # The single-node model declares its outputs' types but not their shapes: the importer wants both.
        proto = onnx.shape_inference.infer_shapes(onnx.ModelProto.FromString(model))
        if names:  # the function's name, and its node's MLIR location, which the compiler's errors then name
            proto.graph.name = names[i]
            for node in proto.graph.node:
                node.name = names[i]
        info = onnx_importer.ModelInfo(proto)
        if module is None:
            module = info.create_module(context=context).operation
            types = onnx_importer.ContextCache(context)
            functions = onnx_importer.ModuleCache(module, types)
        onnx_importer.NodeImporter.define_function(info.main_graph, module, types, functions).import_all()
    assert module is not None, "no model to import"
    module.verify()
    return module.get_asm(assume_verified=True, enable_debug_info=bool(names))


def _failing_members(error: BaseException, models: dict[int, bytes], chosen: list[int]) -> list[int]:
    """The members of a group that made its build fail: those the importer rejects alone, or those whose
    location (``loc("case<i>")``) a compiler error names."""
    if failed_stage(error) is Stage.CONVERT:
        failing = []
        for i in chosen:
            try:
                import_onnx([models[i]])
            except Exception:
                failing.append(i)
        return failing
    text = str(error.__cause__ or error)
    named = {int(n) for line in text.splitlines() if "error" in line for n in re.findall(r'loc\("case(\d+)"\)', line)}
    return [i for i in chosen if i in named]


def _compile(models: list[bytes], device: str, names: list[str] | None = None,
             deadline: float | None = None) -> bytes:
    import iree.compiler as compiler

    with at_stage(Stage.CONVERT):
        try:
            text = import_onnx(models, names)
        except Exception as exc:
            raise Unsupported(f"IREE's ONNX importer cannot import the node: {_first_line(exc)}") from exc
    with at_stage(Stage.COMPILE):
        try:
            return _compile_str(text, device, deadline)
        except compiler.CompilerToolError as exc:
            code = re.search(r"Error code: (-?\d+)", str(exc))
            if code and int(code.group(1)) < 0:
                raise CompilerCrash(f"iree-compile died from {_signal_name(-int(code.group(1)))}: "
                                    f"{compile_diagnostic(exc)}") from exc
            raise RuntimeError(f"iree-compile failed: {compile_diagnostic(exc)}") from exc


def _compile_str(text: str, device: str, deadline: float | None) -> bytes:
    """``iree.compiler.compile_str``, whose ``iree-compile`` child is killed past ``deadline`` seconds."""
    import subprocess

    from iree.compiler.tools import core
    from iree.compiler.tools.debugging import TempFileSaver

    options = core.CompilerOptions(input_type="onnx", target_backends=[DEVICES[device][0]],
                                   extra_args=COMPILE_FLAGS.get(device, []))
    with TempFileSaver.implicit() as saver:
        command = core.build_compile_command_line("-", saver, options)
        try:
            process = subprocess.run(command, input=text.encode(), capture_output=True, timeout=deadline)
        except subprocess.TimeoutExpired:  # subprocess.run has killed the compiler
            why = (f" (the catalog's longest single-node compile took {LONGEST_COMPILE_S:g} s)"
                   if deadline == COMPILE_DEADLINE_S else "")
            raise CompileTimeout(f"iree-compile did not finish within {deadline:g} s and was killed{why}") from None
    if process.returncode != 0:
        raise core.CompilerToolError(process)
    return process.stdout


class CompileTimeout(TimeoutError):
    """iree-compile ran past its deadline (COMPILE_DEADLINE_S): the case is a ``timeout``, kept in the cache."""


class CompilerCrash(RuntimeError):
    """iree-compile (which compile_str runs as a child process) died from a signal: the case is a ``crash``."""


def _signal_name(number: int) -> str:
    import signal

    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"


def compile_diagnostic(exc: BaseException) -> str:
    """The compiler's first ``error:`` line (with the op it names), not its whole invocation and IR dump."""
    lines = str(exc).splitlines()
    errors = [line.split("error:", 1)[1].strip() for line in lines if "error:" in line]
    return "; ".join(dict.fromkeys(errors[:3])) if errors else _first_line(exc)


# This module's code, in the key of a kept failure: a changed backend compiles again what failed before.
_BUILDER = digest(Path(__file__).read_bytes())[:12]

# The cases of the group being run: (model digest, device) -> (its module, its function, from the disk cache, size).
_GROUPED: dict[tuple[str, str], tuple[bytes, str, bool, int]] = {}


@functools.lru_cache(maxsize=None)
def _config(driver: str):
    import iree.runtime as rt

    return rt.Config(driver)


@functools.lru_cache(maxsize=64)
def _function(vmfb: bytes, device: str, name: str):
    import iree.runtime as rt

    context = rt.SystemContext(config=_config(DEVICES[device][1]))
    context.add_vm_module(rt.VmModule.copy_buffer(context.instance, vmfb))
    return context.modules.module[name]


def _invoke(vmfb: bytes, device: str, name: str, inputs: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    function = _function(vmfb, device, name)
    try:
        return _to_host(function(*[np.require(a, requirements="C") for a in inputs]))
    except ValueError as exc:  # the runtime maps no host arrays of some ml_dtypes types (int4, uint4)
        if "could not map dtype" not in str(exc):
            raise
        lacking = sorted({dtype_name(a.dtype) for a in inputs if a.dtype.isbuiltin == 2})
        raise Unsupported(f"IREE's runtime takes no {', '.join(lacking)} arrays ({_first_line(exc)})") from None


def _to_host(result: Any) -> tuple[np.ndarray, ...]:
    values = result if isinstance(result, (tuple, list)) else (result,)
    return tuple(np.array(v.to_host() if hasattr(v, "to_host") else v, copy=True) for v in values)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _cpu_name() -> str:
    from opcoverage.environment import cpu_model

    return cpu_model()
