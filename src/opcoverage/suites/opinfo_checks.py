"""The `opinfo` suite's checks (one planned case -> its verdict): forward samples against an oracle, error parity,
and the out= and in-place variants, each over every sample of one OpInfo in one dtype.

Oracles, in this order, per sample: OpInfo's ``ref`` (a NumPy function, called on the sample's NumPy form as
``TestCase.compare_with_reference`` does), else the same op on the CPU in float64 cast back to the dtype, else
the CPU in the same dtype (as test_mps does). The first that runs judges the sample; the record names it.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from opcoverage.suites.opinfo_compare import compare, leaves, message_of
from opcoverage.types import Status

MESSAGE_LIMIT = 600
FLOAT64_ORACLE, SAME_DTYPE_ORACLE, REF_ORACLE = "cpu-float64", "cpu-same-dtype", "ref"
# Status of a case from its samples' statuses: the first present wins.
SEVERITY = (Status.MISMATCH, Status.FALLBACK, Status.ERROR, Status.UNSUPPORTED)


@dataclass
class Device:
    """How the suite reaches a target: the torch device its tensors live on and the call that runs an op there.

    A backend with ``binding = "torch"`` may define ``torch_device(device)`` (the torch device its target's
    tensors live on) and ``call_torch(fn, args, kwargs, device)`` (run ``fn`` for the target's ``device``: a
    plugin that wraps its device, or a fault-injecting test backend); by default the op is called directly on
    tensors on ``torch.device(device)``."""

    name: str
    call: Callable[..., Any]
    classify: Callable[[BaseException], Status]
    fallback_markers: tuple[str, ...] = ()

    def run(self, fn, sample) -> tuple[Any, str | None]:
        """(result, fallback): the op on the sample; ``fallback`` says where it ran instead, if elsewhere."""
        import torch

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = self.call(fn, (sample.input, *sample.args), dict(sample.kwargs), self.name)
            module = getattr(torch, self.name.split(":")[0], None)
            if self.name != "cpu" and hasattr(module, "synchronize"):
                module.synchronize()
        fell_back = [str(w.message) for w in caught if any(m in str(w.message) for m in self.fallback_markers)]
        if fell_back:
            return result, fell_back[0].splitlines()[0]
        if self.name != "cpu":
            strays = {t.device.type for t in leaves(result) if isinstance(t, torch.Tensor)} - {self.name.split(":")[0]}
            if strays:
                return result, f"tensors were produced on {', '.join(sorted(strays))}, not {self.name}"
        return result, None


@dataclass
class Tally:
    """Per-sample outcomes of one case, folded into one verdict."""

    total: int = 0
    statuses: list[tuple[int, Status, str]] = field(default_factory=list)  # (sample index, status, message)
    oracles: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    summaries: dict[int, str] = field(default_factory=dict)

    def fail(self, index: int, status: Status, message: str, summary: str) -> None:
        self.statuses.append((index, status, message))
        self.summaries.setdefault(index, summary)

    def verdict(self, what: str) -> tuple[Status, str, dict]:
        extra: dict[str, Any] = {"samples": self.total}
        if self.oracles:
            extra["oracle"] = self.oracles.most_common(1)[0][0] if len(self.oracles) == 1 else "mixed"
            extra["oracles"] = dict(self.oracles)
        if self.notes:
            extra["notes"] = dict(self.notes)
        judged = self.total - sum(n for k, n in self.notes.items() if k.startswith("unjudged"))
        if not self.statuses:
            if judged <= 0:
                why = "; ".join(f"{n} {k}" for k, n in self.notes.items()) or f"no {what}"
                return Status.SKIPPED, f"nothing to check: {why}", extra
            return Status.PASS, "", extra
        status = next(s for s in SEVERITY if any(st is s for _, st, _ in self.statuses))
        index, _, message = next(x for x in self.statuses if x[1] is status)
        failing = sorted({i for i, _, _ in self.statuses})
        extra["failing_samples"] = failing[:20]
        text = (f"{what} {index}: {message}; {len(failing)} of {self.total} fail; "
                f"{what} {index} is {self.summaries.get(index, '')}")
        return status, text[:MESSAGE_LIMIT], extra


def reseed(seed: int) -> None:
    """Seed the CPU generator before each call (random ops then draw alike on both sides). torch.manual_seed
    also seeds every lazy accelerator module, formatting a stack trace each time: most of a case's time."""
    import random

    import numpy as np
    import torch

    torch.default_generator.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def copy_to(sample, device: str, upcast=None):
    """The sample with every tensor copied to ``device`` (and, with ``upcast``, the dtype's tensors widened)."""
    import torch

    def move(t):
        if not isinstance(t, torch.Tensor):
            return t  # a dtype argument stays as given
        t = t.detach()
        return same_layout_copy(t, device, upcast.get(t.dtype) if upcast else None)

    return sample.transform(move)


