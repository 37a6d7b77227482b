"""The `opinfo` suite: PyTorch's OpInfo database (op_db) planned as cases on torch targets, judged per sample.

Each OpInfo (keyed by its ``full_name``: ``name`` or ``name.variant``) gives, per dtype the CPU supports plus
those the target's device claims, up to three cases, named by what they check: ``samples`` (its
``sample_inputs``, or ``reference_inputs`` under ``--samples full``, against an oracle), ``out`` (the ``out=``
form, where ``supports_out``) and ``inplace`` (its in-place variant, where it has one); and, once per target,
``errors`` (dtype ``any``): error parity over its ``error_inputs``. A case is ``max.binary-torch:cpu-float16-out``.
Samples are generated on the CPU after seeding torch, ``random`` and NumPy with ``--seed``, then copied to the
target, so the target and the CPU oracle see the same values. The checks are in ``opinfo_checks``.

OpInfo's own skips and expected failures (its DecorateInfos for the test the case stands for, on the target's
device type) are read and shown in ``extra.opinfo_decorators`` and the message; they never change a verdict.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import time
from typing import Any

from opcoverage.errors import UsageError
from opcoverage.suites import check_targets
from opcoverage.suites import opinfo_checks as checks
from opcoverage.types import CaseResult, Status, Target

MESSAGE_LIMIT = 600
ERRORS_DTYPE = "any"
KINDS = ("samples", "out", "inplace", "errors")
# The PyTorch test each kind of case stands for: its decorators are the ones shown (and its tolerance used).
TESTS = {"samples": (("TestCommon", "test_numpy_ref"), ("TestCommon", "test_compare_cpu")),
         "out": (("TestCommon", "test_out"),), "inplace": (("TestCommon", "test_variant_consistency_eager"),),
         "errors": (("TestCommon", "test_errors"),)}


@functools.lru_cache(maxsize=1)
def op_db() -> dict[str, Any]:
    """torch's OpInfos by full name; importing them takes seconds, so it happens once per process."""
    from torch.testing._internal.common_methods_invocations import op_db as ops

    return {op.full_name: op for op in ops}


def dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def torch_device(backend: Any, device: str) -> str:
    convert = getattr(backend, "torch_device", None)
    return convert(device) if convert is not None else device


def describe(op) -> dict[str, Any]:
    from torch.testing._internal.opinfo.core import _NOTHING

    return {"name": op.name, "variant": op.variant_test_name, "ref": op.ref not in (None, _NOTHING),
            "out": bool(op.supports_out), "inplace": op.inplace_variant is not None,
            "errors": op.error_inputs_func is not None,
            "dtypes": sorted(dtype_name(d) for d in op.supported_dtypes("cpu"))}


