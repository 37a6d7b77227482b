"""Model readiness, torch source: trace a torch.nn.Module's aten calls (forward, and forward + backward) under a
dispatch mode, optionally on fake tensors, and its ONNX export's nodes, into manifest usages."""

from __future__ import annotations

import io
from typing import Any, Callable

from opcoverage.errors import UsageError

TORCH_DTYPES = ("float32", "bfloat16", "float16", "float64")
ONNX_EXPORT_OPSET = 17


def _torch():
    import torch

    return torch


def torch_dtype(name: str):
    if name not in TORCH_DTYPES:
        raise UsageError(f"--dtype {name!r} is not one of {', '.join(TORCH_DTYPES)}")
    return getattr(_torch(), name)


def call_signature(func, args, kwargs, out) -> tuple[str, str, tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """(overload name, judged dtype, input dtypes, input shapes) of one aten call."""
    torch = _torch()
    from torch.utils._pytree import tree_leaves

    tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
    floating = [t for t in tensors if t.is_floating_point() or t.is_complex()]
    data = [t for t in tensors if t.dtype != torch.bool]  # where(cond, x, y) is about x and y
    if floating:
        dtype = floating[0].dtype
    elif data or tensors:
        dtype = (data or tensors)[0].dtype
    else:  # a creation op (arange, full): judged at what it makes
        made = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        dtype = made[0].dtype if made else torch.float32
    names = tuple(sorted({str(t.dtype).removeprefix("torch.") for t in tensors}))
    shapes = tuple(tuple(int(d) for d in t.shape) for t in tensors)
    return func.name(), str(dtype).removeprefix("torch."), names, shapes


class _Recorder:
    """A TorchDispatchMode that keeps every aten call's signature (created lazily: torch imports on use)."""

    def __new__(cls):
        from torch.utils._python_dispatch import TorchDispatchMode

        class Recorder(TorchDispatchMode):
            def __init__(self):
                super().__init__()
                self.calls: list = []

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                if func.namespace != "prim":  # prim::device and the like: fake tensors' metadata queries
                    self.calls.append(call_signature(func, args, kwargs or {}, out))
                return out

        return Recorder()


def as_call_args(example_inputs: Any) -> tuple[tuple, dict]:
    """A factory's example inputs as (args, kwargs): a tuple or list is positional, a dict is keywords."""
    torch = _torch()
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,), {}
    raise UsageError(f"example inputs of type {type(example_inputs).__name__}: the factory must return "
                     "(module, inputs) with inputs a tensor, a tuple of tensors or a dict of keyword tensors")


def cast_inputs(value: Any, dtype) -> Any:
    """Floating tensors to ``dtype``; integer inputs (token ids) stay as they are."""
    torch = _torch()
    from torch.utils._pytree import tree_map

    return tree_map(lambda t: t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t, value)


def scalar_loss(output: Any):
    """A training step's loss: the sum of every floating output that carries a gradient."""
    torch = _torch()
    from torch.utils._pytree import tree_leaves

    leaves = output.to_tuple() if hasattr(output, "to_tuple") else output
    parts = [t.sum() for t in tree_leaves(leaves) if isinstance(t, torch.Tensor) and t.requires_grad]
    if not parts:
        raise UsageError("the model's outputs carry no gradient, so it has no training step; "
                         "return a module whose outputs depend on its parameters")
    loss = parts[0]
    for p in parts[1:]:
        loss = loss + p
    return loss


def trace_calls(module, args: tuple, kwargs: dict, mode: str) -> list:
    """Every aten call of one forward pass (mode "forward", no autograd) or forward plus backward ("train")."""
    torch = _torch()
    recorder = _Recorder()
    if mode == "forward":
        module.eval()
        with torch.no_grad(), recorder:
            module(*args, **kwargs)
    else:
        module.train()
        module.zero_grad(set_to_none=True)
        with recorder:
            scalar_loss(module(*args, **kwargs)).backward()
        module.zero_grad(set_to_none=True)
        module.eval()
    return recorder.calls


def build(factory: Callable[[], tuple[Any, Any]], dtype: str, fake: bool = False):
    """Call a (module, inputs) factory and cast both to ``dtype``; under fake tensors nothing is allocated."""
    torch = _torch()
    target = torch_dtype(dtype)
    torch.manual_seed(0)
    if fake:  # fake parameters cannot be cast in place: make them in the dtype
        previous = torch.get_default_dtype()
        torch.set_default_dtype(target)
        try:
            result = factory()
        finally:
            torch.set_default_dtype(previous)
    else:
        result = factory()
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.nn.Module)):
        raise UsageError("the factory must return (torch.nn.Module, example_inputs); "
                         f"it returned {type(result).__name__}")
    module, inputs = result
    args, kwargs = as_call_args(inputs)
    if not fake:
        module = module.to(target)
    return module, cast_inputs(args, target), cast_inputs(kwargs, target)


def usages(factory, dtype: str, mapper, fake: bool = False, modes=("forward", "train")) -> tuple[dict, int]:
    """Manifest usages per mode, and the parameter count. ``fake`` builds and runs the model on fake tensors."""
    from opcoverage.models.manifest import usage_from_calls

    def run():
        module, args, kwargs = build(factory, dtype, fake)
        n_params = sum(p.numel() for p in module.parameters())
        return {m: usage_from_calls("torch", trace_calls(module, args, kwargs, m), mapper) for m in modes}, n_params

    if not fake:
        return run()
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        return run()


def onnx_export(factory, dtype: str) -> bytes:
    """The model's forward pass exported to ONNX (torch's TorchScript exporter: it needs no onnxscript)."""
    torch = _torch()
    import warnings

    module, args, kwargs = build(factory, dtype)
    module.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buffer, kwargs=kwargs or None, dynamo=False, opset_version=ONNX_EXPORT_OPSET,
                          input_names=[f"input_{i}" for i in range(len(args))])
    return buffer.getvalue()