def same_layout_copy(t, device: str, dtype=None):
    """A copy of ``t`` on ``device`` (in ``dtype``, if given) with its storage, offset and strides: a sample that is
    a view into a larger storage (as_strided's partial views) or non-contiguous stays so. Sparse, meta,
    conjugate or negative views are copied with ``Tensor.to``."""
    import torch

    dtype = dtype or t.dtype
    if t.layout != torch.strided or t.is_meta or t.is_conj() or t.is_neg():
        return t.to(device=device, dtype=dtype, copy=True)
    try:
        storage = t.untyped_storage()
        flat = torch.empty(0, dtype=t.dtype, device=t.device).set_(storage, 0, (storage.nbytes() // t.element_size(),))
        flat = flat.to(device=device, dtype=dtype, copy=True)
        return torch.empty(0, dtype=dtype, device=device).set_(flat.untyped_storage(), t.storage_offset(), t.size(),
                                                               t.stride())
    except Exception:  # a tensor subclass or a storage that cannot be copied so
        return t.to(device=device, dtype=dtype, copy=True)


def wider(dtype) -> dict:
    """The float64 oracle's widening of the sample's dtype, or {} when the dtype has no float64 form."""
    import torch

    if dtype.is_complex:
        return {dtype: torch.complex128}
    if dtype.is_floating_point:
        return {dtype: torch.float64}
    return {}


def narrowed(expected, dtype):
    """A float64 oracle's outputs cast back to the dtype (complex128 to the dtype's complex form, and back)."""
    import torch
    from torch.utils._pytree import tree_map

    complex_of = {torch.float16: torch.complex32, torch.float32: torch.complex64, torch.float64: torch.complex128}
    real_of = {v: k for k, v in complex_of.items()}
    target = {torch.float64: real_of.get(dtype, dtype) if dtype.is_complex else dtype,
              torch.complex128: dtype if dtype.is_complex else complex_of.get(dtype)}

    def cast(t):
        if isinstance(t, torch.Tensor) and target.get(t.dtype) is not None:
            return t.to(target[t.dtype])
        return t

    return tree_map(cast, expected)


def oracle(op, sample_cpu, dtype, ref_ok: bool, float64_ok: bool, seed: int) -> tuple[Any, str, list[str]]:
    """(expected, oracle name, why earlier oracles were passed over); raises when even the CPU raises."""
    import numpy as np

    tried = []
    if ref_ok:
        try:
            numpy_sample = sample_cpu.numpy()
            with np.errstate(all="ignore"):
                expected = op.ref(numpy_sample.input, *numpy_sample.args, **numpy_sample.kwargs)
            return expected, REF_ORACLE, tried
        except Exception as exc:
            tried.append(f"ref raised {message_of(exc)}")
    upcast = wider(dtype) if float64_ok else {}
    if upcast:
        try:
            reseed(seed)
            expected = op(*_call_args(copy_to(sample_cpu, "cpu", upcast)), **copy_to(sample_cpu, "cpu", upcast).kwargs)
            return narrowed(expected, dtype), FLOAT64_ORACLE, tried
        except Exception as exc:
            tried.append(f"cpu float64 raised {message_of(exc)}")
    reseed(seed)
    fresh = copy_to(sample_cpu, "cpu")
    return op(*_call_args(fresh), **fresh.kwargs), SAME_DTYPE_ORACLE, tried


def _call_args(sample) -> tuple:
    return (sample.input, *sample.args)


@dataclass(frozen=True)
class Tolerance:
    rtol: float | None = None
    atol: float | None = None


def check_samples(op, samples, dtype, device: Device, tol: Tolerance, ref_ok: bool, float64_ok: bool,
                  seed: int) -> Tally:
    """Each sample on the target against the first oracle that runs."""

    tally = Tally()
    for index, sample in enumerate(samples):
        tally.total += 1
        summary = sample.summary()
        cpu = copy_to(sample, "cpu")
        reseed(seed)
        try:
            actual, fallback = device.run(op.op, copy_to(sample, device.name))
        except Exception as exc:
            tally.fail(index, device.classify(exc), message_of(exc), summary)
            continue
        try:
            expected, used, passed_over = oracle(op, cpu, dtype, ref_ok, float64_ok, seed)
        except Exception as exc:
            tally.notes[f"unjudged: the CPU raises {type(exc).__name__} where the target returns"] += 1
            continue
        tally.oracles[used] += 1
        for why in passed_over:
            tally.notes[why.split(":")[0]] += 1
        problem = compare(actual, expected, tol.rtol, tol.atol, exact_dtype=used != REF_ORACLE)
        if fallback:
            verdict = "correct" if not problem else f"and wrong: {problem}"
            tally.fail(index, Status.FALLBACK, f"{fallback} (result {verdict})", summary)
        elif problem:
            if used == FLOAT64_ORACLE:  # a float64 oracle can differ in kind (an SVD's signs): say what the CPU does
                problem += f"; {_same_dtype_agreement(op, cpu, actual, tol, dtype, seed)}"
            tally.fail(index, Status.MISMATCH, f"{problem} (oracle {used})", summary)
    return tally


def _same_dtype_agreement(op, cpu_sample, actual, tol: "Tolerance", dtype, seed: int) -> str:

    reseed(seed)
    try:
        same = op(*_call_args(copy_to(cpu_sample, "cpu")), **copy_to(cpu_sample, "cpu").kwargs)
    except Exception as exc:
        return f"the CPU in {dtype_text(dtype)} raises {message_of(exc)}"
    problem = compare(actual, same, tol.rtol, tol.atol, exact_dtype=True)
    return f"the CPU in {dtype_text(dtype)} {'differs too' if problem else 'agrees with the target'}"


def dtype_text(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def check_errors(op, error_inputs, device: Device) -> Tally:
    """Error parity: every error input (made for the target's device) that raises on the CPU (its CPU copy) must
    raise on the target too."""
    tally = Tally()
    for index, error_input in enumerate(error_inputs):
        tally.total += 1
        sample = error_input.sample_input
        summary = sample.summary()
        try:
            cpu_input = copy_to(sample, "cpu")
        except Exception:  # tensors with no data to copy (meta): the CPU runs the input as made
            cpu_input = sample
        try:
            op(*_call_args(cpu_input), **cpu_input.kwargs)
            cpu_error = None
        except Exception as exc:
            cpu_error = exc
        try:
            device.run(op.op, sample)
        except Exception as exc:
            if not isinstance(exc, error_input.error_type):
                tally.notes[f"raises {type(exc).__name__}, OpInfo expects {error_input.error_type.__name__}"] += 1
            continue
        if cpu_error is None:
            tally.notes["unjudged: the CPU does not raise either (OpInfo's error input is stale here)"] += 1
            continue
        tally.fail(index, Status.MISMATCH, f"no error raised; the CPU raises {message_of(cpu_error)}", summary)
    return tally


def _same_tensor(returned, given) -> bool:
    """``returned`` is ``given`` or a view of its memory (a sparse tensor, having no single storage, must be it)."""
    import torch

    if returned is given:
        return True
    if not isinstance(returned, torch.Tensor) or returned.layout != torch.strided or given.layout != torch.strided:
        return False
    return returned.data_ptr() == given.data_ptr()


def _forward(op, sample, device: Device, seed: int):

    reseed(seed)
    result, _ = device.run(op.op, copy_to(sample, device.name))
    return result


def check_out(op, samples, device: Device, tol: Tolerance, seed: int) -> Tally:
    """``out=``: the result is written into the given tensors, returned as them, and equals the plain call's."""
    import torch
    from torch.utils._pytree import tree_map

    tally = Tally()
    for index, sample in enumerate(samples):
        tally.total += 1
        summary = sample.summary()
        try:
            expected = _forward(op, sample, device, seed)
        except Exception:
            tally.notes["unjudged: the plain call fails"] += 1
            continue
        if not leaves(expected) or not all(isinstance(t, torch.Tensor) for t in leaves(expected)):
            tally.notes["unjudged: returns no tensors"] += 1
            continue
        out = tree_map(lambda t: torch.empty_like(t), expected)
        out = tuple(out) if isinstance(out, (tuple, list)) else out
        moved = copy_to(sample, device.name)
        reseed(seed)
        try:
            returned = device.call(op.op, _call_args(moved), {**moved.kwargs, "out": out}, device.name)
        except Exception as exc:
            tally.fail(index, device.classify(exc), f"with out=: {message_of(exc)}", summary)
            continue
        given, got = leaves(out), leaves(returned)
        if returned is None:  # a void out= form (split_with_sizes_copy): its schema returns nothing
            tally.notes["returns None with out= (a void out form): only the values written are checked"] += 1
        elif len(got) != len(given) or not all(_same_tensor(g, o) for g, o in zip(got, given)):
            tally.fail(index, Status.MISMATCH, "the out= call did not return the out tensor(s) it was given",
                       summary)
            continue
        problem = compare(out, expected, tol.rtol, tol.atol, exact_dtype=True)
        if problem:
            tally.fail(index, Status.MISMATCH, f"out= values differ from the plain call's: {problem}", summary)
    return tally


def _reproducible(fn, sample, device: Device, seed: int, first) -> bool:
    """Does ``fn`` give ``first`` again when the generator is seeded differently? (False: a random op.)"""
    moved = copy_to(sample, device.name)
    reseed(seed + 1)
    try:
        again = device.call(fn, _call_args(moved), dict(moved.kwargs), device.name)
    except Exception:
        return True
    return not compare(again, first, 0.0, 0.0, exact_dtype=True)


def check_inplace(op, samples, device: Device, tol: Tolerance, seed: int) -> Tally:
    """The in-place variant: it returns its input, which then holds the plain call's result."""
    import torch

    tally = Tally()
    inplace = op.get_inplace()
    for index, sample in enumerate(samples):
        tally.total += 1
        summary = sample.summary()
        if sample.broadcasts_input or not isinstance(sample.input, torch.Tensor):
            tally.notes["unjudged: broadcasts its input"] += 1
            continue
        try:
            expected = _forward(op, sample, device, seed)
        except Exception:
            tally.notes["unjudged: the plain call fails"] += 1
            continue
        if (not isinstance(expected, torch.Tensor) or expected.shape != sample.input.shape
                or expected.dtype != sample.input.dtype):
            tally.notes["unjudged: the result cannot be stored in the input (shape or dtype)"] += 1
            continue
        moved = copy_to(sample, device.name)
        self_tensor = moved.input
        if torch._debug_has_internal_overlap(self_tensor) == 1:  # an expanded view: torch refuses to write it
            tally.notes["unjudged: its input overlaps itself (an expanded view), which nothing may write in place"] += 1
            continue
        reseed(seed)
        try:
            returned = device.call(inplace, _call_args(moved), dict(moved.kwargs), device.name)
        except Exception as exc:
            tally.fail(index, device.classify(exc), f"in place: {message_of(exc)}", summary)
            continue
        if not _same_tensor(returned, self_tensor):
            tally.fail(index, Status.MISMATCH, "the in-place call did not return its input tensor", summary)
            continue
        problem = compare(self_tensor, expected, tol.rtol, tol.atol, exact_dtype=True)
        if problem and not _reproducible(inplace, sample, device, seed, self_tensor):
            # A random op (OpInfo's plain form draws from a fixed seed, its in-place method from the generator):
            # the values cannot be compared, the aliasing was checked above.
            tally.notes["values unjudged: a random op (its in-place result depends on the generator)"] += 1
            continue
        if problem:
            tally.fail(index, Status.MISMATCH, f"in-place values differ from the plain call's: {problem}", summary)
    return tally