class OpInfoSuite:
    name = "opinfo"
    binding = "torch"
    category = "opinfo"
    requirement = "a torch target (install torch, or a backend whose binding is torch)"

    def __init__(self):
        try:
            import torch

            ops = op_db()
        except ImportError as exc:  # torch.testing._internal needs expecttest, which torch does not install
            raise UsageError(f"--suite opinfo needs torch and expecttest ({exc.name} is missing); install them with "
                             "pip install expecttest (and torch), or pip install 'opcoverage[opinfo]'") from None
        self.tests = {name: describe(op) for name, op in ops.items()}
        self.source = f"torch {torch.__version__} op_db"
        digest = hashlib.sha256(json.dumps(self.tests, sort_keys=True).encode()).hexdigest()[:12]
        self.fingerprint = f"{self.name}:torch-{torch.__version__}:{digest}"

    def can_run(self, backend: Any) -> bool:
        return getattr(backend, "binding", None) == "torch"

    def prepare_worker(self) -> None:
        """Import op_db in a worker before it takes cases, so no case's timeout pays for it."""
        op_db()

    def environment(self) -> dict[str, Any]:
        return {"suite": self.name, "suite_source": {
            "package": self.source, "tests": len(self.tests),
            "oracles": "OpInfo's ref (NumPy), else the op on the CPU in float64 cast to the dtype, else the CPU in "
                       "the same dtype",
            "tolerance": "torch.testing.assert_close's defaults for the dtype, or the OpInfo's toleranceOverride "
                         "for the test the case stands for"}}

    def dtypes_for(self, name: str, device_type: str) -> list[str]:
        """The dtypes a case runs in: those the CPU supports plus those the target's device type claims."""
        op = op_db()[name]
        claimed = set(self.tests[name]["dtypes"])
        if device_type != "cpu":
            try:
                claimed |= {dtype_name(d) for d in op.supported_dtypes(device_type)}
            except (RuntimeError, ValueError):  # a device type torch cannot name: the CPU's dtypes
                pass
        return sorted(claimed, key=_dtype_rank)

    def plan(self, targets: list[Target], ops: list[str], dtypes: list[str], cases: list[str]) -> list[Any]:
        from opcoverage.backends import get_backend
        from opcoverage.execute.runner import Case

        check_targets(self, targets)
        known = {d for t in self.tests.values() for d in t["dtypes"]} | {ERRORS_DTYPE}
        unknown = [d for d in dtypes if d not in known]
        if unknown:
            raise UsageError(f"no OpInfo has dtype {', '.join(unknown)} (--dtypes); its dtypes: "
                             f"{', '.join(sorted(known, key=_dtype_rank))}")
        devices = {t: torch_device(get_backend(t.framework), t.device).split(":")[0] for t in targets}
        planned = []
        for name in self.select(ops):
            test = self.tests[name]
            for target in targets:
                kinds = [k for k in ("samples", "out", "inplace") if k == "samples" or test[k]]
                entries = [(d, k) for d in self.dtypes_for(name, devices[target]) for k in kinds]
                if test["errors"]:
                    entries.append((ERRORS_DTYPE, "errors"))
                if not entries:  # still a case, so the OpInfo has a stated reason in the results
                    entries.append((ERRORS_DTYPE, "samples"))
                for dtype, kind in entries:
                    if dtypes and dtype not in dtypes:
                        continue
                    case = Case(name, target, dtype, kind, f"OpInfo {name}: {kind}", suite=self.name)
                    if not case.wanted(cases):
                        continue
                    planned.append(case)
        return planned

    def select(self, ops: list[str]) -> list[str]:
        """OpInfos chosen by --ops: a full name (max.binary), a name with all its variants (max), or a glob."""
        if not ops:
            return list(self.tests)
        chosen: dict[str, None] = {}
        for item in ops:
            matches = [n for n, t in self.tests.items()
                       if n == item or t["name"] == item or fnmatch.fnmatchcase(n, item)]
            if not matches:
                close = sorted(n for n in self.tests if item.split(".")[-1][:4] in n)[:6]
                hint = f" (similar: {', '.join(close)})" if close else ""
                raise UsageError(f"--ops {item} names no OpInfo of torch's op_db{hint}; write a name (max), a full "
                                 "name with its variant (max.binary) or a glob ('nn.functional.*')")
            chosen.update(dict.fromkeys(matches))
        return list(chosen)

    def run(self, case: Any) -> CaseResult:
        """Run one case in this process; never raises for a backend's failure."""
        from opcoverage.backends import get_backend

        op = op_db()[case.op]
        backend = get_backend(case.target.framework)
        device = device_of(backend, case.target.device)
        kind, dtype_text = case.sample, case.dtype
        extra: dict[str, Any] = {"suite": self.name, "opinfo": case.op}
        base = dict(op=case.op, target=str(case.target), dtype=case.dtype, sample=case.sample,
                    sample_desc=case.label, reference=f"{self.source} {op.full_name}")
        device_type = device.name.split(":")[0]
        if dtype_text == ERRORS_DTYPE and kind != "errors":
            return CaseResult(**base, status=Status.SKIPPED, extra=extra, message=(
                f"OpInfo {case.op} lists no dtype for {' or '.join(dict.fromkeys(['cpu', device_type]))} and has no "
                "error inputs: nothing to run"))
        dtype = None if kind == "errors" else _torch_dtype(dtype_text)
        known, tol = decorators(op, kind, device_type, dtype)
        if known:
            extra["opinfo_decorators"] = known
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            inputs = self._inputs(op, kind, dtype, device.name, case)
        except Exception as exc:
            return CaseResult(**base, status=Status.ERROR, extra=extra, message=(
                f"OpInfo's {'error_inputs' if kind == 'errors' else 'sample inputs'} failed on the CPU: "
                f"{checks.message_of(exc)}")[:MESSAGE_LIMIT])
        try:
            tally = self._check(op, kind, inputs, dtype, device, tol)
        except Exception as exc:  # the check itself (not the op) failed on these inputs: said, never a crash
            return CaseResult(**base, status=Status.ERROR, extra={**extra, "traceback": _short_traceback(exc)},
                              message=f"the suite could not check this case: {checks.message_of(exc)}"[:MESSAGE_LIMIT],
                              duration_s=time.perf_counter() - start)
        status, message, more = tally.verdict("error input" if kind == "errors" else "sample")
        extra.update(more)
        extra["cpu_s"] = round(time.process_time() - cpu_start, 4)  # the cost measure on a shared machine
        if known and status.is_failure:
            message = f"{message} (OpInfo expects: {known[0]})"
        return CaseResult(**base, status=status, message=message[:MESSAGE_LIMIT], extra=extra,
                          duration_s=time.perf_counter() - start)

    def _check(self, op, kind: str, inputs: list[Any], dtype, device: checks.Device, tol) -> checks.Tally:
        if kind == "samples":
            # A random op (OpInfo wraps it in wrapper_set_seed) draws another stream in float64 or NumPy: only the
            # CPU in the same dtype, seeded alike, can judge it.
            random = is_random(op)
            ref_ok = self.tests[op.full_name]["ref"] and not random
            float64_ok = bool({"float64", "complex128"} & set(self.tests[op.full_name]["dtypes"])) and not random
            return checks.check_samples(op, inputs, dtype, device, tol, ref_ok, float64_ok, self.seed)
        if kind == "errors":
            return checks.check_errors(op, inputs, device)
        if kind == "out":
            return checks.check_out(op, inputs, device, tol, self.seed)
        return checks.check_inplace(op, inputs, device, tol, self.seed)

    def _inputs(self, op, kind: str, dtype, device: str, case: Any) -> list[Any]:
        checks.reseed(self.seed)
        if kind == "errors":  # made for the target's device: some errors are about devices
            return list(op.error_inputs(device, set_seed=False))
        generate = op.reference_inputs if self.mode == "full" else op.sample_inputs
        return list(generate("cpu", dtype, requires_grad=False, set_seed=False))

    seed = 0
    mode = "quick"

    def configure(self, seed: int, samples: str) -> None:
        """The run's --seed and --samples, set before planning; the workers get them with the suite."""
        self.seed, self.mode = seed, samples


