"""torch backend: runs a torch binding on any torch device type, recording the aten overloads it dispatched."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import time
import warnings
from typing import Any, Iterator

import numpy as np

from opcoverage.backends.base import (ArrayInfo, DeviceInfo, Execution, NotApplicable, Prepared, Unsupported,
                                     as_output_tuple, classify_by_message, reached, thread_budget)
from opcoverage.catalog.dtypes import dtype_name, numpy_dtype
from opcoverage.catalog.spec import CallBinding, OpSpec
from opcoverage.types import Sample, Status

KNOWN_DEVICES = ("cpu", "cuda", "mps", "xpu")
# Warnings that mean part of the op ran on the CPU instead of the target (the MPS fallback, for one).
FALLBACK_MARKERS = ("fall back to run on the CPU", "falling back to CPU", "fallback to CPU")


class TorchBackend:
    framework = "torch"
    binding = "torch"
    modes = ("forward", "grad", "compile", "export")
    modes_not_applicable = {"vmap": "vmap is a jax mode here (torch.func.vmap is not in this suite yet)"}

    def _torch(self):
        import torch

        threads = thread_budget()
        if threads and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return torch

    def devices(self) -> list[DeviceInfo]:
        if importlib.util.find_spec("torch") is None:
            return [DeviceInfo(d, False, "package torch is not installed (pip install torch)") for d in KNOWN_DEVICES]
        return [self.probe(d) for d in KNOWN_DEVICES]

    def probe(self, device: str) -> DeviceInfo:
        if importlib.util.find_spec("torch") is None:
            return DeviceInfo(device, False, "package torch is not installed (pip install torch)")
        torch = self._torch()
        if device == "cpu":
            return DeviceInfo("cpu", True, name=_cpu_name(), driver=f"threads={torch.get_num_threads()}, quantized "
                                                                     f"engine {torch.backends.quantized.engine}")
        module = getattr(torch, device, None)
        is_available = getattr(module, "is_available", None)
        if is_available is None:
            return DeviceInfo(device, False, f"torch {torch.__version__} has no device type {device!r}")
        try:
            ok = bool(is_available())
        except Exception as exc:  # a broken driver must not break `opcoverage targets`
            return DeviceInfo(device, False, f"torch.{device}.is_available() raised {exc}")
        if not ok:
            return DeviceInfo(device, False, f"no {device} device (torch.{device}.is_available() is False)")
        name, driver = "", ""
        get_name = getattr(module, "get_device_name", None)
        if get_name is not None:
            try:
                name = str(get_name(0))
            except Exception:
                name = ""
        if device == "cuda":
            driver = f"cuda {torch.version.cuda}" if torch.version.cuda else f"hip {torch.version.hip}"
        return DeviceInfo(device, True, name=name, driver=driver)

    def normalize_device(self, device: str) -> str:
        return device.lower().split(":")[0] if device.lower().startswith(KNOWN_DEVICES) else device.lower()

    def version(self) -> dict[str, str]:
        return {"torch": self._torch().__version__}

    def warm_up(self, device: str) -> None:
        """Pay one-time initialisation (lazy imports, allocator, dispatch-mode machinery) outside any case's time."""
        from opcoverage.catalog.spec import CallBinding, OpSpec, SampleSpec

        spec = OpSpec("warm_up", "", SampleSpec("unary"), ("float32",), CallBinding("numpy.add"),
                      {"torch": CallBinding("torch.add")})
        self.run(spec, Sample("warm_up", "float32", 0, (np.ones(4, np.float32),) * 2, {}, "", 0), device)

    def dispatched(self, spec: OpSpec, sample: Sample) -> tuple[str, ...]:
        """The aten overloads a sample dispatches (traced by running it on the CPU)."""
        return self.run(spec, sample, "cpu").dispatched

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        torch = self._torch()
        from torch.utils._python_dispatch import TorchDispatchMode

        binding = spec.bindings["torch"]
        assert isinstance(binding, CallBinding)
        fn = binding.resolve()
        args = [to_torch(a, device, sample.layout) for a in sample.args]
        kwargs = binding.rename(sample.kwargs)
        dispatched: list[str] = []
        devices_seen: set[str] = set()

        class Recorder(TorchDispatchMode):
            supports_higher_order_operators = True  # torch.cond / while_loop reach the mode as one call

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                dispatched.append(func.name())
                out = func(*args, **(kwargs or {}))
                for t in as_output_tuple(out):
                    if isinstance(t, torch.Tensor):
                        devices_seen.add(t.device.type)
                return out

        def trace() -> list[str]:
            # A second call, on fresh inputs, only to record the aten overloads: a dispatch mode can reroute an op
            # to other kernels (max_pool1d on integers runs under one and fails without), so no verdict uses it.
            fresh = [to_torch(a, device, sample.layout) for a in sample.args]
            try:
                with Recorder():
                    fn(*fresh, **kwargs)
            except Exception:
                pass
            return dispatched

        fell_back: list[str] = []
        with fallback_warnings(fell_back), reached(trace):
            result = fn(*args, **kwargs)
            synchronize(torch, device)
        outputs = tuple(from_torch(t) for t in as_output_tuple(result))
        trace()
        fallback = None
        if fell_back:
            fallback = fell_back[0]
        elif device != "cpu":
            produced = {t.device.type for t in as_output_tuple(result) if isinstance(t, torch.Tensor)}
            strays = (produced | devices_seen) - {device}
            if strays:
                fallback = f"tensors were produced on {', '.join(sorted(strays))}, not {device}"
        return Execution(outputs, tuple(dict.fromkeys(dispatched)), fallback)

    def run_mode(self, spec: OpSpec, sample: Sample, device: str, mode: Any, request: Any = None) -> Execution:
        """``spec`` in ``mode`` (an opcoverage.modes.Mode): grad returns J^T v for ``request`` (a GradRequest);
        compile and export return the op's outputs as run by the compiled or exported program."""
        from opcoverage.backends import torch_modes

        torch = self._torch()
        if mode.name == "grad":
            return torch_modes.run_grad(torch, spec, sample, device, request)
        if mode.name == "compile":
            return torch_modes.run_compiled(torch, spec, sample, device, mode.compile_backend)
        if mode.name == "export":
            return torch_modes.run_exported(torch, spec, sample, device)
        raise NotApplicable(f"torch runs no {mode} mode")

    def prepare(self, spec: OpSpec, sample: Sample, device: str) -> Prepared:
        """The op as a synchronised zero-argument call on inputs already on ``device`` (for timing; no dispatch
        recording): ``backend.prepare(spec, sample, "cpu").call()``."""
        torch = self._torch()
        binding = spec.bindings["torch"]
        assert isinstance(binding, CallBinding)
        args = [to_torch(a, device, sample.layout) for a in sample.args]
        sync = getattr(getattr(torch, device, None), "synchronize", None) if device != "cpu" else None
        op = functools.partial(binding.resolve(), *args, **binding.rename(sample.kwargs))
        call = op if sync is None else lambda: (op(), sync())
        if sync is not None:
            sync()  # the inputs' copies to the device are not part of the first call
        start = time.perf_counter()
        result = op()
        if sync is not None:
            sync()
        first = time.perf_counter() - start
        inputs = {a.untyped_storage().data_ptr() for a in args}
        outputs = tuple(_array_info(t, inputs) for t in as_output_tuple(result))
        flush = _l2_flush(torch, device, sync) if sync is not None else None
        return Prepared(call, outputs, first, torch.get_num_threads() if device == "cpu" else None, flush)

    def classify(self, error: BaseException) -> Status:
        return classify_by_message(error)