def is_random(op) -> bool:
    """OpInfo marks a random op by calling it through wrapper_set_seed (a fixed seed, so tests can repeat it)."""
    code = getattr(op.op, "__code__", None)
    return code is not None and "wrapper_set_seed" in code.co_names


def _short_traceback(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return " <- ".join(f"{f.name} ({f.filename.rsplit('/', 1)[-1]}:{f.lineno})" for f in reversed(frames))


def device_of(backend: Any, device: str) -> checks.Device:
    from opcoverage.backends.torch import FALLBACK_MARKERS

    own = getattr(backend, "call_torch", None)  # called with the target's device name, not torch's

    def call(fn, args, kwargs, where):
        return own(fn, args, kwargs, device) if own is not None else fn(*args, **kwargs)

    return checks.Device(torch_device(backend, device), call, backend.classify, FALLBACK_MARKERS)


def decorators(op, kind: str, device_type: str, dtype) -> tuple[list[str], checks.Tolerance]:
    """OpInfo's skips and expected failures for the case's test on the device type, as text, and its tolerance."""
    import unittest

    from torch.testing._internal.common_device_type import toleranceOverride
    from torch.testing._internal.opinfo.core import DecorateInfo

    shown: list[str] = []
    tol = checks.Tolerance()
    for cls_name, test_name in TESTS[kind]:
        for info in op.decorators:
            if not isinstance(info, DecorateInfo):
                continue
            try:
                active = info.is_active(cls_name, test_name, device_type, dtype, {}) if dtype is not None else (
                    info.active_if is True and info.cls_name in (None, cls_name)
                    and info.test_name in (None, test_name) and info.device_type in (None, device_type))
            except Exception:
                active = False
            if not active:
                continue
            for decorator in info.decorators:
                if isinstance(decorator, toleranceOverride):
                    if dtype in decorator.d and tol == checks.Tolerance():
                        tol = checks.Tolerance(decorator.d[dtype].rtol, decorator.d[dtype].atol)
                    continue
                where = f" on {info.device_type}" if info.device_type else ""
                shown.append(f"{cls_name}.{test_name}: {_decorator_text(decorator, unittest)}{where}")
    return list(dict.fromkeys(shown)), tol


def _decorator_text(decorator, unittest) -> str:
    if decorator is unittest.expectedFailure:
        return "expected failure"
    qualname = getattr(decorator, "__qualname__", "")
    if qualname.startswith("skip.") and decorator.__closure__:
        reasons = [c.cell_contents for c in decorator.__closure__ if isinstance(c.cell_contents, str)]
        return f"skip ({reasons[0]})" if reasons else "skip"
    return getattr(decorator, "__name__", type(decorator).__name__)


DTYPE_ORDER = ("bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float8_e4m3fn",
               "float8_e5m2", "float16", "bfloat16", "float32", "float64", "complex32", "complex64", "complex128")


def _dtype_rank(name: str) -> tuple[int, str]:
    return (DTYPE_ORDER.index(name) if name in DTYPE_ORDER else len(DTYPE_ORDER), name)


def _torch_dtype(name: str):
    import torch

    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise UsageError(f"{name!r} is not a torch dtype")
    return dtype