@contextlib.contextmanager
def fallback_warnings(found: list[str]) -> Iterator[None]:
    """Collect into ``found`` the first line of each warning saying that part of the work ran on the CPU instead
    of the device (MPS's fallback), for the forward call and every mode alike."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    found.extend(str(w.message).splitlines()[0] for w in caught
                 if any(m in str(w.message) for m in FALLBACK_MARKERS))


def synchronize(torch, device: str) -> None:
    """Wait for ``device`` to finish its queued work (a no-op on the CPU)."""
    module = getattr(torch, device, None)
    if device != "cpu" and hasattr(module, "synchronize"):
        module.synchronize()


def _array_info(value: Any, input_pointers: set[int]) -> ArrayInfo:
    import torch

    if not isinstance(value, torch.Tensor):
        return ArrayInfo((), type(value).__name__, 0)
    view = value.numel() > 0 and value.untyped_storage().data_ptr() in input_pointers
    return ArrayInfo(tuple(value.shape), str(value.dtype).removeprefix("torch."), value.numel() * value.element_size(),
                     view)


def _l2_flush(torch, device: str, sync):
    """Overwrite the device's L2 cache (twice its size) so each repetition starts cold, as in a real model."""
    props = getattr(getattr(torch, device), "get_device_properties", None)
    size = getattr(props(0), "L2_cache_size", 0) if props is not None else 0
    if not size:
        return None
    scratch = torch.empty(2 * size, dtype=torch.uint8, device=device)
    return lambda: (scratch.zero_(), sync())


# NumPy has no bfloat16 or float8: their bits travel through integers of their width, which torch views as them.
_BITS = {"bfloat16": np.int16, "float8_e4m3fn": np.uint8, "float8_e5m2": np.uint8}
# Types whose torch layout NumPy lacks (int4 and uint4; float4 where torch has it unpacked): their values travel
# through a wider type, converted by torch.
_BY_VALUE = {"int4": np.int8, "uint4": np.uint8, "float4_e2m1fn": np.float32}


def torch_dtype(name: str) -> Any:
    """The torch dtype of a catalog dtype (spelled alike); Unsupported for one torch lacks.

    >>> torch_dtype("float8_e5m2")
    torch.float8_e5m2
    """
    import torch

    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        packed = f" (torch.{name}_x2 packs two values in one element, which changes every shape)" if isinstance(
            getattr(torch, f"{name}_x2", None), torch.dtype) else ""
        raise Unsupported(f"torch {torch.__version__} has no {name} dtype{packed}")
    return dtype


def to_torch(array: np.ndarray, device: str, layout: str = "contiguous") -> Any:
    import torch

    if layout == "transposed" and array.ndim == 2:
        # Same values, but a non-contiguous view: the transpose of a contiguous transpose.
        return to_torch(np.ascontiguousarray(array.T), device).t()
    name = dtype_name(array.dtype)
    array = np.require(array, requirements='C')
    if name in _BITS:
        tensor = torch.from_numpy(array.view(_BITS[name])).view(torch_dtype(name))
    elif name in _BY_VALUE:
        dtype = torch_dtype(name)
        try:
            tensor = torch.from_numpy(array.astype(_BY_VALUE[name])).to(dtype)
        except (NotImplementedError, RuntimeError) as exc:  # torch 2.13's int4 is a shell: "copy_" not implemented
            raise Unsupported(f"torch {torch.__version__} cannot make a {dtype} tensor: no kernel converts values to "
                              f"it ({exc})") from None
    else:
        tensor = torch.from_numpy(array)
    if tensor.numel() == 0:  # numpy gives a zero-size array 0 strides, which from_numpy keeps (ExecuTorch refuses
        tensor = torch.empty(tensor.shape, dtype=tensor.dtype)  # them); torch's own empty tensors have standard ones
    return tensor.to(device)


def from_torch(value: Any) -> np.ndarray:
    import torch

    if not isinstance(value, torch.Tensor):
        return np.asarray(value)
    value = value.detach().cpu()
    name = str(value.dtype).removeprefix("torch.")
    if name in _BITS:
        return value.contiguous().view(getattr(torch, np.dtype(_BITS[name]).name)).numpy().view(numpy_dtype(name))
    if name in _BY_VALUE:
        return value.to(getattr(torch, np.dtype(_BY_VALUE[name]).name)).numpy().astype(numpy_dtype(name))
    if value.is_conj():
        value = value.resolve_conj()
    return value.numpy()


def _cpu_name() -> str:
    from opcoverage.environment import cpu_model

    return cpu_model()
